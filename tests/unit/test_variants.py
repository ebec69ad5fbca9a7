"""Variants as data, framework-free: each id's Variant fields, the ResNeXt / Wide ResNet widths, the stem and shortcut
kinds no id uses yet, and the grouped numpy convolution calibration runs on."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from crosscheck import calibration
from crosscheck import spec as specs
from crosscheck.checkpoints import containers
from crosscheck.checkpoints.hubs import paddleclas, transformers

# id -> (family, block, depths, stem, default classes): torchvision.models / paddle.vision.models, keras.applications
# and the CIFAR blogs' ResNets as their sources define them.
EXPECTED = {
    "resnet18": ("torchvision", "basic", (2, 2, 2, 2), "imagenet", 1000),
    "resnet34": ("torchvision", "basic", (3, 4, 6, 3), "imagenet", 1000),
    "resnet50": ("torchvision", "bottleneck", (3, 4, 6, 3), "imagenet", 1000),
    "resnet101": ("torchvision", "bottleneck", (3, 4, 23, 3), "imagenet", 1000),
    "resnet152": ("torchvision", "bottleneck", (3, 8, 36, 3), "imagenet", 1000),
    "resnext50_32x4d": ("torchvision", "bottleneck", (3, 4, 6, 3), "imagenet", 1000),
    "resnext101_32x8d": ("torchvision", "bottleneck", (3, 4, 23, 3), "imagenet", 1000),
    "resnext101_64x4d": ("torchvision", "bottleneck", (3, 4, 23, 3), "imagenet", 1000),
    "wide_resnet50_2": ("torchvision", "bottleneck", (3, 4, 6, 3), "imagenet", 1000),
    "wide_resnet101_2": ("torchvision", "bottleneck", (3, 4, 23, 3), "imagenet", 1000),
    "resnet50_v1": ("keras_v1", "bottleneck", (3, 4, 6, 3), "imagenet", 1000),
    "resnet101_v1": ("keras_v1", "bottleneck", (3, 4, 23, 3), "imagenet", 1000),
    "resnet152_v1": ("keras_v1", "bottleneck", (3, 8, 36, 3), "imagenet", 1000),
    "resnet50v2": ("keras_v2", "preact_bottleneck", (3, 4, 6, 3), "imagenet", 1000),
    "resnet101v2": ("keras_v2", "preact_bottleneck", (3, 4, 23, 3), "imagenet", 1000),
    "resnet152v2": ("keras_v2", "preact_bottleneck", (3, 8, 36, 3), "imagenet", 1000),
    "resnet18_cifar": ("torchvision", "basic", (2, 2, 2, 2), "cifar", 10),
    "resnet34_cifar": ("torchvision", "basic", (3, 4, 6, 3), "cifar", 10),
    "resnet50_cifar": ("torchvision", "bottleneck", (3, 4, 6, 3), "cifar", 10),
    "resnet101_cifar": ("torchvision", "bottleneck", (3, 4, 23, 3), "cifar", 10),
    "resnet152_cifar": ("torchvision", "bottleneck", (3, 8, 36, 3), "cifar", 10),
    # timm's resnet50d / resnet101d / seresnet50: Bottleneck, layers (3, 4, 6, 3) / (3, 4, 23, 3)
    "resnet50d": ("torchvision", "bottleneck", (3, 4, 6, 3), "deep", 1000),
    "resnet101d": ("torchvision", "bottleneck", (3, 4, 23, 3), "deep", 1000),
    "seresnet50": ("torchvision", "bottleneck", (3, 4, 6, 3), "imagenet", 1000),
}
# timm's model_args beyond the block and layers: avg_down=True (the average-pool shortcut), attn_layer='se'
DESIGNS = {"resnet50d": ("avgpool_projection", None), "resnet101d": ("avgpool_projection", None),
           "seresnet50": ("projection", "se")}
# id -> (groups, width_per_group) where not ResNet's (1, 64): the kwargs torchvision.models.resnet's builders pass
# (resnext50_32x4d, ...), and paddle.vision's (its `width` is torchvision's width_per_group)
GROUPED = {"resnext50_32x4d": (32, 4), "resnext101_32x8d": (32, 8), "resnext101_64x4d": (64, 4),
           "wide_resnet50_2": (1, 128), "wide_resnet101_2": (1, 128)}

# The 3x3 conv of each stage's first bottleneck (layerN.0.conv2.weight) in torchvision's state dicts of these ids.
STAGE_3X3_SHAPES = {
    "resnext50_32x4d": [(128, 4, 3, 3), (256, 8, 3, 3), (512, 16, 3, 3), (1024, 32, 3, 3)],
    "resnext101_32x8d": [(256, 8, 3, 3), (512, 16, 3, 3), (1024, 32, 3, 3), (2048, 64, 3, 3)],
    "resnext101_64x4d": [(256, 4, 3, 3), (512, 8, 3, 3), (1024, 16, 3, 3), (2048, 32, 3, 3)],
    "wide_resnet50_2": [(128, 128, 3, 3), (256, 256, 3, 3), (512, 512, 3, 3), (1024, 1024, 3, 3)],
    "wide_resnet101_2": [(128, 128, 3, 3), (256, 256, 3, 3), (512, 512, 3, 3), (1024, 1024, 3, 3)],
    "resnet50": [(64, 64, 3, 3), (128, 128, 3, 3), (256, 256, 3, 3), (512, 512, 3, 3)],
}


def test_every_id_is_exactly_the_ids_of_the_table():
    assert set(specs.MODEL_IDS) == set(EXPECTED) == set(specs.VARIANTS)


@pytest.mark.parametrize("model_id", EXPECTED)
def test_each_id_is_its_variant_fields(model_id):
    variant = specs.VARIANTS[model_id]
    family, block, depths, stem, classes = EXPECTED[model_id]
    assert (variant.family, variant.block, variant.depths, variant.stem, variant.num_classes) == \
        (family, block, depths, stem, classes)
    assert (variant.groups, variant.width_per_group) == GROUPED.get(model_id, (1, 64))
    assert (variant.downsample, variant.attention) == DESIGNS.get(model_id, ("projection", None))
    spec = specs.get(model_id)
    assert (spec.family, spec.block_kind, spec.depths, spec.stem, spec.num_classes) == \
        (family, block, depths, stem, classes)
    # torch's BatchNorm2d default epsilon, keras.applications' 1.001e-5
    assert {layer.eps for layer in spec.layers if layer.kind == "bn"} == {1e-5 if family == "torchvision" else 1.001e-5}
    assert {layer.groups for layer in spec.layers} == {1, *GROUPED.get(model_id, (1,))[:1]}


@pytest.mark.parametrize("model_id", STAGE_3X3_SHAPES)
def test_bottleneck_widths_follow_torchvisions_formula(model_id):
    shapes, spec = STAGE_3X3_SHAPES[model_id], specs.get(model_id)
    groups = GROUPED.get(model_id, (1,))[0]
    firsts = [spec.layer(f"conv{stage}_block1_2_conv") for stage in (2, 3, 4, 5)]
    assert [layer.shapes["weight"] for layer in firsts] == shapes
    assert all(layer.groups == groups for layer in firsts)
    # the 1x1s around the 3x3 are ungrouped; the block output keeps planes * 4 (256 .. 2048) whatever the width
    assert spec.layer("conv2_block1_1_conv").shapes["weight"] == (shapes[0][0], 64, 1, 1)
    assert [spec.layer(f"conv{s}_block1_3_conv").out_channels for s in (2, 3, 4, 5)] == [256, 512, 1024, 2048]
    grouped = {layer.name for layer in spec.layers if layer.groups != 1}
    assert grouped == ({layer.name for layer in spec.layers if layer.name.endswith("_2_conv")} if groups > 1 else set())


def test_bottleneck_width_formula_on_its_own():
    """int(planes * (base_width / 64.)) * groups, as torchvision.models.resnet.Bottleneck computes it."""
    assert specs.bottleneck_width(64, 32, 4) == 128 and specs.bottleneck_width(512, 32, 8) == 2048
    assert specs.bottleneck_width(64, 1, 128) == 128 and specs.bottleneck_width(256, 64, 4) == 1024
    assert specs.bottleneck_width(64, 1, 64) == 64 and specs.bottleneck_width(64, 3, 10) == 30  # int() before groups


def test_basic_blocks_refuse_groups_and_width_as_torchvision_does():
    with pytest.raises(ValueError, match="basic blocks have groups=1 and width_per_group=64"):
        specs.get(replace(specs.VARIANTS["resnet18"], model_id="resnext18", groups=32, width_per_group=4))


def test_a_variant_object_builds_the_same_spec_as_its_id():
    assert specs.get(specs.VARIANTS["resnet50v2"]) == specs.get("resnet50v2")
    assert specs.get(specs.VARIANTS["resnet18_cifar"], 7) == specs.get("resnet18_cifar", 7)


RESNET50D = specs.VARIANTS["resnet50d"]


def test_deep_stem_and_avgpool_shortcut_have_timms_resnet50d_keys():
    """timm's resnet50d (stem_width=32, stem_type='deep', avg_down=True): conv1 is Sequential(conv 3->32 /2, BN, ReLU,
    conv 32->32, BN, ReLU, conv 32->64), bn1 the last BN; a projection is AvgPool2d, 1x1 stride-1 conv, BN."""
    shapes = specs.get(RESNET50D).native_shapes("torch")
    expected = {"conv1.0.weight": (32, 3, 3, 3), "conv1.1.weight": (32,), "conv1.3.weight": (32, 32, 3, 3),
                "conv1.4.running_var": (32,), "conv1.6.weight": (64, 32, 3, 3), "bn1.weight": (64,),
                "layer1.0.downsample.1.weight": (256, 64, 1, 1), "layer1.0.downsample.2.running_mean": (256,),
                "layer2.0.downsample.1.weight": (512, 256, 1, 1), "layer4.0.downsample.2.bias": (2048,)}
    assert {key: shapes.get(key) for key in expected} == expected
    assert not any(".downsample.0." in key for key in shapes)  # the pool has no weights
    spec = specs.get(RESNET50D)
    assert [spec.layer(f"conv{s}_block1_0_conv").stride for s in (2, 3, 4, 5)] == [1, 1, 1, 1]  # the pool strides
    assert [b.shortcut for b in spec.blocks if b.name.endswith("block1")] == ["avgpool_projection"] * 4
    assert spec.layer("conv1_3_conv").output_shape == (64, 112, 112) and spec.blocks[0].input_size == 56


def test_se_layers_have_timms_seresnet50_keys_and_widths():
    """timm's SEModule(channels) in each Bottleneck: fc1 channels -> make_divisible(channels / 16, 8), fc2 back, both
    1x1 with bias; block outputs 256, 512, 1024, 2048 give 16, 32, 64, 128."""
    shapes = specs.get("seresnet50").native_shapes("torch")
    expected = {"layer1.0.se.fc1.weight": (16, 256, 1, 1), "layer1.0.se.fc1.bias": (16,),
                "layer1.2.se.fc2.weight": (256, 16, 1, 1), "layer2.3.se.fc1.weight": (32, 512, 1, 1),
                "layer3.5.se.fc2.bias": (1024,), "layer4.0.se.fc1.weight": (128, 2048, 1, 1)}
    assert {key: shapes.get(key) for key in expected} == expected
    assert sum(".se." in key for key in shapes) == 16 * 4  # every block: two convs, weight and bias
    assert specs.get("seresnet50").layer("conv3_block2_se_expand").bias
    block = specs.get("seresnet50").blocks[0]
    assert (block.attention, block.gate, block.attention_at) == ("se", "sigmoid", "before_add")


@pytest.mark.parametrize("value, divisor, expected", [(16.0, 8, 16), (4.0, 8, 8), (12.0, 8, 16), (11.9, 8, 8),
                                                      (20.0, 8, 24), (19.9, 8, 16), (3.0, 4, 4), (100.0, 8, 104)])
def test_make_divisible_is_timms_rule_with_round_limit_zero(value, divisor, expected):
    """int(v + d/2) // d * d, at least d (timm.layers.make_divisible with round_limit=0., as SEModule calls it)."""
    assert specs.make_divisible(value, divisor) == expected


def _conv_by_definition(x: np.ndarray, w: np.ndarray, stride: int, padding: int, groups: int) -> np.ndarray:
    """y[n, o, i, j] = sum over the input channels of o's group, and the kernel window, of x * w: loop by loop."""
    x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    batch, k = x.shape[0], w.shape[2]
    per_group_in, per_group_out = w.shape[1], w.shape[0] // groups
    size = (x.shape[2] - k) // stride + 1
    y = np.zeros((batch, w.shape[0], size, size))
    for n in range(batch):
        for o in range(w.shape[0]):
            first = (o // per_group_out) * per_group_in
            for i in range(size):
                for j in range(size):
                    window = x[n, first:first + per_group_in, i * stride:i * stride + k, j * stride:j * stride + k]
                    y[n, o, i, j] = np.sum(window * w[o])
    return y


@pytest.mark.parametrize("groups, stride, padding", [(1, 1, 1), (2, 2, 1), (4, 1, 0), (8, 2, 1)])
def test_calibration_conv_is_the_grouped_convolution_by_definition(groups, stride, padding):
    rng = np.random.default_rng(groups)
    x = rng.standard_normal((2, 8, 7, 7))
    w = rng.standard_normal((16, 8 // groups, 3, 3))
    np.testing.assert_allclose(calibration.conv2d(x, w, stride, padding, groups),
                               _conv_by_definition(x, w, stride, padding, groups), rtol=1e-10, atol=1e-10)


def test_grouped_conv_is_the_ungrouped_conv_with_a_block_diagonal_weight():
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal((1, 12, 6, 6)), rng.standard_normal((6, 4, 3, 3))
    dense = np.zeros((6, 12, 3, 3))
    for g in range(3):
        dense[2 * g:2 * g + 2, 4 * g:4 * g + 4] = w[2 * g:2 * g + 2]
    np.testing.assert_allclose(calibration.conv2d(x, w, 2, 1, groups=3), calibration.conv2d(x, dense, 2, 1),
                               rtol=1e-10, atol=1e-10)


def test_a_grouped_variant_calibrates():
    """Calibration runs through the grouped 3x3s: every key at its spec shape, BN statistics finite and positive."""
    variant = replace(specs.VARIANTS["resnet50_cifar"], model_id="resnext_cifar", depths=(1, 1, 1, 1), groups=32,
                      width_per_group=4)
    weights = calibration.calibrated_weights(variant, seed=1)
    assert {key: w.shape for key, w in weights.items()} == specs.get(variant).canonical_shapes()
    variances = [w for key, w in weights.items() if key.endswith("running_var")]
    assert all(np.isfinite(v).all() and (v > 0).all() for v in variances)


def test_a_prefixed_timm_checkpoint_is_found_by_its_deep_stem():
    """timm's train scripts and wrappers prefix the keys ("module.", "model."); the deep stem has no `conv1.weight`, its
    first conv `conv1.0.weight` anchors the prefix search."""
    keys = [f"model.{key}" for key in specs.get("resnet50d").native_shapes("torch")]
    assert containers.prefixes(keys, "torch")[:2] == ["", "model."]  # (a block's conv1 suggests longer ones too)
    keras_keys = [f"backbone/{key}" for key in specs.get("resnet50d").native_shapes("keras")]
    assert containers.prefixes(keras_keys, "keras") == ["", "backbone/"]


def test_hub_layouts_hold_no_timm_design_they_do_not_build():
    """PaddleClas' ResNet and transformers' ResNet have no squeeze-excitation, transformers' no average-pool shortcut: a
    seresnet50 file is never read as either; only PaddleClas' ResNet_vd is resnet50d/101d."""
    timm_ids = {"resnet50d", "resnet101d", "seresnet50"}
    assert "seresnet50" not in paddleclas.holdable() and not timm_ids & set(transformers.holdable())
    assert {"resnet50", "resnet50d", "resnet101d"} <= set(paddleclas.holdable()) and "resnet50" in transformers.holdable()

"""The spec's CIFAR ids from first principles: what the issue and the README document, pinned here."""

from __future__ import annotations

import pytest

from crosscheck import calibration
from crosscheck import spec as specs

CIFAR_IDS = ("resnet18_cifar", "resnet34_cifar", "resnet50_cifar", "resnet101_cifar", "resnet152_cifar")


@pytest.mark.parametrize("model_id", CIFAR_IDS)
def test_cifar_id_is_the_torchvision_id_behind_a_3x3_stride_1_stem_without_pool(model_id):
    cifar, imagenet = specs.get(model_id), specs.get(model_id.removesuffix("_cifar"))
    assert (cifar.input_size, cifar.num_classes, cifar.stem) == (32, 10, "cifar")
    assert cifar.stem_pool_padding is None
    stem = cifar.layer("conv1_conv")
    assert (stem.kernel_size, stem.stride, stem.padding, stem.bias, stem.output_shape) == (3, 1, 1, False, (64, 32, 32))
    assert cifar.layer("conv1_bn").eps == 1e-5 and cifar.default_head == "logits"
    # same layers, names, channels, strides and biases as torchvision's id; only the stem kernel differs
    assert [(l.name, l.module_path, l.in_channels, l.out_channels, l.bias, l.eps) for l in cifar.layers] == \
        [(l.name, l.module_path, l.in_channels, l.out_channels, l.bias, l.eps) for l in specs.get(imagenet.model_id, 10).layers]
    assert [l.stride for l in cifar.layers[1:]] == [l.stride for l in imagenet.layers[1:]]
    # 32 -> 32 (stem, conv2) -> 16 -> 8 -> 4, where torchvision's 224 gives 56 -> 28 -> 14 -> 7
    last = [[b for b in cifar.blocks if b.name.startswith(f"conv{s}_")][-1].output_size for s in (2, 3, 4, 5)]
    assert last == [32, 16, 8, 4]
    assert [[b for b in imagenet.blocks if b.name.startswith(f"conv{s}_")][-1].output_size for s in (2, 3, 4, 5)] == \
        [56, 28, 14, 7]
    if cifar.block_kind == "bottleneck":  # the stride on the 3x3, as torchvision's v1.5
        assert cifar.layer("conv3_block1_2_conv").stride == 2 and cifar.layer("conv3_block1_1_conv").stride == 1


def test_num_classes_is_overridable_and_defaults_per_id():
    assert specs.get("resnet50_cifar", 100).layer("predictions").shapes["weight"] == (100, 2048)
    assert specs.get("resnet50").num_classes == 1000 and specs.get("resnet50").input_size == 224
    with pytest.raises(ValueError, match="num_classes"):
        specs.get("resnet18_cifar", -1)  # 0 is NO_HEAD, a headless model


def test_reduction_sets_the_calibration_size():
    """Calibration runs at 4x the total downsampling, so the last stage sees 4x4 in every id: 128 and 32."""
    assert (specs.get("resnet18").reduction, specs.get("resnet152_cifar").reduction) == (32, 8)
    assert calibration.CALIBRATION_POSITIONS * specs.get("resnet50_cifar").reduction == 32

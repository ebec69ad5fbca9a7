"""PaddleClas' ResNet_vd keys are timm's ResNet-D parameters, one for one (framework-free, default tier).

PaddleClas does not install with our stack, so the expected names are written here from its source, each list in
its module-creation order: the current `ppcls/arch/backbone/legendary_models/resnet.py` (`stem_cfg["vd"]`: three
ConvBNLayers; flat `blocks.{i}.conv{0,1,2}`, `short` on each stage's first block; `fc`) and the legacy
`ppcls/modeling/architectures/resnet_vd.py` (`conv1_{1,2,3}` whose BN is `"bn" + name[3:]`, i.e. `bnv1_1`;
`res{stage}{a,b,..}` or `res4a`, `res4b{i}` in the 101/152/200 third stage; `fc_0.w_0`). timm's keys are written from
timm's `ResNet` / `Bottleneck` creation order (deep stem `conv1.{0,1,3,4,6}`, `bn1`; conv1..3, bn1..3, then
`downsample.{1,2}` behind the pool). Zipped in creation order, they are the pairs the layout must produce.
"""

from __future__ import annotations

import pytest

from crosscheck import spec as specs
from crosscheck.checkpoints import hubs
from crosscheck.checkpoints.hubs import paddleclas

DEPTHS = {"resnet50d": (3, 4, 6, 3), "resnet101d": (3, 4, 23, 3)}
PADDLE_BN = ("weight", "bias", "_mean", "_variance")
LEGACY_BN = ("scale", "offset", "mean", "variance")
TORCH_BN = ("weight", "bias", "running_mean", "running_var")


def timm_keys(depths: tuple[int, ...]) -> list[str]:
    """timm resnet50d/101d state_dict keys (BN counters aside), in creation order."""
    conv_bn = lambda conv, bn: [f"{conv}.weight"] + [f"{bn}.{p}" for p in TORCH_BN]  # noqa: E731
    keys = conv_bn("conv1.0", "conv1.1") + conv_bn("conv1.3", "conv1.4") + conv_bn("conv1.6", "bn1")
    for stage, depth in enumerate(depths):
        for index in range(depth):
            block = f"layer{stage + 1}.{index}"
            keys += [key for n in (1, 2, 3) for key in conv_bn(f"{block}.conv{n}", f"{block}.bn{n}")]
            if index == 0:
                keys += conv_bn(f"{block}.downsample.1", f"{block}.downsample.2")
    return keys + ["fc.weight", "fc.bias"]


def current_keys(depths: tuple[int, ...]) -> list[str]:
    """PaddleClas ResNet_vd (legendary_models) state_dict keys, in creation order."""
    conv_bn = lambda name: [f"{name}.conv.weight"] + [f"{name}.bn.{p}" for p in PADDLE_BN]  # noqa: E731
    keys, flat = conv_bn("stem.0") + conv_bn("stem.1") + conv_bn("stem.2"), 0
    for depth in depths:
        for index in range(depth):
            keys += [key for conv in ("conv0", "conv1", "conv2") for key in conv_bn(f"blocks.{flat}.{conv}")]
            if index == 0:
                keys += conv_bn(f"blocks.{flat}.short")
            flat += 1
    return keys + ["fc.weight", "fc.bias"]


def legacy_keys(depths: tuple[int, ...]) -> list[str]:
    """PaddleClas' legacy ResNet_vd ParamAttr names, in creation order."""
    def conv_bn(name: str) -> list[str]:
        bn_name = "bn_" + name if name == "conv1" else "bn" + name[3:]
        return [f"{name}_weights"] + [f"{bn_name}_{p}" for p in LEGACY_BN]

    keys, layers = conv_bn("conv1_1") + conv_bn("conv1_2") + conv_bn("conv1_3"), 3 * sum(depths) + 2
    for block, depth in enumerate(depths):
        for i in range(depth):
            if layers in (101, 152, 200) and block == 2:
                conv_name = f"res{block + 2}a" if i == 0 else f"res{block + 2}b{i}"
            else:
                conv_name = f"res{block + 2}{chr(97 + i)}"
            keys += [key for branch in ("branch2a", "branch2b", "branch2c") for key in conv_bn(f"{conv_name}_{branch}")]
            if i == 0:
                keys += conv_bn(f"{conv_name}_branch1")
    return keys + ["fc_0.w_0", "fc_0.b_0"]


def layout_pairs(model_id: str, naming: str) -> dict[str, str]:
    """{the layout's key: the torch naming's (timm's) key} for every parameter of `model_id`."""
    spec = specs.get(model_id)
    return {hubs.native_key(spec, layer, param, naming): layer.native_key(param, "torch")
            for layer in spec.layers for param in layer.shapes}


@pytest.mark.parametrize("model_id", sorted(DEPTHS))
@pytest.mark.parametrize("naming, names", [("paddleclas", current_keys), ("paddleclas-legacy", legacy_keys)])
def test_paddleclas_resnet_vd_names_are_timms_resnet_d_parameters_one_for_one(model_id, naming, names):
    expected = dict(zip(names(DEPTHS[model_id]), timm_keys(DEPTHS[model_id]), strict=True))
    assert layout_pairs(model_id, naming) == expected


def test_the_vd_stem_is_paddleclas_stem_cfg():
    """stem_cfg["vd"]: 3->32 3x3/2, 32->32 3x3, 32->64 3x3; resnet50d's stem convs have those shapes under those
    keys."""
    shapes = specs.get("resnet50d").native_shapes("paddle")
    pairs = layout_pairs("resnet50d", "paddleclas")
    stem = {key: shapes[pairs[key].replace("running_mean", "_mean")] for key in
            ("stem.0.conv.weight", "stem.1.conv.weight", "stem.2.conv.weight")}
    assert stem == {"stem.0.conv.weight": (32, 3, 3, 3), "stem.1.conv.weight": (32, 32, 3, 3),
                    "stem.2.conv.weight": (64, 32, 3, 3)}


def test_paddleclas_holds_resnet_d_but_no_attention_and_no_grouped_blocks():
    """ResNet_vd is resnet50d/101d (PaddleClas' 152_vd/200_vd have no id here); seresnet50 and ResNeXt fit neither."""
    assert {"resnet50", "resnet101", "resnet152", "resnet50d", "resnet101d"} == set(paddleclas.holdable())
    assert "seresnet50" in paddleclas.fits(specs.get("seresnet50"))

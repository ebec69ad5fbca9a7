"""PaddleClas' ResNet and ResNet_vd layouts, framework-free: written from PaddleClas' source naming, since PaddleClas
does not install with crosscheck's stack.

Current (`ppcls/arch/backbone/legendary_models/resnet.py`): paddle.vision's arrays under `stem.0.{conv,bn}`, the
blocks numbered flat across stages `blocks.{i}.conv{0,1,2}.{conv,bn}` with the projection `blocks.{i}.short`, and
`fc`. Legacy static-graph parameter names (`ppcls/modeling/architectures/resnet.py` before 2.1): `conv1_weights`,
`bn_conv1_{scale,offset,mean,variance}`, `res{stage}{block}_branch2{a,b,c}_weights` with BN `bn{stage}{block}_...`,
the projection `..._branch1`, blocks `a`, `b`, ... (`res4a`, `res4b1`, ... in the 101/152 third stage), head
`fc_0.w_0` / `fc_0.b_0`. Both put the stride on the 3x3 and BN eps 1e-5, so ResNet50/101/152 are resnet50/101/152.
Their ResNet18/34 project the first block of every stage (`use_first_short_conv`), which torchvision's do not:
those files fit no crosscheck id.

ResNet_vd (`version="vd"`; legacy `ppcls/modeling/architectures/resnet_vd.py`) is timm's ResNet-D: a stem of three
ConvBNLayers 3x3/2 (3->32), 3x3 (32->32), 3x3 (32->64), each with ReLU, then the 3x3/2 max-pool, and every projection
but the very first block's behind AvgPool2D(2, 2, ceil_mode=True) with paddle's exclusive averages (padding "SAME",
legacy 0: the same windows), its 1x1 conv striding 1. So ResNet50_vd/101_vd are resnet50d/101d: timm's `conv1.{0,3,6}`,
`conv1.{1,4}`, `bn1` are `stem.{0,1,2}.{conv,bn}` (legacy `conv1_{1,2,3}_weights` and `bnv1_{1,2,3}_...`, by
ConvBNLayer's `"bn" + name[3:]`), `downsample.{1,2}` are `short` (legacy `_branch1`).
"""

from __future__ import annotations

import re

from crosscheck import spec as specs
from crosscheck.checkpoints.hubs.layout import UNNAMED, HubLayout
from crosscheck.spec import LayerSpec, ModelSpec

BLOCK_CONV = re.compile(r"(layer\d+\.\d+)\.(conv|bn)(\d)")
BLOCK_SHORTCUT = re.compile(r"(layer\d+\.\d+)\.downsample\.\d")  # .0/.1, or .1/.2 behind timm's pool
VD_STEM = ((3, 2, 32), (3, 1, 32), (3, 1, 64))  # PaddleClas' stem_cfg["vd"]: (kernel, stride, out_channels)
PADDLE_BN_EPS = 1e-5  # paddle.nn.BatchNorm's default epsilon, which PaddleClas' ConvBNLayer keeps
LEGACY_BN = {"weight": "scale", "bias": "offset", "_mean": "mean", "_variance": "variance"}
LEGACY_FC = {"weight": "fc_0.w_0", "bias": "fc_0.b_0"}
LONG_STAGE = 6  # a third stage deeper than this (101, 152) numbers its blocks a, b1, b2, ...
NOT_INSTALLED = "PaddleClas does not install with crosscheck's stack"


def key(spec: ModelSpec, layer: LayerSpec, param: str) -> str:
    """The current PaddleClas key of paddle parameter `param` of `layer`."""
    path = layer.module_path
    if layer.block == "stem":
        return f"stem.{_stem_index(spec, layer)}.{layer.kind}.{param}"
    if path == "fc":
        return f"fc.{param}"
    conv, shortcut = BLOCK_CONV.fullmatch(path), BLOCK_SHORTCUT.fullmatch(path)
    if conv:
        block, _, number = conv.groups()
        return f"blocks.{_flat(spec, block)}.conv{int(number) - 1}.{layer.kind}.{param}"
    if shortcut:
        return f"blocks.{_flat(spec, shortcut.group(1))}.short.{layer.kind}.{param}"
    return f"{UNNAMED}{path}.{param}"


def legacy_key(spec: ModelSpec, layer: LayerSpec, param: str) -> str:
    """The legacy static-graph parameter name of paddle parameter `param` of `layer`."""
    path = layer.module_path
    if path == "fc":
        return LEGACY_FC[param]
    if layer.block == "stem":
        return _legacy_stem(spec, layer, param)
    conv, shortcut = BLOCK_CONV.fullmatch(path), BLOCK_SHORTCUT.fullmatch(path)
    if conv:
        block, number = conv.group(1), conv.group(3)
        branch = f"branch2{'abc'[int(number) - 1]}"
    elif shortcut:
        block, branch = shortcut.group(1), "branch1"
    else:
        return f"{UNNAMED}{path}.{param}"
    name = _legacy_block(spec, block)
    return f"res{name}_{branch}_weights" if layer.kind == "conv" else f"bn{name}_{branch}_{LEGACY_BN[param]}"


def _legacy_stem(spec: ModelSpec, layer: LayerSpec, param: str) -> str:
    """ResNet's `conv1_weights` / `bn_conv1_*`; ResNet_vd's `conv1_{n}_weights` / `bnv1_{n}_*` (its ConvBNLayer names
    the BN "bn" + name[3:], "bn_" + name only for "conv1")."""
    deep = len(specs.STEMS[spec.stem].convs) > 1
    conv_name = f"conv1_{_stem_index(spec, layer) + 1}" if deep else "conv1"
    if layer.kind == "conv":
        return f"{conv_name}_weights"
    return f"{'bn' + conv_name[3:] if deep else 'bn_conv1'}_{LEGACY_BN[param]}"


def _stem_index(spec: ModelSpec, layer: LayerSpec) -> int:
    """A stem layer's ConvBNLayer in PaddleClas' `stem` Sequential: the n-th stem conv, or the n-th stem BN."""
    return [other.module_path for other in spec.layers
            if other.block == "stem" and other.kind == layer.kind].index(layer.module_path)


def _flat(spec: ModelSpec, block_path: str) -> int:
    """A block's index in PaddleClas' flat `blocks` Sequential."""
    return next(index for index, block in enumerate(spec.blocks) if block.module_path == block_path)


def _legacy_block(spec: ModelSpec, block_path: str) -> str:
    """'layer3.2' -> '4c' ('4b2' in a third stage deeper than six blocks)."""
    stage, index = (int(part) for part in block_path.removeprefix("layer").split("."))
    if stage == 3 and spec.depths[2] > LONG_STAGE:
        return f"{stage + 1}a" if index == 0 else f"{stage + 1}b{index}"
    return f"{stage + 1}{chr(ord('a') + index)}"


def fits(spec: ModelSpec) -> str | None:
    """Why PaddleClas' ResNet cannot hold `spec` (None: it can)."""
    if spec.model_id not in holdable():
        return (f"PaddleClas' ResNet (vb) and ResNet_vd are torchvision's bottleneck ResNet and timm's ResNet-D, but "
                f"with a projection on every stage's first block (so not their 18/34): {spec.model_id} is neither; "
                f"it holds {', '.join(holdable())}")
    return None


def holdable() -> list[str]:
    """The model ids PaddleClas' ResNet (vb) or ResNet_vd builds."""
    return [model_id for model_id in specs.MODEL_IDS if _vb(specs.get(model_id)) or _vd(specs.get(model_id))]


def _bottleneck_resnet(spec: ModelSpec) -> bool:
    """Ungrouped bottlenecks striding the 3x3, BN eps as paddle's, no attention: what both versions' blocks are."""
    return (spec.family == "torchvision" and spec.block_kind == "bottleneck" and spec.groups == 1
            and spec.width_per_group == 64 and spec.bn_eps == PADDLE_BN_EPS
            and all(block.attention is None for block in spec.blocks))


def _vb(spec: ModelSpec) -> bool:
    """PaddleClas' ResNet (vb): the 7x7 stem and 1x1/2 projections."""
    return _bottleneck_resnet(spec) and spec.stem == "imagenet" and spec.plain_blocks


def _vd(spec: ModelSpec) -> bool:
    """PaddleClas' ResNet_vd: the (32, 32, 64) deep stem and every projection behind the 2x2 average pool."""
    return (_bottleneck_resnet(spec) and specs.STEMS[spec.stem].convs == VD_STEM
            and all(block.shortcut in ("identity", "avgpool_projection") for block in spec.blocks))


LAYOUT = HubLayout(
    name="paddleclas",
    library="PaddleClas (ppcls legendary_models ResNet / ResNet_vd)",
    base="paddle",
    key=key,
    not_installed=NOT_INSTALLED,
)
LEGACY = HubLayout(
    name="paddleclas-legacy",
    library="PaddleClas, legacy static-graph parameter names (before 2.1)",
    base="paddle",
    key=legacy_key,
    not_installed=NOT_INSTALLED,
)
LAYOUTS = (LAYOUT, LEGACY)

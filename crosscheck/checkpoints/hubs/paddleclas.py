"""PaddleClas' ResNet layouts, framework-free: written from PaddleClas' source naming, since PaddleClas does not
install with crosscheck's stack.

Current (`ppcls/arch/backbone/legendary_models/resnet.py`): paddle.vision's arrays under `stem.0.{conv,bn}`, the
blocks numbered flat across stages `blocks.{i}.conv{0,1,2}.{conv,bn}` with the projection `blocks.{i}.short`, and
`fc`. Legacy static-graph parameter names (`ppcls/modeling/architectures/resnet.py` before 2.1): `conv1_weights`,
`bn_conv1_{scale,offset,mean,variance}`, `res{stage}{block}_branch2{a,b,c}_weights` with BN `bn{stage}{block}_...`,
the projection `..._branch1`, blocks `a`, `b`, ... (`res4a`, `res4b1`, ... in the 101/152 third stage), head
`fc_0.w_0` / `fc_0.b_0`. Both put the stride on the 3x3 and BN eps 1e-5, so ResNet50/101/152 are resnet50/101/152.
Their ResNet18/34 project the first block of every stage (`use_first_short_conv`), which torchvision's do not:
those files fit no crosscheck id.
"""

from __future__ import annotations

import re

from crosscheck import spec as specs
from crosscheck.checkpoints.hubs.layout import UNNAMED, HubLayout
from crosscheck.spec import LayerSpec, ModelSpec

BLOCK_CONV = re.compile(r"(layer\d+\.\d+)\.(conv|bn)(\d)")
BLOCK_SHORTCUT = re.compile(r"(layer\d+\.\d+)\.downsample\.([01])")
PART = {"conv": "conv", "bn": "bn", "0": "conv", "1": "bn"}
LEGACY_BN = {"weight": "scale", "bias": "offset", "_mean": "mean", "_variance": "variance"}
LEGACY_FC = {"weight": "fc_0.w_0", "bias": "fc_0.b_0"}
LONG_STAGE = 6  # a third stage deeper than this (101, 152) numbers its blocks a, b1, b2, ...
NOT_INSTALLED = "PaddleClas does not install with crosscheck's stack"


def key(spec: ModelSpec, layer: LayerSpec, param: str) -> str:
    """The current PaddleClas key of paddle parameter `param` of `layer`."""
    path = layer.module_path
    if path in ("conv1", "bn1"):
        return f"stem.0.{'conv' if path == 'conv1' else 'bn'}.{param}"
    if path == "fc":
        return f"fc.{param}"
    conv, shortcut = BLOCK_CONV.fullmatch(path), BLOCK_SHORTCUT.fullmatch(path)
    if conv:
        block, kind, number = conv.groups()
        return f"blocks.{_flat(spec, block)}.conv{int(number) - 1}.{PART[kind]}.{param}"
    if shortcut:
        block, part = shortcut.groups()
        return f"blocks.{_flat(spec, block)}.short.{PART[part]}.{param}"
    return f"{UNNAMED}{path}.{param}"


def legacy_key(spec: ModelSpec, layer: LayerSpec, param: str) -> str:
    """The legacy static-graph parameter name of paddle parameter `param` of `layer`."""
    path = layer.module_path
    if path == "fc":
        return LEGACY_FC[param]
    if path in ("conv1", "bn1"):
        return "conv1_weights" if path == "conv1" else f"bn_conv1_{LEGACY_BN[param]}"
    conv, shortcut = BLOCK_CONV.fullmatch(path), BLOCK_SHORTCUT.fullmatch(path)
    if conv:
        block, kind, number = conv.groups()
        branch = f"branch2{'abc'[int(number) - 1]}"
    elif shortcut:
        block, part = shortcut.groups()
        kind, branch = PART[part], "branch1"
    else:
        return f"{UNNAMED}{path}.{param}"
    name = _legacy_block(spec, block)
    return f"res{name}_{branch}_weights" if kind == "conv" else f"bn{name}_{branch}_{LEGACY_BN[param]}"


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
        return (f"PaddleClas' ResNet is torchvision's bottleneck ResNet, but with a projection on every stage's first "
                f"block (so not its ResNet18/34): {spec.model_id} is not; it holds {', '.join(holdable())}")
    return None


def holdable() -> list[str]:
    """The model ids PaddleClas' ResNet (vb) builds."""
    return [model_id for model_id in specs.MODEL_IDS if _fits_id(specs.get(model_id))]


def _fits_id(spec: ModelSpec) -> bool:
    return (spec.family == "torchvision" and spec.stem == "imagenet" and spec.block_kind == "bottleneck"
            and spec.groups == 1 and spec.width_per_group == 64 and spec.plain_blocks)


LAYOUT = HubLayout(
    name="paddleclas",
    library="PaddleClas (ppcls legendary_models ResNet)",
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

"""Hugging Face transformers' ResNet layout (`models/resnet/modeling_resnet.py`), framework-free: its keys, and its
`config.json` read and written.

`ResNetForImageClassification` keys are torchvision's arrays renamed: the stem `resnet.embedder.embedder.
{convolution,normalization}`, each block `resnet.encoder.stages.{s}.layers.{l}.layer.{k}.*` and its projection
`...shortcut.*`, the head `classifier.1` (`classifier.0` is a Flatten). `ResNetModel` (no head) drops `resnet.`.
Its convs pad kernel // 2, its BN is `nn.BatchNorm2d`'s default (eps 1e-5), a block projects only where its width
or stride changes, and with `downsample_in_bottleneck=False` (the default) the stride is on the 3x3: torchvision's
resnet18/34/50/101/152. `downsample_in_bottleneck=True` (stride on the first 1x1) and a strided first stage are
ResNets no crosscheck id is.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from crosscheck import spec as specs
from crosscheck.checkpoints.hubs.layout import UNNAMED, Arrays, HubConfig, HubConfigError, HubLayout, plain_torchvision
from crosscheck.spec import LayerSpec, ModelSpec

NAME = "transformers"
BACKBONE = "resnet."  # ResNetForImageClassification's base_model_prefix
CONFIG = "config.json"
WEIGHTS = ("model.safetensors", "pytorch_model.bin")  # what save_pretrained writes, newest first
BASE_PARTS = ("embedder.", "encoder.")  # ResNetModel's own top-level modules
BASE_STEM = "embedder.embedder.convolution.weight"  # ResNetModel's stem conv: tells its files apart
BLOCK_CONV = re.compile(r"layer(\d+)\.(\d+)\.(conv|bn)(\d)")
BLOCK_SHORTCUT = re.compile(r"layer(\d+)\.(\d+)\.downsample\.([01])")
PART = {"conv": "convolution", "bn": "normalization", "0": "convolution", "1": "normalization"}
LAYER_TYPES = {"basic": "basic", "bottleneck": "bottleneck"}  # spec block kind -> config layer_type


def key(spec: ModelSpec, layer: LayerSpec, param: str) -> str:
    """The ResNetForImageClassification key of torch parameter `param` of `layer` (module path as torchvision's)."""
    return f"{module(layer.module_path)}.{param}"


def module(path: str) -> str:
    """torchvision module path -> transformers module path: 'layer2.0.downsample.0' -> 'resnet.encoder.stages.1.
    layers.0.shortcut.convolution'."""
    if path in ("conv1", "bn1"):
        return f"{BACKBONE}embedder.embedder.{PART['conv' if path == 'conv1' else 'bn']}"
    if path == "fc":
        return "classifier.1"
    block = BLOCK_CONV.fullmatch(path)
    if block:
        stage, index, kind, number = block.groups()
        return f"{_block(stage, index)}.layer.{int(number) - 1}.{PART[kind]}"
    shortcut = BLOCK_SHORTCUT.fullmatch(path)
    if shortcut:
        stage, index, part = shortcut.groups()
        return f"{_block(stage, index)}.shortcut.{PART[part]}"
    return f"{UNNAMED}{path}"


def _block(stage: str, index: str) -> str:
    return f"{BACKBONE}encoder.stages.{int(stage) - 1}.layers.{index}"


def normalise(arrays: Mapping[str, np.ndarray]) -> Arrays:
    """A `ResNetModel` file's keys under `resnet.`, as ResNetForImageClassification holds them (what transformers'
    own loader does with a base model's checkpoint); any other file as it is."""
    if BASE_STEM not in arrays or any(key.startswith(BACKBONE) for key in arrays):
        return dict(arrays)
    return {f"{BACKBONE}{key}" if key.startswith(BASE_PARTS) else key: value for key, value in arrays.items()}


def fits(spec: ModelSpec) -> str | None:
    """Why transformers' ResNet cannot hold `spec` (None: it can)."""
    if not fits_id(spec.model_id):
        return (f"transformers' ResNet is torchvision's plain ResNet (7x7/2 stem + max-pool, no conv biases, BN eps "
                f"1e-5, stride on the 3x3, no groups, no attention): {spec.model_id} is not; it holds "
                f"{', '.join(holdable())}")
    return None


def holdable() -> list[str]:
    """The model ids transformers' ResNet builds."""
    return [model_id for model_id in specs.MODEL_IDS if fits_id(model_id)]


def fits_id(model_id: str) -> bool:
    """transformers' ResNet has torchvision's 7x7 stem, plain (ungrouped) blocks, BN eps 1e-5, stride on the 3x3."""
    return plain_torchvision(model_id)


def config(spec: ModelSpec, labels: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The `config.json` transformers' `from_pretrained` builds `spec` from (ResNetModel when headless)."""
    names = labels or tuple(f"LABEL_{index}" for index in range(spec.num_classes))
    return {
        "architectures": ["ResNetModel" if spec.headless else "ResNetForImageClassification"],
        "model_type": "resnet",
        "num_channels": 3,
        "embedding_size": spec.layer("conv1_conv").out_channels,
        "hidden_sizes": [spec.blocks[sum(spec.depths[:stage + 1]) - 1].out_channels for stage in range(len(spec.depths))],
        "depths": list(spec.depths),
        "layer_type": LAYER_TYPES[spec.block_kind],
        "hidden_act": "relu",
        "downsample_in_first_stage": False,
        "downsample_in_bottleneck": False,
        "id2label": {str(index): name for index, name in enumerate(names)},
        "label2id": {name: index for index, name in enumerate(names)},
    }


def read_config(path: Path) -> HubConfig:
    """The model id and class names a `config.json` implies; one transformers builds but no crosscheck id is (a
    stride on the 1x1, a strided first stage, other widths) raises HubConfigError saying so."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise HubConfigError(f"{path}: not a readable JSON config ({error})") from error
    if not isinstance(data, dict) or data.get("model_type") != "resnet":
        raise HubConfigError(f"{path}: not a transformers ResNet config (model_type "
                             f"{data.get('model_type') if isinstance(data, dict) else None!r}, expected 'resnet')")
    layer_type, depths = data.get("layer_type", "bottleneck"), tuple(data.get("depths", (3, 4, 6, 3)))
    if layer_type == "bottleneck" and data.get("downsample_in_bottleneck", False):
        raise HubConfigError(
            f"{path}: downsample_in_bottleneck=true puts each stride on the block's first 1x1 conv (the original "
            "paper's ResNet, without conv biases): no crosscheck id is that ResNet; resnet50 and its kin stride the "
            "3x3, keras.applications' resnet50_v1 strides the 1x1 but has conv biases and BN eps 1.001e-5")
    if data.get("downsample_in_first_stage", False):
        raise HubConfigError(f"{path}: downsample_in_first_stage=true strides the first stage: no crosscheck id does")
    matching = [model_id for model_id in holdable()
                if specs.get(model_id).depths == depths and LAYER_TYPES[specs.get(model_id).block_kind] == layer_type]
    expected = config(specs.get(matching[0])) if matching else {}
    differing = [name for name in ("embedding_size", "hidden_sizes", "num_channels", "hidden_act")
                 if matching and name in data and data[name] != expected[name]]
    if not matching or differing:
        what = ", ".join(f"{name}={data[name]}" for name in differing) or f"layer_type={layer_type}, depths={list(depths)}"
        raise HubConfigError(f"{path}: {what}: no crosscheck id is that ResNet (transformers' ResNets crosscheck "
                             f"knows: {', '.join(holdable())})")
    return HubConfig(path, matching[0], _labels(data))


def _labels(data: Mapping[str, Any]) -> tuple[str, ...] | None:
    """id2label in index order, when it names every index from 0."""
    id2label = data.get("id2label") or {}
    try:
        ordered = sorted((int(index), str(name)) for index, name in id2label.items())
    except (TypeError, ValueError):
        return None
    return tuple(name for _, name in ordered) if [i for i, _ in ordered] == list(range(len(ordered))) else None


LAYOUT = HubLayout(
    name=NAME,
    library="Hugging Face transformers (ResNetForImageClassification / ResNetModel)",
    base="torch",
    key=key,
    normalise=normalise,
    read_config=read_config,
    config_name=CONFIG,
    without_config="read with transformers' default downsample_in_bottleneck=false (stride on the 3x3); a model "
                   "configured with true has the same shapes but is not this id",
    weights_names=WEIGHTS,
    runtime="crosscheck.checkpoints.hubs.transformers_runtime",
)

"""keras-hub's ResNet layout (`keras_hub/src/models/resnet/resnet_backbone.py`), framework-free: its layer names, and
a `save_to_preset` directory's `config.json` / `task.json` read and written.

A preset holds `config.json` (the `ResNetBackbone` arguments), `model.weights.h5` (the backbone, Keras 3
order-based: `layers/conv2d_4/vars/0`) and, for a `ResNetImageClassifier`, `task.json` and `task.weights.h5` (the
`predictions` Dense). The weights file names no layer, and its order is Keras' functional graph order, so it is read
by keras-hub's own model built from the checked config, in the keras worker (`keras_hub_runtime.py`); its layers
are then named keras.applications' way with the stages renumbered: `conv1_{conv,bn}`, `stack{s}_block{b}_{k}_{conv,
bn}` (`k` 0 the projection), `predictions`. keras-hub's plain ResNet (`use_pre_activation=false`, `basic_block` or
`bottleneck_block`, the 7x7/2 stem, strides [1, 2, 2, 2]) pads as torch does, strides the 3x3, has no conv biases
and BN eps 1e-5, and projects where the width or stride changes: torchvision's resnet18/34/50/101/152. Its ResNetV2
and ResNet-vd are ResNets no crosscheck id is (`read_config` says how each differs).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Mapping

from crosscheck import spec as specs
from crosscheck.checkpoints.hubs.layout import HubConfig, HubConfigError, HubLayout, plain_torchvision
from crosscheck.spec import LayerSpec, ModelSpec

NAME = "keras-hub"
CONFIG, TASK_CONFIG = "config.json", "task.json"
WEIGHTS, TASK_WEIGHTS = "model.weights.h5", "task.weights.h5"
BACKBONE, CLASSIFIER = "keras_hub>ResNetBackbone", "keras_hub>ResNetImageClassifier"  # their registered names
BLOCK = re.compile(r"conv(\d+)_block(\d+)_(.*)")
BLOCK_TYPES = {"basic": "basic_block", "bottleneck": "bottleneck_block"}  # spec block kind -> keras-hub block_type
STEM = {"input_conv_filters": [64], "input_conv_kernel_sizes": [7]}
PLAIN = {**STEM, "stackwise_num_filters": list(specs.STAGE_WIDTHS), "stackwise_num_strides": [1, 2, 2, 2]}
V2 = ("use_pre_activation=true is keras-hub's ResNetV2: each stage strides its first block, "
      "no conv has a bias, BN eps 1e-5; crosscheck's resnet50v2 family is keras.applications' (the stride on each "
      "stage's last block, biases on the stem, projection and last convs, BN eps 1.001e-5): no crosscheck id is it")
VD = ("is keras-hub's ResNet-vd (PaddleClas' ResNet_vd: the three-conv deep stem and average-pool projections; its "
      "basic blocks also project the first stage): no crosscheck id builds it yet")


def key(spec: ModelSpec, layer: LayerSpec, param: str) -> str:
    """The keras-hub key of keras parameter `param` of `layer`: 'conv3_block1_0_conv' -> 'stack1_block0_0_conv'."""
    block = BLOCK.fullmatch(layer.name)
    name = f"stack{int(block.group(1)) - 2}_block{int(block.group(2)) - 1}_{block.group(3)}" if block else layer.name
    return f"{name}/{param}"


def fits(spec: ModelSpec) -> str | None:
    """Why keras-hub's ResNet cannot hold `spec` (None: it can)."""
    if not plain_torchvision(spec.model_id):
        return (f"keras-hub's plain ResNetBackbone is torchvision's ResNet (7x7/2 stem + max-pool, no conv biases, BN "
                f"eps 1e-5, stride on the 3x3, no groups): {spec.model_id} is not; it holds {', '.join(holdable())}")
    return None


def holdable() -> list[str]:
    """The model ids keras-hub's plain ResNetBackbone builds."""
    return [model_id for model_id in specs.MODEL_IDS if plain_torchvision(model_id)]


def arguments(spec: ModelSpec) -> dict[str, Any]:
    """The `ResNetBackbone` arguments that build `spec` (one of `holdable()`)."""
    return {**PLAIN, "stackwise_num_blocks": list(spec.depths), "block_type": BLOCK_TYPES[spec.block_kind],
            "use_pre_activation": False}


def read_config(path: Path) -> HubConfig:
    """The model id a preset's `config.json` (and `task.json` beside it) implies; a ResNet keras-hub builds but no
    crosscheck id is, or a classifier crosscheck's head is not, raises HubConfigError naming the file and setting."""
    backbone = _backbone_arguments(path, _json(path, BACKBONE))
    notes: tuple[str, ...] = ()
    task = path.parent / TASK_CONFIG
    if task.is_file():
        notes = _check_task(task, backbone)
    matching = [model_id for model_id in holdable() if arguments(specs.get(model_id)) == backbone]
    if not matching:
        what = (f"block_type={backbone['block_type']}, stackwise_num_blocks={backbone['stackwise_num_blocks']}")
        raise HubConfigError(f"{path}: {what}: no crosscheck id is that ResNet (keras-hub's ResNets crosscheck knows: "
                             f"{', '.join(holdable())})")
    return HubConfig(path, matching[0], None, notes)


def is_preset_weights(weights: Path) -> bool:
    """`weights` is a keras-hub preset's backbone weights: `model.weights.h5` beside a keras-hub `config.json`."""
    try:
        registered = json.loads((weights.parent / CONFIG).read_text()).get("registered_name")
    except (OSError, ValueError, AttributeError):
        return False
    return weights.name == WEIGHTS and str(registered).startswith("keras_hub>")


def backbone_arguments(directory: Path) -> dict[str, Any]:
    """The checked `ResNetBackbone` arguments of a preset directory (what the keras worker builds)."""
    path = directory / CONFIG
    return _backbone_arguments(path, _json(path, BACKBONE))


def head(directory: Path) -> dict[str, Any] | None:
    """The `ResNetImageClassifier` arguments beside the backbone of a preset directory (None: a backbone alone)."""
    path = directory / TASK_CONFIG
    if not path.is_file():
        return None
    config = _json(path, CLASSIFIER)["config"]
    return {name: config.get(name) for name in ("num_classes", "pooling", "activation", "dropout")}


def _json(path: Path, registered: str) -> dict[str, Any]:
    """A preset JSON file of the class `registered`, read as plain JSON (nothing is deserialised)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise HubConfigError(f"{path}: not a readable JSON config ({error})") from error
    found = data.get("registered_name") if isinstance(data, dict) else None
    if found != registered or not isinstance(data.get("config"), dict):
        raise HubConfigError(f"{path}: not a keras-hub {registered.split('>')[-1]} config (registered_name {found!r})")
    return data


def _backbone_arguments(path: Path, data: Mapping[str, Any]) -> dict[str, Any]:
    """The architecture arguments of a ResNetBackbone config, refused unless they are a plain ResNet's."""
    config = data["config"]
    block_type = str(config.get("block_type"))
    if config.get("use_pre_activation"):
        raise HubConfigError(f"{path}: {V2}")
    if block_type.endswith("_vd"):
        raise HubConfigError(f"{path}: block_type={block_type} {VD}")
    if block_type not in BLOCK_TYPES.values():
        raise HubConfigError(f"{path}: block_type={block_type!r}: not a keras-hub ResNet block type")
    for name, plain in PLAIN.items():
        if config.get(name) != plain:
            raise HubConfigError(f"{path}: {name}={config.get(name)}: crosscheck's ResNets have {plain} (torchvision's "
                                 "7x7/2 stem, the stages' widths 64..512 and strides)")
    image_shape = config.get("image_shape") or [None, None, 3]
    if list(image_shape)[-1:] != [3]:
        raise HubConfigError(f"{path}: image_shape={image_shape}: crosscheck's ResNets take 3 channels, last")
    return {**PLAIN, "stackwise_num_blocks": list(config.get("stackwise_num_blocks") or []), "block_type": block_type,
            "use_pre_activation": False}


def _check_task(path: Path, backbone: Mapping[str, Any]) -> tuple[str, ...]:
    """A classifier's task.json checked against crosscheck's head (average pool + Dense) and its backbone config."""
    config = _json(path, CLASSIFIER)["config"]
    if not (path.parent / TASK_WEIGHTS).is_file():
        raise HubConfigError(f"{path}: a classifier without its {TASK_WEIGHTS} (keras-hub would leave the head random)")
    if config.get("pooling", "avg") != "avg":
        raise HubConfigError(f"{path}: pooling={config.get('pooling')!r}: crosscheck's ResNets average-pool before the "
                             "head")
    inner = config.get("backbone")
    if isinstance(inner, dict) and _backbone_arguments(path, inner) != backbone:
        raise HubConfigError(f"{path}: its backbone differs from {CONFIG}'s")
    activation = config.get("activation")
    if activation in (None, "linear"):
        return ()
    return (f"{path.name}: the classifier applies activation={activation!r} to its logits; the converted model gives "
            "the logits (the proof compares keras-hub's logits, before the activation)",)


LAYOUT = HubLayout(
    name=NAME,
    library="keras-hub (ResNetBackbone / ResNetImageClassifier preset)",
    base="keras",
    key=key,
    read_config=read_config,
    config_name=CONFIG,
    weights_names=(WEIGHTS,),
    runtime="crosscheck.checkpoints.hubs.keras_hub_runtime",
    read_in_worker=is_preset_weights,
)

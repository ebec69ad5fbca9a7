"""What `convert --to` can write: one `Target` record per library (framework-free).

A target names the key naming its files use (a spec naming or a hub layout), its weights file's suffix, which model
ids the library's ResNet can hold, and how its files are written: a directory of config + weights written here
without a framework (transformers), a directory written by the library's own saver in its base naming's worker
(keras-hub's `save_to_preset`), or one file written by its base naming's worker with the layout's keys (PaddleClas). Adding a target is one record in TARGETS.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

import numpy as np
from safetensors.numpy import save_file

from crosscheck import spec as specs
from crosscheck.checkpoints import hubs
from crosscheck.checkpoints.containers import TORCH_BN_COUNTER
from crosscheck.checkpoints.hubs import keras_hub, paddleclas, transformers
from crosscheck.spec import ModelSpec

Labels = tuple[str, ...] | None
DirectoryWriter = Callable[[Path, ModelSpec, Mapping[str, np.ndarray], Labels], None]


@dataclass(frozen=True)
class Target:
    """One library `convert --to` writes for."""

    name: str  # the --to choice
    naming: str  # the keys written: a spec naming or a hub layout
    suffix: str  # of the weights file (inside the directory, for a directory target)
    holds: Callable[[ModelSpec], str | None]  # why the library's ResNet cannot hold a spec (None: it can)
    write_directory: DirectoryWriter | None = None  # a directory target's framework-free writer; None: one file
    weights_name: str = ""  # the weights file's name in the directory
    recognises: Callable[[Path], bool] = lambda path: False  # an existing destination directory that is this library's
    in_worker: bool = False  # a directory written by the library's saver in the base worker (`hub_write`)

    @property
    def directory(self) -> bool:
        """The target is a directory (config + weights), not one file."""
        return self.write_directory is not None or self.in_worker

    @property
    def framework(self) -> str:
        """The worker whose naming the arrays are in (it writes a file target, and runs the proof)."""
        return hubs.base(self.naming)

    def weights(self, destination: Path) -> Path:
        """The weights file the target writes at `destination`."""
        return destination / self.weights_name if self.directory else destination


def write_transformers(directory: Path, spec: ModelSpec, arrays: Mapping[str, np.ndarray], labels: Labels) -> None:
    """A `save_pretrained`-style directory: `config.json` and `model.safetensors` (ResNetModel's keys when headless,
    BN counters as transformers saves them)."""
    tensors = hubs.from_base(spec, specs.to_native(spec, arrays, "torch"), transformers.NAME)
    if spec.headless:
        tensors = {key.removeprefix(transformers.BACKBONE): value for key, value in tensors.items()}
    counters = {f"{key.removesuffix('running_var')}{TORCH_BN_COUNTER}": np.zeros((), np.int64)
                for key in tensors if key.endswith(".running_var")}
    save_file({**tensors, **counters}, str(directory / transformers.WEIGHTS[0]), metadata={"format": "pt"})
    config = transformers.config(spec, labels if labels and len(labels) == spec.num_classes else None)
    (directory / transformers.CONFIG).write_text(json.dumps(config, indent=2) + "\n")


def is_transformers_directory(path: Path) -> bool:
    """A directory whose config.json is a transformers ResNet's."""
    try:
        return json.loads((path / transformers.CONFIG).read_text()).get("model_type") == "resnet"
    except (OSError, ValueError, AttributeError):
        return False


def timm_fits(spec: ModelSpec) -> str | None:
    """Why timm cannot hold `spec` (None: it can): timm's `resnet18` ... `resnet152` are torchvision's, same keys and
    function, and its own ids here (resnet50d, seresnet50) are named as timm names them, so the file is the torch
    naming's state_dict; timm builds neither Keras' ResNets nor the CIFAR stem."""
    holdable = [m for m in specs.MODEL_IDS if specs.get(m).family == "torchvision" and specs.get(m).stem != "cifar"]
    if spec.model_id not in holdable:
        return f"timm's ResNets are torchvision's and its own: {spec.model_id} is not one; it holds {', '.join(holdable)}"
    return None


def is_keras_hub_directory(path: Path) -> bool:
    """A directory holding a keras-hub preset (config.json of a keras-hub class beside model.weights.h5)."""
    return keras_hub.is_preset_weights(path / keras_hub.WEIGHTS)


TARGETS: dict[str, Target] = {target.name: target for target in (
    Target("transformers", transformers.NAME, ".safetensors", transformers.fits, write_transformers,
           transformers.WEIGHTS[0], is_transformers_directory),
    Target("paddleclas", paddleclas.LAYOUT.name, ".pdparams", paddleclas.fits),
    Target("timm", "torch", ".pth", timm_fits),
    Target("keras-hub", keras_hub.NAME, ".weights.h5", keras_hub.fits, weights_name=keras_hub.WEIGHTS,
           recognises=is_keras_hub_directory, in_worker=True),
)}


def inferred(destination: Path) -> Target | None:
    """The target an existing destination directory belongs to, if any."""
    return next((target for target in TARGETS.values() if destination.is_dir() and target.recognises(destination)), None)

"""The record of a model-hub key layout and what a hub's config file says (framework-free)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from crosscheck import spec as specs
from crosscheck.spec import LayerSpec, ModelSpec

Arrays = dict[str, np.ndarray]
UNNAMED = "(no such layer in this layout) "  # the key of a layer a hub's ResNet does not have: never in a file
KeyFunction = Callable[[ModelSpec, LayerSpec, str], str]  # (spec, layer, base native param name) -> hub key


class HubConfigError(ValueError):
    """A hub directory's config that no model id fits, or that contradicts its weights; the message names the file."""


@dataclass(frozen=True)
class HubConfig:
    """What a hub's config file says beyond the arrays: the model id it implies (None: the arrays decide), the class
    names by index, and notes on what was assumed."""

    path: Path | None
    model_id: str | None = None
    labels: tuple[str, ...] | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class HubLayout:
    """One library's key layout for the spec's ResNets: its name (a naming, as `inspect` shows it), the library, the
    base naming whose arrays it renames, the key of every parameter, and how a file of it is told apart."""

    name: str  # e.g. "transformers"
    library: str  # e.g. "Hugging Face transformers (ResNetForImageClassification / ResNetModel)"
    base: str  # one of spec.NAMINGS
    key: KeyFunction
    normalise: Callable[[Mapping[str, np.ndarray]], Arrays] = dict  # a file's keys as the layout writes them
    read_config: Callable[[Path], HubConfig] | None = None  # a config file beside the weights, read when present
    config_name: str = ""  # that file's name
    without_config: str = ""  # what reading the weights alone assumes, said when no config file is beside them
    weights_names: tuple[str, ...] = ()  # the weights file names of a hub directory, preferred first
    runtime: str = ""  # the module whose `outputs` runs a file with the library's own loader (in `base`'s worker)
    not_installed: str = ""  # why the proof cannot use the library's loader here (no runtime)
    # a weights file of this library that names no layer, read by the runtime's `read` with the library (None: none)
    read_in_worker: Callable[[Path], bool] | None = None


def plain_torchvision(model_id: str) -> bool:
    """torchvision's plain ResNet: the 7x7 stem, ungrouped blocks without timm's designs, BN eps 1e-5, stride on the
    3x3 (what the hub libraries' plain ResNets build)."""
    spec = specs.get(model_id)
    return (spec.family == "torchvision" and spec.stem == "imagenet" and spec.groups == 1 and spec.width_per_group == 64
            and spec.plain_blocks)

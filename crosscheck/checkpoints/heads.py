"""Classifier heads stored where the spec's own head is not: fine-tuned and hub layouts (numpy only, framework-free).

A fine-tuned ResNet keeps its backbone's keys but often not its head's: the transfer-learning tutorial's
`fc = Sequential(Dropout, Linear)` stores `fc.1.*`, mmpretrain's `ImageClassifier` stores `head.fc.*` beside
`backbone.*`, and a Keras transfer-learning model ends in a `Dense(n)` under any name, beside the base or around
it (a nested base model). Each layout's one linear layer is mapped onto the spec's head (`fc`, `predictions`);
layers without weights (Dropout, GlobalAveragePooling2D) need no mapping. More than one linear layer after the
backbone is a classifier of its own, not a ResNet head: refused, naming its layers and `--num-classes 0`, which
reads the backbone alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Mapping

import numpy as np

from crosscheck import spec as specs
from crosscheck.checkpoints import identify

Arrays = dict[str, np.ndarray]
Place = tuple[str, str]  # (container path, file key)
MMPRETRAIN_BACKBONE = "backbone."  # mmpretrain ImageClassifier: backbone.*, neck (no weights), head.fc.*
MMPRETRAIN_HEAD = "head."
BACKBONE_ONLY = "--num-classes 0"


class DeepHeadError(ValueError):
    """A stack of linear layers after the backbone: not a ResNet head; the message names the layers."""


@dataclass(frozen=True)
class Head:
    """A classifier found under other keys than the spec's head: what it is and which file keys became which."""

    layout: str  # the library and layout it comes from, e.g. "mmpretrain ImageClassifier head.fc"
    keys: tuple[tuple[Place, str], ...]  # ((container, file key), native key of the spec's head)

    def describe(self) -> str:
        """'fc.1.weight, fc.1.bias -> fc.weight, fc.bias'."""
        return f"{', '.join(key for (_, key), _ in self.keys)} -> {', '.join(native for _, native in self.keys)}"


def head_keys(naming: str) -> dict[str, str]:
    """{param: native key} of the spec's classifier in `naming`: torch/paddle `fc.weight`, keras `predictions/kernel`."""
    layer = specs.get("resnet18").layer("predictions")
    return {param: layer.native_key(param, naming) for param in ("weight", "bias")}


@cache
def backbone_keys(naming: str) -> frozenset[str]:
    """Every key some model id's headless backbone has in `naming`: what `--num-classes 0` keeps."""
    return frozenset(key for model_id in specs.MODEL_IDS
                     for key in identify.expected_shapes(specs.get(model_id, specs.NO_HEAD), naming))


def backbone_only(native: Arrays, naming: str) -> Arrays:
    """The backbone's arrays alone: every key no headless model id has (a head of any shape) left out."""
    kept = backbone_keys(naming)
    return {key: value for key, value in native.items() if key in kept}


def find(native: Arrays, naming: str, container: str, prefix: str, place: Arrays,
         parent: tuple[str, Arrays] | None) -> tuple[Arrays, Head | None]:
    """`native` with a head stored under other keys mapped onto the spec's head, and that mapping (None: no such head).

    `place` is the container's whole dict (mmpretrain's head sits beside the `backbone.` prefix); `parent` the
    container around a nested Keras base model with its arrays (the Dense around it). Raises DeepHeadError for a
    stack of linear layers.
    """
    target = head_keys(naming)
    if target["weight"] in native or target["bias"] in native:
        return native, None
    if naming == "keras":
        found = _keras_dense(native, container, parent)
    else:
        found = _sequential_fc(native, naming, container, prefix) \
            or (_mmpretrain(place, container, prefix) if naming == "torch" else None)
    if found is None:
        return native, None
    layout, linears = found
    if len(linears) > 1:
        raise DeepHeadError(stack_message([(_layer_name(weight), np.shape(arrays[weight[1]])) for weight, _, arrays in linears]))
    weight, bias, arrays = linears[0]
    mapped = {target["weight"]: arrays[weight[1]], target["bias"]: arrays[bias[1]]}
    native = {key: value for key, value in native.items() if _outside(key, weight, bias, container, prefix)}
    return {**native, **mapped}, Head(layout, ((weight, target["weight"]), (bias, target["bias"])))


def stack_message(linears: list[tuple[str, tuple[int, ...]]]) -> str:
    """Why a stack of linear layers (name, weight shape) is refused, and what reads the backbone alone."""
    stack = ", ".join(f"{name} {list(shape)}" for name, shape in linears)
    return (f"{len(linears)} linear layers after the backbone ({stack}) are a classifier of their own, not a ResNet "
            f"head (one linear layer); {BACKBONE_ONLY} converts the backbone alone")


Linear = tuple[Place, Place, Arrays]  # (weight place, bias place, the dict holding them)


def _sequential_fc(native: Arrays, naming: str, container: str, prefix: str) -> tuple[str, list[Linear]] | None:
    """The tutorial's `fc = Sequential(Dropout, Linear)` (`fc.1.*`), or any `fc = Sequential(...)` of linear layers."""
    indices = sorted({int(m.group(1)) for key in native if (m := re.fullmatch(r"fc\.(\d+)\.weight", key))})
    linears = [((container, f"{prefix}fc.{i}.weight"), (container, f"{prefix}fc.{i}.bias"), _prefixed(native, prefix))
               for i in indices if np.ndim(native[f"fc.{i}.weight"]) == 2 and f"fc.{i}.bias" in native]
    if not linears:
        return None
    library = "paddle.vision" if naming == "paddle" else "torchvision"
    return f"{library} fine-tuned, the tutorials' head fc = Sequential(Dropout, Linear)", linears


def _mmpretrain(place: Arrays, container: str, prefix: str) -> tuple[str, list[Linear]] | None:
    """mmpretrain's ImageClassifier: `head.fc.*` beside the `backbone.` prefix (`module.` around both in its EMA)."""
    if not prefix.endswith(MMPRETRAIN_BACKBONE):
        return None
    outer = prefix.removesuffix(MMPRETRAIN_BACKBONE) + MMPRETRAIN_HEAD
    weights = [key for key in place if key.startswith(outer) and key.endswith(".weight") and np.ndim(place[key]) == 2]
    linears = [((container, key), (container, key.removesuffix("weight") + "bias"), place) for key in weights
               if key.removesuffix("weight") + "bias" in place]
    return ("mmpretrain ImageClassifier head (LinearClsHead: head.fc)", linears) if linears else None


def _keras_dense(native: Arrays, container: str, parent: tuple[str, Arrays] | None) -> tuple[str, list[Linear]] | None:
    """A Keras transfer-learning model's Dense layers (any name) beside the base's layers or around a nested base."""
    layers = backbone_layers()
    places = [(container, native)] + ([parent] if parent else [])
    linears = [((path, key), (path, key.removesuffix("kernel") + "bias"), arrays) for path, arrays in places
               for key in arrays if key.endswith("/kernel") and key.split("/")[0] not in layers
               and np.ndim(arrays[key]) == 2 and key.removesuffix("kernel") + "bias" in arrays]
    if not linears:
        return None
    nested = ", the base nested as a sub-model" if container != places[-1][0] else ""
    return f"Keras transfer learning: keras.applications base + GlobalAveragePooling2D + Dense{nested}", linears


@cache
def backbone_layers() -> frozenset[str]:
    """Every Keras layer name of some model id's backbone."""
    return frozenset(key.split("/")[0] for key in backbone_keys("keras"))


def _prefixed(native: Arrays, prefix: str) -> Arrays:
    """`native` under its file keys again (the prefix put back), for a Linear's source dict."""
    return {f"{prefix}{key}": value for key, value in native.items()}


def _outside(key: str, weight: Place, bias: Place, container: str, prefix: str) -> bool:
    """Whether native `key` is not one of the head's source keys."""
    return (container, f"{prefix}{key}") not in (weight, bias)


def _layer_name(place: Place) -> str:
    """'fc.1' of 'fc.1.weight', 'fc1' of 'fc1/kernel'."""
    return re.sub(r"[./](weight|kernel)$", "", place[1])


def taken(head: Head | None) -> set[Place]:
    """The file places the head's arrays came from."""
    return {place for place, _ in head.keys} if head else set()


def in_parent(head: Head | None, container: str) -> bool:
    """Whether the head's arrays lie outside the backbone's container (a Dense around a nested base)."""
    return bool(head) and any(path != container for (path, _), _ in head.keys)  # type: ignore[union-attr]


def files_keys(head: Head | None, native: Mapping[str, np.ndarray], prefix: str) -> dict[str, str]:
    """{native key: file key} for the proof's loader: prefixed native keys, the head's from where it was found."""
    renamed = {native_key: file_key for (_, file_key), native_key in (head.keys if head else ())}
    return {key: renamed.get(key, f"{prefix}{key}") for key in native}

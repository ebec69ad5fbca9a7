"""Keras weight files: Keras 3 `.weights.h5` and legacy keras.applications `.h5`; weights only, never code.

Legacy `.h5` files name every weight (`conv1_bn/gamma:0`), so they are read by name with h5py.
Keras 3 `.weights.h5` files are order-based (`layers/conv2d_3/vars/0`: the 4th Conv2D of
`model.layers`), so they are read by loading them into the model they were saved from; `layers()`
lists their layers by kind and shape, enough to tell which model that is.
"""

from __future__ import annotations

import os
import re

import h5py
import keras
import numpy as np
from keras.src.legacy.saving import legacy_h5_format

WEIGHTS_SUFFIX = ".weights.h5"
# Keras 3 `.weights.h5` group names are the snake-cased layer class, numbered per class.
KIND_OF_CLASS = {"conv2d": "conv", "batch_normalization": "bn", "dense": "dense"}


def read(path: str | os.PathLike[str], model: keras.Model | None = None) -> dict[str, np.ndarray]:
    """{'layer/variable': array}: by name from a legacy .h5, or through `model` from an order-based .weights.h5."""
    path = os.fspath(path)
    if not path.endswith(WEIGHTS_SUFFIX):
        return _read_legacy(path)
    if model is None:
        raise ValueError(f"{path}: a .weights.h5 file is order-based; it can only be read for a known model id")
    _open(path).close()  # a corrupt file gets the same clear error as a legacy one
    try:
        model.load_weights(path)
    except (ValueError, KeyError, OSError) as error:
        raise ValueError(f"{path}: does not load into {model.name}: {error}") from error
    return {key: keras.ops.convert_to_numpy(variable) for key, variable in _named_variables(model).items()}


def layers(path: str | os.PathLike[str]) -> list[tuple[str, list[list[int]]]]:
    """The layers of a .weights.h5 file in model order: (kind or class name, variable shapes)."""
    found: dict[str, list[list[int]]] = {}
    with _open(path) as file:
        group = file.get("layers")
        if not isinstance(group, h5py.Group):
            raise ValueError(f"{path}: no 'layers' group; not a Keras 3 .weights.h5 file")
        for name, layer in group.items():
            variables = layer.get("vars", {})
            found[name] = [list(variables[str(i)].shape) for i in range(len(variables))]
    return [(KIND_OF_CLASS.get(_class_and_index(name)[0], _class_and_index(name)[0]), shapes)
            for name, shapes in sorted(found.items(), key=lambda item: _class_and_index(item[0]))
            if shapes]


def write(path: str | os.PathLike[str], model: keras.Model) -> None:
    """Save `model`'s weights: a Keras 3 .weights.h5, or a legacy by-name .h5 like keras.applications'."""
    path = os.fspath(path)
    if path.endswith(WEIGHTS_SUFFIX):
        model.save_weights(path)
        return
    with h5py.File(path, "w") as file:
        legacy_h5_format.save_weights_to_hdf5_group(file, model)


def _read_legacy(path: str) -> dict[str, np.ndarray]:
    """By name: the `layer_names` attribute, each layer's `weight_names`, ':0' suffixes dropped."""
    native = {}
    with _open(path) as file:
        root = file["model_weights"] if "model_weights" in file else file  # a full-model legacy .h5
        if "layer_names" not in root.attrs:
            raise ValueError(f"{path}: no 'layer_names' attribute; not a Keras weight file")
        for layer_name in map(_text, root.attrs["layer_names"]):
            group = root[layer_name]
            for weight_name in map(_text, group.attrs.get("weight_names", [])):
                native[f"{layer_name}/{weight_name.split('/')[-1].removesuffix(':0')}"] = np.asarray(group[weight_name])
    return native


def _open(path: str | os.PathLike[str]) -> h5py.File:
    try:
        return h5py.File(path, "r")
    except OSError as error:
        raise ValueError(f"{os.fspath(path)}: not a readable HDF5 file (truncated or corrupt: {error})") from error


def _named_variables(model: keras.Model) -> dict[str, keras.Variable]:
    return {f"{layer.name}/{variable.name}": variable for layer in model.layers for variable in layer.weights}


def _class_and_index(group_name: str) -> tuple[str, int]:
    """'conv2d_12' -> ('conv2d', 12); 'conv2d' -> ('conv2d', 0)."""
    match = re.fullmatch(r"(.*?)(?:_(\d+))?", group_name)
    assert match is not None
    return match.group(1), int(match.group(2) or 0)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)

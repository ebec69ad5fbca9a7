"""Keras weight files: `.keras` archives, Keras 3 `.weights.h5` and legacy keras.applications `.h5`; weights only, never code.

Legacy `.h5` files name every weight (`conv1_bn/gamma:0`), so they are read by name with h5py.
A `.keras` archive is a zip of `config.json` and `model.weights.h5`; its weights are stored per
layer in model order (`layers/conv2d_3/vars/0`: the 4th Conv2D of `model.layers`), and the config,
read as plain JSON (nothing in it is deserialised or run), names each of those layers. Both are
read here without Keras. A bare Keras 3 `.weights.h5` file is order-based with no config, so it is
read by loading it into the model it was saved from (in the keras worker, crosscheck/backends/keras/checkpoints.py);
`layers()` lists its layers by kind and shape, enough to tell which model that is.
"""

from __future__ import annotations

import io
import json
import os
import re
import zipfile
from typing import Any

import h5py
import numpy as np

from crosscheck import spec as specs
from crosscheck.checkpoints.containers import SEPARATOR, TOP, Arrays

WEIGHTS_SUFFIX = ".weights.h5"
ARCHIVE_SUFFIX = ".keras"
ARCHIVE_CONFIG, ARCHIVE_WEIGHTS = "config.json", "model.weights.h5"
LAYERS = "layers"  # a Keras 3 weight store's group of a model's layers
# Keras 3 weight-store group names are the snake-cased layer class, numbered per class.
KIND_OF_CLASS = {"conv2d": "conv", "batch_normalization": "bn", "dense": "dense"}


def read(path: str | os.PathLike[str]) -> dict[str, Arrays]:
    """{container: {'layer/variable': array}} by name, without Keras: a legacy .h5, or a .keras archive
    (one container per nested model, e.g. 'resnet50' inside a Sequential)."""
    path = os.fspath(path)
    if path.endswith(ARCHIVE_SUFFIX):
        return _read_archive(path)
    if path.endswith(WEIGHTS_SUFFIX):
        raise ValueError(f"{path}: a .weights.h5 file is order-based; it can only be read for a known model id")
    return _read_legacy(path)


def layers(path: str | os.PathLike[str]) -> list[tuple[str, list[list[int]]]]:
    """The layers of a .weights.h5 file in model order: (kind or class name, variable shapes); a transfer-learning
    model's nested base first, then the layers around it."""
    with open_h5(path) as file:
        root = nested_base(path, file)
        found = _layer_shapes(file[f"{LAYERS}/{root}/{LAYERS}"]) if root else []
        return found + _layer_shapes(file[LAYERS])


def nested_base(path: str | os.PathLike[str], file: h5py.File) -> str:
    """The group of the one model nested in a .weights.h5 (a transfer-learning base: `functional`), '' for none;
    several nested models cannot be matched to one ResNet: refused."""
    group = file.get(LAYERS)
    if not isinstance(group, h5py.Group):
        raise ValueError(f"{path}: no 'layers' group; not a Keras 3 .weights.h5 file")
    nested = [name for name, layer in group.items() if isinstance(layer.get(LAYERS), h5py.Group)]
    if len(nested) > 1:
        raise ValueError(f"{path}: holds {len(nested)} models nested in another ({', '.join(nested)}), whose "
                         "order-based weights cannot be matched to one ResNet; save it with model.save(...) as .keras "
                         "(its config names every layer), or save the ResNet alone")
    return nested[0] if nested else ""


def around_base(path: str | os.PathLike[str]) -> tuple[str, dict[str, list[np.ndarray]]]:
    """A .weights.h5's nested base group ('' for none) and, if there is one, the variables of each layer around it
    ({group name: [arrays]}, layers without weights left out): a transfer-learning model's head."""
    with open_h5(path) as file:
        root = nested_base(path, file)
        if not root:
            return "", {}
        outside = {name: [np.asarray(layer["vars"][str(i)]) for i in range(len(layer.get("vars", {})))]
                   for name, layer in file[LAYERS].items() if name != root}
    return root, {name: arrays for name, arrays in outside.items() if arrays}


def _layer_shapes(group: h5py.Group) -> list[tuple[str, list[list[int]]]]:
    """(kind or class name, variable shapes) of a weight store's layers with variables, in model order."""
    found: dict[str, list[list[int]]] = {}
    for name, layer in group.items():
        variables = layer.get("vars", {})
        found[name] = [list(variables[str(i)].shape) for i in range(len(variables))]
    return [(KIND_OF_CLASS.get(_class_and_index(name)[0], _class_and_index(name)[0]), shapes)
            for name, shapes in sorted(found.items(), key=lambda item: _class_and_index(item[0]))
            if shapes]


def stored_dtype(path: str | os.PathLike[str]) -> str:
    """float64 if the file stores any float64 variable (its model must be built in float64 to hold them), else float32."""
    found: list[str] = []
    with open_h5(path) as file:
        file.visititems(lambda name, item: found.append(name) if isinstance(item, h5py.Dataset)
                        and item.dtype == np.float64 else None)
    return "float64" if found else "float32"


def _read_legacy(path: str) -> dict[str, Arrays]:
    """By name: the `layer_names` attribute, each layer's `weight_names`, ':0' suffixes dropped. A nested model (a
    transfer-learning base) is one layer whose weight names carry its inner layers' names: its own container."""
    found: dict[str, Arrays] = {TOP: {}}
    with open_h5(path) as file:
        root = file["model_weights"] if "model_weights" in file else file  # a full-model legacy .h5
        if "layer_names" not in root.attrs:
            raise ValueError(f"{path}: no 'layer_names' attribute; not a Keras weight file")
        for layer_name in map(_text, root.attrs["layer_names"]):
            group = root[layer_name]
            for weight_name in map(_text, group.attrs.get("weight_names", [])):
                *_, inner, param = [layer_name, *weight_name.removesuffix(":0").split("/")]
                place = TOP if inner == layer_name else layer_name
                found.setdefault(place, {})[f"{inner}/{param}"] = np.asarray(group[weight_name])
    return {place: arrays for place, arrays in found.items() if arrays}


def _read_archive(path: str) -> dict[str, Arrays]:
    """A .keras zip: config.json (plain JSON) names the layers of model.weights.h5, which stores them in order."""
    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read(ARCHIVE_CONFIG))
            weights = archive.read(ARCHIVE_WEIGHTS)
    except KeyError as error:
        raise ValueError(f"{path}: a .keras archive without {error}; not a Keras 3 model file") from error
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
        raise ValueError(f"{path}: not a readable .keras archive (truncated or corrupt: {error})") from error
    with open_h5(io.BytesIO(weights), f"{path}:{ARCHIVE_WEIGHTS}") as file:
        return _model_arrays(config, file.get("layers"), TOP)


def _model_arrays(config: Any, group: Any, path: str) -> dict[str, Arrays]:
    """{container: arrays} of one model config and its `layers` weight group, nested models as their own containers."""
    layer_configs = config.get("config", {}).get("layers", []) if isinstance(config, dict) else []
    found: dict[str, Arrays] = {path: {}}
    used: dict[str, int] = {}
    for layer in layer_configs:
        snake = _snake_case(str(layer.get("class_name", "")))
        index = used[snake] = used.get(snake, -1) + 1
        stored = group.get(snake if index == 0 else f"{snake}_{index}") if isinstance(group, h5py.Group) else None
        if not isinstance(stored, h5py.Group):
            continue
        name = str(layer.get("config", {}).get("name", snake))
        if "layers" in layer.get("config", {}):  # a nested model
            found.update(_model_arrays(layer, stored.get("layers"), f"{path}{SEPARATOR}{name}" if path else name))
            continue
        variables = stored.get("vars", {})
        params = specs.NATIVE_PARAMS["keras"].get(KIND_OF_CLASS.get(snake, ""), ())
        for i in range(len(variables)):
            found[path][f"{name}/{params[i] if i < len(params) else i}"] = np.asarray(variables[str(i)])
    return {place: arrays for place, arrays in found.items() if arrays}


def _snake_case(name: str) -> str:
    """keras.src.utils.naming.to_snake_case: how Keras 3 names a layer's group in its weight store."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def open_h5(path: str | os.PathLike[str] | io.BytesIO, name: str = "") -> h5py.File:
    """Open a Keras HDF5 file for reading, refusing one whose data would come from other files."""
    try:
        file = h5py.File(path, "r")
    except OSError as error:
        raise ValueError(f"{name or os.fspath(path)}: not a readable HDF5 file (truncated or corrupt: {error})") from error
    outside = _outside_references(file)
    if outside:
        file.close()
        raise ValueError(f"{name or os.fspath(path)}: unsafe HDF5 file, not loaded: data from other files at {', '.join(outside)}")
    return file


def _outside_references(file: h5py.File) -> list[str]:
    """Objects whose data HDF5 would read from other files: external links, external storage, virtual datasets.

    h5py follows them silently, so a stranger's weight file could pull any local file (a key, a token) into
    the converted weights.
    """
    found: list[str] = []

    def visit(name: str, link: h5py.SoftLink | h5py.ExternalLink | h5py.HardLink) -> None:
        if isinstance(link, h5py.ExternalLink):
            found.append(f"{name} (link to {link.filename})")
        elif isinstance(link, h5py.HardLink):
            dataset = file[name]
            if isinstance(dataset, h5py.Dataset) and (dataset.external or dataset.is_virtual):
                found.append(f"{name} ({'external storage' if dataset.external else 'virtual dataset'})")

    file.visititems_links(visit)
    return found


def _class_and_index(group_name: str) -> tuple[str, int]:
    """'conv2d_12' -> ('conv2d', 12); 'conv2d' -> ('conv2d', 0)."""
    match = re.fullmatch(r"(.*?)(?:_(\d+))?", group_name)
    assert match is not None
    return match.group(1), int(match.group(2) or 0)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)

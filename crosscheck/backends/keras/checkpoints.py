"""Keras checkpoint files in the keras worker: the readings and writings that need Keras (the framework-free ones
are crosscheck/checkpoints/keras_formats.py), and Keras' own loaders for convert's proof."""

from __future__ import annotations

import os
from typing import Any, Callable, Mapping

import h5py
import keras
import numpy as np
from keras.src.legacy.saving import legacy_h5_format

from crosscheck import spec as specs
from crosscheck.checkpoints.containers import Arrays
from crosscheck.checkpoints.keras_formats import ARCHIVE_SUFFIX, WEIGHTS_SUFFIX, layers, open_h5, read, stored_dtype
from crosscheck.backends.keras.shared import set_native as load_state
from crosscheck.spec import ModelSpec

__all__ = ["layers", "load_into", "load_state", "read", "read_order_based", "stored_dtype", "write"]


def read_order_based(path: str | os.PathLike[str], model: Any) -> Arrays:
    """{'layer/variable': array} of an order-based .weights.h5, loaded into `model` (in the keras worker)."""
    path = os.fspath(path)
    open_h5(path).close()  # a corrupt file gets the same clear error as a legacy one
    try:
        model.load_weights(path)
    except (ValueError, KeyError, OSError) as error:
        raise ValueError(f"{path}: does not load into {model.name}: {error}") from error
    return {f"{layer.name}/{variable.name}": keras.ops.convert_to_numpy(variable)
            for layer in model.layers for variable in layer.weights}


def write(path: str | os.PathLike[str], native: Mapping[str, np.ndarray], loaded_model: Callable[[], Any]) -> None:
    """Save the model holding `native` (Keras writes through a model: `loaded_model()`): a .keras archive, a Keras 3
    .weights.h5 (order-based), or a legacy by-name .h5 like keras.applications'."""
    path, model = os.fspath(path), loaded_model()
    if path.endswith(ARCHIVE_SUFFIX):
        model.save(path)
        return
    if path.endswith(WEIGHTS_SUFFIX):
        model.save_weights(path)
        return
    with h5py.File(path, "w") as file:
        legacy_h5_format.save_weights_to_hdf5_group(file, model)


def load_into(model: keras.Model, spec: ModelSpec, path: str | os.PathLike[str], container: str, prefix: str) -> None:
    """Keras' own loading of a weight file into `model` (in the model's dtype): `load_weights` for a Keras 3
    `.weights.h5` or `.keras` archive, Keras' by-name legacy loader for a `.h5`, whose every spec layer must be
    in the file (the by-name loader leaves an absent layer at its initial values). Keras reads the whole file: no
    container or prefix applies."""
    path = os.fspath(path)
    if path.endswith((".weights.h5", ".keras")):
        model.load_weights(path)
        return
    with h5py.File(path, "r") as file:
        root = file["model_weights"] if "layer_names" not in file.attrs and "model_weights" in file else file
        stored = {name.decode() if isinstance(name, bytes) else str(name) for name in root.attrs.get("layer_names", [])}
        absent = [layer.name for layer in spec.layers if layer.name not in stored]
        if absent:
            raise specs.WeightMismatchError(spec.model_id, f"keras file {path}", [f"no layer {name}" for name in absent])
        legacy_h5_format.load_weights_from_hdf5_group_by_name(root, model, skip_mismatch=False)

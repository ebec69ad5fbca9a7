"""keras-hub's own models read, write and run a preset directory (imported only in the keras worker).

Reading builds keras-hub's `ResNetBackbone` (and `ResNetImageClassifier`) from the checked arguments of the preset's
config (nothing of it is deserialised) and loads the weights with keras-hub's loaders, so Keras' own graph order
names every stored layer. Writing sets a keras-hub model's weights by layer name and calls its `save_to_preset`.
The proof loads a directory with keras-hub's `from_preset`, in float64.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import keras
import keras_hub
import numpy as np

from crosscheck.backends.keras.shared import _floatx as floatx
from crosscheck.checkpoints.hubs import keras_hub as layout
from crosscheck.checkpoints.keras_formats import stored_dtype
from crosscheck.spec import ModelSpec

Arrays = dict[str, np.ndarray]


class HubLoadError(ValueError):
    """keras-hub's model and the arrays to write into it do not name the same weights; the message names them."""


def read(path: Path) -> Arrays:
    """{'layer/variable': array} of a preset (`path`: its directory or its model.weights.h5), as keras-hub loads it."""
    directory = path if path.is_dir() else path.parent
    dtype = stored_dtype(directory / layout.WEIGHTS)
    with floatx(dtype):  # keras-hub's Input takes the global floatx
        backbone = keras_hub.models.ResNetBackbone(**layout.backbone_arguments(directory), dtype=dtype)
        model = _classifier(backbone, layout.head(directory))
    try:
        backbone.load_weights(str(directory / layout.WEIGHTS))
        if model is not backbone:
            model.load_task_weights(str(directory / layout.TASK_WEIGHTS))
    except (ValueError, KeyError, OSError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(f"{directory}: keras-hub's ResNetBackbone does not load it: {first}") from error
    return {f"{layer.name}/{variable.name}": keras.ops.convert_to_numpy(variable)
            for layer in _layers(model) for variable in layer.weights}


def write(directory: Path, spec: ModelSpec, arrays: Mapping[str, np.ndarray]) -> None:
    """`save_to_preset(directory)` of keras-hub's model holding `arrays` (keras-hub keys): a ResNetImageClassifier
    with logits, or the ResNetBackbone alone when `spec` is headless."""
    dtype = "float64" if any(array.dtype == np.float64 for array in arrays.values()) else "float32"
    head = None if spec.headless else {"num_classes": spec.num_classes, "pooling": "avg", "activation": None,
                                       "dropout": 0.0}
    with floatx(dtype):
        model = _classifier(keras_hub.models.ResNetBackbone(**layout.arguments(spec), dtype=dtype), head)
    variables = {f"{layer.name}/{variable.name}": variable for layer in _layers(model) for variable in layer.weights}
    problems = [f"missing {key}" for key in variables if key not in arrays] + \
               [f"unexpected {key}" for key in arrays if key not in variables]
    if problems:
        raise HubLoadError(f"keras-hub's {type(model).__name__} and the arrays differ: {'; '.join(problems[:5])}")
    for key, variable in variables.items():
        variable.assign(np.asarray(arrays[key], dtype))
    model.save_to_preset(str(directory))


def outputs(path: Path, spec: ModelSpec, container: str, prefix: str, images: np.ndarray) -> tuple[np.ndarray, str]:
    """Float64 logits (a headless model's pooled features) of the preset at `path` as keras-hub's `from_preset`
    loads it, and how; a classifier's activation is left off (crosscheck's heads give logits)."""
    directory = path if path.is_dir() else path.parent
    pixels = np.ascontiguousarray(np.transpose(images, (0, 2, 3, 1)))
    if layout.head(directory) is None:
        with floatx("float64"):
            model = keras_hub.models.Backbone.from_preset(str(directory), dtype="float64")
        features = keras.ops.convert_to_numpy(model(pixels, training=False))
        return features.mean(axis=(1, 2)), "keras-hub Backbone.from_preset of its directory + average pool"
    with floatx("float64"):
        model = keras_hub.models.ImageClassifier.from_preset(str(directory), dtype="float64")
    model.output_dense.activation = keras.activations.linear
    logits = keras.ops.convert_to_numpy(model(pixels, training=False))
    return logits, "keras-hub ImageClassifier.from_preset of its directory (logits)"


def _classifier(backbone: Any, head: Mapping[str, Any] | None) -> Any:
    """The ResNetImageClassifier around `backbone` that `head` describes (in its dtype), or the backbone alone."""
    if head is None:
        return backbone
    return keras_hub.models.ResNetImageClassifier(backbone=backbone, **head)


def _layers(model: Any) -> list[Any]:
    """The backbone's layers, then the classifier's `predictions` Dense when `model` is a classifier."""
    if isinstance(model, keras_hub.models.ResNetBackbone):
        return list(model.layers)
    return [*model.backbone.layers, model.output_dense]

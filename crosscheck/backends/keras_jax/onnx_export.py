"""ONNX export of a crosscheck Keras model on JAX: Keras' own `model.export(format="onnx")`, the same call as on
TensorFlow (crosscheck/backends/keras/onnx_export.py), which on this backend needs jax2onnx; the record says why
crosscheck's install does not hold it."""

from __future__ import annotations

import importlib.util

import keras

from crosscheck.backends.keras.onnx_export import export_onnx as keras_export_onnx
from crosscheck.backends.keras_jax import BACKEND


def export_onnx(model: keras.Model, path: str, opset: int, input_layout: str, image_size: int) -> None:
    """Keras' export when jax2onnx is importable; otherwise one error line saying why it is not installed."""
    if importlib.util.find_spec("jax2onnx") is None:
        raise RuntimeError(f"keras_jax cannot export ONNX here: {BACKEND.cannot_export}")
    keras_export_onnx(model, path, opset, input_layout, image_size)

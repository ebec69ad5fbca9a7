"""Keras side of the benchmarks: keras.applications references, device tensors and synchronised calls.

Both models are called eagerly, `model(x, training=False)`, as crosscheck's Keras adapter calls them.
"""

from __future__ import annotations

from typing import Callable

import keras
import numpy as np
import tensorflow as tf

from crosscheck.backends.keras import adapter

REFERENCES: dict[str, tuple[str, Callable[..., keras.Model]]] = {
    "resnet50_v1": ("keras.applications.ResNet50", keras.applications.ResNet50),
    "resnet50v2": ("keras.applications.ResNet50V2", keras.applications.ResNet50V2),
}


def gpu_available() -> bool:
    """Whether TensorFlow sees a GPU."""
    return bool(tf.config.list_physical_devices("GPU"))


def ours(model_id: str) -> keras.Model:
    """keras_impl's model exactly as crosscheck builds it (logits head, any input size)."""
    return adapter.build(model_id)


def reference(model_id: str, device: str) -> keras.Model:
    """The keras.applications model with the same logits head and the same (None, None, 3) input as `ours`."""
    return REFERENCES[model_id][1](weights=None, classifier_activation=None,
                                   input_tensor=keras.Input(shape=(None, None, 3)))


def to_input(images_nchw: np.ndarray, device: str) -> tf.Tensor:
    """The batch as an NHWC tensor on TensorFlow's default device, so timing excludes transpose and copy."""
    return tf.identity(np.ascontiguousarray(images_nchw.transpose(0, 2, 3, 1)))


def call(model: keras.Model, images: tf.Tensor) -> np.ndarray:
    """One eager inference call; `.numpy()` waits for the result (TensorFlow's synchronisation)."""
    return model(images, training=False).numpy()


def to_numpy(logits: np.ndarray) -> np.ndarray:
    """The forward's output, already on the host."""
    return logits


def reset_peak_device_memory() -> None:
    """Start a new peak in TensorFlow's GPU:0 allocator statistics."""
    tf.config.experimental.reset_memory_stats("GPU:0")


def device_memory_mb() -> tuple[float, float]:
    """(bytes allocated now, peak allocated since the last reset) on GPU:0 by TensorFlow's allocator, in MiB."""
    info = tf.config.experimental.get_memory_info("GPU:0")
    return info["current"] / 2**20, info["peak"] / 2**20

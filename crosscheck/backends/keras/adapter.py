"""The Adapter of Keras 3 on TensorFlow (crosscheck/backends/protocols.py) over keras_impl: TensorFlow's device and
numeric switches here, the model contract shared by every Keras backend (crosscheck/backends/keras/shared.py)."""

from __future__ import annotations

import os

import keras
import tensorflow as tf

from crosscheck.backends.keras.shared import block_outputs, build, cast, forward, get_native, preprocess, set_native

__all__ = ["block_outputs", "build", "cast", "configure", "forward", "get_native", "preprocess", "set_native"]


def configure(device: str, allow_tf32: bool) -> dict[str, str]:
    """Pick CPU or GPU ("auto" prefers a GPU), set TF32 and op determinism; return the settings in force."""
    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, got {device!r}")
    gpus = tf.config.list_physical_devices("GPU")
    if device == "cuda" and not gpus:
        raise RuntimeError("device 'cuda' requested, but TensorFlow sees no GPU")
    if device == "cpu" and gpus:
        tf.config.set_visible_devices([], "GPU")  # must run before TensorFlow initialises the GPUs
        gpus = []
    for gpu in gpus:
        tf.config.experimental.set_memory_growth(gpu, True)  # share the GPU with the other workers
    tf.config.experimental.enable_tensor_float_32_execution(allow_tf32)
    tf.config.experimental.enable_op_determinism()
    return {
        "framework": "keras",
        "keras": keras.__version__,
        "tensorflow": tf.__version__,
        "backend": keras.backend.backend(),
        "device": _device_name(gpus[0]) if gpus else "cpu",
        "tf32": str(tf.config.experimental.tensor_float_32_execution_enabled()),
        "op_determinism": str(_op_determinism_enabled()),
        "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default (on)"),
        "image_data_format": keras.backend.image_data_format(),
    }


def _op_determinism_enabled() -> bool:
    """TensorFlow's op-determinism switch as it stands (TF 2.21 exports the setter only; the reader is its own)."""
    from tensorflow.python.framework import config

    return config.is_op_determinism_enabled()


def _device_name(gpu: tf.config.PhysicalDevice) -> str:
    """'cuda:0 (NVIDIA ...)': where the model runs, with the GPU's model name when TensorFlow knows it."""
    details = tf.config.experimental.get_device_details(gpu)
    return f"cuda:0 ({details['device_name']})" if "device_name" in details else "cuda:0"

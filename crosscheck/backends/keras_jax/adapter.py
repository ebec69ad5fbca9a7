"""The Adapter of Keras 3 on JAX (crosscheck/backends/protocols.py): JAX's device and precision switches here, the
model contract shared by every Keras backend (crosscheck/backends/keras/shared.py)."""

from __future__ import annotations

import jax
import keras

from crosscheck.backends.keras import shared
from crosscheck.backends.keras.shared import block_outputs, cast, forward, get_native, preprocess, set_native

__all__ = ["block_outputs", "build", "cast", "configure", "forward", "get_native", "preprocess", "set_native"]

# with 64-bit types off JAX itself computes float64 in float32, and build refuses a float64 model
FLOAT64_IN_FORCE = shared.keep_float64() if jax.config.jax_enable_x64 else shared.FLOAT64_DEMOTED


def configure(device: str, allow_tf32: bool) -> dict[str, str]:
    """Pick CPU or GPU ("auto" prefers a GPU) and float32 matmul precision ("highest" unless TF32 is allowed);
    return the settings in force."""
    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, got {device!r}")
    gpus = [d for d in jax.devices() if d.platform == "gpu"]
    if device == "cuda" and not gpus:
        raise RuntimeError(f"device 'cuda' requested, but JAX {jax.__version__} sees no GPU")
    chosen = gpus[0] if gpus and device != "cpu" else jax.devices("cpu")[0]
    jax.config.update("jax_default_device", chosen)
    jax.config.update("jax_default_matmul_precision", "tensorfloat32" if allow_tf32 else "highest")
    return {
        "framework": "keras_jax",
        "keras": keras.__version__,
        "jax": jax.__version__,
        "backend": keras.backend.backend(),
        "device": f"{chosen.platform}:{chosen.id} ({chosen.device_kind})",
        "matmul_precision": str(jax.config.jax_default_matmul_precision),
        "x64": str(jax.config.jax_enable_x64),
        "keras_float64": FLOAT64_IN_FORCE,
        "image_data_format": keras.backend.image_data_format(),
    }


def build(model_id: str, num_classes: int | None = None, dtype: str = "float32", uninitialised: bool = False) -> keras.Model:
    """The shared Keras build, refused in float64 when JAX's 64-bit types are off (JAX would compute in float32)."""
    if dtype == "float64" and not jax.config.jax_enable_x64:
        raise RuntimeError("keras_jax: JAX_ENABLE_X64 is off, so JAX would compute this float64 model in float32; "
                           "set JAX_ENABLE_X64=1 before JAX is imported")
    return shared.build(model_id, num_classes, dtype, uninitialised)

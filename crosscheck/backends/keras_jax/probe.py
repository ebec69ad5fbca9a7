"""doctor's probe of Keras on JAX: versions, devices, 64-bit types and the default matmul precision (run by the
worker op "probe" before any `configure`, so the switches read are JAX's own defaults under the worker's
environment)."""

from __future__ import annotations

from typing import Any

import jax
import jaxlib
import keras


def probe() -> dict[str, Any]:
    """What this build can do, in the form crosscheck/framework_probe.py reads."""
    gpus = [d for d in jax.devices() if d.platform == "gpu"]
    return {
        "versions": {"keras": keras.__version__, "jax": jax.__version__, "jaxlib": jaxlib.__version__,
                     "keras_backend": keras.backend.backend()},
        "cuda": None,
        "cudnn": None,
        "devices": [d.device_kind for d in gpus],
        "tf32": {"jax_default_matmul_precision": jax.config.jax_default_matmul_precision},
        "cpu_switches": {"jax_enable_x64": jax.config.jax_enable_x64},
        "missing_switches": [],
    }

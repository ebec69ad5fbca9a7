"""doctor's probe of Keras on TensorFlow: versions, CUDA build, devices and default TF32 switches (run by the
worker op "probe" before any `configure`, so the switches read are the framework's own defaults)."""

from __future__ import annotations

import os
from typing import Any

import keras
import tensorflow as tf


def probe() -> dict[str, Any]:
    """What this build can do, in the form crosscheck/framework_probe.py reads."""
    build = tf.sysconfig.get_build_info()
    gpus = tf.config.list_physical_devices("GPU")
    return {
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__},
        "cuda": build.get("cuda_version") if build.get("is_cuda_build") else None,
        "cudnn": build.get("cudnn_version") if build.get("is_cuda_build") else None,
        "devices": [tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name) for gpu in gpus],
        "tf32": {"tensor_float_32_execution": tf.config.experimental.tensor_float_32_execution_enabled()},
        "cpu_switches": {"onednn_opts": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1") != "0"},
        "missing_switches": [],
    }

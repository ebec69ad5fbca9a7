"""doctor's probe of Keras on PyTorch: torch's own probe (versions, CUDA build, devices, TF32 switches) and the
Keras version and device (run by the worker op "probe" before any `configure`)."""

from __future__ import annotations

from typing import Any

import keras
from keras.src.backend.torch.core import get_device

from crosscheck.backends.torch import probe as torch_probe


def probe() -> dict[str, Any]:
    """What this build can do, in the form crosscheck/framework_probe.py reads."""
    found = torch_probe.probe()
    found["versions"] = {**found["versions"], "keras": keras.__version__, "keras_backend": keras.backend.backend(),
                         "keras_device": get_device()}
    return found

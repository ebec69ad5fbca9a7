"""The Adapter of Keras 3 on PyTorch (crosscheck/backends/protocols.py): torch's device and TF32 switches here, the
model contract shared by every Keras backend (crosscheck/backends/keras/shared.py)."""

from __future__ import annotations

import keras
import torch
from keras.src.backend.torch.core import get_device

from crosscheck.backends.keras.shared import (block_outputs, build, cast, forward, get_native, keep_float64,
                                              preprocess, set_native)

__all__ = ["block_outputs", "build", "cast", "configure", "forward", "get_native", "preprocess", "set_native"]

FLOAT64_IN_FORCE = keep_float64()


def configure(device: str, allow_tf32: bool) -> dict[str, str]:
    """Check the device Keras chose when it was imported (KERAS_TORCH_DEVICE picks another), set torch's TF32 and
    deterministic cuDNN switches; return the settings in force."""
    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, got {device!r}")
    chosen = get_device()
    if device != "auto" and not chosen.startswith(device):
        raise RuntimeError(f"device {device!r} requested, but Keras on torch computes on {chosen!r}; set "
                           f"KERAS_TORCH_DEVICE={device} (torch sees CUDA: {torch.cuda.is_available()})")
    torch.backends.cudnn.allow_tf32 = allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = allow_tf32
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    return {
        "framework": "keras_torch",
        "keras": keras.__version__,
        "torch": torch.__version__,
        "backend": keras.backend.backend(),
        "device": chosen,
        "cudnn_allow_tf32": str(torch.backends.cudnn.allow_tf32),
        "matmul_allow_tf32": str(torch.backends.cuda.matmul.allow_tf32),
        "threads": str(torch.get_num_threads()),
        "keras_float64": FLOAT64_IN_FORCE,
        "image_data_format": keras.backend.image_data_format(),
    }

"""PaddlePaddle side of the benchmarks: paddle.vision references, device tensors and synchronised calls."""

from __future__ import annotations

from typing import Callable

import numpy as np
import paddle
import paddle.vision.models as vision
from paddle import nn

from crosscheck.backends.paddle import adapter

REFERENCES: dict[str, tuple[str, Callable[[], nn.Layer]]] = {
    "resnet18": ("paddle.vision.models.resnet18", vision.resnet18),
    "resnet50": ("paddle.vision.models.resnet50", vision.resnet50),
    "resnext50_32x4d": ("paddle.vision.models.resnext50_32x4d", vision.resnext50_32x4d),
}


def gpu_available() -> bool:
    """Whether this paddle build is CUDA-enabled and sees a device."""
    return paddle.device.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0


def ours(model_id: str) -> nn.Layer:
    """paddle_impl's model exactly as crosscheck builds it (logits head, eval mode, configured device)."""
    return adapter.build(model_id)


def reference(model_id: str, device: str) -> nn.Layer:
    """The paddle.vision model in eval mode (paddle places it on the device `configure` selected)."""
    model = REFERENCES[model_id][1]()
    model.eval()
    return model


def to_input(images_nchw: np.ndarray, device: str) -> paddle.Tensor:
    """The batch already on the configured device, so timing excludes the host-to-device copy."""
    return paddle.to_tensor(images_nchw)


def call(model: nn.Layer, images: paddle.Tensor) -> paddle.Tensor:
    """One no-grad forward, finished (paddle.device.synchronize on GPU) before it returns."""
    with paddle.no_grad():
        logits = model(images)
    if not logits.place.is_cpu_place():
        paddle.device.synchronize()
    return logits


def to_numpy(logits: paddle.Tensor) -> np.ndarray:
    """Host copy of a forward's output."""
    return logits.numpy()


def reset_peak_device_memory() -> None:
    """Start a new peak in paddle's CUDA allocator statistics."""
    paddle.device.synchronize()
    paddle.device.cuda.reset_max_memory_allocated()


def device_memory_mb() -> tuple[float, float]:
    """(bytes allocated now, peak allocated since the last reset) on the current GPU, in MiB."""
    return paddle.device.cuda.memory_allocated() / 2**20, paddle.device.cuda.max_memory_allocated() / 2**20

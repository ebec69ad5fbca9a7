"""PyTorch side of the benchmarks: torchvision and timm references, device tensors and synchronised calls."""

from __future__ import annotations

from typing import Callable

import numpy as np
import timm
import torch
import torchvision
from torch import nn

from crosscheck.backends.torch import adapter

REFERENCES: dict[str, tuple[str, Callable[[], nn.Module]]] = {
    "resnet18": ("torchvision.models.resnet18", torchvision.models.resnet18),
    "resnet50": ("torchvision.models.resnet50", torchvision.models.resnet50),
    "resnet50d": ("timm.create_model('resnet50d')", lambda: timm.create_model("resnet50d", pretrained=False)),
}


def gpu_available() -> bool:
    """Whether torch sees a CUDA device."""
    return torch.cuda.is_available()


def ours(model_id: str) -> nn.Module:
    """pytorch_impl's model exactly as crosscheck builds it (logits head, eval mode, configured device)."""
    return adapter.build(model_id)


def reference(model_id: str, device: str) -> nn.Module:
    """The torchvision (or timm) model in eval mode on `device` ('cpu' or 'cuda')."""
    return REFERENCES[model_id][1]().eval().to(device)


def to_input(images_nchw: np.ndarray, device: str) -> torch.Tensor:
    """The batch already on the device, so timing excludes the host-to-device copy."""
    return torch.from_numpy(images_nchw).to(device)


def call(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """One inference-mode forward, finished (torch.cuda.synchronize on GPU) before it returns."""
    with torch.inference_mode():
        logits = model(images)
    if logits.is_cuda:
        torch.cuda.synchronize()
    return logits


def to_numpy(logits: torch.Tensor) -> np.ndarray:
    """Host copy of a forward's output."""
    return logits.cpu().numpy()


def reset_peak_device_memory() -> None:
    """Start a new peak in torch's CUDA caching-allocator statistics."""
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()


def device_memory_mb() -> tuple[float, float]:
    """(bytes allocated now, peak allocated since the last reset) on the current CUDA device, in MiB."""
    return torch.cuda.memory_allocated() / 2**20, torch.cuda.max_memory_allocated() / 2**20

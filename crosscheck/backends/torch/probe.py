"""doctor's probe of PyTorch: versions, CUDA build, devices and default TF32 switches (run by the
worker op "probe" before any `configure`, so the switches read are the framework's own defaults)."""

from __future__ import annotations

from typing import Any

import torch


def cudnn_version_text(number: int) -> str:
    """torch's integer cuDNN version as text: 92400 -> '9.24.0' (cuDNN 9), 8902 -> '8.9.2' (cuDNN 8)."""
    if number >= 90000:
        return f"{number // 10000}.{number // 100 % 100}.{number % 100}"
    return f"{number // 1000}.{number // 100 % 10}.{number % 100}"


def probe() -> dict[str, Any]:
    """What this build can do, in the form crosscheck/framework_probe.py reads."""
    cuda = torch.version.cuda
    cudnn = torch.backends.cudnn.version() if cuda and torch.backends.cudnn.is_available() else None
    count = torch.cuda.device_count() if cuda else 0
    return {
        "versions": {"torch": torch.__version__},
        "cuda": cuda,
        "cudnn": cudnn_version_text(cudnn) if cudnn else None,
        "devices": [torch.cuda.get_device_name(index) for index in range(count)],
        "tf32": {"cudnn.allow_tf32": torch.backends.cudnn.allow_tf32,
                 "cuda.matmul.allow_tf32": torch.backends.cuda.matmul.allow_tf32},
        "missing_switches": [],
    }

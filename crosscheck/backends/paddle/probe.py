"""doctor's probe of PaddlePaddle: versions, CUDA build, devices and default TF32 switches (run by the
worker op "probe" before any `configure`, so the switches read are the framework's own defaults)."""

from __future__ import annotations

from typing import Any

import paddle


def probe() -> dict[str, Any]:
    """What this build can do, in the form crosscheck/framework_probe.py reads."""
    core = paddle.base.core
    cuda_build = paddle.device.is_compiled_with_cuda()
    count = paddle.device.cuda.device_count() if cuda_build else 0
    # what adapter.configure switches for the GPU proof; FLAGS_cudnn_deterministic only exists in CUDA builds
    missing = [name for name in ("set_cublas_switch", "set_cudnn_switch") if not hasattr(core, name)]
    if not cuda_build:
        missing.append("FLAGS_cudnn_deterministic")
    return {
        "versions": {"paddle": paddle.__version__},
        "cuda": paddle.version.cuda() if cuda_build else None,
        "cudnn": paddle.version.cudnn() if cuda_build else None,
        "devices": [paddle.device.cuda.get_device_name(index) for index in range(count)],
        "tf32": {"cublas_switch": core.get_cublas_switch(), "cudnn_switch": core.get_cudnn_switch()},
        "missing_switches": missing,
    }

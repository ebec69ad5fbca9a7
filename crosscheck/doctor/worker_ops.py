"""Worker-side op of `crosscheck doctor`: report what this worker's framework build can do.

Runs inside a framework worker (crosscheck/worker/server.py finds its OPS) before any `configure`,
so the TF32 switches read are the framework's own defaults. The framework is imported lazily
here; the worker has already imported it through its adapter.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from crosscheck.worker.state import Worker


def cudnn_version_text(number: int) -> str:
    """torch's integer cuDNN version as text: 92400 -> '9.24.0' (cuDNN 9), 8902 -> '8.9.2' (cuDNN 8)."""
    if number >= 90000:
        return f"{number // 10000}.{number // 100 % 100}.{number % 100}"
    return f"{number // 1000}.{number // 100 % 10}.{number % 100}"


def probe_torch() -> dict[str, Any]:
    import torch

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


def probe_keras() -> dict[str, Any]:
    import keras
    import tensorflow as tf

    build = tf.sysconfig.get_build_info()
    gpus = tf.config.list_physical_devices("GPU")
    return {
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__},
        "cuda": build.get("cuda_version") if build.get("is_cuda_build") else None,
        "cudnn": build.get("cudnn_version") if build.get("is_cuda_build") else None,
        "devices": [tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name) for gpu in gpus],
        "tf32": {"tensor_float_32_execution": tf.config.experimental.tensor_float_32_execution_enabled()},
        "missing_switches": [],
    }


def probe_paddle() -> dict[str, Any]:
    import paddle

    core = paddle.base.core
    cuda_build = paddle.device.is_compiled_with_cuda()
    count = paddle.device.cuda.device_count() if cuda_build else 0
    # what paddle_impl.adapter.configure switches for the GPU proof; FLAGS_cudnn_deterministic only exists in CUDA builds
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


PROBES: dict[str, Callable[[], dict[str, Any]]] = {"torch": probe_torch, "keras": probe_keras, "paddle": probe_paddle}


def op_probe(worker: "Worker", request: dict[str, Any]) -> dict[str, Any]:
    """Versions, CUDA/cuDNN of the build, devices seen, default TF32 switches of this worker's framework."""
    return PROBES[worker.framework]()


OPS = {"probe": op_probe}

"""What this environment holds: each framework probed in its own worker, ONNX packages, onnxruntime, GPUs.

The main process imports no framework: the frameworks answer the worker op "probe"
(crosscheck/worker/ops.py), onnxruntime answers in a subprocess of its own, and packages
are read from their installed metadata.
"""

from __future__ import annotations

import importlib.metadata
import json
import shutil
import signal
import subprocess
import sys
from dataclasses import asdict, dataclass
from typing import Any, Sequence

from crosscheck import backends
from crosscheck.framework_probe import PROBE_TIMEOUT, FrameworkProbe, WorkerFactory, probe_frameworks

# Distributions whose presence (or presence together) decides a finding; see crosscheck/doctor/findings.py.
PACKAGES = ("onnx", "onnxruntime", "onnxruntime-gpu", "onnxscript", "tf2onnx", "paddle2onnx", "tensorflow",
            "paddlepaddle", "paddlepaddle-gpu", "nvidia-cudnn-cu12", "nvidia-cudnn-cu13", "nvidia-nccl-cu12",
            "nvidia-nccl-cu13")
PROVIDERS_SCRIPT = "import json, onnxruntime; print(json.dumps(onnxruntime.get_available_providers()))"
IMPORT_ORDER_SCRIPT = "import tensorflow, paddle"  # the order that segfaults inside libpaddle

@dataclass(frozen=True)
class Environment:
    frameworks: dict[str, FrameworkProbe]
    packages: dict[str, str | None]  # distribution -> installed version, None when absent
    providers: tuple[str, ...] | None  # onnxruntime's execution providers; None without onnxruntime
    machine_gpus: tuple[str, ...] = ()  # what `nvidia-smi -L` lists, whatever the frameworks see
    import_order: str | None = None  # how `import tensorflow, paddle` ended in a fresh process; None: not tried

    @property
    def gpu_present(self) -> bool:
        return bool(self.machine_gpus) or any(probe.devices for probe in self.frameworks.values())

    @property
    def cpu_proof_ready(self) -> bool:
        """`crosscheck run` on the CPU needs its default participants importable in their workers (Keras' other
        engines join a run only when named)."""
        return all(probe.status == "ok" for name, probe in self.frameworks.items() if name in backends.default_names())

    @property
    def gpu_proof_ready(self) -> bool:
        return all(not probe.gpu_proof_blocker for probe in self.frameworks.values())

    def as_dict(self) -> dict[str, Any]:
        frameworks = {name: {**asdict(probe), "gpu_proof": not probe.gpu_proof_blocker,
                             "gpu_proof_blocker": probe.gpu_proof_blocker} for name, probe in self.frameworks.items()}
        return {"frameworks": frameworks, "packages": self.packages,
                "onnxruntime_providers": list(self.providers) if self.providers is not None else None,
                "machine_gpus": list(self.machine_gpus), "import_order": self.import_order, "cpu_proof_ready": self.cpu_proof_ready,
                "gpu_proof_ready": self.gpu_proof_ready}


def installed_packages(names: Sequence[str] = PACKAGES) -> dict[str, str | None]:
    """Installed version of each distribution, from its metadata (nothing is imported)."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def onnxruntime_providers(timeout: float = PROBE_TIMEOUT) -> tuple[str, ...] | None:
    """onnxruntime's available execution providers, asked in a process of its own; None if it does not import."""
    try:
        done = subprocess.run([sys.executable, "-c", PROVIDERS_SCRIPT], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    if done.returncode != 0:
        return None
    return tuple(json.loads(done.stdout.strip().splitlines()[-1]))


def machine_gpus() -> tuple[str, ...]:
    """The NVIDIA GPUs the driver lists (`nvidia-smi -L`), empty without a driver."""
    if shutil.which("nvidia-smi") is None:
        return ()
    try:
        done = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=60)
    except (subprocess.TimeoutExpired, OSError):
        return ()
    return tuple(line.strip() for line in done.stdout.splitlines() if line.startswith("GPU")) if done.returncode == 0 else ()


def tensorflow_then_paddle(timeout: float = PROBE_TIMEOUT) -> str:
    """Import TensorFlow and then Paddle in a throw-away process: 'ok', or how it died (e.g. 'SIGSEGV')."""
    try:
        done = subprocess.run([sys.executable, "-c", IMPORT_ORDER_SCRIPT], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"hung for {timeout:.0f} s"
    if done.returncode < 0:
        return signal.Signals(-done.returncode).name
    return "ok" if done.returncode == 0 else f"exit code {done.returncode}: {done.stderr.strip().splitlines()[-1:]}"


def collect(frameworks: Sequence[str] = backends.names(), timeout: float = PROBE_TIMEOUT,
            factory: WorkerFactory | None = None, check_import_order: bool = False) -> Environment:
    probes = probe_frameworks(frameworks, timeout, factory)
    import_order = tensorflow_then_paddle(timeout) if check_import_order else None
    return Environment(probes, installed_packages(), onnxruntime_providers(timeout), machine_gpus(), import_order)

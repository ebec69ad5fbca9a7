"""Each framework probed in its own worker (the shared worker op "probe" of crosscheck/worker/ops.py): what its build
can do. `crosscheck doctor` reports it; `crosscheck run --device cuda` checks it before any work
(crosscheck/device_check.py).
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Callable, Sequence

from crosscheck import backends
from crosscheck.worker.client import FrameworkUnavailable, FrameworkWorker, WorkerError

PROBE_TIMEOUT = 300.0  # seconds to import a framework and answer the probe on a busy machine

WorkerFactory = Callable[[str], FrameworkWorker]


@dataclass(frozen=True)
class FrameworkProbe:
    """One framework's answer to the probe; `status` is ok, missing (not importable) or failed (crashed)."""

    framework: str
    status: str = "ok"
    error: str = ""
    versions: dict[str, str] = field(default_factory=dict)
    cuda: str | None = None  # the CUDA version the build targets; None for a CPU-only build
    cudnn: str | None = None
    devices: tuple[str, ...] = ()
    tf32: dict[str, bool] = field(default_factory=dict)  # the framework's default TF32 switches
    cpu_switches: dict[str, bool] = field(default_factory=dict)  # switches of its CPU numerics (TF's oneDNN kernels)
    missing_switches: tuple[str, ...] = ()  # GPU-proof switches (TF32 off, determinism) this build lacks

    @property
    def gpu_proof_blocker(self) -> str:
        """Why this framework cannot run the GPU proof here, or '' when it can."""
        if self.status != "ok":
            return "not installed" if self.status == "missing" else "probe failed"
        if self.cuda is None:
            return "CPU-only build"
        if not self.devices:
            return "sees no CUDA device"
        if self.missing_switches:
            return f"lacks {', '.join(self.missing_switches)}"
        return ""



def probe_frameworks(frameworks: Sequence[str] = backends.names(), timeout: float = PROBE_TIMEOUT,
                     factory: WorkerFactory | None = None) -> dict[str, FrameworkProbe]:
    """Probe every framework in its own worker process; all start first, so their imports overlap."""
    make = factory or (lambda framework: FrameworkWorker(framework, timeout=timeout))
    with ExitStack() as stack:
        workers = [stack.enter_context(make(framework)) for framework in frameworks]
        return {worker.framework: _probe(worker) for worker in workers}


def _probe(worker: FrameworkWorker) -> FrameworkProbe:
    try:
        result = worker.request("probe")["result"]
    except FrameworkUnavailable as error:
        return FrameworkProbe(worker.framework, "missing", str(error))
    except WorkerError as error:
        detail = error.detail.strip().splitlines()[-1] if error.detail.strip() else ""
        return FrameworkProbe(worker.framework, "failed", f"{error} {detail}".strip())
    return FrameworkProbe(worker.framework, versions=result["versions"], cuda=result["cuda"], cudnn=result["cudnn"],
                          devices=tuple(result["devices"]), tf32=result["tf32"],
                          cpu_switches=result.get("cpu_switches", {}),
                          missing_switches=tuple(result["missing_switches"]))

"""Worker-side op of `crosscheck doctor`: report what this worker's framework build can do.

Runs inside a framework worker (crosscheck/worker/server.py finds its OPS) before any `configure`; the probe itself is
the backend's `probe` module (crosscheck/backends/<name>/probe.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from crosscheck.worker.state import Worker


def op_probe(worker: Worker, request: dict[str, Any]) -> dict[str, Any]:
    """Versions, CUDA/cuDNN of the build, devices seen, default TF32 switches of this worker's framework."""
    return worker.prober.probe()


OPS = {"probe": op_probe}

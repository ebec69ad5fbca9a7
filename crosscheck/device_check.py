"""The up-front device check: `--device cuda` fails before any work when a framework sees no CUDA device."""

from __future__ import annotations

from typing import Callable, Sequence

from crosscheck.framework_probe import PROBE_TIMEOUT, FrameworkProbe, probe_frameworks

Prober = Callable[[Sequence[str], float], dict[str, FrameworkProbe]]


class DeviceUnavailable(ValueError):
    """A device was asked for that a framework cannot use: one line naming the frameworks and the way out."""


def require_device(device: str, frameworks: Sequence[str], timeout: float = PROBE_TIMEOUT,
                   probe: Prober = probe_frameworks) -> None:
    """Raise DeviceUnavailable when `device` is 'cuda' and one of `frameworks` cannot run on a CUDA device.

    Each framework is probed in its own worker, as the run itself will be ('auto' and 'cpu' need no check).
    """
    if device != "cuda":
        return
    blind = [f"{p.framework} ({_why(p)})" for p in probe(frameworks, timeout).values() if _why(p)]
    if blind:
        raise DeviceUnavailable(f"--device cuda: no CUDA device for {', '.join(blind)}; "
                                "run `crosscheck doctor` for what to install, or use --device cpu")


def _why(probe: FrameworkProbe) -> str:
    """Why `probe`'s framework cannot run on a CUDA device, or '' when it can."""
    if probe.status != "ok" or probe.cuda is None:
        return probe.gpu_proof_blocker
    return "" if probe.devices else f"CUDA {probe.cuda} build, sees no device"

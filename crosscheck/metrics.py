"""Agreement metrics between two outputs of the same function, and the two-precision gates.

Equivalence is proven in float64, where correct implementations agree to the float64 rounding floor and
every translation bug stays large; float32 is then judged by its distance from that float64 truth, with a
gate set by the most accurate float32 run of the same model, so a run with a float32 defect cannot
loosen the gate that judges it. docs/gates.md has the measurements behind each number.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterable

import numpy as np

# Float64 gate on relative L2. Correct implementations agree to the float64 rounding floor, about 2^-29 times
# the same model's float32 rounding (52- vs 23-bit mantissas), so the gate sits far above every floor and far
# below the smallest translation bug (a BN epsilon off in its fourth digit). Paddle's float32 BatchNorm
# epsilon would show above the floor; its adapter cancels it in float64 (the paddle backend's adapter, epsilon_correction).
# docs/gates.md has the measurements behind it.
FLOAT64_RTOL = 1e-9
# Float32 gate: FLOAT32_ROUNDING_FACTOR times the smallest float32-vs-float64 distance among the runs of the
# model, never tighter than FLOAT32_MIN_RTOL. Anchored on the smallest, a run with a float32 defect cannot
# loosen the gate that judges it (unless every run shares the defect). Correct runs of one model round within
# a small factor of each other, and two of them differ by at most the sum of their distances.
FLOAT32_MIN_RTOL = 1e-5
FLOAT32_ROUNDING_FACTOR = 4.0
# With TF32 convolutions (10-bit mantissa) correct networks differ far above the float32 floor; docs/gates.md.
TF32_RTOL = 5e-3


def float32_gate(distances_from_float64: Iterable[float], minimum: float = FLOAT32_MIN_RTOL) -> float | None:
    """The float32 gate of one model: FLOAT32_ROUNDING_FACTOR x the smallest rounding distance, at least `minimum`.

    None when fewer than two finite distances are given: one run has nothing to be compared with, and a gate
    derived from its own distance would pass it whatever it is."""
    finite = [d for d in distances_from_float64 if np.isfinite(d)]
    return max(minimum, FLOAT32_ROUNDING_FACTOR * min(finite)) if len(finite) >= 2 else None


@dataclass(frozen=True)
class Agreement:
    """How closely `candidate` reproduces `reference` (same shape, float)."""

    max_abs: float
    rel_l2: float
    cosine: float
    top1: float  # fraction of rows whose argmax agrees (NaN for non-2-D outputs)

    def passes(self, rtol: float) -> bool:
        return bool(np.isfinite(self.rel_l2) and self.rel_l2 <= rtol)

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def rel_l2(candidate: np.ndarray, reference: np.ndarray) -> float:
    """||candidate - reference|| / ||reference||, in float64."""
    c, r = np.asarray(candidate, np.float64), np.asarray(reference, np.float64)
    if c.shape != r.shape:
        raise ValueError(f"shape mismatch: {c.shape} vs {r.shape}")
    norm = np.linalg.norm(r)
    diff = np.linalg.norm(c - r)
    return float(diff / norm) if norm > 0 else (0.0 if diff == 0 else float("inf"))


def agreement(candidate: np.ndarray, reference: np.ndarray) -> Agreement:
    c, r = np.asarray(candidate, np.float64), np.asarray(reference, np.float64)
    if c.shape != r.shape:
        raise ValueError(f"shape mismatch: {c.shape} vs {r.shape}")
    denominator = np.linalg.norm(c) * np.linalg.norm(r)
    cosine = float(np.vdot(c, r) / denominator) if denominator > 0 else float("nan")
    top1 = float(np.mean(c.argmax(axis=1) == r.argmax(axis=1))) if c.ndim == 2 else float("nan")
    return Agreement(float(np.max(np.abs(c - r))) if c.size else 0.0, rel_l2(c, r), cosine, top1)

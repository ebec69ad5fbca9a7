"""Agreement metrics between two outputs of the same function, and the default tolerance gate."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

# Relative L2 gate for fp32 on CPU. Two independent, correct fp32 ResNet50 implementations
# (torchvision vs paddle.vision, calibrated weights) differ by ~1.2e-6 here; ResNet152 and the
# Keras ones reach a few 1e-6. 1e-5 leaves room for depth and summation order while every real
# translation bug measured in this project (wrong stride, padding, epsilon, bias) is >= 1e-4.
DEFAULT_RTOL = 1e-5
# With TF32 convolutions (10-bit mantissa) the same networks differ by ~1e-3; see README.
TF32_RTOL = 5e-3


@dataclass(frozen=True)
class Agreement:
    """How closely `candidate` reproduces `reference` (same shape, float)."""

    max_abs: float
    rel_l2: float
    cosine: float
    top1: float  # fraction of rows whose argmax agrees (NaN for non-2-D outputs)

    def passes(self, rtol: float = DEFAULT_RTOL) -> bool:
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

"""The one verification gate convert and export apply: does a converted or exported model reproduce its source?

Outputs are logits, or pooled features for a headless model. One function, so the protocol behind
every convert/export verdict changes in one place.
"""

from __future__ import annotations

import numpy as np

from crosscheck.metrics import Agreement, agreement


def verdict(candidate: np.ndarray, reference: np.ndarray, rtol: float) -> tuple[Agreement, bool]:
    """How `candidate` agrees with `reference`, and whether that passes the gate at `rtol`."""
    measured = agreement(candidate, reference)
    return measured, measured.passes(rtol)

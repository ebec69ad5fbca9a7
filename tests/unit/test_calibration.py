"""Calibrated weights are a function of their arguments alone: the processes a command or a test starts make the
same ones, whatever their BLAS thread count."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
SAVE_WEIGHTS = ("import sys, numpy as np\n"
                "from crosscheck.calibration import calibrated_weights\n"
                "np.savez(sys.argv[1], **calibrated_weights('resnet18'))")


def _weights_made_with_threads(threads: int, path: Path) -> dict[str, np.ndarray]:
    """resnet18's calibrated weights as a fresh interpreter makes them with `threads` OpenMP/BLAS threads."""
    environment = {**os.environ, "OMP_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": str(threads)}
    subprocess.run([sys.executable, "-c", SAVE_WEIGHTS, str(path)], cwd=ROOT, env=environment, check=True)
    with np.load(path) as saved:
        return dict(saved)


def test_calibrated_weights_do_not_depend_on_the_blas_thread_count(tmp_path):
    # Paddle sets OMP_NUM_THREADS=1 for every process it starts; a test's reference process then made other weights
    one_thread = _weights_made_with_threads(1, tmp_path / "one.npz")
    two_threads = _weights_made_with_threads(2, tmp_path / "two.npz")
    assert one_thread.keys() == two_threads.keys()
    for key in one_thread:
        np.testing.assert_array_equal(one_thread[key], two_threads[key], err_msg=key)

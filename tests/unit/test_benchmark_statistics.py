"""The benchmark's verdicts rest on a confidence interval of the median ratio: check it from first principles."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest


def _benchmark_script():
    """benchmarks/run.py, loaded by path: benchmarks/ is a folder of scripts, not a package."""
    spec = importlib.util.spec_from_file_location("benchmarks_run", Path(__file__).parents[2] / "benchmarks" / "run.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while being created
    spec.loader.exec_module(module)
    return module


BENCHMARK = _benchmark_script()
median_interval, latency_verdict = BENCHMARK.median_interval, BENCHMARK.latency_verdict


def coverage(n: int, j: int) -> float:
    """P(x_(j) <= median <= x_(n-j+1)) for n samples of any continuous distribution (1-based j)."""
    return 1 - 2 * sum(math.comb(n, k) for k in range(j)) / 2**n


@pytest.mark.parametrize("n", [6, 7, 10, 20, 33, 40])
def test_interval_is_the_tightest_with_95_percent_coverage(n):
    low, high = median_interval(n)
    assert high == n - 1 - low  # symmetric order statistics
    assert coverage(n, low + 1) >= 0.95
    assert coverage(n, low + 2) < 0.95  # one rank tighter would fall below 95%


def test_interval_covers_the_median_of_a_skewed_distribution_95_percent_of_the_time():
    """Lognormal ratios (median exactly 1): the interval misses it in at most ~5% of 4000 trials."""
    rng = np.random.default_rng(0)
    low, high = median_interval(20)
    samples = np.sort(rng.lognormal(mean=0.0, sigma=0.08, size=(4000, 20)), axis=1)
    covered = (samples[:, low] <= 1.0) & (samples[:, high] >= 1.0)
    assert covered.mean() >= 0.94  # exact coverage 0.9586; 4000 trials have a standard error of 0.003


def test_verdict_calls_slower_only_when_the_whole_interval_is_above_the_goal():
    reference = [1.0] * 20
    assert latency_verdict([1.02] * 20, reference) == "ok"
    assert latency_verdict([1.10] * 20, reference) == "slower"
    noisy = [0.95, 1.00, 1.02, 1.04, 1.045, 1.05] + [1.06] * 8 + [1.10] * 6  # median 1.06, 6th value 1.045
    assert latency_verdict(noisy, reference).startswith("inconclusive")

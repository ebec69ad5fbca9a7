"""Shared test setup: the test tiers, at most one framework per pytest process, and the worker pool fixture.

The tiers are the folders under tests/: `unit` and `commands` import no framework in the pytest process
(framework code runs in worker processes there, as in the CLI); `torch`, `keras` and `paddle` each import
their own framework only. Two frameworks never share a process, as the tool itself guarantees with its
workers (`import tensorflow` then `import paddle` segfaults), so a session may name at most one framework
folder; `python tests/tiers.py` runs every tier, each in its own process. Both rules are enforced here.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
RUNNER = "python tests/tiers.py"
FRAMEWORK_MODULES = ("torch", "tensorflow", "keras", "paddle", "jax")
TIER_FRAMEWORKS: dict[str, frozenset[str]] = {
    "unit": frozenset(),
    "commands": frozenset(),
    "torch": frozenset({"torch"}),
    # `import keras` imports jax itself whenever jax is installed (its orbax checkpoint callback), on every engine
    "keras": frozenset({"keras", "tensorflow", "jax"}),
    "keras_jax": frozenset({"keras", "jax"}),  # Keras on JAX and on torch: the environment set by the tier's conftest
    "keras_torch": frozenset({"keras", "torch", "jax"}),
    "paddle": frozenset({"paddle"}),
}
FRAMEWORK_TIERS = tuple(tier for tier, frameworks in TIER_FRAMEWORKS.items() if frameworks)

_allowed_key = pytest.StashKey[frozenset]()
_reported_key = pytest.StashKey[set]()


def tiers_under(path: Path) -> set[str]:
    """The tier folders a command-line path selects: its own tier, or every tier when it contains tests/."""
    path = path.resolve()
    if path == TESTS or TESTS.is_relative_to(path):
        return set(TIER_FRAMEWORKS)
    if path.is_relative_to(TESTS):
        first = path.relative_to(TESTS).parts[0]
        return {first} if first in TIER_FRAMEWORKS else set()
    return set()


def loaded_frameworks() -> set[str]:
    """The framework modules imported in this process so far."""
    return {name for name in FRAMEWORK_MODULES if name in sys.modules}


def pytest_configure(config: pytest.Config) -> None:
    """Refuse a session that spans two framework folders, before collection imports either framework."""
    tiers: set[str] = set()
    for arg in config.args:
        path = Path(config.invocation_params.dir, arg.split("::")[0])
        tiers |= tiers_under(path)
    frameworks = sorted(tiers & set(FRAMEWORK_TIERS))
    if len(frameworks) > 1:
        folders = ", ".join(f"tests/{tier}" for tier in frameworks)
        raise pytest.UsageError(f"{folders} import different frameworks and cannot share one pytest process: run "
                                f"`{RUNNER}` (every tier, each in its own process) or one folder, e.g. "
                                f"`pytest tests/{frameworks[0]}`")
    config.stash[_allowed_key] = frozenset().union(*(TIER_FRAMEWORKS[tier] for tier in tiers))
    config.stash[_reported_key] = set()


def _stray_frameworks(config: pytest.Config) -> list[str]:
    """Frameworks loaded that the session's tiers do not allow and that no earlier report has named."""
    stray = sorted(loaded_frameworks() - config.stash[_allowed_key] - config.stash[_reported_key])
    config.stash[_reported_key].update(stray)
    return stray


def _stray_message(where: str, stray: list[str]) -> str:
    return (f"{where} imported {', '.join(stray)} into the pytest process, which its tier does not allow "
            f"(tests/unit and tests/commands import no framework; tests/<framework> only its own)")


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector):
    """A test module that imports a framework its tier does not allow is a collection error naming it."""
    report = yield
    if isinstance(collector, pytest.Module) and (stray := _stray_frameworks(collector.config)):
        report.outcome = "failed"
        report.longrepr = _stray_message(collector.nodeid, stray)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """A test that imports a framework its tier does not allow errors at teardown, naming the test."""
    report = yield
    if call.when == "teardown" and (stray := _stray_frameworks(item.config)):
        report.outcome = "failed"
        report.longrepr = _stray_message(item.nodeid, stray)
    return report


@pytest.fixture(scope="module")
def pool():
    """Framework workers shared by one test module's conversions (started on first use, closed at its end)."""
    from crosscheck.worker.client import WorkerPool

    workers = WorkerPool()
    yield workers
    workers.close()


@pytest.fixture
def wide_console(monkeypatch):
    """Rich wraps at the terminal width: a console 1000 columns wide keeps every message on one line for a test to read."""
    monkeypatch.setenv("COLUMNS", "1000")


@pytest.fixture
def paddle_tf32_switches():
    """Paddle's process-wide cuBLAS/cuDNN TF32 switches, restored after the test (list it before monkeypatch, so
    that it restores after monkeypatch has put the real setters back)."""
    paddle = pytest.importorskip("paddle")
    core = paddle.base.core
    saved = core.get_cublas_switch(), core.get_cudnn_switch()
    yield core
    core.set_cublas_switch(saved[0])
    core.set_cudnn_switch(saved[1])

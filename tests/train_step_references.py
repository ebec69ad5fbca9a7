"""What the train-step tests of every framework tier share: tiny BN and SGD problems solved in numpy (the expected
values), the checks run against each framework's own BN layer, and a train-step whose one framework answers in
this process so that a test can plant a slip in it with monkeypatch."""

from __future__ import annotations

import threading
from typing import Callable

import numpy as np
import pytest

from crosscheck.train_step import session
from crosscheck.training_conventions import CONVENTIONS, Hyperparameters, native_bn_momentum, unbiased_running_var
from crosscheck.worker.server import OPS
from crosscheck.worker.state import Worker
from crosscheck.worker.client import FrameworkWorker, _jsonable

BnStep = Callable[[float], tuple[np.ndarray, np.ndarray, np.ndarray]]  # momentum -> output, running mean, var

M = 0.1  # torch-convention BN momentum, as a user gives it
EPS = 1e-5
X = np.random.default_rng(0).standard_normal((4, 3, 5, 5)) * 2 + 1  # NCHW, 100 values per channel
START_MEAN, START_VAR = np.array([0.5, -1.0, 2.0]), np.array([1.5, 0.25, 4.0])
P0, G1, G2 = np.array([1.0, -2.0, 0.5]), np.array([0.3, -0.5, 0.1]), np.array([-0.2, 0.4, 0.7])
LR, MU, WD = 0.1, 0.9, 0.01


def f32(value: float) -> float:
    """`value` rounded to float32, as a Python float."""
    return float(np.float32(value))


def numpy_bn(momentum: float, variance: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One training-mode BN step in numpy: the output and the running statistics, torch-convention momentum."""
    mean, biased = X.mean(axis=(0, 2, 3)), X.var(axis=(0, 2, 3))
    batch_var = biased * X[:, 0].size / (X[:, 0].size - 1) if variance == "unbiased" else biased
    y = (X - mean[None, :, None, None]) / np.sqrt(biased + EPS)[None, :, None, None]
    return y, (1 - momentum) * START_MEAN + momentum * mean, (1 - momentum) * START_VAR + momentum * batch_var


def numpy_sgd(lr: float, mu: float, wd: float, coupled: bool) -> np.ndarray:
    """Two SGD steps in numpy, torch's velocity form; weight decay coupled (into the gradient) or decoupled."""
    p, v = P0.copy(), np.zeros(3)
    for g in (G1, G2):
        if not coupled:
            p = p - lr * wd * p
        v = mu * v + (g + wd * p if coupled else g)
        p = p - lr * v
    return p



def check_bn_running_update(framework: str, bn: BnStep) -> None:
    """The convention table's row for `framework`, from its BN layer `bn`: torch's momentum weighs the new batch,
    Keras' and Paddle's the old statistics; torch updates the running variance from the unbiased batch variance,
    Keras and Paddle from the biased one."""
    expected_meaning = {"torch": "new batch", "keras": "old", "paddle": "old"}[framework]
    native = M if expected_meaning == "new batch" else 1 - M  # written out here, not taken from conventions
    if framework == "paddle":
        native = f32(native)  # Paddle's kernel takes momentum as float32 (pinned in tests/paddle)
    y, mean, var = bn(native)
    expected_variance = {"torch": "unbiased", "keras": "biased", "paddle": "biased"}[framework]
    taken = 1 - native if expected_meaning == "old" else native
    want_y, want_mean, want_var = numpy_bn(taken, expected_variance)
    np.testing.assert_allclose(mean, want_mean, rtol=1e-14)
    np.testing.assert_allclose(var, want_var, rtol=1e-14)
    np.testing.assert_allclose(y, want_y, rtol=0, atol=1e-12 if framework == "paddle" else 1e-14)
    _, _, other = numpy_bn(taken, "biased" if expected_variance == "unbiased" else "unbiased")
    assert np.abs(var - other).max() > 1e-4  # the estimators are told apart
    assert CONVENTIONS[framework].variance == expected_variance
    assert native_bn_momentum(framework, M) == pytest.approx(M if framework == "torch" else 0.9, abs=1e-15)


def check_unbiased_rewrite(framework: str, bn: BnStep) -> None:
    """unbiased_running_var turns the biased running variance of `framework`'s BN layer `bn` into torch's (numpy)."""
    hyper = Hyperparameters(bn_momentum=M).snap()
    _, _, raw = bn(hyper.native(framework, EPS)["bn_momentum"])
    _, _, want = numpy_bn(hyper.bn_momentum, "unbiased")
    np.testing.assert_allclose(unbiased_running_var(raw, START_VAR, hyper.bn_momentum, 1, X[:, 0].size), want, rtol=1e-14)


class InProcessWorker:
    """crosscheck.worker's own ops answered in this process (which imports that one framework), so a test can plant
    a slip in the framework's train module with monkeypatch. Requests run one at a time (Keras' floatx and the
    frameworks' thread pools are process-wide); `configure` is a no-op: the CPU defaults stay as pytest has them."""

    lock = threading.Lock()

    def __init__(self, framework: str) -> None:
        self.worker = Worker(framework)

    def request(self, op: str, **arguments) -> dict:
        if op == "configure":
            return {"ok": True, "result": {}}
        with self.lock:
            return {"ok": True, "result": OPS[op](self.worker, _jsonable(arguments))}

    def end_input(self) -> None:
        pass

    def close(self) -> None:
        pass


def train_with_slip(frameworks: list[str], in_process: str | None = None) -> dict:
    """One 2-step resnet18_cifar train-step (16x16: a 2x2 final map, batch 2) in `frameworks`, `in_process` answering
    in this process and the others in their worker processes; the JSON report's only pair."""
    config = session.TrainConfig("resnet18_cifar", frameworks, image_size=16)

    def worker(framework: str) -> InProcessWorker | FrameworkWorker:
        return InProcessWorker(framework) if framework == in_process else FrameworkWorker(framework, timeout=config.timeout)

    report = session.train_step(config, worker_factory=worker)
    assert not report.errors, report.errors
    [pair] = report.as_dict()["pairs"]
    return pair

"""Paddle's training conventions, each against numpy: the BN momentum's meaning and variance estimator, its
float32 hyperparameters, SGD's weight decay, the global pool's backward; and a train-step whose Paddle worker
has a slip planted (tests/torch/test_train_step.py has the command and the torch side)."""

from __future__ import annotations

import numpy as np
import paddle

from crosscheck import spec as specs
from crosscheck.train_step import session
from crosscheck.training_conventions import CONVENTIONS
from crosscheck.backends.paddle import train as paddle_train
from train_step_references import (EPS, G1, G2, LR, MU, P0, START_MEAN, START_VAR, WD, X,  # tests/ helpers
                                   check_bn_running_update, check_unbiased_rewrite, f32, numpy_bn, numpy_sgd,
                                   train_with_slip)


def paddle_bn(momentum: float, eps: float = EPS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    bn = paddle.nn.BatchNorm2D(3)
    bn.to(dtype="float64")
    paddle_train.set_bn(bn, momentum, eps)
    bn._mean.set_value(paddle.to_tensor(START_MEAN))
    bn._variance.set_value(paddle.to_tensor(START_VAR))
    bn.train()
    y = bn(paddle.to_tensor(X))
    return y.numpy(), bn._mean.numpy(), bn._variance.numpy()


def test_paddle_bn_takes_momentum_and_epsilon_as_float32():
    """Paddle rounds BN momentum 0.9 to float32 (so train-step snaps it) and normalises in training mode with
    float32(eps), which no running-variance correction can reach."""
    y, mean, _ = paddle_bn(0.9)
    _, exact, _ = numpy_bn(1 - 0.9, "biased")
    _, rounded, _ = numpy_bn(1 - f32(0.9), "biased")
    np.testing.assert_allclose(mean, rounded, rtol=1e-15)
    assert np.abs(mean - exact).max() > 1e-9
    mean_x, var_x = X.mean(axis=(0, 2, 3))[None, :, None, None], X.var(axis=(0, 2, 3))[None, :, None, None]
    np.testing.assert_allclose(y, (X - mean_x) / np.sqrt(var_x + f32(EPS)), rtol=0, atol=1e-15)
    assert np.abs(y - (X - mean_x) / np.sqrt(var_x + EPS)).max() > 3e-14  # measured 9.2e-14: 90x the fit above


def paddle_sgd(lr: float, mu: float, wd: float) -> np.ndarray:
    p = paddle.create_parameter([3], "float64", default_initializer=paddle.nn.initializer.Assign(P0.copy()))
    sgd = paddle_train.optimizer([p], {"lr": lr, "momentum": mu, "weight_decay": wd})
    for g in (G1, G2):
        (p * paddle.to_tensor(g)).sum().backward()
        sgd.step()
        sgd.clear_grad()
    return p.numpy()


def test_paddle_momentum_weight_decay_is_coupled_l2_with_float32_momentum_and_coefficient():
    np.testing.assert_allclose(paddle_sgd(LR, MU, WD), numpy_sgd(LR, f32(MU), f32(WD), coupled=True), rtol=1e-15)
    assert np.abs(paddle_sgd(LR, MU, WD) - numpy_sgd(LR, MU, WD, coupled=True)).max() > 1e-9


def test_paddle_global_pool_backward_scales_by_a_float32_reciprocal_in_float64():
    """Why train-step trains the ImageNet ids at 256 (8x8 final map), not 224 (7x7): Paddle's AdaptiveAvgPool2D
    backward multiplies by float32(1/area) in float64 (exact for a power-of-two area); the forward pass is exact."""
    for side, exact in ((7, False), (8, True)):
        x = paddle.to_tensor(np.random.default_rng(3).standard_normal((1, 2, side, side)), stop_gradient=False)
        paddle.nn.AdaptiveAvgPool2D(1)(x).sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), np.full(x.shape, np.float32(1 / side**2), np.float64))
        assert (float(np.float32(1 / side**2)) == 1 / side**2) == exact
    assert session.default_image_size(specs.get("resnet50v2")) == 256
    assert session.default_image_size(specs.get("resnet18_cifar")) == 32


def test_a_paddle_worker_with_torchs_bn_momentum_fails_naming_the_momentum(monkeypatch):
    """Paddle given m instead of 1 - m: training-mode BN never reads its running statistics, so loss, gradients and
    parameters agree and only the statistics can fail the verdict."""
    def slipped(model, momentum, epsilon):
        original(model, 1.0 - momentum, epsilon)

    original = paddle_train.set_bn
    monkeypatch.setattr(paddle_train, "set_bn", slipped)
    pair = train_with_slip(["torch", "paddle"], in_process="paddle")
    assert pair["passed"] is False
    assert all(pair[q]["passed"] for q in ("loss", "gradients", "parameters")), pair
    assert pair["running_mean"]["first_key"] == "conv1_bn.running_mean"
    assert "BN momentum convention: paddle ran with momentum 0.9" in pair["cause"], pair["cause"]


def test_bn_running_update_is_the_documented_convention():
    check_bn_running_update("paddle", paddle_bn)


def test_biased_running_variance_is_rewritten_in_torchs_convention():
    check_unbiased_rewrite("paddle", paddle_bn)


def test_the_reference_resnets_build_their_bn_with_the_documented_momentum():
    """The table's 'its ResNets' BN momentum' column for Paddle, read from paddle.vision."""
    paddle_values = {layer._momentum for layer in paddle.vision.models.resnet18().sublayers()
                     if isinstance(layer, paddle.nn.BatchNorm2D)}
    assert paddle_values == {0.9} and CONVENTIONS["paddle"].bn_default == 0.9

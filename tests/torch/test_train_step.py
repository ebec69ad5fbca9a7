"""crosscheck train-step: every training convention in the table of docs/train-step.md, one step against numpy, and the
three frameworks training the same in float64 (frameworks in-process for the conventions, workers end to end)."""

from __future__ import annotations

import dataclasses
import json
import threading

import numpy as np
import paddle
import pytest
import torch

import keras  # noqa: I001  (after paddle: tests/conftest.py explains the order)
import tensorflow as tf

from crosscheck import backends
from crosscheck import calibration
from crosscheck import spec as specs
from crosscheck.cli import main
from crosscheck import training_conventions as conventions
from crosscheck.train_step import session
from crosscheck.training_conventions import CONVENTIONS, Hyperparameters, bn_momentum_note, unbiased_running_var
from crosscheck.worker.server import OPS
from crosscheck.worker.state import Worker
from crosscheck.worker.client import _jsonable
from crosscheck.backends.keras import train as keras_train
from crosscheck.backends.paddle import train as paddle_train
from crosscheck.backends.torch import train as torch_train

M = 0.1  # torch-convention BN momentum, as a user gives it
EPS = 1e-5
X = np.random.default_rng(0).standard_normal((4, 3, 5, 5)) * 2 + 1  # NCHW, 100 values per channel
START_MEAN, START_VAR = np.array([0.5, -1.0, 2.0]), np.array([1.5, 0.25, 4.0])
P0, G1, G2 = np.array([1.0, -2.0, 0.5]), np.array([0.3, -0.5, 0.1]), np.array([-0.2, 0.4, 0.7])


def f32(value: float) -> float:
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


def torch_bn(momentum: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    bn = torch.nn.BatchNorm2d(3).double().train()
    torch_train.set_bn(bn, momentum, EPS)
    with torch.no_grad():
        bn.running_mean.copy_(torch.from_numpy(START_MEAN))
        bn.running_var.copy_(torch.from_numpy(START_VAR))
        y = bn(torch.from_numpy(X))
    return y.numpy(), bn.running_mean.numpy(), bn.running_var.numpy()


def keras_bn(momentum: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    bn = keras.layers.BatchNormalization(dtype="float64", moving_mean_initializer=keras.initializers.Constant(START_MEAN),
                                         moving_variance_initializer=keras.initializers.Constant(START_VAR))
    model = keras.Sequential([keras.Input((5, 5, 3), dtype="float64"), bn])
    keras_train.set_bn(model, momentum, EPS)
    y = np.asarray(model(X.transpose(0, 2, 3, 1), training=True)).transpose(0, 3, 1, 2)
    return y, bn.moving_mean.numpy(), bn.moving_variance.numpy()


def paddle_bn(momentum: float, eps: float = EPS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    bn = paddle.nn.BatchNorm2D(3)
    bn.to(dtype="float64")
    paddle_train.set_bn(bn, momentum, eps)
    bn._mean.set_value(paddle.to_tensor(START_MEAN))
    bn._variance.set_value(paddle.to_tensor(START_VAR))
    bn.train()
    y = bn(paddle.to_tensor(X))
    return y.numpy(), bn._mean.numpy(), bn._variance.numpy()


BN = {"torch": torch_bn, "keras": keras_bn, "paddle": paddle_bn}


# --- BatchNorm: momentum meaning and variance estimator, each framework against numpy -------------------------

@pytest.mark.parametrize("framework", ["torch", "keras", "paddle"])
def test_bn_running_update_is_the_documented_convention(framework):
    """The table's row: torch's momentum weighs the new batch, Keras' and Paddle's the old statistics; torch
    updates the running variance from the unbiased batch variance, Keras and Paddle from the biased one."""
    expected_meaning = {"torch": "new batch", "keras": "old", "paddle": "old"}[framework]
    native = M if expected_meaning == "new batch" else 1 - M  # written out here, not taken from conventions
    if framework == "paddle":
        native = f32(native)  # Paddle's kernel takes momentum as float32 (pinned below)
    y, mean, var = BN[framework](native)
    expected_variance = {"torch": "unbiased", "keras": "biased", "paddle": "biased"}[framework]
    taken = 1 - native if expected_meaning == "old" else native
    want_y, want_mean, want_var = numpy_bn(taken, expected_variance)
    np.testing.assert_allclose(mean, want_mean, rtol=1e-14)
    np.testing.assert_allclose(var, want_var, rtol=1e-14)
    np.testing.assert_allclose(y, want_y, rtol=0, atol=1e-12 if framework == "paddle" else 1e-14)
    _, _, other = numpy_bn(taken, "biased" if expected_variance == "unbiased" else "unbiased")
    assert np.abs(var - other).max() > 1e-4  # the estimators are told apart
    assert CONVENTIONS[framework].variance == expected_variance
    assert conventions.native_bn_momentum(framework, M) == pytest.approx(M if framework == "torch" else 0.9, abs=1e-15)


def test_the_reference_resnets_build_their_bn_with_the_documented_momentum():
    """The table's 'its ResNets' BN momentum' column, read from torchvision, keras.applications and paddle.vision."""
    import torchvision

    torch_values = {m.momentum for m in torchvision.models.resnet18().modules() if isinstance(m, torch.nn.BatchNorm2d)}
    keras_model = keras.applications.ResNet50V2(weights=None, include_top=False, input_shape=(32, 32, 3))
    keras_values = {layer.momentum for layer in keras_model.layers if isinstance(layer, keras.layers.BatchNormalization)}
    paddle_values = {layer._momentum for layer in paddle.vision.models.resnet18().sublayers()
                     if isinstance(layer, paddle.nn.BatchNorm2D)}
    assert (torch_values, keras_values, paddle_values) == ({0.1}, {0.99}, {0.9})
    assert [CONVENTIONS[fw].bn_default for fw in ("torch", "keras", "paddle")] == [0.1, 0.99, 0.9]


@pytest.mark.parametrize("framework", ["keras", "paddle"])
def test_biased_running_variance_is_rewritten_in_torchs_convention(framework):
    """unbiased_running_var turns a biased framework's running variance into torch's (numpy, unbiased)."""
    hyper = Hyperparameters(bn_momentum=M).snap()
    _, _, raw = BN[framework](hyper.native(framework, EPS)["bn_momentum"])
    _, _, want = numpy_bn(hyper.bn_momentum, "unbiased")
    np.testing.assert_allclose(unbiased_running_var(raw, START_VAR, hyper.bn_momentum, 1, X[:, 0].size), want, rtol=1e-14)


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


# --- optimizers: weight decay semantics, velocity form, float32 hyperparameters -------------------------------

LR, MU, WD = 0.1, 0.9, 0.01


def torch_sgd(lr: float, mu: float, wd: float) -> np.ndarray:
    p = torch.nn.Parameter(torch.from_numpy(P0.copy()))
    sgd = torch_train.optimizer([p], {"lr": lr, "momentum": mu, "weight_decay": wd})
    for g in (G1, G2):
        p.grad = torch.from_numpy(g.copy())
        sgd.step()
    return p.detach().numpy()


def keras_sgd(lr: float, mu: float, wd: float, native_weight_decay: bool = False) -> np.ndarray:
    """Two steps of keras.optimizers.SGD: Keras' own weight_decay, or train-step's coupled L2."""
    p = keras.Variable(P0.copy(), dtype="float64")
    if native_weight_decay:
        with keras_train._floatx("float64"):
            sgd = keras.optimizers.SGD(learning_rate=lr, momentum=mu, weight_decay=wd)
    else:
        sgd = keras_train.optimizer("float64", {"lr": lr, "momentum": mu})
    for g in (G1, G2):
        gradient = tf.constant(g)
        if not native_weight_decay:
            gradient = keras_train.coupled_l2([gradient], [p], wd)[0]
        sgd.apply_gradients([(gradient, p)])
    return p.numpy()


def paddle_sgd(lr: float, mu: float, wd: float) -> np.ndarray:
    p = paddle.create_parameter([3], "float64", default_initializer=paddle.nn.initializer.Assign(P0.copy()))
    sgd = paddle_train.optimizer([p], {"lr": lr, "momentum": mu, "weight_decay": wd})
    for g in (G1, G2):
        (p * paddle.to_tensor(g)).sum().backward()
        sgd.step()
        sgd.clear_grad()
    return p.numpy()


def test_torch_sgd_weight_decay_is_coupled_l2_and_exact_in_float64():
    np.testing.assert_allclose(torch_sgd(LR, MU, WD), numpy_sgd(LR, MU, WD, coupled=True), rtol=1e-15)


def test_keras_sgd_weight_decay_is_decoupled_and_momentum_goes_through_float32():
    """Keras' own SGD(weight_decay=) is decoupled, its momentum and weight decay cast through float32; train-step's L2
    (added to the gradient) gives torch's update with the snapped momentum."""
    np.testing.assert_allclose(keras_sgd(LR, MU, WD, native_weight_decay=True),
                               numpy_sgd(LR, f32(MU), f32(WD), coupled=False), rtol=1e-15)
    assert np.abs(keras_sgd(LR, MU, WD, native_weight_decay=True) - numpy_sgd(LR, f32(MU), WD, coupled=True)).max() > 1e-5
    assert np.abs(keras_sgd(LR, MU, 0.0) - numpy_sgd(LR, MU, 0.0, coupled=True)).max() > 1e-9  # float32 momentum
    np.testing.assert_allclose(keras_sgd(LR, f32(MU), WD), numpy_sgd(LR, f32(MU), WD, coupled=True), rtol=1e-15)


def test_paddle_momentum_weight_decay_is_coupled_l2_with_float32_momentum_and_coefficient():
    np.testing.assert_allclose(paddle_sgd(LR, MU, WD), numpy_sgd(LR, f32(MU), f32(WD), coupled=True), rtol=1e-15)
    assert np.abs(paddle_sgd(LR, MU, WD) - numpy_sgd(LR, MU, WD, coupled=True)).max() > 1e-9


def test_snapped_hyperparameters_are_exact_in_every_framework():
    """After snap, Paddle's float32 attributes (momentum, L2, 1 - BN momentum) lose nothing; the lr stays as given."""
    hyper = Hyperparameters(lr=0.1, momentum=0.9, weight_decay=1e-4, bn_momentum=0.1).snap()
    assert hyper.lr == 0.1
    for value in (hyper.momentum, hyper.weight_decay, 1 - hyper.bn_momentum):
        assert f32(value) == value
    assert abs(hyper.momentum - 0.9) < 3e-8 and abs(hyper.bn_momentum - 0.1) < 3e-8
    assert Hyperparameters(momentum=0.875, bn_momentum=0.125).snap() == Hyperparameters(momentum=0.875, bn_momentum=0.125,
                                                                                        weight_decay=f32(1e-4))
    native = {fw: hyper.native(fw, 1.001e-5) for fw in backends.names()}
    assert native["torch"]["bn_momentum"] == hyper.bn_momentum
    assert native["keras"]["bn_momentum"] == native["paddle"]["bn_momentum"] == f32(0.9)
    assert {n["bn_epsilon"] for n in native.values()} == {f32(1.001e-5)}


def test_unbiased_rewrite_holds_over_several_steps():
    """Running statistics are a pure accumulator in training mode, so the rewrite is exact for any step count."""
    rng = np.random.default_rng(1)
    start, batches, n, m = rng.uniform(0.5, 2, 8), rng.uniform(0.5, 2, (3, 8)), 18, 0.25
    biased, unbiased = start.copy(), start.copy()
    for batch in batches:
        biased = (1 - m) * biased + m * batch
        unbiased = (1 - m) * unbiased + m * batch * n / (n - 1)
    np.testing.assert_allclose(unbiased_running_var(biased, start, m, 3, n), unbiased, rtol=1e-14)


def test_bn_counts_are_batch_times_the_layers_positions():
    counts = conventions.bn_counts(specs.get("resnet18"), batch=2, image_size=64)
    assert counts["conv1_bn"] == 2 * 32 * 32 and counts["conv2_block1_1_bn"] == 2 * 16 * 16
    assert counts["conv5_block2_2_bn"] == 2 * 2 * 2 and len(counts) == 20


# --- the tool's diagnosis, from numpy-made results --------------------------------------------------------------

def results(mean: np.ndarray, var: np.ndarray) -> session.Results:
    same = {"loss": {"loss": np.array([1.0, 0.5])}, "gradients": {"g": np.ones(3)}, "parameters": {"p": np.ones(3)}}
    statistics = {"running_mean": {"conv1_bn.running_mean": mean}, "running_var": {"conv1_bn.running_var": var}}
    return {**same, **statistics, **{f"first_{name}": arrays for name, arrays in statistics.items()}}  # one step


@pytest.mark.parametrize("slip", ["momentum", "variance"])
def test_a_bn_convention_slip_is_named(slip):
    config = session.TrainConfig("resnet18", steps=1, image_size=64, batch=2)
    hyper = config.hyper.snap()
    m, n = hyper.bn_momentum, conventions.bn_counts(config.spec, 2, 64)["conv1_bn"]
    rng = np.random.default_rng(2)
    start_mean, start_var, mean, var = (rng.uniform(0.5, 2, 64) for _ in range(4))
    initial = {"conv1_bn.running_mean": start_mean, "conv1_bn.running_var": start_var}
    good = results((1 - m) * start_mean + m * mean, (1 - m) * start_var + m * var * n / (n - 1))
    if slip == "momentum":
        bad = results(m * start_mean + (1 - m) * mean, m * start_var + (1 - m) * var * n / (n - 1))
    else:
        bad = results(good["running_mean"]["conv1_bn.running_mean"], (1 - m) * start_var + m * var)
    comparisons = [session.Comparison(q, session.rel_l2(session._flat(bad[q]), session._flat(good[q])), 0.0,
                                      session.rel_l2(session._flat(bad[q]), session._flat(good[q])) <= 1e-9)
                   for q in session.QUANTITIES]
    pair = session.PairResult("torch", "keras", comparisons, 0.0)
    cause = session.diagnose(pair, good, bad, initial, config, hyper)
    assert ("BN momentum convention" in cause) == (slip == "momentum"), cause
    assert ("BN variance estimator" in cause) == (slip == "variance"), cause


def test_convert_notes_the_bn_momentum_that_does_not_carry_over():
    """keras.applications trains with Keras' default 0.99 (torch's 0.01); torch and Paddle defaults are the same."""
    assert "set momentum=0.01 on torch's" in bn_momentum_note("keras", "torch")
    assert "set momentum=0.99 on paddle's" in bn_momentum_note("keras", "paddle")
    assert "set momentum=0.9 on keras's" in bn_momentum_note("torch", "keras")
    assert bn_momentum_note("torch", "paddle") is None and bn_momentum_note("paddle", "torch") is None
    assert bn_momentum_note("canonical", "keras") is None


def test_convert_prints_the_training_note(tmp_path, capsys):
    """A torch state_dict (as torch.save writes it) converted to Keras gets the note on the error stream."""
    native = specs.to_native(specs.get("resnet18_cifar"), calibration.calibrated_weights("resnet18_cifar"), "torch")
    torch.save({key: torch.from_numpy(value) for key, value in native.items()}, tmp_path / "w.pth")
    assert main(["convert", str(tmp_path / "w.pth"), str(tmp_path / "w.weights.h5")]) == 0
    assert "training note: torch's default BatchNorm momentum 0.1 is momentum=0.9 in keras" in capsys.readouterr().err


# --- end to end: three frameworks, one worker each ---------------------------------------------------------------

def check_train_step(tmp_path, model_id: str, *options: str) -> dict:
    path = tmp_path / "train.json"
    code = main(["train-step", "--model", model_id, "--image-size", "64", "--num-classes", "10", *options,
                 "--json", str(path), "--report", str(tmp_path / "train.md")])
    report = json.loads(path.read_text())
    assert code == 0, report
    assert report["passed"] and report["steps"] == 2 and not report["errors"]
    assert {(p["a"], p["b"]) for p in report["pairs"]} == {("torch", "keras"), ("torch", "paddle"), ("keras", "paddle")}
    for pair in report["pairs"]:
        for quantity in session.QUANTITIES:
            assert pair[quantity]["float64_rel_l2"] <= 1e-9, (pair["a"], pair["b"], quantity)
        # the raw running variances differ by Bessel's correction exactly when one side is torch
        assert (pair["raw_running_var_float64_rel_l2"] > 1e-3) == ("torch" in (pair["a"], pair["b"]))
    losses = report["float64_losses"]
    assert len(losses["torch"]) == 2 and losses["torch"][1] < losses["torch"][0]  # it trains
    assert report["hyperparameters_used"]["momentum"] == f32(0.9)
    return report


def test_resnet18_trains_the_same_in_all_three_frameworks(tmp_path):
    check_train_step(tmp_path, "resnet18")


@pytest.mark.slow
def test_resnet50v2_trains_the_same_in_all_three_frameworks(tmp_path):
    check_train_step(tmp_path, "resnet50v2")


def test_bad_input_exits_2_naming_the_option(capsys):
    assert main(["train-step", "--model", "resnet18", "--image-size", "50"]) == 2
    assert "--image-size must be a multiple of 32" in capsys.readouterr().err
    assert main(["train-step", "--model", "resnet18", "--bn-momentum", "1.5"]) == 2
    assert "--bn-momentum" in capsys.readouterr().err


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


def test_report_fits_80_columns_with_every_number_intact():
    from rich.console import Console

    from crosscheck.train_step import command

    config = session.TrainConfig("resnet50v2")
    report = session.TrainReport(config, config.hyper.snap(),
                                 {fw: config.hyper.snap().native(fw, 1.001e-5) for fw in backends.names()})
    report.float32_distance = {q: {fw: 1.23e-4 for fw in backends.names()} for q in session.QUANTITIES}
    report.pairs = [session.PairResult(a, b, [session.Comparison(q, 3.2e-12, 0.5, True) for q in session.QUANTITIES],
                                       1.07e-3) for a, b in (("torch", "keras"), ("torch", "paddle"), ("keras", "paddle"))]
    console = Console(width=80, record=True, force_terminal=False)
    command.print_report(report, console)
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    assert text.count("3.2e-12") == 15 and text.count("1.2e-04") == 15 and text.count("1.1e-03") == 3
    assert "torch vs paddle" in text and "PASS keras vs paddle" in text


# --- end to end with a convention slip planted: the verdict fails and names it ---------------------------------------

class InProcessWorker:
    """crosscheck.worker's own ops answered in this process (all three frameworks are imported here), so a test can
    plant a slip in a framework's train module with monkeypatch. Requests run one at a time (Keras' floatx and the
    frameworks' thread pools are process-wide); `configure` is a no-op: the CPU defaults stay as pytest has them."""

    lock = threading.Lock()

    def __init__(self, framework: str) -> None:
        self.worker = Worker(framework)

    def request(self, op: str, **arguments) -> dict:
        if op == "configure":
            return {"ok": True, "result": {}}
        with self.lock:
            return {"ok": True, "result": OPS[op](self.worker, _jsonable(arguments))}

    def close(self) -> None:
        pass


def train_with_slip(frameworks: list[str]) -> dict:
    """One 2-step resnet18_cifar train-step (16x16: a 2x2 final map, batch 2) in `frameworks`, in process; the JSON
    report's only pair."""
    config = session.TrainConfig("resnet18_cifar", frameworks, image_size=16)
    report = session.train_step(config, worker_factory=InProcessWorker)
    assert not report.errors, report.errors
    [pair] = report.as_dict()["pairs"]
    return pair


def test_a_paddle_worker_with_torchs_bn_momentum_fails_naming_the_momentum(monkeypatch):
    """Paddle given m instead of 1 - m: training-mode BN never reads its running statistics, so loss, gradients and
    parameters agree and only the statistics can fail the verdict."""
    def slipped(model, momentum, epsilon):
        original(model, 1.0 - momentum, epsilon)

    original = paddle_train.set_bn
    monkeypatch.setattr(paddle_train, "set_bn", slipped)
    pair = train_with_slip(["torch", "paddle"])
    assert pair["passed"] is False
    assert all(pair[q]["passed"] for q in ("loss", "gradients", "parameters")), pair
    assert pair["running_mean"]["first_key"] == "conv1_bn.running_mean"
    assert "BN momentum convention: paddle ran with momentum 0.9" in pair["cause"], pair["cause"]


def test_a_variance_estimator_left_untranslated_fails_naming_the_estimator(monkeypatch):
    """Paddle's biased running variance taken as torch's unbiased one (the convention table says 'unbiased')."""
    monkeypatch.setitem(CONVENTIONS, "paddle", dataclasses.replace(CONVENTIONS["paddle"], variance="unbiased"))
    pair = train_with_slip(["torch", "paddle"])
    assert pair["passed"] is False
    assert pair["running_mean"]["passed"] and not pair["running_var"]["passed"], pair
    assert "BN variance estimator: paddle's running variance comes from the biased" in pair["cause"], pair["cause"]


def test_a_keras_worker_with_decoupled_weight_decay_fails_naming_the_weight_decay(monkeypatch):
    """Keras' own SGD(weight_decay=) instead of train-step's coupled L2: the first step is the same, the second update
    differs by lr * momentum * wd * p."""
    def decoupled(dtype, hyper):
        with keras_train._floatx(dtype):
            return keras.optimizers.SGD(learning_rate=hyper["lr"], momentum=hyper["momentum"],
                                        weight_decay=hyper["weight_decay"])

    monkeypatch.setattr(keras_train, "optimizer", decoupled)
    monkeypatch.setattr(keras_train, "coupled_l2", lambda gradients, variables, weight_decay: gradients)
    pair = train_with_slip(["torch", "keras"])
    assert pair["passed"] is False
    assert pair["loss"]["passed"] and pair["gradients"]["passed"] and not pair["parameters"]["passed"], pair
    assert "weight decay convention: keras's weight decay is decoupled" in pair["cause"], pair["cause"]

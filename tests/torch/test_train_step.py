"""crosscheck train-step: every training convention in the table of docs/train-step.md, one step against numpy, and the
three frameworks training the same in float64 (frameworks in-process for the conventions, workers end to end)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from crosscheck import backends
from crosscheck import calibration
from crosscheck import spec as specs
from crosscheck.cli import main
from crosscheck import training_conventions as conventions
from crosscheck.train_step import session
from crosscheck.training_conventions import CONVENTIONS, Hyperparameters, bn_momentum_note, unbiased_running_var
from crosscheck.backends.torch import train as torch_train
from train_step_references import (EPS, G1, G2, LR, MU, P0, START_MEAN, START_VAR, WD, X,  # tests/ helpers
                                   check_bn_running_update, f32, numpy_sgd, train_with_slip)


def torch_bn(momentum: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    bn = torch.nn.BatchNorm2d(3).double().train()
    torch_train.set_bn(bn, momentum, EPS)
    with torch.no_grad():
        bn.running_mean.copy_(torch.from_numpy(START_MEAN))
        bn.running_var.copy_(torch.from_numpy(START_VAR))
        y = bn(torch.from_numpy(X))
    return y.numpy(), bn.running_mean.numpy(), bn.running_var.numpy()


# --- BatchNorm: momentum meaning and variance estimator, each framework against numpy -------------------------

def test_bn_running_update_is_the_documented_convention():
    check_bn_running_update("torch", torch_bn)


def test_the_reference_resnets_build_their_bn_with_the_documented_momentum():
    """The table's 'its ResNets' BN momentum' column for torch, read from torchvision (tests/keras, tests/paddle have
    keras.applications' and paddle.vision's)."""
    import torchvision

    torch_values = {m.momentum for m in torchvision.models.resnet18().modules() if isinstance(m, torch.nn.BatchNorm2d)}
    assert torch_values == {0.1} and CONVENTIONS["torch"].bn_default == 0.1


# --- optimizers: weight decay semantics, velocity form, float32 hyperparameters -------------------------------


def torch_sgd(lr: float, mu: float, wd: float) -> np.ndarray:
    p = torch.nn.Parameter(torch.from_numpy(P0.copy()))
    sgd = torch_train.optimizer([p], {"lr": lr, "momentum": mu, "weight_decay": wd})
    for g in (G1, G2):
        p.grad = torch.from_numpy(g.copy())
        sgd.step()
    return p.detach().numpy()


def test_torch_sgd_weight_decay_is_coupled_l2_and_exact_in_float64():
    np.testing.assert_allclose(torch_sgd(LR, MU, WD), numpy_sgd(LR, MU, WD, coupled=True), rtol=1e-15)


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


def test_report_fits_80_columns_with_every_number_intact():
    from rich.console import Console

    from crosscheck.train_step import command

    config = session.TrainConfig("resnet50v2")
    report = session.TrainReport(config, config.hyper.snap(),
                                 {fw: config.hyper.snap().native(fw, 1.001e-5) for fw in backends.default_names()})
    report.float32_distance = {q: {fw: 1.23e-4 for fw in backends.default_names()} for q in session.QUANTITIES}
    report.pairs = [session.PairResult(a, b, [session.Comparison(q, 3.2e-12, 0.5, True) for q in session.QUANTITIES],
                                       1.07e-3) for a, b in (("torch", "keras"), ("torch", "paddle"), ("keras", "paddle"))]
    console = Console(width=80, record=True, force_terminal=False)
    command.print_report(report, console)
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    assert text.count("3.2e-12") == 15 and text.count("1.2e-04") == 15 and text.count("1.1e-03") == 3
    assert "torch vs paddle" in text and "PASS keras vs paddle" in text


# --- end to end with a convention slip planted: the verdict fails and names it ---------------------------------------


def test_a_variance_estimator_left_untranslated_fails_naming_the_estimator(monkeypatch):
    """Paddle's biased running variance taken as torch's unbiased one (the convention table says 'unbiased')."""
    monkeypatch.setitem(CONVENTIONS, "paddle", dataclasses.replace(CONVENTIONS["paddle"], variance="unbiased"))
    pair = train_with_slip(["torch", "paddle"])  # both in their worker processes: the slip is in this process
    assert pair["passed"] is False
    assert pair["running_mean"]["passed"] and not pair["running_var"]["passed"], pair
    assert "BN variance estimator: paddle's running variance comes from the biased" in pair["cause"], pair["cause"]

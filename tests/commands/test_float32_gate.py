"""The float32 gate can fail: a framework with a float32-only defect is named, the correct ones still pass.

The frameworks here are fakes: numpy workers that speak the worker protocol and compute one fixed
two-layer network, truly in float64 and float32, with a planted float32 defect where asked. No
framework is imported, so every case costs a few process start-ups. The gate rule and its numbers
are the README's ("Tolerance gates"), not read back from crosscheck.metrics.
"""

from __future__ import annotations

import json
import re
import sys

import numpy as np
import pytest

from crosscheck import calibration
from crosscheck.cli import main
from crosscheck.run.session import MatrixRun, RunConfig
from crosscheck.worker.client import FrameworkWorker

FLOAT32_MINIMUM = 1e-5
FLOAT32_FACTOR = 4
MODEL = "resnet18_cifar"  # its input is 32x32: the fake network takes 3 * 32 * 32 inputs

FAKE_FRAMEWORK = r'''
import json, sys
import numpy as np

defect = json.loads(sys.argv[1])  # {"kind": value}: how this framework's float32 (or float64) run goes wrong
weights = np.random.default_rng(0)
W1 = weights.standard_normal((3 * 32 * 32, 64)) / np.sqrt(3 * 32 * 32)
W2 = weights.standard_normal((64, 10)) / 8


def tf32(array):
    """float32 with the mantissa cut to TF32's 10 bits."""
    return (array.astype(np.float32).view(np.uint32) & np.uint32(0xFFFFE000)).view(np.float32)


def network(images, dtype):
    x, w1, w2 = (a.astype(dtype) for a in (images.reshape(len(images), -1), W1, W2))
    if dtype == "float32" and "tf32" in defect:
        x, w1, w2 = tf32(x), tf32(w1), tf32(w2)
    hidden = np.tanh(x @ w1)
    return hidden, hidden @ w2


def forward(images, dtype):
    hidden, logits = network(images, dtype)
    if dtype == "float32" and "scale" in defect:
        logits = logits * np.float32(1 + defect["scale"])
    if dtype == "float32" and "distance" in defect:  # exactly this rel L2 from the float64 truth
        truth = network(images, "float64")[1]
        direction = np.random.default_rng(defect.get("seed", 1)).standard_normal(truth.shape)
        logits = (truth + defect["distance"] * np.linalg.norm(truth) * direction / np.linalg.norm(direction))
    if dtype == "float64" and "function" in defect:
        logits = logits * (1 + defect["function"])
    return hidden, logits.astype(dtype)


print(json.dumps({"ok": True, "result": {"ready": "fake"}, "seconds": 0.0}), flush=True)
for line in sys.stdin:
    request = json.loads(line)
    reply = {"ok": True, "result": {}, "seconds": 0.0}
    if request["op"] == "configure":
        reply["result"] = {"settings": {"device": "cpu"}}
    elif request["op"] == "forward":
        np.save(request["output"], forward(np.load(request["input"]), request["dtype"])[1])
    elif request["op"] == "block_outputs" and "capture" in defect:
        reply = {"ok": False, "error": f"RuntimeError: {defect['capture']}", "traceback": ""}
    elif request["op"] == "block_outputs":
        hidden, logits = forward(np.load(request["input"]), "float64")
        np.savez(request["output"], hidden=hidden, logits=logits)
    print(json.dumps(reply), flush=True)
'''


@pytest.fixture(scope="module")
def weights() -> dict[str, np.ndarray]:
    return calibration.calibrated_weights(MODEL)


@pytest.fixture(autouse=True)
def weights_made_once(monkeypatch, weights):
    """The fakes never read the weights a run makes: make them once for the module, not once per run."""
    monkeypatch.setattr(calibration, "calibrated_weights", lambda *args, **kwargs: weights)


def fakes(defects: dict[str, dict]):
    """A FrameworkWorker stand-in for crosscheck.worker.client: every framework a fake, with `defects[framework]` planted."""
    return lambda framework, timeout=900: FrameworkWorker(
        framework, [sys.executable, "-c", FAKE_FRAMEWORK, json.dumps(defects.get(framework, {}))], timeout=timeout)


def run_cli(tmp_path, monkeypatch, capsys, frameworks: str, defects: dict[str, dict]) -> tuple[int, dict, str]:
    """`crosscheck run` on the fakes: (exit code, JSON report of the one model, terminal text unwrapped)."""
    monkeypatch.setattr("crosscheck.worker.client.FrameworkWorker", fakes(defects))
    path = tmp_path / "report.json"
    code = main(["run", "--models", MODEL, "--frameworks", frameworks, "--json", str(path)])
    [model] = json.loads(path.read_text())["models"]
    return code, model, " ".join(capsys.readouterr().out.split())


DEFECTS = {
    "scale 1+1e-3": {"scale": 1e-3},
    "tf32 rounding": {"tf32": True},
}


@pytest.mark.parametrize("frameworks", ["torch,keras", "torch,keras,paddle"])
@pytest.mark.parametrize("defect", DEFECTS, ids=list(DEFECTS))
def test_a_float32_only_defect_fails_the_run_and_names_the_framework(tmp_path, monkeypatch, capsys, frameworks, defect):
    """torch's float32 is off (scaled, or TF32-rounded, ~1e-3); its float64 is right. The run exits 1, torch is named
    as the precision outlier, and every pair of correct frameworks passes in both precisions."""
    code, model, text = run_cli(tmp_path, monkeypatch, capsys, frameworks, {"torch": DEFECTS[defect]})
    assert code == 1 and not model["passed"]
    distances = model["float32_vs_float64_rel_l2"]
    assert distances["torch"] > 1e-4 and all(d < 1e-6 for fw, d in distances.items() if fw != "torch")
    assert model["float32_gate"] == FLOAT32_MINIMUM and model["float32_outliers"] == ["torch"]
    for pair in model["pairs"]:
        assert pair["float64_passed"], pair  # the same function
        assert pair["float32_passed"] == ("torch" not in (pair["a"], pair["b"])), pair
    assert "torch: float32 is" in text and "a precision problem of torch (float64 agrees: same function)" in text
    blamed = re.findall(r"a precision problem of (.*?) \(float64 agrees", text)
    assert blamed == ["torch"] * (1 + frameworks.count(",")), blamed  # torch's own line, then each of its pairs


def test_an_outlier_under_four_times_the_second_largest_distance_fails(tmp_path, monkeypatch, capsys):
    """Deep-model-sized rounding (2e-5 and 3e-5) and a float32 path at 1e-4: under the old median rule (gate 4 x 3e-5)
    it passed; anchored on the smallest (gate 4 x 2e-5) it fails, and keras vs paddle still passes."""
    defects = {"keras": {"distance": 2e-5, "seed": 1}, "paddle": {"distance": 3e-5, "seed": 2},
               "torch": {"distance": 1e-4, "seed": 3}}
    code, model, text = run_cli(tmp_path, monkeypatch, capsys, "torch,keras,paddle", defects)
    assert code == 1
    assert model["float32_gate"] == pytest.approx(FLOAT32_FACTOR * 2e-5, rel=1e-3)
    assert model["float32_anchor"] == "keras" and model["float32_outliers"] == ["torch"]
    assert {(p["a"], p["b"]) for p in model["pairs"] if p["passed"]} == {("keras", "paddle")}
    assert "a precision problem of torch (float64 agrees: same function)" in text
    assert f"= {FLOAT32_FACTOR} x keras's, the smallest" in text


def test_correct_frameworks_at_deep_model_rounding_pass(tmp_path, monkeypatch, capsys):
    """The gate does not refuse correct runs: distances 2e-5, 3e-5, 5e-5 (a spread of 2.5, above the measured 1.5)
    and their pairs all pass."""
    defects = {"keras": {"distance": 2e-5, "seed": 1}, "paddle": {"distance": 3e-5, "seed": 2},
               "torch": {"distance": 5e-5, "seed": 3}}
    code, model, _ = run_cli(tmp_path, monkeypatch, capsys, "torch,keras,paddle", defects)
    assert code == 0 and model["passed"] and model["float32_outliers"] == []


def test_a_single_float32_run_is_reported_as_not_judged(tmp_path, monkeypatch, capsys):
    """keras' worker dies: torch's float32 (scaled 1+1e-3) has nothing to be compared with; the report says it is not
    judged instead of passing it by a gate made from its own distance (and the run fails on the dead worker)."""
    killed = "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"
    real = fakes({"torch": {"scale": 1e-3}})
    monkeypatch.setattr("crosscheck.worker.client.FrameworkWorker", lambda framework, timeout=900: (
        FrameworkWorker(framework, [sys.executable, "-c", killed]) if framework == "keras" else real(framework)))
    path = tmp_path / "report.json"
    assert main(["run", "--models", MODEL, "--frameworks", "torch,keras", "--json", str(path)]) == 1
    [model] = json.loads(path.read_text())["models"]
    assert model["float32_gate"] is None and model["float32_outliers"] == [] and model["pairs"] == []
    assert "float32 not judged: a single float32 run has nothing to be compared with" in " ".join(
        capsys.readouterr().out.split())


def test_run_with_one_framework_and_no_onnx_exits_2_before_starting_a_worker(monkeypatch, capsys):
    def no_worker(*args, **kwargs):
        raise AssertionError("a worker was started")

    monkeypatch.setattr("crosscheck.worker.client.FrameworkWorker", no_worker)
    assert main(["run", "--frameworks", "torch", "--models", MODEL]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "nothing to compare: one framework (torch) and no --onnx" in error
    RunConfig(models=[MODEL], frameworks=["torch"], onnx=True).validate()  # torch vs torch-onnx is a comparison


def test_a_failed_block_capture_is_reported_with_its_error(tmp_path, monkeypatch, capsys):
    """torch's float64 differs (1e-6) and its worker cannot capture block outputs: the report gives the capture's
    error where the first divergence would be, in the JSON and on the terminal, never '?'."""
    defects = {"torch": {"function": 1e-6, "capture": "simulated capture failure in layer2"}}
    code, model, text = run_cli(tmp_path, monkeypatch, capsys, "torch,keras", defects)
    [pair] = model["pairs"]
    assert code == 1 and not pair["float64_passed"] and pair["first_divergence"] is None
    assert "simulated capture failure in layer2" in pair["first_divergence_error"]
    assert "the block outputs could not be captured: torch: block_outputs failed: RuntimeError: simulated capture " \
           "failure in layer2" in text
    assert "?" not in text


def test_a_function_difference_is_localised_by_the_fakes_blocks():
    """The same fakes without the capture failure name the first differing capture point (here the logits)."""
    config = RunConfig(models=[MODEL], frameworks=["torch", "keras"])
    report = MatrixRun(config, worker_factory=fakes({"torch": {"function": 1e-6}})).run()
    [pair] = report.results[0].pairs
    assert not pair.float64_passed and pair.diverging_block == "logits" and pair.block_capture_error is None

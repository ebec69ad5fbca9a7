"""The match matrix runner: worker isolation, failure reporting and bad input (frameworks in subprocesses)."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from crosscheck import calibration
from crosscheck.checkpoints import canonical
from crosscheck.cli import main
from crosscheck.run.session import MatrixRun, RunConfig, first_diverging_block
from crosscheck.worker.client import FrameworkWorker

READY = json.dumps({"ok": True, "result": {"ready": "fake"}})
KILLED_ON_FIRST_REQUEST = f"import os, signal, sys; print({READY!r}, flush=True); sys.stdin.readline(); " \
    "sys.stderr.write('simulated worker death\\n'); sys.stderr.flush(); os.kill(os.getpid(), signal.SIGKILL)"
HANGS_ON_FIRST_REQUEST = f"import sys, time; print({READY!r}, flush=True); sys.stdin.readline(); time.sleep(600)"
TORCH_NOT_INSTALLED = "import sys; sys.modules['torch'] = None; from crosscheck.worker.server import serve; serve('torch')"


# A real worker whose forward op dies (SIGKILL), hangs or raises on one model, after serving every other request.
FAILS_ON_MODEL = """
import os, signal, sys, time
import crosscheck.worker.server as worker
real_forward = worker.OPS["forward"]
def forward(state, request):
    if request["model_id"] == sys.argv[2]:
        sys.stderr.write(f"simulated {sys.argv[1]} on {sys.argv[2]}\\n"); sys.stderr.flush()
        if sys.argv[1] == "death":
            os.kill(os.getpid(), signal.SIGKILL)
        if sys.argv[1] == "error":
            raise RuntimeError(f"simulated error on {sys.argv[2]}")
        time.sleep(600)
    return real_forward(state, request)
worker.OPS["forward"] = forward
worker.serve(sys.argv[3])
"""


def factory_with(framework: str, script: str, timeout: float = 900):
    """Workers for a run: `framework`'s runs `script` and waits `timeout` s for each reply; the others are real."""
    def make(fw: str) -> FrameworkWorker:
        if fw == framework:
            return FrameworkWorker(fw, command=[sys.executable, "-c", script], timeout=timeout)
        return FrameworkWorker(fw)
    return make


def test_default_matrix_passes_end_to_end(tmp_path):
    """`crosscheck run` with real workers: every pair of every default model passes both documented gates."""
    report_json = tmp_path / "report.json"
    code = main(["run", "--models", "resnet18,resnet50v2", "--json", str(report_json), "--report", str(tmp_path / "r.md")])
    report = json.loads(report_json.read_text())
    assert code == 0, report
    assert report["passed"]
    assert report["gate"]["float64_rtol"] == 1e-9 and report["gate"]["float32_minimum"] == 1e-5  # README's numbers
    for model in report["models"]:
        assert {(p["a"], p["b"]) for p in model["pairs"]} == {("torch", "keras"), ("torch", "paddle"), ("keras", "paddle")}
        distances = model["float32_vs_float64_rel_l2"]
        assert set(distances) == {"torch", "keras", "paddle"}
        assert all(0 < d < 1e-4 for d in distances.values())  # float32 rounds; float64 is the reference
        assert model["float32_gate"] == max(1e-5, 4 * min(distances.values()))  # README's rule
        assert model["float32_outliers"] == []
        for pair in model["pairs"]:
            assert pair["float64_rel_l2"] <= 1e-9 and pair["float32_rel_l2"] <= model["float32_gate"]
            assert pair["float64_top1"] == 1.0 and pair["float32_top1"] == 1.0
    assert list(report["stage_seconds"]) == ["workers", "compare"]
    stages = ("import", "build+load", "forward float32", "cast to float64", "forward float64")
    for framework in ("torch", "keras", "paddle"):  # each worker's work happens inside the workers stage
        for stage in stages:
            assert 0 < report["overlapped_seconds"][f"{stage} {framework}"] <= report["stage_seconds"]["workers"]
            assert report["cpu_seconds"][f"{stage} {framework}"] > 0
    assert "# crosscheck run: PASS" in (tmp_path / "r.md").read_text()


@pytest.mark.slow
def test_cifar_ids_pass_every_pair_next_to_an_imagenet_id(tmp_path):
    """`crosscheck run --models resnet18_cifar,resnet50_cifar` (plus resnet18: each model gets its own input size)."""
    report_json = tmp_path / "report.json"
    code = main(["run", "--models", "resnet18_cifar,resnet50_cifar,resnet18", "--json", str(report_json)])
    report = json.loads(report_json.read_text())
    assert code == 0 and report["passed"], report
    assert [m["model_id"] for m in report["models"]] == ["resnet18_cifar", "resnet50_cifar", "resnet18"]
    for model in report["models"]:
        assert len(model["pairs"]) == 3
        assert all(p["passed"] and p["float64_top1"] == p["float32_top1"] == 1.0 for p in model["pairs"])


def test_killed_worker_is_reported_and_the_others_still_compare():
    config = RunConfig(models=["resnet18"], frameworks=["torch", "paddle", "keras"])
    report = MatrixRun(config, worker_factory=factory_with("paddle", KILLED_ON_FIRST_REQUEST)).run()
    assert not report.passed
    assert "paddle" in report.framework_errors
    assert "exited with code -9" in report.framework_errors["paddle"]
    assert "out-of-memory killer" in report.framework_errors["paddle"]  # the likely cause of a SIGKILL, named
    assert "simulated worker death" in report.framework_errors["paddle"]  # the stderr tail is shown
    [result] = report.results
    assert [(p.a, p.b, p.passed) for p in result.pairs] == [("torch", "keras", True)]
    assert set(result.float32_distance) == {"torch", "keras"}


def test_hung_worker_times_out_and_is_reported():
    config = RunConfig(models=["resnet18"], frameworks=["torch", "keras"])
    report = MatrixRun(config, worker_factory=factory_with("keras", HANGS_ON_FIRST_REQUEST, timeout=3)).run()
    assert not report.passed
    assert "timed out after 3 s" in report.framework_errors["keras"]
    assert report.results[0].pairs == []


def test_missing_framework_names_the_extra_and_runs_the_others():
    config = RunConfig(models=["resnet18"], frameworks=["torch", "paddle"])
    report = MatrixRun(config, worker_factory=factory_with("torch", TORCH_NOT_INSTALLED)).run()
    assert "pip install 'crosscheck[torch]'" in report.framework_errors["torch"]
    assert "paddle" in report.settings and not report.passed


@pytest.mark.parametrize("argv, message", [
    (["--models", "resnet9"], "valid ids: resnet18"),
    (["--frameworks", "jax"], "unknown framework 'jax'"),
    (["--batch", "0"], "batch must be >= 1"),
    (["--json", "/nonexistent-dir/report.json"], "/nonexistent-dir does not exist"),
])
def test_bad_input_is_a_clear_error_with_exit_2(argv, message, capsys):
    assert main(["run", *argv]) == 2
    assert message in " ".join(capsys.readouterr().err.split())


def test_first_diverging_block_names_the_first_block_over_the_gate():
    rng = np.random.default_rng(0)
    reference = {name: rng.standard_normal(8) for name in ("stem", "conv2_block1", "conv2_block2", "logits")}
    candidate = dict(reference, conv2_block2=reference["conv2_block2"] * 1.01, logits=reference["logits"] + 1)
    assert first_diverging_block(reference, candidate, 1e-5) == "conv2_block2"
    assert first_diverging_block(reference, reference, 1e-5) is None


def test_canonical_file_round_trip_and_bad_files(tmp_path):
    arrays = calibration.calibrated_weights("resnet18", seed=3)
    path = canonical.save(tmp_path / "w.safetensors", "resnet18", arrays)
    model_id, loaded, metadata = canonical.load(path)
    assert model_id == "resnet18" and metadata["spec_version"] and metadata["layout"] == "conv:OIHW,dense:OI"
    assert all(np.array_equal(loaded[k], arrays[k]) for k in arrays)
    with pytest.raises(canonical.WeightFileError, match="holds weights for resnet18, not resnet50"):
        canonical.load(path, "resnet50")
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(canonical.WeightFileError, match="truncated.safetensors"):
        canonical.load(truncated)
    broken = dict(arrays, **{"conv1_bn.running_var": np.full(64, np.nan, np.float32)})
    with pytest.raises(canonical.WeightFileError, match="conv1_bn.running_var"):
        canonical.save(tmp_path / "nan.safetensors", "resnet18", broken)
    assert not (tmp_path / "nan.safetensors").exists()


class _HangsOnForward(FrameworkWorker):
    """A worker whose client waits `short` seconds for the forward of `model_id` (which hangs), 900 s otherwise."""

    def __init__(self, framework: str, model_id: str, short: float) -> None:
        command = [sys.executable, "-c", FAILS_ON_MODEL, "hang", model_id, framework]
        super().__init__(framework, command=command, timeout=900)
        self.model_id, self.short = model_id, short

    def request(self, op: str, **arguments):
        self.timeout = self.short if op == "forward" and arguments.get("model_id") == self.model_id else 900
        return super().request(op, **arguments)


def test_workers_that_die_or_hang_on_the_second_model_keep_the_first_models_results(tmp_path, monkeypatch, capsys):
    """Through the CLI: paddle is killed and torch hangs in the forward of resnet34, after resnet18 ran in both.
    resnet18 keeps its pair, passing; resnet34 names both failures; the exit code is 1."""
    def worker(framework: str, timeout: float) -> FrameworkWorker:
        if framework == "paddle":
            return FrameworkWorker(framework, [sys.executable, "-c", FAILS_ON_MODEL, "death", "resnet34", framework],
                                   timeout=timeout)
        return _HangsOnForward(framework, "resnet34", short=3)

    monkeypatch.setattr("crosscheck.worker.client.FrameworkWorker", worker)
    path = tmp_path / "report.json"
    assert main(["run", "--models", "resnet18,resnet34", "--frameworks", "torch,paddle", "--json", str(path)]) == 1
    report = json.loads(path.read_text())
    first, second = report["models"]
    assert first["model_id"] == "resnet18" and first["passed"] and first["errors"] == {}
    [pair] = first["pairs"]
    assert (pair["a"], pair["b"]) == ("torch", "paddle") and pair["passed"] and pair["float64_rel_l2"] <= 1e-9
    assert set(first["float32_vs_float64_rel_l2"]) == {"torch", "paddle"}
    assert second["model_id"] == "resnet34" and not second["passed"] and second["pairs"] == []
    assert set(second["errors"]) == {"paddle", "torch"}
    assert "exited with code -9 during forward" in second["errors"]["paddle"]
    assert "forward timed out after 3 s" in second["errors"]["torch"] and "out-of-memory" not in second["errors"]["torch"]
    assert "simulated death on resnet34" in report["framework_errors"]["paddle"]  # the stderr tail is shown
    assert "simulated hang on resnet34" in report["framework_errors"]["torch"]
    assert not report["passed"] and "MISMATCH or ERROR" in capsys.readouterr().out


def test_an_impossible_float64_gate_fails_the_run_with_exit_code_1(tmp_path, capsys):
    """torch and paddle agree to ~1e-15 in float64, not to 1e-30: the gate given on the command line is the one used."""
    path = tmp_path / "report.json"
    assert main(["run", "--models", "resnet18", "--frameworks", "torch,paddle", "--float64-rtol", "1e-30",
                 "--json", str(path)]) == 1
    report = json.loads(path.read_text())
    [pair] = report["models"][0]["pairs"]
    assert not report["passed"] and report["gate"]["float64_rtol"] == 1e-30
    assert not pair["float64_passed"] and 0 < pair["float64_rel_l2"] < 1e-12 and pair["float32_passed"]
    assert pair["first_divergence"] is not None
    assert "MISMATCH or ERROR" in capsys.readouterr().out


def test_a_planted_bn_epsilon_slip_fails_the_cli_run_with_exit_code_1(tmp_path, monkeypatch):
    """The torch worker builds every BN with keras' epsilon (test_precision.py's slip); `crosscheck run` exits 1."""
    from test_precision import EPSILON_SLIP

    monkeypatch.setattr("crosscheck.worker.client.FrameworkWorker", lambda framework, timeout: FrameworkWorker(
        framework, [sys.executable, "-c", EPSILON_SLIP] if framework == "torch" else None, timeout=timeout))
    path = tmp_path / "report.json"
    assert main(["run", "--models", "resnet18", "--frameworks", "torch,paddle", "--json", str(path)]) == 1
    [pair] = json.loads(path.read_text())["models"][0]["pairs"]
    assert not pair["float64_passed"] and pair["float64_rel_l2"] > 10 * 1e-9  # measured 6.6e-8 (README gate 1e-9)
    assert pair["float32_passed"] and pair["first_divergence"] == "stem"


class _Recording(FrameworkWorker):
    """A real worker that logs (framework, op, model id) for every request it is sent."""

    def __init__(self, framework: str, log: list[tuple[str, str, str | None]], command: list[str] | None = None) -> None:
        super().__init__(framework, command)
        self.log = log

    def request(self, op: str, **arguments):
        self.log.append((self.framework, op, arguments.get("model_id")))
        return super().request(op, **arguments)


def test_each_model_is_loaded_once_and_released_in_every_worker_before_the_next_is_loaded():
    """Memory: a worker holds one model id at a time (keeping all 16 ids took ~7 GB per worker and thrashed 24 GB),
    also where the model failed: paddle's forward of the first model raises, and it is released there too. Time:
    each model is loaded once per worker (one build, one read of its weights file) and cast for float64."""
    log: list[tuple[str, str, str | None]] = []

    def factory(framework: str) -> FrameworkWorker:
        failing = [sys.executable, "-c", FAILS_ON_MODEL, "error", "resnet18_cifar", framework]
        return _Recording(framework, log, failing if framework == "paddle" else None)

    config = RunConfig(models=["resnet18_cifar", "resnet34_cifar"], frameworks=["torch", "paddle"])
    first, second = MatrixRun(config, worker_factory=factory).run().results
    assert "simulated error on resnet18_cifar" in first.errors["paddle"] and not first.passed and second.passed
    for framework in ("torch", "paddle"):
        steps = [(op, model_id) for fw, op, model_id in log if fw == framework and op in ("load", "cast", "release")]
        first = [("load", "resnet18_cifar"), ("release", "resnet18_cifar")] if framework == "paddle" else \
            [("load", "resnet18_cifar"), ("cast", "resnet18_cifar"), ("release", "resnet18_cifar")]
        assert steps == first + [("load", "resnet34_cifar"), ("cast", "resnet34_cifar"), ("release", "resnet34_cifar")]

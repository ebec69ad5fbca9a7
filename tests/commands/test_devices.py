"""Device selection: the GPU proof turns TF32 off everywhere; without a GPU, asking for one is a clear error."""

from __future__ import annotations

import json
import shutil

import pytest

from crosscheck.cli import main
from crosscheck.run.session import MatrixRun, RunConfig

HAS_GPU = shutil.which("nvidia-smi") is not None


@pytest.mark.skipif(HAS_GPU, reason="checks the behaviour on a machine without a GPU")
def test_cuda_without_a_gpu_is_reported_per_framework():
    report = MatrixRun(RunConfig(models=["resnet18"], device="cuda")).run()
    assert not report.passed
    assert set(report.framework_errors) == {"torch", "keras", "paddle"}
    for framework, error in report.framework_errors.items():
        assert "configure failed" in error and ("cuda" in error.lower() or "gpu" in error.lower()), error


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="needs a CUDA device")
def test_gpu_matrix_runs_with_tf32_off_in_all_three_frameworks(tmp_path):
    path = tmp_path / "report.json"
    assert main(["run", "--device", "cuda", "--models", "resnet18,resnet50v2", "--json", str(path)]) == 0
    settings = json.loads(path.read_text())["settings"]
    assert settings["torch"]["cudnn_allow_tf32"] == "False" and settings["torch"]["matmul_allow_tf32"] == "False"
    assert settings["keras"]["tf32"] == "False"
    assert settings["paddle"]["NVIDIA_TF32_OVERRIDE"] == "0"
    assert all("gpu" in s["device"].lower() or "cuda" in s["device"].lower() for s in settings.values())


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="needs a CUDA device")
def test_gpu_float64_proof_and_float32_distances_are_reported(tmp_path):
    """The same protocol on CUDA: float64 pairs at the float64 gate, each float32 run's distance from it."""
    path = tmp_path / "report.json"
    assert main(["run", "--device", "cuda", "--weights", "plain", "--models", "resnet50", "--json", str(path)]) == 0
    [model] = json.loads(path.read_text())["models"]
    assert all(pair["float64_rel_l2"] <= 1e-9 for pair in model["pairs"])
    assert all(0 < d <= model["float32_gate"] for d in model["float32_vs_float64_rel_l2"].values())


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="needs a CUDA device")
def test_allow_tf32_uses_the_tf32_gate_and_shows_its_distance_from_the_truth(tmp_path):
    path = tmp_path / "report.json"
    assert main(["run", "--device", "cuda", "--allow-tf32", "--models", "resnet50", "--json", str(path)]) == 0
    report = json.loads(path.read_text())
    assert report["gate"]["float32_minimum"] == 5e-3 and report["settings"]["torch"]["cudnn_allow_tf32"] == "True"
    [model] = report["models"]
    assert all(pair["float64_rel_l2"] <= 1e-9 for pair in model["pairs"])  # float64 has no TF32
    # TF32 keeps a 10-bit mantissa: its float32 runs sit far further from the truth than IEEE float32 (~1e-5)
    assert max(model["float32_vs_float64_rel_l2"].values()) > 1e-4

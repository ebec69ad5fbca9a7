"""`crosscheck doctor` and the up-front `--device cuda` check.

The real environment is probed end to end once (each framework in its own worker); the GPU-present
cases are built by injecting probe results, never by faking a GPU inside a framework. Expected
values come from the installed packages' metadata, the frameworks themselves in this process, or
their documentation, not from the doctor's code.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys

import pytest
from rich.console import Console

from crosscheck import backends
from crosscheck.cli import main
from crosscheck.doctor import command
from crosscheck.device_check import DeviceUnavailable, require_device
from crosscheck.doctor.environment import Environment
from crosscheck.framework_probe import FrameworkProbe, probe_frameworks
from crosscheck.doctor.findings import diagnose
from crosscheck.doctor.report import print_report
from crosscheck.worker.client import FrameworkWorker
from subprocess_python import run_python  # tests/ helpers

HAS_GPU = shutil.which("nvidia-smi") is not None
TORCH_NOT_INSTALLED = "import sys; sys.modules['torch'] = None; from crosscheck.worker.server import serve; serve('torch')"
A100 = "NVIDIA A100-SXM4-80GB"


@pytest.fixture(scope="module")
def doctor(tmp_path_factory):
    """`crosscheck doctor --json PATH` in a fresh process with an 80-column terminal: (exit code, stdout, JSON)."""
    path = tmp_path_factory.mktemp("doctor") / "doctor.json"
    done = subprocess.run([sys.executable, "-m", "crosscheck", "doctor", "--json", str(path)],
                          capture_output=True, text=True, env={**os.environ, "COLUMNS": "80"}, timeout=900)
    return done.returncode, done.stdout, json.loads(path.read_text())


def test_doctor_exits_0_when_the_cpu_proof_can_run(doctor):
    code, _, report = doctor
    assert code == 0 and report["cpu_proof_ready"]
    assert {name: report["frameworks"][name]["status"] for name in ("torch", "keras", "paddle")} == dict.fromkeys(
        ("torch", "keras", "paddle"), "ok")
    assert list(report["frameworks"]) == list(backends.names())  # Keras' other engines reported too, installed or not


def read_in_its_own_process(code: str) -> object:
    """What `code` (a framework's import and an expression) evaluates to, in a process of its own."""
    *imports, expression = code.split("; ")
    return json.loads(run_python("; ".join([*imports, "import json", f"print(json.dumps({expression}))"])))


def test_doctor_reports_the_installed_versions_and_builds(doctor):
    torch_cuda = read_in_its_own_process("import torch; torch.version.cuda")
    frameworks = doctor[2]["frameworks"]
    assert frameworks["torch"]["versions"]["torch"].split("+")[0] == importlib.metadata.version("torch")
    assert frameworks["keras"]["versions"] == {"tensorflow": importlib.metadata.version("tensorflow"),
                                               "keras": importlib.metadata.version("keras")}
    assert frameworks["paddle"]["versions"]["paddle"] == importlib.metadata.version("paddlepaddle")
    assert frameworks["torch"]["cuda"] == torch_cuda
    assert frameworks["keras"]["cuda"] == read_in_its_own_process(
        "import tensorflow as tf; tf.sysconfig.get_build_info().get('cuda_version') if tf.test.is_built_with_cuda() else None")
    assert (frameworks["paddle"]["cuda"] is None) == (not read_in_its_own_process(
        "import paddle; paddle.device.is_compiled_with_cuda()"))
    if torch_cuda and sys.platform == "linux":  # torch's cuDNN is the nvidia-cudnn wheel it depends on
        cudnn_wheel = next(importlib.metadata.version(name) for name in ("nvidia-cudnn-cu13", "nvidia-cudnn-cu12")
                           if _installed(name))
        assert cudnn_wheel.startswith(frameworks["torch"]["cudnn"] + ".")


def test_doctor_reports_the_documented_tf32_defaults(doctor):
    """PyTorch: cuDNN convolutions allow TF32, matmuls do not (since 1.12); TensorFlow: TF32 on (since 2.4)."""
    frameworks = doctor[2]["frameworks"]
    assert frameworks["torch"]["tf32"] == {"cudnn.allow_tf32": True, "cuda.matmul.allow_tf32": False}
    assert frameworks["keras"]["tf32"] == {"tensor_float_32_execution": True}
    assert frameworks["paddle"]["tf32"] == read_in_its_own_process(
        "import paddle; {'cublas_switch': paddle.base.core.get_cublas_switch(), "
        "'cudnn_switch': paddle.base.core.get_cudnn_switch()}")


def test_doctor_lists_onnx_tools_and_onnxruntime_providers(doctor):
    import onnxruntime

    _, stdout, report = doctor
    assert report["onnxruntime_providers"] == onnxruntime.get_available_providers()
    for package in ("onnxscript", "tf2onnx", "paddle2onnx", "onnxruntime"):
        assert report["packages"][package] == importlib.metadata.version(package)
        assert re.search(rf"^{package} +{re.escape(report['packages'][package])} ", stdout, re.M), stdout


@pytest.mark.skipif(HAS_GPU, reason="checks the report on a machine without a GPU")
def test_doctor_without_a_gpu_says_none_and_what_to_install(doctor):
    _, stdout, report = doctor
    assert not report["gpu_proof_ready"] and report["machine_gpus"] == []
    for name, framework in report["frameworks"].items():
        assert framework["devices"] == [] and not framework["gpu_proof"]
        assert re.search(rf"^{name} .* none ", stdout, re.M), stdout
    assert "GPUs listed by nvidia-smi: none" in stdout
    text = " ".join(stdout.split())
    if report["frameworks"]["paddle"]["cuda"] is None:  # the CPU-only paddle of `.[paddle]`
        assert "note: paddle: CPU-only build" in text
        assert "pip install paddlepaddle-gpu==3.3.1 -i https://www.paddlepaddle.org.cn/packages/stable/cu126/" in text
    if not _installed("nvidia-cudnn-cu12"):  # TensorFlow's CUDA libraries come with its and-cuda extra
        assert "pip install 'tensorflow[and-cuda]==2.21.*'" in text


def test_doctor_table_keeps_every_number_whole_at_80_columns(doctor):
    _, stdout, report = doctor
    assert max(map(len, stdout.splitlines())) <= 80
    numbers = [*report["frameworks"]["torch"]["versions"].values(), *report["frameworks"]["keras"]["versions"].values(),
               *report["frameworks"]["paddle"]["versions"].values(),
               *(report["packages"][p] for p in ("onnxscript", "tf2onnx", "paddle2onnx", "onnxruntime"))]
    for number in numbers:
        assert re.search(rf"(^|\s){re.escape(number)}(\s|$)", stdout, re.M), number


def probe(framework: str, cuda: str | None = "12.6", devices: tuple[str, ...] = (A100,), **fields) -> FrameworkProbe:
    versions = {"torch": {"torch": "2.14.1+cu126"}, "keras": {"tensorflow": "2.21.0", "keras": "3.15.1"},
                "paddle": {"paddle": "3.3.1"}}[framework]
    return FrameworkProbe(framework, versions=versions, cuda=cuda, cudnn="9.5.1" if cuda else None,
                          devices=devices if cuda else (), **fields)


def environment(frameworks: dict[str, FrameworkProbe] | None = None, gpus: tuple[str, ...] = (f"GPU 0: {A100}",),
                **packages: str | None) -> Environment:
    installed = {"onnx": "1.17.0", "onnxruntime": "1.31.1", "onnxscript": "0.7.2", "tf2onnx": "1.17.0",
                 "paddle2onnx": "2.1.0", "nvidia-cudnn-cu12": "9.5.1.17", **packages}
    frameworks = frameworks or {name: probe(name) for name in ("torch", "keras", "paddle")}
    return Environment(frameworks, {k.replace("_", "-"): v for k, v in installed.items()}, ("CPUExecutionProvider",), gpus)


def test_a_full_gpu_environment_has_nothing_to_fix():
    env = environment()
    assert env.cpu_proof_ready and env.gpu_proof_ready
    assert [f for f in diagnose(env) if f.severity != "note"] == []


def test_cpu_only_paddle_beside_a_gpu_is_a_warning_with_the_install_command():
    env = environment({"torch": probe("torch"), "keras": probe("keras"), "paddle": probe("paddle", cuda=None)})
    assert env.cpu_proof_ready and not env.gpu_proof_ready
    [finding] = [f for f in diagnose(env) if f.severity == "warning"]
    assert finding.problem.startswith("paddle: CPU-only build") and "GPU is present" in finding.problem
    assert "paddlepaddle-gpu==3.3.1 -i https://www.paddlepaddle.org.cn/packages/stable/cu126/" in finding.fix
    blockers = {name: fw["gpu_proof_blocker"] for name, fw in env.as_dict()["frameworks"].items()}
    assert blockers == {"torch": "", "keras": "", "paddle": "CPU-only build"}


def test_injected_gpu_report_fits_80_columns_without_cutting_numbers():
    env = environment({"torch": probe("torch"), "keras": probe("keras", devices=()), "paddle": probe("paddle", cuda=None)},
                      onnxscript="0.5.6", nvidia_cudnn_cu12=None)
    console = Console(width=80, record=True, file=open(os.devnull, "w"))
    print_report(env, diagnose(env), console)
    text = console.export_text()
    assert max(map(len, text.splitlines())) <= 80
    for number in ("2.14.1+cu126", "2.21.0", "3.15.1", "3.3.1", "0.5.6", "1.31.1", "A100-SXM4-80GB", "9.5.1"):
        assert re.search(rf"(^|\s){re.escape(number)}(\s|$)", text, re.M), (number, text)
    assert re.search(r"^torch .*\byes\b", text, re.M) and re.search(r"^paddle .*\bno:", text, re.M), text
    assert "pip install 'tensorflow[and-cuda]==2.21.*'" in text  # a command, not rich markup


@pytest.mark.parametrize("version, flagged", [("0.5.6", True), ("0.5.7", False), ("0.10.0", False), ("0.4.12", True)])
def test_onnxscript_before_0_5_7_is_flagged(version, flagged):
    problems = [f.problem for f in diagnose(environment(onnxscript=version)) if "onnxscript" in f.problem]
    assert bool(problems) == flagged, problems


@pytest.mark.parametrize("first, second, files", [
    ("nvidia-cudnn-cu12", "nvidia-cudnn-cu13", "nvidia/cudnn/lib"),
    ("paddlepaddle", "paddlepaddle-gpu", "paddle/"),
    ("onnxruntime", "onnxruntime-gpu", "onnxruntime/"),
])
def test_distributions_that_overwrite_each_other_are_flagged(first, second, files):
    both = [f for f in diagnose(environment(**{first: "1.0", second: "1.0"})) if files in f.problem]
    assert len(both) == 1 and both[0].severity == "warning"
    assert not [f for f in diagnose(environment(**{first: "1.0", second: None})) if files in f.problem]


def test_missing_framework_blocks_the_cpu_proof_and_exits_1(monkeypatch, capsys):
    missing = FrameworkProbe("paddle", "missing", "paddle: the framework is not installed (No module named 'paddle'); "
                                                  "install it with: pip install 'crosscheck[paddle]'")
    env = environment({"torch": probe("torch"), "keras": probe("keras"), "paddle": missing})
    monkeypatch.setattr(command, "collect", lambda timeout, check_import_order: env)
    assert main(["doctor"]) == command.EXIT_CPU_PROOF_BLOCKED
    out = " ".join(capsys.readouterr().out.split())
    assert "error: paddle: the framework is not installed" in out and "pip install 'crosscheck[paddle]'" in out
    monkeypatch.setattr(command, "collect", lambda timeout, check_import_order: environment())
    assert main(["doctor", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["gpu_proof_ready"] is True


def test_a_missing_keras_engine_is_a_note_that_leaves_the_cpu_proof_ready():
    """keras_jax joins a run only when named, so without jax the default proof still runs: a note names the extra."""
    missing = FrameworkProbe("keras_jax", "missing", "keras_jax: the framework is not installed (No module named 'jax'); "
                                                     "install it with: pip install 'crosscheck[jax]'")
    env = environment({"torch": probe("torch"), "keras": probe("keras"), "paddle": probe("paddle"), "keras_jax": missing})
    assert env.cpu_proof_ready
    [finding] = [f for f in diagnose(env) if f.problem.startswith("keras_jax")]
    assert finding.severity == "note" and "pip install 'crosscheck[jax]'" in finding.fix


def test_tensorflows_onednn_is_named_with_its_switch_only_while_it_is_on():
    """Keras on TensorFlow trains further from float64 with oneDNN on (docs/train-step.md); TF_ENABLE_ONEDNN_OPTS=0."""
    def float32_notes(onednn: bool) -> list:
        keras = probe("keras", tf32={"tensor_float_32_execution": False}, cpu_switches={"onednn_opts": onednn})
        env = environment({"torch": probe("torch"), "keras": keras, "paddle": probe("paddle")})
        return [f for f in diagnose(env) if "float32 training gradients" in f.problem]

    [finding] = float32_notes(onednn=True)
    assert finding.severity == "note" and finding.problem.startswith("keras:") and "TF_ENABLE_ONEDNN_OPTS=0" in finding.fix
    assert float32_notes(onednn=False) == []


def test_a_framework_that_does_not_import_is_probed_as_missing():
    def factory(framework):
        return FrameworkWorker(framework, command=[sys.executable, "-c", TORCH_NOT_INSTALLED], timeout=300)

    torch = probe_frameworks(["torch"], factory=factory)["torch"]
    assert torch.status == "missing" and "crosscheck[torch]" in torch.error
    assert torch.gpu_proof_blocker == "not installed"


def test_device_check_names_each_framework_without_a_cuda_device():
    probes = {"torch": probe("torch"), "keras": probe("keras", devices=()), "paddle": probe("paddle", cuda=None)}
    with pytest.raises(DeviceUnavailable) as error:
        require_device("cuda", list(probes), probe=lambda frameworks, timeout: probes)
    message = str(error.value)
    assert "torch" not in message and "keras (CUDA 12.6 build, sees no device)" in message
    assert "paddle (CPU-only build)" in message and "crosscheck doctor" in message and "\n" not in message
    require_device("cuda", ["torch"], probe=lambda frameworks, timeout: {"torch": probes["torch"]})


def test_device_check_probes_nothing_unless_cuda_is_asked_for():
    def no_probe(frameworks, timeout):
        raise AssertionError("probed")

    require_device("auto", ["torch"], probe=no_probe)
    require_device("cpu", ["torch"], probe=no_probe)


@pytest.mark.skipif(HAS_GPU, reason="checks the behaviour on a machine without a GPU")
def test_run_device_cuda_without_a_gpu_is_one_error_line_and_exit_2(capsys, tmp_path):
    report = tmp_path / "report.json"
    assert main(["run", "--device", "cuda", "--frameworks", "torch", "--onnx", "--models", "resnet18", "--json",
                 str(report)]) == 2
    captured = capsys.readouterr()
    error = " ".join(captured.err.split())
    assert error.startswith("crosscheck run: error: --device cuda: no CUDA device for torch (")
    assert "crosscheck doctor" in error and "Traceback" not in error and error.count("error:") == 1
    assert captured.out == "" and not report.exists()  # no tables, no report: nothing ran


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="needs a CUDA device")
def test_doctor_on_a_gpu_machine_sees_it_in_every_framework(doctor):
    code, _, report = doctor
    assert code == 0 and report["machine_gpus"]
    for name, framework in report["frameworks"].items():
        assert framework["devices"] and framework["gpu_proof"], (name, framework)


def _installed(name: str) -> bool:
    try:
        importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def test_docs_gpu_install_is_the_doctors_advice_and_the_gpu_extra():
    """The GPU install commands of docs/doctor.md, the doctor's fixes and pyproject's extras say the same thing."""
    import tomllib
    from pathlib import Path

    from crosscheck import backends

    GPU_INSTALL = {name: backend.gpu_install for name, backend in backends.records().items()}
    root = Path(__file__).resolve().parents[2]
    guide = root.joinpath("docs", "doctor.md").read_text()
    extras = tomllib.loads(root.joinpath("pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert GPU_INSTALL["torch"] + "\n" in guide
    assert GPU_INSTALL["paddle"].split(" && ")[1] + "\n" in guide
    assert "tensorflow[and-cuda]==2.21.*" in extras["gpu"] and GPU_INSTALL["keras"] == "pip install 'tensorflow[and-cuda]==2.21.*'"
    # [gpu] must not pull a CPU-only paddle or PyPI's CUDA 13 torch; [all] stays the CPU quickstart
    assert not [r for r in extras["gpu"] if r.startswith(("paddle", "torch")) or "paddle," in r or "torch," in r]
    assert extras["all"] == ["crosscheck[torch,keras,paddle,onnx]"] and extras["paddle"] == ["paddlepaddle==3.3.1"]


def test_docs_state_tensorflows_cuda_ranges():
    """docs/doctor.md: TensorFlow's and-cuda extra takes CUDA 12 (>= 12.5, < 13) and cuDNN 9 (>= 9.3, < 10) wheels."""
    requires = [r for r in importlib.metadata.requires("tensorflow") or [] if 'extra == "and-cuda"' in r]
    assert any(r.startswith("nvidia-cuda-runtime-cu12<13.0,>=12.5") for r in requires), requires
    assert any(r.startswith("nvidia-cudnn-cu12<10.0,>=9.3") for r in requires), requires


@pytest.mark.parametrize("outcome, noted", [(None, "is known to segfault"), ("SIGSEGV", "ended with SIGSEGV"), ("ok", None)])
def test_tensorflow_then_paddle_is_noted_unless_it_was_tried_and_worked(outcome, noted):
    env = environment()
    env = Environment(env.frameworks, env.packages, env.providers, env.machine_gpus, outcome)
    problems = [f.problem for f in diagnose(env) if "paddle in one process" in f.problem or "tensorflow, paddle" in f.problem]
    assert [noted in p for p in problems] == ([True] if noted else [])


@pytest.mark.slow
def test_tensorflow_then_paddle_segfaults_with_the_pinned_versions():
    """README, paddle_impl and tests/conftest.py rely on it: TensorFlow 2.21 then Paddle 3.3 kills the process."""
    from crosscheck.doctor.environment import tensorflow_then_paddle

    assert tensorflow_then_paddle() == "SIGSEGV"

"""Known-bad combinations in an environment, each with the fix; a pure function of the probes.

Severity: "error" stops the CPU proof (`crosscheck run`), "warning" breaks the GPU proof or an ONNX
path on this machine, "note" is what to install before the GPU proof can run on a machine with a GPU.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from crosscheck import backends
from crosscheck.backends.paddle import PADDLE_GPU_INDEX
from crosscheck.doctor.environment import Environment
from crosscheck.framework_probe import FrameworkProbe

# the first onnxscript whose fusion of ResNet conv+BN (torch's dynamo exporter) is right; the same bound as
# crosscheck/backends/torch/onnx_export.py's MIN_ONNXSCRIPT, which cannot be imported here without importing torch.
MIN_ONNXSCRIPT = (0, 5, 7)
# Pairs of distributions that write the same files: the one installed last silently replaced the other's.
SAME_FILES = (
    ("paddlepaddle", "paddlepaddle-gpu", "paddle/",
     f"pip uninstall -y paddlepaddle paddlepaddle-gpu && pip install paddlepaddle-gpu==3.3.1 -i {PADDLE_GPU_INDEX}"),
    ("onnxruntime", "onnxruntime-gpu", "onnxruntime/",
     "pip uninstall -y onnxruntime onnxruntime-gpu && pip install onnxruntime==1.31.1 (crosscheck runs ONNX on the CPU)"),
    ("nvidia-cudnn-cu12", "nvidia-cudnn-cu13", "nvidia/cudnn/lib/libcudnn*.so.9",
     f"one CUDA major for all three: torch's CUDA 12 wheel ({backends.get('torch').gpu_install})"),
    ("nvidia-nccl-cu12", "nvidia-nccl-cu13", "nvidia/nccl/lib/libnccl.so.2",
     f"one CUDA major for all three: torch's CUDA 12 wheel ({backends.get('torch').gpu_install})"),
)


@dataclass(frozen=True)
class Finding:
    severity: str  # error | warning | note
    problem: str
    fix: str


def version_tuple(version: str) -> tuple[int, ...]:
    """'0.5.10.dev1' -> (0, 5, 10): numeric release parts, compared as numbers, not text."""
    release = re.match(r"\d+(\.\d+)*", version)
    return tuple(int(part) for part in release.group(0).split(".")) if release else ()


def diagnose(env: Environment) -> list[Finding]:
    """Every known-bad combination present in `env`, errors first."""
    found = [*_framework_findings(env), *_package_findings(env), *_import_order(env), *_float32_training(env)]
    order = {"error": 0, "warning": 1, "note": 2}
    return sorted(found, key=lambda finding: order[finding.severity])


def _framework_findings(env: Environment) -> list[Finding]:
    found = []
    for probe in env.frameworks.values():
        if probe.status == "missing":
            severity = "error" if probe.framework in backends.default_names() else "note"  # opt-in participants
            found.append(Finding(severity, probe.error.split("; install it with")[0],
                                 f"pip install 'crosscheck[{backends.get(probe.framework).extra}]' for the CPU proof; "
                                 f"for a GPU: {backends.get(probe.framework).gpu_install}"))
        elif probe.status == "failed":
            found.append(Finding("error", f"{probe.framework}: the worker failed to answer the probe: {probe.error}",
                                 "the same probe outside a worker shows the whole traceback: python -c \"from "
                                 f"crosscheck.backends.{probe.framework}.probe import probe; print(probe())\""))
        elif (advice := _gpu_advice(probe, env)) is not None:
            found.append(advice)
    return found


def _gpu_advice(probe: FrameworkProbe, env: Environment) -> Finding | None:
    """What to install when this framework could not use a GPU (a warning when the machine has one)."""
    severity = "warning" if env.gpu_present else "note"
    if probe.cuda is None:
        return Finding(severity, f"{probe.framework}: CPU-only build ({_versions(probe)})"
                                 + (", while a GPU is present" if env.gpu_present else ""), backends.get(probe.framework).gpu_install)
    if probe.framework == "keras" and not probe.devices and env.packages.get("nvidia-cudnn-cu12") is None:
        return Finding(severity, f"keras: TensorFlow {probe.versions.get('tensorflow')} is a CUDA {probe.cuda} build, "
                                 "but its pip CUDA libraries (the and-cuda extra) are not installed", backends.get("keras").gpu_install)
    if env.gpu_present and not probe.devices:
        return Finding("warning", f"{probe.framework}: a GPU is present but this CUDA {probe.cuda} build sees none "
                                  "(driver too old for that CUDA, or CUDA_VISIBLE_DEVICES)",
                       "check `nvidia-smi` (driver's CUDA version >= the build's) and CUDA_VISIBLE_DEVICES")
    return None


def _package_findings(env: Environment) -> list[Finding]:
    found = []
    onnxscript = env.packages.get("onnxscript")
    wanted = ".".join(map(str, MIN_ONNXSCRIPT))
    if onnxscript is not None and version_tuple(onnxscript) < MIN_ONNXSCRIPT:
        found.append(Finding("warning", f"onnxscript {onnxscript} fuses ResNet conv+BN wrongly in torch's ONNX export "
                                        "(crosscheck export refuses it)", f"pip install 'onnxscript>={wanted}'"))
    tools = ("onnx", "onnxruntime", *(backend.exporter for backend in backends.records().values()))
    absent = [name for name in tools if env.packages.get(name) is None]
    if absent:
        found.append(Finding("note", f"ONNX tools missing ({', '.join(absent)}): no `crosscheck export` or `run --onnx`",
                             "pip install -e '.[onnx]'"))
    for first, second, files, fix in SAME_FILES:
        if env.packages.get(first) is not None and env.packages.get(second) is not None:
            found.append(Finding("warning", f"{first} {env.packages[first]} and {second} {env.packages[second]} both "
                                            f"install {files}: the one installed last overwrote the other's", fix))
    return found


def _import_order(env: Environment) -> list[Finding]:
    """TensorFlow then Paddle in one process: a crash when tried (--check-import-order), else the known risk."""
    keras, paddle = env.frameworks.get("keras"), env.frameworks.get("paddle")
    if keras is None or paddle is None or keras.status != "ok" or paddle.status != "ok" or env.import_order == "ok":
        return []
    versions = f"TensorFlow {keras.versions.get('tensorflow')}, paddle {paddle.versions.get('paddle')}"
    if env.import_order is None:
        problem = (f"importing tensorflow before paddle in one process is known to segfault inside libpaddle "
                   f"({versions}; `crosscheck doctor --check-import-order` tries it)")
    else:
        problem = f"`import tensorflow, paddle` in one process ended with {env.import_order} here ({versions})"
    return [Finding("note", problem + "; crosscheck's workers keep them in separate processes",
                    "in your own scripts import paddle first (paddle_impl refuses the other order with an ImportError)")]


def _float32_training(env: Environment) -> list[Finding]:
    """Where a participant's float32 training gradients drift from float64 (train-step measures it), with the switch:
    named for TensorFlow while its oneDNN kernels are on, and for Keras' other engines when installed."""
    found = []
    for probe in env.frameworks.values():
        note = backends.get(probe.framework).float32_training
        if probe.status == "ok" and note and probe.cpu_switches.get("onednn_opts", True):
            found.append(Finding("note", f"{probe.framework}: float32 training gradients are further from float64 than "
                                         "torch's", note))
    return found


def _versions(probe: FrameworkProbe) -> str:
    return ", ".join(f"{name} {version}" for name, version in probe.versions.items())

"""The match matrix: same calibrated weights and inputs in every framework, every pair compared.

The main process never imports a framework. Each framework runs in its own worker process
(imported once, reused for every model); workers run concurrently, stage by stage, and arrays
travel through files in a temporary directory.
"""

from __future__ import annotations

import importlib.util
import itertools
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from crosscheck import calibration, canonical
from crosscheck import spec as specs
from crosscheck.export import DEFAULT_OPSET, export_in_worker, onnx_tools, participant
from crosscheck.metrics import DEFAULT_RTOL, TF32_RTOL, Agreement, agreement, rel_l2
from crosscheck.workers import DEFAULT_TIMEOUT, FrameworkWorker, WorkerCrashed, WorkerError

DEFAULT_MODELS = ("resnet18", "resnet50", "resnet50_v1", "resnet50v2")

WorkerFactory = Callable[[str], FrameworkWorker]
Progress = Callable[[str, str], None]  # (framework, what just finished)


@dataclass(frozen=True)
class RunConfig:
    models: Sequence[str] = DEFAULT_MODELS
    frameworks: Sequence[str] = specs.FRAMEWORKS
    batch: int = 2
    seed: int = 0
    device: str = "auto"
    rtol: float | None = None  # None: DEFAULT_RTOL, or TF32_RTOL when TF32 is allowed
    allow_tf32: bool = False
    timeout: float = DEFAULT_TIMEOUT
    onnx: bool = False  # also export each model from each framework and run the exports in onnxruntime

    def validate(self) -> None:
        """Raise ValueError for anything the run could only fail on later."""
        for model_id in self.models:
            specs.get(model_id)
        for framework in self.frameworks:
            specs.check_framework(framework)
        if not self.models or not self.frameworks:
            raise ValueError("at least one model and one framework are needed")
        if len(set(self.frameworks)) != len(self.frameworks):
            raise ValueError(f"frameworks listed twice: {', '.join(self.frameworks)}")
        if isinstance(self.batch, bool) or self.batch < 1:
            raise ValueError(f"batch must be >= 1, got {self.batch}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device must be auto, cpu or cuda, got {self.device!r}")
        if self.rtol is not None and not self.rtol > 0:
            raise ValueError(f"rtol must be > 0, got {self.rtol}")
        if self.onnx and importlib.util.find_spec("onnxruntime") is None:
            raise ValueError("--onnx needs onnx and onnxruntime: pip install 'crosscheck[onnx]'")

    @property
    def gate(self) -> float:
        return self.rtol if self.rtol is not None else (TF32_RTOL if self.allow_tf32 else DEFAULT_RTOL)

    @property
    def participants(self) -> list[str]:
        """Everything compared pairwise: the frameworks, then (with onnx) their exports, e.g. 'torch-onnx'."""
        return [*self.frameworks, *([participant(fw) for fw in self.frameworks] if self.onnx else [])]


@dataclass
class PairResult:
    model_id: str
    a: str
    b: str
    agreement: Agreement
    passed: bool
    first_divergence: str | None = None  # first block whose error exceeds the gate, when the pair fails


@dataclass
class ModelResult:
    model_id: str
    pairs: list[PairResult] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)  # framework -> what went wrong

    @property
    def passed(self) -> bool:
        return not self.errors and all(pair.passed for pair in self.pairs)


@dataclass
class RunReport:
    config: RunConfig
    settings: dict[str, dict[str, str]] = field(default_factory=dict)  # framework -> numeric settings
    framework_errors: dict[str, str] = field(default_factory=dict)
    stage_seconds: dict[str, float] = field(default_factory=dict)  # consecutive stages: they add up
    overlapped_seconds: dict[str, float] = field(default_factory=dict)  # work inside a stage, for benchmarks
    results: list[ModelResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.framework_errors and bool(self.results) and all(r.passed for r in self.results)

    def as_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "gate": {"metric": "relative L2 error", "rtol": self.config.gate},
            "config": {k: list(v) if isinstance(v, tuple) else v for k, v in vars(self.config).items()},
            "spec_version": specs.SPEC_VERSION,
            "settings": self.settings,
            "framework_errors": self.framework_errors,
            "stage_seconds": self.stage_seconds,
            "overlapped_seconds": self.overlapped_seconds,
            "models": [
                {
                    "model_id": r.model_id,
                    "passed": r.passed,
                    "errors": r.errors,
                    "pairs": [
                        {"a": p.a, "b": p.b, "passed": p.passed, "first_divergence": p.first_divergence,
                         **p.agreement.as_dict()}
                        for p in r.pairs
                    ],
                }
                for r in self.results
            ],
        }


class MatrixRun:
    """One `crosscheck run`: owns the workers and the temp directory for its whole life."""

    def __init__(self, config: RunConfig, progress: Progress | None = None,
                 worker_factory: WorkerFactory | None = None) -> None:
        config.validate()
        self.config = config
        self.progress = progress or (lambda framework, what: None)
        self.worker_factory = worker_factory or (lambda fw: FrameworkWorker(fw, timeout=config.timeout))
        self.report = RunReport(config)
        self.workers: dict[str, FrameworkWorker] = {}
        self.results = {model_id: ModelResult(model_id) for model_id in config.models}
        self.digests: dict[str, str] = {}  # model id -> sha256 of its canonical weights, for ONNX metadata

    def run(self) -> RunReport:
        with tempfile.TemporaryDirectory(prefix="crosscheck-") as tmp:
            self.tmp = Path(tmp)
            try:
                self._stage("start workers + weights", self._start_workers_and_make_weights)
                self._stage("transfer", lambda: self._each_framework(self._load))
                self._stage("forward", lambda: self._each_framework(self._forward))
                if self.config.onnx:
                    self._stage("onnx", lambda: self._each_framework(self._onnx))
                self._stage("compare", self._compare)
            finally:
                for worker in self.workers.values():
                    worker.close()
        self.report.results = list(self.results.values())
        return self.report

    def _stage(self, name: str, work: Callable[[], None]) -> None:
        started = time.perf_counter()
        work()
        self.report.stage_seconds[name] = round(time.perf_counter() - started, 3)

    def _start_workers_and_make_weights(self) -> None:
        """Start every worker, make the weights while they import their frameworks, then configure them."""
        for framework in self.config.frameworks:
            self.workers[framework] = self.worker_factory(framework)
        started = time.perf_counter()
        self._make_weights()
        self.report.overlapped_seconds["weights (while workers import)"] = round(time.perf_counter() - started, 3)

        def configure(framework: str) -> None:
            reply = self.workers[framework].request("configure", device=self.config.device,
                                                    allow_tf32=self.config.allow_tf32)
            self.report.settings[framework] = reply["result"]["settings"]
            if self.workers[framework].import_seconds is not None:
                self.report.overlapped_seconds[f"import {framework}"] = round(self.workers[framework].import_seconds, 3)
            self.progress(framework, "ready")

        self._each_framework(configure, per_model=False)

    def _make_weights(self) -> None:
        for model_id in self.config.models:
            np.save(self.input_path(model_id), calibration.sample_input(self.config.batch, self.config.seed,
                                                                        specs.get(model_id).input_size))
            arrays = calibration.calibrated_weights(model_id, self.config.seed)
            if self.config.onnx:
                self.digests[model_id] = canonical.digest(specs.get(model_id), arrays)
            canonical.save(self.weights_path(model_id), model_id, arrays,
                           {"source": "crosscheck.calibration", "seed": str(self.config.seed)})
            self.progress("", f"weights {model_id}")

    def _load(self, framework: str, model_id: str) -> None:
        self.workers[framework].request("load", model_id=model_id, weights=self.weights_path(model_id))
        self.progress(framework, f"loaded {model_id}")

    def _forward(self, framework: str, model_id: str) -> None:
        self.workers[framework].request("forward", model_id=model_id, input=self.input_path(model_id),
                                        output=self.output_path(framework, model_id))
        self.progress(framework, f"ran {model_id}")

    def _onnx(self, framework: str, model_id: str) -> None:
        """Export the loaded model with the framework's exporter, then run the export in onnxruntime here."""
        name = participant(framework)
        path = self.tmp / f"{name}-{model_id}.onnx"
        try:
            export_in_worker(self.workers[framework], specs.get(model_id), self.digests[model_id], path,
                             DEFAULT_OPSET, "nchw")
            logits = onnx_tools().run(onnx_tools().session(path), np.load(self.input_path(model_id)))
            np.save(self.output_path(name, model_id), logits)
        except WorkerCrashed:
            raise
        except (WorkerError, ValueError) as error:  # this export failed; the native model's results stand
            self.results[model_id].errors[name] = str(error)
        self.progress(framework, f"exported {model_id}")

    def _each_framework(self, work: Callable[..., None], per_model: bool = True) -> None:
        """Run `work` for every live framework concurrently (models in order within one framework)."""

        def drive(framework: str) -> None:
            for model_id in self.config.models if per_model else [None]:
                if model_id is not None and framework in self.report.framework_errors:
                    self.results[model_id].errors.setdefault(framework, f"{framework} worker is not running")
                    continue
                if model_id is not None and framework in self.results[model_id].errors:
                    continue  # an earlier step of this model failed in this framework
                try:
                    work(framework, model_id) if per_model else work(framework)
                except WorkerCrashed as error:
                    self._framework_failed(framework, error)
                    if model_id is not None:
                        self.results[model_id].errors[framework] = str(error)
                except WorkerError as error:
                    if model_id is None:
                        self._framework_failed(framework, error)
                    else:
                        self.results[model_id].errors[framework] = str(error)

        live = [fw for fw in self.config.frameworks if fw not in self.report.framework_errors]
        with ThreadPoolExecutor(max_workers=len(live) or 1) as pool:
            list(pool.map(drive, live))

    def _framework_failed(self, framework: str, error: WorkerError) -> None:
        tail = f"\n{error.detail}" if error.detail else ""
        self.report.framework_errors[framework] = f"{error}{tail}"
        self.progress(framework, "failed")

    def _compare(self) -> None:
        for model_id, result in self.results.items():
            live = [p for p in self.config.participants
                    if p not in result.errors and self.output_path(p, model_id).exists()]
            outputs = {fw: np.load(self.output_path(fw, model_id)) for fw in live}
            for a, b in itertools.combinations(live, 2):
                measured = agreement(outputs[b], outputs[a])
                pair = PairResult(model_id, a, b, measured, measured.passes(self.config.gate))
                if not pair.passed:
                    pair.first_divergence = self._first_divergence(model_id, a, b)
                result.pairs.append(pair)

    def _first_divergence(self, model_id: str, a: str, b: str) -> str | None:
        """Localise a failing pair: the first block (in forward order) whose output differs beyond the gate."""
        if a not in self.workers or b not in self.workers:
            return None  # an ONNX export has no block outputs
        try:
            blocks = {fw: self._block_outputs(fw, model_id) for fw in (a, b)}
        except WorkerError:
            return None
        return first_divergence(blocks[a], blocks[b], self.config.gate)

    def _block_outputs(self, framework: str, model_id: str) -> dict[str, np.ndarray]:
        path = self.tmp / f"{framework}-{model_id}-blocks.npz"
        self.workers[framework].request("block_outputs", model_id=model_id, input=self.input_path(model_id), output=path)
        with np.load(path) as archive:
            return dict(archive)

    def input_path(self, model_id: str) -> Path:
        """The input batch at the model's own input size (224, or 32 for the CIFAR ids), one file per size."""
        return self.tmp / f"input-{specs.get(model_id).input_size}.npy"

    def weights_path(self, model_id: str) -> Path:
        return self.tmp / f"{model_id}.safetensors"

    def output_path(self, framework: str, model_id: str) -> Path:
        return self.tmp / f"{framework}-{model_id}.npy"


def first_divergence(reference: dict[str, np.ndarray], candidate: dict[str, np.ndarray], rtol: float) -> str | None:
    """Name of the first shared capture point whose relative L2 error exceeds `rtol`."""
    for name, expected in reference.items():
        if name in candidate and (expected.shape != candidate[name].shape or rel_l2(candidate[name], expected) > rtol):
            return name
    return None


def run(config: RunConfig, progress: Progress | None = None) -> RunReport:
    return MatrixRun(config, progress).run()

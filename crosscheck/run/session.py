"""The match matrix: same weights and inputs in every framework, every pair compared in two precisions.

Every framework runs every model twice, in float64 and in float32. The float64 outputs prove the
frameworks compute the same function (FLOAT64_RTOL); each float32 output is then measured against its
framework's float64 truth, and every such distance and every float32 pair is judged by a gate set by
the model's most accurate float32 run (`metrics.float32_gate`), so a framework with a float32 defect is
named as the outlier instead of loosening its own gate. ONNX exports run in float32 in onnxruntime and
are judged against their source framework's float64 truth the same way.

The main process never imports a framework. Each framework runs in its own worker process
(imported once, reused for every model), started before the weights are made here. Each worker then
goes through the models at its own pace, never waiting for a slower one: it builds and loads a model
once, in float32, runs it, casts it to float64 in place (Keras: rebuilt, weights copied in memory),
runs it again and releases it, so a run of every id needs the memory of its largest model, not of
all. Arrays travel through files in a temporary directory, one weights file per model. The pairs are
compared once every worker is done.
"""

from __future__ import annotations

import importlib.util
import itertools
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from crosscheck import backends
from crosscheck import calibration
from crosscheck.checkpoints import canonical
from crosscheck import spec as specs
from crosscheck.onnx_export import DEFAULT_OPSET, export_in_worker, onnx_tools, participant
from crosscheck.metrics import (FLOAT32_MIN_RTOL, FLOAT32_ROUNDING_FACTOR, FLOAT64_RTOL, TF32_RTOL, Agreement,
                                agreement, float32_gate, rel_l2)
from crosscheck.worker.client import DEFAULT_TIMEOUT, WorkerCrashed, WorkerError, WorkerFactory, worker_session

DEFAULT_MODELS = ("resnet18", "resnet50", "resnet50_v1", "resnet50v2")

Progress = Callable[[str, str], None]  # (framework, what just finished)


@dataclass(frozen=True)
class RunConfig:
    models: Sequence[str] = DEFAULT_MODELS
    frameworks: Sequence[str] = backends.default_names()
    batch: int = 2
    seed: int = 0
    device: str = "auto"
    weights: str = "calibrated"  # calibration.WEIGHT_KINDS
    float64_rtol: float = FLOAT64_RTOL
    rtol: float | None = None  # float32 gate; None: metrics.float32_gate of each model's most accurate run
    allow_tf32: bool = False
    timeout: float = DEFAULT_TIMEOUT
    onnx: bool = False  # also export each model from each framework and run the exports in onnxruntime

    def validate(self) -> None:
        """Raise ValueError for anything the run could only fail on later."""
        for model_id in self.models:
            specs.get(model_id)
        for framework in self.frameworks:
            backends.check(framework)
        if not self.models or not self.frameworks:
            raise ValueError("at least one model and one framework are needed")
        if len(self.frameworks) == 1 and not self.onnx:
            raise ValueError(f"nothing to compare: one framework ({self.frameworks[0]}) and no --onnx; list two or "
                             f"more frameworks, or add --onnx to compare {self.frameworks[0]} with its ONNX export")
        if len(set(self.frameworks)) != len(self.frameworks):
            raise ValueError(f"frameworks listed twice: {', '.join(self.frameworks)}")
        if isinstance(self.batch, bool) or self.batch < 1:
            raise ValueError(f"batch must be >= 1, got {self.batch}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device must be auto, cpu or cuda, got {self.device!r}")
        if self.rtol is not None and not self.rtol > 0:
            raise ValueError(f"rtol must be > 0, got {self.rtol}")
        if not self.float64_rtol > 0:
            raise ValueError(f"float64 rtol must be > 0, got {self.float64_rtol}")
        if self.weights not in calibration.WEIGHT_KINDS:
            raise ValueError(f"weights must be one of {', '.join(calibration.WEIGHT_KINDS)}, got {self.weights!r}")
        if self.onnx and importlib.util.find_spec("onnxruntime") is None:
            raise ValueError("--onnx needs onnx and onnxruntime: pip install 'crosscheck[onnx]'")

    def float32_gate(self, distances_from_float64: Sequence[float]) -> float | None:
        """The float32 gate of one model: --rtol if given, else anchored on its most accurate float32 run (None: a
        single run, nothing to judge it by)."""
        if self.rtol is not None:
            return self.rtol
        return float32_gate(distances_from_float64, TF32_RTOL if self.allow_tf32 else FLOAT32_MIN_RTOL)

    @property
    def participants(self) -> list[str]:
        """Everything compared pairwise: the frameworks, then (with onnx) their exports, e.g. 'torch-onnx'."""
        return [*self.frameworks, *([participant(fw) for fw in self.frameworks] if self.onnx else [])]


@dataclass
class PairResult:
    model_id: str
    a: str
    b: str
    float64: Agreement | None  # None when a side is an ONNX export (onnxruntime runs float32 only)
    float32: Agreement
    float64_passed: bool
    float32_passed: bool
    diverging_block: str | None = None  # first block whose float64 error exceeds the gate, when float64 fails
    block_capture_error: str | None = None  # why the blocks could not be captured, when that failed

    @property
    def passed(self) -> bool:
        return self.float64_passed and self.float32_passed


@dataclass
class ModelResult:
    model_id: str
    pairs: list[PairResult] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)  # framework -> what went wrong
    float32_distance: dict[str, float] = field(default_factory=dict)  # participant -> rel L2 from float64 truth
    float32_gate: float | None = None  # None: fewer than two float32 runs, so float32 is reported, not judged

    @property
    def float32_anchor(self) -> str | None:
        """The participant whose float32 run is closest to the float64 truth: the one the gate is scaled to."""
        finite = {name: d for name, d in self.float32_distance.items() if np.isfinite(d)}
        return min(finite, key=finite.__getitem__) if finite else None

    @property
    def float32_outliers(self) -> list[str]:
        """Participants whose float32 output is further from the float64 truth than the float32 gate (or not finite)."""
        gate = np.inf if self.float32_gate is None else self.float32_gate
        return [name for name, d in self.float32_distance.items() if not d <= gate]

    @property
    def passed(self) -> bool:
        return not self.errors and not self.float32_outliers and all(pair.passed for pair in self.pairs)


@dataclass
class RunReport:
    config: RunConfig
    settings: dict[str, dict[str, str]] = field(default_factory=dict)  # framework -> numeric settings
    framework_errors: dict[str, str] = field(default_factory=dict)
    stage_seconds: dict[str, float] = field(default_factory=dict)  # consecutive stages: they add up
    overlapped_seconds: dict[str, float] = field(default_factory=dict)  # "stage framework": wall, summed over models
    cpu_seconds: dict[str, float] = field(default_factory=dict)  # the same stages' CPU time (a worker's: every thread)
    results: list[ModelResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.framework_errors and bool(self.results) and all(r.passed for r in self.results)

    def as_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "gate": {
                "metric": "relative L2 error",
                "float64_rtol": self.config.float64_rtol,
                "float32_rtol": self.config.rtol if self.config.rtol is not None else "per model",
                "float32_rule": "max(minimum, factor x the smallest float32-vs-float64 distance among the model's "
                                "runs, ONNX exports included); a single run is reported, not judged",
                "float32_factor": FLOAT32_ROUNDING_FACTOR,
                "float32_minimum": TF32_RTOL if self.config.allow_tf32 else FLOAT32_MIN_RTOL,
            },
            "config": {k: list(v) if isinstance(v, tuple) else v for k, v in vars(self.config).items()},
            "spec_version": specs.SPEC_VERSION,
            "settings": self.settings,
            "framework_errors": self.framework_errors,
            "stage_seconds": self.stage_seconds,
            "overlapped_seconds": self.overlapped_seconds,
            "cpu_seconds": self.cpu_seconds,
            "models": [
                {
                    "model_id": r.model_id,
                    "passed": r.passed,
                    "errors": r.errors,
                    "float32_vs_float64_rel_l2": r.float32_distance,
                    "float32_gate": r.float32_gate,
                    "float32_anchor": r.float32_anchor,
                    "float32_outliers": r.float32_outliers,
                    "pairs": [_pair_dict(p) for p in r.pairs],
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
        self.worker_factory = worker_factory
        self.report = RunReport(config)
        self.results = {model_id: ModelResult(model_id) for model_id in config.models}
        self.digests: dict[str, str] = {}  # model id -> sha256 of its canonical weights, for ONNX metadata
        self.weights_made = {model_id: threading.Event() for model_id in config.models}
        self.timing = threading.Lock()  # the pipelines add to the same timing dicts

    def run(self) -> RunReport:
        with worker_session("run", self.config.timeout, self.config.device, self.config.allow_tf32,
                            self.worker_factory) as session:
            self.tmp, self.pool = session.tmp, session.pool
            self._stage("workers", self._pipelines)
            self._stage("compare", lambda: [self._compare(model_id) for model_id in self.config.models])
        self.report.results = list(self.results.values())
        return self.report

    def _pipelines(self) -> None:
        """Start every worker, make the weights here while they import, and let each worker go through the models
        at its own pace: a fast framework never waits for a slow one (the comparisons come after)."""
        self.pool.launch(self.config.frameworks)
        with ThreadPoolExecutor(max_workers=len(self.config.frameworks)) as threads:
            pipelines = [threads.submit(self._pipeline, framework) for framework in self.config.frameworks]
            try:
                self._timed("", "weights (while workers import)", self._make_weights)
            finally:
                for made in self.weights_made.values():  # a failure here must not leave a pipeline waiting
                    made.set()
            for pipeline in pipelines:
                pipeline.result()

    def _pipeline(self, framework: str) -> None:
        """One worker's whole run: configure, then every model in turn as soon as its weights exist."""
        self._guarded(framework, None, self._configure)
        for model_id in self.config.models:
            self.weights_made[model_id].wait()
            self._guarded(framework, model_id, self._run_model)
            self._guarded(framework, model_id, self._release, even_after_a_failure=True)

    def _configure(self, framework: str) -> None:
        worker = self.pool.workers[framework]
        self.report.settings[framework] = self.pool.configure(framework)["settings"]
        self._record(framework, "import", worker.import_seconds, worker.import_cpu_seconds)
        self.progress(framework, "ready")

    def _run_model(self, framework: str, model_id: str) -> None:
        """Build and load the model once in float32, run it (and export it), cast it to float64 and run it again."""
        self._request(framework, "build+load", "load", model_id=model_id, weights=self.weights_path(model_id),
                      dtype="float32")
        self.progress(framework, f"loaded {model_id}")
        self._forward(framework, model_id, "float32")
        if self.config.onnx:
            self._timed(framework, "onnx export + onnxruntime", lambda: self._onnx(framework, model_id))
        self._request(framework, "cast to float64", "cast", model_id=model_id, dtype="float64")
        self._forward(framework, model_id, "float64")
        self.progress(framework, f"ran {model_id}")

    def _forward(self, framework: str, model_id: str, dtype: str) -> None:
        self._request(framework, f"forward {dtype}", "forward", model_id=model_id, input=self.input_path(model_id),
                      dtype=dtype, output=self.output_path(framework, model_id, dtype))

    def _request(self, framework: str, stage: str, op: str, **arguments: Any) -> dict[str, Any]:
        """One request to `framework`'s worker, its wall and CPU time (as the worker measured them) added to `stage`."""
        reply = self.pool[framework].request(op, **arguments)
        self._record(framework, stage, reply.get("seconds"), reply.get("cpu_seconds"))
        return reply

    def _timed(self, framework: str, stage: str, work: Callable[[], None]) -> None:
        """Run `work` in this process, adding its wall and this thread's CPU time to `stage`."""
        started, cpu = time.perf_counter(), time.thread_time()
        try:
            work()
        finally:
            self._record(framework, stage, time.perf_counter() - started, time.thread_time() - cpu)

    def _record(self, framework: str, stage: str, seconds: float | None, cpu_seconds: float | None) -> None:
        """Add to the stage's totals over all models (wall in overlapped_seconds, CPU in cpu_seconds)."""
        name = f"{stage} {framework}".strip()
        with self.timing:
            for totals, value in ((self.report.overlapped_seconds, seconds), (self.report.cpu_seconds, cpu_seconds)):
                if value is not None:
                    totals[name] = round(totals.get(name, 0.0) + value, 3)

    def _stage(self, name: str, work: Callable[[], None]) -> None:
        """Run `work`, adding its wall time to the stage's total (the stages run one after another)."""
        started = time.perf_counter()
        work()
        elapsed = self.report.stage_seconds.get(name, 0.0) + time.perf_counter() - started
        self.report.stage_seconds[name] = round(elapsed, 3)

    def _make_weights(self) -> None:
        """Each model's input and weights files, written once per model (both precisions load the same file)."""
        for model_id in self.config.models:
            np.save(self.input_path(model_id), calibration.sample_input(self.config.batch, self.config.seed,
                                                                        specs.get(model_id).input_size))
            arrays = calibration.weights_of_kind(self.config.weights, model_id, self.config.seed)
            if self.config.onnx:
                self.digests[model_id] = canonical.digest(specs.get(model_id), arrays)
            canonical.save(self.weights_path(model_id), model_id, arrays,
                           {"source": f"crosscheck.calibration ({self.config.weights})", "seed": str(self.config.seed)})
            self.weights_made[model_id].set()
            self.progress("", f"weights {model_id}")

    def _release(self, framework: str, model_id: str) -> None:
        self.pool[framework].request("release", model_id=model_id)

    def _onnx(self, framework: str, model_id: str) -> None:
        """Export the loaded float32 model with the framework's exporter, then run the export in onnxruntime here."""
        name = participant(framework)
        path = self.tmp / f"{name}-{model_id}.onnx"
        try:
            export_in_worker(self.pool[framework], specs.get(model_id), self.digests[model_id], path,
                             DEFAULT_OPSET, "nchw")
            logits = onnx_tools().run(onnx_tools().session(path), np.load(self.input_path(model_id)))
            np.save(self.output_path(name, model_id, "float32"), logits)
        except WorkerCrashed:
            raise
        except (WorkerError, ValueError) as error:  # this export failed; the native model's results stand
            self.results[model_id].errors[name] = str(error)
        self.progress(framework, f"exported {model_id}")

    def _guarded(self, framework: str, model_id: str | None, work: Callable[..., None],
                 even_after_a_failure: bool = False) -> None:
        """Run `work(framework[, model_id])`, turning worker failures into the report's errors; for a model,
        frameworks where an earlier step of it failed are skipped unless `even_after_a_failure`. The first error per
        model is kept; a crashed or unavailable worker fails its framework for the rest of the run."""
        if model_id is not None and framework in self.report.framework_errors:
            self.results[model_id].errors.setdefault(framework, f"{framework} worker is not running")
            return
        if model_id is not None and framework in self.results[model_id].errors and not even_after_a_failure:
            return  # an earlier step of this model failed in this framework
        try:
            work(framework) if model_id is None else work(framework, model_id)
        except WorkerCrashed as error:
            self._framework_failed(framework, error)
            if model_id is not None:
                self.results[model_id].errors.setdefault(framework, str(error))
        except WorkerError as error:
            if model_id is None:
                self._framework_failed(framework, error)
            else:
                self.results[model_id].errors.setdefault(framework, str(error))

    def _framework_failed(self, framework: str, error: WorkerError) -> None:
        tail = f"\n{error.detail}" if error.detail else ""
        self.report.framework_errors[framework] = f"{error}{tail}"
        self.progress(framework, "failed")

    def _compare(self, model_id: str) -> None:
        result = self.results[model_id]
        live = [p for p in self.config.participants
                if p not in result.errors and self.output_path(p, model_id, "float32").exists()]
        float32 = {p: np.load(self.output_path(p, model_id, "float32")) for p in live}
        float64 = {p: np.load(self.output_path(p, model_id, "float64")) for p in live if p in self.pool.workers}
        # each float32 output against its own framework's float64 truth (an export against its source's)
        result.float32_distance = {p: rel_l2(float32[p], float64[p.removesuffix("-onnx")]) for p in live}
        result.float32_gate = self.config.float32_gate(list(result.float32_distance.values()))
        for a, b in itertools.combinations(live, 2):
            exact = agreement(float64[b], float64[a]) if a in float64 and b in float64 else None
            rounded = agreement(float32[b], float32[a])
            pair = PairResult(model_id, a, b, exact, rounded,
                              exact is None or exact.passes(self.config.float64_rtol),
                              rounded.passes(np.inf if result.float32_gate is None else result.float32_gate))
            if not pair.float64_passed:
                pair.diverging_block, pair.block_capture_error = self._locate_divergence(model_id, a, b)
            result.pairs.append(pair)

    def _locate_divergence(self, model_id: str, a: str, b: str) -> tuple[str | None, str | None]:
        """Localise a failing pair: (the first block, in forward order, whose float64 output differs beyond the gate,
        None), or (None, the error) when a worker could not capture its blocks."""
        try:
            blocks = {fw: self._block_outputs(fw, model_id) for fw in (a, b)}
        except WorkerError as error:
            return None, str(error)
        return first_diverging_block(blocks[a], blocks[b], self.config.float64_rtol), None

    def _block_outputs(self, framework: str, model_id: str) -> dict[str, np.ndarray]:
        """The float64 block outputs, from the model loaded again (each worker released it when it was done)."""
        path = self.tmp / f"{framework}-{model_id}-blocks.npz"
        worker = self.pool[framework]
        worker.request("load", model_id=model_id, weights=self.weights_path(model_id), dtype="float64")
        try:
            worker.request("block_outputs", model_id=model_id, input=self.input_path(model_id), output=path,
                           dtype="float64")
        finally:
            worker.request("release", model_id=model_id)
        with np.load(path) as archive:
            return dict(archive)

    def input_path(self, model_id: str) -> Path:
        """The input batch at the model's own input size (224, or 32 for the CIFAR ids), one file per size."""
        return self.tmp / f"input-{specs.get(model_id).input_size}.npy"

    def weights_path(self, model_id: str) -> Path:
        return self.tmp / f"{model_id}.safetensors"

    def output_path(self, framework: str, model_id: str, dtype: str) -> Path:
        return self.tmp / f"{framework}-{model_id}-{dtype}.npy"


def first_diverging_block(reference: dict[str, np.ndarray], candidate: dict[str, np.ndarray],
                          rtol: float) -> str | None:
    """Name of the first shared capture point whose relative L2 error exceeds `rtol`."""
    for name, expected in reference.items():
        if name in candidate and (expected.shape != candidate[name].shape or rel_l2(candidate[name], expected) > rtol):
            return name
    return None


def _pair_dict(pair: PairResult) -> dict[str, Any]:
    """A pair's JSON: float64 figures (None for an ONNX side) and float32 figures, each with its verdict."""
    exact = pair.float64.as_dict() if pair.float64 else {}
    return {
        "a": pair.a, "b": pair.b, "passed": pair.passed, "first_divergence": pair.diverging_block,
        "first_divergence_error": pair.block_capture_error,
        "float64_passed": pair.float64_passed, "float32_passed": pair.float32_passed,
        **{f"float64_{name}": exact.get(name) for name in ("max_abs", "rel_l2", "cosine", "top1")},
        **{f"float32_{name}": value for name, value in pair.float32.as_dict().items()},
    }


def run(config: RunConfig, progress: Progress | None = None) -> RunReport:
    return MatrixRun(config, progress).run()

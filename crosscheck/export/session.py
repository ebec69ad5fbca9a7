"""`crosscheck export`'s work: one framework's own ONNX exporter, stamped, checked and proven equal in onnxruntime.

The framework's worker loads the canonical weights, runs the native model on the verification batch
in float64 (the truth) and in float32, and exports the float32 model with its own exporter (the
backend's `onnx_export`) to a scratch file; this process finalises that file (`crosscheck.onnx_export`),
runs it in onnxruntime (float32) on the same batch and on its first image alone (the batch dimension is
dynamic), and judges each run by its distance from the native float64 truth against the float32 gate
(`metrics.float32_gate` of the native float32 and the onnxruntime distances: anchored on the smaller, so a
broken native float32 run cannot loosen the gate the file is judged by; it is named as the outlier). The
file is copied to the destination atomically only if every onnxruntime run passes (or with `force`).

Every export takes NCHW input by default, whatever the framework, so all exports are
interchangeable; `input_layout="nhwc"` puts the transpose inside the graph instead. The default opset
is 18 because torch.onnx's dynamo exporter emits nothing older.
onnx and onnxruntime are an optional extra: `crosscheck.onnx_tools` is imported only when ONNX work
is asked for, so `crosscheck run` without `--onnx` works without them.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from crosscheck import backends
from crosscheck import calibration
from crosscheck.checkpoints import canonical, reader
from crosscheck import spec as specs
from crosscheck.files import atomic_output, check_writable
from crosscheck.onnx_export import DEFAULT_OPSET, export_in_worker, onnx_tools
from crosscheck.metrics import FLOAT32_MIN_RTOL, Agreement, agreement, float32_gate, rel_l2
from crosscheck.worker.client import DEFAULT_TIMEOUT, FrameworkWorker, WorkerError, WorkerFactory, worker_session

MIN_OPSET = 17
INPUT_LAYOUTS = ("nchw", "nhwc")
VERIFY_BATCH = 3


class ExportError(ValueError):
    """An export that cannot be made; the message names the framework, file or option at fault."""


@dataclass(frozen=True)
class ExportOptions:
    opset: int = DEFAULT_OPSET
    input_layout: str = "nchw"
    seed: int = 0  # calibrated weights (when no weights file is given) and the verification batch
    batch: int = VERIFY_BATCH
    rtol: float | None = None  # float32 gate against the float64 truth; None: metrics.float32_gate
    overwrite: bool = False
    force: bool = False  # write the export even if it fails the gate
    latency_repeats: int = 0  # > 0: also time native and onnxruntime inference at batch 1
    timeout: float = DEFAULT_TIMEOUT
    key: str | None = None  # where in the weights file the model is (None: found), as for convert
    prefix: str | None = None
    num_classes: int | None = None  # NO_HEAD: the backbone alone (of --weights, or of the calibrated weights)
    preprocess: str = specs.NO_PREPROCESSING  # a spec.PREPROCESSING style the graph starts with, or none

    def validate(self) -> None:
        """Raise ExportError for an option the export could only fail on later."""
        if self.opset < MIN_OPSET:
            raise ExportError(f"opset must be >= {MIN_OPSET}, got {self.opset}")
        if self.input_layout not in INPUT_LAYOUTS:
            raise ExportError(f"input layout must be one of {', '.join(INPUT_LAYOUTS)}, got {self.input_layout!r}")
        if self.batch < 2:
            raise ExportError(f"verification batch must be >= 2 (batch 1 is checked as well), got {self.batch}")
        if self.preprocess not in specs.PREPROCESS_CHOICES:
            raise ExportError(f"preprocess must be one of {', '.join(specs.PREPROCESS_CHOICES)}, got {self.preprocess!r}")
        if self.rtol is not None and not self.rtol > 0:
            raise ExportError(f"rtol must be > 0, got {self.rtol}")


@dataclass(frozen=True)
class Check:
    """onnxruntime (float32) against the native model's float64 truth on one batch."""

    label: str
    agreement: Agreement
    passed: bool


@dataclass
class ExportResult:
    path: Path
    framework: str
    opset: int
    metadata: dict[str, str]
    export_seconds: float
    checks: list[Check]
    written: bool
    native_float32_distance: float  # the native float32 model's rel L2 from its float64 truth
    gate: float  # the float32 gate the checks were judged by
    latency: dict[str, float] = field(default_factory=dict)  # "native" / "onnxruntime" -> median seconds, batch 1

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    @property
    def native_float32_outlier(self) -> bool:
        """The native float32 model is further from its float64 truth than the gate: a precision problem of the
        framework's float32 run, not of the file."""
        return not self.native_float32_distance <= self.gate


def measure(path: Path, images: np.ndarray, truth: np.ndarray) -> list[tuple[str, Agreement]]:
    """onnxruntime vs the native float64 logits on the whole batch and on its first image alone (dynamic batch)."""
    tools = onnx_tools()
    session = tools.session(path)
    return [(f"batch {len(batch)}", agreement(tools.run(session, batch), expected))
            for batch, expected in ((images, truth), (images[:1], truth[:1]))]


def export_gate(native_float32_distance: float, onnx_distance: float, rtol: float | None) -> float:
    """`rtol` if given, else metrics.float32_gate of the two float32 runs; only the floor if one is not finite."""
    if rtol is not None:
        return rtol
    gate = float32_gate([native_float32_distance, onnx_distance])
    return FLOAT32_MIN_RTOL if gate is None else gate


def export(model_id: str, framework: str, output: str | Path, weights: str | Path | None = None,
           options: ExportOptions = ExportOptions(), worker_factory: WorkerFactory | None = None) -> ExportResult:
    """Export `model_id` from `framework` to `output`, verified; `output` appears only if it passes (or `force`)."""
    specs.get(model_id)
    backends.check(framework)
    options.validate()
    check_writable(output, options.overwrite)  # fail now, not after the export
    spec, arrays = _weights(model_id, weights, options)
    digest = canonical.digest(spec, arrays)
    images = (calibration.sample_input(options.batch, options.seed, spec.input_size)
              if options.preprocess == specs.NO_PREPROCESSING
              else calibration.sample_rgb(options.batch, options.seed, spec.input_size))
    with worker_session("export", options.timeout, device="cpu", factory=worker_factory) as session:
        scratch = session.tmp
        try:
            truth, native32, seconds, latency = _native_and_export(session.pool[framework], spec, arrays, digest, images,
                                                                   scratch, options)
        except WorkerError as error:
            raise ExportError(str(error)) from error
        finally:
            session.pool.close()  # the framework's memory is freed before onnxruntime runs the export
        distance = rel_l2(native32, truth)
        measured = measure(scratch / "export.onnx", images, truth)
        gate = export_gate(distance, measured[0][1].rel_l2, options.rtol)
        checks = [Check(label, found, found.passes(gate)) for label, found in measured]
        if options.latency_repeats:
            session = onnx_tools().session(scratch / "export.onnx")
            latency["onnxruntime"] = onnx_tools().latency(session, images[:1], options.latency_repeats)
        written = options.force or all(check.passed for check in checks)
        if written:
            with atomic_output(output, options.overwrite) as temp:
                shutil.copyfile(scratch / "export.onnx", temp)
        meta = onnx_tools().read_metadata(scratch / "export.onnx")
    return ExportResult(Path(output), framework, options.opset, meta, seconds, checks, written, distance, gate, latency)


def _weights(model_id: str, weights: str | Path | None, options: ExportOptions) -> tuple[specs.ModelSpec, dict[str, np.ndarray]]:
    """The canonical weights to export: any checkpoint convert reads (validated, naming the file on error),
    or the seeded calibrated ones."""
    if weights is None:
        arrays = calibration.calibrated_weights(model_id, options.seed)
        if options.num_classes == specs.NO_HEAD:
            arrays = {key: value for key, value in arrays.items() if key in specs.get(model_id, specs.NO_HEAD).canonical_shapes()}
        return canonical.spec_for(model_id, arrays), arrays
    try:  # starts a worker only for formats that need one (PyTorch, .weights.h5)
        with worker_session("export-read", options.timeout) as session:
            found = reader.read(reader.checkpoint(weights), session.pool, session.tmp, model_id, options.key,
                                options.prefix, options.num_classes)
    except reader.CheckpointError as error:
        raise ExportError(f"{error} (--weights reads {', '.join(reader.FORMATS)}; "
                          "`crosscheck inspect FILE` shows what a checkpoint holds)") from error
    canonical.check_finite(found.located.native, str(weights))
    return found.spec, found.arrays


def _native_and_export(worker: FrameworkWorker, spec: specs.ModelSpec, arrays: dict[str, np.ndarray], digest: str,
                       images: np.ndarray, scratch: Path,
                       options: ExportOptions) -> tuple[np.ndarray, np.ndarray, float, dict[str, float]]:
    """In the worker: load the weights, run the native model in float64 and float32 (behind the framework's own
    preprocess_input when a preprocessing is asked for; timed if asked) and export the float32 one; (float64
    logits, float32 logits, export seconds, latency)."""
    canonical.save(scratch / "weights.safetensors", spec.model_id, arrays)
    for dtype in specs.PRECISIONS:
        model_input = scratch / f"input-{dtype}.npy"
        np.save(model_input, images.astype(dtype))
        if options.preprocess != specs.NO_PREPROCESSING:
            worker.request("preprocess", input=model_input, output=model_input, style=options.preprocess)
        worker.request("load", model_id=spec.model_id, weights=scratch / "weights.safetensors", dtype=dtype)
        worker.request("forward", model_id=spec.model_id, num_classes=spec.num_classes, input=model_input,
                       dtype=dtype, output=scratch / f"native-{dtype}.npy")
    latency = {}
    if options.latency_repeats:
        np.save(scratch / "single.npy", images[:1])
        runs = [worker.request("forward", model_id=spec.model_id, num_classes=spec.num_classes, input=scratch / "single.npy",
                               output=scratch / "single-out.npy")["seconds"] for _ in range(options.latency_repeats + 1)]
        latency["native"] = float(np.median(runs[1:]))  # the first run warms up
    seconds = export_in_worker(worker, spec, digest, scratch / "export.onnx", options.opset, options.input_layout,
                               options.preprocess)
    return np.load(scratch / "native-float64.npy"), np.load(scratch / "native-float32.npy"), seconds, latency


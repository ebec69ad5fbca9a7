"""One `crosscheck verify` run: build and trace the candidate in its framework's worker, align, diagnose, compare.

The main process imports no framework: the candidate, the reference (this project's implementation
of the model id, in the same framework) and all tracing live in one worker process; traces come
back as plain records and arrays as .npz files in a temporary directory.
"""

from __future__ import annotations

import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from crosscheck import calibration
from crosscheck.checkpoints import canonical
from crosscheck import spec as specs
from crosscheck.metrics import FLOAT32_MIN_RTOL
from crosscheck.verify import counterfactual, diagnose, graph, numeric
from crosscheck.verify.diagnose import Finding
from crosscheck.verify.numeric import Point
from crosscheck.workers import DEFAULT_TIMEOUT, FrameworkWorker, WorkerCrashed, WorkerError

LAYOUTS = {"torch": "nchw", "paddle": "nchw", "keras": "nhwc"}
CANDIDATE = "candidate"

Progress = Callable[[str], None]


class VerifyUsageError(ValueError):
    """Bad command-line input for verify: printed as one line, exit code 2."""


@dataclass(frozen=True)
class VerifyConfig:
    source: str  # path of the user's .py file
    name: str  # class or function in it that returns the model
    framework: str
    model_id: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    input_shape: tuple[int, ...] | None = None  # one image in the framework's layout; None: the model id's size
    batch: int = 2
    seed: int = 0
    rtol: float = FLOAT32_MIN_RTOL
    timeout: float = DEFAULT_TIMEOUT
    alternatives: bool = True  # on a mismatch, also try the other model ids with the candidate's depths

    @property
    def layout(self) -> str:
        return LAYOUTS[self.framework]

    @property
    def image_size(self) -> int:
        return self.shape[1] if self.layout == "nchw" else self.shape[0]

    @property
    def shape(self) -> tuple[int, ...]:
        size = specs.get(self.model_id).input_size
        return self.input_shape or ((3, size, size) if self.layout == "nchw" else (size, size, 3))

    def validate(self) -> None:
        """Raise VerifyUsageError for anything the run could only fail on later."""
        try:
            specs.check_framework(self.framework)
            specs.get(self.model_id)
        except ValueError as error:
            raise VerifyUsageError(str(error)) from None
        path = Path(self.source)
        if not path.is_file():
            raise VerifyUsageError(f"{self.source}: no such file")
        if path.suffix != ".py":
            raise VerifyUsageError(f"{self.source}: not a .py file")
        if not self.name.isidentifier():
            raise VerifyUsageError(f"{self.name!r} is not a Python name (expected FILE.py:CALLABLE)")
        channels, height, width = self.shape if self.layout == "nchw" else (self.shape[2], *self.shape[:2])
        if len(self.shape) != 3 or channels != 3 or height != width or height < 32:
            layout = "3,H,W" if self.layout == "nchw" else "H,W,3"
            raise VerifyUsageError(f"--input-shape must be {layout} with H == W >= 32 for {self.framework}, got "
                                   f"{','.join(map(str, self.shape))}")
        if self.batch < 1 or not self.rtol > 0:
            raise VerifyUsageError("batch must be >= 1 and rtol > 0")


@dataclass
class Alternative:
    """Another model id tried against the candidate: its structural errors and, if none, its output error."""

    model_id: str
    findings: list[Finding]
    output_rel_l2: float | None = None

    def matches(self, rtol: float) -> bool:
        return not diagnose.errors(self.findings) and self.output_rel_l2 is not None and self.output_rel_l2 <= rtol


@dataclass
class Counterfactual:
    """The reference with one finding's change put in, compared with the candidate at every point."""

    mutation: counterfactual.Mutation
    points: list[Point]
    rtol: float

    @property
    def explains(self) -> bool:
        """True when this single change makes the reference match the candidate everywhere."""
        return all(p.passes(self.rtol) for p in self.points)

    def as_dict(self) -> dict[str, Any]:
        divergence = numeric.first_divergence(self.points, self.rtol)
        return {"finding": self.mutation.code, "mutation": self.mutation.describe, "explains": self.explains,
                "max_rel_l2": max(p.rel_l2 for p in self.points), "output_rel_l2": self.points[-1].rel_l2,
                "first_divergence": divergence.name if divergence else None}


@dataclass
class VerifyReport:
    config: VerifyConfig
    candidate_class: str = ""
    not_a_resnet: str = ""  # why the candidate could not be read as a ResNet
    depths: tuple[int, ...] = ()
    findings: list[Finding] = field(default_factory=list)
    weight_notes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what could not be checked, and why
    points: list[Point] = field(default_factory=list)
    alternatives: list[Alternative] = field(default_factory=list)
    counterfactuals: list[Counterfactual] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def divergence(self) -> Point | None:
        return numeric.first_divergence(self.points, self.config.rtol)

    @property
    def passed(self) -> bool:
        return not self.not_a_resnet and bool(self.points) and self.divergence is None and not diagnose.errors(self.findings)

    @property
    def causes(self) -> list[Finding]:
        """The structural errors at or before the first divergence: what explains it."""
        divergence = self.divergence
        if divergence is None:
            return []
        order = [p.name for p in self.points]
        limit = _rank(divergence.name, order)
        return [f for f in diagnose.errors(self.findings) if _rank(f.where, order) <= limit]

    @property
    def matched(self) -> str | None:
        return next((a.model_id for a in self.alternatives if a.matches(self.config.rtol)), None)

    def as_dict(self) -> dict[str, Any]:
        divergence = self.divergence
        return {
            "passed": self.passed,
            "candidate": {"source": self.config.source, "callable": self.config.name, "class": self.candidate_class,
                          "framework": self.config.framework, "kwargs": dict(self.config.kwargs),
                          "input_shape": list(self.config.shape), "depths": list(self.depths)},
            "model_id": self.config.model_id,
            "gate": {"metric": "relative L2 error", "rtol": self.config.rtol},
            "not_a_resnet": self.not_a_resnet or None,
            "findings": [f.as_dict() for f in self.findings],
            "first_divergence": divergence.as_dict() if divergence else None,
            "causes": [f.code for f in self.causes],
            "matches_other_model": self.matched,
            "counterfactuals": [c.as_dict() for c in self.counterfactuals],
            "alternatives": [{"model_id": a.model_id, "structural_errors": [f.code for f in diagnose.errors(a.findings)],
                              "output_rel_l2": a.output_rel_l2} for a in self.alternatives],
            "weight_notes": self.weight_notes,
            "notes": self.notes,
            "points": [p.as_dict() for p in self.points],
            "seconds": round(self.seconds, 2),
        }


def _rank(place: str, order: list[str]) -> int:
    """Position of the first point of the block holding `place` (a layer or block name), or of `place` itself."""
    block = re.match(r"conv\d+_block\d+", place)
    scope = block.group(0) if block else place
    return next((i for i, name in enumerate(order) if name == scope or name.startswith(scope + "_")), len(order))


class Verification:
    """Owns the worker and the temporary directory of one verify run."""

    def __init__(self, config: VerifyConfig, progress: Progress | None = None) -> None:
        config.validate()
        self.config = config
        self.progress = progress or (lambda what: None)
        self.report = VerifyReport(config)

    def run(self) -> VerifyReport:
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="crosscheck-verify-") as tmp, \
                FrameworkWorker(self.config.framework, timeout=self.config.timeout) as worker:
            self.tmp, self.worker = Path(tmp), worker
            self._run()
        self.report.seconds = time.perf_counter() - started
        return self.report

    def _run(self) -> None:
        config, report = self.config, self.report
        self.worker.request("configure", device="cpu", allow_tf32=False)
        images = calibration.sample_input(config.batch, config.seed, config.image_size)
        np.save(self.input_path, images)
        np.save(self.structure_input_path, images[:1])  # structure traces need one image only
        self.progress("building the candidate")
        reply = self.worker.request("verify_build", source=str(Path(config.source).resolve()), callable=config.name,
                                    kwargs=dict(config.kwargs), handle=CANDIDATE)
        report.candidate_class = reply["result"]["class"]
        self.progress("tracing the candidate")
        try:
            candidate = graph.extract(self._trace(handle=CANDIDATE)[0])
        except graph.NotAResNetError as error:
            report.not_a_resnet = str(error)
            return
        report.depths = candidate.depths
        self.progress(f"tracing the reference {config.model_id}")
        reference = graph.extract(self._trace(model_id=config.model_id)[0])
        spec = specs.get(config.model_id)
        report.findings = diagnose.compare(candidate, reference, spec)
        self.progress("comparing numbers")
        report.points, report.weight_notes = self._numbers(candidate, reference, spec)
        for mutation in counterfactual.mutations(report.causes, candidate, spec, config.framework):
            try:
                report.counterfactuals.append(self._counterfactual(candidate, reference, spec, mutation))
            except WorkerCrashed:
                raise
            except WorkerError as error:  # supplementary evidence: the diagnosis stands without it
                report.notes.append(f"counterfactual {mutation.describe} could not be built: {error}")
        if config.alternatives and not report.passed:
            report.alternatives = [self._alternative(candidate, other)
                                   for other in _alternative_ids(candidate, config.model_id)]

    def _numbers(self, candidate: graph.Structure, reference: graph.Structure,
                 spec: specs.ModelSpec) -> tuple[list[Point], list[str]]:
        """Load the reference's calibrated weights into both, capture every point on both sides, compare."""
        weights = calibration.calibrated_weights(spec.model_id, self.config.seed)
        path = self.tmp / f"{spec.model_id}.safetensors"
        canonical.save(path, spec.model_id, weights, {"source": "crosscheck.calibration"})
        self.worker.request("load", model_id=spec.model_id, weights=path)
        arrays, notes = numeric.plan_weights(candidate, reference, spec, weights)
        np.savez(self.tmp / "candidate-weights.npz", **arrays)
        self.worker.request("verify_assign", handle=CANDIDATE, weights=self.tmp / "candidate-weights.npz")
        ref_capture = [r["index"] for _, r in reference.points().values()]
        cand_capture = [r["index"] for _, r in candidate.points().values()]
        self.ref_arrays = self._trace(model_id=spec.model_id, capture=ref_capture)[1]
        self.cand_arrays = self._trace(handle=CANDIDATE, capture=cand_capture)[1]
        return numeric.compare_points(candidate, reference, spec, self.cand_arrays, self.ref_arrays), notes

    def _counterfactual(self, candidate: graph.Structure, reference: graph.Structure, spec: specs.ModelSpec,
                        mutation: counterfactual.Mutation) -> Counterfactual:
        """Compare the candidate's captured points with the reference built with `mutation`."""
        self.progress(f"counterfactual {spec.model_id} with {mutation.describe}")
        mutated = counterfactual.mutate(spec, mutation.name, mutation.value)
        ref_arrays = self.ref_arrays
        if mutation.rebuilds:
            key = f"{spec.model_id}+{mutation.describe}"
            self.worker.request("verify_counterfactual", model_id=spec.model_id, mutation=mutation.name,
                                value=mutation.value, weights=self.tmp / f"{spec.model_id}.safetensors", key=key)
            reference = graph.extract(self._trace(model_id=key)[0])
            ref_arrays = self._trace(model_id=key, capture=[r["index"] for _, r in reference.points().values()])[1]
        points = numeric.compare_points(candidate, reference, mutated, self.cand_arrays, ref_arrays)
        return Counterfactual(mutation, points, self.config.rtol)

    def _alternative(self, candidate: graph.Structure, model_id: str) -> Alternative:
        self.progress(f"trying {model_id}")
        reference = graph.extract(self._trace(model_id=model_id)[0])
        spec = specs.get(model_id)
        alternative = Alternative(model_id, diagnose.compare(candidate, reference, spec))
        if not diagnose.errors(alternative.findings):
            points, _ = self._numbers(candidate, reference, spec)
            alternative.output_rel_l2 = points[-1].rel_l2
        return alternative

    def _trace(self, capture: list[int] | None = None, **target: str) -> tuple[list[dict], dict[str, np.ndarray]]:
        """Trace the candidate (handle=...) or a reference (model_id=...); records and captured arrays."""
        output = self.tmp / "trace.npz"
        images = self.input_path if capture else self.structure_input_path
        reply = self.worker.request("verify_trace", input=images, layout=self.config.layout, capture=capture or [],
                                    output=output, **target)
        with np.load(output) as archive:
            return reply["result"]["records"], dict(archive)

    @property
    def input_path(self) -> Path:
        return self.tmp / "input.npy"

    @property
    def structure_input_path(self) -> Path:
        return self.tmp / "input-1.npy"


def _alternative_ids(candidate: graph.Structure, model_id: str) -> list[str]:
    """Other model ids with the candidate's depths and block kind (basic vs bottleneck)."""
    basic = "3_conv" not in candidate.blocks[0].layers
    return [other for other in specs.MODEL_IDS
            if other != model_id and specs.get(other).depths == candidate.depths
            and (specs.get(other).block_kind == "basic") == basic]


def verify(config: VerifyConfig, progress: Progress | None = None) -> VerifyReport:
    return Verification(config, progress).run()

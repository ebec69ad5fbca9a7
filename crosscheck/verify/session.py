"""One `crosscheck verify` run: build and trace the candidate in its framework's worker, align, diagnose, compare.

The main process imports no framework: the candidate, the reference (this project's implementation
of the model id, in the same framework) and all tracing live in one worker process; traces come
back as plain records and arrays as .npz files in a temporary directory.
"""

from __future__ import annotations

import contextlib
import math
import re
import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import numpy as np

from crosscheck import backends
from crosscheck import calibration
from crosscheck.checkpoints import canonical
from crosscheck import spec as specs
from crosscheck.metrics import FLOAT64_RTOL
from crosscheck.verify import counterfactual, diagnose, graph, numeric
from crosscheck.verify.diagnose import Finding
from crosscheck.verify.numeric import Point
from crosscheck.worker import transport
from crosscheck.worker.client import DEFAULT_TIMEOUT, WorkerCrashed, WorkerError, WorkerSession, worker_session

CANDIDATE, SOURCE = "candidate", "source"
AGAINST_NO_COUNTERFACTUAL = ("checked --against a source, which is not a model id's spec: there is no reference to "
                             "put the change into")

CAPTURES_KEPT = 2  # captured reference traces kept between runs: each holds every point's float64 arrays
Progress = Callable[[str], None]
Trace = tuple[list[dict], dict[str, np.ndarray]]


class VerifyUsageError(ValueError):
    """Bad command-line input for verify: printed as one line, exit code 2."""


@dataclass(frozen=True)
class Target:
    """A user's model: CALLABLE in FILE.py, called with `kwargs`, in `framework`."""

    source: str
    name: str
    framework: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{Path(self.source).name}:{self.name} ({self.framework})"

    def validate(self) -> None:
        try:
            backends.check(self.framework)
        except ValueError as error:
            raise VerifyUsageError(str(error)) from None
        path = Path(self.source)
        if not path.is_file():
            raise VerifyUsageError(f"{self.source}: no such file")
        if path.suffix != ".py":
            raise VerifyUsageError(f"{self.source}: not a .py file")
        if not self.name.isidentifier():
            raise VerifyUsageError(f"{self.name!r} is not a Python name (expected FILE.py:CALLABLE)")


@dataclass(frozen=True)
class VerifyConfig:
    source: str  # path of the user's .py file
    name: str  # class or function in it that returns the model
    framework: str
    model_id: str | None  # None: checked against `against` only
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    input_shape: tuple[int, ...] | None = None  # one image in the framework's layout; None: the model id's size
    batch: int = 2
    seed: int = 0
    rtol: float = FLOAT64_RTOL  # both models run in float64
    timeout: float = DEFAULT_TIMEOUT
    alternatives: bool = True  # on a mismatch, also try the other model ids with the candidate's depths
    against: Target | None = None  # the source the candidate translates, instead of a model id

    @property
    def candidate(self) -> Target:
        return Target(self.source, self.name, self.framework, self.kwargs)

    @property
    def reference_label(self) -> str:
        """What the candidate is checked against: a model id, or its source."""
        return self.against.label if self.against else str(self.model_id)

    @property
    def layout(self) -> str:
        return backends.get(self.framework).layout

    @property
    def image_size(self) -> int:
        return self.shape[1] if self.layout == "nchw" else self.shape[0]

    @property
    def shape(self) -> tuple[int, ...]:
        # the model id's own input size; checked --against a source only, ImageNet's unless --input-shape says
        size = specs.get(self.model_id).input_size if self.model_id else specs.IMAGENET_INPUT_SIZE
        return self.input_shape or ((3, size, size) if self.layout == "nchw" else (size, size, 3))

    def validate(self) -> None:
        """Raise VerifyUsageError for anything the run could only fail on later."""
        if self.model_id is None and self.against is None:
            raise VerifyUsageError("give --model ID, or --against SOURCE.py:CALLABLE --against-framework F")
        if self.model_id is not None and self.against is not None:
            raise VerifyUsageError("give either --model or --against, not both")
        try:
            if self.model_id is not None:
                specs.get(self.model_id)
        except ValueError as error:
            raise VerifyUsageError(str(error)) from None
        self.candidate.validate()
        if self.against is not None:
            self.against.validate()  # --input-shape is in the candidate's layout; the source gets the same images
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
        divergence = numeric.first_failing_point(self.points, self.rtol)
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
    nearest: dict[str, dict[str, Any]] = field(default_factory=dict)  # with --against: role -> nearest id, deviations
    no_counterfactual: dict[str, str] = field(default_factory=dict)  # cause code -> why no counterfactual was built
    seconds: float = 0.0

    @property
    def divergence(self) -> Point | None:
        return numeric.first_failing_point(self.points, self.config.rtol)

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

    @property
    def closest(self) -> Alternative | None:
        """Of the model id checked and the alternatives tried, the one whose structure differs least from the
        candidate's (the id checked first among equals); None when no alternatives were tried."""
        if not self.alternatives:
            return None
        checked = Alternative(str(self.config.model_id), self.findings)
        return min([checked, *self.alternatives], key=lambda a: diagnose.distance(a.findings))

    def as_dict(self) -> dict[str, Any]:
        divergence = self.divergence
        return {
            "passed": self.passed,
            "candidate": {"source": self.config.source, "callable": self.config.name, "class": self.candidate_class,
                          "framework": self.config.framework, "kwargs": dict(self.config.kwargs),
                          "input_shape": list(self.config.shape), "depths": list(self.depths)},
            "model_id": self.config.model_id,
            "against": None if self.config.against is None else {
                "source": self.config.against.source, "callable": self.config.against.name,
                "framework": self.config.against.framework, "kwargs": dict(self.config.against.kwargs)},
            "nearest": self.nearest or None,
            "gate": {"metric": "relative L2 error", "rtol": self.config.rtol, "dtype": "float64"},
            "not_a_resnet": self.not_a_resnet or None,
            "findings": [f.as_dict() for f in self.findings],
            "first_divergence": divergence.as_dict() if divergence else None,
            "causes": [f.code for f in self.causes],
            "matches_other_model": self.matched,
            "counterfactuals": [c.as_dict() for c in self.counterfactuals],
            "no_counterfactual": [{"finding": code, "why": why} for code, why in self.no_counterfactual.items()],
            "closest": None if self.closest is None else {
                "model_id": self.closest.model_id,
                "differs_by": [f.code for f in diagnose.errors(self.closest.findings)]},
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


class Verifier:
    """Warm workers, the scratch directory and the references built and traced so far, shared by every verify run
    made through it (several candidates in one call, `--watch`): a run redoes only its candidate's own work."""

    def __init__(self, session: WorkerSession) -> None:
        self.pool, self.tmp = session.pool, session.tmp
        self.built: set[tuple[str, str]] = set()  # (framework, handle) of the references built so far
        self.structures: dict[tuple[str, str, str], Trace] = {}  # reference structure traces, small: all kept
        self.captures: OrderedDict[tuple[str, str, str, tuple[int, ...]], Trace] = OrderedDict()  # the latest few

    def verify(self, config: VerifyConfig, progress: Progress | None = None) -> VerifyReport:
        return Verification(config, self, progress).run()

    def forget(self, framework: str) -> None:
        """Close `framework`'s worker (it crashed) and drop what it held: the next run starts it afresh."""
        self.pool.close([framework])
        self.built.difference_update({key for key in self.built if key[0] == framework})
        self.structures = {key: trace for key, trace in self.structures.items() if key[0] != framework}
        self.captures = OrderedDict((key, trace) for key, trace in self.captures.items() if key[0] != framework)

    def trace(self, framework: str, handle: str, images: Path, capture: list[int]) -> Trace:
        """Trace the model held under `handle`: records and captured arrays; a reference's trace is kept, since a
        reference never changes for the same input (a candidate's or source's is redone: the user may edit it)."""
        reusable = handle not in (CANDIDATE, SOURCE)
        key = (framework, handle, images.name)
        if reusable and not capture and key in self.structures:
            return self.structures[key]
        if reusable and (*key, tuple(capture)) in self.captures:
            self.captures.move_to_end((*key, tuple(capture)))
            return self.captures[(*key, tuple(capture))]
        output = self.tmp / "trace.safetensors"
        reply = self.pool[framework].request("verify_trace", input=images, layout=backends.get(framework).layout,
                                             capture=capture, output=output, handle=handle)
        trace = reply["result"]["records"], transport.load(output)
        if reusable and not capture:
            self.structures[key] = trace
        elif reusable:
            self.captures[(*key, tuple(capture))] = trace
            while len(self.captures) > CAPTURES_KEPT:
                self.captures.popitem(last=False)
        return trace


@contextlib.contextmanager
def verifier(timeout: float = DEFAULT_TIMEOUT) -> Iterator[Verifier]:
    """A Verifier whose workers (CPU, started on first use) and scratch directory go when the block is left."""
    with worker_session("verify", timeout, device="cpu") as session:
        yield Verifier(session)


class Verification:
    """One verify run, on the workers and references of a Verifier."""

    def __init__(self, config: VerifyConfig, warm: Verifier, progress: Progress | None = None) -> None:
        config.validate()
        self.config = config
        self.warm = warm
        self.pool, self.tmp, self.built = warm.pool, warm.tmp, warm.built
        self.progress = progress or (lambda what: None)
        self.report = VerifyReport(config)

    def run(self) -> VerifyReport:
        started = time.perf_counter()
        config = self.config
        frameworks = [config.framework] + ([config.against.framework] if config.against else [])
        launched = self.pool.launch(frameworks)  # their framework imports overlap the inputs and weights made here
        if not self.input_path.exists():
            images = calibration.sample_input(config.batch, config.seed, config.image_size)
            np.save(self.input_path, images)
            np.save(self.structure_input_path, images[:1])  # structure traces need one image only
        if config.model_id:
            self._weights(config.model_id)
        for framework in launched:
            self.pool.configure(framework)
        self._run_against() if config.against else self._run()
        self.report.seconds = time.perf_counter() - started
        return self.report

    def _run(self) -> None:
        config, report = self.config, self.report
        candidate = self._build_and_trace(config.candidate, CANDIDATE)
        if candidate is None:
            return
        self.progress(f"tracing the reference {config.model_id}")
        reference = self._reference_structure(config.framework, config.model_id, self._weights(config.model_id))
        spec = specs.get(config.model_id)
        report.findings = diagnose.compare(candidate, reference, spec)
        self.progress("comparing numbers")
        report.points, report.weight_notes = self._numbers(candidate, reference, spec)
        for mutation in counterfactual.mutations(report.causes, candidate, spec, config.framework):
            try:
                report.counterfactuals.append(self._counterfactual(candidate, spec, mutation))
            except WorkerCrashed:
                raise
            except WorkerError as error:  # supplementary evidence: the diagnosis stands without it
                report.notes.append(f"counterfactual {mutation.describe} could not be built: {error}")
        report.no_counterfactual = {f.code: why for f in report.causes
                                    if (why := counterfactual.absent(f.code, config.framework))}
        if config.alternatives and not report.passed and candidate.failure is None:
            report.alternatives = [self._alternative(candidate, other)
                                   for other in _alternative_ids(candidate, config.model_id)]

    def _run_against(self) -> None:
        """Candidate vs its source: each described as its nearest model id, then compared with each other."""
        config, report, source_model = self.config, self.report, self.config.against
        candidate = self._build_and_trace(config.candidate, CANDIDATE)
        source = self._build_and_trace(source_model, SOURCE, role="source")
        if candidate is None or source is None:
            return
        if source.failure is not None:  # nothing to carry over or compare against
            report.not_a_resnet = f"the source's own forward pass fails: {source.failure['error']}"
            return
        nearest = self._describe(source_model.framework, source, "source")
        if candidate.failure is None:  # a partial trace has no nearest model id
            self._describe(config.framework, candidate, "candidate")
        spec = replace(specs.get(nearest), default_head="softmax" if "softmax" in source.head_sequence else "logits")
        report.findings = diagnose.compare(candidate, source, spec)
        self.progress("carrying the source's weights into the candidate")
        report.points, report.weight_notes = self._source_numbers(candidate, source)
        report.no_counterfactual = {f.code: AGAINST_NO_COUNTERFACTUAL for f in report.causes}

    def _build_and_trace(self, target: Target, handle: str, role: str = "candidate") -> graph.Structure | None:
        """Build a user's model in its worker and trace its structure; None (and the report says why) if no ResNet."""
        self.progress(f"building the {role}")
        reply = self.pool[target.framework].request("verify_build", source=str(Path(target.source).resolve()),
                                                       callable=target.name, kwargs=dict(target.kwargs), handle=handle)
        if handle == CANDIDATE:
            self.report.candidate_class = reply["result"]["class"]
        self.progress(f"tracing the {role}")
        try:
            structure = graph.extract(self._trace(target.framework, handle)[0])
        except graph.NotAResNetError as error:
            self.report.not_a_resnet = f"the {role}: {error}" if self.config.against else str(error)
            return None
        if handle == CANDIDATE:
            self.report.depths = structure.depths
        return structure

    def _describe(self, framework: str, structure: graph.Structure, role: str) -> str:
        """The model id `structure` is nearest to (fewest structural errors), recorded with its deviations."""
        ids = [i for i in specs.MODEL_IDS if _same_kind(structure, i)] or list(specs.MODEL_IDS)
        compared = {i: diagnose.compare(structure, self._reference_structure(framework, i), specs.get(i)) for i in ids}
        nearest = min(ids, key=lambda i: (*diagnose.distance(compared[i]), len(compared[i])))
        findings = diagnose.errors(compared[nearest])
        mutations = counterfactual.mutations(findings, structure, specs.get(nearest), framework)
        explained = {m.code for m in mutations}  # said as a spec change, e.g. bn_eps=0.001; the rest by finding
        changes = [m.describe for m in mutations] + [f.code for f in findings if f.code not in explained]
        self.report.nearest[role] = {"model_id": nearest, "deviations": changes}
        return nearest

    def _reference_structure(self, framework: str, model_id: str, weights: Path | None = None,
                             mutation: counterfactual.Mutation | None = None,
                             images: Path | None = None) -> graph.Structure:
        """Build (once) this project's float64 model of `model_id` in `framework`'s worker and trace its structure
        (on one image of the run's size unless `images` says otherwise)."""
        handle = self._reference(framework, model_id, weights, mutation)
        return graph.extract(self._trace(framework, handle, images=images)[0])

    def _structure_input(self, size: int) -> Path:
        """One image of `size` (the run's seed), written once."""
        path = self.structure_input_path.with_name(f"input-1-seed{self.config.seed}-{size}.npy")
        if not path.exists():
            np.save(path, calibration.sample_input(1, self.config.seed, size))
        return path

    def _reference(self, framework: str, model_id: str, weights: Path | None = None,
                   mutation: counterfactual.Mutation | None = None) -> str:
        handle = (f"reference:{model_id}" + (f"+{mutation.describe}" if mutation else "")
                  + (f"+w{self.config.seed}" if weights else ""))
        if (framework, handle) not in self.built:
            self.pool[framework].request("verify_reference", model_id=model_id, handle=handle,
                                            weights=str(weights) if weights else None,
                                            mutation=mutation.name if mutation else None,
                                            value=mutation.value if mutation else None)
            self.built.add((framework, handle))
        return handle

    def _numbers(self, candidate: graph.Structure, reference: graph.Structure,
                 spec: specs.ModelSpec) -> tuple[list[Point], list[str]]:
        """Load the reference's calibrated weights into both, capture every point on both sides, compare."""
        framework = self.config.framework
        path = self._weights(spec.model_id)
        handle = self._reference(framework, spec.model_id, path)
        arrays, notes = numeric.plan_weights(candidate, reference, spec, canonical.load(path, spec.model_id)[1])
        self._assign(framework, CANDIDATE, arrays)
        self.ref_arrays = self._capture(framework, handle, reference)
        self.cand_arrays = self._capture(framework, CANDIDATE, candidate)
        return numeric.compare_points(candidate, reference, self.cand_arrays, self.ref_arrays,
                                      spec.default_head == "softmax"), notes

    def _source_numbers(self, candidate: graph.Structure, source: graph.Structure) -> tuple[list[Point], list[str]]:
        """The source's own weights carried into the candidate through the alignment; every point compared."""
        config = self.config
        layers = source.layers()
        output = self.tmp / "source-weights.npz"
        self.pool[config.against.framework].request("verify_read", handle=SOURCE, output=output,
                                                       indices=[r["index"] for r in layers.values()])
        with np.load(output) as archive:
            own = {key: archive[key] for key in archive.files}
        weights = {f"{name}/{param}": own[f"{r['index']}/{param}"]
                   for name, r in layers.items() for param in numeric.record_shapes(r) if f"{r['index']}/{param}" in own}
        arrays, notes = numeric.plan_aligned(candidate, set(layers), weights)
        self._assign(config.framework, CANDIDATE, arrays)
        self.ref_arrays = self._capture(config.against.framework, SOURCE, source)
        self.cand_arrays = self._capture(config.framework, CANDIDATE, candidate)
        return numeric.compare_points(candidate, source, self.cand_arrays, self.ref_arrays, False), notes

    def _weights(self, model_id: str) -> Path:
        """The calibrated canonical weights of `model_id`, written once."""
        path = self.tmp / f"{model_id}-seed{self.config.seed}.safetensors"
        if not path.exists():
            weights = calibration.calibrated_weights(model_id, self.config.seed)
            canonical.save(path, model_id, weights, {"source": "crosscheck.calibration"})
        return path

    def _assign(self, framework: str, handle: str, arrays: dict[str, np.ndarray]) -> None:
        path = self.tmp / f"{handle}-weights.npz"
        np.savez(path, **arrays)
        self.pool[framework].request("verify_assign", handle=handle, weights=path)

    def _capture(self, framework: str, handle: str, structure: graph.Structure) -> dict[str, np.ndarray]:
        return self._trace(framework, handle, capture=[r["index"] for _, r in structure.points().values()])[1]

    def _counterfactual(self, candidate: graph.Structure, spec: specs.ModelSpec,
                        mutation: counterfactual.Mutation) -> Counterfactual:
        """Compare the candidate's captured points with the reference built with `mutation`."""
        self.progress(f"counterfactual {spec.model_id} with {mutation.describe}")
        mutated = counterfactual.mutate(spec, mutation.name, mutation.value)
        framework = self.config.framework
        if mutation.reshapes:
            return self._reshaped_counterfactual(candidate, mutated, mutation)
        if mutation.rebuilds:
            handle = self._reference(framework, spec.model_id, self._weights(spec.model_id), mutation)
            reference = graph.extract(self._trace(framework, handle)[0])
            ref_arrays = self._capture(framework, handle, reference)
        else:
            handle = self._reference(framework, spec.model_id, self._weights(spec.model_id))
            reference = graph.extract(self._trace(framework, handle)[0])
            ref_arrays = self.ref_arrays
        points = numeric.compare_points(candidate, reference, self.cand_arrays, ref_arrays,
                                        mutated.default_head == "softmax")
        return Counterfactual(mutation, points, self.config.rtol)

    def _reshaped_counterfactual(self, candidate: graph.Structure, mutated: specs.ModelSpec,
                                 mutation: counterfactual.Mutation) -> Counterfactual:
        """A change that reshapes weights: the changed reference and the candidate both get the changed spec's own
        calibrated weights (the candidate's captures of the id's weights stay as they are for the other changes)."""
        framework = self.config.framework
        weights = calibration.calibrated_weights(mutated, self.config.seed)
        path = self.tmp / f"counterfactual-{mutation.name}.npz"
        np.savez(path, **weights)
        handle = self._reference(framework, mutated.model_id, path, mutation)
        reference = graph.extract(self._trace(framework, handle)[0])
        arrays, _ = numeric.plan_weights(candidate, reference, mutated, weights)
        self._assign(framework, CANDIDATE, arrays)
        points = numeric.compare_points(candidate, reference, self._capture(framework, CANDIDATE, candidate),
                                        self._capture(framework, handle, reference), mutated.default_head == "softmax")
        return Counterfactual(mutation, points, self.config.rtol)

    def _alternative(self, candidate: graph.Structure, model_id: str) -> Alternative:
        self.progress(f"trying {model_id}")
        reference = self._reference_structure(self.config.framework, model_id,
                                              images=self._structure_input(alternative_size(self.config.image_size,
                                                                              str(self.config.model_id), model_id)))
        spec = specs.get(model_id)
        alternative = Alternative(model_id, diagnose.compare(candidate, reference, spec))
        if not diagnose.errors(alternative.findings):
            points, _ = self._numbers(candidate, reference, spec)
            alternative.output_rel_l2 = points[-1].rel_l2
        return alternative

    def _trace(self, framework: str, handle: str, capture: list[int] | None = None,
               images: Path | None = None) -> Trace:
        """Trace a model held under `handle` in `framework`'s worker; records and captured arrays."""
        images = images or (self.input_path if capture else self.structure_input_path)
        return self.warm.trace(framework, handle, images, capture or [])

    @property
    def input_path(self) -> Path:
        config = self.config
        return self.tmp / f"input-{config.batch}-seed{config.seed}-{config.image_size}.npy"

    @property
    def structure_input_path(self) -> Path:
        return self.input_path.with_name(f"input-1-seed{self.config.seed}-{self.config.image_size}.npy")


def alternative_size(size: int, checked_id: str, model_id: str) -> int:
    """The input size at which `model_id`'s maps after its stem are those of `checked_id` at `size`.

    The structure of a reference does not depend on the input size (its head pool is global, its padding
    explicit), so an alternative with a less reducing stem (a CIFAR id for an ImageNet one) is traced on a
    smaller image, not at several times the checked id's work; a more reducing one keeps the run's size."""
    reduction, checked = _stem_reduction(model_id), _stem_reduction(checked_id)
    return size * reduction // checked if reduction < checked and size * reduction % checked == 0 else size


def _stem_reduction(model_id: str) -> int:
    """How many times smaller than the input the maps leaving `model_id`'s stem are."""
    stem = specs.STEMS[specs.get(model_id).stem]
    return math.prod(stride for _, stride, _ in stem.convs) * (2 if stem.max_pool else 1)


def _same_kind(structure: graph.Structure, model_id: str) -> bool:
    """`model_id` has the structure's depths and block kind (basic vs bottleneck)."""
    basic = "3_conv" not in structure.blocks[0].layers
    spec = specs.get(model_id)
    return spec.depths == structure.depths and (spec.block_kind == "basic") == basic


def _alternative_ids(candidate: graph.Structure, model_id: str) -> list[str]:
    """Other model ids with the candidate's depths and block kind (basic vs bottleneck)."""
    return [other for other in specs.MODEL_IDS if other != model_id and _same_kind(candidate, other)]


def verify(config: VerifyConfig, progress: Progress | None = None) -> VerifyReport:
    """One run on workers started for it and closed after it."""
    with verifier(config.timeout) as warm:
        return warm.verify(config, progress)

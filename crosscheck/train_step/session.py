"""One `crosscheck train-step` run: the same weights, batch, labels and hyperparameters in every framework.

Each framework trains a fresh model for `steps` SGD steps in its own worker, in float64 and in float32.
Then, for every pair, in float64 against FLOAT64_RTOL: the loss of every step, the last step's gradient
of every parameter, the parameters after the last update and the BN running mean and variance (the
variance in torch's unbiased convention: `conventions.unbiased_running_var`; the raw figure is reported
too). Float32 is reported, as each framework's distance from its own float64 truth and as pair distances,
and not gated: in training mode a ReLU or max-pool decision on a value within float32 rounding of zero
flips the gradient's path (one flipped ReLU moves a whole gradient far from its float64 truth; docs/train-step.md),
so float32 distances are not rounding-sized and a gate scaled to rounding (`metrics.float32_gate`) would fail
correct ports at random. When a pair fails, the report names the first quantity and the first canonical key
that diverge and, where the numbers fit one, the convention behind it.
"""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from crosscheck import backends
from crosscheck import calibration
from crosscheck import spec as specs
from crosscheck.checkpoints import canonical
from crosscheck.metrics import FLOAT64_RTOL, rel_l2
from crosscheck.training_conventions import CONVENTIONS, Hyperparameters, bn_counts, unbiased_running_var
from crosscheck.worker.client import DEFAULT_TIMEOUT, WorkerError, WorkerFactory, worker_session

# Compared in this order, which is also the order of cause and effect in one step.
QUANTITIES = ("loss", "gradients", "parameters", "running_mean", "running_var")
STATISTICS = ("running_mean", "running_var")
FIRST = tuple(f"first_{quantity}" for quantity in STATISTICS)  # after step 1: where a BN slip is diagnosed exactly
EXPLAINED = 1e-6  # a convention slip explains a difference when putting it in removes all but rounding of it

Progress = Callable[[str], None]
Results = dict[str, dict[str, np.ndarray]]  # quantity -> {canonical key (or "step N"): array}


@dataclass(frozen=True)
class TrainConfig:
    model_id: str
    frameworks: Sequence[str] = backends.default_names()
    steps: int = 2  # the first step's velocity is its gradient: momentum and weight decay coupling show from the 2nd
    hyper: Hyperparameters = Hyperparameters()
    batch: int = 2
    image_size: int | None = None  # None: default_image_size (256 for the ImageNet ids, 32 for the CIFAR ids)
    num_classes: int | None = None  # None: the id's default
    seed: int = 0
    float64_rtol: float = FLOAT64_RTOL
    timeout: float = DEFAULT_TIMEOUT

    @property
    def spec(self) -> specs.ModelSpec:
        return specs.get(self.model_id, self.num_classes)

    @property
    def size(self) -> int:
        return self.image_size or default_image_size(self.spec)

    def validate(self) -> None:
        """Raise ValueError for anything the run could only fail on later."""
        spec = self.spec
        if spec.headless:
            raise ValueError("train-step needs a classifier head: num_classes must be >= 1")
        for framework in self.frameworks:
            backends.check(framework)
        if len(self.frameworks) < 2 or len(set(self.frameworks)) != len(self.frameworks):
            raise ValueError(f"give two or more different frameworks, got {', '.join(self.frameworks)}")
        if self.steps < 1 or self.batch < 2:
            raise ValueError(f"--steps must be >= 1 and --batch >= 2 (BN needs two samples), got {self.steps}, {self.batch}")
        if self.size < spec.reduction or self.size % spec.reduction:
            raise ValueError(f"--image-size must be a multiple of {spec.reduction} for {self.model_id}, got {self.size}")
        self.hyper.validate()


@dataclass
class Comparison:
    """One quantity of one pair: float64 (the verdict) and float32 relative L2, all keys together."""

    quantity: str
    float64: float
    float32: float  # reported only (see the module docstring)
    passed: bool
    first_key: str | None = None  # first key (forward order) beyond the float64 gate, when it fails


@dataclass
class PairResult:
    a: str
    b: str
    comparisons: list[Comparison]
    raw_running_var_float64: float  # before rewriting biased running variances in torch's convention
    cause: str | None = None

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.comparisons)

    @property
    def first_failure(self) -> Comparison | None:
        return next((c for c in self.comparisons if not c.passed), None)


@dataclass
class TrainReport:
    config: TrainConfig
    hyper_used: Hyperparameters
    native_hyper: dict[str, dict[str, float]]
    errors: dict[str, str] = field(default_factory=dict)
    float32_distance: dict[str, dict[str, float]] = field(default_factory=dict)  # quantity -> framework -> rel L2
    pairs: list[PairResult] = field(default_factory=list)
    losses: dict[str, list[float]] = field(default_factory=dict)  # framework -> float64 loss per step

    @property
    def passed(self) -> bool:
        return not self.errors and bool(self.pairs) and all(p.passed for p in self.pairs)

    def as_dict(self) -> dict[str, Any]:
        config = self.config
        return {
            "passed": self.passed,
            "model_id": config.model_id, "num_classes": config.spec.num_classes, "frameworks": list(config.frameworks),
            "steps": config.steps, "batch": config.batch, "image_size": config.size, "seed": config.seed,
            "hyperparameters_given": config.hyper.as_dict(), "hyperparameters_used": self.hyper_used.as_dict(),
            "native_hyperparameters": self.native_hyper,
            "conventions": {fw: asdict(CONVENTIONS[fw]) for fw in config.frameworks},
            "gate": {"float64_rtol": config.float64_rtol, "float32": "reported, not gated"},
            "errors": self.errors,
            "float64_losses": self.losses,
            "float32_vs_float64_rel_l2": self.float32_distance,
            "pairs": [{"a": p.a, "b": p.b, "passed": p.passed, "cause": p.cause,
                       "raw_running_var_float64_rel_l2": p.raw_running_var_float64,
                       **{c.quantity: {"float64_rel_l2": c.float64, "float32_rel_l2": c.float32,
                                       "passed": c.passed, "first_key": c.first_key} for c in p.comparisons}}
                      for p in self.pairs],
        }


def default_image_size(spec: specs.ModelSpec) -> int:
    """The id's input size, raised until the final feature map has a power-of-two area (224 -> 256, 32 stays 32).

    Paddle's AdaptiveAvgPool2D backward scales by a float32 1/area even in float64: at 7x7 every backbone
    gradient is off by float32's rounding of 1/49 (tests/paddle/test_train_step_paddle.py pins it; docs/train-step.md), which a
    power-of-two area makes exact.
    """
    final = spec.input_size // spec.reduction
    return spec.reduction * 2 ** int(np.ceil(np.log2(final)))


def pool_scale_error(config: TrainConfig) -> float:
    """Relative error of Paddle's float32 1/area in the global-average-pool backward at the run's image size."""
    area = (config.size // config.spec.reduction) ** 2
    return abs(float(np.float32(1.0 / area)) * area - 1.0)


def train_step(config: TrainConfig, progress: Progress | None = None,
               worker_factory: WorkerFactory | None = None) -> TrainReport:
    """Train in every framework (each in its own worker, concurrently) and compare every pair."""
    config.validate()
    say = progress or (lambda message: None)
    hyper = config.hyper.snap()
    report = TrainReport(config, hyper, {fw: hyper.native(fw, config.spec.bn_eps) for fw in config.frameworks})
    spec = config.spec
    with worker_session("train", config.timeout, device="cpu", factory=worker_factory) as session:
        files = _inputs(config, session.tmp)
        raw: dict[str, dict[str, Results]] = {}

        def run(framework: str) -> None:
            try:
                worker = session.pool[framework]
                raw[framework] = {}
                for dtype in specs.PRECISIONS:
                    output = session.tmp / f"{framework}-{dtype}.npz"
                    worker.request("train_step", model_id=spec.model_id, dtype=dtype, steps=config.steps,
                                   hyper=report.native_hyper[framework], output=output, **files)
                    raw[framework][dtype] = _split(output)
                    say(f"{framework}: trained {spec.model_id} in {dtype}")
            except WorkerError as error:
                report.errors[framework] = f"{error}\n{error.detail}".strip()
            finally:
                session.pool.close([framework])  # a framework done frees its memory for the others still training

        with ThreadPoolExecutor(max_workers=len(config.frameworks)) as threads:
            list(threads.map(run, config.frameworks))
        initial = canonical.load(files["weights"], spec.model_id)[1]
    live = [fw for fw in config.frameworks if fw in raw and len(raw[fw]) == len(specs.PRECISIONS)]
    common = {fw: {dtype: common_convention(raw[fw][dtype], fw, initial, config, hyper) for dtype in specs.PRECISIONS}
              for fw in live}
    report.losses = {fw: raw[fw]["float64"]["loss"]["loss"].tolist() for fw in live}
    _compare(report, live, raw, common, initial, hyper)
    return report


def _inputs(config: TrainConfig, tmp: Path) -> dict[str, Path]:
    """Seeded calibrated weights, an input batch and labels, as files every worker reads."""
    spec = config.spec
    weights = calibration.calibrated_weights(spec.model_id, config.seed, spec.num_classes)
    paths = {"weights": tmp / "weights.safetensors", "input": tmp / "input.npy", "labels": tmp / "labels.npy"}
    canonical.save(paths["weights"], spec.model_id, weights, {"source": "crosscheck.calibration", "seed": str(config.seed)})
    np.save(paths["input"], calibration.sample_input(config.batch, config.seed, config.size))
    np.save(paths["labels"], np.random.default_rng([config.seed, 2]).integers(0, spec.num_classes, config.batch))
    return paths


def _split(path: Path) -> Results:
    """A worker's .npz as {quantity: {key: array}}, running_var raw (in the framework's own convention); the BN
    statistics after the first step as 'first_running_mean' and 'first_running_var'."""
    results: Results = {quantity: {} for quantity in (*QUANTITIES, *FIRST)}
    with np.load(path) as archive:
        for name in archive.files:
            if name == "loss":
                results["loss"]["loss"] = archive[name]
                continue
            kind, key = name.split("/", 1)
            param = key.rsplit(".", 1)[1]
            quantity = "gradients" if kind == "grad" else param if param in STATISTICS else "parameters"
            quantity = f"first_{quantity}" if kind == "first" else quantity
            results[quantity][key] = archive[name]
    return results


def common_convention(results: Results, framework: str, initial: dict[str, np.ndarray], config: TrainConfig,
                      hyper: Hyperparameters) -> Results:
    """`results` with a biased framework's running variances rewritten in torch's (unbiased) convention."""
    if CONVENTIONS[framework].variance == "unbiased":
        return results
    counts = bn_counts(config.spec, config.batch, config.size)

    def unbiased(variances: dict[str, np.ndarray], steps: int) -> dict[str, np.ndarray]:
        return {key: unbiased_running_var(value, initial[key].astype(np.float64), hyper.bn_momentum, steps,
                                          counts[key.rsplit(".", 1)[0]]) for key, value in variances.items()}

    return {**results, "running_var": unbiased(results["running_var"], config.steps),
            "first_running_var": unbiased(results["first_running_var"], 1)}


def _flat(arrays: dict[str, np.ndarray]) -> np.ndarray:
    return np.concatenate([np.ravel(arrays[key]).astype(np.float64) for key in arrays]) if arrays else np.zeros(0)


def _compare(report: TrainReport, live: list[str], raw: dict[str, dict[str, Results]],
             common: dict[str, dict[str, Results]], initial: dict[str, np.ndarray], hyper: Hyperparameters) -> None:
    config = report.config
    for quantity in QUANTITIES:
        report.float32_distance[quantity] = {
            fw: rel_l2(_flat(common[fw]["float32"][quantity]), _flat(common[fw]["float64"][quantity])) for fw in live}
    for a, b in itertools.combinations(live, 2):
        comparisons = []
        for quantity in QUANTITIES:
            exact_a, exact_b = common[a]["float64"][quantity], common[b]["float64"][quantity]
            exact = rel_l2(_flat(exact_b), _flat(exact_a))
            rounded = rel_l2(_flat(common[b]["float32"][quantity]), _flat(common[a]["float32"][quantity]))
            passed = exact <= config.float64_rtol
            first = None if passed else next(
                (key for key in exact_a if rel_l2(exact_b[key], exact_a[key]) > config.float64_rtol), None)
            comparisons.append(Comparison(quantity, exact, rounded, passed, first))
        raw_var = rel_l2(_flat(raw[b]["float64"]["running_var"]), _flat(raw[a]["float64"]["running_var"]))
        pair = PairResult(a, b, comparisons, raw_var)
        pair.cause = diagnose(pair, common[a]["float64"], common[b]["float64"], initial, config, hyper)
        report.pairs.append(pair)


def diagnose(pair: PairResult, a: Results, b: Results, initial: dict[str, np.ndarray], config: TrainConfig,
             hyper: Hyperparameters) -> str | None:
    """The convention behind a float64 failure of `a` vs `b` (float64, common convention), when the numbers fit
    one; else the stage of the step where they part."""
    failure = pair.first_failure
    if failure is None:
        return None
    if failure.quantity in STATISTICS:
        return _statistics_cause(failure.quantity, pair, a, b, initial, config, hyper)
    if failure.quantity == "parameters":
        return _update_cause(pair, a, b, initial, config, hyper)
    if "paddle" in (pair.a, pair.b) and pool_scale_error(config) > 0:
        return (f"Paddle's AdaptiveAvgPool2D backward scales by float32(1/{(config.size // config.spec.reduction) ** 2}) "
                f"(relative error {pool_scale_error(config):.2e}), which every backbone gradient carries from the first "
                f"step: use an --image-size whose final feature map has a power-of-two area (the default) to see past it")
    if rel_l2(a["loss"]["loss"][:1], b["loss"]["loss"][:1]) > config.float64_rtol:
        return "the first training-mode forward pass differs already (BN in training mode, its epsilon, or the model)"
    if failure.quantity == "loss":
        return "the first step agrees and a later loss does not: the update or the BN running statistics differ"
    return "the losses agree and the gradients do not: the backward pass differs"


def _statistics_cause(quantity: str, pair: PairResult, a: Results, b: Results, initial: dict[str, np.ndarray],
                      config: TrainConfig, hyper: Hyperparameters) -> str:
    """Put each known convention slip into one side's statistics after the first step (exact: one update from the
    same start, the same batch); name the slip that makes the two agree."""
    first = f"first_{quantity}"
    before = rel_l2(_flat(b[first]), _flat(a[first]))
    if before <= config.float64_rtol:
        return (f"the BN running statistics ({quantity}) agree after the first step and differ after the last: "
                f"the BN update convention")
    counts = bn_counts(config.spec, config.batch, config.size)
    m = hyper.bn_momentum
    start = {key: initial[key].astype(np.float64) for key in a[first]}
    sides = ((pair.a, a, b), (pair.b, b, a))

    def fits(candidate: dict[str, np.ndarray], other: Results) -> bool:
        return _explains(candidate, other[first], before, config)

    for name, side, other in sides:
        if quantity == "running_var" and fits({key: unbiased_running_var(v, start[key], m, 1, counts[key.rsplit(".", 1)[0]])
                                               for key, v in side[first].items()}, other):
            return (f"the BN variance estimator: {name}'s running variance comes from the biased batch variance, the "
                    f"other's from the unbiased one (torch: unbiased; Keras and Paddle: biased, rewritten by train-step)")
    for name, side, other in sides:
        if fits({key: _as_momentum(v, start[key], 1.0 - m, m) for key, v in side[first].items()}, other):
            return (f"the BN momentum convention: {name} ran with momentum {1 - m:.6g} in torch's meaning instead of "
                    f"{m:.6g} (torch's momentum weighs the new batch, Keras' and Paddle's the old statistics: 1 - torch's)")
    return f"the BN running statistics ({quantity}) differ while the training step agrees: the BN update convention"


def _update_cause(pair: PairResult, a: Results, b: Results, initial: dict[str, np.ndarray], config: TrainConfig,
                  hyper: Hyperparameters) -> str:
    """Name decoupled weight decay when it explains the parameters after step 2: decoupled decay (p -= lr*wd*p apart
    from the gradient) makes the same first step and, in the second, leaves p higher by lr*mu*wd*p0, the decay term
    that coupled L2 put into the velocity and momentum carries over."""
    generic = ("the update differs while the losses and gradients agree: the optimizer's convention (weight decay "
               "coupled vs decoupled, momentum velocity form, hyperparameters rounded to float32), see the table in docs/train-step.md")
    if config.steps != 2:
        return f"{generic} (--steps 2 tells coupled from decoupled weight decay)"
    carried = hyper.lr * hyper.momentum * hyper.weight_decay
    before = rel_l2(_flat(b["parameters"]), _flat(a["parameters"]))
    for name, side, other in ((pair.a, a, b), (pair.b, b, a)):
        coupled = {key: value - carried * initial[key].astype(np.float64) for key, value in side["parameters"].items()}
        if _explains(coupled, other["parameters"], before, config):
            return (f"the weight decay convention: {name}'s weight decay is decoupled (p -= lr * wd * p apart from the "
                    f"gradient, as Keras' SGD(weight_decay=)), the other's coupled L2 added to the gradient before "
                    f"momentum (torch's): the second update differs by lr * momentum * wd * p")
    return generic


def _explains(candidate: dict[str, np.ndarray], target: dict[str, np.ndarray], before: float, config: TrainConfig) -> bool:
    """Whether `candidate` (one side with a slip put in) meets `target` (the other side): within the float64 gate, or
    all but rounding of the difference `before` gone."""
    return rel_l2(_flat(candidate), _flat(target)) <= max(config.float64_rtol, EXPLAINED * before)


def _as_momentum(value: np.ndarray, initial: np.ndarray, ran: float, wanted: float) -> np.ndarray:
    """A statistic updated once from `initial` with torch-convention momentum `ran`, as if updated with `wanted`."""
    batch = (value - (1 - ran) * initial) / ran
    return (1 - wanted) * initial + wanted * batch

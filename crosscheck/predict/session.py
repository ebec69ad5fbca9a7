"""`crosscheck predict`'s work: real images through a checkpoint in every framework, preprocessed as its origin expects.

The checkpoint is read as convert reads it; its model id gives the weights' origin (crosscheck.spec.origin),
which gives the image pipeline (Pillow, crosscheck.predict.images) and the preprocessing style (overridable).
Each framework's worker applies its own `preprocess_input` to the same [0, 255] RGB batch and runs the
model in float32, as a user would; this process turns the logits into softmax probabilities and the top-5
classes, and says whether the frameworks agree (the same top-5 classes in the same order for every image).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from crosscheck import backends
from crosscheck import spec as specs
from crosscheck.checkpoints import canonical, reader
from crosscheck.metrics import rel_l2
from crosscheck.predict import images as image_pipeline
from crosscheck.predict.categories import IMAGENET_CLASSES, imagenet_categories
from crosscheck.worker.client import DEFAULT_TIMEOUT, WorkerError, WorkerPool, worker_session

TOP = 5
Progress = Callable[[str], None]


class PredictError(ValueError):
    """Bad input for predict (an image, the weights, an option); the message names the file or option at fault."""


@dataclass(frozen=True)
class PredictOptions:
    frameworks: tuple[str, ...] = backends.default_names()
    model_id: str | None = None  # None: inferred from the checkpoint
    key: str | None = None
    prefix: str | None = None
    preprocess: str | None = None  # None: the weights' origin's style; "none": feed [0, 255] RGB as is
    top: int = TOP
    timeout: float = DEFAULT_TIMEOUT


@dataclass(frozen=True)
class Prediction:
    """One framework's top classes for one image: (class index, probability), best first."""

    classes: tuple[int, ...]
    probabilities: tuple[float, ...]


@dataclass
class PredictResult:
    spec: specs.ModelSpec
    origin: specs.Origin
    preprocess: str
    images: list[Path]
    predictions: dict[str, list[Prediction]]  # framework -> one per image
    logits_rel_l2: float  # the largest float32 rel L2 between two frameworks' logits
    names: tuple[str, ...] | None  # class names by index, when known

    @property
    def agree(self) -> bool:
        """Every framework gives every image the same top classes in the same order."""
        first, *others = self.predictions.values()
        return all([p.classes for p in other] == [p.classes for p in first] for other in others)

    def label(self, index: int) -> str:
        return f"{index} {self.names[index]}" if self.names else str(index)


def predict(image_paths: Sequence[str | Path], weights: str | Path, options: PredictOptions = PredictOptions(),
            progress: Progress | None = None) -> PredictResult:
    """Top classes of each image in each framework; bad input raises PredictError before any framework runs."""
    say = progress or (lambda message: None)
    for framework in options.frameworks:
        backends.check(framework)
    if options.preprocess not in (None, *specs.PREPROCESS_CHOICES):
        raise PredictError(f"--preprocess must be one of {', '.join(specs.PREPROCESS_CHOICES)}, got {options.preprocess!r}")
    paths = [Path(path) for path in image_paths]
    for path in paths:  # the cheap check first: a typo in an image name costs no checkpoint read
        if not path.is_file():
            raise PredictError(f"{path}: no such file")
    try:
        with worker_session("predict", options.timeout) as session:
            spec, arrays, labels = _read_weights(weights, session.pool, session.tmp, options)
            origin = specs.origin(spec.model_id)
            style = options.preprocess or origin.preprocessing
            try:
                batch = image_pipeline.load_batch(paths, origin.pipeline)
            except image_pipeline.ImageError as error:
                raise PredictError(str(error)) from error
            say(f"{weights}: {spec.model_id}, num_classes={spec.num_classes}; origin {origin.name}: "
                f"{_describe_pipeline(origin.pipeline)}, {style} preprocessing")
            logits = _run(session.pool, session.tmp, spec, arrays, batch, style, options.frameworks, say)
    except WorkerError as error:
        raise PredictError(str(error)) from error
    names = labels or (imagenet_categories() if spec.num_classes == IMAGENET_CLASSES else None)
    predictions = {fw: [_top(row, options.top) for row in values] for fw, values in logits.items()}
    pairs = [rel_l2(logits[a], logits[b]) for i, a in enumerate(logits) for b in list(logits)[i + 1:]]
    return PredictResult(spec, origin, style, paths, predictions, max(pairs, default=0.0), names)


def _read_weights(weights: str | Path, pool: WorkerPool, scratch: Path,
                  options: PredictOptions) -> tuple[specs.ModelSpec, dict[str, np.ndarray], tuple[str, ...] | None]:
    """The checkpoint's model, canonical weights and class names (a hub config's, e.g. transformers' id2label), read
    as convert reads them; a headless model is refused."""
    try:
        found = reader.read(reader.checkpoint(weights), pool, scratch, options.model_id, options.key, options.prefix)
    except reader.CheckpointError as error:
        raise PredictError(f"{error} (`crosscheck inspect FILE` shows what a checkpoint holds)") from error
    canonical.check_finite(found.located.native, str(weights))
    if found.spec.headless:
        raise PredictError(f"{weights}: {found.spec.model_id} without a classifier head has no classes to predict")
    return found.spec, found.arrays, found.labels


def _run(pool: WorkerPool, scratch: Path, spec: specs.ModelSpec, arrays: dict[str, np.ndarray], batch: np.ndarray,
         style: str, frameworks: Sequence[str], say: Progress) -> dict[str, np.ndarray]:
    """Float32 logits of each framework: its own preprocess_input (unless `style` is none), then its model."""
    weights = canonical.save(scratch / "weights.safetensors", spec.model_id, arrays)
    raw = scratch / "images.npy"
    np.save(raw, batch)
    pool.start(set(frameworks))
    logits = {}
    for framework in frameworks:
        worker = pool[framework]
        model_input = raw
        if style != specs.NO_PREPROCESSING:
            model_input = scratch / f"input-{framework}.npy"
            worker.request("preprocess", input=raw, output=model_input, style=style)
        worker.request("load", model_id=spec.model_id, weights=weights)
        output = scratch / f"logits-{framework}.npy"
        worker.request("forward", model_id=spec.model_id, num_classes=spec.num_classes, input=model_input, output=output)
        logits[framework] = np.load(output)
        say(f"ran {spec.model_id} in {framework}")
    return logits


def _top(logits: np.ndarray, top: int) -> Prediction:
    """The `top` classes by logit (softmax keeps the order, but its float64 probabilities underflow to ties when
    logits spread by more than ~745), best first, with their softmax probabilities."""
    shifted = logits.astype(np.float64) - logits.max()
    probabilities = np.exp(shifted) / np.exp(shifted).sum()
    order = np.argsort(-logits, kind="stable")[:top]
    return Prediction(tuple(int(i) for i in order), tuple(float(probabilities[i]) for i in order))


def _describe_pipeline(pipeline: specs.ImagePipeline) -> str:
    if pipeline.mode == "direct":
        return f"resize to {pipeline.crop}x{pipeline.crop} ({pipeline.interpolation})"
    return f"resize shorter side to {pipeline.resize} ({pipeline.interpolation}) + centre crop {pipeline.crop}"

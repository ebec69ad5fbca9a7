"""`crosscheck convert`: a checkpoint from one ecosystem to another, verified before it is written.

SRC is read (in its framework's worker; `.pdparams` and `.safetensors` in this framework-free
process), its model id inferred from keys and shapes, relabelled through the spec's canonical
form and written to a staging file. The staging file is read back, and the source framework
with the source weights and the destination framework with the read-back weights run the same
input in float64 (the weights are float32, so float64 is exact for them), which makes the check a proof:
a lossless relabelling agrees to ~1e-13 (bit-identical when both sides run in one framework), far
below FLOAT64_RTOL, whatever the weights' float32 rounding. DST appears (atomically) only if the
outputs pass the gate, or with `force`.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file

from crosscheck import calibration
from crosscheck.checkpoints import canonical, identify, paddle_formats
from crosscheck import spec as specs
from crosscheck.files import atomic_output, check_writable
from crosscheck.metrics import FLOAT64_RTOL, Agreement, agreement
from crosscheck.workers import DEFAULT_TIMEOUT, FrameworkWorker, WorkerError

# Longest suffix first: ".weights.h5" before ".h5".
FORMATS: dict[str, str] = {
    ".weights.h5": "keras",
    ".h5": "keras",
    ".pth": "torch",
    ".pt": "torch",
    ".pdparams": "paddle",
    ".safetensors": identify.CANONICAL,
}
KERAS_ORDER_BASED = ".weights.h5"
CANONICAL_RUNS_IN = "torch"  # the framework that runs a .safetensors side of the comparison

Progress = Callable[[str], None]


class ConvertError(ValueError):
    """A conversion that cannot be done; the message names the file, key or layer at fault."""


@dataclass(frozen=True)
class ConvertOptions:
    model_id: str | None = None  # None: infer from the checkpoint
    overwrite: bool = False
    force: bool = False
    seed: int = 0
    batch: int = 2
    rtol: float = FLOAT64_RTOL  # on the float64 outputs
    timeout: float = DEFAULT_TIMEOUT


@dataclass
class ConvertResult:
    spec: specs.ModelSpec
    source_framework: str
    destination_framework: str
    agreement: Agreement
    passed: bool
    written: bool
    source_logits: np.ndarray
    destination_logits: np.ndarray


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint path and what its suffix says: the format (suffix) and whose naming it uses."""

    path: Path
    suffix: str
    naming: str  # torch, keras, paddle or canonical

    @property
    def framework(self) -> str:
        """The framework that builds a model from this checkpoint in the comparison."""
        return CANONICAL_RUNS_IN if self.naming == identify.CANONICAL else self.naming


def checkpoint(path: str | Path) -> Checkpoint:
    """Recognise the format by extension; anything else raises ConvertError listing the known ones."""
    path = Path(path)
    for suffix, naming in FORMATS.items():
        if path.name.lower().endswith(suffix):
            return Checkpoint(path, suffix, naming)
    raise ConvertError(f"{path}: unknown checkpoint extension; known: {', '.join(FORMATS)}")


class WorkerPool:
    """Framework workers started on first use, configured for CPU-exact numerics, closed together."""

    def __init__(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.timeout = timeout
        self.workers: dict[str, FrameworkWorker] = {}

    def start(self, frameworks: set[str]) -> None:
        """Start every missing worker first, then configure each: the framework imports overlap."""
        new = [fw for fw in sorted(frameworks) if fw not in self.workers]
        for framework in new:
            self.workers[framework] = FrameworkWorker(framework, timeout=self.timeout)
        for framework in new:
            self.workers[framework].request("configure", device="auto", allow_tf32=False)

    def __getitem__(self, framework: str) -> FrameworkWorker:
        self.start({framework})
        return self.workers[framework]

    def close(self) -> None:
        for worker in self.workers.values():
            worker.close()
        self.workers.clear()


def convert(src: str | Path, dst: str | Path, options: ConvertOptions = ConvertOptions(),
            pool: WorkerPool | None = None, progress: Progress | None = None) -> ConvertResult:
    """Convert SRC to DST, verify the outputs agree, and write DST only if they do (or `force`)."""
    source, destination = checkpoint(src), checkpoint(dst)
    say = progress or (lambda message: None)
    if not source.path.is_file():
        raise ConvertError(f"{source.path}: no such file")
    check_writable(destination.path, options.overwrite)
    if destination.path.exists() and destination.path.resolve() == source.path.resolve():
        raise ConvertError(f"{destination.path}: is the source file; write the conversion elsewhere")
    own_pool = pool is None
    pool = pool or WorkerPool(options.timeout)
    try:
        with tempfile.TemporaryDirectory(prefix="crosscheck-convert-") as tmp:
            return _Conversion(source, destination, options, pool, Path(tmp), say).run()
    except WorkerError as error:
        raise ConvertError(str(error)) from error
    finally:
        if own_pool:
            pool.close()


class _Conversion:
    """One conversion's steps, sharing the temp directory, the options and the workers."""

    def __init__(self, source: Checkpoint, destination: Checkpoint, options: ConvertOptions, pool: WorkerPool,
                 tmp: Path, say: Progress) -> None:
        self.source, self.destination, self.options = source, destination, options
        self.pool, self.tmp, self.say = pool, tmp, say

    def run(self) -> ConvertResult:
        spec, arrays = self.read(self.source, self.options.model_id)  # bad input fails before any worker starts
        self.pool.start({self.source.framework, self.destination.framework})
        found = "given" if self.options.model_id else "inferred from keys and shapes"
        self.say(f"{self.source.path}: {spec.model_id}, num_classes={spec.num_classes} ({found})")
        staged = self.tmp / f"converted{self.destination.suffix}"
        self.write(staged, spec, arrays)
        _, written = self.read(Checkpoint(staged, self.destination.suffix, self.destination.naming), spec.model_id)
        images = self.tmp / "input.npy"
        np.save(images, calibration.sample_input(self.options.batch, self.options.seed))
        before = self.logits("source", self.source.framework, spec, arrays, images)
        after = self.logits("destination", self.destination.framework, spec, written, images)
        measured = agreement(after, before)
        passed = measured.passes(self.options.rtol)
        if passed or self.options.force:
            with atomic_output(self.destination.path, self.options.overwrite) as temp:
                shutil.copyfile(staged, temp)
        return ConvertResult(spec, self.source.framework, self.destination.framework, measured, passed,
                             passed or self.options.force, before, after)

    def read(self, file: Checkpoint, model_id: str | None) -> tuple[specs.ModelSpec, dict[str, np.ndarray]]:
        """The checkpoint's model spec and its canonical arrays; every problem raises naming the file."""
        try:
            if file.suffix == KERAS_ORDER_BASED:
                layers = self.pool["keras"].request("checkpoint_layers", path=file.path)["result"]["layers"]
                spec = identify.identify_layers(layers, model_id)
                native = self.read_native(file, spec)
            else:
                native = self.read_native(file, None)
                spec = identify.identify({k: tuple(np.shape(v)) for k, v in native.items()}, file.naming, model_id)
            canonical.check_finite(native, str(file.path))
        except (identify.CheckpointMismatchError, specs.UnknownModelError) as error:
            raise ConvertError(f"{file.path}: {error}") from error
        if file.naming == identify.CANONICAL:
            return spec, {key: np.asarray(native[key], np.float32) for key in spec.canonical_shapes()}
        return spec, specs.from_native(spec, native, file.naming)

    def read_native(self, file: Checkpoint, spec: specs.ModelSpec | None) -> Mapping[str, np.ndarray]:
        """{key: array} in the file's own naming; framework formats are read in their worker."""
        if file.naming == identify.CANONICAL:
            try:
                return load_file(str(file.path))
            except (SafetensorError, OSError, ValueError) as error:
                raise ConvertError(f"{file.path}: not a readable safetensors file (truncated or corrupt: {error})") from error
        if file.naming == "paddle":
            return paddle_formats.load(file.path)
        output = self.tmp / "native.npz"
        model = {"model_id": spec.model_id, "num_classes": spec.num_classes} if spec else {}
        try:
            self.pool[file.naming].request("read_checkpoint", path=file.path, output=output, **model)
        except WorkerError as error:
            raise ConvertError(str(error).split(" failed: ", 1)[-1].split(": ", 1)[-1]) from error
        with np.load(output) as archive:
            return dict(archive)

    def write(self, path: Path, spec: specs.ModelSpec, arrays: dict[str, np.ndarray]) -> None:
        metadata = {"converted_from": self.source.path.name, "converted_by": "crosscheck convert"}
        if self.destination.naming == identify.CANONICAL:
            canonical.save(path, spec.model_id, arrays, metadata)
            return
        weights = canonical.save(self.tmp / "to-write.safetensors", spec.model_id, arrays, metadata)
        self.pool[self.destination.naming].request("write_checkpoint", weights=weights, output=path)

    def logits(self, side: str, framework: str, spec: specs.ModelSpec, arrays: dict[str, np.ndarray],
               images: Path) -> np.ndarray:
        """Load `arrays` into `framework`'s float64 model and run the sample input (sides run one after the other)."""
        weights = canonical.save(self.tmp / f"{side}.safetensors", spec.model_id, arrays)
        output = self.tmp / f"{side}-logits.npy"
        self.pool[framework].request("load", model_id=spec.model_id, weights=weights, dtype="float64")
        self.pool[framework].request("forward", model_id=spec.model_id, input=images, output=output,
                                     num_classes=spec.num_classes, dtype="float64")
        self.say(f"{side}: ran {spec.model_id} in {framework}")
        return np.load(output)

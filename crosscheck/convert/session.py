"""`crosscheck convert`: a checkpoint from one ecosystem to another, verified before it is written.

SRC is read through crosscheck.checkpoints.reader (nested training dicts and key prefixes
included), its model id inferred from keys and shapes, relabelled through the spec's canonical
form and written to a staging file. The proof then compares file to file: SRC loaded by its own
framework's loader (torch `load_state_dict`, Paddle `set_state_dict`, Keras `load_weights`) under
the key and prefix where the reader found the ResNet, natively named, and the staging file loaded
by the destination framework's loader, both run on one input in float64. Neither side goes through
the reader's relabelling, so a reader that mislabels same-shape tensors (BN mean and variance) fails
the proof. float64 is exact for float32 weights, so a lossless conversion agrees far below
FLOAT64_RTOL. A file no framework loads by itself (crosscheck's canonical .safetensors, a
model nested in a .keras archive) starts from its arrays as read by crosscheck, and the report says
so. A float64 checkpoint is converted and written in float64. The outputs are logits, or a headless
model's pooled features. DST appears (atomically) only if the outputs pass the gate (crosscheck.gate),
or with `force`. A model hub's layout (crosscheck/checkpoints/hubs) is read like any naming and written with
`to` (a transformers directory, a PaddleClas .pdparams); its side of the proof is the library's own loader where
the library is installed (transformers' from_pretrained), else crosscheck's reading of the file, and the report
says which.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from crosscheck import calibration
from crosscheck import spec as specs
from crosscheck.checkpoints import canonical, hubs, identify, reader
from crosscheck.checkpoints.containers import TOP, Located
from crosscheck.checkpoints.hubs.targets import TARGETS, Target, inferred
from crosscheck.files import atomic_directory, atomic_output, check_outputs, check_writable, check_writable_directory
from crosscheck.gate import verdict
from crosscheck.metrics import FLOAT64_RTOL, Agreement
from crosscheck.preprocessing import note as preprocessing_note
from crosscheck.training_conventions import bn_momentum_note
from crosscheck.worker.client import DEFAULT_TIMEOUT, WorkerError, WorkerPool, worker_session

Progress = Callable[[str], None]


class ConvertError(ValueError):
    """A conversion that cannot be done; the message names the file, key or layer at fault."""


@dataclass(frozen=True)
class ConvertOptions:
    model_id: str | None = None  # None: infer from the checkpoint
    num_classes: int | None = None  # None: the checkpoint's head; NO_HEAD: its backbone alone
    key: str | None = None  # the nested dict holding the ResNet; None: find it
    prefix: str | None = None  # the key prefix to strip; None: find it
    overwrite: bool = False
    force: bool = False
    to: str | None = None  # a library's layout to write (TARGETS); None: the destination's extension or directory says
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
    source_logits: np.ndarray  # pooled features for a headless model
    destination_logits: np.ndarray
    found: reader.Found  # where in SRC the ResNet was
    source_reading: str  # how the proof read SRC: its framework's loader, or crosscheck's reader where none exists
    destination_reading: str  # how the proof read the written file
    precision: str  # float32, or float64 for a float64 checkpoint (written in float64)
    preprocessing: str = ""  # one line: the input the weights expect, and what it means in DST's framework


def convert(src: str | Path, dst: str | Path, options: ConvertOptions = ConvertOptions(),
            pool: WorkerPool | None = None, progress: Progress | None = None, keep_loaded: bool = False) -> ConvertResult:
    """Convert SRC to DST, verify the outputs agree, and write DST only if they do (or `force`); `keep_loaded` leaves
    the built models in the workers of a given `pool` for the next file of the same model id."""
    target = destination_target(Path(dst), options.to)
    try:
        source = reader.checkpoint(src)
        destination = reader.checkpoint(dst, writing=True) if target is None \
            else reader.Checkpoint(Path(dst), target.suffix, target.framework)
    except reader.CheckpointError as error:
        raise ConvertError(str(error)) from error
    say = progress or (lambda message: None)
    if not source.path.is_file():
        raise ConvertError(f"{source.path}: no such file")
    if target is not None and target.directory:
        check_writable_directory(destination.path, options.overwrite)
        if source.path.resolve().is_relative_to(destination.path.resolve()):
            raise ConvertError(f"{destination.path}: holds the source file; write the conversion elsewhere")
    else:
        check_writable(destination.path, options.overwrite)
    if destination.path.exists() and destination.path.resolve() == source.path.resolve():
        raise ConvertError(f"{destination.path}: is the source file; write the conversion elsewhere")
    try:
        with worker_session("convert", options.timeout, pool=pool) as session:
            session.pool.launch({source.framework, destination.framework})  # both import while SRC is read
            return _Conversion(source, destination, target, options, session.pool, session.tmp, say,
                               keep_loaded or pool is None).run()  # workers of its own close at once: no release
    except WorkerError as error:
        raise ConvertError(str(error)) from error


@dataclass
class ManyResult:
    """`convert SRC... --to-dir D`: every file's conversion, in order, and whether they were written (all or none)."""

    conversions: list[tuple[Path, Path, ConvertResult]]  # (source, destination, result)
    written: bool
    workers_started: list[str]  # every worker process started, in order: one per framework for all the files

    @property
    def passed(self) -> bool:
        return all(result.passed for _, _, result in self.conversions)


def destinations(sources: Sequence[str | Path], to_dir: str | Path, suffix: str) -> list[Path]:
    """Each source's destination in `to_dir`: its name with its format's extension replaced by `suffix`."""
    named = []
    for source in sources:
        try:
            found = reader.checkpoint(source)
        except reader.CheckpointError as error:
            raise ConvertError(str(error)) from error
        named.append(Path(to_dir) / (found.path.name[:-len(found.suffix)] + suffix))
    return named


def convert_many(sources: Sequence[str | Path], to_dir: str | Path, suffix: str,
                 options: ConvertOptions = ConvertOptions(), progress: Progress | None = None) -> ManyResult:
    """Convert every source into `to_dir` as `suffix` files with one pool of workers, each file proven as `convert`
    proves one. All or nothing: the files are written only once every one is converted and passes (or `force`); a
    bad file raises ConvertError naming it and saying what became of the others, and nothing is written."""
    if not Path(to_dir).is_dir():
        raise ConvertError(f"{to_dir}: no such directory")
    if options.to is not None and TARGETS[options.to].directory:
        raise ConvertError(f"--to {options.to} writes a directory per model: convert those files one at a time")
    targets = destinations(sources, to_dir, suffix)
    for target in targets:
        reader.checkpoint(target, writing=True)  # a format convert cannot write fails here, before any work
    check_outputs(targets, options.overwrite)  # also refuses two sources with the same destination
    pool = WorkerPool(options.timeout)
    conversions: list[tuple[Path, Path, ConvertResult]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="crosscheck-convert-staged-") as staging:
            for index, (source, target) in enumerate(zip(sources, targets)):
                staged = Path(staging) / target.name
                try:
                    result = convert(source, staged, dataclasses.replace(options, overwrite=True), pool, progress,
                                     keep_loaded=True)  # the next file of the same model id reuses the built models
                except ConvertError as error:
                    raise ConvertError(f"{error}; {_fate_of_the_others(sources, index, to_dir)}") from error
                if conversions and conversions[-1][2].spec.model_id != result.spec.model_id:
                    release(pool, conversions[-1][2].spec.model_id)
                conversions.append((Path(source), target, result))
            write = all(result.passed for _, _, result in conversions) or options.force
            if write:
                _write_all({target: Path(staging) / target.name for _, target, _ in conversions}, options.overwrite)
    finally:
        pool.close()
    return ManyResult(conversions, write, pool.started)


def _fate_of_the_others(sources: Sequence[str | Path], failed: int, to_dir: str | Path) -> str:
    """What a bad file at index `failed` means for the rest: nothing is written; which were converted, which not."""
    done, left = [str(s) for s in sources[:failed]], [str(s) for s in sources[failed + 1:]]
    parts = [f"nothing written to {to_dir} (all or nothing)"]
    if done:
        parts.append(f"converted and proven but not written: {', '.join(done)}")
    if left:
        parts.append(f"not converted: {', '.join(left)}")
    return "; ".join(parts)


def _write_all(staged: dict[Path, Path], overwrite: bool) -> None:
    """Copy every staged file beside its target first, then rename them all into place: a failed copy writes none."""
    with contextlib.ExitStack() as renames:
        for target, source in staged.items():
            shutil.copyfile(source, renames.enter_context(atomic_output(target, overwrite)))


def release(pool: WorkerPool, model_id: str) -> None:
    """Drop every model built for `model_id` in every running worker of `pool`."""
    for framework in list(pool.workers):
        pool[framework].request("release", model_id=model_id)


def destination_target(destination: Path, to: str | None) -> Target | None:
    """The library layout to write: `to`, else the one an existing destination directory is (a transformers
    config.json); None for a file named by its extension. A destination neither names raises ConvertError."""
    if to is not None:
        target = TARGETS.get(to)
        if target is None:
            raise ConvertError(f"--to {to}: unknown target; known: {', '.join(TARGETS)}")
        if not target.directory and not destination.name.lower().endswith(target.suffix):
            raise ConvertError(f"{destination}: --to {to} writes a {target.suffix} file; name it so")
        return target
    target = inferred(destination)
    if target is not None:
        return target
    if destination.is_dir() or not any(destination.name.lower().endswith(suffix) for suffix in reader.FORMATS):
        raise ConvertError(f"{destination}: not a checkpoint file name (known extensions: {', '.join(reader.FORMATS)}) "
                           f"and no library's directory; pass --to {'|'.join(TARGETS)} to write one")
    return None


def describe(found: reader.Found, given: bool) -> str:
    """'resnet50, num_classes=1000 (inferred from keys and shapes), in [state_dict], prefix "model."; <layout>', with
    the head's mapping where it was stored under other keys."""
    head = "no head" if found.spec.headless else f"num_classes={found.spec.num_classes}"
    how = "given" if given else "inferred from keys and shapes"
    where = found.located.where()
    extra = f", {len(found.located.ignored)} other key(s) ignored" if found.located.ignored else ""
    layout = f", {found.layout.library} layout" if found.layout else ""
    mapped = f"; head: {found.head_mapping}" if found.head_mapping else ""
    alone = "; the backbone alone (--num-classes 0)" if found.located.backbone_only else ""
    return f"{found.spec.model_id}, {head} ({how}), {where}{layout}{extra}; {found.origin}{mapped}{alone}"


class _Conversion:
    """One conversion's steps, sharing the temp directory, the options and the workers."""

    def __init__(self, source: reader.Checkpoint, destination: reader.Checkpoint, target: Target | None,
                 options: ConvertOptions, pool: WorkerPool, tmp: Path, say: Progress, keep_loaded: bool = False) -> None:
        self.source, self.destination, self.target, self.options = source, destination, target, options
        self.pool, self.tmp, self.say, self.keep_loaded = pool, tmp, say, keep_loaded

    def run(self) -> ConvertResult:
        found = self.read(self.source, self.options.model_id, self.options.key, self.options.prefix,
                          self.options.num_classes)
        spec, precision = found.spec, precision_of(found)  # bad input fails before the comparison's workers start
        refusal = self.target.holds(spec) if self.target else None
        if refusal:
            raise ConvertError(f"{self.destination.path}: {refusal}")
        arrays = {key: np.asarray(array, precision) for key, array in found.arrays.items()}
        self.pool.start({self.source.framework, self.destination.framework})
        self.say(f"{self.source.path}: {describe(found, bool(self.options.model_id))}")
        if precision == "float64":
            self.say(f"{self.source.path}: holds float64 tensors; converted and written in float64, without rounding")
        note = bn_momentum_note(self.source.naming, self.destination.naming)
        if note:
            self.say(note)
        staged = self.tmp / ("converted" if self.target and self.target.directory
                             else f"converted{self.destination.suffix}")
        images = self.tmp / "input.npy"
        np.save(images, calibration.sample_input(self.options.batch, self.options.seed, spec.input_size))
        with ThreadPoolExecutor(max_workers=2) as sides:  # each side in its own worker: they run side by side
            source_side = sides.submit(self.outputs, "source", found.file, found.located, spec, arrays, images)
            destination_side = sides.submit(self.written_outputs, staged, found, arrays, images)
            (before, source_reading), (after, destination_reading) = source_side.result(), destination_side.result()
        self.say(f"source: ran {spec.model_id} in {self.source.framework}, read by {source_reading}")
        self.say(f"destination: ran {spec.model_id} in {self.destination.framework}, read by {destination_reading}")
        if not self.keep_loaded:
            release(self.pool, spec.model_id)  # a shared pool keeps one model at a time
        measured, passed = verdict(after, before, self.options.rtol)
        if (passed or self.options.force) and self.target and self.target.directory:
            with atomic_directory(self.destination.path, self.options.overwrite) as temp:
                shutil.copytree(staged, temp, dirs_exist_ok=True)
        elif passed or self.options.force:
            with atomic_output(self.destination.path, self.options.overwrite) as temp:
                shutil.copyfile(staged, temp)
        framework = None if self.destination.naming == identify.CANONICAL else self.destination.naming
        return ConvertResult(spec, _side(self.source.framework, found.layout), _side(self.destination.framework,
                             hubs.LAYOUTS.get(self.written_naming)), measured, passed,
                             passed or self.options.force, before, after, found, source_reading, destination_reading,
                             precision, preprocessing_note(spec.model_id, framework))

    def written_outputs(self, staged: Path, found: reader.Found, arrays: dict[str, np.ndarray],
                        images: Path) -> tuple[np.ndarray, str]:
        """Write the staged output, then run it as the destination's loader reads it (`outputs`)."""
        spec, naming = found.spec, self.written_naming
        self.write(staged, spec, arrays, found.labels)
        written = reader.Checkpoint(self.target.weights(staged) if self.target else staged,
                                    self.destination.suffix, self.destination.naming)
        return self.outputs("destination", written, _whole_file(found.located, naming), spec,
                            self.written_arrays(written, naming, spec, arrays), images)

    @property
    def written_naming(self) -> str:
        """The keys the written file holds: a library layout's for a target, else the destination format's."""
        return self.target.naming if self.target else self.destination.naming

    def read(self, file: reader.Checkpoint, model_id: str | None, key: str | None = None,
             prefix: str | None = None, num_classes: int | None = None) -> reader.Found:
        """The checkpoint's ResNet (NaN/Inf refused); every problem raises ConvertError naming the file."""
        try:
            found = reader.read(file, self.pool, self.tmp, model_id, key, prefix, num_classes)
        except reader.CheckpointError as error:
            raise ConvertError(str(error)) from error
        canonical.check_finite(found.located.native, str(file.path))
        return found

    def write(self, path: Path, spec: specs.ModelSpec, arrays: dict[str, np.ndarray],
              labels: tuple[str, ...] | None) -> None:
        """The staged output: a directory target's files, crosscheck's canonical file, or a framework's file (in a
        library's layout for a file target)."""
        metadata = {"converted_from": self.source.path.name, "converted_by": "crosscheck convert",
                    "preprocessing": specs.origin(spec.model_id).preprocessing}
        if self.target and self.target.write_directory:
            path.mkdir()
            self.target.write_directory(path, spec, arrays, labels)
            return
        if self.destination.naming == identify.CANONICAL:
            canonical.save(path, spec.model_id, arrays, metadata)
            return
        weights = canonical.save(self.tmp / "to-write.safetensors", spec.model_id, arrays, metadata)
        if self.target and self.target.in_worker:
            path.mkdir()
            self.pool[self.destination.naming].request("hub_write", weights=weights, output=path,
                                                       layout=self.target.naming)
            return
        self.pool[self.destination.naming].request("write_checkpoint", weights=weights, output=path,
                                                   layout=self.target.naming if self.target and self.target.naming
                                                   in hubs.LAYOUTS else None)

    def written_arrays(self, written: reader.Checkpoint, naming: str, spec: specs.ModelSpec,
                       arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """What the proof runs for a written file in a library layout without its library here: the file read back
        by crosscheck (any other written file is run by its framework's or library's own loader)."""
        layout = hubs.LAYOUTS.get(naming)
        if layout is None or layout.runtime:
            return arrays
        read_back = self.read(written, spec.model_id).arrays
        return {key: np.asarray(value, arrays[key].dtype) for key, value in read_back.items()}

    def outputs(self, side: str, file: reader.Checkpoint, located: Located, spec: specs.ModelSpec,
                arrays: dict[str, np.ndarray], images: Path) -> tuple[np.ndarray, str]:
        """`file` loaded by its framework's own loader into the float64 model, run on the sample input: logits, or
        pooled features if headless; and how the file was read. A file no
        framework loads by itself runs from `arrays`, crosscheck's reading of it."""
        framework = file.framework
        output = self.tmp / f"{side}-outputs.npy"
        layout = hubs.LAYOUTS.get(located.naming)
        how = native_reading(file, located)
        if layout is not None and layout.runtime:
            how = self.pool[framework].request(
                "hub_outputs", layout=layout.name, path=file.path, container=located.container, prefix=located.prefix,
                model_id=spec.model_id, num_classes=spec.num_classes, input=images, output=output)["result"]["how"]
        elif how is None or layout is not None:
            weights = canonical.save(self.tmp / f"{side}.safetensors", spec.model_id, arrays)
            self.pool[framework].request("load", model_id=spec.model_id, weights=weights, dtype="float64")
            self.pool[framework].request("forward", model_id=spec.model_id, input=images, output=output,
                                         num_classes=spec.num_classes, dtype="float64")
            why = f"{layout.not_installed}; read by crosscheck's {layout.name} key mapping" if layout \
                else UNLOADABLE[file.suffix]
            how = f"crosscheck's reading of the file ({why})"
        else:
            self.pool[framework].request("file_outputs", path=file.path, naming=located.naming, container=located.container,
                                         prefix=located.prefix, keys=located.file_keys(), model_id=spec.model_id,
                                         num_classes=spec.num_classes, input=images, output=output)
        return np.load(output), how


# Why a format's file is read for the proof by crosscheck rather than by a framework's loader.
UNLOADABLE = {".keras": "Keras loads a .keras archive into the model it was saved from, and this one holds the "
                        "ResNet nested in another model or next to other layers",
              ".weights.h5": "Keras loads an order-based file only into the model it was saved from, and this one "
                             "holds the ResNet nested in a transfer-learning model, or the head is left out",
              ".h5": "Keras' by-name loader needs the layer names unprefixed, at the top level, the head named "
                     "predictions"}
CANONICAL_READING = "the spec's mapping of its canonical arrays into torch (no framework loads a crosscheck .safetensors)"


def native_reading(file: reader.Checkpoint, located: Located) -> str | None:
    """How the proof loads `file` with its framework's own loader (for a crosscheck .safetensors, which no framework
    loads, the spec's mapping of its arrays), or None where Keras' loaders cannot take the file as it is."""
    where = "" if located.container == TOP and not located.prefix else f", {located.where()}"
    if located.naming == identify.CANONICAL:
        return CANONICAL_READING
    if file.suffix == ".keras" and (where or located.ignored or located.head):
        return None
    if file.suffix == ".h5":
        return None if where or located.head else "Keras' by-name legacy load_weights"
    if file.naming == "keras":
        return None if located.head or located.backbone_only else "Keras load_weights"
    if located.head:
        where += f", the head from {located.head.describe()}"
    if located.backbone_only and located.ignored:
        where += ", the backbone's keys alone"
    if file.suffix == ".safetensors":
        return f"safetensors' loader + torch load_state_dict{where}"
    if file.naming == "torch":
        return f"torch.load(weights_only=True) + load_state_dict{where}"
    return f"Paddle set_state_dict of the file's state_dict (restricted unpickler){where}"


def _side(framework: str, layout: hubs.HubLayout | None) -> str:
    """A side of the comparison as the report names it: 'torch', or 'transformers (torch)'."""
    return f"{layout.name} ({framework})" if layout else framework


def precision_of(found: reader.Found) -> str:
    """float64 if the checkpoint holds any float64 tensor (the conversion then keeps float64 throughout), else float32."""
    return "float64" if any(np.asarray(array).dtype == np.float64 for array in found.located.native.values()) else "float32"


def _whole_file(located: Located, naming: str) -> Located:
    """A written checkpoint's location: the whole file, in the destination's naming."""
    return Located(located.spec, naming, TOP, "", {})

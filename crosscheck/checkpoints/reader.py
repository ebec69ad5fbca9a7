"""Read any checkpoint crosscheck knows into a model spec and canonical arrays, saying where the ResNet was.

The format comes from the extension; Paddle, legacy Keras `.h5`, `.keras` archives and
`.safetensors` are read in this framework-free process, PyTorch files and Keras 3 `.weights.h5`
in their framework's worker. Every dict of arrays in the file is a place the ResNet may be, under
a key prefix (crosscheck.checkpoints.containers); convert, export and inspect all read through here.
An empty file, or one that does not start with its format's signature, is refused before any reader
(or worker) sees it, so every such file gets one message naming it and what it is not.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file

from crosscheck import backends
from crosscheck import spec as specs
from crosscheck.checkpoints import canonical, containers, heads, hubs, identify, keras_formats, origins, paddle_formats
from crosscheck.checkpoints.containers import TOP, Arrays, Located
from crosscheck.worker import transport
from crosscheck.worker.client import WorkerError, WorkerPool

READ_ONLY = {".ckpt": "a Lightning .ckpt holds training state crosscheck does not make; write .pth",
             ".pth.tar": "a timm train checkpoint holds training state crosscheck does not make; write .pth"}
KERAS_ORDER_BASED = ".weights.h5"
CANONICAL_RUNS_IN = "torch"  # the framework that runs a .safetensors side of a comparison
CANONICAL_FORMAT = "crosscheck-canonical"  # the `format` metadata of crosscheck's own safetensors files
DESCRIPTIONS = {
    ".weights.h5": "Keras 3 weights (order-based)",
    ".keras": "Keras 3 model archive (weights read, code never run)",
    ".h5": "Keras legacy HDF5 weights (by name)",
    ".pth.tar": "timm train checkpoint, a PyTorch pickle (weights_only)",
    ".pth": "PyTorch pickle (weights_only)",
    ".pt": "PyTorch pickle (weights_only)",
    ".ckpt": "PyTorch / Lightning checkpoint (weights_only)",
    ".bin": "PyTorch pickle (weights_only)",
    ".pdparams": "Paddle pickle (restricted unpickler)",
    ".safetensors": "safetensors",
}
# Each format's key naming, from the backend records' checkpoint suffixes (.safetensors: crosscheck's canonical
# file, or torch-named), in DESCRIPTIONS' order: longest suffix first, ".weights.h5" before ".h5".
FORMATS: dict[str, str] = {suffix: next((backend.naming for backend in backends.records().values()
                                         if suffix in backend.checkpoint_suffixes), identify.CANONICAL)
                           for suffix in DESCRIPTIONS}

# What a file of each format starts with: (bytes, offset) choices, and how to say it. A truncated file keeps
# its signature and is told apart by its format's reader; a file without one is not that format at all.
ZIP = ((b"PK\x03\x04", 0),), "a zip archive"
PICKLE = ((b"\x80", 0),), "a pickle of protocol 2 or later"
HDF5 = tuple((b"\x89HDF\r\n\x1a\n", offset) for offset in (0, 512, 1024, 2048)), "the HDF5 signature"
SIGNATURES: dict[str, tuple[tuple[tuple[bytes, int], ...], str]] = {
    ".weights.h5": HDF5,
    ".keras": ZIP,
    ".h5": HDF5,
    **dict.fromkeys((".pth.tar", ".pth", ".pt", ".ckpt", ".bin"), (ZIP[0] + PICKLE[0], "a zip archive (torch.save) or a pickle")),
    ".pdparams": PICKLE,
    ".safetensors": (((b"{", 8),), "an 8-byte header size and a JSON header"),
}
SIGNATURE_BYTES = 2056  # enough for every signature above


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or holds no usable ResNet; the message names the file."""


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint path and what its suffix says: the format (suffix) and whose naming it uses."""

    path: Path
    suffix: str
    naming: str  # torch, keras, paddle or canonical

    @property
    def framework(self) -> str:
        """The framework that builds a model from this checkpoint in a comparison."""
        return CANONICAL_RUNS_IN if self.naming == identify.CANONICAL else self.naming


@dataclass(frozen=True)
class Found:
    """What a checkpoint holds: its ResNet's spec and canonical arrays, and where and how they were found."""

    file: Checkpoint
    located: Located
    arrays: dict[str, np.ndarray]  # canonical keys and layout, float32 (float64 kept)
    config: hubs.HubConfig | None = None  # a hub layout's config file beside the weights, as read
    origin: str = ""  # the library and layout the file comes from, e.g. "timm train checkpoint (CheckpointSaver)"
    notes: tuple[str, ...] = ()  # what the weights cannot tell and the reading assumed

    @property
    def layout(self) -> hubs.HubLayout | None:
        """The model hub's key layout the file uses (None: a framework's own naming)."""
        return hubs.LAYOUTS.get(self.located.naming)

    @property
    def labels(self) -> tuple[str, ...] | None:
        """Class names by index, from a hub config (transformers' id2label), when it has them."""
        return self.config.labels if self.config else None

    @property
    def spec(self) -> specs.ModelSpec:
        return self.located.spec

    @property
    def naming(self) -> str:
        """Whose key scheme the file uses (a .safetensors file may be canonical or torch)."""
        return self.located.naming

    @property
    def warnings(self) -> list[str]:
        """What the reading left out or assumed that the user may have wanted: ignored arrays shaped like a classifier
        head, a hub config's notes, what a layout's weights cannot tell."""
        return containers.head_warnings(self.located) + list(self.config.notes if self.config else ()) + list(self.notes)

    @property
    def head_mapping(self) -> str:
        """Which file keys became the classifier, where they are not the spec's own ('' where they are)."""
        return self.located.head.describe() if self.located.head else ""


def checkpoint(path: str | Path, writing: bool = False) -> Checkpoint:
    """Recognise the format by extension (a model hub's directory by its weights file); anything else raises
    CheckpointError listing the known ones."""
    path = Path(path)
    if path.is_dir() and not writing:
        weights = hubs.directory_weights(path)
        if weights is None:
            raise CheckpointError(f"{path}: a directory without a model hub's weights file "
                                  f"({', '.join(name for layout in hubs.LAYOUTS.values() for name in layout.weights_names)})")
        path = weights
    for suffix, naming in FORMATS.items():
        if path.name.lower().endswith(suffix):
            if writing and suffix in READ_ONLY:
                raise CheckpointError(f"{path}: {READ_ONLY[suffix]}")
            return Checkpoint(path, suffix, naming)
    raise CheckpointError(f"{path}: unknown checkpoint extension; known: {', '.join(FORMATS)}")


def read(file: Checkpoint, pool: WorkerPool, scratch: Path, model_id: str | None = None, key: str | None = None,
         prefix: str | None = None, num_classes: int | None = None) -> Found:
    """The file's ResNet (`num_classes=NO_HEAD`: its backbone alone); every problem (unreadable, unsafe, no ResNet,
    ambiguous, a classifier that is no ResNet head) raises CheckpointError."""
    if not file.path.is_file():
        raise CheckpointError(f"{file.path}: no such file")
    check_signature(file)
    places: Mapping[str, Arrays] = {}
    try:
        layout = hubs.read_in_worker(file.path)
        if layout is not None:
            located = _read_hub_in_worker(file, layout, pool, scratch, model_id)
        elif file.suffix == KERAS_ORDER_BASED:
            located = _read_order_based(file, pool, scratch, model_id, num_classes)
        else:
            places = _normalised(_containers(file, pool, scratch))
            located = containers.locate(places, _namings(file), model_id, key, prefix, num_classes)
        config = _config(file, located)
        notes = origins.check(file, located, pool)
    except containers.ContainerError as error:
        raise CheckpointError(f"{file.path}: {origins.name_choices(places)}{error}") from error
    except (identify.CheckpointMismatchError, specs.UnknownModelError, hubs.HubConfigError) as error:
        raise CheckpointError(f"{file.path}: {error}") from error
    except WorkerError as error:  # the worker's own message already names the file
        raise CheckpointError(str(error).split(" failed: ", 1)[-1].split(": ", 1)[-1]) from error
    except ValueError as error:  # the format readers name the file
        raise CheckpointError(str(error)) from error
    layout = hubs.LAYOUTS.get(located.naming)
    origin = layout.library if layout else origins.layout(file.suffix, located, places)
    return Found(file, located, _canonical(located), config, origin, notes)


def check_signature(file: Checkpoint) -> None:
    """Refuse an empty file, or one that does not start as its extension's format does, before any reader sees it."""
    with open(file.path, "rb") as handle:
        head = handle.read(SIGNATURE_BYTES)
    if not head:
        raise CheckpointError(f"{file.path}: empty file (0 bytes), not a checkpoint")
    choices, what = SIGNATURES[file.suffix]
    if not any(head[offset:offset + len(signature)] == signature for signature, offset in choices):
        raise CheckpointError(f"{file.path}: not a {file.suffix} checkpoint: it starts with {head[:12]!r}, not {what} "
                              "(another kind of file, or truncated or corrupt from its first byte)")


def nonfinite(found: Found) -> list[str]:
    """Native keys of the found arrays holding NaN or Inf."""
    return [key for key, value in found.located.native.items() if not np.all(np.isfinite(value))]


def _containers(file: Checkpoint, pool: WorkerPool, scratch: Path) -> dict[str, Arrays]:
    """Every dict of arrays in the file by container path, read where its format allows."""
    if file.naming == identify.CANONICAL:
        try:
            return {TOP: load_file(str(file.path))}
        except (SafetensorError, OSError, ValueError, TypeError) as error:
            raise ValueError(f"{file.path}: not a readable safetensors file (truncated or corrupt: {error})") from error
    if file.naming == "paddle":
        return paddle_formats.read(file.path)
    if file.naming == "keras":
        return keras_formats.read(file.path)
    return _worker_read(file, pool, scratch, {})


def _namings(file: Checkpoint) -> list[str]:
    """Key schemes to try: the file's naming and the hub layouts derived from it; a .safetensors file is crosscheck's
    canonical one (its metadata says so) or torch's (or a hub layout of torch's)."""
    if file.naming != identify.CANONICAL:
        return [file.naming, *hubs.derived(file.naming)]
    try:
        metadata = canonical.read_metadata(file.path)
    except (ValueError, OSError):
        metadata = {}
    return [identify.CANONICAL] if metadata.get("format") == CANONICAL_FORMAT \
        else [identify.CANONICAL, "torch", *hubs.derived("torch")]


def _normalised(found: dict[str, Arrays]) -> dict[str, Arrays]:
    """Each container with its keys as the hub layouts write them (a transformers ResNetModel's under `resnet.`)."""
    for layout in hubs.LAYOUTS.values():
        found = {place: layout.normalise(arrays) for place, arrays in found.items()}
    return found


def _config(file: Checkpoint, located: Located) -> hubs.HubConfig | None:
    """A hub layout's config beside the weights, checked against what the arrays hold (HubConfigError otherwise)."""
    config = hubs.config_for(located.naming, file.path)
    if config is None:
        return None
    spec = located.spec
    if config.model_id and config.model_id != spec.model_id:
        raise hubs.HubConfigError(f"{config.path}: describes {config.model_id}, the weights are {spec.model_id}")
    if config.labels and not spec.headless and len(config.labels) != spec.num_classes:
        raise hubs.HubConfigError(f"{config.path}: names {len(config.labels)} classes, the weights' head has "
                                  f"{spec.num_classes}")
    return config


def _read_order_based(file: Checkpoint, pool: WorkerPool, scratch: Path, model_id: str | None,
                      num_classes: int | None) -> Located:
    """A Keras 3 .weights.h5: identified by its layers' kinds and shapes, then read through that model; a
    transfer-learning model's nested base through the headless model, the one Dense around it as its head."""
    layers = pool["keras"].request("checkpoint_layers", path=file.path)["result"]["layers"]
    root, around = keras_formats.around_base(file.path)
    stack = [("dense", shapes[0]) for kind, shapes in layers if kind == "dense"]
    if not root and len(stack) > 1 and num_classes != specs.NO_HEAD:
        raise containers.ContainerError(heads.stack_message(stack))
    if not root:
        spec = identify.identify_layers(layers, model_id)
        native = _worker_read(file, pool, scratch, {"model_id": spec.model_id, "num_classes": spec.num_classes})[TOP]
        located = Located(spec, "keras", TOP, "", {key: native[key] for key in spec.native_shapes("keras")})
        if num_classes != specs.NO_HEAD or spec.headless:
            return located
        backbone = specs.get(spec.model_id, specs.NO_HEAD)
        left_out = tuple(containers.IgnoredArray(TOP, key, native[key].shape) for key in heads.head_keys("keras").values())
        return Located(backbone, "keras", TOP, "", {key: native[key] for key in backbone.native_shapes("keras")},
                       ignored=left_out, backbone_only=True)
    dense = {name: arrays for name, arrays in around.items() if [np.ndim(a) for a in arrays] == [2, 1]}
    if len(dense) > 1 and num_classes != specs.NO_HEAD:
        raise containers.ContainerError(heads.stack_message([(name, np.shape(arrays[0])) for name, arrays in dense.items()]))
    if num_classes == specs.NO_HEAD or not dense:
        layers = [layer for layer in layers if layer[0] != "dense"] if num_classes == specs.NO_HEAD else layers
        spec = identify.identify_layers(layers, model_id)
        head = None
    else:
        spec = identify.identify_layers(layers, model_id)
        [(name, (kernel, bias))] = dense.items()
        sources = [(TOP, f"{keras_formats.LAYERS}/{name}/vars/{i}") for i in (0, 1)]
        target = heads.head_keys("keras")
        head = heads.Head(f"Keras transfer learning: keras.applications base + GlobalAveragePooling2D + Dense, the "
                          f"base nested as a sub-model ({root})", tuple(zip(sources, (target["weight"], target["bias"]))))
    backbone = specs.get(spec.model_id, specs.NO_HEAD)
    native = _worker_read(file, pool, scratch, {"model_id": spec.model_id, "num_classes": specs.NO_HEAD, "root": root})[TOP]
    native = {key: native[key] for key in backbone.native_shapes("keras")}
    if head:
        native.update({target["weight"]: kernel, target["bias"]: bias})
    left_out = () if head else tuple(containers.IgnoredArray(TOP, f"{keras_formats.LAYERS}/{name}/vars/{i}", np.shape(array))
                                     for name, arrays in around.items() for i, array in enumerate(arrays))
    return Located(spec, "keras", root, "", native, left_out, head, backbone_only=num_classes == specs.NO_HEAD)


def _read_hub_in_worker(file: Checkpoint, layout: hubs.HubLayout, pool: WorkerPool, scratch: Path,
                        model_id: str | None) -> Located:
    """A hub file whose weights name no layer (a keras-hub preset): its config checked here first, then read by the
    library's own model in the base worker, and identified from the layer names and shapes that gives."""
    config = hubs.config_for(layout.name, file.path)
    arrays = _worker_read(file, pool, scratch, {"layout": layout.name}, op="hub_read")
    return containers.locate(arrays, [layout.name], model_id or (config.model_id if config else None), None, None)


def _worker_read(file: Checkpoint, pool: WorkerPool, scratch: Path, model: Mapping[str, object],
                 op: str = "read_checkpoint") -> dict[str, Arrays]:
    """{container: arrays} read in the file's framework worker (by `op`), passed back through a .safetensors file."""
    output = scratch / "native.safetensors"
    pool[file.naming].request(op, path=file.path, output=output, **model)
    found: dict[str, Arrays] = {}
    for name, array in transport.load(output).items():
        place, key = json.loads(name)
        found.setdefault(place, {})[key] = array
    return found


def _canonical(located: Located) -> dict[str, np.ndarray]:
    """The located native arrays relabelled into canonical keys and layout, float32 (float64 kept)."""
    if located.naming == identify.CANONICAL:
        return {key: np.asarray(located.native[key], specs.wide_enough(located.native[key]))
                for key in located.spec.canonical_shapes()}
    native = hubs.to_base(located.spec, located.native, located.naming)
    return specs.from_native(located.spec, native, hubs.base(located.naming))

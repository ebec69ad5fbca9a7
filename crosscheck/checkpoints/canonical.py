"""The canonical weight file: safetensors with canonical keys, layout and provenance metadata."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Mapping

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from crosscheck import spec as specs
from crosscheck.files import atomic_output


class WeightFileError(ValueError):
    """A weight file that cannot be used; the message names the file and what is wrong."""


def save(path: str | os.PathLike[str], model_id: str, arrays: Mapping[str, np.ndarray],
         metadata: Mapping[str, str] | None = None, overwrite: bool = True) -> Path:
    """Write canonical arrays for `model_id` (validated first) atomically, with provenance metadata; float32, except
    float64 arrays, which stay float64."""
    spec = spec_for(model_id, arrays)
    specs.check_canonical(spec, arrays)
    check_finite(arrays, str(path))
    header = {
        "format": "crosscheck-canonical",
        "model_id": model_id,
        "num_classes": str(spec.num_classes),
        "head": "none" if spec.headless else "logits",
        "spec_version": specs.SPEC_VERSION,
        "layout": specs.CANONICAL_LAYOUT,
        **(metadata or {}),
    }
    tensors = {key: np.ascontiguousarray(arrays[key], dtype=specs.wide_enough(arrays[key])) for key in spec.canonical_shapes()}
    with atomic_output(path, overwrite) as temp:
        save_file(tensors, str(temp), metadata=header)
    return Path(path)


def load(path: str | os.PathLike[str], model_id: str | None = None) -> tuple[str, dict[str, np.ndarray], dict[str, str]]:
    """Read and validate a canonical file; returns (model_id, arrays, metadata)."""
    path = Path(path)
    if not path.is_file():
        raise WeightFileError(f"{path}: no such file")
    try:
        arrays = load_file(str(path))
        metadata = read_metadata(path)
    except (SafetensorError, OSError, ValueError) as error:
        raise WeightFileError(f"{path}: not a readable safetensors file ({error})") from error
    stored_id = metadata.get("model_id")
    if model_id and stored_id and stored_id != model_id:
        raise WeightFileError(f"{path}: holds weights for {stored_id}, not {model_id}")
    model_id = model_id or stored_id
    if not model_id:
        raise WeightFileError(f"{path}: metadata names no model_id; pass the model id explicitly")
    spec = spec_for(model_id, arrays)
    if metadata.get("num_classes", str(spec.num_classes)) != str(spec.num_classes):
        raise WeightFileError(f"{path}: metadata says num_classes={metadata['num_classes']}, the arrays hold "
                              + ("no head" if spec.headless else f"a {spec.num_classes}-class head"))
    try:
        specs.check_canonical(spec, arrays)
    except specs.WeightMismatchError as error:
        raise WeightFileError(f"{path}: {error}") from error
    check_finite(arrays, str(path))
    return model_id, arrays, metadata


def read_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """The safetensors header's __metadata__ (without loading tensors)."""
    with open(path, "rb") as handle:
        size = int.from_bytes(handle.read(8), "little")
        if size <= 0 or size > 100_000_000:
            raise ValueError("bad header size")
        return json.loads(handle.read(size)).get("__metadata__", {}) or {}


def spec_for(model_id: str, arrays: Mapping[str, np.ndarray]) -> specs.ModelSpec:
    """The spec of `model_id` sized to the classifier found in `arrays` (none in the file: headless)."""
    head = arrays.get("predictions.bias")
    if head is None and "predictions.weight" not in arrays:
        return specs.get(model_id, specs.NO_HEAD)
    return specs.get(model_id, int(head.shape[0]) if head is not None and head.ndim == 1 else None)


def digest(spec: specs.ModelSpec, arrays: Mapping[str, np.ndarray]) -> str:
    """sha256 over canonical keys, shapes and little-endian float32 bytes in spec order: names a weight set."""
    hasher = hashlib.sha256()
    for key in spec.canonical_shapes():
        array = np.ascontiguousarray(arrays[key], dtype="<f4")
        hasher.update(f"{key}:{list(array.shape)}\n".encode())
        hasher.update(array.tobytes())
    return hasher.hexdigest()


def check_finite(arrays: Mapping[str, np.ndarray], source: str) -> None:
    bad = [key for key, value in arrays.items() if not np.all(np.isfinite(value))]
    if bad:
        raise WeightFileError(f"{source}: NaN or Inf in {len(bad)} tensor(s): {', '.join(bad)}")

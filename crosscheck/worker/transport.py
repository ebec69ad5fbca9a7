"""Arrays between a worker and its client: a .safetensors file (no pickle, no zip checksums, read without a copy of
the whole file) that keeps the arrays' order, which safetensors itself does not (a checkpoint's key order is what
its messages list first)."""

from __future__ import annotations

import json
import os
from typing import Mapping

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file

ORDER = "order"  # the metadata entry: the arrays' names, in order, as a JSON list


def save(path: str | os.PathLike[str], arrays: Mapping[str, np.ndarray]) -> None:
    """Write `arrays` (any dtype safetensors stores, 0-d included) to `path`, their order recorded."""
    save_file({name: np.ascontiguousarray(array) for name, array in arrays.items()}, os.fspath(path),
              metadata={ORDER: json.dumps(list(arrays))})


def load(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """The arrays `save` wrote, in their order."""
    with safe_open(os.fspath(path), framework="np") as file:
        return {name: file.get_tensor(name) for name in json.loads(file.metadata()[ORDER])}

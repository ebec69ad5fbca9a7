"""Paddle `.pdparams` files for `crosscheck convert`: every dict of arrays in one, read without Paddle through the
restricted unpickler of crosscheck/pdparams.py (written by paddle.save in the paddle worker:
crosscheck/backends/paddle/checkpoints.py).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from crosscheck.checkpoints.containers import Arrays, tensor_dicts
from crosscheck.pdparams import load, unpickle

__all__ = ["load", "read"]


def read(path: str | os.PathLike[str]) -> dict[str, Arrays]:
    """Every dict of arrays in a .pdparams file (a state_dict, or one nested in a training checkpoint), by path."""
    return tensor_dicts(_tensors_to_arrays(unpickle(Path(path))))


def _tensors_to_arrays(tree: Any) -> Any:
    """paddle.save's nested form of a tensor, a (name, ndarray) tuple, back to the ndarray, through dicts."""
    if isinstance(tree, dict):
        return {key: _tensors_to_arrays(value) for key, value in tree.items()}
    if isinstance(tree, tuple) and len(tree) == 2 and isinstance(tree[0], str) and isinstance(tree[1], np.ndarray):
        return tree[1]
    return tree


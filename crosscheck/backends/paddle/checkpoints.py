"""Paddle `.pdparams` files in the paddle worker: read without Paddle (crosscheck/checkpoints/paddle_formats.py),
written by paddle.save, loaded by Paddle's set_state_dict for convert's proof."""

from __future__ import annotations

import os
from typing import Any, Callable, Mapping

import numpy as np
import paddle
from paddle import nn

from crosscheck.backends.paddle.adapter import load_checkpoint_state as load_state
from crosscheck.checkpoints.containers import own_state
from crosscheck.checkpoints.paddle_formats import read
from crosscheck.spec import ModelSpec

__all__ = ["load_into", "load_state", "read", "write"]


def write(path: str | os.PathLike[str], native: Mapping[str, np.ndarray], loaded_model: Callable[[], Any]) -> None:
    """Save {paddle state_dict key: array} exactly as `paddle.save(model.state_dict(), path)` would."""
    paddle.save({key: paddle.to_tensor(np.ascontiguousarray(array)) for key, array in native.items()}, os.fspath(path))


def load_into(model: nn.Layer, spec: ModelSpec, path: str | os.PathLike[str], container: str, prefix: str,
              keys: Mapping[str, str] | None = None) -> None:
    """Paddle's set_state_dict of the file's own tensors under `container` and `prefix`, or by `keys` (model key:
    file key) where given (read by the restricted unpickler: the file runs no code)."""
    arrays = read(path)[container]
    load_state(model, spec, {key: arrays[file_key] for key, file_key in keys.items()} if keys else own_state(arrays, prefix))

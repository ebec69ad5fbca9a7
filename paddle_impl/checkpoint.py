"""Paddle `.pdparams` files written by paddle.save itself (reading is framework-free: crosscheck.pdparams)."""

from __future__ import annotations

import os
from typing import Mapping

import numpy as np
import paddle


def write(path: str | os.PathLike[str], native: Mapping[str, np.ndarray]) -> None:
    """Save {paddle state_dict key: array} exactly as `paddle.save(model.state_dict(), path)` would."""
    paddle.save({key: paddle.to_tensor(np.ascontiguousarray(array)) for key, array in native.items()}, os.fspath(path))

"""PyTorch state_dict files (.pth/.pt) as torchvision saves them, read without running their code."""

from __future__ import annotations

import os
import pickle
import re
from typing import Mapping

import numpy as np
import torch

# A training step counter of every BatchNorm2d: no other framework has it, so reading drops it
# and writing puts it back (as 0), which torchvision's strict load_state_dict requires.
BN_COUNTER = "num_batches_tracked"


def read(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """{state_dict key: array}; `weights_only=True` refuses any pickled code, naming the global."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        refused = re.search(r"unsupported GLOBAL [^\s]+", str(error))
        reason = refused.group(0) if refused else str(error).splitlines()[0]
        raise ValueError(f"{path}: unsafe or unreadable .pth file, not loaded: {reason}") from error
    except (RuntimeError, EOFError, OSError) as error:
        raise ValueError(f"{path}: not a readable PyTorch checkpoint (truncated or corrupt: {str(error).splitlines()[0]})") from error
    if not isinstance(state, Mapping):
        raise ValueError(f"{path}: a state_dict is a dict of tensors, this file holds a {type(state).__name__}")
    not_tensors = [str(key) for key, value in state.items() if not isinstance(value, torch.Tensor)]
    if not_tensors:
        raise ValueError(f"{path}: entries that are not tensors: {', '.join(not_tensors)}")
    return {key: value.detach().cpu().numpy() for key, value in state.items() if not key.endswith(f".{BN_COUNTER}")}


def write(path: str | os.PathLike[str], native: Mapping[str, np.ndarray]) -> None:
    """Save a state_dict torchvision's `load_state_dict(strict=True)` accepts (BN counters added as 0)."""
    state = {}
    for key, array in native.items():
        state[key] = torch.from_numpy(np.ascontiguousarray(array))
        if key.endswith(".running_var"):
            state[f"{key.removesuffix('running_var')}{BN_COUNTER}"] = torch.tensor(0, dtype=torch.long)
    torch.save(state, path)

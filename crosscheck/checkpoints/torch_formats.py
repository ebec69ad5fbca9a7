"""PyTorch checkpoints (.pth/.pt/.ckpt/.bin): state_dicts, training dicts and Lightning checkpoints, read
without running their code (in the torch worker); written as a torchvision state_dict."""

from __future__ import annotations

import os
import pickle
import re
from pathlib import Path
from typing import Mapping

import numpy as np
import torch

from crosscheck.checkpoints.containers import TORCH_BN_COUNTER, Arrays, tensor_dicts


def read(path: str | os.PathLike[str]) -> dict[str, Arrays]:
    """Every dict of tensors in the file, by container path, as numpy; `weights_only=True` refuses any
    pickled code (a .ckpt or .bin as much as a .pth), naming the global."""
    kind = Path(path).suffix or "PyTorch"
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        refused = re.search(r"unsupported GLOBAL [^\s]+", str(error))
        reason = refused.group(0) if refused else str(error).splitlines()[0]
        raise ValueError(f"{path}: unsafe or unreadable {kind} file, not loaded: {reason}") from error
    except (RuntimeError, EOFError, OSError) as error:
        raise ValueError(f"{path}: not a readable PyTorch checkpoint (truncated or corrupt: {str(error).splitlines()[0]})") from error
    if not isinstance(state, Mapping):
        raise ValueError(f"{path}: a state_dict is a dict of tensors, this file holds a {type(state).__name__}")
    found = tensor_dicts(state, lambda value: isinstance(value, torch.Tensor))
    return {place: {key: _numpy(tensor) for key, tensor in tensors.items()} for place, tensors in found.items()}


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    """A CPU numpy copy; bfloat16 (which numpy lacks) widens to float32 exactly."""
    tensor = tensor.detach().cpu()
    return (tensor.float() if tensor.dtype == torch.bfloat16 else tensor).numpy()


def write(path: str | os.PathLike[str], native: Mapping[str, np.ndarray]) -> None:
    """Save a state_dict torchvision's `load_state_dict(strict=True)` accepts: BN counters (dropped on reading,
    no other framework has them) put back as 0."""
    state = {}
    for key, array in native.items():
        state[key] = torch.from_numpy(np.ascontiguousarray(array))
        if key.endswith(".running_var"):
            state[f"{key.removesuffix('running_var')}{TORCH_BN_COUNTER}"] = torch.tensor(0, dtype=torch.long)
    torch.save(state, path)

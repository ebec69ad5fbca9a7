"""PyTorch checkpoints (.pth/.pt/.ckpt/.bin): state_dicts, training dicts and Lightning checkpoints, read
without running their code (in the torch worker); written as a torchvision state_dict; loaded by torch itself for
convert's proof."""

from __future__ import annotations

import argparse
import os
import pickle
import re
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch
from safetensors.numpy import load_file

from crosscheck.backends.torch.adapter import load_checkpoint_state as load_state
from crosscheck.checkpoints.containers import TORCH_BN_COUNTER, Arrays, own_state, tensor_dicts
from crosscheck.spec import ModelSpec


def read(path: str | os.PathLike[str]) -> dict[str, Arrays]:
    """Every dict of tensors in the file, by container path, as numpy; `weights_only=True` refuses any
    pickled code (a .ckpt or .bin as much as a .pth), naming the global."""
    found = tensor_dicts(_load(path), lambda value: isinstance(value, torch.Tensor))
    return {place: {key: _numpy(tensor) for key, tensor in tensors.items()} for place, tensors in found.items()}


def config(path: str | os.PathLike[str]) -> str:
    """The training config an mmengine checkpoint stores as text in `meta` (`cfg`; mmcv's `config`), '' if none."""
    meta = _load(path).get("meta")
    texts = [meta.get(name) for name in ("cfg", "config")] if isinstance(meta, Mapping) else []
    return next((text for text in texts if isinstance(text, str)), "")


def _load(path: str | os.PathLike[str]) -> Mapping[str, Any]:
    """The file's top-level dict, by `torch.load(weights_only=True)`; argparse.Namespace, which timm's train
    checkpoints hold their `args` in, is admitted as timm's own loader admits it (a plain attribute holder)."""
    kind = "".join(Path(path).suffixes[-2:]) if str(path).endswith(".pth.tar") else Path(path).suffix or "PyTorch"
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        refused = re.search(r"unsupported GLOBAL [^\s]+", str(error))
        if refused:
            raise ValueError(f"{path}: unsafe or unreadable {kind} file, not loaded: {refused.group(0)}") from error
        raise ValueError(f"{path}: not a readable {kind} file (truncated or corrupt: {_reason(error)})") from error
    except (RuntimeError, EOFError, OSError, KeyError, ValueError, IndexError) as error:
        raise ValueError(f"{path}: not a readable {kind} file (truncated or corrupt: {_reason(error)})") from error
    if not isinstance(state, Mapping):
        raise ValueError(f"{path}: a state_dict is a dict of tensors, this file holds a {type(state).__name__}")
    return state


def _reason(error: Exception) -> str:
    """One line saying why torch.load failed: the unpickler's own reason inside torch's weights_only preamble,
    else the message's first line, else the exception's name (EOFError has no message)."""
    text = str(error).split("WeightsUnpickler error:", 1)[-1]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    """A CPU numpy copy; bfloat16 (which numpy lacks) widens to float32 exactly."""
    tensor = tensor.detach().cpu()
    return (tensor.float() if tensor.dtype == torch.bfloat16 else tensor).numpy()


def write(path: str | os.PathLike[str], native: Mapping[str, np.ndarray], loaded_model: Callable[[], Any]) -> None:
    """Save a state_dict torchvision's `load_state_dict(strict=True)` accepts: BN counters (dropped on reading,
    no other framework has them) put back as 0."""
    state = {}
    for key, array in native.items():
        state[key] = torch.from_numpy(np.ascontiguousarray(array))
        if key.endswith(".running_var"):
            state[f"{key.removesuffix('running_var')}{TORCH_BN_COUNTER}"] = torch.tensor(0, dtype=torch.long)
    torch.save(state, path)


def load_into(model: torch.nn.Module, spec: ModelSpec, path: str | os.PathLike[str], container: str, prefix: str,
              keys: Mapping[str, str] | None = None) -> None:
    """torch's strict load_state_dict of the file's own tensors under `container` and `prefix`, or by `keys` (model
    key: file key) where given (a torch-named .safetensors file through the safetensors library's loader, anything
    else through torch.load)."""
    arrays = load_file(str(path)) if str(path).endswith(".safetensors") else read(path)[container]
    load_state(model, spec, {key: arrays[file_key] for key, file_key in keys.items()} if keys else own_state(arrays, prefix))

"""Paddle `.pdparams` state_dicts read without Paddle and without running the file's code.

A `.pdparams` file is a pickle, and unpickling calls whatever callables the file names. paddle.save
writes a state_dict as a dict of numpy arrays (plus a "StructuredToParameterName@@" dict of
strings), so the only globals it needs are numpy's array reconstructor, ndarray and dtype; a nested
dict (a training checkpoint: `{"epoch": 3, "model": state_dict, "opt": ...}`) adds OrderedDict and
tuple, because paddle pickles each tensor in it as a `(name, ndarray)` tuple. This unpickler admits
exactly those and refuses every other global, naming it.
It imports no framework and nothing of crosscheck: `paddle_impl.load` and `crosscheck convert` both read
through it.
"""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

# module -> names; numpy 2 writes numpy._core, numpy 1 wrote numpy.core.
ALLOWED_GLOBALS: dict[str, frozenset[str]] = {
    "numpy._core.multiarray": frozenset({"_reconstruct"}),
    "numpy.core.multiarray": frozenset({"_reconstruct"}),
    "numpy": frozenset({"ndarray", "dtype"}),
    "collections": frozenset({"OrderedDict"}),
    "builtins": frozenset({"tuple"}),
}
PADDLE_METADATA_KEY = "StructuredToParameterName@@"  # structured name -> parameter name, not a weight


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle names a global a state_dict never needs; it is refused before anything is called."""


class _StateDictUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if name in ALLOWED_GLOBALS.get(module, ()):
            return super().find_class(module, name)
        raise UnsafePickleError(f"refused global {module}.{name}: a Paddle state_dict only needs numpy arrays")

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(f"refused persistent id {pid!r}: a Paddle state_dict has none")


def load(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """{native paddle key: array} from a .pdparams file; anything but a dict of arrays raises ValueError."""
    path = Path(path)
    state = unpickle(path)
    state.pop(PADDLE_METADATA_KEY, None)
    not_arrays = [str(key) for key, value in state.items() if not isinstance(value, np.ndarray)]
    if not_arrays:
        raise ValueError(f"{path}: entries that are not arrays: {', '.join(not_arrays)}")
    return state


def unpickle(path: Path) -> dict[Any, Any]:
    """The file's top-level dict, unpickled with only the admitted globals."""
    try:
        state = _StateDictUnpickler(io.BytesIO(path.read_bytes())).load()
    except UnsafePickleError as error:
        raise ValueError(f"{path}: unsafe .pdparams file, not loaded: {error}") from error
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
            MemoryError) as error:
        raise ValueError(f"{path}: not a readable .pdparams file (truncated or corrupt: {type(error).__name__}: {error})") from error
    if not isinstance(state, dict):
        raise ValueError(f"{path}: a .pdparams state_dict is a dict, this file holds a {type(state).__name__}")
    return state

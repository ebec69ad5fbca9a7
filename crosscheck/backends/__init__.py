"""The participants crosscheck compares, one folder each: `crosscheck/backends/<name>/`.

Each folder's `__init__.py` holds its `BACKEND` record (crosscheck/backends/record.py) and imports no framework;
its other modules do, one role each (ROLES), and are imported only in that participant's worker (`load`). The
registry finds the folders on disk, so adding a participant adds no line here.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from pathlib import Path
from types import ModuleType

from crosscheck import spec as specs
from crosscheck.backends.record import Backend

# The modules a backend folder holds besides its record: model contract, verify's tracer, train-step's step,
# the ONNX exporter, doctor's probe, the checkpoint files (crosscheck/backends/protocols.py types each).
ROLES = ("adapter", "trace", "train", "onnx_export", "probe", "checkpoints")


class FrameworkMissingError(ImportError):
    """A framework's package is not installed; the message names the pip extra that installs it."""


@cache
def records() -> dict[str, Backend]:
    """{name: record} of every backend folder, in the spec's naming order (torch, keras, paddle), then by name."""
    found = [importlib.import_module(f"{__name__}.{info.name}").BACKEND
             for info in pkgutil.iter_modules(__path__) if info.ispkg]
    found.sort(key=lambda backend: (specs.NAMINGS.index(specs.check_naming(backend.naming)), backend.name))
    return {backend.name: backend for backend in found}


def names() -> tuple[str, ...]:
    """Every participant's name, in order: the CLI's choices and default frameworks."""
    return tuple(records())


def default_names() -> tuple[str, ...]:
    """The participants a command runs when no --frameworks is given: one per implementation package and naming
    (torch, keras, paddle); Keras' other engines (keras_jax, keras_torch) join when named (docs/backends.md)."""
    return tuple(name for name, backend in records().items() if backend.in_default_run)


def get(name: str) -> Backend:
    """The record of participant `name`, or UnknownFrameworkError listing the valid names."""
    return records()[check(name)]


def check(name: str) -> str:
    """`name` when it is a participant, else UnknownFrameworkError listing the valid names."""
    if name not in records():
        raise specs.UnknownFrameworkError(f"unknown framework {name!r}; valid: {', '.join(records())}")
    return name


def folder(name: str) -> Path:
    """The participant's folder, where its role modules live."""
    return Path(__file__).parent / check(name)


def load(name: str, role: str) -> ModuleType:
    """Import participant `name`'s `role` module (in its worker), or explain which pip extra installs its framework."""
    if role not in ROLES:
        raise ValueError(f"unknown backend role {role!r}; valid: {', '.join(ROLES)}")
    backend = get(name)
    try:
        return importlib.import_module(f"{__name__}.{name}.{role}")
    except ModuleNotFoundError as error:
        if error.name and error.name.split(".")[0] in (backend.impl_package, "crosscheck"):
            raise
        raise FrameworkMissingError(
            f"{name}: the framework is not installed ({error}); "
            f"install it with: pip install 'crosscheck[{backend.extra}]'"
        ) from error

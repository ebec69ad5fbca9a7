"""Output files that are either complete or absent: write to a temp file beside the target, then rename."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator


class OutputPathError(ValueError):
    """An output path that exists (without overwrite) or cannot be written."""


def check_writable(path: str | os.PathLike[str], overwrite: bool = True) -> Path:
    """Fail early, before any slow work, if `path` cannot be written."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputPathError(f"{path}: already exists (pass --overwrite to replace it)")
    if path.is_dir():
        raise OutputPathError(f"{path}: is a directory")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise OutputPathError(f"{path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise OutputPathError(f"{path}: directory {parent} is not writable")
    return path


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str], overwrite: bool = True) -> Iterator[Path]:
    """Yield a temp path in the target's directory; rename it onto `path` only if the block succeeds."""
    target = check_writable(path, overwrite)
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    os.close(fd)
    temp_path = Path(temp)
    try:
        yield temp_path
        os.replace(temp_path, target)
    finally:
        temp_path.unlink(missing_ok=True)


def write_text(path: str | os.PathLike[str], text: str, overwrite: bool = True) -> None:
    with atomic_output(path, overwrite) as temp:
        temp.write_text(text)

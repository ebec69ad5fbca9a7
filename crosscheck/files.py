"""Output files that are either complete or absent: write to a temp file beside the target, then rename.

One policy for every file crosscheck writes: an existing output is refused unless the caller passes
`overwrite` (the CLI's `--overwrite`), checked before any slow work; a file appears only complete,
with the permissions a plain `open(path, "w")` would give it (0666 minus the umask for a new file,
the old file's mode for a replaced one), never a temp file's private 0600.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import stat
from pathlib import Path
from typing import Any, Iterable, Iterator


class OutputPathError(ValueError):
    """An output path that exists (without overwrite) or cannot be written."""


def check_writable(path: str | os.PathLike[str], overwrite: bool = True) -> Path:
    """Fail early, before any slow work, if `path` cannot be written."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputPathError(f"{path}: already exists (pass --overwrite to replace it)")
    if path.is_dir():
        raise OutputPathError(f"{path}: is a directory")
    return _check_parent(path)


def _check_parent(path: Path) -> Path:
    """`path` when the directory it would be written in exists and is writable."""
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise OutputPathError(f"{path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise OutputPathError(f"{path}: directory {parent} is not writable")
    return path


def check_outputs(paths: Iterable[str | os.PathLike[str] | None], overwrite: bool) -> None:
    """check_writable for each given output of one command, and no two of them the same file."""
    seen: dict[Path, str] = {}
    for path in filter(None, paths):
        resolved = check_writable(path, overwrite).resolve()
        if resolved in seen:
            raise OutputPathError(f"{path}: given for two outputs (also as {seen[resolved]})")
        seen[resolved] = str(path)


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str], overwrite: bool = True) -> Iterator[Path]:
    """Yield a temp path in the target's directory; rename it onto `path` only if the block succeeds."""
    target = check_writable(path, overwrite)
    temp = _new_file(target)
    try:
        mode = _mode_for(target, temp)
        yield temp
        os.chmod(temp, mode)  # also right if the writer replaced the temp file instead of writing into it
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)


def check_writable_directory(path: str | os.PathLike[str], overwrite: bool = True) -> Path:
    """As check_writable, for an output that is a directory (a model hub's config and weights)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputPathError(f"{path}: exists and is not a directory")
    if path.exists() and not overwrite:
        raise OutputPathError(f"{path}: already exists (pass --overwrite to replace the directory)")
    return _check_parent(path)


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike[str], overwrite: bool = True) -> Iterator[Path]:
    """Yield a new temp directory beside `path`; it replaces `path` (a whole old directory) only if the block succeeds,
    so the directory appears complete or not at all."""
    target = check_writable_directory(path, overwrite)
    while True:
        temp = target.parent / f".{target.name}.{secrets.token_hex(4)}.partial"
        try:
            temp.mkdir()
            break
        except FileExistsError:
            continue
    try:
        yield temp
        old = target.parent / f".{target.name}.{secrets.token_hex(4)}.old" if target.exists() else None
        if old is not None:
            target.rename(old)
        temp.rename(target)
        if old is not None:
            shutil.rmtree(old)
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def write_text(path: str | os.PathLike[str], text: str, overwrite: bool = True) -> None:
    with atomic_output(path, overwrite) as temp:
        temp.write_text(text)


def write_json(path: str | os.PathLike[str], data: Any, overwrite: bool = True) -> None:
    """A report's JSON, indented, complete or absent like every output."""
    write_text(path, json.dumps(data, indent=2) + "\n", overwrite)


def write_reports(json_path: str | None, report_path: str | None, data: Any, markdown: str, overwrite: bool) -> None:
    """A command's optional `--json` and `--report` (Markdown) files."""
    if json_path:
        write_json(json_path, data, overwrite)
    if report_path:
        write_text(report_path, markdown, overwrite)


def _new_file(target: Path) -> Path:
    """Create an empty, uniquely named file beside `target` the way open() would: mode 0666 minus the umask."""
    while True:
        temp = target.parent / f".{target.name}.{secrets.token_hex(4)}.partial"
        try:
            os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return temp
        except FileExistsError:
            continue


def _mode_for(target: Path, temp: Path) -> int:
    """The permission bits open(target, "w") would leave: the existing file's, else the new temp file's."""
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        return stat.S_IMODE(temp.stat().st_mode)

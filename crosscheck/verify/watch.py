"""`crosscheck verify --watch`: verify again, on the same warm workers, each time the user's file changes on disk.

A change is a new (mtime, size) whose bytes hash differently from the last verified ones: saving without an
edit, or an editor that rewrites the same bytes, verifies nothing again. Ctrl-C ends the watch with the exit
code of the last verdict.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Callable, Sequence

from rich.console import Console

POLL_SECONDS = 0.2  # between two looks at the files' stat; a look costs a stat call per file
Stamp = tuple[int, int] | None  # (mtime in ns, size); None while the file is missing (an editor replacing it)


class WatchedFiles:
    """The files a watch verifies again on: each one's stat looked at cheaply, its bytes hashed when that moves."""

    def __init__(self, paths: Sequence[str | Path]) -> None:
        self.paths = list(dict.fromkeys(Path(p) for p in paths))
        self.stamps: dict[Path, Stamp] = {}
        self.digests: dict[Path, str] = {}
        self.moving: set[Path] = set()  # stat moved at the last look: read when it has held still
        self.changed()

    def changed(self) -> bool:
        """True when any file's bytes differ from those last verified; a file is read once its stat has held still
        for one look, so that a save written in several steps (truncate, then write) is read whole."""
        changed = False
        for path in self.paths:
            stamp = _stamp(path)
            if stamp is None or path in self.digests and stamp == self.stamps.get(path) and path not in self.moving:
                continue
            if stamp != self.stamps.get(path):
                self.stamps[path] = stamp
                if path in self.digests:
                    self.moving.add(path)
                    continue
            self.moving.discard(path)
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            changed |= self.digests.get(path, digest) != digest
            self.digests[path] = digest
        return changed

    @property
    def names(self) -> str:
        return ", ".join(str(p) for p in self.paths)


def _stamp(path: Path) -> Stamp:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_mtime_ns, stat.st_size


def watch(paths: Sequence[str | Path], verify_once: Callable[[], int], console: Console,
          poll: float = POLL_SECONDS) -> int:
    """Run `verify_once` (it prints its verdict and returns its exit code), then again after every change to
    `paths`, until Ctrl-C; the last exit code."""
    files = WatchedFiles(paths)
    code = 2  # no verdict yet
    try:
        code = verify_once()
        while True:
            console.print(f"verdict: exit {code}; watching {files.names} for changes (Ctrl-C to stop)")
            while not files.changed():
                time.sleep(poll)
            console.print(f"changed: {files.names}; verifying again")
            code = verify_once()
    except KeyboardInterrupt:
        console.print(f"stopped watching; exit code {code}, the last verdict's")
        return code

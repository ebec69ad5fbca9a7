"""The server of a framework worker process, started as `python -m crosscheck.worker FRAMEWORK`.

It imports exactly one framework, keeps built models until the client releases them, and answers one JSON
request per line on stdin with one JSON line on the original stdout. Arrays travel as files
(.npy, .npz, .safetensors) named in the requests, never through the pipe. Whatever the framework
prints goes to stderr, which the client keeps for crash reports.

The server knows no command: it answers the shared ops of crosscheck/worker/ops.py, and a command package
adds ops by holding a `worker_ops` module with an `OPS` mapping, imported on the first request it may answer.
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Iterator, MutableMapping

import crosscheck
from crosscheck.worker import ops as shared_ops
from crosscheck.worker.state import Worker

Handler = Callable[[Worker, dict[str, Any]], dict[str, Any]]
OPS_MODULE = "worker_ops"  # the module name by which a command package offers worker ops


def op_modules() -> list[str]:
    """`crosscheck.<package>.worker_ops` of every crosscheck package that has one, found without importing it."""
    return [f"crosscheck.{info.name}.{OPS_MODULE}" for info in pkgutil.iter_modules(crosscheck.__path__)
            if info.ispkg and (Path(info.module_finder.path) / info.name / f"{OPS_MODULE}.py").is_file()]


class Ops(MutableMapping[str, Handler]):
    """Op name -> handler: the shared ops at once, each package's ops module imported when an op not yet known is
    asked for. An op name offered by two modules is an error, not a silent override."""

    def __init__(self, shared: dict[str, Handler], modules: list[str]) -> None:
        self.known = dict(shared)
        self.origin = {name: shared_ops.__name__ for name in shared}
        self.pending = list(modules)

    def __getitem__(self, name: str) -> Handler:
        while name not in self.known and self.pending:
            self._add(self.pending.pop(0))
        return self.known[name]

    def _add(self, module_name: str) -> None:
        for name, handler in importlib.import_module(module_name).OPS.items():
            if name in self.known:
                raise RuntimeError(f"worker op {name!r} is offered by both {self.origin[name]} and {module_name}")
            self.known[name], self.origin[name] = handler, module_name

    def load_all(self) -> dict[str, Handler]:
        """Import every pending ops module: every op the worker can answer."""
        while self.pending:
            self._add(self.pending.pop(0))
        return dict(self.known)

    def __setitem__(self, name: str, handler: Handler) -> None:
        """Replace an op (tests plant a failure this way); every module is imported first, so none overrides it."""
        self.load_all()
        self.known[name] = handler

    def __delitem__(self, name: str) -> None:
        del self.known[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.load_all())

    def __len__(self) -> int:
        return len(self.load_all())


OPS = Ops(shared_ops.OPS, op_modules())


def serve(framework: str) -> None:
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # anything the framework prints goes to stderr, not into the protocol
    sys.stdout = sys.stderr
    started, cpu = time.perf_counter(), time.process_time()
    try:
        worker = Worker(framework)
    except ImportError as error:  # a missing framework, or paddle after TensorFlow: say so, do not crash
        protocol.write(json.dumps({"ok": False, "error": str(error), "missing": True}) + "\n")
        return
    # "seconds" (wall) and "cpu_seconds" (every thread of this process) are the import of the framework and its
    # implementation, as each reply's are its request's: the run's stage breakdown
    protocol.write(json.dumps({"ok": True, "result": {"ready": framework}, "seconds": time.perf_counter() - started,
                               "cpu_seconds": time.process_time() - cpu}) + "\n")
    for line in sys.stdin:
        request = json.loads(line)
        started, cpu = time.perf_counter(), time.process_time()
        try:
            reply = {"ok": True, "result": OPS[request["op"]](worker, request)}
        except Exception as error:  # reported to the client, which names the framework and request
            reply = {"ok": False, "error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()}
        reply["seconds"], reply["cpu_seconds"] = time.perf_counter() - started, time.process_time() - cpu
        protocol.write(json.dumps(reply) + "\n")
    # the client has closed our input: every reply is written and every output file closed, so the framework's
    # interpreter teardown (freeing every model and graph one object at a time) is skipped
    protocol.flush()
    sys.stderr.flush()
    os._exit(0)

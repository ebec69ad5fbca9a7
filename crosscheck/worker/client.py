"""Client side of the framework workers: start, talk to, time out and report on each process."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

from crosscheck import backends

DEFAULT_TIMEOUT = 900.0  # seconds for one request: room for the deepest Keras model's build on a small, busy CPU machine
STDERR_TAIL_LINES = 15
# TensorFlow's C++ INFO logs (its CUDA probe and CPU-feature notes, printed on every CPU machine before
# its logging is set up, whatever TF_CPP_MIN_LOG_LEVEL says) never explain a crash: kept out of its report.
FRAMEWORK_INFO = re.compile(r"I\d{4} \d\d:\d\d:\d+\.\d+ +\d+ \S+:\d+\] "
                            r"|WARNING: All log messages before absl::InitializeLog\(\) is called"
                            r"|To enable the following instructions: .* rebuild TensorFlow")


class WorkerError(RuntimeError):
    """A request failed in a worker; `framework` says which, `detail` carries the worker's report."""

    def __init__(self, framework: str, message: str, detail: str = "") -> None:
        super().__init__(message if message.startswith(f"{framework}: ") else f"{framework}: {message}")
        self.framework = framework
        self.detail = detail


class WorkerCrashed(WorkerError):
    """The worker process died or hung; it cannot serve further requests."""


class FrameworkUnavailable(WorkerError):
    """The framework could not be imported in the worker (not installed, or an import conflict)."""


# OpenMP threads that wait at a barrier sleep instead of spinning: with three workers on a few cores, torch's
# spinning threads burned several times the CPU of its forwards and slowed the others (BENCHMARKS.md, run).
# Set in the environment by the user, the user's value is kept.
WAIT_POLICY = {"OMP_WAIT_POLICY": "PASSIVE"}


def worker_command(framework: str) -> list[str]:
    return [sys.executable, "-m", "crosscheck.worker", framework]


def backend_environment(framework: str) -> dict[str, str]:
    """What the participant's record sets before its framework is imported (e.g. KERAS_BACKEND); none for a name
    that is no participant, which the worker itself then refuses."""
    return dict(backends.get(framework).environment) if framework in backends.names() else {}


class FrameworkWorker:
    """One long-lived worker process for one framework, imported once and reused for every model."""

    def __init__(self, framework: str, command: Sequence[str] | None = None, timeout: float = DEFAULT_TIMEOUT,
                 env: dict[str, str] | None = None) -> None:
        self.framework = framework
        self.timeout = timeout
        self._stderr = tempfile.TemporaryFile(mode="w+b")
        self._process = subprocess.Popen(
            list(command or worker_command(framework)),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
            text=True, bufsize=1, env={**WAIT_POLICY, **os.environ, **backend_environment(framework), **(env or {})},
        )
        self._replies: queue.Queue[str | None] = queue.Queue()
        self._turn = threading.Lock()  # one request at a time, whichever thread asks
        threading.Thread(target=self._read_replies, daemon=True).start()
        self.dead = False
        self.ready = False
        self.import_seconds: float | None = None  # reported by the worker once its framework is imported
        self.import_cpu_seconds: float | None = None  # the same import's CPU time, every thread of the worker

    def wait_ready(self) -> None:
        """Wait until the worker has imported its framework (start several workers, then wait on each)."""
        if self.ready:
            return
        reply = self._receive("start-up")
        if not reply.get("ok"):
            self.close()
            raise FrameworkUnavailable(self.framework, reply.get("error", "could not start"))
        self.ready = True
        self.import_seconds = reply.get("seconds")
        self.import_cpu_seconds = reply.get("cpu_seconds")

    def _read_replies(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            self._replies.put(line)
        self._replies.put(None)  # EOF: the process has gone

    def request(self, op: str, **arguments: Any) -> dict[str, Any]:
        """Send one request and wait for its reply; errors raise WorkerError with the worker's traceback. Threads
        asking the same worker take turns."""
        with self._turn:
            return self._request(op, arguments)

    def _request(self, op: str, arguments: dict[str, Any]) -> dict[str, Any]:
        self.wait_ready()
        if self.dead:
            raise WorkerCrashed(self.framework, "worker is no longer running")
        assert self._process.stdin is not None
        try:
            self._process.stdin.write(json.dumps({"op": op, **_jsonable(arguments)}) + "\n")
            self._process.stdin.flush()
        except BrokenPipeError:
            pass  # the reply reader sees EOF and reports the crash with the stderr tail
        reply = self._receive(op)
        if not reply.get("ok"):
            raise WorkerError(self.framework, f"{op} failed: {reply.get('error')}", reply.get("traceback", ""))
        return reply

    def _receive(self, what: str) -> dict[str, Any]:
        try:
            line = self._replies.get(timeout=self.timeout)
        except queue.Empty:
            self._kill()
            raise WorkerCrashed(self.framework, f"{what} timed out after {self.timeout:.0f} s", self.stderr_tail()) from None
        if line is None:
            code = self._process.wait()
            self.dead = True
            raise WorkerCrashed(self.framework, f"worker exited with code {code} during {what}{_kill_hint(code)}",
                                self.stderr_tail())
        return json.loads(line)

    def stderr_tail(self, lines: int = STDERR_TAIL_LINES) -> str:
        self._stderr.flush()
        self._stderr.seek(0)
        text = self._stderr.read().decode(errors="replace")
        return "\n".join([line for line in text.rstrip().splitlines() if not FRAMEWORK_INFO.match(line)][-lines:])

    def _kill(self) -> None:
        self.dead = True
        self._process.kill()
        self._process.wait()

    def end_input(self) -> None:
        """Tell the worker to exit (its stdin closed) without waiting; a worker never used is stopped outright
        rather than left to finish importing its framework."""
        if self._process.poll() is not None:
            return
        if not self.ready:
            self._kill()
        elif self._process.stdin:
            self._process.stdin.close()

    def close(self) -> None:
        self.end_input()
        if self._process.poll() is None:
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._kill()
        self.dead = True
        self._stderr.close()

    def __enter__(self) -> "FrameworkWorker":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _jsonable(arguments: dict[str, Any]) -> dict[str, Any]:
    return {k: str(v) if isinstance(v, Path) else v for k, v in arguments.items()}


WorkerFactory = Callable[[str], FrameworkWorker]


class WorkerPool:
    """Framework workers started on first use, each configured once for `device` (TF32 off unless allowed), closed
    together; `factory` makes a worker (tests pass fakes)."""

    def __init__(self, timeout: float = DEFAULT_TIMEOUT, device: str = "auto", allow_tf32: bool = False,
                 factory: WorkerFactory | None = None) -> None:
        self.timeout = timeout
        self.device = device
        self.allow_tf32 = allow_tf32
        self.factory = factory or (lambda framework: FrameworkWorker(framework, timeout=timeout))
        self.workers: dict[str, FrameworkWorker] = {}
        self.started: list[str] = []  # every framework whose worker this pool started, in order (again after a close)
        self.configured: set[str] = set()
        self._starting = threading.RLock()  # threads asking for workers start and configure each one once

    def launch(self, frameworks: Iterable[str]) -> list[str]:
        """Start the processes not running yet without waiting for their imports (they overlap); those started."""
        new = [fw for fw in dict.fromkeys(frameworks) if fw not in self.workers]
        for framework in new:
            self.workers[framework] = self.factory(framework)
            self.started.append(framework)
        return new

    def configure(self, framework: str) -> dict[str, Any]:
        """Set a launched worker's device and TF32 policy; its reply (the numeric settings it runs with)."""
        settings = self.workers[framework].request("configure", device=self.device, allow_tf32=self.allow_tf32)
        self.configured.add(framework)
        return settings["result"]

    def start(self, frameworks: Iterable[str]) -> None:
        """Start every missing worker first, then configure each not configured yet (also one launched earlier):
        the framework imports overlap."""
        with self._starting:
            wanted = sorted(set(frameworks))
            self.launch(wanted)
            for framework in wanted:
                if framework not in self.configured:
                    self.configure(framework)

    def __getitem__(self, framework: str) -> FrameworkWorker:
        self.start({framework})
        return self.workers[framework]

    def close(self, frameworks: Iterable[str] | None = None) -> None:
        """Close the given workers (default: all), all at once; a closed framework starts afresh if asked for again."""
        names = [name for name in list(self.workers if frameworks is None else frameworks) if name in self.workers]
        closing = [self.workers.pop(name) for name in names]
        self.configured.difference_update(names)
        for worker in closing:
            worker.end_input()  # every worker exits at once, not one after another
        for worker in closing:
            worker.close()


@dataclass(frozen=True)
class WorkerSession:
    """What a command runs with: its workers and a scratch directory for the arrays they exchange."""

    pool: WorkerPool
    tmp: Path


@contextlib.contextmanager
def worker_session(command: str, timeout: float = DEFAULT_TIMEOUT, device: str = "auto", allow_tf32: bool = False,
                   factory: WorkerFactory | None = None, pool: WorkerPool | None = None) -> Iterator[WorkerSession]:
    """A scratch directory `crosscheck-<command>-*` and a pool of workers configured on first use; leaving, even by
    an error or Ctrl-C, closes the workers and removes the directory. A `pool` given by the caller stays open."""
    own = pool is None
    workers = pool if pool is not None else WorkerPool(timeout, device, allow_tf32, factory)
    with tempfile.TemporaryDirectory(prefix=f"crosscheck-{command}-") as tmp:
        try:
            yield WorkerSession(workers, Path(tmp))
        finally:
            if own:
                workers.close()


def _kill_hint(code: int) -> str:
    """What a SIGKILL exit most often means: nothing in the worker can catch it, the kernel's OOM killer sends it."""
    if code != -signal.SIGKILL:
        return ""
    return " (killed by SIGKILL: most often the system's out-of-memory killer)"

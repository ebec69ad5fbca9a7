"""Every command runs its workers in `worker_session`: a command that fails, by an error or Ctrl-C, leaves no
scratch directory behind and no worker process running.

The workers are fakes (a few lines of Python that answer `configure` and fail every other request), so no
framework is imported; the scratch directories are made under a directory of this test's own.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from crosscheck import calibration
from crosscheck.checkpoints import canonical
from crosscheck.cli import main
from crosscheck.worker import client
from crosscheck.worker.client import FrameworkWorker, WorkerPool, worker_session

READY = json.dumps({"ok": True, "result": {"ready": "fake"}, "seconds": 0.0})
# Answers configure, fails every other op, as a framework would that cannot load the model.
FAILS_AFTER_CONFIGURE = f"""
import json, sys
print({READY!r}, flush=True)
for line in sys.stdin:
    op = json.loads(line)["op"]
    reply = ({{"ok": True, "result": {{"settings": {{}}}}}} if op == "configure" else
             {{"ok": False, "error": f"RuntimeError: planted failure of {{op}}", "traceback": ""}})
    print(json.dumps(reply), flush=True)
"""
MODEL = "resnet18_cifar"


@pytest.fixture
def scratch(tmp_path, monkeypatch) -> Path:
    """The directory every temporary directory of this test is made in."""
    folder = tmp_path / "scratch"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.fixture
def started(monkeypatch) -> list[FrameworkWorker]:
    """Every worker a command starts, each a fake that fails after `configure`."""
    workers: list[FrameworkWorker] = []

    def fake(framework: str, timeout: float = 60) -> FrameworkWorker:
        workers.append(FrameworkWorker(framework, [sys.executable, "-c", FAILS_AFTER_CONFIGURE], timeout=timeout))
        return workers[-1]

    monkeypatch.setattr(client, "FrameworkWorker", fake)
    return workers


def closed(worker: FrameworkWorker) -> bool:
    return worker.dead and worker._process.poll() is not None


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("weights") / f"{MODEL}.safetensors"
    canonical.save(path, MODEL, calibration.calibrated_weights(MODEL, 0))
    return path


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> Path:
    from PIL import Image

    path = tmp_path_factory.mktemp("images") / "image.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(path)
    return path


def commands(tmp: Path, weights: Path, image: Path) -> dict[str, list[str]]:
    """One failing invocation of every command that starts workers."""
    candidate = tmp / "candidate.py"
    candidate.write_text("def build():\n    raise RuntimeError('never called: the worker is a fake')\n")
    return {
        "run": ["run", "--models", MODEL, "--frameworks", "torch,paddle"],
        "convert": ["convert", str(weights), str(tmp / "out.pdparams")],
        "export": ["export", "--model", MODEL, "--framework", "torch", "-o", str(tmp / "out.onnx")],
        "predict": ["predict", str(image), "--weights", str(weights), "--framework", "torch"],
        "train-step": ["train-step", "--model", MODEL, "--frameworks", "torch,paddle"],
        "verify": ["verify", f"{candidate}:build", "--framework", "torch", "--model", MODEL],
    }


@pytest.mark.parametrize("command", ["run", "convert", "export", "predict", "train-step", "verify"])
def test_a_failing_command_leaves_no_scratch_directory_and_no_worker_running(command, tmp_path, scratch, started,
                                                                            weights, image):
    argv = commands(tmp_path, weights, image)[command]
    assert main(argv) != 0
    assert started, "the command started no worker: the test would prove nothing"
    assert [worker.framework for worker in started if not closed(worker)] == []
    assert list(scratch.iterdir()) == []


def test_ctrl_c_in_a_session_closes_its_workers_and_removes_its_directory(scratch, started):
    with pytest.raises(KeyboardInterrupt):
        with worker_session("test") as session:
            session.pool.start({"torch", "paddle"})
            (session.tmp / "array.npy").write_bytes(b"")
            raise KeyboardInterrupt
    assert len(started) == 2 and all(closed(worker) for worker in started)
    assert list(scratch.iterdir()) == []


def test_a_pool_given_to_a_session_is_left_open(scratch, started):
    pool = WorkerPool()
    try:
        with worker_session("test", pool=pool) as session:
            session.pool.start({"torch"})
        assert session.pool is pool and not closed(pool.workers["torch"])
        assert list(scratch.iterdir()) == []
    finally:
        pool.close()
    assert all(closed(worker) for worker in started)


def test_a_worker_never_waited_for_is_stopped_before_its_import_ends(tmp_path):
    """A command that fails before it needs a worker it launched early (convert's destination) does not wait for
    that worker's framework import: the process is stopped, so the import never completes."""
    imported = tmp_path / "imported"
    slow_import = f"import pathlib, time\ntime.sleep(5)\npathlib.Path({str(imported)!r}).touch()\nprint({READY!r})"
    pool = WorkerPool(factory=lambda framework: FrameworkWorker(framework, [sys.executable, "-c", slow_import]))
    pool.launch(["torch"])
    worker = pool.workers["torch"]
    pool.close()
    assert closed(worker)
    worker._process.wait()
    assert not imported.exists()


def test_a_served_worker_exits_without_the_interpreters_teardown(tmp_path):
    """Once its input is closed, a worker leaves at once: the framework's teardown (here an atexit hook standing in
    for it) never runs, every reply having been written."""
    torn_down = tmp_path / "torn-down"
    serve = ("import atexit, pathlib\n"
             f"atexit.register(pathlib.Path({str(torn_down)!r}).touch)\n"
             "from crosscheck.worker import server\n"
             "server.Worker = lambda framework: None  # no framework imported: the server alone\n"
             "server.serve('torch')")
    worker = FrameworkWorker("torch", [sys.executable, "-c", serve])
    worker.wait_ready()
    worker.close()
    assert worker._process.returncode == 0
    assert not torn_down.exists()


def test_a_keras_worker_imports_tensorflow_without_jax_and_matplotlib_which_a_users_file_may_still_import():
    """TensorFlow and Keras import jax and matplotlib whenever installed (TF Lite's helpers, Keras' orbax callback and
    image galleries), for nothing a worker does: the Keras worker keeps them out of its framework's import."""
    if not all(importlib.util.find_spec(name) for name in ("jax", "matplotlib")):
        pytest.skip("needs jax and matplotlib installed, as the test extra installs them")
    script = ("import sys\n"
              "from crosscheck.worker.state import Worker\n"
              "Worker('keras')\n"
              "print(sorted(name for name in ('jax', 'matplotlib') if name in sys.modules))\n"
              "import jax, matplotlib.pyplot\n"
              "print('imported afterwards')")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env={**os.environ, **client.backend_environment("keras")})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == ["[]", "imported afterwards"]

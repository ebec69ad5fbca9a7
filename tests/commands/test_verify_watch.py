"""`crosscheck verify` on warm workers: several candidates in one call share one worker and the references built
for the first; `--watch` verifies again on every edit of the candidate's file, reports a file that no longer
imports and goes on, and leaves on Ctrl-C with the last verdict's exit code.

The candidate is a small file in tmp_path that builds tests/candidates/blog_resnet_torch.py's ResNet18 with a
BatchNorm epsilon written in it, so an edit of that one number plants or fixes a translation bug.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

from crosscheck.cli import main
from crosscheck.worker import client

ROOT = Path(__file__).parents[2]
CANDIDATES = ROOT / "tests" / "candidates"
SMALL = "3,64,64"
WAIT = 900.0  # seconds for a line that must come: a hang guard on a loaded machine, never an assertion on speed
CANDIDATE = f"""import sys

sys.path.insert(0, {str(CANDIDATES)!r})
from blog_resnet_torch import BlogResNet


def model():
    return BlogResNet(depth=18, eps={{eps}})
"""
RIGHT, SLIP = "1e-5", "1e-3"  # torchvision's BatchNorm2d default, and the slip (same length: same file size)


def write_candidate(path: Path, eps: str) -> Path:
    path.write_text(CANDIDATE.replace("{eps}", eps))
    return path


def ctrl_c_stops() -> None:
    """In the watch's process: SIGINT as a terminal's Ctrl-C, even when pytest runs in the background of a shell,
    which ignores SIGINT for it (Python then leaves SIGINT ignored, and the watch would never see it)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Output:
    """The lines a process prints, read in a thread so that waiting for one can time out instead of hanging."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, args=(process,), daemon=True).start()

    def _read(self, process: subprocess.Popen) -> None:
        for line in process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def until(self, text: str) -> str:
        """Every line up to and including the first one containing `text`."""
        seen = []
        while True:
            try:
                line = self.lines.get(timeout=WAIT)
            except queue.Empty:
                raise AssertionError(f"no line with {text!r} came; printed so far:\n{''.join(seen)}") from None
            assert line is not None, f"the process ended before printing {text!r}:\n{''.join(seen)}"
            seen.append(line)
            if text in line:
                return "".join(seen)


def test_watch_verifies_each_edit_reports_a_syntax_error_and_stops_on_ctrl_c(tmp_path):
    candidate = write_candidate(tmp_path / "my_resnet.py", RIGHT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
           "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    process = subprocess.Popen([sys.executable, "-m", "crosscheck", "verify", f"{candidate}:model", "--framework",
                                "torch", "--model", "resnet18", "--input-shape", SMALL, "--no-alternatives", "--watch"],
                               cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               preexec_fn=ctrl_c_stops)
    try:
        output = Output(process)
        first = output.until("verdict: exit")
        assert "MATCH: the candidate computes resnet18" in first and "verdict: exit 0;" in first

        write_candidate(candidate, SLIP)
        slipped = output.until("verdict: exit")
        assert "changed: " in slipped and "verdict: exit 1;" in slipped
        assert "cause: BatchNorm epsilon" in slipped and "MISMATCH: the candidate is not resnet18" in slipped

        candidate.write_text(CANDIDATE.replace("def model():", "def model(:").replace("{eps}", RIGHT))
        broken = output.until("verdict: exit")
        assert "verdict: exit 2;" in broken
        assert "does not import: SyntaxError" in broken and "(my_resnet.py:7)" in broken
        assert "Traceback" not in broken

        write_candidate(candidate, RIGHT)
        fixed = output.until("verdict: exit")
        assert "MATCH: the candidate computes resnet18" in fixed and "verdict: exit 0;" in fixed

        write_candidate(candidate, SLIP)
        assert "verdict: exit 1;" in output.until("verdict: exit")
        process.send_signal(signal.SIGINT)
        assert "stopped watching; exit code 1" in output.until("stopped watching")
        assert process.wait(timeout=WAIT) == 1  # the last verdict's
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_several_candidates_share_one_worker_and_its_references(tmp_path, monkeypatch, capsys):
    started, requests = [], []

    class CountingWorker(client.FrameworkWorker):
        def __init__(self, framework: str, **options) -> None:
            started.append(framework)
            super().__init__(framework, **options)

        def request(self, op: str, **arguments):
            requests.append((op, arguments.get("handle")))
            return super().request(op, **arguments)

    monkeypatch.setattr(client, "FrameworkWorker", CountingWorker)
    right = write_candidate(tmp_path / "right.py", RIGHT)
    slip = write_candidate(tmp_path / "slip.py", SLIP)
    report = tmp_path / "verify.json"
    code = main(["verify", f"{right}:model", f"{CANDIDATES / 'does_not_import.py'}:ResNet50", f"{slip}:model",
                 "--framework", "torch", "--model", "resnet18", "--input-shape", SMALL, "--json", str(report)])
    assert code == 2  # the highest: one candidate does not import
    assert "does not import: ModuleNotFoundError" in " ".join(capsys.readouterr().err.split())
    reports = json.loads(report.read_text())
    assert [(r["candidate"]["source"], r["passed"]) for r in reports] == [(str(right), True), (str(slip), False)]
    assert reports[1]["causes"] == ["bn_eps"]
    assert started == ["torch"]
    built = [handle for op, handle in requests if op == "verify_reference"]
    assert len(built) == len(set(built)), built  # every reference built once, for the first candidate
    assert [op for op, handle in requests if op == "verify_build"] == ["verify_build"] * 3

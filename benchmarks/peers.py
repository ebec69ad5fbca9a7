"""The `peers` and `watch` sections of the benchmark. peers: crosscheck next to the tools people use for the same
jobs, on the same models:

- verify: a torchvision resnet50 whose only bug is BatchNorm eps 1e-3, checked by `crosscheck verify --model
  resnet50` and by PaDiff's `auto_diff` against paddle.vision's resnet50 (the torch/Paddle pair PaDiff is made
  for); cold is one fresh process each, as a user runs it; warm is a second check with everything loaded
  (ours: the second `verify` on a Verifier's warm workers; PaDiff: a second `auto_diff` in its process).
- convert: resnet50 from a torchvision .pth to Paddle, by `crosscheck convert` and by X2Paddle's `pytorch2paddle`
  (torch import, model build and load included: a fresh process each); fidelity is each Paddle model's float32
  output's relative L2 distance from the float64 torch output of the same weights.

The peers are installed from PyPI into the interpreter given by `--peers-python` (an environment of their own,
which may see the project's through a .pth file); a peer that does not import there is skipped with a note.
CPU seconds (user + system of the process and every process it waited for) are given next to wall seconds:
on a shared machine they move less than wall time does.

watch: how long `verify --watch` takes to its first verdict and from a saved edit to the next one.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from crosscheck import calibration
from crosscheck.metrics import rel_l2
from crosscheck.verify.session import VerifyConfig, verifier

HERE = Path(__file__).resolve().parent
PEER_SIDE = HERE / "peer_side.py"
BN_EPS = 1e-3  # the one bug of the verified model; torchvision's BatchNorm2d default is 1e-5
CANDIDATE = f'''"""torchvision's resnet50 with every BatchNorm's epsilon {BN_EPS:g}: its only bug."""
import torch
import torchvision


def model():
    net = torchvision.models.resnet50()
    for module in net.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.eps = {BN_EPS!r}
    return net
'''


@dataclass(frozen=True)
class Timed:
    """One fresh process: wall seconds, CPU seconds of it and its children, and what it printed."""

    wall: float
    cpu: float
    stdout: str


def timed(argv: Sequence[str], cwd: Path, accepted: tuple[int, ...] = (0,)) -> Timed:
    """Run `argv` to its end; an exit code not `accepted` raises with its stderr tail."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(list(argv), cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in accepted:
        tail = "\n".join(done.stderr.strip().splitlines()[-10:])
        raise RuntimeError(f"{' '.join(argv[:4])} exited with {done.returncode}:\n{tail}")
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return Timed(wall, cpu, done.stdout)


def median(runs: Sequence[Timed]) -> Timed:
    """The run with the median wall time (the upper one of an even count)."""
    return sorted(runs, key=lambda run: run.wall)[len(runs) // 2]


def peer_step(python: str, tmp: Path, step: str, *arguments: str) -> tuple[Timed, dict[str, Any]]:
    """One step of benchmarks/peer_side.py in a fresh process of the peers' interpreter; its timing and result."""
    result = tmp / f"peer-{step}.json"
    run = timed([python, str(PEER_SIDE), step, *arguments, str(result)], tmp)
    return run, json.loads(result.read_text())


def importable(python: str, module: str) -> str | None:
    """None when `module` imports in `python`; otherwise the last line of why not."""
    done = subprocess.run([python, "-c", f"import {module}"], capture_output=True, text=True)
    return None if done.returncode == 0 else (done.stderr.strip().splitlines() or ["exit code " + str(done.returncode)])[-1]


def crosscheck(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "crosscheck", *arguments]


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) a running process has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100.0  # utime, stime in clock ticks (USER_HZ = 100 on Linux)


def warm_verify(candidate: Path) -> tuple[float, float, dict[str, Any]]:
    """Wall and CPU seconds of a second `verify` of `candidate` on the workers and references of a first one."""
    config = VerifyConfig(str(candidate), "model", "torch", "resnet50")
    with verifier() as warm:
        warm.verify(config)
        workers = [w._process.pid for w in warm.pool.workers.values()]
        cpu_before = sum(map(proc_cpu, workers)) + _self_cpu()
        started = time.perf_counter()
        report = warm.verify(config)
        wall = time.perf_counter() - started
        cpu = sum(map(proc_cpu, workers)) + _self_cpu() - cpu_before
    return wall, cpu, report.as_dict()


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def verify_rows(python: str, tmp: Path, notes: list[str], rounds: int) -> list[list[str]]:
    """Ours cold (with and without alternatives) and warm, and PaDiff cold and warm, on the eps-1e-3 resnet50; each
    cold process the median of `rounds`."""
    candidate = tmp / "bn_eps_resnet50.py"
    candidate.write_text(CANDIDATE)
    arguments = ["verify", f"{candidate}:model", "--framework", "torch", "--model", "resnet50"]
    rows = []
    for label, extra in (("`crosscheck verify`, cold", []), ("`crosscheck verify --no-alternatives`, cold",
                                                            ["--no-alternatives"])):
        report = tmp / f"verify{len(rows)}.json"
        run = median([timed(crosscheck(*arguments, *extra, "--json", str(report), "--overwrite"), tmp,
                            accepted=(0, 1)) for _ in range(rounds)])  # exit 1: the mismatch it finds
        rows.append([label, run.wall, run.cpu, _diagnosis(json.loads(report.read_text()))])
    wall, cpu, report = warm_verify(candidate)
    rows.append(["`crosscheck verify`, warm (a second verify on the same workers)", wall, cpu, _diagnosis(report)])
    missing = importable(python, "padiff")
    if missing:
        notes.append(f"PaDiff skipped: `import padiff` fails in {python}: {missing}")
        return _cells(rows, None)
    images = tmp / "images.npy"
    np.save(images, calibration.sample_input(2))
    try:
        steps = [peer_step(python, tmp, "padiff", str(candidate), str(images)) for _ in range(rounds)]
        run = median([step for step, _ in steps])
        result = next(result for step, result in steps if step is run)
    except RuntimeError as error:  # the peer's failure is a finding of the benchmark, not the end of the section
        notes.append(f"PaDiff failed: {' '.join(str(error).split())}")
        return _cells(rows, None)
    found = "; ".join(result["found"]) or "nothing"
    rows.append(["PaDiff `auto_diff`, cold (a fresh process)", run.wall, run.cpu,
                 f"{'passed' if result['passed'] else 'failed'}: {found}"])
    rows.append(["PaDiff `auto_diff`, warm (a second call in that process; wall only)", result["warm_seconds"], None,
                 "the same"])
    notes.append(f"PaDiff's process: {result['import_seconds']:.1f} s importing torch, paddle and padiff, "
                 f"{result['first_seconds']:.1f} s in the first `auto_diff` (atol 1e-4, its weights assigned by it).")
    return _cells(rows, (rows[3][1], rows[3][2]))


def _diagnosis(report: dict[str, Any]) -> str:
    divergence = report["first_divergence"]["name"] if report["first_divergence"] else "none"
    proven = [c["mutation"] for c in report.get("counterfactuals", []) if c["explains"]]
    return (f"{'passed' if report['passed'] else 'mismatch'}: first divergence {divergence}, cause "
            f"{', '.join(report['causes']) or 'none'}" + (f", proven by {', '.join(proven)}" if proven else ""))


def _cells(rows: list[list[Any]], peer: tuple[float, float] | None) -> list[list[str]]:
    """Rows as text, with wall and CPU ratios to the peer's cold run where there is one."""
    cells = []
    for label, wall, cpu, outcome in rows:
        ratio_wall = f"{wall / peer[0]:.2f}" if peer else "-"
        ratio_cpu = f"{cpu / peer[1]:.2f}" if peer and cpu is not None else "-"
        cells.append([label, f"{wall:.1f}", "-" if cpu is None else f"{cpu:.1f}", ratio_wall, ratio_cpu, outcome])
    return cells


def convert_rows(python: str, tmp: Path, weights: str, notes: list[str], rounds: int) -> list[list[str]]:
    """Ours and X2Paddle's torch -> Paddle conversion of resnet50: time (the median of `rounds` fresh processes), and
    float32 distance from float64 truth."""
    pth = tmp / "resnet50.pth"
    subprocess.run(crosscheck("convert", weights, str(pth), "--model", "resnet50"), check=True, capture_output=True)
    images, truth = tmp / "images.npy", tmp / "truth.npy"
    np.save(images, calibration.sample_input(2))
    peer_step(sys.executable, tmp, "truth", str(pth), str(images), str(truth))
    ours = tmp / "resnet50.pdparams"
    ours_run = median([timed(crosscheck("convert", str(pth), str(ours), "--model", "resnet50", "--overwrite"), tmp)
                       for _ in range(rounds)])
    rows = [["`crosscheck convert` (verified)", ours_run, _fidelity(tmp, "ours", ours, images, truth)]]
    missing = importable(python, "x2paddle")
    if missing:
        notes.append(f"X2Paddle skipped: `import x2paddle` fails in {python}: {missing}")
    else:
        outs = [tmp / f"x2paddle-{i}" for i in range(rounds)]
        try:
            run = median([peer_step(python, tmp, "x2paddle", str(pth), str(out))[0] for out in outs])
            rows.append(["X2Paddle `pytorch2paddle` (trace)", run,
                         _fidelity(tmp, "x2paddle", outs[-1], images, truth, python)])  # its code imports x2paddle
        except RuntimeError as error:
            notes.append(f"X2Paddle failed: {' '.join(str(error).split())}")
    peer = rows[-1][1] if len(rows) > 1 else None
    return [[label, f"{run.wall:.1f}", f"{run.cpu:.1f}", f"{run.wall / peer.wall:.2f}" if peer else "-",
             f"{run.cpu / peer.cpu:.2f}" if peer else "-", f"{distance:.1e}"] for label, run, distance in rows]


def _fidelity(tmp: Path, kind: str, path: Path, images: Path, truth: Path, python: str = sys.executable) -> float:
    """Relative L2 distance of a converted Paddle model's float32 output from the float64 torch output."""
    output = tmp / f"output-{kind}.npy"
    peer_step(python, tmp, "paddle-output", kind, str(path), str(images), str(output))
    return rel_l2(np.load(output).astype(np.float64), np.load(truth))



def peers_table(tmp: Path, weights: str, python: str,
                rounds: int) -> tuple[str, list[str], list[list[str]], list[str]]:
    """The `peers` section as (title, columns, rows, notes): verify vs PaDiff, convert vs X2Paddle, in one run."""
    notes: list[str] = []
    rows = [["verify", *row] for row in verify_rows(python, tmp, notes, rounds)]
    rows += [["convert", *row] for row in convert_rows(python, tmp, weights, notes, rounds)]
    notes += [
        f"Peers run with `{python}`. Every fresh process (ours and the peers') is the one with the median wall time "
        f"of {rounds}. Ratios are ours / the peer's fresh process (PaDiff for verify, X2Paddle for "
        "convert). *result* is the diagnosis for verify (ours: first divergence, named cause and the "
        "counterfactual that proves it; PaDiff: where its first difference above atol is) and, for convert, the "
        "Paddle model's float32 output's relative L2 distance from the float64 torch output of the same weights "
        "(batch 2, 224x224).",
        "Cold verify runs the candidate and this project's float64 resnet50 in a fresh torch worker, traces both, "
        "compares every layer, builds the counterfactual reference and (without --no-alternatives) traces the "
        "other resnet50 ids; PaDiff runs float32 forward and backward of both models in one process."]
    return ("Peers: verify vs PaDiff, convert vs X2Paddle (resnet50, CPU)",
            ["task", "tool", "wall s", "CPU s", "wall ratio", "CPU ratio", "result"], rows, notes)


WATCHED = f'''"""A resnet18 translation (tests/candidates/blog_resnet_torch.py) with its BatchNorm epsilon written here."""
import sys

sys.path.insert(0, {str(HERE.parent / "tests" / "candidates")!r})
from blog_resnet_torch import BlogResNet


def model():
    return BlogResNet(depth=18, eps={{eps}})
'''
EDITS = ("1e-3", "1e-5", "1e-3", "1e-5")  # slip, fix, slip, fix: each edit changes the verdict


def watch_table(tmp: Path) -> tuple[str, list[str], list[list[str]], list[str]]:
    """`verify --watch` on a resnet18 translation: seconds to the first verdict, and from each saved edit to its
    verdict (read from the watch's own output lines, as a user sees them)."""
    candidate = tmp / "my_resnet18.py"
    candidate.write_text(WATCHED.replace("{eps}", "1e-5"))
    started = time.perf_counter()
    process = subprocess.Popen(crosscheck("verify", f"{candidate}:model", "--framework", "torch", "--model",
                                          "resnet18", "--watch"), cwd=tmp, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
                               preexec_fn=_ctrl_c_stops)
    try:
        rows = [["first verdict (workers started, references built)", f"{_next_verdict(process) - started:.1f}",
                 "0"]]
        for eps in EDITS:
            saved = time.perf_counter()
            candidate.write_text(WATCHED.replace("{eps}", eps))
            code = _next_verdict(process, with_code=True)
            rows.append([f"after an edit to eps={eps}", f"{code[0] - saved:.1f}", str(code[1])])
    finally:
        process.send_signal(signal.SIGINT)
        process.wait()
    return ("`verify --watch` on a resnet18 translation (torch, 224x224, CPU)", ["verdict", "seconds", "exit"], rows,
            ["Seconds from starting `crosscheck verify my_resnet18.py:model --framework torch --model resnet18 "
             "--watch`, then from each save of the file, to the watch's `verdict:` line (the file builds "
             "tests/candidates/blog_resnet_torch.py's ResNet18 with the BatchNorm epsilon each edit writes)."])


def _ctrl_c_stops() -> None:
    """In the watch's process: SIGINT raises KeyboardInterrupt even when this benchmark was started in the
    background by a shell, which ignores SIGINT for it and so, by inheritance, for the watch."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _next_verdict(process: subprocess.Popen, with_code: bool = False) -> Any:
    """When the watch printed its next `verdict: exit N` line (and N)."""
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("verdict: exit"):
            now = time.perf_counter()
            return (now, int(line.split()[2].rstrip(";"))) if with_code else now
    raise RuntimeError("the watch ended before its verdict")

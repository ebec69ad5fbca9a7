"""crosscheck's benchmarks: `python benchmarks/run.py [--quick] [--threads N]` measures everything, writes BENCHMARKS.md.

This process never imports a deep-learning framework. Every measurement runs in a fresh
`benchmarks/measure.py` process for one framework (importing TensorFlow and Paddle together
segfaults); arrays travel as canonical safetensors files and results come back as JSON. Latencies
of ours and the reference are taken in the same process, alternating call by call, and compared as
the median of the per-round ratios, so background load on the machine affects both alike.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from rich.console import Console
from rich.table import Table as RichTable
from rich.text import Text

from crosscheck import backends, calibration
from crosscheck.checkpoints import canonical
from crosscheck.convert.session import ConvertOptions, convert
from crosscheck.export.session import ExportOptions, export
from crosscheck.worker.client import FrameworkWorker

from benchmarks import peers

HERE = Path(__file__).resolve().parent
MEASURE = HERE / "measure.py"
GOAL_RATIO = 1.05
BATCHES = (1, 8)
# framework -> spec ids compared against the framework's own reference implementations (see *_side.py)
LATENCY_MODELS = {"torch": ("resnet18", "resnet50", "resnet50d"), "keras": ("resnet50_v1", "resnet50v2"),
                  "paddle": ("resnet18", "resnet50")}
# the grouped-conv family against its references (torchvision, paddle.vision), and Keras' grouped conv against
# torch's: no Keras reference exists, so Keras' model is timed against torch's own, ResNet-50 beside it for scale
FAMILY_MODELS = {"torch": ("resnext50_32x4d",), "paddle": ("resnext50_32x4d",)}
GROUPED_VS_PLAIN = {"keras": ("resnet50", "resnext50_32x4d"), "torch": ("resnet50", "resnext50_32x4d")}
TRANSFER_MODEL = "resnet50"
ONNX_MODEL = "resnet50"
PRECISION_MODELS = ("resnet50", "resnet50v2")
PRECISION_BATCH = 2  # crosscheck run's default batch
FRAMEWORKS = backends.default_names()
PACKAGES = ("torch", "torchvision", "tensorflow", "keras", "paddlepaddle", "onnx", "onnxruntime", "onnxscript",
            "tf2onnx", "paddle2onnx", "numpy", "safetensors")

console = Console(width=None if sys.stdout.isatty() else 200)  # a log file gets whole rows


@dataclass(frozen=True)
class Effort:
    """How many repetitions each measurement gets."""

    timing: dict[str, float]  # latency pairs: warm-up rounds, then rounds filling `budget` seconds, clamped
    memory_processes: int  # fresh processes per memory cell
    memory_forwards: int
    transfer_repeats: int
    command_rounds: int  # fresh-process runs of each timed command (run, convert, the peers): the median one counts


# 20 rounds at least: identical models timed against each other swing +-5-7% round to round on 2 shared
# cores, and 7 rounds left the median ratio uncertain by +-4% (a 1.056 from a model identical to its reference)
FULL = Effort({"warmup": 1, "budget": 8.0, "min_rounds": 20, "max_rounds": 40}, memory_processes=4,
              memory_forwards=2, transfer_repeats=5, command_rounds=3)
QUICK = Effort({"warmup": 1, "budget": 3.0, "min_rounds": 3, "max_rounds": 15}, memory_processes=1,
               memory_forwards=1, transfer_repeats=2, command_rounds=1)


@dataclass
class Table:
    """One result table, printed with rich and written to BENCHMARKS.md as markdown."""

    title: str
    columns: Sequence[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        lines = [f"### {self.title}", "", "| " + " | ".join(self.columns) + " |",
                 "|" + "|".join("---" for _ in self.columns) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        return "\n".join(lines + [""] + [f"{note}\n" for note in self.notes])

    def print(self) -> None:
        table = RichTable(title=self.title)
        for column in self.columns:
            table.add_column(column)
        for row in self.rows:
            table.add_row(*(Text(cell) for cell in row))
        console.print(table)
        for note in self.notes:
            console.print(note, markup=False)


class Bench:
    """One benchmark run: the scratch directory, the weight files and the measurement processes."""

    def __init__(self, tmp: Path, effort: Effort) -> None:
        self.tmp = tmp
        self.effort = effort
        self.requests = 0

    def weights(self, model_id: str) -> str:
        """The seeded calibrated canonical weights of `model_id` (made once), as a file path."""
        path = self.tmp / f"{model_id}.safetensors"
        if not path.exists():
            canonical.save(path, model_id, calibration.calibrated_weights(model_id), {"source": "benchmarks"})
        return str(path)

    def measure(self, request: dict[str, Any]) -> Any:
        """Run one measurement in a fresh `measure.py` process; its JSON result, or RuntimeError with its stderr."""
        self.requests += 1
        request_path = self.tmp / f"request-{self.requests}.json"
        result_path = self.tmp / f"result-{self.requests}.json"
        request_path.write_text(json.dumps(request))
        done = subprocess.run([sys.executable, str(MEASURE), str(request_path), str(result_path)], cwd=HERE,
                              capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
        if done.returncode != 0:
            tail = "\n".join(done.stderr.strip().splitlines()[-15:])
            raise RuntimeError(f"measure.py {request['command']} {request['framework']} failed:\n{tail}")
        return json.loads(result_path.read_text())


def thread_environment(threads: int) -> dict[str, str]:
    """Environment variables that set the intra-op thread count of torch, paddle (OpenMP/MKL) and TensorFlow."""
    return {name: str(threads) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
                                            "TF_NUM_INTEROP_THREADS")}


def section(make: Callable[..., Table], *args: Any) -> Table:
    """One table; a section that fails becomes a table saying why, so the other sections still get written."""
    try:
        return make(*args)
    except Exception as error:  # any failure of one section (a crashed process, a broken exporter) is reported
        console.print_exception()
        return Table(f"{make.__name__}: failed", ["error"], [[f"{type(error).__name__}: {error}".replace("\n", " ")]])


def paired_ratio(ours: Sequence[float], reference: Sequence[float]) -> tuple[float, float, float]:
    """Median of the per-round ratios ours/reference and its distribution-free 95% confidence interval."""
    ratios = np.sort(np.asarray(ours) / np.asarray(reference))
    low, high = median_interval(len(ratios))
    return float(np.median(ratios)), float(ratios[low]), float(ratios[high])


def median_interval(n: int, confidence: float = 0.95) -> tuple[int, int]:
    """0-based order statistics (low, high) that bracket the median of n samples with at least `confidence`.

    The number of samples below the true median is Binomial(n, 1/2), whatever the distribution, so
    [x_(j), x_(n-j+1)] covers the median with probability 1 - 2 P(B <= j-1); j is the largest that keeps
    that at least `confidence`. Below 6 samples no pair reaches 95%: then it is the whole range.
    """
    tail = np.cumsum([math.comb(n, k) for k in range(n + 1)]) / 2**n  # P(B <= k)
    j = max(int(np.sum(tail <= (1 - confidence) / 2)), 1)
    return j - 1, n - j


def ms(seconds: Sequence[float]) -> str:
    """'median [q1-q3]' in milliseconds."""
    q1, median, q3 = np.percentile(np.asarray(seconds) * 1e3, [25, 50, 75])
    return f"{median:.1f} [{q1:.1f}-{q3:.1f}]"


def ratio_cells(ours: Sequence[float], reference: Sequence[float], flag: bool = True) -> list[str]:
    """The median per-round ratio (bold above the goal when `flag`) and its 95% confidence interval."""
    median, low, high = paired_ratio(ours, reference)
    return [f"**{median:.3f}**" if flag and median > GOAL_RATIO else f"{median:.3f}", f"{low:.3f}-{high:.3f}"]


def latency_verdict(ours: Sequence[float], reference: Sequence[float]) -> str:
    """'ok' within the goal; above it, 'slower' only when the whole 95% interval of the ratio is above it."""
    median, low, _ = paired_ratio(ours, reference)
    if median <= GOAL_RATIO:
        return "ok"
    return f"inconclusive: 95% CI reaches {GOAL_RATIO}" if low <= GOAL_RATIO else "slower"


def latency_table(bench: Bench, devices: Sequence[str], models_of: Mapping[str, Sequence[str]] = LATENCY_MODELS,
                  title: str = "Forward latency: ours vs reference") -> Table:
    """Forward latency of each implementation vs its reference, same weights and input, interleaved."""
    table = Table(title, ["framework", "model (spec id)", "reference", "device", "batch", "ours ms", "reference ms",
                          "ratio ours/ref", "ratio 95% CI", "verdict", "rounds", "rel L2 ours vs ref"])
    for device in devices:
        for framework in models_of:
            models = models_of[framework]
            console.log(f"latency: {framework} {', '.join(models)} on {device}")
            result = bench.measure({"command": "latency", "framework": framework, "device": device,
                                    "weights": {m: bench.weights(m) for m in models}, "batches": list(BATCHES),
                                    "timing": bench.effort.timing})
            if isinstance(result, dict) and "skipped" in result:
                table.notes.append(f"{device}: {result['skipped']}; skipped.")
                continue
            for row in result:
                ours, ref = row["times"]["ours"], row["times"]["reference"]
                table.rows.append([framework, row["model_id"], row["reference"], device, str(row["batch"]),
                                   ms(ours), ms(ref), *ratio_cells(ours, ref), latency_verdict(ours, ref),
                                   str(len(ours)), f"{row['rel_l2']:.1e}"])
    table.notes.append(
        f"Each cell: median [interquartile range] over *rounds* timed rounds (as many as fit in "
        f"{bench.effort.timing['budget']:.0f} s, {bench.effort.timing['min_rounds']:.0f} to "
        f"{bench.effort.timing['max_rounds']:.0f}) after {bench.effort.timing['warmup']:.0f} warm-up round(s); each "
        "round calls ours and the reference once, alternating which goes first. The ratio is the median of "
        "the per-round ratios. Both models hold the same calibrated weights (loaded through the crosscheck "
        "adapter) and get the same input tensor, already on the device; "
        "a call ends when the output is ready (torch.cuda.synchronize / paddle.device.synchronize on GPU, "
        "`.numpy()` for TensorFlow). Keras models are called eagerly, `model(x, training=False)`, as "
        "crosscheck calls them; both Keras models take (None, None, 3) input. rel L2 0 means bit-identical "
        "logits. *ratio 95% CI*: distribution-free confidence interval of that median (binomial order "
        "statistics of the per-round ratios). *verdict*: ok when the ratio is within the goal; above it, *slower* "
        "only when the whole interval is above the goal, else *inconclusive* (more rounds needed to tell).")
    return table


def memory_table(bench: Bench, devices: Sequence[str], models_of: Mapping[str, Sequence[str]] = LATENCY_MODELS,
                 title: str = "Peak memory (MiB): ours vs reference") -> Table:
    """Peak memory during forwards of each implementation vs its reference, fresh processes per cell."""
    table = Table(title, ["framework", "model", "device", "batch", "ours: after load", "ours: peak", "ref: after load",
                          "ref: peak", "peak ratio ours/ref", "verdict", "forward growth ours / ref"])
    cells = [(fw, m, d, b, v, i) for d in devices for fw in models_of for m in models_of[fw] for b in BATCHES
             for i in range(bench.effort.memory_processes) for v in ("ours", "reference")]
    console.log(f"memory: {len(cells)} fresh processes, two at a time")

    def one(cell: tuple[str, str, str, int, str, int]) -> dict[str, Any]:
        framework, model_id, device, batch, variant, _ = cell
        return bench.measure({"command": "memory", "framework": framework, "model_id": model_id, "device": device,
                              "batch": batch, "variant": variant, "weights": bench.weights(model_id),
                              "forwards": bench.effort.memory_forwards})

    for model_id in {m for models in models_of.values() for m in models}:
        bench.weights(model_id)  # made here, not concurrently inside the threads
    with ThreadPoolExecutor(max_workers=2) as pool:  # memory does not depend on CPU contention
        measured = list(pool.map(one, cells))
    by_cell: dict[tuple[str, str, str, int], dict[str, list[dict[str, Any]]]] = {}
    for (framework, model_id, device, batch, variant, _), result in zip(cells, measured):
        if "skipped" in result:
            if f"{device}: {result['skipped']}; skipped." not in table.notes:
                table.notes.append(f"{device}: {result['skipped']}; skipped.")
            continue
        by_cell.setdefault((framework, model_id, device, batch), {}).setdefault(variant, []).append(result)
    for (framework, model_id, device, batch), variants in by_cell.items():
        ours, ref = variants["ours"], variants["reference"]
        peaks = [[r["peak_mb"] for r in results] for results in (ours, ref)]
        ratio = float(np.median(peaks[0]) / np.median(peaks[1]))
        overlap = min(peaks[0]) <= max(peaks[1])
        verdict = "ok" if ratio <= GOAL_RATIO else ("noise: ranges overlap" if overlap else "larger")
        growth = [float(np.median([r["peak_mb"] - r["loaded_mb"] for r in results])) for results in (ours, ref)]
        table.rows.append([framework, model_id, device, str(batch), _mib([r["loaded_mb"] for r in ours]),
                           _mib(peaks[0]), _mib([r["loaded_mb"] for r in ref]), _mib(peaks[1]),
                           f"**{ratio:.3f}**" if ratio > GOAL_RATIO else f"{ratio:.3f}", verdict,
                           f"{growth[0]:.0f} / {growth[1]:.0f}"])
    table.notes.append(
        f"Each (framework, model, device, ours|reference, batch) runs in {bench.effort.memory_processes} fresh "
        "process(es): import the framework, build the model, load the calibrated weights, garbage-collect, then "
        f"run {bench.effort.memory_forwards} forward(s). CPU: *after load* is the resident set size (VmRSS) before "
        "the forwards; the kernel's peak-RSS mark is then reset to that value (`/proc/self/clear_refs` = 5) and "
        "*peak* is the high-water mark VmHWM after them, i.e. the largest RSS of the process during "
        "the forwards (framework runtime, weights, activations, allocator caches and lazily created kernels). "
        "GPU: the framework's own allocator statistics, reset before the forwards (torch.cuda "
        "`memory_allocated`/`max_memory_allocated`, paddle.device.cuda likewise, TensorFlow "
        "`get_memory_info('GPU:0')` current/peak). With several processes a cell shows min-max and the ratio "
        "compares medians; *noise* means the two ranges overlap. *Forward growth* = peak - after load (median).")
    return table


def family_latency_table(bench: Bench, devices: Sequence[str]) -> Table:
    """ResNeXt against torchvision's and paddle.vision's, as the latency section measures the others."""
    return latency_table(bench, devices, FAMILY_MODELS, "Grouped convolutions: forward latency, ours vs reference")


def family_memory_table(bench: Bench, devices: Sequence[str]) -> Table:
    """ResNeXt's peak memory against torchvision's and paddle.vision's, as the memory section measures the others."""
    return memory_table(bench, devices, FAMILY_MODELS, "Grouped convolutions: peak memory (MiB), ours vs reference")


def grouped_across_frameworks_table(bench: Bench) -> Table:
    """Keras' forward time against torch's for the same model, grouped (ResNeXt) and plain (ResNet-50), on the CPU:
    no Keras ResNeXt exists to compare with, so this says how far apart the frameworks' grouped convs are."""
    table = Table("Grouped convolutions: Keras vs torch, same model (CPU)",
                  ["model (spec id)", "batch", *(f"{framework} ms" for framework in GROUPED_VS_PLAIN),
                   "ratio keras/torch (medians)", "rounds"])
    times: dict[str, list[dict[str, Any]]] = {}
    for framework, models in GROUPED_VS_PLAIN.items():
        console.log(f"grouped across frameworks: {framework} {', '.join(models)}")
        times[framework] = bench.measure({"command": "alone", "framework": framework, "device": "cpu",
                                          "weights": {m: bench.weights(m) for m in models},
                                          "batches": list(BATCHES), "timing": bench.effort.timing})
    for keras_row, torch_row in zip(times["keras"], times["torch"]):
        ratio = float(np.median(keras_row["times"]) / np.median(torch_row["times"]))
        table.rows.append([keras_row["model_id"], str(keras_row["batch"]), ms(keras_row["times"]),
                           ms(torch_row["times"]), f"{ratio:.2f}", f"{len(keras_row['times'])} / "
                           f"{len(torch_row['times'])}"])
    table.notes.append(
        "Each framework times its own implementation (keras_impl, called eagerly as crosscheck calls it; "
        "pytorch_impl in inference mode) in a process of its own, so the two are not interleaved: the ratio is "
        "of medians, without a paired interval, and background load on a shared machine moves it. Both hold the "
        "same calibrated weights and get the same input. resnet50 beside resnext50_32x4d separates the cost of "
        "the grouped 3x3 convs from the frameworks' general difference.")
    return table


def _mib(values: Sequence[float]) -> str:
    """One value, or 'min-max' of several, in whole MiB."""
    low, high = round(min(values)), round(max(values))
    return f"{low}" if low == high else f"{low}-{high}"


def transfer_table(bench: Bench) -> Table:
    """Weight transfer time for every framework pair, through canonical files written and read for real."""
    model_id = TRANSFER_MODEL
    files = {fw: str(bench.tmp / f"transfer-{fw}.safetensors") for fw in FRAMEWORKS}
    out: dict[str, Any] = {}
    for framework in FRAMEWORKS:  # each loads the calibrated file and writes its own canonical export
        console.log(f"transfer: {framework} writes its canonical {model_id}")
        out[framework] = bench.measure({"command": "transfer", "framework": framework, "model_id": model_id,
                                        "sources": [bench.weights(model_id)], "output": files[framework],
                                        "repeats": bench.effort.transfer_repeats})
    into: dict[str, Any] = {}
    for framework in FRAMEWORKS:  # each reads the other two frameworks' files
        console.log(f"transfer: {framework} reads the others' files")
        into[framework] = bench.measure({"command": "transfer", "framework": framework, "model_id": model_id,
                                         "sources": [files[fw] for fw in FRAMEWORKS if fw != framework],
                                         "repeats": bench.effort.transfer_repeats})
    table = Table(f"Weight transfer, {model_id} ({Path(files['torch']).stat().st_size / 1e6:.1f} MB canonical file)",
                  ["direction", "source: get_native + from_native", "canonical write", "canonical read",
                   "destination: to_native + set_native", "total"])
    for source in FRAMEWORKS:
        for destination in (fw for fw in FRAMEWORKS if fw != source):
            steps = [out[source]["export"], out[source]["write"], into[destination]["read"][files[source]],
                     into[destination]["import"][files[source]]]
            table.rows.append([f"{source} -> {destination}", *(f"{s * 1e3:.0f} ms" for s in steps),
                               f"{sum(steps) * 1e3:.0f} ms"])
    table.notes.append(
        f"Median of {bench.effort.transfer_repeats} repetitions of each step, each in the framework's own process. "
        "Every framework writes the canonical file of its loaded weights (safetensors, float32, canonical "
        "layout) and reads the other two frameworks' files; every import is checked to give back the "
        "source's arrays bit-exactly. The model is built beforehand (not timed).")
    return table


def onnx_table(bench: Bench) -> Table:
    """ONNX export time per framework and onnxruntime latency vs the native model."""
    table = Table(f"ONNX export ({ONNX_MODEL}) and onnxruntime vs native latency (CPU)",
                  ["framework", "exporter s", "export() wall s", "file MB", "passes gate", "batch", "native ms",
                   "onnxruntime ms", "ratio ort/native", "ratio 95% CI", "rounds", "rel L2 ort vs native"])
    for framework in FRAMEWORKS:
        console.log(f"onnx: export {ONNX_MODEL} from {framework}")
        path = bench.tmp / f"{framework}-{ONNX_MODEL}.onnx"
        started = time.perf_counter()
        exported = export(ONNX_MODEL, framework, path, options=ExportOptions(overwrite=True, force=True))
        wall = time.perf_counter() - started
        result = bench.measure({"command": "onnx", "framework": framework, "model_id": ONNX_MODEL,
                                "weights": bench.weights(ONNX_MODEL), "onnx": str(path), "batches": list(BATCHES),
                                "timing": bench.effort.timing})
        for row in result:
            native, ort = row["times"]["native"], row["times"]["onnxruntime"]
            table.rows.append([framework, f"{exported.export_seconds:.1f}", f"{wall:.1f}",
                               f"{path.stat().st_size / 1e6:.1f}", str(exported.passed), str(row["batch"]),
                               ms(native), ms(ort), *ratio_cells(ort, native, flag=False),
                               str(len(ort)), f"{row['rel_l2']:.1e}"])
    table.notes.append(
        "*exporter s*: the framework's own exporter inside its worker (torch.onnx dynamo, Keras `export` via "
        "tf2onnx, paddle2onnx); *export() wall*: all of `crosscheck.export.session.export` (worker start, weights, "
        "native run, export, finalise, onnxruntime verification at two batch sizes). Latencies: the native model "
        "(crosscheck's adapter build, called as in the latency table) and onnxruntime (CPUExecutionProvider, "
        "`crosscheck.onnx_tools.run` on the NCHW export) in the same process, alternating call by call. A ratio "
        "above 1 means onnxruntime is slower (not a goal; informational).")
    return table


RUN_STAGES = ("import", "build+load", "forward float32", "cast to float64", "forward float64",
              "onnx export + onnxruntime")


def timed_command(arguments: Sequence[str], workdir: Path) -> tuple[float, float]:
    """Run `python -m crosscheck ARGUMENTS` in `workdir`: (wall seconds, CPU seconds of it and all its workers)."""
    before = os.times()
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "crosscheck", *arguments], cwd=workdir, check=False, capture_output=True,
                   env={**os.environ, "PYTHONPATH": str(HERE.parent)})
    after = os.times()
    return time.perf_counter() - started, (after.children_user - before.children_user
                                           + after.children_system - before.children_system)


def median_round(rounds: Sequence[tuple[float, float]]) -> int:
    """The index of the round with the median wall time (the upper one of an even count)."""
    return sorted(range(len(rounds)), key=lambda i: rounds[i][0])[len(rounds) // 2]


def median_command(arguments: Sequence[str], workdir: Path, rounds: int) -> tuple[float, float]:
    """`timed_command` `rounds` times: (wall, CPU) of the round with the median wall time."""
    times = [timed_command(arguments, workdir) for _ in range(rounds)]
    return times[median_round(times)]


def run_table(bench: Bench) -> Table:
    """`crosscheck run` as a user runs it (default, and --onnx): wall and CPU in total and per stage and framework;
    the default run's round with the median wall time, and its stages."""
    columns = {"default": ([], bench.effort.command_rounds), "--onnx": (["--onnx"], 1)}
    measured: dict[str, tuple[dict[str, Any], float, float]] = {}
    load_before = load_average()
    for label, (extra, rounds) in columns.items():
        console.log(f"crosscheck run {label}")
        reports = [bench.tmp / f"run{label}-{i}.json" for i in range(rounds)]
        times = [timed_command(["run", *extra, "--json", str(path), "--overwrite"], bench.tmp) for path in reports]
        median = median_round(times)
        measured[label] = (json.loads(reports[median].read_text()), *times[median])
    table = Table("Full `crosscheck run` (4 models x 3 frameworks, batch 2, CPU), seconds by stage",
                  ["stage", *(f"{label} {kind}" for label in columns for kind in ("wall", "CPU"))])
    for framework in FRAMEWORKS:
        for stage in RUN_STAGES:
            name = f"{stage} {framework}"
            cells = [_seconds(report[key].get(name)) for report, _, _ in measured.values()
                     for key in ("overlapped_seconds", "cpu_seconds")]
            if any(cell != "-" for cell in cells):
                table.rows.append([f"{framework}: {stage}", *cells])
    name = "weights (while workers import)"
    table.rows.append([f"main process: {name}", *(cell for report, _, _ in measured.values() for cell in (
        _seconds(report["overlapped_seconds"].get(name)), _seconds(report["cpu_seconds"].get(name))))])
    table.rows.append(["main process: compare", *(cell for report, _, _ in measured.values() for cell in (
        _seconds(report["stage_seconds"].get("compare")), "-"))])
    table.rows.append(["**total** (the command, all processes)",
                       *(cell for _, wall, cpu in measured.values() for cell in (f"**{wall:.1f}**", f"**{cpu:.1f}**"))])
    table.rows.append(["passed", *(cell for report, _, _ in measured.values() for cell in (str(report["passed"]), ""))])
    for label, (report, _, _) in measured.items():
        failures = [f"{m['model_id']} {p['a']} vs {p['b']}" for m in report["models"] for p in m["pairs"]
                    if not p["passed"]]
        failures += [f"{fw}: {error.splitlines()[0]}" for fw, error in report["framework_errors"].items()]
        if failures:
            table.notes.append(f"{label} run failures: " + "; ".join(failures))
    table.notes.append(
        "`crosscheck run --json` (and `--onnx`) started as a user starts it; *total*: its wall time and the CPU time "
        "(user + system) of it and of its three workers. Each worker goes through the four models at its own pace: "
        "it builds and loads a model once in float32, runs it, casts it to float64 (torch and Paddle in place, Keras "
        "rebuilt with the weights copied in memory), runs it again; the stage rows are each worker's own wall and CPU "
        "time per stage, summed over the models (they overlap each other and the main process's weights, so they do not "
        f"add up to the total). The default column is the round with the median wall time of "
        f"{bench.effort.command_rounds}. Goal: total at most 15 s wall and 28 s CPU, on an idle machine; compare the "
        f"CPU column on a loaded one. Load average (1, 5, 15 min) before / after: {load_before} / {load_average()}.")
    return table


ONE_FILE = "resnet18 .pth -> .pdparams, 1 file"
FIVE_FILES = "resnet18 .pth -> .pdparams, 5 files in one call"


def convert_table(bench: Bench) -> Table:
    """`crosscheck convert` as a user runs it: one resnet50 file, and five resnet18 files in one call vs one."""
    folder = bench.tmp / "convert"
    folder.mkdir(exist_ok=True)
    r50 = folder / "resnet50.safetensors"
    canonical.save(r50, "resnet50", calibration.calibrated_weights("resnet50"))
    timed_command(["convert", str(r50), str(folder / "resnet50.pth"), "--overwrite"], folder)  # the source file
    sources = []
    for seed in range(5):
        canonical.save(folder / f"r18-{seed}.safetensors", "resnet18", calibration.calibrated_weights("resnet18", seed))
        timed_command(["convert", str(folder / f"r18-{seed}.safetensors"), str(folder / f"r18-{seed}.pth"),
                       "--overwrite"], folder)
        sources.append(str(folder / f"r18-{seed}.pth"))
    (folder / "out").mkdir(exist_ok=True)
    runs = {
        "resnet50 .pth -> .pdparams": ["convert", str(folder / "resnet50.pth"), str(folder / "r50.pdparams")],
        ONE_FILE: ["convert", sources[0], str(folder / "one.pdparams")],
        FIVE_FILES: ["convert", *sources, "--to-dir", str(folder / "out"), "--to-format", ".pdparams"],
    }
    table = Table("`crosscheck convert` (float64 proof, CPU), seconds", ["conversion", "wall", "CPU", "goal"])
    times, load_before = {}, load_average()
    for label, arguments in runs.items():
        console.log(f"convert: {label}")
        times[label] = median_command([*arguments, "--overwrite"], folder, bench.effort.command_rounds)
    (one_wall, one_cpu), (five_wall, five_cpu) = times[ONE_FILE], times[FIVE_FILES]
    goals = {"resnet50 .pth -> .pdparams": "wall <= 10 s",
             FIVE_FILES: f"<= 2 x one file: {five_wall / one_wall:.2f} x wall, {five_cpu / one_cpu:.2f} x CPU"}
    for label, (wall, cpu) in times.items():
        table.rows.append([label, f"{wall:.1f}", f"{cpu:.1f}", goals.get(label, "")])
    table.notes.append(
        "`crosscheck convert` started as a user starts it; CPU is user + system time of it and its workers (a torch "
        "and a Paddle worker). Several files in one call share one pool of workers (started once) and keep a built "
        "model for the next file of the same id; each file is still read, written and proven on its own. Each row is "
        f"the median wall time of {bench.effort.command_rounds} run(s) (with that run's CPU). Load average "
        f"(1, 5, 15 min) before / after: {load_before} / {load_average()}.")
    return table


def precision_table(bench: Bench) -> Table:
    """What the float64 proof costs: build+load and forward per framework in float32 and float64, in its worker."""
    images = bench.tmp / "precision-input.npy"
    np.save(images, calibration.sample_input(PRECISION_BATCH))
    table = Table(f"Float64 overhead per framework (batch {PRECISION_BATCH}, CPU, crosscheck's workers)",
                  ["framework", "model", "build+load f32 s", "build+load f64 s", "forward f32 ms", "forward f64 ms",
                   "forward f64/f32"])
    for framework in FRAMEWORKS:
        console.log(f"precision: {framework}")
        with FrameworkWorker(framework) as worker:
            worker.request("configure", device="cpu", allow_tf32=False)
            for model_id in PRECISION_MODELS:
                load, forward = {}, {}
                for dtype in ("float32", "float64"):
                    reply = worker.request("load", model_id=model_id, weights=bench.weights(model_id), dtype=dtype)
                    load[dtype] = reply["seconds"]
                    runs = [worker.request("forward", model_id=model_id, input=images, dtype=dtype,
                                           output=bench.tmp / "precision-out.npy")["seconds"]
                            for _ in range(bench.effort.transfer_repeats + 1)]
                    forward[dtype] = float(np.median(runs[1:]))  # the first call warms up
                table.rows.append([framework, model_id, f"{load['float32']:.1f}", f"{load['float64']:.1f}",
                                   f"{forward['float32'] * 1e3:.0f}", f"{forward['float64'] * 1e3:.0f}",
                                   f"{forward['float64'] / forward['float32']:.2f}"])
    started = time.perf_counter()
    result = convert(bench.weights(TRANSFER_MODEL), bench.tmp / "converted.pdparams", ConvertOptions(overwrite=True))
    table.rows.append([f"`crosscheck convert` {TRANSFER_MODEL} .safetensors -> .pdparams (float64 proof)", "", "", "",
                       "", "", f"{time.perf_counter() - started:.1f} s wall, rel L2 {result.agreement.rel_l2:.1e}"])
    table.notes.append(
        f"Each framework's worker builds, loads (seeded calibrated weights) and runs each model in float32 and in "
        f"float64; forward is the median of {bench.effort.transfer_repeats} calls after one warm-up. `crosscheck run` "
        "pays both columns for every model; convert runs float64 only (two workers, started in parallel).")
    return table


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def machine(load_before: str) -> list[str]:
    """CPU model, cores, RAM, GPU, load, OS, Python, package versions, commit and date, as markdown bullet lines."""
    cpuinfo = Path("/proc/cpuinfo").read_text()
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")), "?")
    ram_kb = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal")))
    versions = ", ".join(f"{name} {_version(name)}" for name in PACKAGES)
    commit = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=HERE, capture_output=True, text=True)
    return [
        f"- CPU: {cpu}, {os.cpu_count()} cores visible",
        f"- RAM: {ram_kb / 1024 ** 2:.1f} GiB",
        f"- GPU: {gpu() or 'none (GPU rows skipped)'}",
        f"- Load average (1, 5, 15 min) before / after the run: {load_before} / {load_average()} "
        "(anything above 0 is other work competing for the cores)",
        f"- OS: {platform.platform()}; Python {platform.python_version()}",
        f"- Packages: {versions}",
        f"- Commit: {commit.stdout.strip() or 'unknown'}",
        f"- Date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
    ]


def load_average() -> str:
    """The 1, 5 and 15 minute load averages from /proc/loadavg."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def gpu() -> str | None:
    """The NVIDIA driver's GPU description, or None without one (then no framework is asked about a GPU)."""
    version = Path("/proc/driver/nvidia/version")
    return version.read_text().splitlines()[0] if version.exists() else None


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def document(tables: Sequence[Table], command: str, seconds: float, load_before: str) -> str:
    """BENCHMARKS.md: how it was made, the machine, then the tables."""
    header = [
        "# Benchmarks",
        "",
        f"Generated by `{command}` in {seconds / 60:.1f} min; do not edit by hand, re-run the script. "
        f"Goal: every implementation within {GOAL_RATIO:.2f}x of its reference (ratios above are in bold).",
        "",
        "## Machine",
        "",
        *machine(load_before),
        "",
        "## Results",
        "",
    ]
    return "\n".join(header) + "\n" + "\n".join(table.markdown() for table in tables)


def peers_table(bench: Bench, python: str) -> Table:
    """crosscheck next to PaDiff and X2Paddle (benchmarks/peers.py), installed in `python`'s environment."""
    console.log(f"peers with {python}")
    return Table(*peers.peers_table(bench.tmp, bench.weights("resnet50"), python, bench.effort.command_rounds))


def watch_table(bench: Bench) -> Table:
    """`verify --watch`: the first verdict, and each verdict after a saved edit (benchmarks/peers.py)."""
    console.log("verify --watch")
    return Table(*peers.watch_table(bench.tmp))


SECTIONS: dict[str, Callable[..., Table]] = {"latency": latency_table, "memory": memory_table,
                                            "transfer": transfer_table, "precision": precision_table,
                                            "onnx": onnx_table, "run": run_table, "convert": convert_table,
                                            "watch": watch_table, "peers": peers_table,
                                            "family-latency": family_latency_table,
                                            "family-memory": family_memory_table,
                                            "grouped-frameworks": grouped_across_frameworks_table}


def make_tables(names: Sequence[str], bench: Bench, devices: Sequence[str], peers_python: str) -> list[Table]:
    """The named sections, in the report's order."""
    arguments = {"latency": (bench, devices), "memory": (bench, devices), "transfer": (bench,),
                 "precision": (bench,), "onnx": (bench,), "run": (bench,), "convert": (bench,), "watch": (bench,),
                 "peers": (bench, peers_python), "family-latency": (bench, devices),
                 "family-memory": (bench, devices), "grouped-frameworks": (bench,)}
    return [section(SECTIONS[name], *arguments[name]) for name in SECTIONS if name in names]


def splice(document_text: str, tables: Sequence[Table], command: str, commit: str, loads: tuple[str, str]) -> str:
    """BENCHMARKS.md with each of `tables` replacing its section (same title), or added before the last one,
    each marked with the command, commit and load average (before, after) that re-measured it."""
    sections = document_text.split("\n### ")
    for table in tables:
        text = table.markdown().removeprefix("### ").rstrip("\n")
        text += (f"\n\n*This section was re-measured alone by `{command}` at {commit}, load average {loads[0]} before "
                 f"and {loads[1]} after.*\n")
        titles = [part.split("\n", 1)[0] for part in sections]
        if table.title in titles:
            sections[titles.index(table.title)] = text
        else:
            sections.insert(len(sections) - 1, text)
    return "\n### ".join(sections)


RECORDED_HEADING = "\n## Recorded by hand"


def split_recorded(report: str) -> tuple[str, str]:
    """BENCHMARKS.md as (what this script measured, the hand-recorded section at its end), so that re-measuring
    keeps the figures the docs moved there until a script measures them."""
    measured, heading, recorded = report.partition(RECORDED_HEADING)
    return measured, heading + recorded


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (noisier numbers, ~half the time)")
    parser.add_argument("--threads", type=int, help="intra-op threads of every framework (default: each one's "
                        "own; onnxruntime always keeps its own); 1 keeps ratios stable on a busy machine")
    parser.add_argument("--only", type=lambda text: text.split(","), default=list(SECTIONS),
                        help=f"comma-separated sections to re-measure and splice into the existing report "
                             f"(default: all, written anew): {', '.join(SECTIONS)}")
    parser.add_argument("--output", default=str(HERE.parent / "BENCHMARKS.md"), help="where to write the report")
    parser.add_argument("--peers-python", default=sys.executable,
                        help="the interpreter of the environment PaDiff and X2Paddle are installed in (pip install "
                             "padiff pyyaml x2paddle there), for the peers section (default: this one)")
    args = parser.parse_args(argv)
    unknown = set(args.only) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s) {', '.join(sorted(unknown))}; known: {', '.join(SECTIONS)}")
    effort = QUICK if args.quick else FULL
    if args.threads:
        os.environ.update(thread_environment(args.threads))  # inherited by every measurement and worker process
    started, load_before = time.perf_counter(), load_average()
    with tempfile.TemporaryDirectory(prefix="crosscheck-bench-") as tmp:
        bench = Bench(Path(tmp), effort)
        tables = make_tables(args.only, bench, ["cpu", "cuda"] if gpu() else ["cpu"], args.peers_python)
    for table in tables:
        table.print()
    command = " ".join(["python benchmarks/run.py", *(sys.argv[1:] if argv is None else argv)])
    output = Path(args.output)
    measured, recorded = split_recorded(output.read_text() if output.exists() else "")
    if set(args.only) == set(SECTIONS) or not measured:
        output.write_text(document(tables, command, time.perf_counter() - started, load_before) + recorded)
    else:
        output.write_text(splice(measured, tables, command, _commit(), (load_before, load_average())) + recorded)
    console.log(f"wrote {args.output}")


def _commit() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True)
    return done.stdout.strip() or "an unknown commit"


if __name__ == "__main__":
    main()

"""One benchmark measurement in one framework's process: `python benchmarks/measure.py REQUEST.json RESULT.json`.

`benchmarks/run.py` starts this script once per measurement, so no process ever imports two frameworks
and every memory figure comes from a fresh process. The request names a command (latency, memory,
transfer, onnx) and its framework; arrays arrive as canonical safetensors files and results leave
as JSON. The framework-specific code (references, device tensors, synchronisation) lives in
`<framework>_side.py`; everything here is shared.
"""

from __future__ import annotations

import gc
import importlib
import json
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

import numpy as np

from crosscheck import backends, calibration
from crosscheck.checkpoints import canonical
from crosscheck import spec as specs
from crosscheck.metrics import rel_l2

Request = dict[str, Any]


def side(framework: str) -> ModuleType:
    """The framework's benchmark module (imports the framework)."""
    return importlib.import_module(f"{framework}_side")


def loaded(framework: str, variant: str, model_id: str, weights: str, device: str) -> Any:
    """`ours` or `reference` for `model_id`, with the canonical weights of `weights` loaded through the adapter."""
    fw = side(framework)
    model = fw.ours(model_id) if variant == "ours" else fw.reference(model_id, device)
    model_id, arrays, _ = canonical.load(weights, model_id)
    spec = specs.get(model_id)
    backends.load(framework, "adapter").set_native(model, spec, specs.to_native(spec, arrays, framework))
    return model


def interleaved(runs: dict[str, Callable[[], Any]], timing: dict[str, float]) -> dict[str, list[float]]:
    """Seconds of each run per round, alternating which goes first, so background load hits all alike.

    After `timing["warmup"]` untimed rounds, the last of which sizes the rest: as many rounds as fit
    in `timing["budget"]` seconds, clamped to [`min_rounds`, `max_rounds`].
    """
    round_seconds = 0.0
    for _ in range(int(timing["warmup"])):
        started = time.perf_counter()
        for run in runs.values():
            run()
        round_seconds = time.perf_counter() - started
    rounds = int(np.clip(timing["budget"] // max(round_seconds, 1e-9), timing["min_rounds"], timing["max_rounds"]))
    names = list(runs)
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(rounds):
        for name in names if round_ % 2 == 0 else names[::-1]:
            started = time.perf_counter()
            runs[name]()
            times[name].append(time.perf_counter() - started)
    return times


def latency(request: Request) -> list[dict[str, Any]]:
    """Forward seconds of ours vs the reference, per (model, batch), interleaved, plus their output agreement."""
    fw, device = side(request["framework"]), request["device"]
    results = []
    for model_id, weights in request["weights"].items():
        models = {variant: loaded(request["framework"], variant, model_id, weights, device)
                  for variant in ("ours", "reference")}
        for batch in request["batches"]:
            images = fw.to_input(calibration.sample_input(batch), device)
            runs = {variant: (lambda model=model: fw.call(model, images)) for variant, model in models.items()}
            times = interleaved(runs, request["timing"])
            outputs = {variant: fw.to_numpy(run()) for variant, run in runs.items()}
            results.append({"model_id": model_id, "batch": batch, "times": times, "reference": fw.REFERENCES[model_id][0],
                            "rel_l2": rel_l2(outputs["ours"], outputs["reference"])})
    return results


def alone(request: Request) -> list[dict[str, Any]]:
    """Forward seconds of ours alone per (model, batch): for comparing one framework with another, which no process
    can hold together."""
    fw, device = side(request["framework"]), request["device"]
    results = []
    for model_id, weights in request["weights"].items():
        model = loaded(request["framework"], "ours", model_id, weights, device)
        for batch in request["batches"]:
            images = fw.to_input(calibration.sample_input(batch), device)
            times = interleaved({"ours": lambda: fw.call(model, images)}, request["timing"])["ours"]
            results.append({"model_id": model_id, "batch": batch, "times": times})
    return results


def memory(request: Request) -> dict[str, Any]:
    """Memory in this fresh process after build + load, then its peak during the forwards, in MiB.

    CPU: the resident set size; the kernel's high-water mark (ru_maxrss) is reset to the current RSS
    through /proc/self/clear_refs just before the first forward, so the peak covers the forwards only
    (warm-up included), not the weight loading before them. GPU: the framework's own allocator
    statistics (bytes allocated, and their peak since a reset just before the first forward).
    """
    fw, device = side(request["framework"]), request["device"]
    model = loaded(request["framework"], request["variant"], request["model_id"], request["weights"], device)
    images = fw.to_input(calibration.sample_input(request["batch"]), device)
    gc.collect()
    if device == "cpu":
        loaded_mb = _status_mb("VmRSS")
        Path("/proc/self/clear_refs").write_text("5")  # reset the peak RSS (VmHWM) to the current RSS
    else:
        fw.reset_peak_device_memory()
        loaded_mb = fw.device_memory_mb()[0]
    for _ in range(request["forwards"]):
        fw.call(model, images)  # finished before it returns (synchronised on GPU)
    # VmHWM, not getrusage's ru_maxrss: a process started from a larger one inherits that one's peak in ru_maxrss.
    peak_mb = _status_mb("VmHWM") if device == "cpu" else fw.device_memory_mb()[1]
    return {"loaded_mb": loaded_mb, "peak_mb": peak_mb}


def transfer(request: Request) -> dict[str, Any]:
    """Median seconds of each weight-transfer step for one model, checking every import is bit-exact.

    For each source file: read (canonical.load), import (to_native + set_native), then export
    (get_native + from_native) must give back the source's arrays exactly. With `output`, the
    model's weights (from the last source) are also written there (canonical.save), timed.
    """
    framework, model_id, repeats = request["framework"], request["model_id"], request["repeats"]
    adapter = backends.load(framework, "adapter")
    model = side(framework).ours(model_id)
    spec = specs.get(model_id)
    result: dict[str, Any] = {"import": {}, "read": {}}

    def export() -> dict[str, np.ndarray]:
        return specs.from_native(spec, adapter.get_native(model, spec), framework)

    for source in request["sources"]:
        result["read"][source] = _median_seconds(lambda: canonical.load(source, model_id), repeats)
        arrays = canonical.load(source, model_id)[1]
        result["import"][source] = _median_seconds(
            lambda: adapter.set_native(model, spec, specs.to_native(spec, arrays, framework)), repeats)
        exported = export()
        if any(not np.array_equal(exported[key], arrays[key]) for key in arrays):
            raise AssertionError(f"{framework}: weights from {source} did not survive import + export bit-exactly")
    result["export"] = _median_seconds(export, repeats)
    if request.get("output"):
        arrays = export()
        result["write"] = _median_seconds(lambda: canonical.save(request["output"], model_id, arrays), repeats)
    return result


def onnx(request: Request) -> list[dict[str, Any]]:
    """Forward seconds of ours (native) vs its ONNX export in onnxruntime, per batch, interleaved."""
    from crosscheck import onnx_tools  # onnxruntime is no deep-learning framework; it may share this process

    fw, model_id = side(request["framework"]), request["model_id"]
    model = loaded(request["framework"], "ours", model_id, request["weights"], "cpu")
    session = onnx_tools.session(request["onnx"])
    results = []
    for batch in request["batches"]:
        images = calibration.sample_input(batch)
        native_input = fw.to_input(images, "cpu")
        runs = {"native": lambda: fw.call(model, native_input), "onnxruntime": lambda: onnx_tools.run(session, images)}
        times = interleaved(runs, request["timing"])
        outputs = {"native": fw.to_numpy(runs["native"]()), "onnxruntime": runs["onnxruntime"]()}
        results.append({"model_id": model_id, "batch": batch, "times": times,
                        "rel_l2": rel_l2(outputs["onnxruntime"], outputs["native"])})
    return results


def _median_seconds(work: Callable[[], Any], repeats: int) -> float:
    """Median wall seconds of `repeats` calls of `work`."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return float(np.median(times))


def _status_mb(field: str) -> float:
    """A memory field of /proc/self/status in MiB: VmRSS (resident now) or VmHWM (its high-water mark)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


COMMANDS: dict[str, Callable[[Request], Any]] = {"latency": latency, "alone": alone, "memory": memory, "transfer": transfer,
                                                  "onnx": onnx}


def main(request_path: str, result_path: str) -> None:
    """Configure the framework's device, run the requested command and write its result as JSON."""
    request = json.loads(Path(request_path).read_text())
    fw = side(request["framework"])
    device = request.get("device", "cpu")
    if device == "cuda" and not fw.gpu_available():
        result: Any = {"skipped": f"{request['framework']} sees no GPU"}
    else:
        backends.load(request["framework"], "adapter").configure(device, allow_tf32=False)
        result = COMMANDS[request["command"]](request)
    Path(result_path).write_text(json.dumps(result))


if __name__ == "__main__":
    main(*sys.argv[1:3])

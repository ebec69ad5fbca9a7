"""A framework worker process: `python -m crosscheck.worker FRAMEWORK`.

It imports exactly one framework, keeps built models until the client releases them, and answers one JSON
request per line on stdin with one JSON line on the original stdout. Arrays travel as files
(.npy, .npz, .safetensors) named in the requests, never through the pipe. Whatever the framework
prints goes to stderr, which the client keeps for crash reports.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import sys
import time
import traceback
from typing import Any, Callable

import numpy as np

from crosscheck.checkpoints import canonical
from crosscheck import spec as specs
from crosscheck.adapter import IMPL_PACKAGES, load_adapter
from crosscheck.checkpoints.worker_ops import CHECKPOINT_OPS
from crosscheck.doctor.worker_ops import DOCTOR_OPS
from crosscheck.train_step.worker_ops import TRAIN_OPS
from crosscheck.verify.worker_ops import VERIFY_OPS
from crosscheck.predict.worker_ops import PREDICT_OPS

Handler = Callable[["Worker", dict[str, Any]], dict[str, Any]]
DTYPES = ("float32", "float64")  # float64: the proof; float32: what users run, measured against it


class Worker:
    """Holds one framework's adapter and the models built so far, keyed by (model_id, num_classes, dtype)."""

    def __init__(self, framework: str) -> None:
        self.framework = framework
        self.adapter = load_adapter(framework)
        self.models: dict[tuple[str, int | None, str], Any] = {}

    def model(self, model_id: str, num_classes: int | None = None, dtype: str = "float32") -> Any:
        key = self.key(model_id, num_classes, dtype)
        if key not in self.models:
            self.models[key] = self.adapter.build(model_id, key[1], key[2])
        return self.models[key]

    def loaded_model(self, request: dict[str, Any]) -> Any:
        key = self.key(request["model_id"], request.get("num_classes"), request.get("dtype", "float32"))
        if key not in self.models:
            raise RuntimeError(f"{key[0]} ({key[2]}) has not been loaded in the {self.framework} worker")
        return self.models[key]

    @staticmethod
    def key(model_id: str, num_classes: int | None, dtype: str = "float32") -> tuple[str, int | None, str]:
        """(model_id, num_classes, dtype), None meaning a spec id's default num_classes (1000, 10 for the CIFAR
        ids); keys that are not spec ids (verify's counterfactual models) are kept as given."""
        if num_classes is None and model_id in specs.MODEL_IDS:
            num_classes = specs.get(model_id).num_classes
        return model_id, num_classes, check_dtype(dtype)


def check_dtype(dtype: str) -> str:
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    return dtype


def op_configure(worker: Worker, request: dict[str, Any]) -> dict[str, Any]:
    return {"settings": worker.adapter.configure(request.get("device", "auto"), bool(request.get("allow_tf32")))}


def op_load(worker: Worker, request: dict[str, Any]) -> dict[str, Any]:
    """Build the model in the requested dtype (once) and load canonical weights from a safetensors file into it."""
    model_id, arrays, _ = canonical.load(request["weights"], request["model_id"])
    spec = canonical.spec_for(model_id, arrays)
    started = time.perf_counter()
    model = worker.model(model_id, spec.num_classes, request.get("dtype", "float32"))
    built = time.perf_counter()
    worker.adapter.set_native(model, spec, specs.to_native(spec, arrays, worker.framework))
    return {"build_seconds": built - started, "load_seconds": time.perf_counter() - built}


def op_forward(worker: Worker, request: dict[str, Any]) -> dict[str, Any]:
    """Run the loaded model of the requested dtype; its outputs are saved in that dtype (float64 stays float64)."""
    images = np.load(request["input"])
    outputs = np.asarray(worker.adapter.forward(worker.loaded_model(request), images))
    np.save(request["output"], outputs.astype(check_dtype(request.get("dtype", "float32"))))
    return {"shape": list(outputs.shape)}


def op_block_outputs(worker: Worker, request: dict[str, Any]) -> dict[str, Any]:
    images = np.load(request["input"])
    outputs = worker.adapter.block_outputs(worker.loaded_model(request), images)
    np.savez(request["output"], **outputs)
    return {"names": list(outputs)}


def op_save_canonical(worker: Worker, request: dict[str, Any]) -> dict[str, Any]:
    """Read the loaded model's weights back out, through the spec, into a canonical file."""
    model = worker.loaded_model(request)
    spec = specs.get(request["model_id"], request.get("num_classes"))
    arrays = specs.from_native(spec, worker.adapter.get_native(model, spec), worker.framework)
    canonical.save(request["output"], spec.model_id, arrays, {"source_framework": worker.framework})
    return {}


def op_release(worker: Worker, request: dict[str, Any]) -> dict[str, Any]:
    """Drop every model built for one model id (all dtypes and head sizes): a run of many ids stays at one's memory."""
    for key in [key for key in worker.models if key[0] == request["model_id"]]:
        del worker.models[key]
    gc.collect()
    return {}


def op_export_onnx(worker: Worker, request: dict[str, Any]) -> dict[str, Any]:
    """Export the loaded model with the framework's own ONNX exporter to a file the client then finalises."""
    exporter = importlib.import_module(f"{IMPL_PACKAGES[worker.framework]}.onnx_export")
    exporter.export_onnx(worker.loaded_model(request), request["output"], int(request["opset"]),
                         request["input_layout"], int(request["image_size"]))
    return {}


OPS: dict[str, Handler] = {
    "configure": op_configure,
    "load": op_load,
    "forward": op_forward,
    "block_outputs": op_block_outputs,
    "save_canonical": op_save_canonical,
    "release": op_release,
    "export_onnx": op_export_onnx,
    **CHECKPOINT_OPS,
    **VERIFY_OPS,
    **DOCTOR_OPS,
    **TRAIN_OPS,
    **PREDICT_OPS,
}


def serve(framework: str) -> None:
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # anything the framework prints goes to stderr, not into the protocol
    sys.stdout = sys.stderr
    started = time.perf_counter()
    try:
        worker = Worker(framework)
    except ImportError as error:  # a missing framework, or paddle after TensorFlow: say so, do not crash
        protocol.write(json.dumps({"ok": False, "error": str(error), "missing": True}) + "\n")
        return
    # "seconds" is the import of the framework and its implementation, for the run's stage breakdown
    protocol.write(json.dumps({"ok": True, "result": {"ready": framework}, "seconds": time.perf_counter() - started}) + "\n")
    for line in sys.stdin:
        request = json.loads(line)
        started = time.perf_counter()
        try:
            reply = {"ok": True, "result": OPS[request["op"]](worker, request)}
        except Exception as error:  # reported to the client, which names the framework and request
            reply = {"ok": False, "error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()}
        reply["seconds"] = time.perf_counter() - started
        protocol.write(json.dumps(reply) + "\n")


if __name__ == "__main__":
    serve(specs.check_framework(sys.argv[1]))

"""The ops every framework worker answers whatever the command: configure, load, run, preprocess, export, release.

Command packages add their own ops in `crosscheck/<package>/worker_ops.py` (crosscheck/worker/server.py finds them);
these are the shared ones several commands use.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from crosscheck import spec as specs
from crosscheck.checkpoints import canonical
from crosscheck.worker.state import Worker


def op_configure(worker: Worker, request: dict[str, Any]) -> dict[str, Any]:
    return {"settings": worker.adapter.configure(request.get("device", "auto"), bool(request.get("allow_tf32")))}


def op_load(worker: Worker, request: dict[str, Any]) -> dict[str, Any]:
    """Build the model in the requested dtype (once) and load canonical weights from a safetensors file into it."""
    model_id, arrays, _ = canonical.load(request["weights"], request["model_id"])
    spec = canonical.spec_for(model_id, arrays)
    started = time.perf_counter()
    model = worker.model(model_id, spec.num_classes, request.get("dtype", "float32"), uninitialised=True)
    built = time.perf_counter()
    try:
        worker.adapter.set_native(model, spec, specs.to_native(spec, arrays, worker.naming))
    except Exception:
        worker.release(model_id)  # never keep a model whose parameters were not all set
        raise
    return {"build_seconds": built - started, "load_seconds": time.perf_counter() - built}


def op_cast(worker: Worker, request: dict[str, Any]) -> dict[str, Any]:
    """Move the one loaded model of `model_id` to `dtype` (in place, or rebuilt with its weights copied in memory)."""
    started = time.perf_counter()
    worker.cast(request["model_id"], request.get("num_classes"), request["dtype"])
    return {"cast_seconds": time.perf_counter() - started}


def op_forward(worker: Worker, request: dict[str, Any]) -> dict[str, Any]:
    """Run the loaded model of the requested dtype; its outputs are saved in that dtype (float64 stays float64)."""
    images = np.load(request["input"])
    outputs = np.asarray(worker.adapter.forward(worker.loaded_model(request), images))
    np.save(request["output"], outputs.astype(specs.check_precision(request.get("dtype", "float32"))))
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
    arrays = specs.from_native(spec, worker.adapter.get_native(model, spec), worker.naming)
    canonical.save(request["output"], spec.model_id, arrays, {"source_framework": worker.framework})
    return {}


def op_release(worker: Worker, request: dict[str, Any]) -> dict[str, Any]:
    """Drop every model built for one model id (all dtypes and head sizes): a run of many ids stays at one's memory."""
    worker.release(request["model_id"])
    return {}


def op_export_onnx(worker: Worker, request: dict[str, Any]) -> dict[str, Any]:
    """Export the loaded model with the framework's own ONNX exporter to a file the client then finalises."""
    worker.exporter.export_onnx(worker.loaded_model(request), request["output"], int(request["opset"]),
                         request["input_layout"], int(request["image_size"]))
    return {}


def op_preprocess(worker: Worker, request: dict[str, Any]) -> dict[str, Any]:
    """`input` (NCHW RGB in [0, 255]) through the impl's preprocess_input(`style`) to `output`, in the input's dtype:
    predict feeds each framework its input through it, export --preprocess gets its reference input from it
    (tests/*/test_preprocess*.py hold each impl to keras.applications, torchvision, paddle.vision)."""
    images = np.load(request["input"])
    np.save(request["output"], np.asarray(worker.adapter.preprocess(images, request["style"]), images.dtype))
    return {}


def op_probe(worker: Worker, request: dict[str, Any]) -> dict[str, Any]:
    """Versions, CUDA/cuDNN of the build, devices seen, default TF32 switches of this worker's framework: asked before
    any `configure` (doctor, and the `--device cuda` check of the commands that run models)."""
    return worker.prober.probe()


OPS = {
    "configure": op_configure,
    "load": op_load,
    "cast": op_cast,
    "forward": op_forward,
    "block_outputs": op_block_outputs,
    "save_canonical": op_save_canonical,
    "release": op_release,
    "export_onnx": op_export_onnx,
    "preprocess": op_preprocess,
    "probe": op_probe,
}

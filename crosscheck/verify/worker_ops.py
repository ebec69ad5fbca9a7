"""Worker-side ops of `crosscheck verify`: build a user's model from its file, trace it, load weights into it.

These run inside a framework worker (crosscheck/worker/server.py finds its OPS). This module
imports no framework itself: the user's file does, and the backend's `trace` module (crosscheck/backends/<name>/)
is imported by the worker on first use, in the worker's process only.
"""

from __future__ import annotations

import importlib.util
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from crosscheck.checkpoints import canonical
from crosscheck import spec as specs
from crosscheck.verify import counterfactual
from crosscheck.worker import transport

if TYPE_CHECKING:
    from crosscheck.worker.state import Worker

_candidates: dict[str, Any] = {}  # handle -> a user's model or a float64 reference, built once per worker
_records: dict[str, list[dict]] = {}  # handle -> records of its last trace


class CandidateError(Exception):
    """The user's file or callable cannot give a model: the message says which and why, without a traceback."""


def load_candidate(source: str, name: str, kwargs: dict[str, Any], worker: Worker) -> Any:
    """Import `source`, call `name(**kwargs)` and check it returned a model of the worker's framework."""
    path = Path(source).resolve()
    if not path.is_file():
        raise CandidateError(f"{source}: no such file")
    module_name = f"crosscheck_candidate_{path.stem}"
    loader_spec = importlib.util.spec_from_file_location(module_name, path)
    if loader_spec is None or loader_spec.loader is None:
        raise CandidateError(f"{source}: not a Python source file")
    module = importlib.util.module_from_spec(loader_spec)
    sys.modules[module_name] = module
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))  # the file may import its neighbours
    try:
        # compiled from the file's bytes, never from __pycache__: an edit within the same second and of the same
        # size (1e-5 -> 1e-3) leaves a cached .pyc looking fresh, and `verify --watch` must see every edit
        exec(compile(path.read_bytes(), str(path), "exec"), module.__dict__)
    except Exception as error:  # anything the user's module raises while importing
        raise CandidateError(f"{source} does not import: {_summary(error, path)}") from None
    factory = getattr(module, name, None)
    if not callable(factory):
        raise CandidateError(f"{source} defines no callable {name!r}")
    trace = worker.tracer
    try:
        with trace.float64():  # keras reads its float type when the layers are made
            model = factory(**kwargs)
    except Exception as error:  # anything the user's constructor raises
        raise CandidateError(f"{name}(**{kwargs}) raised {_summary(error, path)}") from None
    if not trace.is_model(model):
        raise CandidateError(f"{name}(**{kwargs}) returned {type(model).__name__}, not a {worker.framework} model")
    return trace.prepare(model)


def _summary(error: BaseException, path: Path) -> str:
    """`Type: message (file:line)`, the line being the deepest frame in the user's file."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if Path(f.filename).resolve() == path]
    if isinstance(error, SyntaxError) and error.lineno:
        return f"SyntaxError: {error.msg} ({path.name}:{error.lineno})"
    where = f" ({path.name}:{frames[-1].lineno})" if frames else ""
    return f"{type(error).__name__}: {error}{where}"


def op_verify_build(worker: Worker, request: dict[str, Any]) -> dict[str, Any]:
    model = load_candidate(request["source"], request["callable"], request.get("kwargs", {}), worker)
    _candidates[request["handle"]] = model
    return {"class": type(model).__name__}


def op_verify_trace(worker: Worker, request: dict[str, Any]) -> dict[str, Any]:
    """Trace the candidate (`handle`) or the reference (`model_id`); save captured op outputs and the output (a
    .safetensors file: every layer's output of a batch is hundreds of MB, which a zip's checksums slow down)."""
    key, model = _target(worker, request)
    images = np.load(request["input"])
    if request.get("layout", "nchw") == "nhwc":
        images = np.ascontiguousarray(images.transpose(0, 2, 3, 1))
    records, captured, output = worker.tracer.trace(model, images, set(request.get("capture", ())))
    _records[key] = records
    arrays = {str(i): a for i, a in captured.items()} | ({} if output is None else {"output": output})
    transport.save(request["output"], arrays)
    return {"records": records}


def op_verify_assign(worker: Worker, request: dict[str, Any]) -> dict[str, Any]:
    """Load arrays keyed '{record index}/{canonical param}' (canonical layout) into the traced model."""
    key, model = _target(worker, request)
    records = _records[key]
    layers: dict[int, dict[str, np.ndarray]] = {}
    with np.load(request["weights"]) as archive:
        for name in archive.files:
            index, param = name.split("/")
            layers.setdefault(int(index), {})[param] = archive[name]
    worker.tracer.assign(model, [(records[i], arrays) for i, arrays in layers.items()])
    return {"layers": len(layers)}


def op_verify_reference(worker: Worker, request: dict[str, Any]) -> dict[str, Any]:
    """Build this project's model of `model_id` (with one `mutation`, if given) in float64 under `handle`,
    with the canonical `weights` if given (a structure-only trace needs none)."""
    spec = specs.get(request["model_id"])
    if request.get("mutation"):
        spec = counterfactual.mutate(spec, request["mutation"], request["value"])
    model = worker.adapter.build(spec, spec.num_classes, "float64", uninitialised=True)
    if request.get("weights"):
        arrays = _reference_weights(request["weights"], request["model_id"])
        worker.adapter.set_native(model, spec, specs.to_native(spec, arrays, worker.naming))
    else:  # its structure alone is traced
        model = worker.tracer.shapes_only(model)
    _candidates[request["handle"]] = worker.tracer.prepare(model)
    return {}


def _reference_weights(path: str, model_id: str) -> dict[str, np.ndarray]:
    """Canonical arrays from the id's canonical file, or from an .npz of a changed spec's weights (whose shapes are
    not the id's, so the canonical file's check would refuse them)."""
    if path.endswith(".npz"):
        with np.load(path) as archive:
            return {key: archive[key] for key in archive.files}
    return canonical.load(path, model_id)[1]


def op_verify_read(worker: Worker, request: dict[str, Any]) -> dict[str, Any]:
    """Save the traced model's own arrays keyed '{record index}/{canonical param}' (canonical layout)."""
    key, model = _target(worker, request)
    records = _records[key]
    arrays = worker.tracer.read(model, [records[i] for i in request["indices"]])
    np.savez(request["output"], **arrays)
    return {"arrays": len(arrays)}


def _target(worker: Worker, request: dict[str, Any]) -> tuple[str, Any]:
    return request["handle"], _candidates[request["handle"]]


OPS = {"verify_build": op_verify_build, "verify_trace": op_verify_trace, "verify_assign": op_verify_assign,
              "verify_reference": op_verify_reference, "verify_read": op_verify_read}

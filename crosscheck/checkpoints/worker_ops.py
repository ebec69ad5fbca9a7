"""Worker ops for `crosscheck convert`: read and write framework checkpoint files, arrays via files.

They run inside a framework worker (crosscheck/worker/server.py), where the framework's formats module
(`crosscheck.checkpoints.<framework>_formats`) may import the framework. Keras `.weights.h5` files
are order-based, so reading one needs the model it fits.
"""

from __future__ import annotations

import importlib
import json
from typing import TYPE_CHECKING, Any

import numpy as np
from safetensors.numpy import load_file

from crosscheck import spec as specs
from crosscheck.checkpoints import canonical
from crosscheck.checkpoints.containers import TORCH_BN_COUNTER, TOP
from crosscheck.checkpoints.identify import CANONICAL

if TYPE_CHECKING:
    from crosscheck.worker.state import Worker


def _formats_module(worker: Worker) -> Any:
    return importlib.import_module(f"crosscheck.checkpoints.{worker.framework}_formats")


def op_read_checkpoint(worker: Worker, request: dict[str, Any]) -> dict[str, Any]:
    """Read `path` into {container: {native key: array}}, saved to the `output` .npz under JSON [container, key]
    names (torch: every dict of tensors in the file; keras .weights.h5: loaded into `model_id`)."""
    module = _formats_module(worker)
    if request.get("model_id"):
        model = worker.model(request["model_id"], request["num_classes"], module.stored_dtype(request["path"]))
        found = {TOP: module.read_order_based(request["path"], model)}
    else:
        found = module.read(request["path"])
    np.savez(request["output"], **{json.dumps([place, key]): array for place, arrays in found.items()
                                   for key, array in arrays.items()})
    return {"containers": list(found)}


def op_checkpoint_layers(worker: Worker, request: dict[str, Any]) -> dict[str, Any]:
    """(kind, variable shapes) of each layer of an order-based keras .weights.h5, to identify its model."""
    return {"layers": _formats_module(worker).layers(request["path"])}


def op_write_checkpoint(worker: Worker, request: dict[str, Any]) -> dict[str, Any]:
    """Write the canonical `weights` file as this framework's checkpoint at `output`."""
    model_id, arrays, _ = canonical.load(request["weights"])
    spec = canonical.spec_for(model_id, arrays)
    native = specs.to_native(spec, arrays, worker.framework)
    if worker.framework == "keras":  # keras writes through a model: .weights.h5 is order-based
        dtype = "float64" if any(array.dtype == np.float64 for array in arrays.values()) else "float32"
        model = worker.model(model_id, spec.num_classes, dtype)
        worker.adapter.set_native(model, spec, native)
        _formats_module(worker).write(request["output"], model)
    else:
        _formats_module(worker).write(request["output"], native)
    return {}


def op_file_outputs(worker: Worker, request: dict[str, Any]) -> dict[str, Any]:
    """One side of convert's proof: the checkpoint at `path` loaded by this framework's own loader into its float64
    model (never through crosscheck's reader or key mapping), run on `input`; outputs saved to `output`."""
    spec = specs.get(request["model_id"], request["num_classes"])
    model = worker.model(spec.model_id, spec.num_classes, "float64")
    if request["naming"] == CANONICAL:  # crosscheck's own file: no framework reads it, the spec maps it
        _, arrays, _ = canonical.load(request["path"], spec.model_id)
        worker.adapter.load_checkpoint_state(model, spec, specs.to_native(spec, arrays, worker.framework))
    elif worker.framework == "keras":
        worker.adapter.load_checkpoint_file(model, spec, request["path"])
    else:
        worker.adapter.load_checkpoint_state(model, spec, _file_state(worker, request["path"], request["container"],
                                                                      request["prefix"]))
    np.save(request["output"], np.asarray(worker.adapter.forward(model, np.load(request["input"])), np.float64))
    return {}


def _file_state(worker: Worker, path: str, container: str, prefix: str) -> dict[str, np.ndarray]:
    """The file's tensors under `container` and `prefix`, by their own names (prefix stripped, BN counters dropped)."""
    if str(path).endswith(".safetensors"):  # a torch-named safetensors file: the safetensors library's loader
        arrays = load_file(str(path))
    else:
        arrays = _formats_module(worker).read(path)[container]
    return {key[len(prefix):]: array for key, array in arrays.items()
            if key.startswith(prefix) and not key.endswith(TORCH_BN_COUNTER)}


OPS = {
    "file_outputs": op_file_outputs,
    "read_checkpoint": op_read_checkpoint,
    "checkpoint_layers": op_checkpoint_layers,
    "write_checkpoint": op_write_checkpoint,
}

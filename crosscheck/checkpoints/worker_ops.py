"""Worker ops for `crosscheck convert`: read and write framework checkpoint files, arrays via files.

They run inside a framework worker (crosscheck/worker/server.py), where the backend's `checkpoints` module
(crosscheck/backends/<name>/checkpoints.py) may import the framework. Keras `.weights.h5` files
are order-based, so reading one needs the model it fits.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from crosscheck import spec as specs
from crosscheck.backends.protocols import ConfiguredCheckpoints, OrderBasedCheckpoints
from crosscheck.checkpoints import canonical, hubs
from crosscheck.checkpoints.containers import TOP
from crosscheck.checkpoints.identify import CANONICAL
from crosscheck.worker import transport

if TYPE_CHECKING:
    from crosscheck.worker.state import Worker


def op_read_checkpoint(worker: Worker, request: dict[str, Any]) -> dict[str, Any]:
    """Read `path` into {container: {native key: array}}, saved to the `output` .safetensors under JSON [container, key]
    names (torch: every dict of tensors in the file; keras .weights.h5: loaded into `model_id`, the nested model
    at `root` where given)."""
    if request.get("model_id"):
        module = cast(OrderBasedCheckpoints, worker.checkpoints)
        model = worker.model(request["model_id"], request["num_classes"], module.stored_dtype(request["path"]))
        found = {TOP: module.read_order_based(request["path"], model, request.get("root", ""))}
    else:
        found = worker.checkpoints.read(request["path"])
    transport.save(request["output"], {json.dumps([place, key]): array for place, arrays in found.items()
                                       for key, array in arrays.items()})
    return {"containers": list(found)}


def op_checkpoint_layers(worker: Worker, request: dict[str, Any]) -> dict[str, Any]:
    """(kind, variable shapes) of each layer of an order-based keras .weights.h5, to identify its model."""
    return {"layers": cast(OrderBasedCheckpoints, worker.checkpoints).layers(request["path"])}


def op_checkpoint_config(worker: Worker, request: dict[str, Any]) -> dict[str, Any]:
    """The training config a checkpoint stores beside its weights (mmengine's `meta`), as text; '' if none."""
    return {"config": cast(ConfiguredCheckpoints, worker.checkpoints).config(request["path"])}


def op_write_checkpoint(worker: Worker, request: dict[str, Any]) -> dict[str, Any]:
    """Write the canonical `weights` file as this framework's checkpoint at `output` (keys in a hub `layout` if given)."""
    model_id, arrays, _ = canonical.load(request["weights"])
    spec = canonical.spec_for(model_id, arrays)
    native = specs.to_native(spec, arrays, worker.naming)
    if request.get("layout"):  # a library's layout of this naming's arrays (crosscheck/checkpoints/hubs)
        native = hubs.from_base(spec, native, request["layout"])

    def loaded_model() -> Any:
        """The model holding `native`, for formats written through a model (Keras)."""
        dtype = "float64" if any(array.dtype == np.float64 for array in arrays.values()) else "float32"
        model = worker.model(model_id, spec.num_classes, dtype)
        worker.adapter.set_native(model, spec, native)
        return model

    worker.checkpoints.write(request["output"], native, loaded_model)
    return {}


def op_file_outputs(worker: Worker, request: dict[str, Any]) -> dict[str, Any]:
    """One side of convert's proof: the checkpoint at `path` loaded by this framework's own loader into its float64
    model (never through crosscheck's reader or key mapping), run on `input`; outputs saved to `output`."""
    spec = specs.get(request["model_id"], request["num_classes"])
    model = worker.model(spec.model_id, spec.num_classes, "float64", uninitialised=True)  # the loader sets them all
    try:
        if request["naming"] == CANONICAL:  # crosscheck's own file: no framework reads it, the spec maps it
            _, arrays, _ = canonical.load(request["path"], spec.model_id)
            worker.checkpoints.load_state(model, spec, specs.to_native(spec, arrays, worker.naming))
        else:
            worker.checkpoints.load_into(model, spec, request["path"], request["container"], request["prefix"],
                                         request.get("keys"))
    except Exception:
        worker.release(spec.model_id)  # never keep a model whose parameters were not all set
        raise
    np.save(request["output"], np.asarray(worker.adapter.forward(model, np.load(request["input"])), np.float64))
    return {}


def op_hub_outputs(worker: Worker, request: dict[str, Any]) -> dict[str, Any]:
    """One side of convert's proof for a model hub's file: loaded by the hub library's own loader (its layout's
    runtime module, in this worker), run in float64 on `input`; outputs saved to `output`."""
    spec = specs.get(request["model_id"], request["num_classes"])
    runtime = importlib.import_module(hubs.LAYOUTS[request["layout"]].runtime)
    values, how = runtime.outputs(Path(request["path"]), spec, request["container"], request["prefix"],
                                  np.load(request["input"]))
    np.save(request["output"], np.asarray(values, np.float64))
    return {"how": how}


def op_hub_read(worker: Worker, request: dict[str, Any]) -> dict[str, Any]:
    """Read a hub file whose weights name no layer (a keras-hub preset) with the library's own model (its layout's
    runtime `read`), saved to the `output` .safetensors as read_checkpoint saves a file's top level."""
    runtime = importlib.import_module(hubs.LAYOUTS[request["layout"]].runtime)
    found = runtime.read(Path(request["path"]))
    transport.save(request["output"], {json.dumps([TOP, key]): array for key, array in found.items()})
    return {"containers": [TOP]}


def op_hub_write(worker: Worker, request: dict[str, Any]) -> dict[str, Any]:
    """Write the canonical `weights` file as a hub library's directory at `output`, with the library's own saver (its
    layout's runtime `write`, in this worker)."""
    model_id, arrays, _ = canonical.load(request["weights"])
    spec = canonical.spec_for(model_id, arrays)
    native = hubs.from_base(spec, specs.to_native(spec, arrays, worker.naming), request["layout"])
    importlib.import_module(hubs.LAYOUTS[request["layout"]].runtime).write(Path(request["output"]), spec, native)
    return {}


OPS = {
    "hub_outputs": op_hub_outputs,
    "hub_read": op_hub_read,
    "hub_write": op_hub_write,
    "file_outputs": op_file_outputs,
    "read_checkpoint": op_read_checkpoint,
    "checkpoint_layers": op_checkpoint_layers,
    "checkpoint_config": op_checkpoint_config,
    "write_checkpoint": op_write_checkpoint,
}

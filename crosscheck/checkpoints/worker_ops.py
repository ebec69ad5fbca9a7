"""Worker ops for `crosscheck convert`: read and write framework checkpoint files, arrays via files.

They run inside a framework worker (crosscheck.worker), where the framework's formats module
(`crosscheck.checkpoints.<framework>_formats`) may import the framework. Keras `.weights.h5` files
are order-based, so reading one needs the model it fits.
"""

from __future__ import annotations

import importlib
import json
from typing import TYPE_CHECKING, Any

import numpy as np

from crosscheck import spec as specs
from crosscheck.checkpoints import canonical
from crosscheck.checkpoints.containers import TOP

if TYPE_CHECKING:
    from crosscheck.worker import Worker


def _formats_module(worker: Worker) -> Any:
    return importlib.import_module(f"crosscheck.checkpoints.{worker.framework}_formats")


def op_read_checkpoint(worker: Worker, request: dict[str, Any]) -> dict[str, Any]:
    """Read `path` into {container: {native key: array}}, saved to the `output` .npz under JSON [container, key]
    names (torch: every dict of tensors in the file; keras .weights.h5: loaded into `model_id`)."""
    module = _formats_module(worker)
    if request.get("model_id"):
        found = {TOP: module.read_order_based(request["path"], worker.model(request["model_id"], request["num_classes"]))}
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
        model = worker.model(model_id, spec.num_classes)
        worker.adapter.set_native(model, spec, native)
        _formats_module(worker).write(request["output"], model)
    else:
        _formats_module(worker).write(request["output"], native)
    return {}


CHECKPOINT_OPS = {
    "read_checkpoint": op_read_checkpoint,
    "checkpoint_layers": op_checkpoint_layers,
    "write_checkpoint": op_write_checkpoint,
}

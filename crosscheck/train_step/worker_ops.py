"""Worker-side op of `crosscheck train-step`: train a fresh model in this framework, save results canonically.

Runs inside a framework worker (crosscheck/worker/server.py finds its OPS). The framework's training code is its
impl package's `train` module, imported lazily, in the worker's process only.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from crosscheck import spec as specs
from crosscheck.adapter import IMPL_PACKAGES
from crosscheck.checkpoints import canonical

if TYPE_CHECKING:
    from crosscheck.worker.state import Worker


def to_canonical(spec: specs.ModelSpec, native: Mapping[str, np.ndarray], framework: str) -> dict[str, np.ndarray]:
    """{native key: array} -> {canonical key: array} for the keys present, in canonical layout, dtype kept
    (gradients are permuted exactly as their weights are)."""
    arrays = {}
    for layer in spec.layers:
        for param in layer.shapes:
            key = layer.native_key(param, framework)
            if key in native:
                perm = specs.native_permutation(framework, layer.kind, param)
                array = np.asarray(native[key])
                arrays[layer.canonical_key(param)] = np.ascontiguousarray(array.transpose(np.argsort(perm)) if perm else array)
    return arrays


def op_train_step(worker: Worker, request: dict[str, Any]) -> dict[str, Any]:
    """Build a fresh model in `dtype`, load the canonical `weights`, train `steps` steps on `input`/`labels` with the
    framework's `hyper`; save losses, last gradients ('grad/KEY'), BN statistics after the first step ('first/KEY')
    and the state after the last ('after/KEY') to `output`."""
    model_id, arrays, _ = canonical.load(request["weights"], request["model_id"])
    spec = canonical.spec_for(model_id, arrays)
    model = worker.adapter.build(model_id, spec.num_classes, request["dtype"])  # fresh: training changes it
    trainer = importlib.import_module(f"{IMPL_PACKAGES[worker.framework]}.train")
    losses, gradients, first, state = trainer.train(model, spec, specs.to_native(spec, arrays, worker.framework),
                                             np.load(request["input"]), np.load(request["labels"]),
                                             request["hyper"], int(request["steps"]))
    results = {"loss": np.asarray(losses, np.float64)}
    results |= {f"grad/{key}": a for key, a in to_canonical(spec, gradients, worker.framework).items()}
    results |= {f"first/{key}": a for key, a in to_canonical(spec, first, worker.framework).items()}
    results |= {f"after/{key}": a for key, a in to_canonical(spec, state, worker.framework).items()}
    np.savez(request["output"], **results)
    return {"losses": losses}


OPS = {"train_step": op_train_step}

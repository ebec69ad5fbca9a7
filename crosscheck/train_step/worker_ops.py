"""Worker-side op of `crosscheck train-step`: train a fresh model in this framework, save results canonically.

Runs inside a framework worker (crosscheck/worker/server.py finds its OPS). The framework's training code is its
backend's `train` module (crosscheck/backends/<name>/), imported by the worker on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from crosscheck import spec as specs
from crosscheck.checkpoints import canonical
from crosscheck.train_step.session import STATISTICS

if TYPE_CHECKING:
    from crosscheck.worker.state import Worker


TRAINABLE = ("weight", "bias")  # the canonical params that have gradients


def canonical_results(spec: specs.ModelSpec, naming: str, losses: list[float], gradients: Mapping[str, np.ndarray],
                      first: Mapping[str, np.ndarray], state: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One training run's native results as the canonical arrays train-step compares: 'loss', 'grad/KEY' (every
    trainable parameter), 'first/KEY' (every BN statistic) and 'after/KEY' (everything); a missing or mis-shaped
    key raises, naming it (spec.from_native)."""
    results = {"loss": np.asarray(losses, np.float64)}
    results |= {f"grad/{key}": a for key, a in specs.from_native(spec, gradients, naming, TRAINABLE).items()}
    results |= {f"first/{key}": a for key, a in specs.from_native(spec, first, naming, STATISTICS).items()}
    results |= {f"after/{key}": a for key, a in specs.from_native(spec, state, naming).items()}
    return results


def op_train_step(worker: Worker, request: dict[str, Any]) -> dict[str, Any]:
    """Build a fresh model in `dtype`, load the canonical `weights`, train `steps` steps on `input`/`labels` with the
    framework's `hyper`; save losses, last gradients ('grad/KEY'), BN statistics after the first step ('first/KEY')
    and the state after the last ('after/KEY') to `output`."""
    model_id, arrays, _ = canonical.load(request["weights"], request["model_id"])
    spec = canonical.spec_for(model_id, arrays)
    model = worker.adapter.build(model_id, spec.num_classes, request["dtype"])  # fresh: training changes it
    losses, gradients, first, state = worker.trainer.train(model, spec, specs.to_native(spec, arrays, worker.naming),
                                                           np.load(request["input"]), np.load(request["labels"]),
                                                           request["hyper"], int(request["steps"]))
    np.savez(request["output"], **canonical_results(spec, worker.naming, losses, gradients, first, state))
    return {"losses": losses}


OPS = {"train_step": op_train_step}

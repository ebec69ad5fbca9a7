"""What a framework worker holds between requests: its framework's adapter and the models built so far.

Every op module (crosscheck/worker/ops.py and each command package's `worker_ops`) receives this `Worker`;
it lives apart from the server (crosscheck/worker/server.py) so that the ops import it without importing the server.
"""

from __future__ import annotations

from typing import Any

from crosscheck import spec as specs
from crosscheck.adapter import load_adapter


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
        return model_id, num_classes, specs.check_precision(dtype)

"""What a framework worker holds between requests: its backend's modules and the models built so far.

Every op module (crosscheck/worker/ops.py and each command package's `worker_ops`) receives this `Worker`;
it lives apart from the server (crosscheck/worker/server.py) so that the ops import it without importing the server.
"""

from __future__ import annotations

import contextlib
import gc
import sys
from functools import cached_property
from typing import Any, Iterator, cast

from crosscheck import backends
from crosscheck import spec as specs
from crosscheck.backends.protocols import Adapter, Checkpoints, OnnxExporter, Probe, Tracer, Trainer


@contextlib.contextmanager
def _kept_out(modules: tuple[str, ...]) -> Iterator[None]:
    """`modules` (those not imported yet) unimportable within: an `import` of one raises ImportError, which the
    frameworks' optional imports expect; importable again after (a user's file may import them)."""
    blocked = [name for name in modules if name not in sys.modules]
    sys.modules.update(dict.fromkeys(blocked))
    try:
        yield
    finally:
        for name in blocked:
            if sys.modules.get(name, ...) is None:
                del sys.modules[name]


class Worker:
    """Holds one backend's modules and the models built so far, keyed by (model_id, num_classes, dtype).

    The adapter is imported at once (it imports the framework); the other role modules on first use, once."""

    def __init__(self, framework: str) -> None:
        self.framework = framework
        self.backend = backends.get(framework)
        self.naming = self.backend.naming  # the spec's key naming the backend's native arrays are in
        with _kept_out(self.backend.kept_out_of_import):
            self.adapter = cast(Adapter, backends.load(framework, "adapter"))
        self.models: dict[tuple[str, int | None, str], Any] = {}

    @cached_property
    def tracer(self) -> Tracer:
        return cast(Tracer, backends.load(self.framework, "trace"))

    @cached_property
    def trainer(self) -> Trainer:
        return cast(Trainer, backends.load(self.framework, "train"))

    @cached_property
    def exporter(self) -> OnnxExporter:
        return cast(OnnxExporter, backends.load(self.framework, "onnx_export"))

    @cached_property
    def prober(self) -> Probe:
        return cast(Probe, backends.load(self.framework, "probe"))

    @cached_property
    def checkpoints(self) -> Checkpoints:
        return cast(Checkpoints, backends.load(self.framework, "checkpoints"))

    def model(self, model_id: str, num_classes: int | None = None, dtype: str = "float32",
              uninitialised: bool = False) -> Any:
        """The built model of the key, built now if need be (`uninitialised`: the caller sets every parameter at
        once, see Adapter.build)."""
        key = self.key(model_id, num_classes, dtype)
        if key not in self.models:
            self.models[key] = self.adapter.build(model_id, key[1], key[2], uninitialised=uninitialised)
        return self.models[key]

    def cast(self, model_id: str, num_classes: int | None, dtype: str) -> Any:
        """The loaded model of `model_id` (in whichever dtype it is) moved to `dtype` by the adapter, kept under its
        new key only: one model per id, built and loaded once, serves both precisions."""
        target = self.key(model_id, num_classes, dtype)
        if target not in self.models:
            sources = [key for key in self.models if key[:2] == target[:2]]
            if not sources:
                raise RuntimeError(f"{model_id} has not been loaded in the {self.framework} worker")
            self.models[target] = self.adapter.cast(self.models.pop(sources[0]), specs.get(model_id, target[1]), dtype)
        return self.models[target]

    def release(self, model_id: str) -> None:
        """Drop every model built for `model_id` (all dtypes and head sizes)."""
        for key in [key for key in self.models if key[0] == model_id]:
            del self.models[key]
        gc.collect()

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

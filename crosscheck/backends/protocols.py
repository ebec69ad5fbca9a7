"""What each role module of a backend folder provides (crosscheck/backends/__init__.py: ROLES), as typed Protocols.

A backend's modules implement them with plain functions; the worker resolves them once (crosscheck/worker/state.py)
and the ops use them through these types. All arrays are numpy; keys and layouts are the backend's naming's
(crosscheck.spec.to_native / from_native do every rename and permutation). This module imports no framework.
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager
from typing import Any, Callable, Collection, Mapping, Protocol, Sequence

import numpy as np

from crosscheck.spec import ModelSpec

Arrays = dict[str, np.ndarray]
PathLike = str | os.PathLike[str]


class Adapter(Protocol):
    """The model contract every command uses: build, load, run."""

    def configure(self, device: str, allow_tf32: bool) -> dict[str, str]:
        """Select the device and numeric settings (TF32 off unless allowed); return what is in force."""

    def build(self, model_id: str, num_classes: int | None = None, dtype: str = "float32",
              uninitialised: bool = False) -> Any:
        """The spec's model (num_classes None: the id's default) in inference mode with a logits head, in `dtype`,
        on the configured device; `uninitialised`: the caller sets every parameter at once, so a framework that can
        may skip its random initialisers."""

    def cast(self, model: Any, spec: ModelSpec, dtype: str) -> Any:
        """The loaded `model` computing in `dtype` with the same weights: converted in place where the framework
        can, else rebuilt with the weights copied in memory; `run` builds and loads each model once this way."""

    def get_native(self, model: Any, spec: ModelSpec) -> Arrays:
        """Every parameter and BN statistic as {native key: array in native layout}."""

    def set_native(self, model: Any, spec: ModelSpec, native: Mapping[str, np.ndarray]) -> None:
        """Load {native key: array}; missing, unexpected or mis-shaped keys raise WeightMismatchError."""

    def forward(self, model: Any, images_nchw: np.ndarray) -> np.ndarray:
        """Logits for an NCHW batch, in the model's dtype (the adapter transposes for channels-last models)."""

    def preprocess(self, images_nchw: np.ndarray, style: str) -> np.ndarray:
        """The impl's `preprocess_input(style)` on an NCHW RGB batch in [0, 255], in the batch's dtype."""

    def block_outputs(self, model: Any, images_nchw: np.ndarray) -> Arrays:
        """NCHW outputs of 'stem' (after the max-pool), every block by its spec name, and 'logits'."""


class Tracer(Protocol):
    """verify's view of any model of the framework: op records, and reading and writing traced layers."""

    def is_model(self, candidate: Any) -> bool:
        """Whether `candidate` is a model of this framework."""

    def float64(self) -> AbstractContextManager[Any]:
        """What must be in force while a candidate is constructed so that it is built in float64."""

    def prepare(self, model: Any) -> Any:
        """The model in inference mode, on the CPU, in float64."""

    def shapes_only(self, model: Any) -> Any:
        """A model built `uninitialised`, made ready for a trace whose records alone are read (a reference's
        structure): one that may skip the arithmetic (its trace then gives no captures and no output)."""

    def trace(self, model: Any, images: np.ndarray, capture: Collection[int] = ()
              ) -> tuple[list[dict], dict[int, np.ndarray], np.ndarray | None]:
        """Op records, captured outputs by op index (NCHW), and the model output (None if the forward raised)."""

    def assign(self, model: Any, layers: Sequence[tuple[dict, Mapping[str, np.ndarray]]]) -> None:
        """Copy canonical arrays into each traced layer's parameters."""

    def read(self, model: Any, records: Sequence[dict]) -> Arrays:
        """The traced layers' parameters as canonical arrays."""


class Trainer(Protocol):
    """train-step's SGD steps in the framework's own training mode."""

    def train(self, model: Any, spec: ModelSpec, native: Mapping[str, np.ndarray], images_nchw: np.ndarray,
              labels: np.ndarray, hyper: Mapping[str, float], steps: int
              ) -> tuple[list[float], Arrays, Arrays, Arrays]:
        """Losses, last gradients, BN statistics after the first step, state after the last (native keys)."""


class OnnxExporter(Protocol):
    """The framework's own ONNX exporter, writing a raw file that crosscheck.onnx_export then finalises."""

    def export_onnx(self, model: Any, path: str, opset: int, input_layout: str, image_size: int) -> None:
        """Export `model` to `path` at `opset`, taking input in `input_layout`."""


class Probe(Protocol):
    """doctor's view of the framework build."""

    def probe(self) -> dict[str, Any]:
        """versions, cuda, cudnn, devices, tf32 (the default switches) and missing_switches."""


class Checkpoints(Protocol):
    """The checkpoint files in the backend's naming, read and written in its worker."""

    def read(self, path: PathLike) -> dict[str, Arrays]:
        """Every dict of arrays in the file, by container path."""

    def write(self, path: PathLike, native: Mapping[str, np.ndarray], loaded_model: Callable[[], Any]) -> None:
        """Save {native key: array} as the framework saves its own model (`loaded_model()`: the model holding them,
        for formats written through a model)."""

    def load_state(self, model: Any, spec: ModelSpec, state: Mapping[str, np.ndarray]) -> None:
        """The framework's own loading of natively named arrays, cast to the model's dtype as the framework does."""

    def load_into(self, model: Any, spec: ModelSpec, path: PathLike, container: str, prefix: str,
                  keys: Mapping[str, str] | None = None) -> None:
        """The framework's own loader reading the file into `model` (convert's proof; no crosscheck key mapping):
        the tensors under `prefix`, or, where `keys` is given, the file key each model key is read from (a
        fine-tuned head stored under other keys, or left out)."""


class OrderBasedCheckpoints(Checkpoints, Protocol):
    """Checkpoints whose files name no layer (Keras 3 .weights.h5): read through the model they fit."""

    def layers(self, path: PathLike) -> list[tuple[str, list[list[int]]]]:
        """(kind, variable shapes) of each layer in model order, enough to identify the model."""

    def stored_dtype(self, path: PathLike) -> str:
        """The dtype the model must be built in to hold the file's variables."""

    def read_order_based(self, path: PathLike, model: Any, root: str = "") -> Arrays:
        """{native key: array} of the file (of the model nested in it at `root`, where given), loaded into `model`."""


class ConfiguredCheckpoints(Checkpoints, Protocol):
    """Checkpoints that may store their training config beside the weights (mmengine's `meta`)."""

    def config(self, path: PathLike) -> str:
        """The stored config as text, '' if the file holds none."""

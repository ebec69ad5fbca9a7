"""The contract between crosscheck and each framework's implementation package.

Each `*_impl/adapter.py` module implements `FrameworkAdapter` with plain functions. The adapters
only speak *native* keys and layouts; `crosscheck.spec.to_native` / `from_native` do every rename
and permutation, so nothing is written per framework pair (hub and spoke).
This module imports no framework: `load_adapter` imports one lazily, in the caller's process.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any, Mapping, Protocol

import numpy as np

from crosscheck.spec import ModelSpec, check_framework

IMPL_PACKAGES = {"torch": "pytorch_impl", "keras": "keras_impl", "paddle": "paddle_impl"}
INSTALL_EXTRA = {"torch": "torch", "keras": "keras", "paddle": "paddle"}


class FrameworkAdapter(Protocol):
    """What the crosscheck workers need from one framework (all arrays are numpy)."""

    def configure(self, device: str, allow_tf32: bool) -> dict[str, str]:
        """Select the device and numeric settings (TF32 off unless allowed); return what is in force."""

    def build(self, model_id: str, num_classes: int | None = None) -> Any:
        """The spec's model (num_classes None: the id's default) in inference mode with a logits head, on the
        configured device."""

    def get_native(self, model: Any, spec: ModelSpec) -> dict[str, np.ndarray]:
        """Every parameter and BN statistic as {native key: array in native layout}."""

    def set_native(self, model: Any, spec: ModelSpec, native: Mapping[str, np.ndarray]) -> None:
        """Load {native key: array}; missing, unexpected or mis-shaped keys raise WeightMismatchError."""

    def forward(self, model: Any, images_nchw: np.ndarray) -> np.ndarray:
        """Logits for an NCHW float32 batch (the adapter transposes for channels-last frameworks)."""

    def preprocess(self, images_nchw: np.ndarray, style: str) -> np.ndarray:
        """The impl's `preprocess_input(style)` on an NCHW RGB batch in [0, 255], in the batch's dtype."""

    def block_outputs(self, model: Any, images_nchw: np.ndarray) -> dict[str, np.ndarray]:
        """NCHW outputs of 'stem' (after the max-pool), every block by its spec name, and 'logits'."""


class FrameworkMissingError(ImportError):
    """A framework's package is not installed; the message names the pip extra that installs it."""


def load_adapter(framework: str) -> ModuleType:
    """Import `<impl>.adapter` for `framework`, or explain which extra installs it."""
    package = IMPL_PACKAGES[check_framework(framework)]
    try:
        return importlib.import_module(f"{package}.adapter")
    except ModuleNotFoundError as error:
        if error.name and error.name.split(".")[0] in (package, "crosscheck"):
            raise
        raise FrameworkMissingError(
            f"{framework}: the framework is not installed ({error}); "
            f"install it with: pip install 'crosscheck[{INSTALL_EXTRA[framework]}]'"
        ) from error

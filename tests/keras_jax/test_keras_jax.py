"""The Keras-backend checks (tests/keras_backend_checks.py) with Keras on the keras_jax participant's engine, and the
JAX-only refusal of a float64 model without 64-bit types."""

import jax
import pytest

from crosscheck.backends.keras_jax import adapter as jax_adapter
from keras_backend_checks import *  # noqa: F401,F403  (pytest collects the imported tests here)


def test_a_float64_model_is_refused_while_jax_computes_float64_in_float32():
    """Without 64-bit types JAX would run a float64 model in float32: the adapter refuses, naming the switch."""
    jax.config.update("jax_enable_x64", False)
    try:
        with pytest.raises(RuntimeError, match="JAX_ENABLE_X64=1"):
            jax_adapter.build("resnet18", None, "float64")
    finally:
        jax.config.update("jax_enable_x64", True)

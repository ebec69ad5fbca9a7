"""Keras checkpoint files in the keras_jax worker: Keras' own savers and loaders work on every backend, so these are the
keras participant's (crosscheck/backends/keras/checkpoints.py)."""

from crosscheck.backends.keras.checkpoints import (layers, load_into, load_state, read, read_order_based, stored_dtype,
                                                   write)

__all__ = ["layers", "load_into", "load_state", "read", "read_order_based", "stored_dtype", "write"]

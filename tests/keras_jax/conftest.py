"""The keras_jax tier: Keras on its record's engine, set before any test module imports Keras (as the worker client sets
it before the worker imports Keras)."""

import os

from crosscheck import backends

os.environ.update(backends.get("keras_jax").environment)

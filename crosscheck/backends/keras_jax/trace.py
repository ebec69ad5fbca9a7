"""verify's tracer for Keras on JAX: not built. verify reads a Keras model's ops from the TensorFlow graph of one
traced call (crosscheck/backends/keras/trace.py); on JAX the ops would come from a jaxpr, which no
reader here turns into records yet. The same model file verifies with `--framework keras`."""

from __future__ import annotations

from typing import Any, NoReturn

NOT_BUILT = ("verify cannot trace Keras models on JAX yet (its ops are read from TensorFlow's graph): "
             "verify the same model file with --framework keras")


def _not_built(*_: Any, **__: Any) -> NoReturn:
    raise NotImplementedError(NOT_BUILT)


is_model = float64 = prepare = trace = assign = read = _not_built

"""verify's tracer stand-in for the Keras engines it cannot trace yet: every call says so, naming what does work."""

from __future__ import annotations

from typing import Any, Callable, NoReturn


def not_built(engine: str) -> Callable[..., NoReturn]:
    """A role function that refuses: verify reads a Keras model's ops from TensorFlow's graph only."""
    message = (f"verify cannot trace Keras models on {engine} yet (its ops are read from TensorFlow's graph): "
               "verify the same model file with --framework keras")

    def refuse(*_: Any, **__: Any) -> NoReturn:
        raise NotImplementedError(message)

    return refuse

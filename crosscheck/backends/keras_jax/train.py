"""Training steps of Keras 3 on JAX for crosscheck train-step: the gradient of Keras' stateless call, taken by
`jax.value_and_grad` and compiled by `jax.jit` as Keras' own JAX trainer compiles `fit`'s step; the rest (Keras'
BatchNormalization update, `keras.optimizers.SGD`, torch's coupled L2) shared by every Keras backend
(crosscheck/backends/keras/shared.py)."""

from __future__ import annotations

import functools
import weakref
from typing import Any, Callable, Sequence

import jax
import keras
import numpy as np

from crosscheck.backends.keras.shared import softmax_loss, train as shared_train

__all__ = ["gradients", "train"]

_STEPS: weakref.WeakKeyDictionary[keras.Model, Callable[..., Any]] = weakref.WeakKeyDictionary()


def _compiled_step(model: keras.Model) -> Callable[..., Any]:
    """jit((trainable values, non-trainable values, images, labels) -> ((loss, new non-trainable values), grads))."""
    def loss(trainable: list[jax.Array], non_trainable: list[jax.Array], images: jax.Array, labels: jax.Array
             ) -> tuple[jax.Array, list[jax.Array]]:
        logits, updated = model.stateless_call(trainable, non_trainable, images, training=True)
        return softmax_loss(labels, logits), updated

    return jax.jit(jax.value_and_grad(loss, has_aux=True))


def gradients(model: keras.Model, trainable: Sequence[keras.Variable], images: np.ndarray, labels: np.ndarray
              ) -> tuple[jax.Array, list[jax.Array]]:
    """One compiled training-mode forward and backward: the loss and its gradient for each of `trainable`; the
    model's BN statistics take the values the stateless call returns."""
    if model not in _STEPS:
        _STEPS[model] = _compiled_step(model)
    (loss, updated), grads = _STEPS[model]([v.value for v in model.trainable_variables],
                                           [v.value for v in model.non_trainable_variables], images, labels)
    for variable, value in zip(model.non_trainable_variables, updated):
        variable.assign(value)
    by_variable = {id(v): g for v, g in zip(model.trainable_variables, grads)}
    return loss, [by_variable[id(v)] for v in trainable]


train = functools.partial(shared_train, gradients)

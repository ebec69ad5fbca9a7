"""Training steps of Keras 3 on TensorFlow for crosscheck train-step: gradients from `tf.GradientTape`, the rest
(Keras' own BatchNormalization update, `keras.optimizers.SGD`, torch's coupled L2) shared by every Keras backend
(crosscheck/backends/keras/shared.py)."""

from __future__ import annotations

import functools
from typing import Sequence

import keras
import numpy as np
import tensorflow as tf

from crosscheck.backends.keras.shared import _floatx, coupled_l2, optimizer, set_bn, softmax_loss, train as shared_train

__all__ = ["_floatx", "coupled_l2", "gradients", "optimizer", "set_bn", "train"]


def gradients(model: keras.Model, trainable: Sequence[keras.Variable], images: np.ndarray, labels: np.ndarray
              ) -> tuple[tf.Tensor, list[tf.Tensor]]:
    """One eager training-mode forward under a GradientTape: the loss and its gradient for each variable."""
    with tf.GradientTape() as tape:
        loss = softmax_loss(tf.constant(labels), model(tf.constant(images), training=True))
    return loss, tape.gradient(loss, [v.value for v in trainable])


train = functools.partial(shared_train, gradients)

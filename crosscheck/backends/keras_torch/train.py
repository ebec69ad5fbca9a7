"""Training steps of Keras 3 on PyTorch for crosscheck train-step: gradients from torch autograd through Keras'
eager call (as Keras' own torch trainer takes them); the rest (Keras' BatchNormalization update,
`keras.optimizers.SGD`, torch's coupled L2) shared by every Keras backend (crosscheck/backends/keras/shared.py)."""

from __future__ import annotations

import functools
from typing import Sequence

import keras
import numpy as np
import torch

from crosscheck.backends.keras.shared import softmax_loss, train as shared_train

__all__ = ["gradients", "train"]


def gradients(model: keras.Model, trainable: Sequence[keras.Variable], images: np.ndarray, labels: np.ndarray
              ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
    """One eager training-mode forward and backward: the loss and its gradient for each of `trainable`."""
    loss = softmax_loss(labels, model(images, training=True))
    grads = torch.autograd.grad(loss, [v.value for v in trainable])
    return loss.detach(), tuple(g.detach() for g in grads)


train = functools.partial(shared_train, gradients)

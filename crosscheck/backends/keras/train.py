"""Training steps in Keras 3 for crosscheck train-step: Keras' own BatchNormalization update and `keras.optimizers.SGD`.

Hyperparameters arrive translated (crosscheck.training_conventions): BN momentum in Keras' meaning
(1 - torch's). Weight decay stays torch's coupled L2: it is added to the gradient here, because Keras'
`SGD(weight_decay=)` is decoupled (it subtracts lr * wd * p apart from the momentum).
"""

from __future__ import annotations

from typing import Mapping

import keras
import numpy as np
import tensorflow as tf

from crosscheck.spec import ModelSpec
from crosscheck.backends.keras.adapter import _floatx, _variables, set_native


def set_bn(model: keras.Model, momentum: float, epsilon: float) -> None:
    """Every BatchNormalization's momentum (Keras: the weight of the old moving statistics) and epsilon."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum, layer.epsilon = momentum, epsilon


def optimizer(dtype: str, hyper: Mapping[str, float]) -> keras.optimizers.SGD:
    """SGD with momentum and no weight decay of its own, its learning rate a `dtype` variable (Keras makes it in
    floatx)."""
    with _floatx(dtype):
        return keras.optimizers.SGD(learning_rate=hyper["lr"], momentum=hyper["momentum"])


def coupled_l2(gradients: list[tf.Tensor], variables: list[keras.Variable], weight_decay: float) -> list[tf.Tensor]:
    """g + wd * p for every variable: torch's weight decay, applied before the momentum."""
    return [g + weight_decay * v.value for g, v in zip(gradients, variables)]


def train(model: keras.Model, spec: ModelSpec, native: Mapping[str, np.ndarray], images_nchw: np.ndarray,
          labels: np.ndarray, hyper: Mapping[str, float], steps: int
          ) -> tuple[list[float], dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Load `native`, run `steps` training-mode SGD steps on mean softmax cross-entropy of the logits; return the
    losses, the last step's gradients, the BN statistics after the first step and the state after the last (native
    keys, Keras layout, the model's dtype)."""
    set_native(model, spec, native)
    set_bn(model, hyper["bn_momentum"], hyper["bn_epsilon"])
    variables = _variables(model, spec)
    trainable = {key: v for key, v in variables.items() if v.trainable}
    dtype = model.inputs[0].dtype
    sgd = optimizer(dtype, hyper)
    images = tf.constant(np.asarray(images_nchw, dtype).transpose(0, 2, 3, 1))
    targets = tf.constant(np.asarray(labels, np.int64))
    statistics = [layer.native_key(p, "keras") for layer in spec.layers if layer.kind == "bn"
                  for p in ("running_mean", "running_var")]
    losses, gradients, first = [], {}, {}
    for _ in range(steps):
        with tf.GradientTape() as tape:
            logits = model(images, training=True)
            loss = keras.ops.mean(keras.losses.sparse_categorical_crossentropy(targets, logits, from_logits=True))
        grads = tape.gradient(loss, [v.value for v in trainable.values()])
        gradients = {key: g.numpy() for key, g in zip(trainable, grads)}
        sgd.apply_gradients(zip(coupled_l2(grads, list(trainable.values()), hyper["weight_decay"]), trainable.values()))
        losses.append(float(loss))
        first = first or {key: variables[key].numpy() for key in statistics}
    return losses, gradients, first, {key: v.numpy() for key, v in variables.items()}

"""Training steps in PaddlePaddle for crosscheck train-step: Paddle's own BatchNorm update and `paddle.optimizer.Momentum`.

Hyperparameters arrive translated (crosscheck.training_conventions): BN momentum in Paddle's meaning
(1 - torch's); `Momentum(weight_decay=float)` is coupled L2, as torch's.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import paddle
from paddle import nn
from paddle.nn import functional as F

from crosscheck.spec import ModelSpec


def set_bn(model: nn.Layer, momentum: float, epsilon: float) -> None:
    """Every BatchNorm's momentum (Paddle: the weight of the old moving statistics) and epsilon (Paddle's
    kernel takes both as float32)."""
    for layer in model.sublayers(include_self=True):
        if isinstance(layer, nn.layer.norm._BatchNormBase):
            layer._momentum, layer._epsilon = momentum, epsilon


def optimizer(parameters: list[paddle.Tensor], hyper: Mapping[str, float]) -> paddle.optimizer.Momentum:
    """Momentum SGD; a float weight_decay is Paddle's L2Decay, added to the gradient before the momentum."""
    return paddle.optimizer.Momentum(learning_rate=hyper["lr"], momentum=hyper["momentum"], parameters=parameters,
                                     weight_decay=hyper["weight_decay"])


def train(model: nn.Layer, spec: ModelSpec, native: Mapping[str, np.ndarray], images_nchw: np.ndarray,
          labels: np.ndarray, hyper: Mapping[str, float], steps: int
          ) -> tuple[list[float], dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Load `native`, run `steps` training-mode SGD steps on mean softmax cross-entropy of the logits; return the
    losses, the last step's gradients, the BN statistics after the first step and the state after the last (native
    keys, Paddle layout, the model's dtype).

    The running statistics are loaded and read raw: training-mode BatchNorm never reads them, so the
    adapter's float64 epsilon correction (an eval-mode fix) does not apply.
    """
    state = model.state_dict()
    model.set_state_dict({key: paddle.to_tensor(np.asarray(native[key], np.float64)).astype(state[key].dtype)
                          for key in spec.native_shapes("paddle")})
    set_bn(model, hyper["bn_momentum"], hyper["bn_epsilon"])
    model.train()
    parameters = {key: p for key, p in model.named_parameters() if not p.stop_gradient}  # BN statistics are parameters too
    sgd = optimizer(list(parameters.values()), hyper)
    dtype = model.parameters()[0].dtype  # the stem's first conv, whichever stem the model has
    images = paddle.to_tensor(np.ascontiguousarray(images_nchw)).astype(dtype)
    targets = paddle.to_tensor(np.asarray(labels, np.int64))
    statistics = {layer.native_key(p, "paddle") for layer in spec.layers if layer.kind == "bn"
                  for p in ("running_mean", "running_var")}
    losses, gradients, first = [], {}, {}
    for _ in range(steps):
        loss = F.cross_entropy(model(images), targets)
        loss.backward()
        gradients = {key: p.grad.numpy().copy() for key, p in parameters.items()}
        sgd.step()
        sgd.clear_grad()
        losses.append(float(loss))
        first = first or {key: array for key, array in _state(model, spec).items() if key in statistics}
    return losses, gradients, first, _state(model, spec)


def _state(model: nn.Layer, spec: ModelSpec) -> dict[str, np.ndarray]:
    """The spec's native keys as numpy copies in the model's dtype."""
    tensors = model.state_dict()
    return {key: tensors[key].numpy().copy() for key in spec.native_shapes("paddle")}

"""Training steps in PyTorch for crosscheck train-step: torch's own BatchNorm update and `torch.optim.SGD`.

Hyperparameters arrive in torch's convention (crosscheck.training_conventions), so nothing is translated.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from crosscheck.spec import ModelSpec
from crosscheck.backends.torch.adapter import set_native


def set_bn(model: nn.Module, momentum: float, eps: float) -> None:
    """Every BatchNorm's momentum (torch: the weight of the new batch in the running statistics) and epsilon."""
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.momentum, module.eps = momentum, eps


def optimizer(parameters: list[nn.Parameter], hyper: Mapping[str, float]) -> torch.optim.SGD:
    """SGD with momentum; torch's weight_decay is the coupled L2 term the common convention means."""
    return torch.optim.SGD(parameters, lr=hyper["lr"], momentum=hyper["momentum"], weight_decay=hyper["weight_decay"])


def train(model: nn.Module, spec: ModelSpec, native: Mapping[str, np.ndarray], images_nchw: np.ndarray,
          labels: np.ndarray, hyper: Mapping[str, float], steps: int
          ) -> tuple[list[float], dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Load `native`, run `steps` training-mode SGD steps on mean softmax cross-entropy of the logits; return the
    losses, the last step's gradients, the BN statistics after the first step and the state after the last (native
    keys, the model's dtype)."""
    set_native(model, spec, native)
    set_bn(model, hyper["bn_momentum"], hyper["bn_epsilon"])
    model.train()
    parameters = dict(model.named_parameters())
    sgd = optimizer(list(parameters.values()), hyper)
    weight = next(iter(parameters.values()))
    images = torch.from_numpy(np.ascontiguousarray(images_nchw)).to(weight.device, weight.dtype)
    targets = torch.from_numpy(np.asarray(labels, np.int64)).to(weight.device)
    statistics = {layer.native_key(p, "torch") for layer in spec.layers if layer.kind == "bn"
                  for p in ("running_mean", "running_var")}
    losses, gradients, first = [], {}, {}
    for _ in range(steps):
        sgd.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(images), targets)
        loss.backward()
        gradients = {key: p.grad.detach().cpu().numpy().copy() for key, p in parameters.items()}
        sgd.step()
        losses.append(float(loss.item()))
        first = first or {key: array for key, array in state(model, spec).items() if key in statistics}
    return losses, gradients, first, state(model, spec)


def state(model: nn.Module, spec: ModelSpec) -> dict[str, np.ndarray]:
    """The spec's native keys as numpy copies in the model's dtype."""
    tensors = model.state_dict()
    return {key: tensors[key].detach().cpu().numpy().copy() for key in spec.native_shapes("torch")}

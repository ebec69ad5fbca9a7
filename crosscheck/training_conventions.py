"""Training conventions of the three frameworks, measured, and the one convention train-step speaks
(convert reads it too, for its BN momentum note).

The user gives hyperparameters once, in PyTorch's convention: `bn_momentum` is the weight of the new
batch in the running statistics, `weight_decay` is an L2 term added to the gradient before momentum
(coupled), SGD's velocity is `v = mu * v + g` and the step `p -= lr * v`. `native()` translates them
into each framework's own arguments; the backends' `train` modules apply them.

Measured on tiny layers against numpy, in float64 (tests/*/test_train_step*.py pin every row of `CONVENTIONS`;
docs/train-step.md names the versions).

Two things have no switch in any framework, so train-step handles them here, in numpy:
* the BN running variance is updated from the unbiased batch variance in torch and from the biased one
  in Keras and Paddle; `unbiased_running_var` rewrites a biased framework's result in torch's convention
  (exact: training-mode BN never reads its running statistics, so they are a pure accumulator);
* Paddle's kernels take SGD momentum, the L2 coefficient, BN momentum and BN epsilon as float32 attributes,
  and Keras casts SGD momentum through float32; `snap` rounds the hyperparameters once to values all three
  represent exactly, and every framework trains with those, and with float32(eps) (in eval mode the Paddle
  adapter cancels the epsilon's rounding through the running variance; training-mode BN normalises by the
  batch variance, computed inside Paddle's kernel, so that correction cannot apply).
This module imports no framework.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from crosscheck import backends
from crosscheck import spec as specs
from crosscheck.backends.record import Convention

# Each framework's conventions, from its backend record (crosscheck/backends/<name>/__init__.py).
CONVENTIONS: dict[str, Convention] = {name: backend.training for name, backend in backends.records().items()}

def _weights_new_batch(framework: str) -> bool:
    """Whether the framework's BN momentum is the new batch's weight: torch's API says so, Keras' and Paddle's weigh
    the running statistics (a property of the API, so of the key naming, whichever engine runs it)."""
    return backends.get(framework).naming == "torch"


def torch_bn_momentum(framework: str, native_momentum: float) -> float:
    """A framework's BN momentum argument in torch's convention (the weight of the new batch)."""
    return native_momentum if _weights_new_batch(framework) else 1.0 - native_momentum


def native_bn_momentum(framework: str, momentum: float) -> float:
    """Torch-convention BN momentum as `framework`'s BN momentum argument."""
    return momentum if _weights_new_batch(framework) else 1.0 - momentum


@dataclass(frozen=True)
class Hyperparameters:
    """One SGD step's settings in torch's convention (see the module docstring)."""

    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4
    bn_momentum: float = 0.1

    def validate(self) -> None:
        if not self.lr > 0:
            raise ValueError(f"--lr must be > 0, got {self.lr}")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"--momentum must be in [0, 1), got {self.momentum}")
        if not self.weight_decay >= 0:
            raise ValueError(f"--weight-decay must be >= 0, got {self.weight_decay}")
        if not 0 < self.bn_momentum < 1:
            raise ValueError(f"--bn-momentum must be in (0, 1), got {self.bn_momentum}")

    def snap(self) -> Hyperparameters:
        """The nearest settings every framework represents exactly: momentum and weight decay float32 values,
        BN momentum 1 - float32(1 - m) (Paddle stores 1 - m as float32); the learning rate stays float64."""
        return Hyperparameters(self.lr, _float32(self.momentum), _float32(self.weight_decay),
                               1.0 - _float32(1.0 - self.bn_momentum))

    def native(self, framework: str, bn_eps: float) -> dict[str, float]:
        """The arguments `framework`'s train module takes: its own BN momentum, L2 weight decay that the module
        applies coupled (Keras: added to the gradient by hand, not Keras' decoupled weight_decay), and the
        model's BN epsilon as Paddle computes with it in training mode, float32(eps)."""
        return {**asdict(self), "bn_momentum": native_bn_momentum(framework, self.bn_momentum),
                "bn_epsilon": _float32(bn_eps)}

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def _float32(value: float) -> float:
    return float(np.float32(value))


def unbiased_running_var(raw: np.ndarray, initial: np.ndarray, momentum: float, steps: int, count: int) -> np.ndarray:
    """A running variance updated `steps` times from biased batch variances, rewritten as torch's (unbiased).

    running_N = d * initial + sum_k w_k * var_k with d = (1 - m)^N whatever the estimator, so the batch part
    scales by count / (count - 1) (Bessel's correction over the `count` = N*H*W values per channel).
    """
    decay = (1.0 - momentum) ** steps
    return decay * initial + (raw - decay * initial) * (count / (count - 1))


def bn_counts(spec: specs.ModelSpec, batch: int, image_size: int) -> dict[str, int]:
    """{BN layer name: values per channel in one training batch} at `image_size` (a multiple of the reduction)."""
    return {layer.name: batch * (layer.output_shape[1] * image_size // spec.input_size) ** 2
            for layer in spec.layers if layer.kind == "bn"}


def bn_momentum_note(source: str, destination: str) -> str | None:
    """One line for convert when the source framework's default BN momentum does not carry into the destination's
    default (None when it does, or when a side is not a framework), with the value to set in the destination."""
    if source not in CONVENTIONS or destination not in CONVENTIONS:
        return None
    wanted = torch_bn_momentum(source, CONVENTIONS[source].bn_default)
    default = torch_bn_momentum(destination, CONVENTIONS[destination].bn_default)
    if np.isclose(wanted, default, rtol=1e-9, atol=0):
        return None
    value = native_bn_momentum(destination, wanted)
    return (f"training note: {source}'s default BatchNorm momentum {CONVENTIONS[source].bn_default:g} is "
            f"momentum={value:.6g} in {destination}, which defaults to {CONVENTIONS[destination].bn_default:g}: set "
            f"momentum={value:.6g} on {destination}'s BatchNorm layers to keep training as in {source} (torch's momentum "
            f"weighs the new batch, Keras' and Paddle's the running statistics)")

"""Seeded random weights for any model id, in canonical layout, with numpy only: two kinds.

* ``calibrated`` (`calibrated_weights`): He-normal kernels, random BN affine parameters around (1, 0) and random biases,
  so that a mapping slip in any parameter (gamma vs beta, a dropped bias) changes the output.
* ``plain`` (`default_init_weights`): each family's own default initialisation, untouched: torchvision's (kaiming-normal
  fan-out convs, BN 1/0, torch's uniform Linear) for the torchvision-family ids, Keras' (glorot-uniform
  kernels, zero biases, BN 1/0) for the keras.applications ids. This is what a user's freshly
  initialised model looks like, and it rounds like one: nothing is scaled to make a gate hold.

In both kinds each BN's running statistics are the batch statistics of its input on a small random
batch (without them a random ResNet's activations explode or vanish and every comparison is
meaningless). The forward pass below only exists for that; it reads the topology from the spec and
is never compared against.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from threadpoolctl import threadpool_limits

from crosscheck import spec as specs
from crosscheck.spec import BlockSpec, LayerSpec, ModelSpec

CALIBRATION_BATCH = 2
# The last stage sees 4x4 positions per image (128x128 for the ImageNet stem, 32x32 for the CIFAR stem):
# with 2x2 its BN statistics come from 8 values per channel and the deepest ids' logits blow up; at 4x4
# every model stays O(1).
CALIBRATION_POSITIONS = 4

WEIGHT_KINDS = ("calibrated", "plain")


def calibrated_weights(model_id: str | specs.Variant | ModelSpec, seed: int = 0,
                       num_classes: int | None = None) -> dict[str, np.ndarray]:
    """Canonical float32 weights of the ``calibrated`` kind for a model id, Variant or spec (num_classes None: the
    id's default; a spec keeps its own), identical for identical arguments."""
    spec = model_id if isinstance(model_id, ModelSpec) else specs.get(model_id, num_classes)
    return _calibrated(spec, np.random.default_rng(seed), _random_init)


def default_init_weights(model_id: str | specs.Variant, seed: int = 0,
                         num_classes: int | None = None) -> dict[str, np.ndarray]:
    """Canonical float32 weights of the ``plain`` kind, the family's own default initialisation, for a model id or
    Variant, identical for identical arguments."""
    return _calibrated(specs.get(model_id, num_classes), np.random.default_rng(seed), _default_init)


def weights_of_kind(kind: str, model_id: str, seed: int = 0) -> dict[str, np.ndarray]:
    """`calibrated_weights` or `default_init_weights` by the kind's name in WEIGHT_KINDS (`run --weights`)."""
    makers = {"calibrated": calibrated_weights, "plain": default_init_weights}  # looked up now: tests replace them
    return makers[kind](model_id, seed)


def _calibrated(spec: ModelSpec, rng: np.random.Generator, init: Callable[..., np.ndarray]) -> dict[str, np.ndarray]:
    """Every parameter from `init`, then each BN's running statistics from its input on a random batch."""
    weights = {key: init(rng, spec, spec.layer(key.rsplit(".", 1)[0]), key.rsplit(".", 1)[1], shape)
               for key, shape in spec.canonical_shapes().items()}
    size = CALIBRATION_POSITIONS * spec.reduction
    images = rng.standard_normal((CALIBRATION_BATCH, 3, size, size), dtype=np.float32)
    # One BLAS thread: a float32 product split over threads rounds differently, and a process's thread count (Paddle
    # sets OMP_NUM_THREADS=1 for every process it starts) must not change the weights another process makes.
    with threadpool_limits(limits=1, user_api="blas"):
        _CalibratingForward(spec, weights).run(images)
    return weights


def sample_input(batch: int, seed: int = 0, size: int = specs.IMAGENET_INPUT_SIZE) -> np.ndarray:
    """A deterministic NCHW float32 batch with ImageNet-normalised-like statistics (pass a model's spec.input_size)."""
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    return np.random.default_rng([seed, 1]).standard_normal((batch, 3, size, size), dtype=np.float32)


def sample_rgb(batch: int, seed: int = 0, size: int = specs.IMAGENET_INPUT_SIZE) -> np.ndarray:
    """A deterministic NCHW float32 batch of RGB images in [0, 255] (non-integer values), the input of a model with
    a preprocessing prefix; each channel has its own range so a channel swap shows."""
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    scale = np.array([255.0, 160.0, 90.0], np.float32).reshape(1, 3, 1, 1)
    return np.random.default_rng([seed, 2]).random((batch, 3, size, size), dtype=np.float32) * scale


def _random_init(rng: np.random.Generator, spec: ModelSpec, layer: LayerSpec, param: str,
                 shape: tuple[int, ...]) -> np.ndarray:
    if layer.kind == "conv" and param == "weight":
        fan_in = int(np.prod(shape[1:]))
        return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)
    if layer.kind == "dense" and param == "weight":
        return (rng.standard_normal(shape) / np.sqrt(shape[1])).astype(np.float32)
    if layer.kind == "bn" and param == "weight":
        return rng.uniform(0.5, 1.5, shape).astype(np.float32)
    if layer.kind == "bn" and param in ("running_mean", "running_var"):
        return np.zeros(shape, np.float32)  # set by calibration
    return (rng.standard_normal(shape) * 0.1).astype(np.float32)  # biases and BN beta


def _default_init(rng: np.random.Generator, spec: ModelSpec, layer: LayerSpec, param: str,
                shape: tuple[int, ...]) -> np.ndarray:
    """The reference library's own default initialisation of one parameter (torchvision's or Keras')."""
    if layer.kind == "bn":
        return (np.ones if param in ("weight", "running_var") else np.zeros)(shape, np.float32)
    if spec.family != "torchvision":  # keras: glorot_uniform kernels, zero biases
        if param == "bias":
            return np.zeros(shape, np.float32)
        receptive = int(np.prod(shape[2:]))
        limit = np.sqrt(6.0 / (shape[0] * receptive + shape[1] * receptive))
        return rng.uniform(-limit, limit, shape).astype(np.float32)
    if layer.kind == "conv" and param == "bias":  # an SE conv's bias: torch's default, U(-1/sqrt(fan_in), ...)
        bound = 1.0 / np.sqrt(layer.in_channels * layer.kernel_size ** 2)
        return rng.uniform(-bound, bound, shape).astype(np.float32)
    if layer.kind == "conv":  # torchvision (and timm): kaiming_normal_(mode="fan_out", nonlinearity="relu")
        return (rng.standard_normal(shape) * np.sqrt(2.0 / (shape[0] * int(np.prod(shape[2:]))))).astype(np.float32)
    bound = 1.0 / np.sqrt(layer.in_channels)  # nn.Linear's default: U(-1/sqrt(in), 1/sqrt(in)) for both
    return rng.uniform(-bound, bound, shape).astype(np.float32)


class _CalibratingForward:
    """NCHW numpy forward pass that sets each BN's running statistics from its input batch."""

    def __init__(self, spec: ModelSpec, weights: dict[str, np.ndarray]) -> None:
        self.spec = spec
        self.weights = weights

    def run(self, x: np.ndarray) -> np.ndarray:
        spec = self.spec
        for layer in spec.layers_of("stem"):  # conv (BN, ReLU) ...; V2's stem conv alone
            x = self.conv(x, layer) if layer.kind == "conv" else _relu(self.bn(x, layer))
        if spec.stem_pool_padding is not None:  # the CIFAR stem has no max-pool
            x = _max_pool_3x3_s2(x, neg_inf_padding=spec.stem_pool_padding == "neg_inf")
        for block in spec.blocks:
            x = self.block(x, block)
        if spec.post_norm:
            x = _relu(self.bn(x, spec.layer("post_bn")))
        head = spec.layer("predictions")
        return x.mean(axis=(2, 3)) @ self.weights["predictions.weight"].T + self.weights[head.canonical_key("bias")]

    def block(self, x: np.ndarray, block: BlockSpec) -> np.ndarray:
        layers = {layer.name.removeprefix(block.name + "_"): layer for layer in self.spec.layers_of(block.name)}
        # V2 pre-activates the branch input; its projection shortcut sees that, identity/maxpool sees raw x.
        branch_input = _relu(self.bn(x, layers["preact_bn"])) if "preact_bn" in layers else x
        if block.shortcut in ("projection", "avgpool_projection"):
            pooled = block.shortcut == "avgpool_projection" and block.stride > 1  # even sizes here: a plain 2x2 mean
            shortcut = _avg_pool_2x2(branch_input) if pooled else branch_input
            shortcut = self.conv(shortcut, layers["0_conv"])
            if "0_bn" in layers:
                shortcut = self.bn(shortcut, layers["0_bn"])
        else:
            shortcut = x[:, :, :: block.stride, :: block.stride]  # identity, or MaxPool(1, stride)
        y = branch_input
        roles = 2 if block.kind == "basic" else 3
        for role in range(1, roles + 1):
            y = self.conv(y, layers[f"{role}_conv"])
            if f"{role}_bn" in layers:
                y = self.bn(y, layers[f"{role}_bn"])
                if role < roles:
                    y = _relu(y)
        if block.attention is not None:  # squeeze-excitation (calibrated as timm places it, before the add)
            squeezed = _relu(self.conv(y.mean(axis=(2, 3), keepdims=True), layers["se_reduce"]))
            y = y / (1 + np.exp(-self.conv(squeezed, layers["se_expand"])))
        out = y + shortcut
        return _relu(out) if block.relu_after_add else out

    def conv(self, x: np.ndarray, layer: LayerSpec) -> np.ndarray:
        y = conv2d(x, self.weights[layer.canonical_key("weight")], layer.stride, layer.padding, layer.groups)
        if layer.bias:
            y = y + self.weights[layer.canonical_key("bias")][None, :, None, None]
        return np.ascontiguousarray(y, dtype=np.float32)

    def bn(self, x: np.ndarray, layer: LayerSpec) -> np.ndarray:
        mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
        self.weights[layer.canonical_key("running_mean")] = mean.astype(np.float32)
        self.weights[layer.canonical_key("running_var")] = var.astype(np.float32)
        gamma, beta = self.weights[layer.canonical_key("weight")], self.weights[layer.canonical_key("bias")]
        scale = gamma / np.sqrt(var + layer.eps)
        return (x - mean[None, :, None, None]) * scale[None, :, None, None] + beta[None, :, None, None]


def conv2d(x: np.ndarray, weight: np.ndarray, stride: int, padding: int, groups: int = 1) -> np.ndarray:
    """NCHW convolution with an OIHW `weight` and symmetric zero padding; with `groups`, output slice g sees only
    input slice g (weight's I is the input channels of one group)."""
    k = weight.shape[2]
    x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    windows = sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::stride, ::stride]  # N, C, Ho, Wo, k, k
    inputs, outputs = x.shape[1] // groups, weight.shape[0] // groups
    per_group = [np.tensordot(windows[:, g * inputs:(g + 1) * inputs], weight[g * outputs:(g + 1) * outputs],
                              axes=((1, 4, 5), (1, 2, 3))) for g in range(groups)]  # each N, Ho, Wo, O/groups
    return np.concatenate(per_group, axis=3).transpose(0, 3, 1, 2)


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0)


def _avg_pool_2x2(x: np.ndarray) -> np.ndarray:
    """2x2/2 average pool of an even-sized map."""
    n, c, h, w = x.shape
    return x.reshape(n, c, h // 2, 2, w // 2, 2).mean(axis=(3, 5))


def _max_pool_3x3_s2(x: np.ndarray, neg_inf_padding: bool) -> np.ndarray:
    pad_value = -np.inf if neg_inf_padding else 0.0
    x = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=pad_value)
    return sliding_window_view(x, (3, 3), axis=(2, 3))[:, :, ::2, ::2].max(axis=(4, 5))

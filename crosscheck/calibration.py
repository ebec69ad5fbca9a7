"""Seeded, calibrated random weights for any model id, in canonical layout, with numpy only.

Random-init ResNets explode or vanish, which makes numeric comparisons meaningless (everything
saturates, or everything is ~0 and trivially "equal"). Here kernels are random (He-normal), BN
affine parameters are random around (1, 0), and each BN's running statistics are set to the batch
statistics of its input on a small random batch, so every activation stays O(1) through the whole
network. The forward pass below only exists for that calibration; it reads the topology from the
spec and is never compared against.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from crosscheck import spec as specs
from crosscheck.spec import BlockSpec, LayerSpec, ModelSpec

CALIBRATION_BATCH = 2
# The last stage sees 4x4 positions per image (128x128 for the ImageNet stem, 32x32 for the CIFAR stem):
# with 2x2 its BN statistics come from 8 values per channel and resnet152's logits reach ~1e3; at 4x4
# every model stays O(1).
CALIBRATION_POSITIONS = 4

# Residual branches are scaled down next to the identity path, as they are in trained ResNets. With
# full-size branches a random ResNet amplifies rounding error with depth (fp32 vs fp64 rel L2 1.4e-5 for
# resnet50, 1.9e-4 for resnet152); at 0.25 it is 9e-7 and 5e-6, like trained weights, while a wrong
# stride, padding or epsilon inside any branch still moves the output by far more than the gate.
RESIDUAL_BRANCH_SCALE = 0.25


def calibrated_weights(model_id: str, seed: int = 0, num_classes: int | None = None) -> dict[str, np.ndarray]:
    """Canonical float32 weights for `model_id` (num_classes None: the id's default), identical for identical
    (model_id, seed, num_classes)."""
    spec = specs.get(model_id, num_classes)
    rng = np.random.default_rng(seed)
    weights = {key: _random_init(rng, spec.layer(key.rsplit(".", 1)[0]), key.rsplit(".", 1)[1], shape)
               for key, shape in spec.canonical_shapes().items()}
    for block in spec.blocks:  # the layer that closes each residual branch: bn2/bn3, or V2's conv3
        closing = spec.layers_of(block.name)[-1]
        for param in closing.shapes:
            if param in ("weight", "bias"):
                weights[closing.canonical_key(param)] *= RESIDUAL_BRANCH_SCALE
    size = CALIBRATION_POSITIONS * spec.reduction
    images = rng.standard_normal((CALIBRATION_BATCH, 3, size, size), dtype=np.float32)
    _CalibratingForward(spec, weights).run(images)
    return weights


def sample_input(batch: int, seed: int = 0, size: int = specs.IMAGENET_INPUT_SIZE) -> np.ndarray:
    """A deterministic NCHW float32 batch with ImageNet-normalised-like statistics (pass a model's spec.input_size)."""
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    return np.random.default_rng([seed, 1]).standard_normal((batch, 3, size, size), dtype=np.float32)


def _random_init(rng: np.random.Generator, layer: LayerSpec, param: str, shape: tuple[int, ...]) -> np.ndarray:
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


class _CalibratingForward:
    """NCHW numpy forward pass that sets each BN's running statistics from its input batch."""

    def __init__(self, spec: ModelSpec, weights: dict[str, np.ndarray]) -> None:
        self.spec = spec
        self.weights = weights

    def run(self, x: np.ndarray) -> np.ndarray:
        spec = self.spec
        x = self.conv(x, spec.layer("conv1_conv"))
        if spec.stem_bn:
            x = _relu(self.bn(x, spec.layer("conv1_bn")))
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
        if block.shortcut == "projection":
            shortcut = self.conv(branch_input, layers["0_conv"])
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
        out = y + shortcut
        return _relu(out) if block.relu_after_add else out

    def conv(self, x: np.ndarray, layer: LayerSpec) -> np.ndarray:
        w = self.weights[layer.canonical_key("weight")]
        p, s, k = layer.padding, layer.stride, layer.kernel_size
        x = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
        windows = sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::s, ::s]  # N, C, Ho, Wo, k, k
        y = np.tensordot(windows, w, axes=((1, 4, 5), (1, 2, 3))).transpose(0, 3, 1, 2)
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


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0)


def _max_pool_3x3_s2(x: np.ndarray, neg_inf_padding: bool) -> np.ndarray:
    pad_value = -np.inf if neg_inf_padding else 0.0
    x = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=pad_value)
    return sliding_window_view(x, (3, 3), axis=(2, 3))[:, :, ::2, ::2].max(axis=(4, 5))

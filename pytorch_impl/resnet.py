"""Every model id of `crosscheck.spec` as a `torch.nn.Module`, in the style of torchvision.models.resnet.

Depths, strides, paddings, biases, epsilons and module paths all come from the spec's BlockSpecs and
LayerSpecs, so the torchvision-family ids have exactly torchvision's state_dict keys and shapes, and
the keras-family ids use the same attribute style (V2 blocks add `preact_bn`, the model `post_bn`).
Forward passes have no data-dependent Python control flow, so the models script, export and
convert to ONNX.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Mapping, Optional

import torch
from torch import Tensor, nn

from crosscheck import spec as specs
from crosscheck.spec import BlockSpec, LayerSpec, ModelSpec, WeightMismatchError


def _conv(layer: LayerSpec) -> nn.Conv2d:
    """A Conv2d exactly as the spec's layer: kernel, stride, symmetric zero padding, groups and bias."""
    return nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size, stride=layer.stride,
                     padding=layer.padding, groups=layer.groups, bias=layer.bias)


def _batch_norm(layer: LayerSpec) -> nn.BatchNorm2d:
    """A BatchNorm2d with the spec's epsilon (1e-5 torchvision family, 1.001e-5 keras family)."""
    return nn.BatchNorm2d(layer.out_channels, eps=layer.eps)


def _projection(block: BlockSpec, layers: Mapping[str, LayerSpec]) -> Optional[nn.Sequential]:
    """The shortcut `downsample`: a 1x1 projection (conv, then BN unless pre-activation), ResNet-D's average pool
    + 1x1 stride-1 conv + BN as timm's `downsample_avg` (an Identity pool where the block does not stride), or None."""
    if block.shortcut == "avgpool_projection":
        pool = nn.AvgPool2d(2, block.stride, ceil_mode=True, count_include_pad=False) if block.stride > 1 \
            else nn.Identity()
        return nn.Sequential(pool, _conv(layers["downsample.1"]), _batch_norm(layers["downsample.2"]))
    if block.shortcut != "projection":
        return None
    norm = [_batch_norm(layers["downsample.1"])] if "downsample.1" in layers else []
    return nn.Sequential(_conv(layers["downsample.0"]), *norm)


GATES: dict[str, Callable[[Tensor], Tensor]] = {"sigmoid": torch.sigmoid, "hard_sigmoid": nn.functional.hardsigmoid}


class SqueezeExcite(nn.Module):
    """timm's SEModule: the global average, a 1x1 conv to the reduced width, ReLU, a 1x1 conv back, the gate; the
    input times the gate."""

    def __init__(self, block: BlockSpec, layers: Mapping[str, LayerSpec]) -> None:
        super().__init__()
        self.fc1 = _conv(layers["se.fc1"])
        self.act = nn.ReLU(inplace=True)
        self.fc2 = _conv(layers["se.fc2"])
        self.gate = GATES[block.gate]

    def forward(self, x: Tensor) -> Tensor:
        x_se = x.mean((2, 3), keepdim=True)
        x_se = self.fc1(x_se)
        x_se = self.act(x_se)
        x_se = self.fc2(x_se)
        return x * self.gate(x_se)


def _attention(block: BlockSpec, layers: Mapping[str, LayerSpec]) -> Optional[SqueezeExcite]:
    """The block's attention module `se`, or None."""
    return SqueezeExcite(block, layers) if block.attention == "se" else None


class BasicBlock(nn.Module):
    """torchvision's BasicBlock: two 3x3 conv-BN, the first strided, ReLU after the residual add."""

    def __init__(self, block: BlockSpec, layers: Mapping[str, LayerSpec]) -> None:
        super().__init__()
        self.conv1 = _conv(layers["conv1"])
        self.bn1 = _batch_norm(layers["bn1"])
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv(layers["conv2"])
        self.bn2 = _batch_norm(layers["bn2"])
        self.se = _attention(block, layers)
        self.downsample = _projection(block, layers)
        self.relu_after_add = block.relu_after_add
        self.attention_after_add = block.attention_at == "after_add"

    def forward(self, x: Tensor) -> Tensor:
        # One op per statement and an in-place add, as torchvision: each input is freed as soon as
        # it is consumed (a nested `relu(bn(conv(out)))` keeps the old `out` alive).
        out = self.conv1(x)
        out = self.bn1(out)
        out = self.relu(out)
        out = self.conv2(out)
        out = self.bn2(out)
        return _residual(self, out, x)


class Bottleneck(nn.Module):
    """Post-activation 1x1-3x3-1x1 bottleneck; the spec puts the stride on conv2 (v1.5) or conv1 (keras v1) and
    gives the 3x3 its groups (ResNeXt) and the inner width."""

    def __init__(self, block: BlockSpec, layers: Mapping[str, LayerSpec]) -> None:
        super().__init__()
        self.conv1 = _conv(layers["conv1"])
        self.bn1 = _batch_norm(layers["bn1"])
        self.conv2 = _conv(layers["conv2"])
        self.bn2 = _batch_norm(layers["bn2"])
        self.conv3 = _conv(layers["conv3"])
        self.bn3 = _batch_norm(layers["bn3"])
        self.se = _attention(block, layers)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _projection(block, layers)
        self.relu_after_add = block.relu_after_add
        self.attention_after_add = block.attention_at == "after_add"

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv1(x)  # one op per statement, for memory: see BasicBlock.forward
        out = self.bn1(out)
        out = self.relu(out)
        out = self.conv2(out)
        out = self.bn2(out)
        out = self.relu(out)
        out = self.conv3(out)
        out = self.bn3(out)
        return _residual(self, out, x)


def _residual(block: BasicBlock | Bottleneck, out: Tensor, x: Tensor) -> Tensor:
    """The end of a post-activation block: attention (timm: before the add), the shortcut added in place, ReLU."""
    if block.se is not None and not block.attention_after_add:
        out = block.se(out)
    out += x if block.downsample is None else block.downsample(x)
    out = block.relu(out) if block.relu_after_add else out
    return block.se(out) if block.se is not None and block.attention_after_add else out


class PreActBottleneck(nn.Module):
    """keras ResNetV2's block: BN-ReLU first, conv3 without BN, no ReLU after the add.

    The projection shortcut sees the pre-activated input; the other shortcuts see the raw input,
    through a MaxPool2d(1, stride) when the block is strided (an identity otherwise).
    """

    def __init__(self, block: BlockSpec, layers: Mapping[str, LayerSpec]) -> None:
        super().__init__()
        self.preact_bn = _batch_norm(layers["preact_bn"])
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _projection(block, layers)
        self.relu_after_add = block.relu_after_add
        self.shortcut_pool = nn.MaxPool2d(1, stride=block.stride) if block.shortcut == "maxpool" else nn.Identity()
        self.conv1 = _conv(layers["conv1"])
        self.bn1 = _batch_norm(layers["bn1"])
        self.conv2 = _conv(layers["conv2"])
        self.bn2 = _batch_norm(layers["bn2"])
        self.conv3 = _conv(layers["conv3"])

    def forward(self, x: Tensor) -> Tensor:
        preact = self.relu(self.preact_bn(x))
        identity = self.shortcut_pool(x) if self.downsample is None else self.downsample(preact)
        out = self.conv1(preact)  # one op per statement, for memory: see BasicBlock.forward
        del preact
        out = self.bn1(out)
        out = self.relu(out)
        out = self.conv2(out)
        out = self.bn2(out)
        out = self.relu(out)
        out = self.conv3(out)
        out += identity
        return self.relu(out) if self.relu_after_add else out


BLOCK_TYPES: dict[str, type[nn.Module]] = {
    "basic": BasicBlock,
    "bottleneck": Bottleneck,
    "preact_bottleneck": PreActBottleneck,
}


def _make_block(spec: ModelSpec, block: BlockSpec) -> nn.Module:
    """The block's class for its kind, given its layers keyed by path inside the block ('conv1', 'downsample.0')."""
    prefix = f"{block.module_path}."
    layers = {layer.module_path.removeprefix(prefix): layer for layer in spec.layers_of(block.name)}
    return BLOCK_TYPES[block.kind](block, layers)


def _make_layer(spec: ModelSpec, stage: str) -> nn.Sequential:
    """One stage (`layer1`..`layer4`): the spec's blocks whose module path starts with it, in order."""
    return nn.Sequential(*(_make_block(spec, b) for b in spec.blocks if b.module_path.split(".")[0] == stage))


def _stem_conv(spec: ModelSpec) -> nn.Module:
    """The stem's `conv1`: one conv, or timm's deep stem, a Sequential of convs with BN + ReLU between them
    (`conv1.0`, `conv1.1`, ReLU, `conv1.3`, ...; the last conv's BN is the model's `bn1`)."""
    layers = [layer for layer in spec.layers_of("stem") if layer.module_path.startswith("conv1")]
    if len(layers) == 1:
        return _conv(layers[0])
    modules: list[nn.Module] = []
    for layer in layers:
        modules += [_conv(layer)] if layer.kind == "conv" else [_batch_norm(layer), nn.ReLU(inplace=True)]
    return nn.Sequential(*modules)


def _stem_pool(padding: str | None) -> nn.Module:
    """The 3x3/2 stem max-pool: implicit -inf padding, or keras V2's zero padding (its input can be negative).

    The CIFAR stem has none; `nn.Identity()` in its place is how CIFAR ports of torchvision's ResNet drop it
    (`model.maxpool = nn.Identity()`), keeping the attribute, the forward and the state_dict keys.
    """
    if padding is None:
        return nn.Identity()
    if padding == "zero":
        return nn.Sequential(nn.ConstantPad2d(1, 0.0), nn.MaxPool2d(3, stride=2, padding=0))
    return nn.MaxPool2d(3, stride=2, padding=1)


class ResNet(nn.Module):
    """One spec model id with torchvision's attributes (conv1, bn1, maxpool, layer1..4, avgpool, fc).

    Keras V2 ids have no stem `bn1` (nor its ReLU) and add `post_bn` + ReLU before the pool; the CIFAR
    ids' `conv1` is 3x3/1 and their `maxpool` an identity; the ResNet-D ids' `conv1` is timm's deep stem. `softmax=True` applies softmax to the fc
    output (keras' classifier_activation). num_classes=None: the id's default (1000, 10 for CIFAR ids);
    `num_classes=0` (NO_HEAD) makes `fc` an `nn.Identity`, as torchvision users strip the head: no fc
    weights, pooled features out.
    """

    def __init__(self, model_id: str | ModelSpec, num_classes: int | None = None, softmax: bool = False) -> None:
        super().__init__()
        spec = model_id if isinstance(model_id, ModelSpec) else specs.get(model_id, num_classes)
        self.model_id = spec.model_id
        self.num_classes = spec.num_classes
        self.softmax = softmax and not spec.headless

        self.conv1 = _stem_conv(spec)
        self.bn1 = _batch_norm(spec.layer("conv1_bn")) if spec.stem_bn else None
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = _stem_pool(spec.stem_pool_padding)
        self.layer1 = _make_layer(spec, "layer1")
        self.layer2 = _make_layer(spec, "layer2")
        self.layer3 = _make_layer(spec, "layer3")
        self.layer4 = _make_layer(spec, "layer4")
        self.post_bn = _batch_norm(spec.layer("post_bn")) if spec.post_norm else None
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        if spec.headless:
            self.fc: nn.Module = nn.Identity()
        else:
            head = spec.layer("predictions")
            self.fc = nn.Linear(head.in_channels, head.out_channels)

    def forward_features(self, x: Tensor) -> Tensor:
        """NCHW feature map before global pooling (after post_bn + ReLU for V2)."""
        x = self.conv1(x)
        if self.bn1 is not None:
            x = self.relu(self.bn1(x))
        x = self.maxpool(x)
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = self.layer4(x)
        if self.post_bn is not None:
            x = self.post_bn(x)
            x = self.relu(x)
        return x

    def forward(self, x: Tensor) -> Tensor:
        x = self.avgpool(self.forward_features(x))
        x = self.fc(torch.flatten(x, 1))
        return x.softmax(dim=1) if self.softmax else x


def build(model_id: str | ModelSpec, num_classes: int | None = None, softmax: bool | None = None) -> ResNet:
    """Any spec model id, or a ModelSpec as given (crosscheck verify builds mutated specs as counterfactuals);
    num_classes=None is the id's default (1000; 10 for the CIFAR ids); softmax=None follows the spec's default
    head (softmax for the keras-family ids)."""
    spec = model_id if isinstance(model_id, ModelSpec) else specs.get(model_id, num_classes)  # validates both
    return ResNet(spec, num_classes, spec.default_head == "softmax" if softmax is None else softmax)


def _constructor(model_id: str) -> Callable[..., ResNet]:
    """The named constructor of one spec id, as torchvision's `resnet50(num_classes=...)`."""
    spec = specs.get(model_id)

    def constructor(num_classes: int = spec.num_classes, softmax: bool | None = None) -> ResNet:
        return build(model_id, num_classes, softmax)

    constructor.__name__ = constructor.__qualname__ = model_id
    constructor.__doc__ = (f"{spec.description}; built from the spec with torchvision's module names "
                           "(softmax=None: the id's default head).")
    return constructor


# One constructor per spec id (`resnet18`, `resnet50_v1`, `resnet18_cifar`, ...): a new id needs no code here.
CONSTRUCTORS: dict[str, Callable[..., ResNet]] = {model_id: _constructor(model_id) for model_id in specs.MODEL_IDS}
globals().update(CONSTRUCTORS)


def state_dict_problems(model: nn.Module, state_dict: Mapping[str, Any]) -> list[str]:
    """Every key of `state_dict` that is missing, unexpected or mis-shaped for `model`, one line each."""
    return specs.shape_problems(specs.shapes_of(model.state_dict()), specs.shapes_of(state_dict))


def load_state_dict(model: nn.Module, state_dict: Mapping[str, Any], source: str = "torch") -> None:
    """Strict `load_state_dict` whose WeightMismatchError names every bad key, mis-shaped ones included.

    torch's own strict load stops at the first size mismatch with a RuntimeError instead.
    """
    problems = state_dict_problems(model, state_dict)
    if problems:
        raise WeightMismatchError(getattr(model, "model_id", type(model).__name__), source, problems)
    model.load_state_dict(dict(state_dict), strict=True)


def load(model_or_id: nn.Module | str, path: str | os.PathLike[str]) -> nn.Module:
    """Load a local .pth state_dict into a model (or `build(model_id)`) strictly, on the CPU."""
    model = build(model_or_id) if isinstance(model_or_id, str) else model_or_id
    state_dict = torch.load(os.fspath(path), map_location="cpu", weights_only=True)
    if not isinstance(state_dict, Mapping):
        raise ValueError(f"{path} holds a {type(state_dict).__name__}, not a state dict")
    load_state_dict(model, state_dict, source=f"'{os.fspath(path)}'")
    return model

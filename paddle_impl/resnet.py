"""Every model id of `crosscheck.spec` as a `paddle.nn.Layer`, in the style of paddle.vision.models.resnet.

Depths, strides, paddings, biases, epsilons and module paths all come from the spec's BlockSpecs and
LayerSpecs, so the torchvision-family ids have exactly paddle.vision's state_dict keys and shapes,
and the keras-family ids use the same attribute style (V2 blocks add `preact_bn`, the model `post_bn`).
"""

from __future__ import annotations

import itertools
import os
from typing import Any, Callable, Mapping

import paddle
import paddle.nn.functional as F
from paddle import nn

from crosscheck import pdparams
from crosscheck import spec as specs
from crosscheck.spec import BlockSpec, LayerSpec, ModelSpec, WeightMismatchError


def _conv(layer: LayerSpec) -> nn.Conv2D:
    """A Conv2D exactly as the spec's layer: kernel, stride, symmetric zero padding, groups and bias."""
    return nn.Conv2D(layer.in_channels, layer.out_channels, layer.kernel_size, stride=layer.stride,
                     padding=layer.padding, groups=layer.groups, bias_attr=None if layer.bias else False)


def _batch_norm(layer: LayerSpec) -> nn.BatchNorm2D:
    """A BatchNorm2D with the spec's epsilon (1e-5 torchvision family, 1.001e-5 keras family)."""
    return nn.BatchNorm2D(layer.out_channels, epsilon=layer.eps)


def _projection(block: BlockSpec, layers: Mapping[str, LayerSpec]) -> nn.Sequential | None:
    """The shortcut `downsample`: a 1x1 projection (conv, then BN unless pre-activation), ResNet-D's average pool
    (ceil mode, padding left out of each average: PaddleClas' `AvgPool2D(2, 2, ceil_mode=True)`, an Identity where
    the block does not stride) + 1x1 stride-1 conv + BN, or None."""
    if block.shortcut == "avgpool_projection":
        pool = nn.AvgPool2D(2, block.stride, ceil_mode=True, exclusive=True) if block.stride > 1 else nn.Identity()
        return nn.Sequential(pool, _conv(layers["downsample.1"]), _batch_norm(layers["downsample.2"]))
    if block.shortcut != "projection":
        return None
    norm = [_batch_norm(layers["downsample.1"])] if "downsample.1" in layers else []
    return nn.Sequential(_conv(layers["downsample.0"]), *norm)


def _hard_sigmoid(x: paddle.Tensor) -> paddle.Tensor:
    """torch's and Keras' hard sigmoid, relu6(x + 3) / 6 (paddle's default slope is 1/6 rounded to 7 digits)."""
    return F.hardsigmoid(x, slope=1 / 6, offset=0.5)


GATES: dict[str, Callable[[paddle.Tensor], paddle.Tensor]] = {"sigmoid": F.sigmoid, "hard_sigmoid": _hard_sigmoid}


class SqueezeExcite(nn.Layer):
    """timm's SEModule: the global average, a 1x1 conv to the reduced width, ReLU, a 1x1 conv back, the gate; the
    input times the gate."""

    def __init__(self, block: BlockSpec, layers: Mapping[str, LayerSpec]) -> None:
        super().__init__()
        self.fc1 = _conv(layers["se.fc1"])
        self.act = nn.ReLU()
        self.fc2 = _conv(layers["se.fc2"])
        self.gate = GATES[block.gate]

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        x_se = x.mean(axis=[2, 3], keepdim=True)
        x_se = self.fc1(x_se)
        x_se = self.act(x_se)
        x_se = self.fc2(x_se)
        return x * self.gate(x_se)


def _attention(block: BlockSpec, layers: Mapping[str, LayerSpec]) -> SqueezeExcite | None:
    """The block's attention sublayer `se`, or None."""
    return SqueezeExcite(block, layers) if block.attention == "se" else None


class BasicBlock(nn.Layer):
    """paddle.vision's BasicBlock: two 3x3 conv-BN, the first strided, ReLU after the residual add."""

    def __init__(self, block: BlockSpec, layers: Mapping[str, LayerSpec]) -> None:
        super().__init__()
        self.conv1 = _conv(layers["conv1"])
        self.bn1 = _batch_norm(layers["bn1"])
        self.relu = nn.ReLU()
        self.conv2 = _conv(layers["conv2"])
        self.bn2 = _batch_norm(layers["bn2"])
        self.se = _attention(block, layers)
        self.downsample = _projection(block, layers)
        self.relu_after_add = block.relu_after_add
        self.attention_after_add = block.attention_at == "after_add"

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        # One op per statement, as paddle.vision: rebinding `out` frees each input as soon as it is
        # consumed (a nested `relu(bn(conv(out)))` keeps the old `out` alive, +25% peak memory).
        out = self.conv1(x)
        out = self.bn1(out)
        out = self.relu(out)
        out = self.conv2(out)
        out = self.bn2(out)
        return _residual(self, out, x)


class BottleneckBlock(nn.Layer):
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
        self.relu = nn.ReLU()
        self.downsample = _projection(block, layers)
        self.relu_after_add = block.relu_after_add
        self.attention_after_add = block.attention_at == "after_add"

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        out = self.conv1(x)  # one op per statement, for memory: see BasicBlock.forward
        out = self.bn1(out)
        out = self.relu(out)
        out = self.conv2(out)
        out = self.bn2(out)
        out = self.relu(out)
        out = self.conv3(out)
        out = self.bn3(out)
        return _residual(self, out, x)


def _residual(block: BasicBlock | BottleneckBlock, out: paddle.Tensor, x: paddle.Tensor) -> paddle.Tensor:
    """The end of a post-activation block: attention (timm: before the add), the shortcut added, ReLU."""
    if block.se is not None and not block.attention_after_add:
        out = block.se(out)
    identity = x if block.downsample is None else block.downsample(x)
    out = out + identity
    out = block.relu(out) if block.relu_after_add else out
    return block.se(out) if block.se is not None and block.attention_after_add else out


class PreActBottleneckBlock(nn.Layer):
    """keras ResNetV2's block: BN-ReLU first, conv3 without BN, no ReLU after the add.

    The projection shortcut sees the pre-activated input; the strided identity shortcut is a
    MaxPool2D(1, stride) on the raw input.
    """

    def __init__(self, block: BlockSpec, layers: Mapping[str, LayerSpec]) -> None:
        super().__init__()
        self.preact_bn = _batch_norm(layers["preact_bn"])
        self.relu = nn.ReLU()
        self.downsample = _projection(block, layers)
        self.relu_after_add = block.relu_after_add
        self.shortcut_pool = nn.MaxPool2D(1, stride=block.stride) if block.shortcut == "maxpool" else None
        self.conv1 = _conv(layers["conv1"])
        self.bn1 = _batch_norm(layers["bn1"])
        self.conv2 = _conv(layers["conv2"])
        self.bn2 = _batch_norm(layers["bn2"])
        self.conv3 = _conv(layers["conv3"])

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        preact = self.relu(self.preact_bn(x))
        if self.downsample is not None:
            identity = self.downsample(preact)
        elif self.shortcut_pool is not None:
            identity = self.shortcut_pool(x)
        else:
            identity = x
        out = self.conv1(preact)  # one op per statement, for memory: see BasicBlock.forward
        del preact
        out = self.bn1(out)
        out = self.relu(out)
        out = self.conv2(out)
        out = self.bn2(out)
        out = self.relu(out)
        out = self.conv3(out)
        out = out + identity
        return self.relu(out) if self.relu_after_add else out


BLOCK_TYPES: dict[str, type[nn.Layer]] = {
    "basic": BasicBlock,
    "bottleneck": BottleneckBlock,
    "preact_bottleneck": PreActBottleneckBlock,
}


def _make_block(model_spec: specs.ModelSpec, block: BlockSpec) -> nn.Layer:
    """The block's class for its kind, given its layers keyed by path inside the block ('conv1', 'downsample.0')."""
    prefix = f"{block.module_path}."
    layers = {layer.module_path.removeprefix(prefix): layer for layer in model_spec.layers_of(block.name)}
    return BLOCK_TYPES[block.kind](block, layers)


def _stem_conv(spec: ModelSpec) -> nn.Layer:
    """The stem's `conv1`: one conv, or timm's deep stem with its module paths, a Sequential of convs with BN + ReLU
    between them (`conv1.0`, `conv1.1`, ReLU, `conv1.3`, ...; the last conv's BN is the model's `bn1`)."""
    layers = [layer for layer in spec.layers_of("stem") if layer.module_path.startswith("conv1")]
    if len(layers) == 1:
        return _conv(layers[0])
    sublayers: list[nn.Layer] = []
    for layer in layers:
        sublayers += [_conv(layer)] if layer.kind == "conv" else [_batch_norm(layer), nn.ReLU()]
    return nn.Sequential(*sublayers)


def _stem_pool(padding: str) -> nn.Layer:
    """The 3x3/2 stem max-pool: implicit -inf padding, or keras V2's zero padding (its input can be negative)."""
    if padding == "zero":
        return nn.Sequential(nn.Pad2D(1, value=0.0), nn.MaxPool2D(3, stride=2, padding=0))
    return nn.MaxPool2D(3, stride=2, padding=1)


class ResNet(nn.Layer):
    """One spec model id with paddle.vision's attributes (conv1, bn1, maxpool, layer1..4, avgpool, fc).

    As in paddle.vision, `num_classes <= 0` leaves out `fc` (and the flatten) and `with_pool=False`
    leaves out the global average pool; num_classes=None is the id's default (1000, 10 for the CIFAR
    ids). `softmax=True` applies softmax to the fc output (keras' classifier_activation). Keras V2 ids
    have no `bn1` and add `post_bn` before the pool; the CIFAR ids have a 3x3/1 `conv1` and no `maxpool`; the
    ResNet-D ids' `conv1` is timm's deep stem.
    """

    def __init__(self, model_id: str | ModelSpec, num_classes: int | None = None, with_pool: bool = True,
                 softmax: bool = False) -> None:
        super().__init__()
        if isinstance(model_id, ModelSpec):  # crosscheck verify builds mutated specs as counterfactuals
            spec = model_id
        else:
            spec = specs.get(model_id, None if num_classes is None else max(num_classes, specs.NO_HEAD))
        self.model_id = spec.model_id
        self.num_classes = spec.num_classes if num_classes is None else num_classes
        self.with_pool = with_pool
        self.softmax = softmax

        self.conv1 = _stem_conv(spec)
        self.bn1 = _batch_norm(spec.layer("conv1_bn")) if spec.stem_bn else None
        self.relu = nn.ReLU()
        self.with_max_pool = spec.stem_pool_padding is not None  # False for the CIFAR stem: 32x32 keeps its size
        if self.with_max_pool:
            self.maxpool = _stem_pool(spec.stem_pool_padding)
        self.stage_names: list[str] = []
        for name, blocks in itertools.groupby(spec.blocks, key=lambda block: block.module_path.split(".")[0]):
            self.add_sublayer(name, nn.Sequential(*(_make_block(spec, block) for block in blocks)))
            self.stage_names.append(name)
        self.post_bn = _batch_norm(spec.layer("post_bn")) if spec.post_norm else None
        if with_pool:
            self.avgpool = nn.AdaptiveAvgPool2D((1, 1))
        if self.num_classes > 0:
            head = spec.layer("predictions")
            self.fc = nn.Linear(head.in_channels, head.out_channels)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        x = self.conv1(x)
        if self.bn1 is not None:
            x = self.bn1(x)  # one op per statement, for memory: see BasicBlock.forward
            x = self.relu(x)
        if self.with_max_pool:
            x = self.maxpool(x)
        for name in self.stage_names:
            x = getattr(self, name)(x)
        if self.post_bn is not None:
            x = self.post_bn(x)
            x = self.relu(x)
        if self.with_pool:
            x = self.avgpool(x)
        if self.num_classes > 0:
            x = self.fc(paddle.flatten(x, 1))
            if self.softmax:
                x = F.softmax(x, axis=-1)
        return x


def build(model_id: str | ModelSpec, num_classes: int | None = None, with_pool: bool = True,
          softmax: bool | None = None) -> ResNet:
    """Any spec model id, or a ModelSpec as given; num_classes=None is the id's default (1000, 10 for the CIFAR ids)
    and softmax=None follows the spec's default head (softmax for the keras-family ids)."""
    spec = model_id if isinstance(model_id, ModelSpec) else specs.get(model_id)  # also rejects unknown ids
    default_softmax = spec.default_head == "softmax"
    return ResNet(model_id, num_classes, with_pool, default_softmax if softmax is None else softmax)


def _constructor(model_id: str) -> Callable[..., ResNet]:
    """The named constructor of one spec id, as paddle.vision's `resnet50(num_classes=..., with_pool=...)`."""
    spec = specs.get(model_id)

    def constructor(num_classes: int = spec.num_classes, with_pool: bool = True,
                    softmax: bool | None = None) -> ResNet:
        return build(model_id, num_classes, with_pool, softmax)

    constructor.__name__ = constructor.__qualname__ = model_id
    constructor.__doc__ = (f"{spec.description}; built from the spec with paddle.vision's sublayer names "
                           "(softmax=None: the id's default head).")
    return constructor


# One constructor per spec id (`resnet18`, `resnet50_v1`, `resnet18_cifar`, ...): a new id needs no code here.
CONSTRUCTORS: dict[str, Callable[..., ResNet]] = {model_id: _constructor(model_id) for model_id in specs.MODEL_IDS}
globals().update(CONSTRUCTORS)


def state_dict_problems(model: nn.Layer, state_dict: Mapping[str, Any]) -> list[str]:
    """Every key of `state_dict` that is missing, unexpected or mis-shaped for `model`, one line each."""
    return specs.shape_problems(specs.shapes_of(model.state_dict()), specs.shapes_of(state_dict))


def load_state_dict(model: nn.Layer, state_dict: Mapping[str, Any], source: str = "paddle") -> None:
    """Strict `set_state_dict`: raise WeightMismatchError naming every bad key instead of skipping it.

    paddle's own `set_state_dict` only warns and leaves unmatched parameters at their random init.
    """
    problems = state_dict_problems(model, state_dict)
    if problems:
        raise WeightMismatchError(getattr(model, "model_id", type(model).__name__), source, problems)
    model.set_state_dict(dict(state_dict))


def load(model_or_id: nn.Layer | str, path: str | os.PathLike[str]) -> nn.Layer:
    """Load a local .pdparams into a model (or `build(model_id)`) strictly; errors name the file and each key.

    The file is read by crosscheck's restricted unpickler (numpy arrays only, no code runs), not by
    `paddle.load`, which unpickles whatever the file names: a stranger's checkpoint is safe to open.
    """
    model = build(model_or_id) if isinstance(model_or_id, str) else model_or_id
    load_state_dict(model, pdparams.load(path), source=f"'{os.fspath(path)}'")
    return model

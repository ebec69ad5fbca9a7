"""The single source of truth for every ResNet this project knows: topology, flags, names and layouts.

Every implementation (pytorch_impl, keras_impl, paddle_impl) builds its networks from the
`BlockSpec`s here, and every weight transfer goes through the canonical keys and layout defined
here. This module imports no deep-learning framework, so any process may load it.

Canonical interchange format
----------------------------
* Layer names follow keras.applications (``conv1_conv``, ``conv2_block1_0_bn``, ``post_bn``,
  ``predictions``), extended to basic blocks for resnet18/34.
* A parameter's canonical key is ``f"{layer}.{param}"`` with ``param`` in ``CANONICAL_PARAMS[kind]``:
  conv ``weight`` (+ ``bias``), bn ``weight``/``bias``/``running_mean``/``running_var``, dense
  ``weight``/``bias``.
* Canonical layout is the ONNX/PyTorch one: conv weights ``[out, in, kh, kw]``, dense weights
  ``[out, in]``, everything else 1-D ``[C]``; dtype float32 (float64 where a checkpoint holds float64).

Stems
-----
The ImageNet ids (torchvision, paddle.vision, keras.applications) have a 7x7/2 stem conv and a 3x3/2
max-pool and take 224x224 images. The ``*_cifar`` ids are the CIFAR ResNets of the training blogs
(kuangliu/pytorch-cifar and its ports): a 3x3/1 stem conv (padding 1, no bias) + BN + ReLU with no
max-pool, then torchvision's stages; they take 32x32 images and default to 10 classes. Every size a
spec records (``LayerSpec.output_shape``, ``BlockSpec.input_size``) is at the id's own
``ModelSpec.input_size``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any, Collection, Literal, Mapping

import numpy as np

SPEC_VERSION = "1"
CANONICAL_LAYOUT = "conv:OIHW,dense:OI"
FRAMEWORKS = ("torch", "keras", "paddle")
PRECISIONS = ("float64", "float32")  # float64 first: the proof, the truth float32 (what users run) is measured against
IMAGENET_INPUT_SIZE = 224
CIFAR_INPUT_SIZE = 32
NO_HEAD = 0  # num_classes of a headless model: pooled features, no `predictions` layer
STAGE_WIDTHS = (64, 128, 256, 512)

LayerKind = Literal["conv", "bn", "dense"]
BlockKind = Literal["basic", "bottleneck", "preact_bottleneck"]
ShortcutKind = Literal["projection", "identity", "maxpool"]
StemKind = Literal["imagenet", "cifar"]

CANONICAL_PARAMS: dict[str, tuple[str, ...]] = {
    "conv": ("weight", "bias"),
    "bn": ("weight", "bias", "running_mean", "running_var"),
    "dense": ("weight", "bias"),
}

# Native parameter names, position for position with CANONICAL_PARAMS. For Keras the tuple is also
# the order of `layer.get_weights()` (Conv2D: kernel, bias; BatchNormalization: gamma, beta,
# moving_mean, moving_variance; Dense: kernel, bias).
NATIVE_PARAMS: dict[str, dict[str, tuple[str, ...]]] = {
    "torch": CANONICAL_PARAMS,
    "paddle": {**CANONICAL_PARAMS, "bn": ("weight", "bias", "_mean", "_variance")},
    "keras": {
        "conv": ("kernel", "bias"),
        "bn": ("gamma", "beta", "moving_mean", "moving_variance"),
        "dense": ("kernel", "bias"),
    },
}

# Axis permutation taking a canonical array to the framework's layout (absent: identical layout).
# Keras conv kernels are [kh, kw, in, out]; Keras and Paddle dense kernels are [in, out].
NATIVE_PERMUTATION: dict[str, dict[tuple[str, str], tuple[int, ...]]] = {
    "torch": {},
    "paddle": {("dense", "weight"): (1, 0)},
    "keras": {("conv", "weight"): (2, 3, 1, 0), ("dense", "weight"): (1, 0)},
}


class UnknownModelError(ValueError):
    """Raised for a model id the spec does not define; the message lists the valid ids."""


class UnknownFrameworkError(ValueError):
    """Raised for a framework name other than torch, keras or paddle."""


@dataclass(frozen=True)
class LayerSpec:
    """One parameterised layer, in forward order, with everything needed to build or map it."""

    name: str  # canonical (keras.applications-style) name
    kind: LayerKind
    block: str  # "stem", "conv2_block1", ..., "post", "head"
    shapes: Mapping[str, tuple[int, ...]]  # canonical param name -> canonical shape
    module_path: str  # the module path in torch and in paddle (the same), e.g. "layer1.0.conv1"
    in_channels: int = 0
    out_channels: int = 0
    kernel_size: int = 0
    stride: int = 1
    padding: int = 0  # symmetric zero padding on each side (convs)
    bias: bool = False
    eps: float = 0.0  # BN epsilon
    output_shape: tuple[int, ...] = ()  # (C, H, W) or (classes,) at the model's input_size

    def native_name(self, framework: str) -> str:
        """The layer's name in `framework`: a module path (torch, paddle) or a layer name (keras)."""
        check_framework(framework)
        return self.name if framework == "keras" else self.module_path

    def native_key(self, param: str, framework: str) -> str:
        """Native key of one canonical parameter, e.g. 'layer1.0.bn1._mean' or 'conv2_block1_1_bn/beta'."""
        native = NATIVE_PARAMS[framework][self.kind][CANONICAL_PARAMS[self.kind].index(param)]
        separator = "/" if framework == "keras" else "."
        return f"{self.native_name(framework)}{separator}{native}"

    def canonical_key(self, param: str) -> str:
        return f"{self.name}.{param}"


@dataclass(frozen=True)
class BlockSpec:
    """One residual block: what the implementations build, layer names come from the same place."""

    name: str  # keras-style prefix, e.g. "conv3_block1"
    module_path: str  # the module path in torch and in paddle, e.g. "layer2.0"
    kind: BlockKind
    in_channels: int
    width: int  # channels of the inner convs
    out_channels: int
    stride: int
    stride_on: Literal["conv1", "conv2"]  # which conv of the block carries the stride
    shortcut: ShortcutKind
    conv_bias: Mapping[str, bool]  # role ("conv0" shortcut, "conv1".."conv3") -> has bias
    relu_after_add: bool
    input_size: int  # spatial size of the block's input at the model's input_size

    @property
    def output_size(self) -> int:
        return self.input_size // self.stride


@dataclass(frozen=True)
class ModelSpec:
    """Everything that defines one model id: the reference it equals, flags, blocks and layers."""

    model_id: str
    family: Literal["torchvision", "keras_v1", "keras_v2"]
    description: str
    references: Mapping[str, str]  # framework -> reference constructor it must equal
    block_kind: BlockKind
    depths: tuple[int, ...]
    stride_on: Literal["conv1", "conv2"]
    stride_block: Literal["first", "last"]
    bn_eps: float
    stem: StemKind  # "imagenet": 7x7/2 conv + 3x3/2 max-pool; "cifar": 3x3/1 conv, no max-pool
    input_size: int  # default square input (224, or 32 for the CIFAR ids); every recorded size is at it
    stem_bias: bool
    stem_bn: bool  # False for V2: the stem conv feeds the pool directly
    stem_pool_padding: Literal["neg_inf", "zero"] | None  # None: no stem max-pool (CIFAR stem)
    post_norm: bool  # V2: post_bn + post_relu before pooling
    default_head: Literal["logits", "softmax"]
    num_classes: int
    blocks: tuple[BlockSpec, ...]
    layers: tuple[LayerSpec, ...]

    @property
    def preact(self) -> bool:
        return self.block_kind == "preact_bottleneck"

    @property
    def headless(self) -> bool:
        """No classifier: the model ends in the global average pool (torch without fc, keras include_top=False)."""
        return self.num_classes == NO_HEAD

    @property
    def feature_channels(self) -> int:
        return self.blocks[-1].out_channels

    @property
    def reduction(self) -> int:
        """Input size over the final feature map's size: 32 for the ImageNet stem, 8 for the CIFAR stem."""
        return self.input_size // self.blocks[-1].output_size

    def layer(self, name: str) -> LayerSpec:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(f"{self.model_id} has no layer {name!r}")

    def layers_of(self, block: str) -> tuple[LayerSpec, ...]:
        return tuple(layer for layer in self.layers if layer.block == block)

    def canonical_shapes(self) -> dict[str, tuple[int, ...]]:
        """Every canonical key with its canonical shape, in forward order."""
        return {layer.canonical_key(p): s for layer in self.layers for p, s in layer.shapes.items()}

    def native_shapes(self, framework: str) -> dict[str, tuple[int, ...]]:
        """Every native key of `framework` with its shape in that framework's layout, in forward order."""
        shapes = {}
        for layer in self.layers:
            for param, shape in layer.shapes.items():
                perm = native_permutation(framework, layer.kind, param)
                shapes[layer.native_key(param, framework)] = tuple(shape[axis] for axis in perm) if perm else shape
        return shapes

    def num_params(self, include_running_stats: bool = False) -> int:
        """Trainable parameter count (torchvision's convention); Keras' count_params() includes BN statistics."""
        return sum(
            int(np.prod(shape))
            for key, shape in self.canonical_shapes().items()
            if include_running_stats or not key.endswith(("running_mean", "running_var"))
        )


# --------------------------------------------------------------------------------------------
# Model ids


@dataclass(frozen=True)
class _Stem:
    """A stem kind: the default input it is made for, its conv, and whether a 3x3/2 max-pool follows."""

    input_size: int
    kernel: int
    stride: int
    max_pool: bool


STEMS: dict[str, _Stem] = {
    "imagenet": _Stem(input_size=IMAGENET_INPUT_SIZE, kernel=7, stride=2, max_pool=True),
    "cifar": _Stem(input_size=CIFAR_INPUT_SIZE, kernel=3, stride=1, max_pool=False),
}


@dataclass(frozen=True)
class _Variant:
    family: Literal["torchvision", "keras_v1", "keras_v2"]
    block_kind: BlockKind
    depths: tuple[int, ...]
    references: Mapping[str, str]
    description: str
    stem: StemKind = "imagenet"
    num_classes: int = 1000  # the default head size


def _tv(depths: tuple[int, ...], block: BlockKind, name: str) -> _Variant:
    refs = {"torch": f"torchvision.models.{name}", "paddle": f"paddle.vision.models.{name}"}
    kind = "basic blocks" if block == "basic" else "bottleneck v1.5, stride on the 3x3"
    return _Variant("torchvision", block, depths, refs, f"torchvision/paddle.vision {name}: {kind}")


def _cifar(depths: tuple[int, ...], block: BlockKind, name: str) -> _Variant:
    """The CIFAR ResNet of the training blogs: torchvision's `name` behind a 3x3/1 stem without max-pool."""
    description = f"CIFAR {name}: torchvision's {name} stages behind a 3x3/1 stem conv, no max-pool; 32x32, 10 classes"
    return _Variant("torchvision", block, depths, {}, description, stem="cifar", num_classes=10)


def _keras(family: Literal["keras_v1", "keras_v2"], depths: tuple[int, ...], name: str) -> _Variant:
    block: BlockKind = "bottleneck" if family == "keras_v1" else "preact_bottleneck"
    what = "original v1, stride on the first 1x1" if family == "keras_v1" else "pre-activation"
    return _Variant(family, block, depths, {"keras": f"keras.applications.{name}"}, f"keras.applications {name}: {what}")


_VARIANTS: dict[str, _Variant] = {
    "resnet18": _tv((2, 2, 2, 2), "basic", "resnet18"),
    "resnet34": _tv((3, 4, 6, 3), "basic", "resnet34"),
    "resnet50": _tv((3, 4, 6, 3), "bottleneck", "resnet50"),
    "resnet101": _tv((3, 4, 23, 3), "bottleneck", "resnet101"),
    "resnet152": _tv((3, 8, 36, 3), "bottleneck", "resnet152"),
    "resnet50_v1": _keras("keras_v1", (3, 4, 6, 3), "ResNet50"),
    "resnet101_v1": _keras("keras_v1", (3, 4, 23, 3), "ResNet101"),
    "resnet152_v1": _keras("keras_v1", (3, 8, 36, 3), "ResNet152"),
    "resnet50v2": _keras("keras_v2", (3, 4, 6, 3), "ResNet50V2"),
    "resnet101v2": _keras("keras_v2", (3, 4, 23, 3), "ResNet101V2"),
    "resnet152v2": _keras("keras_v2", (3, 8, 36, 3), "ResNet152V2"),
    "resnet18_cifar": _cifar((2, 2, 2, 2), "basic", "resnet18"),
    "resnet34_cifar": _cifar((3, 4, 6, 3), "basic", "resnet34"),
    "resnet50_cifar": _cifar((3, 4, 6, 3), "bottleneck", "resnet50"),
    "resnet101_cifar": _cifar((3, 4, 23, 3), "bottleneck", "resnet101"),
    "resnet152_cifar": _cifar((3, 8, 36, 3), "bottleneck", "resnet152"),
}

MODEL_IDS: tuple[str, ...] = tuple(_VARIANTS)


def check_framework(framework: str) -> str:
    if framework not in FRAMEWORKS:
        raise UnknownFrameworkError(f"unknown framework {framework!r}; valid: {', '.join(FRAMEWORKS)}")
    return framework


def check_precision(dtype: str) -> str:
    """`dtype` when it is one of PRECISIONS, else ValueError naming them."""
    if dtype not in PRECISIONS:
        raise ValueError(f"dtype must be one of {', '.join(PRECISIONS)}, got {dtype!r}")
    return dtype


def get(model_id: str, num_classes: int | None = None) -> ModelSpec:
    """The spec of `model_id` with `num_classes` outputs (None: the id's default, 1000 or 10 for the CIFAR ids;
    NO_HEAD: headless); unknown ids and num_classes < 0 raise ValueError with the valid choices."""
    if model_id not in _VARIANTS:
        raise UnknownModelError(f"unknown model id {model_id!r}; valid ids: {', '.join(MODEL_IDS)}")
    if num_classes is None:
        num_classes = _VARIANTS[model_id].num_classes
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < NO_HEAD:
        raise ValueError(f"num_classes must be an integer >= 1, or {NO_HEAD} for no head, got {num_classes!r}")
    return _build(model_id, num_classes)


@cache
def _build(model_id: str, num_classes: int) -> ModelSpec:
    variant = _VARIANTS[model_id]
    family = variant.family
    keras_family = family != "torchvision"
    eps = 1.001e-5 if keras_family else 1e-5
    stem_bias = keras_family
    stem = STEMS[variant.stem]
    builder = _LayerBuilder(eps)

    size = stem.input_size // stem.stride
    builder.conv("conv1_conv", "stem", "conv1", 3, 64, stem.kernel, stem.stride, stem.kernel // 2, stem_bias,
                 (64, size, size))
    if family != "keras_v2":
        builder.bn("conv1_bn", "stem", "bn1", 64, (64, size, size))
    if stem.max_pool:
        size //= 2  # 3x3/2

    blocks = []
    in_channels = 64
    for stage, (depth, width) in enumerate(zip(variant.depths, STAGE_WIDTHS)):
        block = _make_blocks(variant, stage, depth, width, in_channels, size)
        blocks.extend(block)
        for spec in block:
            builder.block(spec)
        in_channels = block[-1].out_channels
        size = block[-1].output_size

    if family == "keras_v2":
        builder.bn("post_bn", "post", "post_bn", in_channels, (in_channels, size, size))
    if num_classes != NO_HEAD:
        builder.dense("predictions", "head", "fc", in_channels, num_classes)

    return ModelSpec(
        model_id=model_id,
        family=family,
        description=variant.description,
        references=variant.references,
        block_kind=variant.block_kind,
        depths=variant.depths,
        stride_on="conv1" if family == "keras_v1" or variant.block_kind == "basic" else "conv2",
        stride_block="last" if family == "keras_v2" else "first",
        bn_eps=eps,
        stem=variant.stem,
        input_size=stem.input_size,
        stem_bias=stem_bias,
        stem_bn=family != "keras_v2",
        stem_pool_padding=None if not stem.max_pool else "zero" if family == "keras_v2" else "neg_inf",
        post_norm=family == "keras_v2",
        default_head="softmax" if keras_family else "logits",
        num_classes=num_classes,
        blocks=tuple(blocks),
        layers=tuple(builder.layers),
    )


def _make_blocks(variant: _Variant, stage: int, depth: int, width: int, in_channels: int, size: int) -> list[BlockSpec]:
    """The blocks of one stage (stage 0 is keras' conv2 / torch's layer1)."""
    family, kind = variant.family, variant.block_kind
    expansion = 1 if kind == "basic" else 4
    out_channels = width * expansion
    if family == "keras_v2":
        stage_stride = 2 if stage < 3 else 1  # stride in the LAST block of conv2..conv4
        strided_block = depth - 1
    else:
        stage_stride = 1 if stage == 0 else 2  # stride in the FIRST block of conv3..conv5
        strided_block = 0
    bias_roles = {
        "torchvision": (),
        "keras_v1": ("conv0", "conv1", "conv2", "conv3"),
        "keras_v2": ("conv0", "conv3"),
    }[family]

    blocks = []
    for index in range(depth):
        stride = stage_stride if index == strided_block else 1
        if family == "torchvision":
            projection = stride != 1 or in_channels != out_channels
        else:
            projection = index == 0  # keras: conv_shortcut=True only on block1
        if projection:
            shortcut: ShortcutKind = "projection"
        elif stride > 1:
            shortcut = "maxpool"  # keras V2: MaxPooling2D(1, strides=stride)
        else:
            shortcut = "identity"
        blocks.append(
            BlockSpec(
                name=f"conv{stage + 2}_block{index + 1}",
                module_path=f"layer{stage + 1}.{index}",
                kind=kind,
                in_channels=in_channels,
                width=width,
                out_channels=out_channels,
                stride=stride,
                stride_on="conv1" if family == "keras_v1" or kind == "basic" else "conv2",
                shortcut=shortcut,
                conv_bias={role: role in bias_roles for role in ("conv0", "conv1", "conv2", "conv3")},
                relu_after_add=family != "keras_v2",
                input_size=size,
            )
        )
        in_channels = out_channels
        size //= stride
    return blocks


class _LayerBuilder:
    """Accumulates LayerSpecs in forward order (the order keras.applications creates them)."""

    def __init__(self, eps: float) -> None:
        self.eps = eps
        self.layers: list[LayerSpec] = []

    def conv(self, name: str, block: str, path: str, cin: int, cout: int, k: int, stride: int, pad: int,
             bias: bool, output_shape: tuple[int, ...]) -> None:
        shapes = {"weight": (cout, cin, k, k), **({"bias": (cout,)} if bias else {})}
        self.layers.append(LayerSpec(name, "conv", block, shapes, path, cin, cout, k, stride, pad, bias,
                                     output_shape=output_shape))

    def bn(self, name: str, block: str, path: str, channels: int, output_shape: tuple[int, ...]) -> None:
        shapes = {p: (channels,) for p in CANONICAL_PARAMS["bn"]}
        self.layers.append(LayerSpec(name, "bn", block, shapes, path, channels, channels, bias=True,
                                     eps=self.eps, output_shape=output_shape))

    def dense(self, name: str, block: str, path: str, cin: int, cout: int) -> None:
        shapes = {"weight": (cout, cin), "bias": (cout,)}
        self.layers.append(LayerSpec(name, "dense", block, shapes, path, cin, cout, bias=True,
                                     output_shape=(cout,)))

    def block(self, b: BlockSpec) -> None:
        """A block's layers: shortcut first (keras creates it first), then the main branch."""
        out, n, path = b.output_size, b.name, b.module_path
        if b.kind == "preact_bottleneck":
            self.bn(f"{n}_preact_bn", n, f"{path}.preact_bn", b.in_channels, (b.in_channels, b.input_size, b.input_size))
        if b.shortcut == "projection":
            self.conv(f"{n}_0_conv", n, f"{path}.downsample.0", b.in_channels, b.out_channels, 1, b.stride, 0,
                      b.conv_bias["conv0"], (b.out_channels, out, out))
            if b.kind != "preact_bottleneck":
                self.bn(f"{n}_0_bn", n, f"{path}.downsample.1", b.out_channels, (b.out_channels, out, out))
        if b.kind == "basic":
            convs = [(b.in_channels, b.out_channels, 3, b.stride), (b.out_channels, b.out_channels, 3, 1)]
        else:
            s1, s2 = (b.stride, 1) if b.stride_on == "conv1" else (1, b.stride)
            convs = [(b.in_channels, b.width, 1, s1), (b.width, b.width, 3, s2), (b.width, b.out_channels, 1, 1)]
        size = b.input_size
        for role, (cin, cout, k, stride) in enumerate(convs, start=1):
            size //= stride
            self.conv(f"{n}_{role}_conv", n, f"{path}.conv{role}", cin, cout, k, stride, k // 2,
                      b.conv_bias[f"conv{role}"], (cout, size, size))
            if not (b.kind == "preact_bottleneck" and role == 3):  # V2: no BN after the last conv
                self.bn(f"{n}_{role}_bn", n, f"{path}.bn{role}", cout, (cout, size, size))


# --------------------------------------------------------------------------------------------
# Layout conversion (numpy only): the one place where canonical <-> native permutations live.


def native_permutation(framework: str, kind: str, param: str) -> tuple[int, ...] | None:
    return NATIVE_PERMUTATION[check_framework(framework)].get((kind, param))


def to_native(spec: ModelSpec, canonical: Mapping[str, np.ndarray], framework: str) -> dict[str, np.ndarray]:
    """Canonical arrays -> {native key: array in the framework's layout}; checks keys and shapes."""
    check_canonical(spec, canonical)
    native = {}
    for layer in spec.layers:
        for param in layer.shapes:
            array = canonical[layer.canonical_key(param)]
            perm = native_permutation(framework, layer.kind, param)
            native[layer.native_key(param, framework)] = np.ascontiguousarray(array.transpose(perm) if perm else array)
    return native


def from_native(spec: ModelSpec, native: Mapping[str, np.ndarray], framework: str,
                params: Collection[str] | None = None) -> dict[str, np.ndarray]:
    """{native key: array} -> canonical arrays (float32, float64 kept) of every parameter, or of the canonical
    `params` only (e.g. the trainable weight and bias); missing keys and wrong shapes raise, naming each."""
    canonical, problems = {}, []
    for layer in spec.layers:
        for param, shape in layer.shapes.items():
            if params is not None and param not in params:
                continue
            key = layer.native_key(param, framework)
            if key not in native:
                problems.append(f"missing {key}")
                continue
            array = np.asarray(native[key])
            perm = native_permutation(framework, layer.kind, param)
            if perm:
                array = array.transpose(np.argsort(perm))
            if tuple(array.shape) != shape:
                problems.append(f"{key}: shape {tuple(np.asarray(native[key]).shape)} does not fit {layer.canonical_key(param)} {shape}")
                continue
            canonical[layer.canonical_key(param)] = np.ascontiguousarray(array, dtype=wide_enough(array))
    if problems:
        raise WeightMismatchError(spec.model_id, framework, problems)
    return canonical


def wide_enough(array: np.ndarray) -> type[np.floating]:
    """float64 for a float64 array (a float64 checkpoint keeps its precision), float32 for every other dtype."""
    return np.float64 if np.asarray(array).dtype == np.float64 else np.float32


def check_canonical(spec: ModelSpec, canonical: Mapping[str, np.ndarray]) -> None:
    """Raise WeightMismatchError naming every missing, unexpected or mis-shaped canonical key."""
    problems = shape_problems(spec.canonical_shapes(), shapes_of(canonical))
    if problems:
        raise WeightMismatchError(spec.model_id, "canonical", problems)


def shapes_of(tensors: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
    """{key: shape} of any arrays or framework tensors (anything with `.shape`)."""
    return {key: tuple(value.shape) for key, value in tensors.items()}


def shape_problems(expected: Mapping[str, tuple[int, ...]], given: Mapping[str, tuple[int, ...]]) -> list[str]:
    """Every key of `given` that is missing, unexpected or mis-shaped against `expected`, one line each."""
    problems = [f"missing {key}" for key in expected if key not in given]
    problems += [f"unexpected {key}" for key in given if key not in expected]
    problems += [f"{key}: shape {tuple(given[key])}, expected {tuple(shape)}"
                 for key, shape in expected.items() if key in given and tuple(given[key]) != tuple(shape)]
    return problems


class WeightMismatchError(ValueError):
    """Weights that do not fit a model id; the message lists every offending key."""

    def __init__(self, model_id: str, source: str, problems: list[str]) -> None:
        self.problems = problems
        listing = "\n  ".join(problems)
        super().__init__(f"{len(problems)} {source} weight key(s) do not fit {model_id}:\n  {listing}")


# --------------------------------------------------------------------------------------------
# Preprocessing: what each weight origin's models were trained on (data, framework-free)


@dataclass(frozen=True)
class Preprocessing:
    """One input convention, in the order its reference computes it: from an RGB image with values in [0, 255],
    ``model_input[c] = (rgb255[source[c]] / divisor - mean[c]) / std[c]`` with ``source`` = (0, 1, 2) for RGB and
    (2, 1, 0) for BGR; mean and std are listed in the model input's channel order."""

    style: str
    channel_order: Literal["RGB", "BGR"]
    divisor: float
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    reference: str  # the function that computes it in its ecosystem

    @property
    def source_channels(self) -> tuple[int, int, int]:
        """Which RGB channel feeds each model input channel."""
        return (2, 1, 0) if self.channel_order == "BGR" else (0, 1, 2)


NO_PREPROCESSING = "none"
PREPROCESSING: dict[str, Preprocessing] = {
    # keras.applications.imagenet_utils.preprocess_input(mode="caffe"): x[..., ::-1], then x[..., c] -= mean[c]
    "caffe": Preprocessing("caffe", "BGR", 1.0, (103.939, 116.779, 123.68), (1.0, 1.0, 1.0),
                           "keras.applications.resnet.preprocess_input"),
    # mode="tf": x /= 127.5; x -= 1.0
    "tf": Preprocessing("tf", "RGB", 127.5, (1.0, 1.0, 1.0), (1.0, 1.0, 1.0),
                        "keras.applications.resnet_v2.preprocess_input"),
    # torchvision ToTensor (x / 255) + Normalize(IMAGENET mean, std); paddle.vision ToTensor + Normalize likewise
    "torch": Preprocessing("torch", "RGB", 255.0, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225),
                           "torchvision.transforms.ToTensor + Normalize(mean=(0.485, 0.456, 0.406), "
                           "std=(0.229, 0.224, 0.225))"),
    # kuangliu/pytorch-cifar's transform_test: ToTensor + Normalize(CIFAR-10 mean, std)
    "cifar": Preprocessing("cifar", "RGB", 255.0, (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010),
                           "torchvision.transforms.ToTensor + Normalize(mean=(0.4914, 0.4822, 0.4465), "
                           "std=(0.2023, 0.1994, 0.2010))"),
}
PREPROCESS_CHOICES: tuple[str, ...] = (NO_PREPROCESSING, *PREPROCESSING)


@dataclass(frozen=True)
class ImagePipeline:
    """How an origin's reference pipeline turns a decoded RGB image into the model's square input."""

    resize: int  # resize_shorter: the shorter side becomes this (aspect kept); direct: both sides become crop
    mode: Literal["resize_shorter", "direct"]
    crop: int  # centre crop of this size (equal to the image size after a direct resize)
    interpolation: Literal["bilinear", "nearest"]
    reference: str


@dataclass(frozen=True)
class Origin:
    """Where a model id's weights come from: the preprocessing they were trained with and the reference pipeline."""

    name: str
    preprocessing: str  # a key of PREPROCESSING
    pipeline: ImagePipeline


ORIGINS: dict[str, Origin] = {
    "torchvision": Origin("torchvision / paddle.vision", "torch", ImagePipeline(
        256, "resize_shorter", 224, "bilinear",
        "torchvision ResNet*_Weights.IMAGENET1K_V1.transforms(): Resize(256, bilinear) + CenterCrop(224); "
        "paddle.vision: Resize(256) + CenterCrop(224)")),
    "keras_v1": Origin("keras.applications ResNet (v1)", "caffe", ImagePipeline(
        224, "direct", 224, "nearest", "keras.utils.load_img(path, target_size=(224, 224)) (interpolation='nearest')")),
    "keras_v2": Origin("keras.applications ResNetV2", "tf", ImagePipeline(
        224, "direct", 224, "nearest", "keras.utils.load_img(path, target_size=(224, 224)) (interpolation='nearest')")),
    "cifar": Origin("CIFAR training blogs (kuangliu/pytorch-cifar)", "cifar", ImagePipeline(
        32, "direct", 32, "bilinear", "CIFAR images are 32x32 already; other images are resized to 32x32, bilinear")),
}


def origin(model_id: str) -> Origin:
    """The weight origin of a model id: its topology says who trains it (keras v1/v2 ids: keras.applications;
    torchvision ids: torchvision and paddle.vision; CIFAR ids: the CIFAR blogs), whatever file format carries it."""
    spec = get(model_id)
    return ORIGINS["cifar" if spec.stem == "cifar" else spec.family]


def preprocessing(style: str) -> Preprocessing:
    """The Preprocessing of `style`; unknown styles raise ValueError listing the valid ones."""
    if style not in PREPROCESSING:
        raise ValueError(f"unknown preprocessing {style!r}; valid: {', '.join(PREPROCESSING)}")
    return PREPROCESSING[style]

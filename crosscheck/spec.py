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

Variants
--------
Each id is a ``Variant`` in ``VARIANTS``: its family (whose conventions, ``CONVENTIONS``: epsilon, biases,
where strides and projections go), block kind (basic, bottleneck, pre-activation bottleneck) with
``groups`` and ``width_per_group`` (torchvision's ResNeXt / Wide ResNet parameters), depths, stem kind
(``STEMS``), the shortcut of a block that changes shape, and its default head. ``get`` turns a Variant
into blocks and layers; ``get`` of a Variant not in the registry builds it the same way.

The ImageNet ids (torchvision, paddle.vision, keras.applications) have a 7x7/2 stem conv and a 3x3/2
max-pool and take 224x224 images. The ``*_cifar`` ids are the CIFAR ResNets of the training blogs
(kuangliu/pytorch-cifar and its ports): a 3x3/1 stem conv (padding 1, no bias) + BN + ReLU with no
max-pool, then torchvision's stages; they take 32x32 images and default to 10 classes. Every size a
spec records (``LayerSpec.output_shape``, ``BlockSpec.input_size``) is at the id's own
``ModelSpec.input_size``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import cache
from typing import Any, Collection, Literal, Mapping

import numpy as np

SPEC_VERSION = "1"
CANONICAL_LAYOUT = "conv:OIHW,dense:OI"
NAMINGS = ("torch", "keras", "paddle")  # the key namings and weight layouts (crosscheck/backends: who speaks which)
PRECISIONS = ("float64", "float32")  # float64 first: the proof, the truth float32 (what users run) is measured against
IMAGENET_INPUT_SIZE = 224
CIFAR_INPUT_SIZE = 32
NO_HEAD = 0  # num_classes of a headless model: pooled features, no `predictions` layer
STAGE_WIDTHS = (64, 128, 256, 512)

LayerKind = Literal["conv", "bn", "dense"]
Family = Literal["torchvision", "keras_v1", "keras_v2"]
BlockKind = Literal["basic", "bottleneck", "preact_bottleneck"]
# "projection": 1x1 strided conv (+ BN); "avgpool_projection": ResNet-D's 2x2 average pool, then a 1x1 stride-1
# conv + BN; "maxpool": keras V2's MaxPooling2D(1, stride) on a strided block without projection; "identity".
ShortcutKind = Literal["projection", "avgpool_projection", "identity", "maxpool"]
StemKind = Literal["imagenet", "cifar", "deep"]
AttentionKind = Literal["se"]
Gate = Literal["sigmoid", "hard_sigmoid"]
AttentionPosition = Literal["before_add", "after_add"]

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
    """Raised for a participant (crosscheck/backends) or key naming crosscheck does not know; the message lists the valid ones."""


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
    groups: int = 1  # grouped conv: each of `groups` slices of the output sees its own slice of the input

    def native_name(self, framework: str) -> str:
        """The layer's name in `framework`: a module path (torch, paddle) or a layer name (keras)."""
        check_naming(framework)
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
    groups: int  # groups of the 3x3 conv of a bottleneck (ResNeXt's cardinality)
    stride: int
    stride_on: Literal["conv1", "conv2"]  # which conv of the block carries the stride
    shortcut: ShortcutKind
    conv_bias: Mapping[str, bool]  # role ("conv0" shortcut, "conv1".."conv3") -> has bias
    relu_after_add: bool
    input_size: int  # spatial size of the block's input at the model's input_size
    attention: AttentionKind | None = None  # a channel attention module on the main branch (`ATTENTIONS`)
    attention_channels: int = 0  # its reduced width (timm's rd_channels)
    gate: Gate = "sigmoid"  # the attention's gate
    attention_at: AttentionPosition = "before_add"  # timm: after bn3, before the residual add

    @property
    def output_size(self) -> int:
        return self.input_size // self.stride


@dataclass(frozen=True)
class ModelSpec:
    """Everything that defines one model id: the reference it equals, flags, blocks and layers."""

    model_id: str
    family: Family
    description: str
    references: Mapping[str, str]  # framework -> reference constructor it must equal
    block_kind: BlockKind
    depths: tuple[int, ...]
    groups: int  # of every bottleneck's 3x3 conv
    width_per_group: int  # torchvision's base_width: a bottleneck is int(planes * width_per_group / 64) * groups wide
    stride_on: Literal["conv1", "conv2"]
    stride_block: Literal["first", "last"]
    bn_eps: float
    stem: StemKind  # "imagenet": 7x7/2 conv + 3x3/2 max-pool; "cifar": 3x3/1 conv, no max-pool
    input_size: int  # default square input (224, or 32 for the CIFAR ids); every recorded size is at it
    stem_bias: bool
    stem_bn: bool  # False for V2: the stem conv feeds the pool directly
    stem_pool_padding: Literal["neg_inf", "zero"] | None  # None: no stem max-pool (CIFAR stem)
    post_norm: bool  # V2: post_bn + post_relu before pooling
    same_padding: bool  # keras.applications v1 writes its stride-1 3x3 block convs as padding="same"
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
    def plain_blocks(self) -> bool:
        """Every block is torchvision's, paddle.vision's or keras.applications': no attention module, no average-pool
        shortcut (timm's seresnet50 and resnet50d are not)."""
        return all(b.attention is None and b.shortcut != "avgpool_projection" for b in self.blocks)

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
# Model ids as data: a Variant per id (its kwargs, as torchvision's builders and timm's model_args), the stems,
# and each family's conventions; `_build` turns them into blocks and layers without branching on names.


@dataclass(frozen=True)
class Stem:
    """A stem kind: its convs in order (each followed by BN + ReLU, the last one's only where the family's stem has
    it), whether a 3x3/2 max-pool follows, and the default input it is made for."""

    description: str
    input_size: int
    convs: tuple[tuple[int, int, int], ...]  # (kernel, stride, out_channels)
    max_pool: bool


@dataclass(frozen=True)
class Attention:
    """A channel attention kind: global average, 1x1 conv (bias) to the reduced width, ReLU, 1x1 conv (bias) back,
    the gate, then the block's features times the gate; timm's SEModule with its defaults."""

    description: str
    rd_ratio: float  # reduced width = make_divisible(channels * rd_ratio, rd_divisor), timm's rule
    rd_divisor: int
    gate: Gate


ATTENTIONS: dict[str, Attention] = {
    "se": Attention("squeeze-excitation (timm's SEModule: rd_ratio 1/16, divisor 8, sigmoid gate)", 1 / 16, 8,
                    "sigmoid"),
}


def make_divisible(value: float, divisor: int) -> int:
    """timm's `make_divisible(value, divisor, round_limit=0.)` as SEModule calls it: the nearest multiple of
    `divisor` (halves round up), at least `divisor`; round_limit 0 never adds a divisor back."""
    return max(divisor, int(value + divisor / 2) // divisor * divisor)


STEMS: dict[str, Stem] = {
    "imagenet": Stem("the ImageNet stem (7x7/2 conv + 3x3/2 max-pool)", IMAGENET_INPUT_SIZE, ((7, 2, 64),), True),
    "cifar": Stem("the CIFAR stem (3x3/1 conv, no max-pool)", CIFAR_INPUT_SIZE, ((3, 1, 64),), False),
    "deep": Stem("the deep stem (3x3/2, 3x3, 3x3 convs + 3x3/2 max-pool; ResNet-C/D, timm's resnet50d)",
                 IMAGENET_INPUT_SIZE, ((3, 2, 32), (3, 1, 32), (3, 1, 64)), True),
}


@dataclass(frozen=True)
class Conventions:
    """What a family's reference does alike in all its ids: epsilon, biases, where strides and projections go."""

    bn_eps: float
    conv_bias: tuple[str, ...]  # block conv roles with a bias: "conv0" (projection shortcut), "conv1".."conv3"
    stem_bias: bool
    stem_bn: bool  # False: the stem conv feeds the pool directly (pre-activation)
    stem_pool_padding: Literal["neg_inf", "zero"]
    bottleneck_stride_on: Literal["conv1", "conv2"]  # basic blocks always stride their first conv
    stride_block: Literal["first", "last"]  # first block of conv3..conv5, or last block of conv2..conv4
    projection: Literal["on_change", "first_block"]  # when the stride or width changes (torch), or on block1 (keras)
    relu_after_add: bool
    post_norm: bool  # a final BN + ReLU before the pool (pre-activation)
    same_padding: bool  # stride-1 3x3 block convs written as padding="same" (keras.applications v1)
    default_head: Literal["logits", "softmax"]


CONVENTIONS: dict[str, Conventions] = {
    "torchvision": Conventions(
        bn_eps=1e-5, conv_bias=(), stem_bias=False, stem_bn=True, stem_pool_padding="neg_inf",
        bottleneck_stride_on="conv2", stride_block="first", projection="on_change", relu_after_add=True,
        post_norm=False, same_padding=False, default_head="logits"),
    "keras_v1": Conventions(
        bn_eps=1.001e-5, conv_bias=("conv0", "conv1", "conv2", "conv3"), stem_bias=True, stem_bn=True,
        stem_pool_padding="neg_inf", bottleneck_stride_on="conv1", stride_block="first", projection="first_block",
        relu_after_add=True, post_norm=False, same_padding=True, default_head="softmax"),
    "keras_v2": Conventions(
        bn_eps=1.001e-5, conv_bias=("conv0", "conv3"), stem_bias=True, stem_bn=False, stem_pool_padding="zero",
        bottleneck_stride_on="conv2", stride_block="last", projection="first_block", relu_after_add=False,
        post_norm=True, same_padding=False, default_head="softmax"),
}


@dataclass(frozen=True)
class TimmEval:
    """The eval fields of timm's `pretrained_cfg` for an id's default weights (bicubic, ImageNet mean/std, centre
    crop): `create_transform` resizes the shorter side to `floor(input_size / crop_pct)`, then crops input_size."""

    tag: str  # the default pretrained tag, e.g. "ra2_in1k"
    input_size: int
    crop_pct: float

    @property
    def resize(self) -> int:
        """timm's `scale_size = math.floor(img_size / crop_pct)`."""
        return math.floor(self.input_size / self.crop_pct)


@dataclass(frozen=True)
class Variant:
    """One model id as data; `get(variant)` builds its ModelSpec, so a new id is one more entry in VARIANTS."""

    model_id: str
    family: Family  # whose conventions it follows
    block: BlockKind
    depths: tuple[int, ...]
    references: Mapping[str, str]  # framework -> reference constructor it must equal
    description: str
    stem: StemKind = "imagenet"
    groups: int = 1  # of each bottleneck's 3x3 conv (ResNeXt's cardinality)
    width_per_group: int = 64  # torchvision's base_width (Wide ResNet: 128)
    downsample: Literal["projection", "avgpool_projection"] = "projection"  # the shortcut where one is needed
    attention: AttentionKind | None = None  # a per-block attention module (`ATTENTIONS`): seresnet50's "se"
    num_classes: int = 1000  # the default head size
    timm_eval: TimmEval | None = None  # set when the id's published weights are timm's: their eval crop


def bottleneck_width(planes: int, groups: int, width_per_group: int) -> int:
    """Channels of a bottleneck's inner convs: torchvision's `int(planes * (base_width / 64.0)) * groups`."""
    return int(planes * (width_per_group / 64.0)) * groups


def _tv(model_id: str, depths: tuple[int, ...], block: BlockKind, in_paddle_vision: bool = True,
        **shape: Any) -> Variant:
    refs = {"torch": f"torchvision.models.{model_id}",
            **({"paddle": f"paddle.vision.models.{model_id}"} if in_paddle_vision else {})}
    kind = "basic blocks" if block == "basic" else "bottleneck v1.5, stride on the 3x3"
    description = f"{'torchvision/paddle.vision' if in_paddle_vision else 'torchvision'} {model_id}: {kind}"
    return Variant(model_id, "torchvision", block, depths, refs, description, **shape)


def _cifar(torchvision_id: str) -> Variant:
    """The CIFAR ResNet of the training blogs: torchvision's id behind a 3x3/1 stem without max-pool."""
    imagenet = VARIANTS[torchvision_id]
    description = (f"CIFAR {torchvision_id}: torchvision's {torchvision_id} stages behind a 3x3/1 stem conv, "
                   "no max-pool; 32x32, 10 classes")
    return replace(imagenet, model_id=f"{torchvision_id}_cifar", references={}, description=description,
                   stem="cifar", num_classes=10)


def _timm(model_id: str, depths: tuple[int, ...], what: str, evaluated: TimmEval, **design: Any) -> Variant:
    """A timm ResNet with torchvision's conventions (BN 1e-5, no conv bias, stride on the 3x3, logits) and its own
    stem, shortcut or attention; timm builds it as `timm.create_model(model_id)`, its weights are timm's."""
    return Variant(model_id, "torchvision", "bottleneck", depths, {"torch": f"timm.models.{model_id}"},
                   f"timm {model_id}: bottleneck v1.5, {what}", timm_eval=evaluated, **design)


def _keras(model_id: str, family: Literal["keras_v1", "keras_v2"], depths: tuple[int, ...], name: str) -> Variant:
    block: BlockKind = "bottleneck" if family == "keras_v1" else "preact_bottleneck"
    what = "original v1, stride on the first 1x1" if family == "keras_v1" else "pre-activation"
    return Variant(model_id, family, block, depths, {"keras": f"keras.applications.{name}"},
                   f"keras.applications {name}: {what}")


def _registry(*variants: Variant) -> dict[str, Variant]:
    return {variant.model_id: variant for variant in variants}


VARIANTS: dict[str, Variant] = _registry(
    _tv("resnet18", (2, 2, 2, 2), "basic"),
    _tv("resnet34", (3, 4, 6, 3), "basic"),
    _tv("resnet50", (3, 4, 6, 3), "bottleneck"),
    _tv("resnet101", (3, 4, 23, 3), "bottleneck"),
    _tv("resnet152", (3, 8, 36, 3), "bottleneck"),
    _tv("resnext50_32x4d", (3, 4, 6, 3), "bottleneck", groups=32, width_per_group=4),
    _tv("resnext101_32x8d", (3, 4, 23, 3), "bottleneck", in_paddle_vision=False, groups=32, width_per_group=8),
    _tv("resnext101_64x4d", (3, 4, 23, 3), "bottleneck", groups=64, width_per_group=4),
    _tv("wide_resnet50_2", (3, 4, 6, 3), "bottleneck", width_per_group=128),
    _tv("wide_resnet101_2", (3, 4, 23, 3), "bottleneck", width_per_group=128),
    _keras("resnet50_v1", "keras_v1", (3, 4, 6, 3), "ResNet50"),
    _keras("resnet101_v1", "keras_v1", (3, 4, 23, 3), "ResNet101"),
    _keras("resnet152_v1", "keras_v1", (3, 8, 36, 3), "ResNet152"),
    _keras("resnet50v2", "keras_v2", (3, 4, 6, 3), "ResNet50V2"),
    _keras("resnet101v2", "keras_v2", (3, 4, 23, 3), "ResNet101V2"),
    _keras("resnet152v2", "keras_v2", (3, 8, 36, 3), "ResNet152V2"),
    _timm("resnet50d", (3, 4, 6, 3), "deep stem, average-pool shortcut (ResNet-D; PaddleClas ResNet50_vd)",
          TimmEval("ra2_in1k", 224, 0.875), stem="deep", downsample="avgpool_projection"),
    _timm("resnet101d", (3, 4, 23, 3), "deep stem, average-pool shortcut (ResNet-D; PaddleClas ResNet101_vd)",
          TimmEval("ra2_in1k", 256, 0.95), stem="deep", downsample="avgpool_projection"),
    _timm("seresnet50", (3, 4, 6, 3), "squeeze-excitation after bn3, before the add",
          TimmEval("a1_in1k", 224, 0.95), attention="se"),
)
VARIANTS.update(_registry(*(_cifar(model_id) for model_id in ("resnet18", "resnet34", "resnet50", "resnet101",
                                                                "resnet152"))))

MODEL_IDS: tuple[str, ...] = tuple(VARIANTS)


def check_naming(naming: str) -> str:
    """`naming` when it is one of NAMINGS, else UnknownFrameworkError naming them."""
    if naming not in NAMINGS:
        raise UnknownFrameworkError(f"unknown key naming {naming!r}; valid: {', '.join(NAMINGS)}")
    return naming


def check_precision(dtype: str) -> str:
    """`dtype` when it is one of PRECISIONS, else ValueError naming them."""
    if dtype not in PRECISIONS:
        raise ValueError(f"dtype must be one of {', '.join(PRECISIONS)}, got {dtype!r}")
    return dtype


def get(model: str | Variant, num_classes: int | None = None) -> ModelSpec:
    """The spec of a model id (or of a Variant not in VARIANTS) with `num_classes` outputs (None: the id's default,
    1000 or 10 for the CIFAR ids; NO_HEAD: headless); unknown ids and num_classes < 0 raise ValueError with the
    valid choices."""
    if isinstance(model, str) and model not in VARIANTS:
        raise UnknownModelError(f"unknown model id {model!r}; valid ids: {', '.join(MODEL_IDS)}")
    variant = VARIANTS[model] if isinstance(model, str) else model
    if num_classes is None:
        num_classes = variant.num_classes
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < NO_HEAD:
        raise ValueError(f"num_classes must be an integer >= 1, or {NO_HEAD} for no head, got {num_classes!r}")
    return _registered(model, num_classes) if isinstance(model, str) else _build(variant, num_classes)


@cache
def _registered(model_id: str, num_classes: int) -> ModelSpec:
    return _build(VARIANTS[model_id], num_classes)


def _build(variant: Variant, num_classes: int) -> ModelSpec:
    conventions = CONVENTIONS[variant.family]
    stem = STEMS[variant.stem]
    builder = _LayerBuilder(conventions.bn_eps)
    size = builder.stem(stem, conventions)

    blocks = []
    in_channels = stem.convs[-1][2]
    for stage, (depth, planes) in enumerate(zip(variant.depths, STAGE_WIDTHS)):
        block = _make_blocks(variant, conventions, stage, depth, planes, in_channels, size)
        blocks.extend(block)
        for spec in block:
            builder.block(spec)
        in_channels = block[-1].out_channels
        size = block[-1].output_size

    if conventions.post_norm:
        builder.bn("post_bn", "post", "post_bn", in_channels, (in_channels, size, size))
    if num_classes != NO_HEAD:
        builder.dense("predictions", "head", "fc", in_channels, num_classes)

    return ModelSpec(
        model_id=variant.model_id,
        family=variant.family,
        description=variant.description,
        references=variant.references,
        block_kind=variant.block,
        depths=variant.depths,
        groups=variant.groups,
        width_per_group=variant.width_per_group,
        stride_on=_stride_on(variant.block, conventions),
        stride_block=conventions.stride_block,
        bn_eps=conventions.bn_eps,
        stem=variant.stem,
        input_size=stem.input_size,
        stem_bias=conventions.stem_bias,
        stem_bn=conventions.stem_bn,
        stem_pool_padding=conventions.stem_pool_padding if stem.max_pool else None,
        post_norm=conventions.post_norm,
        same_padding=conventions.same_padding,
        default_head=conventions.default_head,
        num_classes=num_classes,
        blocks=tuple(blocks),
        layers=tuple(builder.layers),
    )


def _stride_on(block: BlockKind, conventions: Conventions) -> Literal["conv1", "conv2"]:
    """Which conv of a strided block carries the stride: a basic block's first, a bottleneck's as its family does."""
    return "conv1" if block == "basic" else conventions.bottleneck_stride_on


def _make_blocks(variant: Variant, conventions: Conventions, stage: int, depth: int, planes: int, in_channels: int,
                 size: int) -> list[BlockSpec]:
    """The blocks of one stage (stage 0 is keras' conv2 / torch's layer1); `planes` is torchvision's."""
    if variant.block == "basic":
        if (variant.groups, variant.width_per_group) != (1, 64):  # as torchvision's BasicBlock
            raise ValueError(f"{variant.model_id}: basic blocks have groups=1 and width_per_group=64, got "
                             f"groups={variant.groups}, width_per_group={variant.width_per_group}")
        width, out_channels = planes, planes
    else:
        width, out_channels = bottleneck_width(planes, variant.groups, variant.width_per_group), planes * 4
    last_stage = len(variant.depths) - 1
    if conventions.stride_block == "last":
        stage_stride, strided_block = (2 if stage < last_stage else 1), depth - 1
    else:
        stage_stride, strided_block = (1 if stage == 0 else 2), 0

    blocks = []
    for index in range(depth):
        stride = stage_stride if index == strided_block else 1
        if conventions.projection == "on_change":
            projection = stride != 1 or in_channels != out_channels
        else:
            projection = index == 0
        shortcut: ShortcutKind = variant.downsample if projection else "maxpool" if stride > 1 else "identity"
        blocks.append(
            BlockSpec(
                name=f"conv{stage + 2}_block{index + 1}",
                module_path=f"layer{stage + 1}.{index}",
                kind=variant.block,
                in_channels=in_channels,
                width=width,
                out_channels=out_channels,
                groups=variant.groups,
                stride=stride,
                stride_on=_stride_on(variant.block, conventions),
                shortcut=shortcut,
                conv_bias={role: role in conventions.conv_bias for role in ("conv0", "conv1", "conv2", "conv3")},
                relu_after_add=conventions.relu_after_add,
                input_size=size,
                **_attention(variant, out_channels),
            )
        )
        in_channels = out_channels
        size //= stride
    return blocks


def _attention(variant: Variant, channels: int) -> dict[str, Any]:
    """A block's attention fields: none, or the kind with its reduced width and gate."""
    if variant.attention is None:
        return {}
    attention = ATTENTIONS[variant.attention]
    return {"attention": variant.attention, "gate": attention.gate,
            "attention_channels": make_divisible(channels * attention.rd_ratio, attention.rd_divisor)}


class _LayerBuilder:
    """Accumulates LayerSpecs in forward order (the order keras.applications creates them)."""

    def __init__(self, eps: float) -> None:
        self.eps = eps
        self.layers: list[LayerSpec] = []

    def conv(self, name: str, block: str, path: str, cin: int, cout: int, k: int, stride: int, pad: int,
             bias: bool, output_shape: tuple[int, ...], groups: int = 1) -> None:
        shapes = {"weight": (cout, cin // groups, k, k), **({"bias": (cout,)} if bias else {})}
        self.layers.append(LayerSpec(name, "conv", block, shapes, path, cin, cout, k, stride, pad, bias,
                                     output_shape=output_shape, groups=groups))

    def bn(self, name: str, block: str, path: str, channels: int, output_shape: tuple[int, ...]) -> None:
        shapes = {p: (channels,) for p in CANONICAL_PARAMS["bn"]}
        self.layers.append(LayerSpec(name, "bn", block, shapes, path, channels, channels, bias=True,
                                     eps=self.eps, output_shape=output_shape))

    def dense(self, name: str, block: str, path: str, cin: int, cout: int) -> None:
        shapes = {"weight": (cout, cin), "bias": (cout,)}
        self.layers.append(LayerSpec(name, "dense", block, shapes, path, cin, cout, bias=True,
                                     output_shape=(cout,)))

    def stem(self, stem: Stem, conventions: Conventions) -> int:
        """The stem's layers; returns the spatial size after it. One conv is `conv1` + `bn1` (torchvision); several
        are timm's deep stem, `conv1.0`, `conv1.1` (BN), `conv1.3`, ... with the last BN still `bn1`."""
        size, cin = stem.input_size, 3
        deep = len(stem.convs) > 1
        for index, (kernel, stride, cout) in enumerate(stem.convs):
            size //= stride
            last = index == len(stem.convs) - 1
            name, path = (f"conv1_{index + 1}", f"conv1.{3 * index}") if deep else ("conv1", "conv1")
            self.conv(f"{name}_conv", "stem", path, cin, cout, kernel, stride, kernel // 2, conventions.stem_bias,
                      (cout, size, size))
            if not last:
                self.bn(f"{name}_bn", "stem", f"conv1.{3 * index + 1}", cout, (cout, size, size))
            elif conventions.stem_bn:
                self.bn("conv1_bn", "stem", "bn1", cout, (cout, size, size))
            cin = cout
        return size // 2 if stem.max_pool else size  # 3x3/2

    def block(self, b: BlockSpec) -> None:
        """A block's layers: shortcut first (keras creates it first), then the main branch."""
        out, n, path = b.output_size, b.name, b.module_path
        if b.kind == "preact_bottleneck":
            self.bn(f"{n}_preact_bn", n, f"{path}.preact_bn", b.in_channels, (b.in_channels, b.input_size, b.input_size))
        if b.shortcut in ("projection", "avgpool_projection"):
            pooled = b.shortcut == "avgpool_projection"  # timm: downsample.0 is the pool, the conv strides 1
            conv_path, bn_path = (f"{path}.downsample.1", f"{path}.downsample.2") if pooled else \
                (f"{path}.downsample.0", f"{path}.downsample.1")
            self.conv(f"{n}_0_conv", n, conv_path, b.in_channels, b.out_channels, 1, 1 if pooled else b.stride, 0,
                      b.conv_bias["conv0"], (b.out_channels, out, out))
            if b.kind != "preact_bottleneck":
                self.bn(f"{n}_0_bn", n, bn_path, b.out_channels, (b.out_channels, out, out))
        if b.kind == "basic":
            convs = [(b.in_channels, b.out_channels, 3, b.stride, 1), (b.out_channels, b.out_channels, 3, 1, 1)]
        else:
            s1, s2 = (b.stride, 1) if b.stride_on == "conv1" else (1, b.stride)
            convs = [(b.in_channels, b.width, 1, s1, 1), (b.width, b.width, 3, s2, b.groups),
                     (b.width, b.out_channels, 1, 1, 1)]
        size = b.input_size
        for role, (cin, cout, k, stride, groups) in enumerate(convs, start=1):
            size //= stride
            self.conv(f"{n}_{role}_conv", n, f"{path}.conv{role}", cin, cout, k, stride, k // 2,
                      b.conv_bias[f"conv{role}"], (cout, size, size), groups)
            if not (b.kind == "preact_bottleneck" and role == 3):  # V2: no BN after the last conv
                self.bn(f"{n}_{role}_bn", n, f"{path}.bn{role}", cout, (cout, size, size))
        if b.attention is not None:  # keras.applications' EfficientNet names: _se_reduce, _se_expand
            rd = b.attention_channels
            self.conv(f"{n}_se_reduce", n, f"{path}.se.fc1", b.out_channels, rd, 1, 1, 0, True, (rd, 1, 1))
            self.conv(f"{n}_se_expand", n, f"{path}.se.fc2", rd, b.out_channels, 1, 1, 0, True, (b.out_channels, 1, 1))


# --------------------------------------------------------------------------------------------
# Layout conversion (numpy only): the one place where canonical <-> native permutations live.


def native_permutation(framework: str, kind: str, param: str) -> tuple[int, ...] | None:
    return NATIVE_PERMUTATION[check_naming(framework)].get((kind, param))


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
    interpolation: Literal["bilinear", "bicubic", "nearest"]
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
    # timm's defaults (DEFAULT_CROP_PCT 0.875 at 224); origin() sizes it from the id's TimmEval
    "timm": Origin("timm", "torch", ImagePipeline(
        256, "resize_shorter", 224, "bicubic",
        "timm create_transform(**resolve_data_config({}, model=m)): Resize(floor(input_size / crop_pct), bicubic) "
        "+ CenterCrop(input_size)")),
}


def origin(model_id: str) -> Origin:
    """The weight origin of a model id, whatever file format carries it: timm's, sized by its pretrained_cfg, for an id
    with a TimmEval; otherwise its topology says who trains it (keras v1/v2 ids: keras.applications; torchvision
    ids: torchvision and paddle.vision; CIFAR ids: the CIFAR blogs)."""
    spec = get(model_id)
    evaluated = VARIANTS[model_id].timm_eval
    if evaluated is not None:
        timm = ORIGINS["timm"]
        sized = replace(timm.pipeline, resize=evaluated.resize, crop=evaluated.input_size)
        return replace(timm, name=f"timm {evaluated.tag}", pipeline=sized)
    return ORIGINS["cifar" if spec.stem == "cifar" else spec.family]


def preprocessing(style: str) -> Preprocessing:
    """The Preprocessing of `style`; unknown styles raise ValueError listing the valid ones."""
    if style not in PREPROCESSING:
        raise ValueError(f"unknown preprocessing {style!r}; valid: {', '.join(PREPROCESSING)}")
    return PREPROCESSING[style]

"""Keras 3 functional ResNets for every crosscheck model id, built like keras.applications' resnet.py.

The keras-family ids rebuild keras.applications' ResNet50/101/152(V2) layer for layer: the same
layer names, classes and creation order, hence the same weight order, so `set_weights`, `.weights.h5`
and legacy `.h5` files from keras.applications load unchanged. The torchvision-family ids (v1.5)
reuse the same blocks, and the CIFAR ids put them behind a 3x3/1 stem without max-pool (32x32 input,
10 classes by default). The timm ids add the deep stem (`conv1_1_conv` .. `conv1_3_conv`), ResNet-D's
average-pool shortcut (`_0_pool`) and squeeze-excitation (`_se_reduce`, `_se_expand`, EfficientNet's names). Depths, strides, biases, epsilons and names all come from crosscheck.spec.
"""

from __future__ import annotations

import os
from typing import Any, Callable

import keras
from keras import backend, layers
from keras.src.applications import imagenet_utils

from crosscheck import spec as specs
from crosscheck.spec import BlockSpec, LayerSpec, ModelSpec

ClassifierActivation = str | Callable[..., Any] | None


class _FromSpec:
    """Marker default: softmax for keras-family ids, None (logits) for torchvision-family ids."""

    def __repr__(self) -> str:
        return "FROM_SPEC"


FROM_SPEC = _FromSpec()


def build(
    model_id: str | ModelSpec,
    include_top: bool = True,
    weights: str | os.PathLike[str] | None = None,
    input_tensor: Any = None,
    input_shape: tuple[int | None, ...] | None = None,
    pooling: str | None = None,
    classes: int | None = None,
    classifier_activation: ClassifierActivation | _FromSpec = FROM_SPEC,
    name: str | None = None,
) -> keras.Model:
    """The spec's `model_id` as a functional model (keras' image_data_format, channels_last by default);
    the arguments are keras.applications.ResNet50's, `weights` is None or a local file path, and
    classes=None is the id's default (1000, 10 for the CIFAR ids)."""
    # a ModelSpec is built as given: crosscheck verify builds mutated specs as counterfactuals
    spec = model_id if isinstance(model_id, ModelSpec) else specs.get(model_id, classes if include_top else specs.NO_HEAD)
    _check_weights(weights)
    if classifier_activation is FROM_SPEC:
        classifier_activation = "softmax" if spec.default_head == "softmax" else None
    input_shape = imagenet_utils.obtain_input_shape(
        input_shape,
        default_size=spec.input_size,
        min_size=32,
        data_format=backend.image_data_format(),
        require_flatten=include_top,
        weights=weights,
    )
    if input_tensor is None:
        img_input = layers.Input(shape=input_shape)
    elif not backend.is_keras_tensor(input_tensor):
        img_input = layers.Input(tensor=input_tensor, shape=input_shape)
    else:
        img_input = input_tensor

    x = _stem(img_input, spec)
    for block in spec.blocks:
        x = _residual_block(x, block, spec)
    if spec.post_norm:
        x = _batch_norm(x, spec.layer("post_bn"))
        x = layers.Activation("relu", name="post_relu")(x)
    x = _head(x, spec, include_top, pooling, classifier_activation, weights)

    # The model starts at the inputs `input_tensor` derives from. A lone input is unwrapped, so calling
    # the model on one array does not warn about the input structure (keras.applications keeps a 1-list).
    inputs = keras.utils.get_source_inputs(img_input)
    model = keras.Model(inputs[0] if len(inputs) == 1 else inputs, x, name=name or spec.model_id)
    if weights is not None:
        model.load_weights(weights)
    return model


def _check_weights(weights: str | os.PathLike[str] | None) -> None:
    """Accept None or an existing local file; 'imagenet' would need a download, which never happens here."""
    if weights is None:
        return
    if weights == "imagenet":
        raise ValueError(
            "weights='imagenet' would download the file, and keras_impl never downloads: pass the local "
            "path of a keras.applications weight file (.h5 or .weights.h5) instead, or weights=None"
        )
    if not os.path.isfile(weights):
        raise ValueError(f"weights file {os.fspath(weights)!r} does not exist (weights must be None or a local file path)")


def _stem(x: Any, spec: ModelSpec) -> Any:
    """7x7/2 conv (+ BN, ReLU unless pre-activation), then the 3x3/2 max-pool; the CIFAR stem: a 3x3/1 "same" conv,
    BN, ReLU and no pool, as Keras CIFAR ResNets write it; the deep stem: three 3x3 convs (conv1_1 .. conv1_3), each
    followed by BN and ReLU, then the max-pool."""
    for layer in spec.layers_of("stem"):
        if layer.kind == "conv":  # "same" is symmetric at stride 1
            x = _conv(x, layer, same_padding=spec.stem == "cifar")
        else:
            x = _batch_norm(x, layer)
            x = layers.Activation("relu", name=f"{layer.name.removesuffix('_bn')}_relu")(x)
    if spec.stem_pool_padding is None:  # the CIFAR stem keeps the full 32x32 resolution
        return x
    # torch/paddle pad this pool with -inf. After the ReLU every value is >= 0, so zero padding
    # gives the same maxima. V2 pools the raw conv output, and keras.applications pads it with zeros.
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)), name="pool1_pad")(x)
    return layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)


def _residual_block(x: Any, block: BlockSpec, spec: ModelSpec) -> Any:
    """One block of any kind, creating layers in keras.applications' order: (pre-activation,) shortcut, branch."""
    named = {layer.name.removeprefix(f"{block.name}_"): layer for layer in spec.layers_of(block.name)}
    branch = x
    if "preact_bn" in named:  # V2: the branch and a projection shortcut see BN-ReLU(x)
        branch = _batch_norm(x, named["preact_bn"])
        branch = layers.Activation("relu", name=f"{block.name}_preact_relu")(branch)

    if block.shortcut == "projection":
        shortcut = _conv(branch, named["0_conv"])
        if "0_bn" in named:
            shortcut = _batch_norm(shortcut, named["0_bn"])
    elif block.shortcut == "avgpool_projection":
        shortcut = _avg_pool(x, block) if block.stride > 1 else x
        shortcut = _batch_norm(_conv(shortcut, named["0_conv"]), named["0_bn"])
    elif block.shortcut == "maxpool":  # unnamed in keras.applications; no weights, so naming it is safe
        shortcut = layers.MaxPooling2D(1, strides=block.stride, name=f"{block.name}_0_pool")(x)
    else:
        shortcut = x

    roles = [role for role in ("1", "2", "3") if f"{role}_conv" in named]
    for role in roles:  # keras.applications v1 writes its 3x3 convs as padding="same", symmetric at stride 1
        branch = _conv(branch, named[f"{role}_conv"], spec.same_padding)
        if f"{role}_bn" in named:
            branch = _batch_norm(branch, named[f"{role}_bn"])
        if role != roles[-1]:
            branch = layers.Activation("relu", name=f"{block.name}_{role}_relu")(branch)

    if block.attention is not None and block.attention_at == "before_add":
        branch = _squeeze_excite(branch, block, named)
    if not block.relu_after_add:  # V2: the sum is the block output
        return layers.Add(name=f"{block.name}_out")([shortcut, branch])
    x = layers.Add(name=f"{block.name}_add")([shortcut, branch])
    x = layers.Activation("relu", name=f"{block.name}_out")(x)
    return _squeeze_excite(x, block, named) if block.attention is not None and block.attention_at == "after_add" else x


def _avg_pool(x: Any, block: BlockSpec) -> Any:
    """ResNet-D's shortcut pool, torch's AvgPool2d(2, stride, ceil_mode=True, count_include_pad=False): TF's "same"
    pads an odd map at the bottom/right only and leaves the padding out of each average, as torch's ceil mode does."""
    return layers.AveragePooling2D(2, strides=block.stride, padding="same", name=f"{block.name}_0_pool")(x)


def _squeeze_excite(x: Any, block: BlockSpec, named: dict[str, LayerSpec]) -> Any:
    """timm's SEModule as keras.applications' EfficientNet writes squeeze-excitation: the global average
    (`_se_squeeze`), 1x1 convs with their activations (`_se_reduce` ReLU, `_se_expand` the gate), `_se_excite`."""
    se = layers.GlobalAveragePooling2D(keepdims=True, name=f"{block.name}_se_squeeze")(x)
    se = _conv(se, named["se_reduce"], activation="relu")
    se = _conv(se, named["se_expand"], activation=block.gate)
    return layers.Multiply(name=f"{block.name}_se_excite")([x, se])


def _conv(x: Any, layer: LayerSpec, same_padding: bool = False, activation: str | None = None) -> Any:
    """The spec's conv (groups included); padding is an explicit symmetric ZeroPadding2D, because TF's "same" pads
    only bottom/right at stride 2. `same_padding` reproduces keras.applications' stride-1 "same" convs."""
    same = same_padding and layer.padding > 0 and layer.stride == 1
    if layer.padding and not same:
        pad = ((layer.padding, layer.padding), (layer.padding, layer.padding))
        x = layers.ZeroPadding2D(padding=pad, name=f"{layer.name.removesuffix('_conv')}_pad")(x)
    return layers.Conv2D(
        layer.out_channels,
        layer.kernel_size,
        strides=layer.stride,
        padding="same" if same else "valid",
        groups=layer.groups,
        use_bias=layer.bias,
        activation=activation,
        name=layer.name,
    )(x)


def _batch_norm(x: Any, layer: LayerSpec) -> Any:
    """BatchNormalization over the channel axis with the spec's epsilon (1e-5 torch, 1.001e-5 keras)."""
    axis = 3 if backend.image_data_format() == "channels_last" else 1
    return layers.BatchNormalization(axis=axis, epsilon=layer.eps, name=layer.name)(x)


def _head(x: Any, spec: ModelSpec, include_top: bool, pooling: str | None,
          classifier_activation: ClassifierActivation, weights: Any) -> Any:
    """Average-pool + `predictions` Dense, or keras.applications' feature-extractor pooling."""
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        imagenet_utils.validate_activation(classifier_activation, weights)
        return layers.Dense(spec.num_classes, activation=classifier_activation, name="predictions")(x)
    if pooling == "avg":
        return layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if pooling == "max":
        return layers.GlobalMaxPooling2D(name="max_pool")(x)
    return x


def _constructor(model_id: str, function_name: str, default_name: str) -> Callable[..., keras.Model]:
    """A keras.applications-style constructor for one model id (same signature, model name and defaults)."""
    spec = specs.get(model_id)

    def constructor(
        include_top: bool = True,
        weights: str | os.PathLike[str] | None = None,
        input_tensor: Any = None,
        input_shape: tuple[int | None, ...] | None = None,
        pooling: str | None = None,
        classes: int = spec.num_classes,
        classifier_activation: ClassifierActivation | _FromSpec = FROM_SPEC,
        name: str = default_name,
    ) -> keras.Model:
        return build(model_id, include_top, weights, input_tensor, input_shape, pooling, classes,
                     classifier_activation, name)

    constructor.__name__ = constructor.__qualname__ = function_name
    constructor.__doc__ = f"Instantiates {spec.description} (spec id {model_id!r}); `weights` is None or a local file."
    return constructor


# The names keras.applications gives its ResNets (ResNet50, ResNet50V2, ...), each the constructor of the id
# that rebuilds it.
APPLICATIONS: dict[str, str] = {
    variant.references["keras"].rsplit(".", 1)[1]: model_id
    for model_id, variant in specs.VARIANTS.items() if "keras" in variant.references
}


# How keras names a family in a constructor: resnet18 -> ResNet18, resnext50_32x4d -> ResNeXt50_32x4d,
# resnet18_cifar -> ResNet18CIFAR.
_SPELLINGS = {"resnext": "ResNeXt", "seresnet": "SEResNet", "resnet": "ResNet", "_cifar": "CIFAR"}


def _constructor_name(model_id: str) -> tuple[str, str] | None:
    """(constructor name, default model name) of an id: keras.applications' own where the id rebuilds one (ResNet50
    is resnet50_v1, model name "resnet50"), else ResNet18, ResNet18CIFAR, ...; None where keras.applications gives
    that name to another id (torchvision's resnet50 is `build("resnet50")`)."""
    for name, application_id in APPLICATIONS.items():
        if application_id == model_id:
            return name, name.lower()
    name = model_id
    for part, spelling in _SPELLINGS.items():
        name = name.replace(part, spelling)
    return None if name in APPLICATIONS else (name, model_id)


# A keras.applications-style constructor per spec id, in spec order: a new id needs no code here.
CONSTRUCTORS: dict[str, Callable[..., keras.Model]] = {
    names[0]: _constructor(model_id, *names)
    for model_id in specs.MODEL_IDS if (names := _constructor_name(model_id)) is not None
}
globals().update(CONSTRUCTORS)

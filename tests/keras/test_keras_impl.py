"""keras_impl against keras.applications (names, weight order, weight files, outputs) and first principles."""

from __future__ import annotations

import contextlib
import functools
import inspect
import re

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

keras = pytest.importorskip("keras")

import keras_impl  # noqa: E402
from crosscheck import spec as specs  # noqa: E402
from crosscheck.calibration import calibrated_weights, sample_input  # noqa: E402
from crosscheck.metrics import rel_l2  # noqa: E402
from crosscheck.backends.keras import adapter  # noqa: E402

# keras.applications constructor -> the spec id it must equal.
KERAS_IDS = {
    "ResNet50": "resnet50_v1",
    "ResNet101": "resnet101_v1",
    "ResNet152": "resnet152_v1",
    "ResNet50V2": "resnet50v2",
    "ResNet101V2": "resnet101v2",
    "ResNet152V2": "resnet152v2",
}
DEEP_IDS = {m for m in specs.MODEL_IDS if sum(specs.get(m).depths) > 16}  # the 101- and 152-layer ids
# The epsilons the reference libraries use: torch/paddle BatchNorm default, keras.applications' literal.
REFERENCE_EPS = {"torchvision": 1e-5, "keras_v1": 1.001e-5, "keras_v2": 1.001e-5}
EQUALITY_RTOL = 1e-6


def _params(names, deep: set[str]) -> list:
    """Parametrize over `names`, marking the deep models slow."""
    return [pytest.param(n, marks=pytest.mark.slow) if n in deep else n for n in names]


KERAS_NAMES = _params(KERAS_IDS, {n for n, i in KERAS_IDS.items() if i in DEEP_IDS})


@functools.cache
def reference(name: str) -> keras.Model:
    """keras.applications' model with a logits head and the spec's calibrated weights."""
    model = getattr(keras.applications, name)(weights=None, classifier_activation=None)
    spec = specs.get(KERAS_IDS[name])
    native = specs.to_native(spec, calibrated_weights(spec.model_id), "keras")
    for layer in spec.layers:
        model.get_layer(layer.name).set_weights([native[layer.native_key(p, "keras")] for p in layer.shapes])
    return model


@functools.cache
def ours(model_id: str) -> keras.Model:
    """keras_impl's model for `model_id` with a logits head (Keras' own random init)."""
    return keras_impl.build(model_id, classifier_activation=None)


def nhwc(batch: int = 2, size: int = specs.IMAGENET_INPUT_SIZE) -> np.ndarray:
    return np.ascontiguousarray(sample_input(batch, size=size).transpose(0, 2, 3, 1))


def weighted_names(model: keras.Model) -> list[str]:
    return [layer.name for layer in model.layers if layer.weights]


# ---------------------------------------------------------------------------------------------
# Against keras.applications


@pytest.mark.parametrize("name", KERAS_NAMES)
def test_layers_and_weights_match_keras_applications(name: str) -> None:
    ref, model = reference(name), ours(KERAS_IDS[name])
    assert weighted_names(model) == weighted_names(ref)
    assert [w.shape for w in model.weights] == [w.shape for w in ref.weights]
    assert [type(layer) for layer in model.layers] == [type(layer) for layer in ref.layers]
    assert model.count_params() == ref.count_params()
    # Every layer has keras.applications' name, except the input and V2's unnamed shortcut pools.
    renamed = [(r.name, o.name) for r, o in zip(ref.layers[1:], model.layers[1:]) if r.name != o.name]
    assert all(r.startswith("max_pooling2d") and o.endswith("_0_pool") for r, o in renamed)
    maxpool_blocks = [b.name for b in specs.get(KERAS_IDS[name]).blocks if b.shortcut == "maxpool"]
    assert [o for _, o in renamed] == [f"{b}_0_pool" for b in maxpool_blocks]


@pytest.mark.parametrize("name", KERAS_NAMES)
def test_outputs_equal_keras_applications_after_set_weights(name: str) -> None:
    ref, model = reference(name), ours(KERAS_IDS[name])
    model.set_weights(ref.get_weights())
    expected = keras.ops.convert_to_numpy(ref(nhwc(), training=False))
    assert np.abs(expected).max() > 1.0  # calibrated: a meaningful, non-degenerate output
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(model(nhwc(), training=False)), expected)


@pytest.mark.parametrize("name", ["ResNet50", "ResNet50V2"])
@pytest.mark.parametrize("file_format", ["weights.h5", "legacy.h5"])
def test_loads_keras_applications_weight_files(name: str, file_format: str, tmp_path) -> None:
    ref = reference(name)
    path = tmp_path / f"{name}.{file_format}"
    if file_format == "weights.h5":
        ref.save_weights(path)
    else:  # the format of keras.applications' downloadable files: order-based HDF5 groups
        import h5py
        from keras.src.legacy.saving import legacy_h5_format

        with h5py.File(path, "w") as f:
            legacy_h5_format.save_weights_to_hdf5_group(f, ref)
    model = getattr(keras_impl, name)(weights=str(path), classifier_activation=None)
    expected = keras.ops.convert_to_numpy(ref(nhwc(1), training=False))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(model(nhwc(1), training=False)), expected)


@pytest.mark.parametrize("name", [*KERAS_IDS, "ResNet18", "ResNet34", "ResNet18CIFAR", "ResNet152CIFAR"])
def test_constructors_have_keras_applications_signature(name: str) -> None:
    parameters = inspect.signature(getattr(keras_impl, name)).parameters
    expected = inspect.signature(keras.applications.ResNet50).parameters
    assert list(parameters) == list(expected)
    assert parameters["weights"].default is None  # nothing to download
    if name in KERAS_IDS:
        assert parameters["name"].default == inspect.signature(getattr(keras.applications, name)).parameters["name"].default


@pytest.mark.parametrize("pooling", [None, "avg", "max"])
def test_feature_extractor_shapes_match_keras_applications(pooling: str | None) -> None:
    kwargs = dict(include_top=False, weights=None, input_shape=(64, 96, 3), pooling=pooling)
    model = keras_impl.ResNet50V2(**kwargs)
    expected = keras.applications.ResNet50V2(**kwargs)
    assert model.name == expected.name == "resnet50v2"
    assert model.output_shape == expected.output_shape
    assert [layer.name for layer in model.layers][-1] == [layer.name for layer in expected.layers][-1]


def test_default_heads_and_input_handling_follow_keras_applications() -> None:
    model = keras_impl.ResNet18(include_top=False, input_shape=(None, None, 3))
    assert model.output_shape == (None, None, None, 512)
    with pytest.raises(ValueError, match="static `input_shape`"):
        keras_impl.ResNet18(input_shape=(None, None, 3))
    with pytest.raises(ValueError, match="at least 32x32"):
        keras_impl.ResNet18(include_top=False, input_shape=(16, 16, 3))
    x = nhwc(1)
    logits = keras.ops.convert_to_numpy(keras_impl.ResNet18(classes=7)(x, training=False))
    probabilities = keras.ops.convert_to_numpy(keras_impl.ResNet50(classes=7)(x, training=False))
    assert logits.shape == probabilities.shape == (1, 7)
    assert not np.isclose(logits.sum(), 1.0)  # torchvision-family ids default to logits
    np.testing.assert_allclose(probabilities.sum(), 1.0, rtol=1e-5)  # keras-family ids to softmax


def test_weights_argument_errors(tmp_path) -> None:
    with pytest.raises(ValueError, match="local") as error:
        keras_impl.ResNet50(weights="imagenet")
    assert "imagenet" in str(error.value)
    missing = tmp_path / "nowhere.weights.h5"
    with pytest.raises(ValueError, match="nowhere.weights.h5"):
        keras_impl.build("resnet18", weights=str(missing))


# ---------------------------------------------------------------------------------------------
# Every model id against the spec


@pytest.mark.parametrize("model_id", _params(specs.MODEL_IDS, DEEP_IDS))
def test_every_id_has_the_spec_layers_shapes_and_epsilon(model_id: str) -> None:
    spec, model = specs.get(model_id), ours(model_id)
    # Keras lists layers by graph depth, not in the spec's (creation) order.
    assert sorted(weighted_names(model)) == sorted(layer.name for layer in spec.layers)
    for layer in spec.layers:
        keras_layer = model.get_layer(layer.name)
        shapes = []
        for param, variable in zip(layer.shapes, keras_layer.weights):
            perm = specs.native_permutation("keras", layer.kind, param)
            shapes.append(tuple(np.empty(variable.shape).transpose(np.argsort(perm)).shape) if perm else tuple(variable.shape))
        assert shapes == list(layer.shapes.values()), layer.name
        if layer.kind == "bn":
            assert keras_layer.epsilon == layer.eps == REFERENCE_EPS[spec.family]
    for block in spec.blocks:
        size = block.output_size
        assert model.get_layer(f"{block.name}_out").output.shape == (None, size, size, block.out_channels)
    logits = keras.ops.convert_to_numpy(model(nhwc(1, spec.input_size), training=False))
    assert logits.shape == (1, spec.num_classes) and np.isfinite(logits).all()


def _conv_nchw(x: np.ndarray, kernel_hwio: np.ndarray, stride: int, pads: tuple[int, int]) -> np.ndarray:
    """Direct float64 convolution; `pads` = (before, after) on both spatial axes."""
    x = np.pad(x.astype(np.float64), ((0, 0), (0, 0), pads, pads))
    k = kernel_hwio.shape[0]
    windows = sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::stride, ::stride]  # N, C, Ho, Wo, k, k
    return np.einsum("ncyxhw,hwco->noyx", windows, kernel_hwio.astype(np.float64))


def _probe(model: keras.Model, pairs: dict[str, tuple[str, str]], images: np.ndarray) -> dict[str, tuple]:
    """{key: (input of layer a, output of layer b)} as NCHW numpy, from one forward pass."""
    outputs = {key: (model.get_layer(a).input, model.get_layer(b).output) for key, (a, b) in pairs.items()}
    values = keras.Model(model.input, outputs)(images, training=False)
    return {key: tuple(keras.ops.convert_to_numpy(v).transpose(0, 3, 1, 2) for v in pair) for key, pair in values.items()}


@pytest.mark.parametrize("model_id", ["resnet18", "resnet50"])
def test_strided_convs_pad_symmetrically_like_torch(model_id: str) -> None:
    """Each stride-2 padded conv equals a first-principles conv padded p on every side (torch's
    padding); TF's padding="same" at stride 2 (less on top/left) would be measurably different."""
    spec, model = specs.get(model_id), ours(model_id)
    strided = [layer for layer in spec.layers if layer.kind == "conv" and layer.stride > 1 and layer.padding]
    assert len(strided) == 4  # the stem and one 3x3 per downsampling stage
    pairs = {layer.name: (layer.name.removesuffix("_conv") + "_pad", layer.name) for layer in strided}
    probed = _probe(model, pairs, nhwc(1))
    for layer in strided:
        x, y = probed[layer.name]
        kernel = model.get_layer(layer.name).kernel.numpy()
        p, k, s = layer.padding, layer.kernel_size, layer.stride
        assert rel_l2(y, _conv_nchw(x, kernel, s, (p, p))) <= EQUALITY_RTOL, layer.name
        tf_same = (max(k - s, 0) // 2, max(k - s, 0) - max(k - s, 0) // 2)  # even input size
        assert rel_l2(y, _conv_nchw(x, kernel, s, tf_same)) > 1e-2, layer.name


def _max_pool_3x3_s2(x: np.ndarray, pad_value: float) -> np.ndarray:
    x = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=pad_value)
    return sliding_window_view(x, (3, 3), axis=(2, 3))[:, :, ::2, ::2].max(axis=(4, 5))


@pytest.mark.parametrize("model_id", ["resnet18", "resnet50v2"])
def test_stem_pool_padding(model_id: str) -> None:
    """torch's -inf pool padding equals zero padding after the stem ReLU; V2's raw stem pads with zeros."""
    spec = specs.get(model_id)
    x, pooled = _probe(ours(model_id), {"pool": ("pool1_pad", "pool1_pool")}, nhwc(1))["pool"]
    if spec.stem_pool_padding == "neg_inf":
        assert x.min() >= 0.0
        np.testing.assert_array_equal(pooled, _max_pool_3x3_s2(x, -np.inf))
    else:
        np.testing.assert_array_equal(pooled, _max_pool_3x3_s2(x, 0.0))
        assert not np.array_equal(pooled, _max_pool_3x3_s2(x, -np.inf))  # the choice matters here


# ---------------------------------------------------------------------------------------------
# The CIFAR ids against a CIFAR ResNet as Keras blog code writes it (functional API, its own layer
# names), written here independently of keras_impl.


def blog_conv_bn(x, filters: int, kernel: int, stride: int, name: str):
    """Conv (no bias) + BN with PyTorch's epsilon: the blog model is a port of the PyTorch CIFAR ResNet."""
    if stride > 1 and kernel > 1:  # padding="same" at stride 2 pads only bottom/right in TF: pad like PyTorch
        x = keras.layers.ZeroPadding2D(kernel // 2)(x)
        x = keras.layers.Conv2D(filters, kernel, strides=stride, use_bias=False, name=f"{name}_conv")(x)
    else:
        x = keras.layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False, name=f"{name}_conv")(x)
    return keras.layers.BatchNormalization(epsilon=1e-5, name=f"{name}_bn")(x)


def blog_basic_unit(x, filters: int, stride: int, name: str):
    y = keras.layers.ReLU()(blog_conv_bn(x, filters, 3, stride, f"{name}_1"))
    y = blog_conv_bn(y, filters, 3, 1, f"{name}_2")
    shortcut = x
    if stride != 1 or x.shape[-1] != filters:
        shortcut = blog_conv_bn(x, filters, 1, stride, f"{name}_shortcut")
    return keras.layers.ReLU()(keras.layers.Add()([y, shortcut]))


def blog_bottleneck_unit(x, filters: int, stride: int, name: str):
    y = keras.layers.ReLU()(blog_conv_bn(x, filters, 1, 1, f"{name}_1"))
    y = keras.layers.ReLU()(blog_conv_bn(y, filters, 3, stride, f"{name}_2"))  # stride on the 3x3
    y = blog_conv_bn(y, 4 * filters, 1, 1, f"{name}_3")
    shortcut = x
    if stride != 1 or x.shape[-1] != 4 * filters:
        shortcut = blog_conv_bn(x, 4 * filters, 1, stride, f"{name}_shortcut")
    return keras.layers.ReLU()(keras.layers.Add()([y, shortcut]))


def blog_cifar_resnet(unit, num_blocks: list[int], num_classes: int = 10) -> keras.Model:
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(64, 3, padding="same", use_bias=False, name="stem_conv")(inputs)
    x = keras.layers.BatchNormalization(epsilon=1e-5, name="stem_bn")(x)
    x = keras.layers.ReLU()(x)
    for stage, units in enumerate(num_blocks):
        for index in range(units):
            stride = 2 if stage > 0 and index == 0 else 1
            x = unit(x, 64 * 2 ** stage, stride, f"stage{stage + 1}_unit{index + 1}")
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(num_classes, name="fc")(x))


CIFAR_BLOGS = {
    "resnet18_cifar": (blog_basic_unit, [2, 2, 2, 2]),
    "resnet34_cifar": (blog_basic_unit, [3, 4, 6, 3]),
    "resnet50_cifar": (blog_bottleneck_unit, [3, 4, 6, 3]),
    "resnet101_cifar": (blog_bottleneck_unit, [3, 4, 23, 3]),
    "resnet152_cifar": (blog_bottleneck_unit, [3, 8, 36, 3]),
}


def blog_name(canonical: str) -> str:
    """The blog model's name for a canonical layer: conv3_block1_0_bn -> stage2_unit1_shortcut_bn."""
    if canonical == "predictions":
        return "fc"
    if canonical.startswith("conv1_"):
        return canonical.replace("conv1_", "stem_")
    stage, unit, role, kind = re.fullmatch(r"conv(\d)_block(\d+)_(\d)_(conv|bn)", canonical).groups()
    return f"stage{int(stage) - 1}_unit{unit}_{'shortcut' if role == '0' else role}_{kind}"


@contextlib.contextmanager
def keras_dtype(policy: str):
    """Build (and run) models under another global dtype policy, restored afterwards."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def calibrated_cifar_pair(model_id: str) -> tuple[keras.Model, keras.Model]:
    """(ours at its default 32x32 input, the blog model), both holding the calibrated weights by layer name."""
    spec = specs.get(model_id)
    native = specs.to_native(spec, calibrated_weights(model_id), "keras")
    model = keras_impl.build(model_id, classifier_activation=None)
    blog = blog_cifar_resnet(*CIFAR_BLOGS[model_id])
    for layer in spec.layers:
        arrays = [native[layer.native_key(p, "keras")] for p in layer.shapes]
        model.get_layer(layer.name).set_weights(arrays)
        blog.get_layer(blog_name(layer.name)).set_weights(arrays)
    return model, blog


@pytest.mark.parametrize("model_id", ["resnet18_cifar", "resnet50_cifar", *(pytest.param(m, marks=pytest.mark.slow)
                                      for m in ("resnet34_cifar", "resnet101_cifar", "resnet152_cifar"))])
def test_cifar_ids_compute_what_a_blog_keras_cifar_resnet_computes(model_id: str) -> None:
    """float64 outputs agree to rounding, whatever the depth."""
    with keras_dtype("float64"):
        model, blog = calibrated_cifar_pair(model_id)
        assert model.input_shape == (None, 32, 32, 3) and model.count_params() == blog.count_params()
        images = nhwc(2, size=32).astype(np.float64)
        expected = keras.ops.convert_to_numpy(blog(images, training=False))
        actual = keras.ops.convert_to_numpy(model(images, training=False))
    assert actual.dtype == expected.dtype == np.float64 and expected.shape == (2, 10)
    assert np.isfinite(expected).all() and expected.std() > 0.1
    np.testing.assert_allclose(actual, expected, rtol=0, atol=1e-12 * np.abs(expected).max())


def test_resnet18_cifar_float32_is_bit_identical_to_the_blog_model() -> None:
    """Same layers in the same order (TF computes a stride-1 "same" conv as pad + conv): bit-equal float32 logits."""
    model, blog = calibrated_cifar_pair("resnet18_cifar")
    images = nhwc(2, size=32)
    expected = keras.ops.convert_to_numpy(blog(images, training=False))
    assert expected.dtype == np.float32 and expected.std() > 0.1
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(model(images, training=False)), expected)


def test_cifar_constructors_default_to_32x32_and_10_classes() -> None:
    model = keras_impl.ResNet18CIFAR()
    assert model.name == "resnet18_cifar" and model.input_shape == (None, 32, 32, 3) and model.output_shape == (None, 10)
    assert "pool1_pool" not in [layer.name for layer in model.layers]
    stem = model.get_layer("conv1_conv")
    assert (stem.kernel_size, stem.strides, stem.padding, stem.use_bias) == ((3, 3), (1, 1), "same", False)
    features = keras_impl.ResNet50CIFAR(include_top=False, input_shape=(64, 64, 3), pooling="avg", classes=100)
    assert features.output_shape == (None, 2048)
    assert keras_impl.build("resnet50_cifar", classes=100).output_shape == (None, 100)


# ---------------------------------------------------------------------------------------------
# The crosscheck adapter


def test_adapter_configure_reports_settings() -> None:
    tf = pytest.importorskip("tensorflow")
    tf.config.experimental.enable_tensor_float_32_execution(True)  # TensorFlow's default: configure must turn it off
    settings = adapter.configure("cpu", allow_tf32=False)
    assert not tf.config.experimental.tensor_float_32_execution_enabled()
    assert settings["device"] == "cpu" and settings["tf32"] == "False"
    assert settings["keras"] == keras.__version__ and settings["backend"] == "tensorflow"


def test_adapter_round_trip_forward_and_block_outputs() -> None:
    spec = specs.get("resnet50_v1")
    weights = calibrated_weights(spec.model_id)
    model = adapter.build(spec.model_id)
    adapter.set_native(model, spec, specs.to_native(spec, weights, "keras"))
    back = specs.from_native(spec, adapter.get_native(model, spec), "keras")
    assert all(np.array_equal(back[key], weights[key]) for key in weights)

    images = sample_input(2)
    logits = adapter.forward(model, images)
    expected = keras.ops.convert_to_numpy(reference("ResNet50")(images.transpose(0, 2, 3, 1), training=False))
    np.testing.assert_array_equal(logits, expected)

    outputs = adapter.block_outputs(model, images)
    assert list(outputs) == ["stem", *(b.name for b in spec.blocks), "logits"]
    first = spec.blocks[0]
    assert outputs["stem"].shape == (2, first.in_channels, first.input_size, first.input_size)
    for block in spec.blocks:
        assert outputs[block.name].shape == (2, block.out_channels, block.output_size, block.output_size)
    np.testing.assert_array_equal(outputs["logits"], logits)
    # Any input size works, as in torch and paddle.
    assert adapter.forward(model, sample_input(1, size=64)).shape == (1, 1000)


def test_adapter_set_native_names_every_bad_key() -> None:
    spec = specs.get("resnet18", num_classes=10)
    model = adapter.build("resnet18", num_classes=10)
    native = specs.to_native(spec, calibrated_weights("resnet18", num_classes=10), "keras")
    del native["conv1_bn/gamma"]
    native["conv1_bn/extra"] = np.zeros(64, np.float32)
    native["predictions/kernel"] = native["predictions/kernel"].T
    with pytest.raises(specs.WeightMismatchError) as error:
        adapter.set_native(model, spec, native)
    message = str(error.value)
    assert "missing conv1_bn/gamma" in message
    assert "unexpected conv1_bn/extra" in message
    assert "predictions/kernel: shape (10, 512)" in message

"""paddle_impl against paddle.vision.models and first principles: keys, counts, outputs, loading, import order."""

from __future__ import annotations

import importlib.util
import os
import pickle
import subprocess
import sys
from functools import cache
from pathlib import Path

import numpy as np
import pytest

paddle = pytest.importorskip("paddle")

import paddle.nn.functional as F  # noqa: E402
from paddle import nn  # noqa: E402
from paddle.vision import models as vision  # noqa: E402

import paddle_impl  # noqa: E402
from crosscheck import spec as specs  # noqa: E402
from crosscheck.calibration import calibrated_weights, sample_input  # noqa: E402
from crosscheck.metrics import rel_l2  # noqa: E402
from crosscheck.backends.paddle import adapter  # noqa: E402
from subprocess_python import compute  # noqa: E402  (tests/ helpers)

REPO = Path(__file__).resolve().parents[2]
TORCHVISION_IDS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")
SLOW_IDS = ("resnet101", "resnet152")
LAYER_TYPES = {"conv": nn.Conv2D, "bn": nn.BatchNorm2D, "dense": nn.Linear}
# paddle.nn.BatchNorm2D's default epsilon (paddle.vision) and keras.applications' literal: pinned, not read from the spec
REFERENCE_EPS = {"torchvision": 1e-5, "keras_v1": 1.001e-5, "keras_v2": 1.001e-5}


def _marked(model_ids: tuple[str, ...]) -> list:
    """Parametrize ids, the deep ones marked slow."""
    return [pytest.param(m, marks=pytest.mark.slow) if m in SLOW_IDS else m for m in model_ids]


@cache
def _calibrated_native(model_id: str) -> dict[str, np.ndarray]:
    return specs.to_native(specs.get(model_id), calibrated_weights(model_id), "paddle")


def _to_tensors(native: dict[str, np.ndarray]) -> dict[str, paddle.Tensor]:
    return {key: paddle.to_tensor(value) for key, value in native.items()}


def _shapes(model: nn.Layer) -> dict[str, tuple[int, ...]]:
    return {key: tuple(value.shape) for key, value in model.state_dict().items()}


def _permuted(shape: tuple[int, ...], permutation: tuple[int, ...] | None) -> tuple[int, ...]:
    return tuple(shape[axis] for axis in permutation) if permutation else shape


def _run(model: nn.Layer, images: np.ndarray) -> np.ndarray:
    model.eval()
    with paddle.no_grad():
        return model(paddle.to_tensor(images)).numpy()


@pytest.mark.parametrize("model_id", _marked(TORCHVISION_IDS))
def test_state_dict_and_parameter_count_equal_paddle_vision(model_id):
    reference, ours = getattr(vision, model_id)(), getattr(paddle_impl, model_id)()
    assert list(_shapes(ours).items()) == list(_shapes(reference).items())
    assert sum(p.size for p in ours.parameters()) == sum(p.size for p in reference.parameters())
    trainable = sum(p.size for p in reference.parameters() if not p.stop_gradient)
    assert sum(p.size for p in ours.parameters() if not p.stop_gradient) == trainable


@pytest.mark.parametrize("model_id", _marked(TORCHVISION_IDS))
def test_outputs_equal_paddle_vision_on_calibrated_weights(model_id):
    reference = getattr(vision, model_id)()
    missing, unexpected = reference.set_state_dict(_to_tensors(_calibrated_native(model_id)))
    assert missing == [] and unexpected == []
    ours = getattr(paddle_impl, model_id)()
    paddle_impl.load_state_dict(ours, reference.state_dict())
    images = sample_input(2)
    # Same layers, same kernels: bit-identical in float32 and float64 (measured 0.0). float64 is what makes a
    # BN-epsilon slip of 1e-10 visible; in float32 it stays below the last bit.
    np.testing.assert_array_equal(_run(ours, images), _run(reference, images))
    for model in (ours, reference):
        model.to(dtype="float64")
    np.testing.assert_array_equal(_run(ours, images.astype(np.float64)), _run(reference, images.astype(np.float64)))


# keras.applications' CONSTRUCTOR in float64 with MODEL_ID's calibrated weights: its logits of arrays["images"] (NCHW).
KERAS_APPLICATIONS_FLOAT64 = """
import keras
from crosscheck import spec as specs
from crosscheck.calibration import calibrated_weights
keras.config.set_dtype_policy("float64")
reference = getattr(keras.applications, CONSTRUCTOR)(weights=None, classifier_activation=None)
spec = specs.get(MODEL_ID)
native = specs.to_native(spec, calibrated_weights(MODEL_ID), "keras")
for layer in spec.layers:
    reference.get_layer(layer.name).set_weights([native[layer.native_key(p, "keras")] for p in layer.shapes])
result = np.asarray(reference(arrays["images"].transpose(0, 2, 3, 1), training=False))
"""


@pytest.mark.slow
@pytest.mark.parametrize(("model_id", "constructor"), [("resnet50_v1", "ResNet50"), ("resnet50v2", "ResNet50V2")])
def test_keras_family_outputs_equal_keras_applications(model_id, constructor):
    """The keras-family ids against keras.applications itself (in a process of its own), both in float64."""
    spec, canonical = specs.get(model_id), calibrated_weights(model_id)
    ours = adapter.build(model_id, dtype="float64")
    adapter.set_native(ours, spec, specs.to_native(spec, canonical, "paddle"))
    images = sample_input(2).astype(np.float64)
    expected = compute(f"MODEL_ID, CONSTRUCTOR = {model_id!r}, {constructor!r}\n{KERAS_APPLICATIONS_FLOAT64}",
                       {"images": images})
    # the README's float64 gate; measured ~1e-13
    assert rel_l2(adapter.forward(ours, images), expected) <= 1e-9


@pytest.mark.parametrize(("num_classes", "with_pool"), [(10, True), (0, True), (0, False), (-1, True)])
def test_head_options_give_paddle_vision_shapes_and_keys(num_classes, with_pool):
    reference = vision.resnet18(num_classes=num_classes, with_pool=with_pool)
    ours = paddle_impl.resnet18(num_classes=num_classes, with_pool=with_pool)
    assert _shapes(ours) == _shapes(reference)
    images = sample_input(1, size=64)
    assert _run(ours, images).shape == _run(reference, images).shape


@pytest.mark.parametrize("model_id", specs.MODEL_IDS)
def test_every_id_has_the_specs_layers_and_block_sizes(model_id):
    spec = specs.get(model_id, num_classes=10)
    model = adapter.build(model_id, num_classes=10)
    sublayers = dict(model.named_sublayers())
    for layer in spec.layers:
        assert isinstance(sublayers[layer.module_path], LAYER_TYPES[layer.kind]), layer.module_path
        if layer.kind == "bn":
            assert sublayers[layer.module_path]._epsilon == REFERENCE_EPS[spec.family], layer.module_path

    native_shapes = {layer.native_key(p, "paddle"): _permuted(shape, specs.native_permutation("paddle", layer.kind, p))
                     for layer in spec.layers for p, shape in layer.shapes.items()}
    assert _shapes(model) == native_shapes

    outputs = adapter.block_outputs(model, sample_input(1, size=spec.input_size))
    assert list(outputs) == ["stem", *(b.name for b in spec.blocks), "logits"]
    # 224 -> 112 -> 56 through the 7x7/2 conv and the 3x3/2 pool; the CIFAR stem keeps 32
    assert outputs["stem"].shape == ((1, 64, 32, 32) if model_id.endswith("_cifar") else (1, 64, 56, 56))
    for block in spec.blocks:
        assert outputs[block.name].shape == (1, block.out_channels, block.output_size, block.output_size), block.name
    assert outputs["logits"].shape == (1, 10)
    assert np.isfinite(outputs["logits"]).all()


@pytest.mark.parametrize("model_id", ["resnet18", "resnet50_v1", "resnet50v2"])
def test_default_head_follows_the_reference_library(model_id):
    """paddle.vision outputs logits; keras.applications ends in softmax unless told otherwise."""
    images = sample_input(2, size=32)
    default, logits_model = paddle_impl.build(model_id), paddle_impl.build(model_id, softmax=False)
    paddle_impl.load_state_dict(logits_model, default.state_dict())
    probabilities, logits = _run(default, images), _run(logits_model, images)
    if specs.get(model_id).family == "torchvision":
        assert np.array_equal(probabilities, logits)
    else:
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        np.testing.assert_allclose(probabilities, exp / exp.sum(axis=1, keepdims=True), rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize(("model_id", "border"), [("resnet50v2", 0.0), ("resnet50", -1.0)])
def test_stem_pool_padding_on_negative_input(model_id, border):
    """A constant -1 stem activation: zero padding (keras V2) puts 0 on the top/left border, -inf padding keeps -1."""
    model = adapter.build(model_id)
    model.conv1.weight.set_value(paddle.zeros(model.conv1.weight.shape))
    if model.bn1 is None:
        model.conv1.bias.set_value(paddle.full(model.conv1.bias.shape, -1.0))
    else:  # eval-mode BN of a zero input: beta - mean * gamma / sqrt(var + eps) = beta
        model.bn1.bias.set_value(paddle.full(model.bn1.bias.shape, -1.0))
        model.relu = nn.Identity()  # the stem ReLU would hide the sign; the pool is what is under test
    stem = adapter.block_outputs(model, np.zeros((1, 3, 32, 32), np.float32))["stem"]
    expected = np.full((1, 64, 8, 8), -1.0, np.float32)
    expected[:, :, 0, :] = expected[:, :, :, 0] = border  # windows 2i-1..2i+1 reach the padding only at i = 0
    np.testing.assert_array_equal(stem, expected)


# ---------------------------------------------------------------------------------------------
# The CIFAR ids against a CIFAR ResNet as Paddle blog code writes it (PaddleClas-style ConvBNLayer
# units in one flat `blocks` list, `short` shortcuts, `out` head), written here independently of paddle_impl.


class BlogConvBN(nn.Layer):
    def __init__(self, num_channels, num_filters, filter_size, stride=1, act=None):
        super().__init__()
        self._conv = nn.Conv2D(num_channels, num_filters, filter_size, stride=stride,
                               padding=(filter_size - 1) // 2, bias_attr=False)
        self._batch_norm = nn.BatchNorm2D(num_filters)
        self.act = act

    def forward(self, inputs):
        y = self._batch_norm(self._conv(inputs))
        return F.relu(y) if self.act == "relu" else y


class BlogBasicBlock(nn.Layer):
    expansion = 1

    def __init__(self, num_channels, num_filters, stride):
        super().__init__()
        self.conv0 = BlogConvBN(num_channels, num_filters, 3, stride, act="relu")
        self.conv1 = BlogConvBN(num_filters, num_filters, 3)
        self.shortcut = stride == 1 and num_channels == num_filters
        if not self.shortcut:
            self.short = BlogConvBN(num_channels, num_filters, 1, stride)

    def forward(self, inputs):
        conv1 = self.conv1(self.conv0(inputs))
        short = inputs if self.shortcut else self.short(inputs)
        return F.relu(paddle.add(x=short, y=conv1))


class BlogBottleneckBlock(nn.Layer):
    expansion = 4

    def __init__(self, num_channels, num_filters, stride):
        super().__init__()
        self.conv0 = BlogConvBN(num_channels, num_filters, 1, act="relu")
        self.conv1 = BlogConvBN(num_filters, num_filters, 3, stride, act="relu")
        self.conv2 = BlogConvBN(num_filters, num_filters * 4, 1)
        self.shortcut = stride == 1 and num_channels == num_filters * 4
        if not self.shortcut:
            self.short = BlogConvBN(num_channels, num_filters * 4, 1, stride)

    def forward(self, inputs):
        conv2 = self.conv2(self.conv1(self.conv0(inputs)))
        short = inputs if self.shortcut else self.short(inputs)
        return F.relu(paddle.add(x=short, y=conv2))


class BlogCifarResNet(nn.Layer):
    def __init__(self, block, depth, class_num=10):
        super().__init__()
        self.conv = BlogConvBN(3, 64, 3, act="relu")  # CIFAR: 3x3/1, and no max-pool after it
        blocks, channels = [], 64
        for stage, count in enumerate(depth):
            for index in range(count):
                stride = 2 if index == 0 and stage != 0 else 1
                blocks.append(block(channels, 64 * 2 ** stage, stride))
                channels = 64 * 2 ** stage * block.expansion
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2D(1)
        self.out = nn.Linear(channels, class_num)

    def forward(self, inputs):
        y = self.pool(self.blocks(self.conv(inputs)))
        return self.out(paddle.flatten(y, start_axis=1))


CIFAR_BLOGS = {
    "resnet18_cifar": (BlogBasicBlock, [2, 2, 2, 2]),
    "resnet34_cifar": (BlogBasicBlock, [3, 4, 6, 3]),
    "resnet50_cifar": (BlogBottleneckBlock, [3, 4, 6, 3]),
    "resnet101_cifar": (BlogBottleneckBlock, [3, 4, 23, 3]),
    "resnet152_cifar": (BlogBottleneckBlock, [3, 8, 36, 3]),
}


def blog_key(key: str, depth: list[int]) -> str:
    """A paddle.vision-style key in the blog model's naming: layer2.0.downsample.1._mean -> blocks.2.short._batch_norm._mean."""
    parts = key.split(".")
    if parts[0] == "fc":
        return f"out.{parts[1]}"
    if parts[0] in ("conv1", "bn1"):
        return f"conv.{'_conv' if parts[0] == 'conv1' else '_batch_norm'}.{parts[1]}"
    stage, index, *module, param = parts
    block = sum(depth[:int(stage.removeprefix("layer")) - 1]) + int(index)
    if module[0] == "downsample":
        unit, inner = "short", "_conv" if module[1] == "0" else "_batch_norm"
    else:
        unit, inner = f"conv{int(module[0][-1]) - 1}", "_conv" if module[0].startswith("conv") else "_batch_norm"
    return f"blocks.{block}.{unit}.{inner}.{param}"


def calibrated_cifar_pair(model_id: str, dtype: str) -> tuple[nn.Layer, nn.Layer]:
    """(ours, the blog model) holding the calibrated weights, the blog model's under its own keys, in `dtype`."""
    native = _calibrated_native(model_id)
    ours = paddle_impl.build(model_id)
    paddle_impl.load_state_dict(ours, _to_tensors(native))
    block, depth = CIFAR_BLOGS[model_id]
    blog = BlogCifarResNet(block, depth)
    renamed = {blog_key(key, depth): value for key, value in native.items()}
    assert set(renamed) == set(blog.state_dict())  # strict: every key of the blog model, nothing else
    blog.set_state_dict(_to_tensors(renamed))
    return ours.to(dtype=dtype), blog.to(dtype=dtype)


@pytest.mark.parametrize("model_id", ["resnet18_cifar", "resnet50_cifar", *(pytest.param(m, marks=pytest.mark.slow)
                                      for m in ("resnet34_cifar", "resnet101_cifar", "resnet152_cifar"))])
def test_cifar_ids_compute_what_a_blog_paddle_cifar_resnet_computes(model_id):
    """float64 outputs agree to rounding at the CIFAR input size."""
    ours, blog = calibrated_cifar_pair(model_id, "float64")
    images = sample_input(2, size=32).astype(np.float64)
    expected, actual = _run(blog, images), _run(ours, images)
    assert expected.dtype == actual.dtype == np.float64 and expected.shape == (2, 10)
    assert np.isfinite(expected).all() and expected.std() > 0.1
    np.testing.assert_allclose(actual, expected, rtol=0, atol=1e-12 * np.abs(expected).max())


def test_resnet18_cifar_float32_is_bit_identical_to_the_blog_model():
    ours, blog = calibrated_cifar_pair("resnet18_cifar", "float32")
    images = sample_input(2, size=32)
    np.testing.assert_array_equal(_run(ours, images), _run(blog, images))


def test_cifar_constructors_default_to_10_classes_and_keep_32x32_through_the_stem():
    model = paddle_impl.resnet50_cifar()
    assert model.fc.weight.shape == [2048, 10] and not hasattr(model, "maxpool")
    assert (model.conv1._kernel_size, model.conv1._stride, model.conv1._padding) == ([3, 3], [1, 1], 1)
    outputs = adapter.block_outputs(model, sample_input(1, size=32))
    assert outputs["stem"].shape == (1, 64, 32, 32) and outputs["conv5_block3"].shape == (1, 2048, 4, 4)
    assert paddle_impl.resnet18_cifar(num_classes=100).fc.weight.shape == [512, 100]


def test_pdparams_saved_by_paddle_vision_loads(tmp_path):
    reference = vision.resnet18()
    path = tmp_path / "resnet18.pdparams"
    paddle.save(reference.state_dict(), str(path))
    model = paddle_impl.load("resnet18", path)
    loaded = model.state_dict()
    for key, value in reference.state_dict().items():
        assert np.array_equal(loaded[key].numpy(), value.numpy()), key


def test_pdparams_with_bad_keys_raises_naming_each_key_and_the_file(tmp_path):
    state = vision.resnet18().state_dict()
    del state["layer2.0.downsample.1._mean"]
    state["layer5.0.conv1.weight"] = paddle.zeros([4])
    state["fc.weight"] = paddle.zeros([1000, 512])
    path = tmp_path / "broken.pdparams"
    paddle.save(state, str(path))
    with pytest.raises(ValueError) as error:
        paddle_impl.load(paddle_impl.resnet18(), path)
    message = str(error.value)
    assert str(path) in message
    for key in ("layer2.0.downsample.1._mean", "layer5.0.conv1.weight", "fc.weight"):
        assert key in message
    assert len(error.value.problems) == 3


def test_pdparams_that_would_run_code_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "MARKER"

    class Payload:  # unpickling it runs `touch MARKER`
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    state = {key: value.numpy() for key, value in vision.resnet18().state_dict().items()}
    path = tmp_path / "evil.pdparams"
    path.write_bytes(pickle.dumps({**state, "fc.bias": Payload()}))
    with pytest.raises(ValueError, match="refused global posix.system") as error:
        paddle_impl.load("resnet18", path)
    assert str(path) in str(error.value) and not marker.exists()


def test_unknown_model_id_raises_the_specs_error():
    with pytest.raises(specs.UnknownModelError, match="resnet18"):
        paddle_impl.build("resnet42")


def test_adapter_round_trip_is_bit_exact():
    spec = specs.get("resnet50v2", num_classes=10)
    canonical = calibrated_weights("resnet50v2", seed=3, num_classes=10)
    native = specs.to_native(spec, canonical, "paddle")
    model = adapter.build("resnet50v2", num_classes=10)
    adapter.set_native(model, spec, native)
    returned = adapter.get_native(model, spec)
    assert returned.keys() == native.keys()
    for key, array in native.items():
        assert returned[key].dtype == np.float32
        assert np.array_equal(returned[key].view(np.uint32), array.view(np.uint32)), key
    back = specs.from_native(spec, returned, "paddle")
    assert all(np.array_equal(back[key], canonical[key]) for key in canonical)
    images = sample_input(1, size=64)
    assert np.array_equal(adapter.forward(model, images), _run(model, images))


TINY_VARIANCES = np.array([0.0, 1e-30, 1e-40, 1e-22, 1e-25, 1e-38], np.float32)  # 1e-40: a float32 denormal


def _float64_cifar_model(seed: int = 4) -> tuple[specs.ModelSpec, dict[str, np.ndarray], nn.Layer]:
    spec = specs.get("resnet18_cifar")
    return spec, specs.to_native(spec, calibrated_weights("resnet18_cifar", seed=seed), "paddle"), \
        adapter.build("resnet18_cifar", dtype="float64")


def test_float64_round_trip_is_bit_exact_for_tiny_running_variances():
    """Variances the epsilon correction (~2.5e-13) swallows in float64 still read back bit for bit."""
    assert 0 < TINY_VARIANCES[2] < np.finfo(np.float32).tiny
    spec, native, model = _float64_cifar_model()
    key = "bn1._variance"
    native[key] = native[key].copy()
    native[key][:len(TINY_VARIANCES)] = TINY_VARIANCES
    adapter.set_native(model, spec, native)
    assert model.bn1._variance.dtype == paddle.float64
    returned = adapter.get_native(model, spec)
    for name, array in native.items():
        np.testing.assert_array_equal(returned[name], array, err_msg=name)
    # a variance changed after loading (training) reads back without the correction, not as the loaded one
    changed = model.bn1._variance.numpy() * 2
    model.bn1._variance.set_value(changed)
    np.testing.assert_array_equal(adapter.get_native(model, spec)[key],
                                  (changed - (1e-5 - float(np.float32(1e-5)))).astype(np.float32))


def test_float64_epsilon_correction_follows_each_layers_own_epsilon():
    """A BN built with epsilon 1e-3 (not the spec's 1e-5) computes var + 1e-3 exactly in float64 eval mode; Paddle
    alone uses float32(1e-3), 4.7e-11 off."""
    spec, native, model = _float64_cifar_model()
    model.bn1._epsilon = 1e-3
    adapter.set_native(model, spec, native)
    x = np.random.default_rng(5).standard_normal((2, 64, 4, 4))
    with paddle.no_grad():
        y = model.bn1(paddle.to_tensor(x)).numpy()
    mean, var, gamma, beta = (native[f"bn1.{p}"].astype(np.float64)[None, :, None, None]
                              for p in ("_mean", "_variance", "weight", "bias"))
    np.testing.assert_allclose(y, (x - mean) / np.sqrt(var + 1e-3) * gamma + beta, rtol=0, atol=1e-14)


def test_adapter_set_native_names_every_bad_key():
    spec = specs.get("resnet18")
    native = dict(_calibrated_native("resnet18"))
    native.pop("bn1._mean")
    native["bn1.running_mean"] = np.zeros(64, np.float32)
    native["fc.weight"] = native["fc.weight"].T
    with pytest.raises(specs.WeightMismatchError) as error:
        adapter.set_native(adapter.build("resnet18"), spec, native)
    assert sorted(error.value.problems) == sorted(
        ["missing bn1._mean", "unexpected bn1.running_mean", "fc.weight: shape (1000, 512), expected (512, 1000)"])


def test_adapter_configure_cpu(paddle_tf32_switches, monkeypatch):
    """TF32 off is read back from paddle's own switches (set on first, so a no-op configure fails)."""
    monkeypatch.delenv("NVIDIA_TF32_OVERRIDE", raising=False)  # restored after the test
    paddle_tf32_switches.set_cublas_switch(True)
    paddle_tf32_switches.set_cudnn_switch(True)  # paddle's default
    settings = adapter.configure("cpu", allow_tf32=False)
    assert settings["device"] == "cpu"
    assert settings["version"] == paddle.__version__
    assert not paddle_tf32_switches.get_cublas_switch() and not paddle_tf32_switches.get_cudnn_switch()
    assert os.environ["NVIDIA_TF32_OVERRIDE"] == "0"
    monkeypatch.delenv("NVIDIA_TF32_OVERRIDE")
    allowed = adapter.configure("cpu", allow_tf32=True)
    assert paddle_tf32_switches.get_cublas_switch() and paddle_tf32_switches.get_cudnn_switch()
    assert "NVIDIA_TF32_OVERRIDE" not in os.environ  # allowing TF32 does not force it off
    assert allowed["tf32"] == "False"  # a CPU has no TF32, whatever is allowed
    if not paddle.device.is_compiled_with_cuda():
        with pytest.raises(RuntimeError, match="CUDA"):
            adapter.configure("cuda", allow_tf32=False)


def _python(code: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


needs_tensorflow = pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None, reason="needs tensorflow")


@needs_tensorflow
def test_import_after_tensorflow_raises_import_error_instead_of_crashing():
    result = _python(
        "import tensorflow\n"
        "try:\n    import paddle_impl\n"
        "except ImportError as error:\n    print('ImportError:', error)\n"
        "print('paddle' in __import__('sys').modules)"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "ImportError: paddle_impl: TensorFlow is already imported" in result.stdout
    assert "Import paddle (or paddle_impl) before tensorflow" in result.stdout
    assert result.stdout.rstrip().endswith("False")  # paddle itself was never imported


@needs_tensorflow
def test_paddle_then_tensorflow_works():
    result = _python(
        "import paddle_impl, tensorflow as tf\n"
        "from crosscheck.backends.paddle import adapter\n"
        "import numpy as np\n"
        "logits = adapter.forward(adapter.build('resnet18', 3), np.zeros((1, 3, 32, 32), np.float32))\n"
        "print(logits.shape, float(tf.reduce_sum(tf.ones(3))))"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "(1, 3) 3.0"

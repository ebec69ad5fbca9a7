"""pytorch_impl against torchvision and first principles: structure, weights, numerics, errors, adapter."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from functools import cache
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

import pytorch_impl  # noqa: E402
from crosscheck import spec as specs  # noqa: E402
from crosscheck.calibration import calibrated_weights, sample_input  # noqa: E402
from crosscheck.spec import UnknownModelError, WeightMismatchError  # noqa: E402
from crosscheck.backends.torch import adapter  # noqa: E402

# The ids torchvision.models defines, and the BN epsilon each reference library uses (torch's BatchNorm2d
# default, keras.applications' literal 1.001e-5): pinned here, not read from the spec under test.
TORCHVISION_IDS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")
REFERENCE_EPS = {"torchvision": 1e-5, "keras_v1": 1.001e-5, "keras_v2": 1.001e-5}


def deep_ids_slow(model_ids: tuple[str, ...]) -> list:
    """The ids as pytest params, the 101- and 152-layer ones marked slow (each costs 10-30 s on 2 cores)."""
    return [pytest.param(m, marks=pytest.mark.slow) if sum(specs.get(m).depths) > 16 else m for m in model_ids]


@cache
def weights(model_id: str) -> dict[str, np.ndarray]:
    """calibrated_weights, computed once per model id for the whole file (tests never mutate them)."""
    return calibrated_weights(model_id)


def torchvision_model(model_id: str) -> torch.nn.Module:
    return getattr(torchvision.models, model_id)().eval()


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# --------------------------------------------------------------------------------------------
# Structure


@pytest.mark.parametrize("model_id", TORCHVISION_IDS)
def test_parameter_count_and_state_dict_keys_equal_torchvision(model_id: str) -> None:
    ours, reference = pytorch_impl.build(model_id), torchvision_model(model_id)
    assert n_params(ours) == n_params(reference)
    assert list(ours.state_dict()) == list(reference.state_dict())  # num_batches_tracked included
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in reference.state_dict().items()}


@pytest.mark.parametrize("model_id", specs.MODEL_IDS)
def test_every_spec_layer_is_built_at_its_module_path_as_specified(model_id: str) -> None:
    spec = specs.get(model_id)
    model = pytorch_impl.build(model_id)
    for layer in spec.layers:
        module = model.get_submodule(layer.module_path)
        for param, shape in layer.shapes.items():
            assert tuple(getattr(module, param).shape) == shape, (layer.name, param)
        if layer.kind == "conv":
            assert isinstance(module, torch.nn.Conv2d), layer.name
            assert module.stride == (layer.stride,) * 2 and module.padding == (layer.padding,) * 2, layer.name
            assert (module.bias is not None) == layer.bias, layer.name
        elif layer.kind == "bn":
            assert isinstance(module, torch.nn.BatchNorm2d) and module.eps == REFERENCE_EPS[spec.family], layer.name
    spec_keys = {layer.native_key(param, "torch") for layer in spec.layers for param in layer.shapes}
    model_keys = {key for key in model.state_dict() if not key.endswith("num_batches_tracked")}
    assert model_keys == spec_keys


def test_keras_v1_strides_on_first_1x1_and_v2_on_last_block_3x3() -> None:
    v1, v2 = pytorch_impl.resnet50_v1(), pytorch_impl.resnet50v2()
    assert v1.layer2[0].conv1.stride == (2, 2) and v1.layer2[0].conv2.stride == (1, 1)
    assert v1.layer2[0].conv2.bias is not None  # keras: every conv has a bias
    assert v2.layer1[2].conv2.stride == (2, 2) and v2.layer1[0].conv2.stride == (1, 1)
    assert v2.layer4[2].conv2.stride == (1, 1)  # conv5 is not strided in ResNetV2
    assert v2.layer1[0].conv1.bias is None and v2.layer1[0].conv3.bias is not None


# --------------------------------------------------------------------------------------------
# Numerics against torchvision


def calibrated_torchvision(model_id: str) -> torch.nn.Module:
    """torchvision's model with the calibrated weights loaded strictly through the spec's native keys."""
    reference = torchvision_model(model_id)
    native = specs.to_native(specs.get(model_id), weights(model_id), "torch")
    reference.load_state_dict({**reference.state_dict(), **{k: torch.from_numpy(v) for k, v in native.items()}},
                              strict=True)
    return reference


@pytest.mark.parametrize("model_id", deep_ids_slow(TORCHVISION_IDS))
def test_strict_load_from_torchvision_gives_equal_outputs(model_id: str) -> None:
    reference = calibrated_torchvision(model_id)
    ours = pytorch_impl.build(model_id).eval()
    pytorch_impl.load_state_dict(ours, reference.state_dict())
    images = torch.from_numpy(sample_input(2))
    # Same modules, same kernels: bit-identical in float32 and float64 (measured 0.0). float64 is what makes a
    # BN-epsilon slip of 1e-10 visible; in float32 it stays below the last bit.
    for dtype in (torch.float32, torch.float64):
        with torch.inference_mode():
            expected, actual = reference.to(dtype)(images.to(dtype)).numpy(), ours.to(dtype)(images.to(dtype)).numpy()
        assert expected.shape == (2, 1000) and np.isfinite(expected).all()
        np.testing.assert_array_equal(actual, expected, err_msg=str(dtype))


@pytest.mark.parametrize("model_id", deep_ids_slow(specs.MODEL_IDS))
def test_block_outputs_have_the_spec_shapes_at_the_default_input_size(model_id: str) -> None:
    spec = specs.get(model_id)
    model = adapter.build(model_id)
    outputs = adapter.block_outputs(model, sample_input(1, size=spec.input_size))
    assert list(outputs) == ["stem", *(block.name for block in spec.blocks), "logits"]
    first = spec.blocks[0]
    assert outputs["stem"].shape == (1, first.in_channels, first.input_size, first.input_size)
    for block in spec.blocks:
        assert outputs[block.name].shape == (1, block.out_channels, block.output_size, block.output_size), block.name
    assert outputs["logits"].shape == (1, spec.num_classes) and np.isfinite(outputs["logits"]).all()


@pytest.mark.parametrize("model_id", ["resnet18", "resnet50_v1", "resnet50v2"])
def test_default_head_is_softmax_for_keras_ids_and_logits_for_torchvision_ids(model_id: str) -> None:
    model = pytorch_impl.build(model_id, num_classes=10).eval()
    with torch.inference_mode():
        out = model(torch.from_numpy(sample_input(2, size=64)))
    assert out.shape == (2, 10)
    is_softmax = bool(torch.allclose(out.sum(dim=1), torch.ones(2)) and (out >= 0).all())
    assert is_softmax == (specs.get(model_id).default_head == "softmax")


def numpy_max_pool_3x3_s2(x: np.ndarray, pad_value: float) -> np.ndarray:
    """Reference 3x3/2 max-pool over a constant-padded NCHW array, written out loop by loop."""
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=pad_value)
    size = (padded.shape[2] - 3) // 2 + 1
    out = np.empty(x.shape[:2] + (size, size), x.dtype)
    for i in range(size):
        for j in range(size):
            out[:, :, i, j] = padded[:, :, 2 * i:2 * i + 3, 2 * j:2 * j + 3].max(axis=(2, 3))
    return out


@pytest.mark.parametrize(("model_id", "pad_value"), [("resnet50v2", 0.0), ("resnet50", -np.inf)])
def test_stem_pool_padding_on_negative_input(model_id: str, pad_value: float) -> None:
    x = -np.abs(np.random.default_rng(0).standard_normal((1, 2, 9, 9), dtype=np.float32)) - 0.1
    with torch.inference_mode():
        pooled = pytorch_impl.build(model_id).maxpool(torch.from_numpy(x)).numpy()
    np.testing.assert_array_equal(pooled, numpy_max_pool_3x3_s2(x, pad_value))
    assert (pooled[:, :, 0, 0] == 0).all() == (pad_value == 0)  # a corner window always touches the padding


def test_v2_strided_shortcut_subsamples_the_raw_input() -> None:
    block = pytorch_impl.resnet50v2().layer1[2]  # conv2_block3: MaxPool(1, 2) shortcut
    assert block.downsample is None
    x = torch.randn(1, 256, 8, 8)
    assert torch.equal(block.shortcut_pool(x), x[:, :, ::2, ::2])


@pytest.mark.parametrize("model_id", ["resnet18", "resnet50v2"])
def test_torch_export_with_dynamic_batch_matches_eager(model_id: str) -> None:
    model = pytorch_impl.build(model_id, num_classes=10).eval()
    batch = torch.export.Dim("batch")
    exported = torch.export.export(model, (torch.randn(2, 3, 64, 64),), dynamic_shapes={"x": {0: batch}})
    images = torch.randn(3, 3, 64, 64)
    with torch.inference_mode():
        torch.testing.assert_close(exported.module()(images), model(images))


# --------------------------------------------------------------------------------------------
# The CIFAR ids against a CIFAR ResNet as the training blogs write it: kuangliu/pytorch-cifar's
# models/resnet.py, in tests/candidates/ (its own names `shortcut`, `linear`; avg_pool2d(4) as the head).


def _kuangliu() -> ModuleType:
    path = Path(__file__).parents[1] / "candidates" / "kuangliu_cifar_resnet.py"
    loader = importlib.util.spec_from_file_location("kuangliu_cifar_resnet", path)
    module = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(module)
    return module


kuangliu = _kuangliu()
CIFAR_BLOGS = {"resnet18_cifar": kuangliu.ResNet18, "resnet34_cifar": kuangliu.ResNet34,
               "resnet50_cifar": kuangliu.ResNet50, "resnet101_cifar": kuangliu.ResNet101,
               "resnet152_cifar": kuangliu.ResNet152}
# kuangliu's ResNet18 / ResNet50 parameter counts for CIFAR-10 (11.17M / 23.52M)
CIFAR_PARAMS = {"resnet18_cifar": 11_173_962, "resnet50_cifar": 23_520_842}


def kuangliu_names(key: str) -> str:
    """A torchvision state_dict key in kuangliu's naming: `downsample` -> `shortcut`, `fc` -> `linear`."""
    return key.replace(".downsample.", ".shortcut.").replace("fc.", "linear.")


def calibrated_cifar_pair(model_id: str) -> tuple[torch.nn.Module, torch.nn.Module]:
    """(ours, the blog model), both holding the calibrated weights: ours through the spec's adapter, the blog
    model by strictly loading the same native arrays under its own names."""
    spec = specs.get(model_id)
    native = specs.to_native(spec, weights(model_id), "torch")
    ours = adapter.build(model_id)
    adapter.set_native(ours, spec, native)
    blog = CIFAR_BLOGS[model_id]().eval()
    blog.load_state_dict({**blog.state_dict(), **{kuangliu_names(k): torch.from_numpy(v) for k, v in native.items()}},
                         strict=True)
    return ours, blog


@pytest.mark.parametrize("model_id", ["resnet18_cifar", "resnet50_cifar"])
def test_cifar_ids_have_the_blog_models_parameters_and_keys(model_id: str) -> None:
    ours, blog = pytorch_impl.build(model_id), CIFAR_BLOGS[model_id]()
    assert n_params(ours) == n_params(blog) == CIFAR_PARAMS[model_id]
    assert [kuangliu_names(k) for k in ours.state_dict()] == list(blog.state_dict())
    assert all(v.shape == blog.state_dict()[kuangliu_names(k)].shape for k, v in ours.state_dict().items())
    assert ours.fc.out_features == 10 and specs.get(model_id).input_size == 32
    assert isinstance(ours.maxpool, torch.nn.Identity)
    assert (ours.conv1.kernel_size, ours.conv1.stride, ours.conv1.padding) == ((3, 3), (1, 1), (1, 1))


@pytest.mark.parametrize("model_id", ["resnet18_cifar", "resnet50_cifar", *(pytest.param(m, marks=pytest.mark.slow)
                                      for m in ("resnet34_cifar", "resnet101_cifar", "resnet152_cifar"))])
def test_cifar_ids_compute_what_the_blog_cifar_resnet_computes(model_id: str) -> None:
    """float64 outputs agree to rounding at the blogs' 32x32 input (their avg_pool2d(4) head needs it)."""
    ours, blog = calibrated_cifar_pair(model_id)
    images = torch.from_numpy(sample_input(2, size=32)).double()
    with torch.inference_mode():
        expected, actual = blog.double()(images).numpy(), ours.double()(images).numpy()
    assert expected.shape == (2, 10) and np.isfinite(expected).all() and expected.std() > 0.1
    np.testing.assert_allclose(actual, expected, rtol=0, atol=1e-12 * np.abs(expected).max())


def test_resnet18_cifar_float32_features_are_bit_identical_to_the_blog_model() -> None:
    """The same torch ops in the same order up to the head: float32 feature maps equal bit for bit. (The heads
    then sum in different orders, avg_pool2d(4) vs adaptive pooling, which the float64 test above covers.)"""
    ours, blog = calibrated_cifar_pair("resnet18_cifar")
    images = torch.from_numpy(sample_input(2, size=32))
    with torch.inference_mode():
        expected, actual = blog.features(images), ours.forward_features(images)
    assert actual.shape == (2, 512, 4, 4)
    np.testing.assert_array_equal(actual.numpy(), expected.numpy())


# --------------------------------------------------------------------------------------------
# Bad input


def test_unknown_model_id_lists_every_valid_id() -> None:
    with pytest.raises(UnknownModelError) as error:
        pytorch_impl.build("resnet51")
    assert all(model_id in str(error.value) for model_id in specs.MODEL_IDS)


def test_num_classes_0_is_torchvision_with_fc_stripped() -> None:
    """The headless model (NO_HEAD) is what users make with `model.fc = nn.Identity()`: same keys, pooled features."""
    reference = torchvision_model("resnet18").eval()
    reference.fc = torch.nn.Identity()
    ours = pytorch_impl.build("resnet18", num_classes=0).eval()
    pytorch_impl.load_state_dict(ours, reference.state_dict())  # strict: exactly the same keys
    images = torch.randn(2, 3, 64, 64)
    with torch.inference_mode():
        expected = reference(images)
        assert expected.shape == (2, 512)
        torch.testing.assert_close(ours(images), expected, rtol=0, atol=0)


@pytest.mark.parametrize("num_classes", [-1, -3])
def test_num_classes_below_zero_is_rejected(num_classes: int) -> None:
    with pytest.raises(ValueError, match="num_classes"):
        pytorch_impl.build("resnet18", num_classes=num_classes)
    with pytest.raises(ValueError, match="num_classes"):
        pytorch_impl.resnet50v2(num_classes=num_classes)


def test_mis_keyed_state_dict_names_every_bad_key() -> None:
    state = dict(torchvision_model("resnet18").state_dict())
    del state["fc.bias"], state["layer1.0.bn1.num_batches_tracked"]
    state["layer9.0.conv1.weight"] = torch.zeros(1)
    state["layer1.0.conv1.weight"] = torch.zeros(64, 64, 1, 1)
    state["fc.weight"] = torch.zeros(10, 512)
    with pytest.raises(WeightMismatchError) as error:
        pytorch_impl.load_state_dict(pytorch_impl.resnet18(), state)
    assert len(error.value.problems) == 5
    for key in ("fc.bias", "layer1.0.bn1.num_batches_tracked", "layer9.0.conv1.weight", "layer1.0.conv1.weight",
                "fc.weight"):
        assert key in str(error.value)


def test_torchvision_resnet50_weights_do_not_fit_keras_v1_and_every_missing_bias_is_named() -> None:
    spec = specs.get("resnet50_v1")
    with pytest.raises(WeightMismatchError) as error:
        pytorch_impl.load_state_dict(pytorch_impl.resnet50_v1(), torchvision_model("resnet50").state_dict())
    conv_biases = {layer.native_key("bias", "torch") for layer in spec.layers if layer.kind == "conv"}
    assert set(error.value.problems) == {f"missing {key}" for key in conv_biases}


def test_load_reads_a_torchvision_checkpoint_file(tmp_path) -> None:
    reference = torchvision_model("resnet18")
    torch.save(reference.state_dict(), tmp_path / "resnet18.pth")
    model = pytorch_impl.load("resnet18", tmp_path / "resnet18.pth")
    assert all(torch.equal(model.state_dict()[k], v) for k, v in reference.state_dict().items())


# --------------------------------------------------------------------------------------------
# Adapter


@pytest.fixture
def torch_numeric_switches():
    """Restores torch's global numeric switches after the test. Not monkeypatch: `cuda.matmul.allow_tf32` is a
    virtual attribute of a module object, which pytest >= 9.2 tries to delete on undo instead of resetting."""
    switches = ((torch.backends.cudnn, "allow_tf32"), (torch.backends.cuda.matmul, "allow_tf32"),
                (torch.backends.cudnn, "deterministic"), (torch.backends.cudnn, "benchmark"))
    saved = [(module, flag, getattr(module, flag)) for module, flag in switches]
    yield
    for module, flag, value in saved:
        setattr(module, flag, value)


def test_configure_reports_fp32_cpu_settings(torch_numeric_switches) -> None:
    """Each switch is set to the wrong value first (restored after), so a configure that skips one fails."""
    for module, flag, wrong in ((torch.backends.cudnn, "allow_tf32", True), (torch.backends.cuda.matmul, "allow_tf32", True),
                                (torch.backends.cudnn, "deterministic", False), (torch.backends.cudnn, "benchmark", True)):
        setattr(module, flag, wrong)
    settings = adapter.configure("cpu", allow_tf32=False)
    assert settings["device"] == "cpu" and settings["version"] == torch.__version__
    assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
    assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
    with pytest.raises(ValueError, match="device"):
        adapter.configure("tpu", allow_tf32=False)


@pytest.mark.parametrize("model_id", ["resnet18", "resnet50v2"])
def test_adapter_round_trip_is_bit_exact(model_id: str) -> None:
    spec = specs.get(model_id)
    model = adapter.build(model_id)
    adapter.set_native(model, spec, specs.to_native(spec, weights(model_id), "torch"))
    native = adapter.get_native(model, spec)
    assert list(native) == [layer.native_key(p, "torch") for layer in spec.layers for p in layer.shapes]
    assert all(array.dtype == np.float32 for array in native.values())
    back = specs.from_native(spec, native, "torch")
    expected = weights(model_id)
    assert back.keys() == expected.keys()
    assert all(np.array_equal(back[key], expected[key]) for key in expected)

    images = sample_input(1, size=64)
    logits = adapter.forward(model, images)
    copy = adapter.build(model_id)
    adapter.set_native(copy, spec, native)
    np.testing.assert_array_equal(adapter.forward(copy, images), logits)
    np.testing.assert_array_equal(adapter.block_outputs(model, images)["logits"], logits)


def test_adapter_set_native_names_every_bad_key() -> None:
    spec = specs.get("resnet18")
    native = specs.to_native(spec, weights("resnet18"), "torch")
    del native["bn1.running_var"]
    native["fc.weight"] = native["fc.weight"].T
    native["bn1.num_batches_tracked"] = np.zeros(())
    with pytest.raises(WeightMismatchError) as error:
        adapter.set_native(adapter.build("resnet18"), spec, native)
    assert len(error.value.problems) == 3
    assert all(key in str(error.value) for key in ("bn1.running_var", "fc.weight", "bn1.num_batches_tracked"))


# --------------------------------------------------------------------------------------------
# Isolation


def test_spec_imports_no_framework() -> None:
    frameworks = ("torch", "tensorflow", "keras", "paddle", "onnx")
    code = f"import crosscheck.spec, sys; print([m for m in {frameworks!r} if m in sys.modules])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"

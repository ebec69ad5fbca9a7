"""The canonical format against each framework's key naming and weight layout, on synthetic arrays.

Expected names and layouts are the reference libraries' documented facts: torchvision's state_dict keys
(`layer1.0.downsample.1.running_var`, `fc.weight`), paddle.vision's (`_mean`, `_variance`, Linear weight
stored [in, out]), keras.applications' layer names with `kernel`/`gamma`/`moving_mean` and its kernel layouts
(Conv2D [kh, kw, in, out], Dense [in, out]).
"""

from __future__ import annotations

import numpy as np
import pytest

from crosscheck import spec as specs

FRAMEWORKS = ("torch", "keras", "paddle")


def synthetic(spec: specs.ModelSpec, dtype: type = np.float32) -> dict[str, np.ndarray]:
    """A distinct value at every position of each canonical array, and a distinct offset per array, so any
    transposition or swap shows."""
    return {key: (np.arange(int(np.prod(shape)), dtype=dtype) + index / 8).reshape(shape)
            for index, (key, shape) in enumerate(spec.canonical_shapes().items())}


@pytest.mark.parametrize("canonical, torch, paddle", [
    ("conv1_conv.weight", "conv1.weight", "conv1.weight"),
    ("conv1_bn.running_mean", "bn1.running_mean", "bn1._mean"),
    ("conv2_block1_2_bn.running_var", "layer1.0.bn2.running_var", "layer1.0.bn2._variance"),
    ("conv3_block1_0_conv.weight", "layer2.0.downsample.0.weight", "layer2.0.downsample.0.weight"),
    ("conv5_block2_1_bn.weight", "layer4.1.bn1.weight", "layer4.1.bn1.weight"),
    ("conv4_block1_0_bn.bias", "layer3.0.downsample.1.bias", "layer3.0.downsample.1.bias"),
    ("predictions.weight", "fc.weight", "fc.weight"),
])
def test_torchvision_and_paddle_vision_keys_of_resnet18(canonical, torch, paddle):
    spec = specs.get("resnet18")
    native = {framework: specs.to_native(spec, synthetic(spec), framework) for framework in ("torch", "paddle")}
    assert canonical in spec.canonical_shapes() and torch in native["torch"] and paddle in native["paddle"]
    layer, param = canonical.rsplit(".", 1)
    assert spec.layer(layer).native_key(param, "torch") == torch
    assert spec.layer(layer).native_key(param, "paddle") == paddle


def test_torchvision_resnet50_has_a_projection_in_layer1_and_resnet18_does_not():
    """64 -> 256 channels needs `layer1.0.downsample` in resnet50; resnet18 keeps 64 channels there."""
    assert "layer1.0.downsample.0.weight" in specs.get("resnet50").native_shapes("torch")
    assert not any(key.startswith("layer1.0.downsample") for key in specs.get("resnet18").native_shapes("torch"))


def test_keras_applications_names_and_weight_order():
    spec = specs.get("resnet50_v1")
    keys = list(specs.to_native(spec, synthetic(spec), "keras"))
    assert keys[:6] == ["conv1_conv/kernel", "conv1_conv/bias", "conv1_bn/gamma", "conv1_bn/beta",
                        "conv1_bn/moving_mean", "conv1_bn/moving_variance"]
    assert "conv2_block1_0_conv/kernel" in keys and "conv3_block4_3_bn/moving_variance" in keys
    assert keys[-2:] == ["predictions/kernel", "predictions/bias"]


@pytest.mark.parametrize("model_id", ["resnet18", "resnet50_v1", "resnet50v2"])
def test_native_layouts_are_the_documented_transposes(model_id):
    """torch and paddle convs are [out, in, kh, kw]; Keras' Conv2D kernel is [kh, kw, in, out]; torch's Linear weight
    is [out, in], Paddle's Linear and Keras' Dense kernels [in, out]; BN vectors and biases are unchanged."""
    spec = specs.get(model_id)
    canonical = synthetic(spec)
    native = {framework: specs.to_native(spec, canonical, framework) for framework in FRAMEWORKS}
    for layer in spec.layers:
        for param in layer.shapes:
            array = canonical[layer.canonical_key(param)]
            is_weight = param == "weight" and layer.kind != "bn"
            keras_axes = {"conv": (2, 3, 1, 0), "dense": (1, 0)}.get(layer.kind) if is_weight else None
            paddle_axes = (1, 0) if is_weight and layer.kind == "dense" else None
            expected = {"torch": array, "keras": array.transpose(keras_axes) if keras_axes else array,
                        "paddle": array.transpose(paddle_axes) if paddle_axes else array}
            for framework in FRAMEWORKS:
                np.testing.assert_array_equal(native[framework][layer.native_key(param, framework)], expected[framework],
                                              err_msg=f"{framework} {layer.canonical_key(param)}")


def test_paddle_linear_and_keras_dense_share_a_layout_and_torch_and_paddle_convs_too():
    spec = specs.get("resnet18")
    canonical = synthetic(spec)
    keras, paddle, torch = (specs.to_native(spec, canonical, framework) for framework in ("keras", "paddle", "torch"))
    np.testing.assert_array_equal(keras["predictions/kernel"], paddle["fc.weight"])
    np.testing.assert_array_equal(torch["layer2.0.conv1.weight"], paddle["layer2.0.conv1.weight"])


# One id per family and stem (the others repeat the same blocks, checked key by key in test_spec_structure).
ROUND_TRIP_IDS = ["resnet18", "resnet50", "resnet50_v1", "resnet50v2", "resnet18_cifar", "resnet50_cifar"]


@pytest.mark.parametrize("model_id", ROUND_TRIP_IDS)
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_every_id_round_trips_bit_identically_through_every_naming(model_id, framework):
    spec = specs.get(model_id)
    canonical = synthetic(spec)
    native = specs.to_native(spec, canonical, framework)
    assert specs.shapes_of(native) == spec.native_shapes(framework)
    back = specs.from_native(spec, native, framework)
    assert list(back) == list(canonical)
    for key, array in canonical.items():
        np.testing.assert_array_equal(back[key], array, err_msg=key)
        assert back[key].dtype == np.float32


def test_float64_stays_float64_and_other_dtypes_come_back_float32():
    spec = specs.get("resnet18_cifar")
    wide = specs.from_native(spec, specs.to_native(spec, synthetic(spec, np.float64), "keras"), "keras")
    assert {array.dtype for array in wide.values()} == {np.dtype(np.float64)}
    small = {key: (array % 1000).astype(np.float16) for key, array in synthetic(spec).items()}
    half = specs.from_native(spec, specs.to_native(spec, small, "paddle"), "paddle")
    assert {array.dtype for array in half.values()} == {np.dtype(np.float32)}


def test_a_chain_through_every_naming_is_the_identity():
    """torch -> keras -> paddle -> torch through the canonical hub gives the arrays back bit for bit."""
    spec = specs.get("resnet50v2")
    canonical = synthetic(spec)
    current = canonical
    for framework in ("torch", "keras", "paddle", "torch"):
        current = specs.from_native(spec, specs.to_native(spec, current, framework), framework)
    for key, array in canonical.items():
        np.testing.assert_array_equal(current[key], array, err_msg=key)


def test_missing_and_misshapen_native_keys_are_each_named():
    spec = specs.get("resnet18")
    native = specs.to_native(spec, synthetic(spec), "paddle")
    del native["layer1.0.bn1._variance"]
    native["fc.weight"] = native["fc.weight"].T  # torch's [out, in] where Paddle stores [in, out]
    with pytest.raises(specs.WeightMismatchError) as error:
        specs.from_native(spec, native, "paddle")
    message = str(error.value)
    assert "missing layer1.0.bn1._variance" in message
    assert "fc.weight: shape (1000, 512) does not fit predictions.weight (1000, 512)" in message


def test_canonical_arrays_are_checked_before_any_renaming():
    spec = specs.get("resnet18_cifar")
    canonical = synthetic(spec)
    canonical["predictions.weight"] = canonical["predictions.weight"][:, :10]
    canonical["stray.weight"] = np.zeros(3, np.float32)
    with pytest.raises(specs.WeightMismatchError) as error:
        specs.to_native(spec, canonical, "torch")
    assert "unexpected stray.weight" in str(error.value)
    assert "predictions.weight: shape (10, 10), expected (10, 512)" in str(error.value)

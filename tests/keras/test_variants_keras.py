"""keras_impl builds a grouped variant from its data alone, and generates keras.applications' constructor names."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

keras = pytest.importorskip("keras")

import keras_impl  # noqa: E402
from keras_impl import resnet  # noqa: E402
from crosscheck import calibration  # noqa: E402
from crosscheck import spec as specs  # noqa: E402
from timm_references import ODD_SIZE, SHORT, sample_images, timm_output  # noqa: E402  (tests/ helpers)

# ResNeXt's 32x4d bottleneck behind the CIFAR stem, one block per stage: cheap, and every stage's 3x3 is grouped
RESNEXT_CIFAR = replace(specs.VARIANTS["resnet50_cifar"], model_id="resnext_32x4d_cifar", depths=(1, 1, 1, 1),
                        groups=32, width_per_group=4)


@pytest.fixture(params=["float32", "float64"])
def floatx(request):
    """Layers built in float32, or in float64 as the float64 proof builds them (grouped convs included)."""
    floatx, policy = keras.config.floatx(), keras.config.dtype_policy()
    keras.config.set_floatx(request.param)
    keras.config.set_dtype_policy(request.param)
    yield request.param
    keras.config.set_floatx(floatx)
    keras.config.set_dtype_policy(policy)


def test_grouped_variant_computes_the_grouped_numpy_forward(floatx):
    """The numpy forward (its grouped conv checked against the definition) with BN on the batch's statistics, which
    it stores as running statistics: keras in inference with those weights must give its output."""
    spec = specs.get(RESNEXT_CIFAR)
    weights = calibration.calibrated_weights(RESNEXT_CIFAR)
    images = calibration.sample_input(2, size=spec.input_size)
    expected = calibration._CalibratingForward(spec, weights).run(images)
    model = keras_impl.build(spec, classifier_activation=None)
    assert model.get_layer("conv3_block1_2_conv").compute_dtype == floatx
    native = specs.to_native(spec, weights, "keras")
    for layer in spec.layers:
        model.get_layer(layer.name).set_weights([native[layer.native_key(p, "keras")] for p in layer.shapes])
    assert model.get_layer("conv3_block1_2_conv").get_weights()[0].shape == (3, 3, 8, 256)  # HWIO, I per group
    actual = keras.ops.convert_to_numpy(model(images.transpose(0, 2, 3, 1).astype(floatx), training=False))
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


@pytest.mark.parametrize("model_id", SHORT)
def test_timm_designs_compute_what_timm_computes_in_float64(floatx, model_id):
    """The deep stem, the average-pool shortcut on odd maps (TF's "same" average = torch's ceil mode without the
    padding) and squeeze-excitation, against timm itself; float32 within float32's rounding."""
    spec = specs.get(SHORT[model_id])
    images, expected = sample_images(), timm_output(model_id)
    model = keras_impl.build(spec, input_shape=(ODD_SIZE, ODD_SIZE, 3))
    native = specs.to_native(spec, calibration.calibrated_weights(SHORT[model_id]), "keras")
    for layer in spec.layers:
        model.get_layer(layer.name).set_weights([native[layer.native_key(p, "keras")] for p in layer.shapes])
    actual = keras.ops.convert_to_numpy(model(images.transpose(0, 2, 3, 1).astype(floatx), training=False))
    error = np.linalg.norm(actual - expected) / np.linalg.norm(expected)
    assert error <= (1e-9 if floatx == "float64" else 1e-5)


def test_constructors_are_keras_applications_names_and_one_per_other_id():
    """keras.applications' ResNet50/101/152(V2) are the ids that rebuild them; torchvision's resnet50 has no
    constructor, its name being keras.applications'; the rest are named after their id."""
    constructors = [name for name in keras_impl.__all__ if name.startswith("ResNet")]
    assert constructors == ["ResNet18", "ResNet34", "ResNet50", "ResNet101", "ResNet152", "ResNet50V2", "ResNet101V2",
                            "ResNet152V2", "ResNet50d", "ResNet101d", "ResNet18CIFAR", "ResNet34CIFAR",
                            "ResNet50CIFAR", "ResNet101CIFAR", "ResNet152CIFAR"]
    assert resnet._constructor_name("seresnet50") == ("SEResNet50", "seresnet50")
    assert resnet._constructor_name("resnet50") is None  # whatever order the spec lists resnet50 and resnet50_v1 in
    assert resnet._constructor_name("resnet50_v1") == ("ResNet50", "resnet50")
    assert resnet._constructor_name("resnext50_32x4d") == ("ResNeXt50_32x4d", "resnext50_32x4d")
    resnet50 = keras_impl.ResNet50(weights=None)
    assert resnet50.name == "resnet50" and resnet50.get_layer("conv2_block1_1_conv").use_bias  # v1: biased convs
    assert keras_impl.ResNet18CIFAR().name == "resnet18_cifar"

"""Each implementation's preprocess_input equals its ecosystem's own function, and the spec's table is right.

Expected values come from the reference libraries: keras.applications' `resnet.preprocess_input`,
`resnet_v2.preprocess_input` and `imagenet_utils.preprocess_input(mode="torch")`, torchvision's
`Normalize` after `ToTensor`'s x / 255, paddle.vision's `to_tensor` + `normalize`. The arithmetic is the
same operation by operation, so float32 results are compared bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest

from crosscheck import spec as specs

torch = pytest.importorskip("torch")
paddle = pytest.importorskip("paddle")
keras = pytest.importorskip("keras")
torchvision = pytest.importorskip("torchvision")

import keras_impl.preprocess  # noqa: E402
import paddle_impl.preprocess  # noqa: E402
import pytorch_impl.preprocess  # noqa: E402
from paddle.vision.transforms import functional as paddle_transforms  # noqa: E402

KERAS_MODES = ("caffe", "tf", "torch")  # the styles keras.applications' preprocess_input has a mode for
NORMALIZE = {"torch": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),  # torchvision's ImageNet transforms
             "cifar": ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010))}  # kuangliu/pytorch-cifar's


@pytest.fixture(scope="module")
def images_nhwc() -> np.ndarray:
    """RGB float32 images in [0, 255], non-integer values, with distinct channels, so a channel swap shows."""
    rng = np.random.default_rng(23)
    return (rng.random((2, 5, 7, 3)) * np.array([255.0, 128.0, 60.0])).astype(np.float32)


def keras_reference(images_nhwc: np.ndarray, style: str) -> np.ndarray:
    """keras.applications' own function on a numpy copy (it works in place)."""
    from keras.applications import imagenet_utils, resnet, resnet_v2

    functions = {"caffe": resnet.preprocess_input, "tf": resnet_v2.preprocess_input,
                 "torch": lambda x: imagenet_utils.preprocess_input(x, mode="torch")}
    return np.asarray(functions[style](images_nhwc.copy()))


def torchvision_reference(images_nhwc: np.ndarray, style: str) -> np.ndarray:
    """torchvision's ToTensor arithmetic (x / 255) then Normalize, per image, NCHW."""
    from torchvision.transforms import Normalize

    mean, std = NORMALIZE[style]
    chw = torch.from_numpy(images_nhwc.transpose(0, 3, 1, 2).copy()) / 255.0
    return Normalize(mean, std)(chw).numpy()


def paddle_reference(images_nhwc: np.ndarray, style: str) -> np.ndarray:
    """paddle.vision: to_tensor's x / 255 (on float data: cast, CHW) then normalize, per image."""
    mean, std = NORMALIZE[style]
    out = [paddle_transforms.normalize(paddle.to_tensor(image.transpose(2, 0, 1)) / 255.0, mean, std, "CHW").numpy()
           for image in images_nhwc]
    return np.stack(out)


def reference_nchw(images_nhwc: np.ndarray, style: str, framework: str) -> np.ndarray:
    """The ecosystem's own result for `style`: torchvision/paddle.vision Normalize, else keras.applications."""
    if style in NORMALIZE and framework in ("torch", "paddle") or style == "cifar":
        return (paddle_reference if framework == "paddle" else torchvision_reference)(images_nhwc, style)
    return keras_reference(images_nhwc, style).transpose(0, 3, 1, 2)


@pytest.mark.parametrize("style", specs.PREPROCESSING)
def test_torch_preprocess_input_equals_its_reference(images_nhwc, style):
    ours = pytorch_impl.preprocess.preprocess_input(torch.from_numpy(images_nhwc.transpose(0, 3, 1, 2).copy()), style)
    np.testing.assert_array_equal(ours.numpy(), reference_nchw(images_nhwc, style, "torch"))


@pytest.mark.parametrize("style", specs.PREPROCESSING)
def test_paddle_preprocess_input_equals_its_reference(images_nhwc, style):
    ours = paddle_impl.preprocess.preprocess_input(paddle.to_tensor(images_nhwc.transpose(0, 3, 1, 2).copy()), style)
    np.testing.assert_array_equal(ours.numpy(), reference_nchw(images_nhwc, style, "paddle"))


def test_paddle_torch_style_equals_normalize_in_0_255_units(images_nhwc):
    """paddle.vision code often normalises 0-255 data with mean (123.675, 116.28, 103.53), std (58.395, 57.12, 57.375):
    the same convention, rounded differently. Each side is a few float32 roundings (relative 2^-24 each) of terms
    below 1.5 in [0, 1] units, divided by std >= 0.224 and giving |y| < 2.7, so they differ by < 2e-6."""
    chw = paddle.to_tensor(images_nhwc.transpose(0, 3, 1, 2).copy())
    ours = paddle_impl.preprocess.preprocess_input(chw, "torch").numpy()
    in_255 = np.stack([paddle_transforms.normalize(image, [123.675, 116.28, 103.53], [58.395, 57.12, 57.375], "CHW").numpy()
                       for image in chw])
    np.testing.assert_allclose(ours, in_255, rtol=0, atol=2e-6)
    assert np.abs(ours - in_255).max() > 0  # not the same arithmetic: the bit-exact reference is ToTensor + Normalize


@pytest.mark.parametrize("style", KERAS_MODES)
def test_keras_preprocess_input_equals_keras_applications(images_nhwc, style):
    ours = keras.ops.convert_to_numpy(keras_impl.preprocess.preprocess_input(images_nhwc, style))
    np.testing.assert_array_equal(ours, keras_reference(images_nhwc, style))
    first = keras_impl.preprocess.preprocess_input(images_nhwc.transpose(0, 3, 1, 2), style, "channels_first")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(first).transpose(0, 2, 3, 1), ours)


def test_keras_preprocess_input_cifar_equals_torchvision(images_nhwc):
    """keras.applications has no CIFAR mode: the Keras result is held to torchvision's, bit for bit."""
    ours = keras.ops.convert_to_numpy(keras_impl.preprocess.preprocess_input(images_nhwc, "cifar"))
    np.testing.assert_array_equal(ours.transpose(0, 3, 1, 2), torchvision_reference(images_nhwc, "cifar"))


def test_preprocess_input_keeps_float64(images_nhwc):
    """The float64 proof path preprocesses in float64 (the weights' origin arithmetic, 52-bit mantissa)."""
    x64 = images_nhwc.astype(np.float64)
    ours = pytorch_impl.preprocess.preprocess_input(torch.from_numpy(x64.transpose(0, 3, 1, 2).copy()), "caffe")
    assert ours.dtype == torch.float64
    np.testing.assert_allclose(ours.numpy(), keras_reference(x64, "caffe").transpose(0, 3, 1, 2), rtol=0, atol=1e-12)


def test_spec_table_pins_the_documented_conventions():
    """The numbers the README's table documents (keras imagenet_utils, torchvision, kuangliu/pytorch-cifar)."""
    caffe, tf, tv = (specs.PREPROCESSING[s] for s in ("caffe", "tf", "torch"))
    assert (caffe.channel_order, caffe.divisor, caffe.mean, caffe.std) == ("BGR", 1.0, (103.939, 116.779, 123.68), (1.0, 1.0, 1.0))
    assert (tf.channel_order, tf.divisor, tf.mean, tf.std) == ("RGB", 127.5, (1.0, 1.0, 1.0), (1.0, 1.0, 1.0))
    assert (tv.channel_order, tv.divisor, tv.mean, tv.std) == ("RGB", 255.0, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    assert specs.origin("resnet50_v1").preprocessing == "caffe"
    assert specs.origin("resnet152v2").preprocessing == "tf"
    assert specs.origin("resnet50").preprocessing == "torch"
    assert specs.origin("resnet18_cifar").preprocessing == "cifar"
    with pytest.raises(ValueError, match="valid: caffe, tf, torch, cifar"):
        specs.preprocessing("imagenet")


def test_torchvision_weights_document_the_same_preprocessing():
    """torchvision's own weight metadata: ResNet50 V1 transforms are Resize(256) + CenterCrop(224), ImageNet mean/std."""
    transforms = torchvision.models.ResNet50_Weights.IMAGENET1K_V1.transforms()
    pipeline = specs.origin("resnet50").pipeline
    assert (transforms.resize_size, transforms.crop_size) == ([pipeline.resize], [pipeline.crop])
    assert (tuple(transforms.mean), tuple(transforms.std)) == NORMALIZE["torch"]
    assert transforms.interpolation.value == pipeline.interpolation


def test_convert_note_says_when_the_destination_ecosystem_differs():
    """keras.applications v1 weights in torch need caffe input, not torchvision's Normalize; V2 weights in Keras need
    what keras.applications.resnet_v2 already does; torchvision weights in paddle need paddle.vision's Normalize."""
    from crosscheck.preprocessing import note

    v1_in_torch = note("resnet50_v1", "torch")
    assert "caffe input (BGR, 0-255, - mean (103.939, 116.779, 123.68))" in v1_in_torch
    assert "NOT torchvision's ImageNet Normalize - use pytorch_impl.preprocess_input(x, 'caffe')" in v1_in_torch
    assert "in keras: NOT keras.applications.resnet.preprocess_input" in note("resnet50", "keras")
    assert note("resnet50v2", "keras").endswith("in keras: keras.applications.resnet_v2.preprocess_input, "
                                                "or keras_impl.preprocess_input(x, 'tf')")
    assert "NOT" not in note("resnet18", "paddle") and "/ std (0.229, 0.224, 0.225)" in note("resnet18", None)


def test_convert_states_the_preprocessing_and_records_it_in_metadata(tmp_path, capsys):
    """A CIFAR checkpoint converted to a canonical file: one line on the console, and the
    style in the file's metadata."""
    from crosscheck import calibration
    from crosscheck.checkpoints import canonical
    from crosscheck.cli import main

    source = canonical.save(tmp_path / "cifar.safetensors", "resnet18_cifar", calibration.calibrated_weights("resnet18_cifar"))
    assert main(["convert", str(source), str(tmp_path / "out.safetensors")]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "preprocessing: CIFAR training blogs (kuangliu/pytorch-cifar) weights expect cifar input" in out
    assert canonical.read_metadata(tmp_path / "out.safetensors")["preprocessing"] == "cifar"

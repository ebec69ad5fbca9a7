"""Each implementation's preprocess_input equals its ecosystem's own function, and the spec's table is right.

Expected values come from the reference libraries: keras.applications' `resnet.preprocess_input`,
`resnet_v2.preprocess_input` and `imagenet_utils.preprocess_input(mode="torch")`, torchvision's
`Normalize` after `ToTensor`'s x / 255, paddle.vision's `to_tensor` + `normalize` (tests/paddle, tests/keras
hold the other implementations). The arithmetic is the same operation by operation, so float32 results are
compared bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest

from crosscheck import spec as specs

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

import pytorch_impl.preprocess  # noqa: E402
from preprocess_references import (NORMALIZE, images, keras_references, reference_nchw,  # noqa: E402  (tests/ helpers)
                                   torchvision_references)


@pytest.fixture(scope="module")
def images_nhwc() -> np.ndarray:
    return images()


@pytest.fixture(scope="module")
def references(images_nhwc) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """torchvision's Normalize styles and keras.applications' modes of `images_nhwc`."""
    return torchvision_references(images_nhwc), keras_references(images_nhwc)


@pytest.mark.parametrize("style", specs.PREPROCESSING)
def test_torch_preprocess_input_equals_its_reference(images_nhwc, references, style):
    ours = pytorch_impl.preprocess.preprocess_input(torch.from_numpy(images_nhwc.transpose(0, 3, 1, 2).copy()), style)
    np.testing.assert_array_equal(ours.numpy(), reference_nchw(style, *references))


def test_preprocess_input_keeps_float64(images_nhwc):
    """The float64 proof path preprocesses in float64 (the weights' origin arithmetic, 52-bit mantissa)."""
    x64 = images_nhwc.astype(np.float64)
    ours = pytorch_impl.preprocess.preprocess_input(torch.from_numpy(x64.transpose(0, 3, 1, 2).copy()), "caffe")
    assert ours.dtype == torch.float64
    np.testing.assert_allclose(ours.numpy(), keras_references(x64)["caffe"].transpose(0, 3, 1, 2), rtol=0, atol=1e-12)


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

"""paddle_impl's preprocess_input equals paddle.vision's `to_tensor` + `normalize` for the Normalize styles and
keras.applications' function (in a process of its own) for the others, bit for bit (tests/torch/test_preprocess.py
has the spec's table)."""

from __future__ import annotations

import numpy as np
import paddle
import pytest
from paddle.vision.transforms import functional as paddle_transforms

import paddle_impl.preprocess
from crosscheck import spec as specs
from preprocess_references import NORMALIZE, reference_nchw  # tests/ helpers
from preprocess_references import images_nhwc, keras_applications  # noqa: F401  (fixtures)


def paddle_reference(images_nhwc: np.ndarray, style: str) -> np.ndarray:
    """paddle.vision: to_tensor's x / 255 (on float data: cast, CHW) then normalize, per image."""
    mean, std = NORMALIZE[style]
    out = [paddle_transforms.normalize(paddle.to_tensor(image.transpose(2, 0, 1)) / 255.0, mean, std, "CHW").numpy()
           for image in images_nhwc]
    return np.stack(out)


@pytest.mark.parametrize("style", specs.PREPROCESSING)
def test_paddle_preprocess_input_equals_its_reference(images_nhwc, keras_applications, style):
    ours = paddle_impl.preprocess.preprocess_input(paddle.to_tensor(images_nhwc.transpose(0, 3, 1, 2).copy()), style)
    paddle_vision = {style: paddle_reference(images_nhwc, style) for style in NORMALIZE}
    np.testing.assert_array_equal(ours.numpy(), reference_nchw(style, paddle_vision, keras_applications))


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

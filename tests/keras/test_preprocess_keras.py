"""keras_impl's preprocess_input equals keras.applications' function for every mode it has, and torchvision's
(in a process of its own) for CIFAR, bit for bit (tests/torch/test_preprocess.py has the spec's table)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import keras_impl.preprocess
from preprocess_references import KERAS_MODES, torchvision_references  # tests/ helpers
from preprocess_references import images_nhwc, keras_applications  # noqa: F401  (fixtures)


@pytest.mark.parametrize("style", KERAS_MODES)
def test_keras_preprocess_input_equals_keras_applications(images_nhwc, keras_applications, style):
    ours = keras.ops.convert_to_numpy(keras_impl.preprocess.preprocess_input(images_nhwc, style))
    np.testing.assert_array_equal(ours, keras_applications[style])
    first = keras_impl.preprocess.preprocess_input(images_nhwc.transpose(0, 3, 1, 2), style, "channels_first")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(first).transpose(0, 2, 3, 1), ours)


def test_keras_preprocess_input_cifar_equals_torchvision(images_nhwc):
    """keras.applications has no CIFAR mode: the Keras result is held to torchvision's, bit for bit."""
    ours = keras.ops.convert_to_numpy(keras_impl.preprocess.preprocess_input(images_nhwc, "cifar"))
    np.testing.assert_array_equal(ours.transpose(0, 3, 1, 2), torchvision_references(images_nhwc)["cifar"])

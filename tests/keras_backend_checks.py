"""The checks every non-TensorFlow Keras backend tier runs (tests/keras_jax, tests/keras_torch import them): the
participant's worker environment is set by the tier's conftest before Keras is imported, so `keras` here is
Keras on that backend. References: keras.applications on the same backend, and numpy float64 from first principles.
"""

from __future__ import annotations

import functools
import importlib
import os

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

pytest.importorskip(os.environ["KERAS_BACKEND"])  # the engine (jax, torch) is an extra of its own
keras = pytest.importorskip("keras")

from crosscheck import backends  # noqa: E402
from crosscheck import spec as specs  # noqa: E402
from crosscheck.calibration import calibrated_weights, conv2d, sample_input  # noqa: E402
from crosscheck.metrics import rel_l2  # noqa: E402

FLOAT64_STEM_RTOL = 1e-12  # float64 arithmetic in a different order; a float32 step anywhere shows as ~1e-8
KERAS_APPLICATIONS = {"ResNet50": "resnet50_v1", "ResNet50V2": "resnet50v2"}


def participant() -> str:
    """The participant whose engine this process' Keras runs on."""
    return next(name for name, record in backends.records().items()
                if record.environment.get("KERAS_BACKEND") == keras.backend.backend())


@functools.cache
def adapter():
    return importlib.import_module(f"crosscheck.backends.{participant()}.adapter")


def loaded(model_id: str, dtype: str, size: int | None = None) -> tuple[keras.Model, dict[str, np.ndarray]]:
    """Our model of `model_id` in `dtype` holding the spec's calibrated weights, and those weights (canonical)."""
    spec = specs.get(model_id)
    weights = calibrated_weights(model_id)
    model = adapter().build(model_id, None, dtype)
    adapter().set_native(model, spec, specs.to_native(spec, weights, "keras"))
    return model, weights


def numpy_stem(images: np.ndarray, weights: dict[str, np.ndarray], eps: float) -> np.ndarray:
    """torchvision's stem in float64 numpy: 7x7/2 conv (pad 3), BN with running statistics, ReLU, 3x3/2 max-pool."""
    x = conv2d(images, weights["conv1_conv.weight"].astype(np.float64), 2, 3)
    per_channel = {p: weights[f"conv1_bn.{p}"].astype(np.float64)[None, :, None, None] for p in ("weight", "bias", "running_mean", "running_var")}
    x = (x - per_channel["running_mean"]) / np.sqrt(per_channel["running_var"] + eps) * per_channel["weight"] + per_channel["bias"]
    x = np.pad(np.maximum(x, 0), ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=-np.inf)
    return sliding_window_view(x, (3, 3), axis=(2, 3))[:, :, ::2, ::2].max(axis=(4, 5))


def stem_distance_from_float64_numpy() -> float:
    """rel L2 of our resnet18's float64 stem on this backend from the float64 numpy stem."""
    model, weights = loaded("resnet18", "float64")
    images = sample_input(1, size=64).astype(np.float64)
    ours = adapter().block_outputs(model, images)["stem"]
    assert ours.dtype == np.float64
    return rel_l2(ours, numpy_stem(images, weights, specs.get("resnet18").layer("conv1_bn").eps))


def test_a_float64_model_computes_in_float64_on_this_backend():
    """Keras' type promotion demotes float64 to float32 on JAX and torch (BatchNormalization then computes in float32);
    the worker's adapter switches that off, so the stem is float64-exact."""
    assert stem_distance_from_float64_numpy() < FLOAT64_STEM_RTOL


def test_keras_float64_demotion_is_caught(monkeypatch):
    """The Keras-only bug on this backend's path, planted back: BN in float32 inside a float64 model fails the check."""
    from keras.src.backend.common import dtypes

    monkeypatch.setitem(dtypes.BIT64_TO_BIT32_DTYPE, "float64", "float32")
    assert stem_distance_from_float64_numpy() > 1e3 * FLOAT64_STEM_RTOL


@pytest.mark.slow  # two ResNet50s per backend
@pytest.mark.parametrize("name", KERAS_APPLICATIONS)
def test_outputs_are_bit_identical_to_keras_applications_on_this_backend(name):
    """keras.applications' model with the same weights, on the same backend and input: the same bits."""
    model_id = KERAS_APPLICATIONS[name]
    spec = specs.get(model_id)
    ours, weights = loaded(model_id, "float32")
    reference = getattr(keras.applications, name)(weights=None, classifier_activation=None, input_shape=(64, 64, 3))
    native = specs.to_native(spec, weights, "keras")
    for layer in spec.layers:
        reference.get_layer(layer.name).set_weights([native[layer.native_key(p, "keras")] for p in layer.shapes])
    images = sample_input(1, size=64).astype(np.float32)
    expected = keras.ops.convert_to_numpy(reference(images.transpose(0, 2, 3, 1), training=False))
    np.testing.assert_array_equal(adapter().forward(ours, images), expected)


def test_configure_reports_this_backend_and_float64_kept():
    settings = adapter().configure("cpu", False)
    assert settings["backend"] == keras.backend.backend() == backends.get(participant()).environment["KERAS_BACKEND"]
    assert settings["keras_float64"].startswith("kept")

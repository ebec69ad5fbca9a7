"""paddle_impl builds a variant from its data alone: paddle.vision's ResNeXt, and a named constructor for every
spec id."""

from __future__ import annotations

import importlib
from dataclasses import replace

import numpy as np
import pytest

paddle = pytest.importorskip("paddle")

from paddle.vision import models as vision  # noqa: E402

import paddle_impl  # noqa: E402
from crosscheck import calibration  # noqa: E402
from crosscheck import spec as specs  # noqa: E402
from crosscheck.backends.paddle import adapter  # noqa: E402
from timm_references import SHORT, sample_images, timm_output  # noqa: E402  (tests/ helpers)

def test_grouped_variant_has_paddle_visions_resnext50_32x4d_state_dict():
    """paddle.vision's resnext50_32x4d is ResNet(BottleneckBlock, 50, width=4, groups=32)."""
    variant = replace(specs.VARIANTS["resnet50"], model_id="resnext50_32x4d", groups=32, width_per_group=4)
    with paddle.LazyGuard():  # shapes without initialising the weights
        ours, reference = paddle_impl.build(specs.get(variant)), vision.resnext50_32x4d()
    assert specs.shapes_of(ours.state_dict()) == specs.shapes_of(reference.state_dict())


@pytest.mark.parametrize("model_id", [m for m in specs.MODEL_IDS if "paddle" in specs.get(m).references])
def test_every_id_with_a_paddle_vision_reference_has_its_state_dict(model_id):
    """The reference the spec names (paddle.vision.models.resnet50, ...): a new id is compared with no test to edit."""
    module, name = specs.get(model_id).references["paddle"].rsplit(".", 1)
    with paddle.LazyGuard():  # shapes without initialising the weights
        ours, reference = paddle_impl.build(model_id), getattr(importlib.import_module(module), name)()
    assert specs.shapes_of(ours.state_dict()) == specs.shapes_of(reference.state_dict())


def test_grouped_variant_computes_the_grouped_numpy_forward():
    """The numpy forward (its grouped conv checked against the definition) with BN on the batch's statistics, which
    it stores as running statistics: paddle in eval mode with those weights must give its output."""
    variant = replace(specs.VARIANTS["resnet50_cifar"], model_id="resnext_32x4d_cifar", depths=(1, 1, 1, 1),
                      groups=32, width_per_group=4)
    spec = specs.get(variant)
    weights = calibration.calibrated_weights(variant)
    images = calibration.sample_input(2, size=spec.input_size)
    expected = calibration._CalibratingForward(spec, weights).run(images)
    model = paddle_impl.build(spec)
    native = specs.to_native(spec, weights, "paddle")
    paddle_impl.load_state_dict(model, {key: paddle.to_tensor(array) for key, array in native.items()})
    model.eval()
    with paddle.no_grad():
        actual = model(paddle.to_tensor(images)).numpy()
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("model_id", SHORT)
def test_timm_designs_compute_what_timm_computes(model_id, dtype):
    """The deep stem, the average-pool shortcut on odd maps (ceil mode, padding left out: `exclusive=True`) and
    squeeze-excitation against timm itself; float64 with the adapter's epsilon correction within the proof's gate."""
    spec = specs.get(SHORT[model_id])
    model = paddle_impl.build(spec)
    model.to(dtype=dtype)
    model.eval()
    native = specs.to_native(spec, calibration.calibrated_weights(SHORT[model_id]), "paddle")
    adapter.set_native(model, spec, native)
    with paddle.no_grad():
        actual = model(paddle.to_tensor(sample_images().astype(dtype))).numpy()
    expected = timm_output(model_id)
    assert np.linalg.norm(actual - expected) / np.linalg.norm(expected) <= (1e-9 if dtype == "float64" else 1e-5)


def test_the_shortcut_pool_is_paddleclass_resnet_vd_pool():
    """PaddleClas' ResNet_vd shortcut: AvgPool2D(kernel_size=2, stride=2, padding=0, ceil_mode=True), paddle's default
    exclusive=True (padding left out of each average), none in the first stage."""
    model = paddle_impl.resnet50d()
    assert isinstance(model.layer1[0].downsample[0], paddle.nn.Identity)
    pool = model.layer2[0].downsample[0]
    assert (pool.ksize, pool.stride, pool.ceil_mode, pool.exclusive) == (2, 2, True, True)


def test_every_spec_id_has_a_named_constructor():
    assert set(specs.MODEL_IDS) <= set(paddle_impl.__all__)
    model = paddle_impl.resnet18_cifar(num_classes=0, with_pool=False)
    assert (model.model_id, model.num_classes, model.with_pool) == ("resnet18_cifar", 0, False)

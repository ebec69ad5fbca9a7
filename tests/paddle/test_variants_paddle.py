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


def test_every_spec_id_has_a_named_constructor():
    assert set(specs.MODEL_IDS) <= set(paddle_impl.__all__)
    model = paddle_impl.resnet18_cifar(num_classes=0, with_pool=False)
    assert (model.model_id, model.num_classes, model.with_pool) == ("resnet18_cifar", 0, False)

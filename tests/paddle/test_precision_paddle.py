"""Paddle's float32 BN epsilon is the whole float64 gap to torchvision, and paddle_impl's adapter cancels it
(torchvision computed in a process of its own; tests/commands/test_precision.py has the rest of the protocol)."""

from __future__ import annotations

import numpy as np
import paddle
import pytest

from crosscheck import calibration
from crosscheck import spec as specs
from crosscheck.metrics import rel_l2
from crosscheck.backends.paddle import adapter as paddle_adapter
from subprocess_python import compute  # tests/ helpers

FLOAT64_GATE = 1e-9  # README's float64 gate

TORCHVISION_FLOAT64 = """
import torch, torchvision
images = arrays.pop("images")
model = getattr(torchvision.models, MODEL_ID)()
model.load_state_dict({k: torch.from_numpy(v) for k, v in arrays.items()}, strict=False)
for module in model.modules():
    if isinstance(module, torch.nn.BatchNorm2d) and EPS is not None:
        module.eps = EPS
with torch.no_grad():
    result = model.double().eval()(torch.from_numpy(images).double()).numpy()
"""


def _torchvision_float64(model_id: str, native: dict[str, np.ndarray], images: np.ndarray,
                         eps: float | None = None) -> np.ndarray:
    """torchvision's `model_id` in float64 with the `native` weights (and BN epsilon `eps`, if given): its logits."""
    return compute(f"MODEL_ID, EPS = {model_id!r}, {eps!r}\n{TORCHVISION_FLOAT64}", {"images": images, **native})


def _plain(model_id: str) -> tuple[specs.ModelSpec, dict[str, np.ndarray], np.ndarray]:
    return specs.get(model_id), calibration.default_init_weights(model_id), calibration.sample_input(2)


def _paddle_vision_float64(model_id: str, native: dict[str, np.ndarray]) -> paddle.nn.Layer:
    model = getattr(paddle.vision.models, model_id)()
    model.set_state_dict({k: paddle.to_tensor(v) for k, v in native.items()})
    model.to(dtype="float64")
    model.eval()
    return model


def test_paddle_keeps_bn_epsilon_in_float32_and_that_is_the_whole_float64_gap():
    """paddle.vision vs torchvision in float64 differ by ~1e-10 on resnet50; torchvision with its epsilon rounded
    to float32 matches paddle.vision to the float64 floor, so the gap is Paddle's float32 attribute alone."""
    spec, weights, images = _plain("resnet50")
    reference = _paddle_vision_float64("resnet50", specs.to_native(spec, weights, "paddle"))
    paddle_logits = reference(paddle.to_tensor(images).astype("float64")).numpy()
    torch_native = specs.to_native(spec, weights, "torch")
    exact = _torchvision_float64("resnet50", torch_native, images)
    rounded = _torchvision_float64("resnet50", torch_native, images, float(np.float32(1e-5)))
    assert 1e-11 < rel_l2(paddle_logits, exact) < FLOAT64_GATE * 10  # measured 1.0e-10
    assert rel_l2(paddle_logits, rounded) < 1e-13  # measured 2.4e-14


@pytest.mark.parametrize("model_id", ["resnet50", "resnet50_v1"])
def test_paddle_adapter_cancels_the_float32_epsilon_in_float64_and_reads_weights_back_exactly(model_id):
    spec, weights, images = _plain(model_id)
    model = paddle_adapter.build(model_id, dtype="float64")
    paddle_adapter.set_native(model, spec, specs.to_native(spec, weights, "paddle"))
    if model_id == "resnet50":
        truth = _torchvision_float64("resnet50", specs.to_native(specs.get("resnet50"), weights, "torch"), images)
        assert rel_l2(paddle_adapter.forward(model, images), truth) < 1e-13  # measured 2.3e-14
    for key, array in paddle_adapter.get_native(model, spec).items():
        np.testing.assert_array_equal(array, specs.to_native(spec, weights, "paddle")[key], err_msg=key)

"""pytorch_impl's timm ids against timm itself: the same state_dict keys and shapes, and the same function with our
weights loaded into timm's model strictly (float64 within the proof's gate, float32 bit-identical: the same kernels
run in the same order)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

timm = pytest.importorskip("timm")

import pytorch_impl  # noqa: E402
from crosscheck import calibration  # noqa: E402
from crosscheck import spec as specs  # noqa: E402

TIMM_IDS = [m for m in specs.MODEL_IDS if specs.get(m).references.get("torch", "").startswith("timm.")]
# 97x97 makes every shortcut pool see an odd map (stem 49, then 25, 13, 7): the ceil-mode, padding-free average
ODD_SIZE = 97


def _ours_in_timm(model_id: str) -> tuple[torch.nn.Module, torch.nn.Module]:
    """Our model with calibrated weights, and timm's model with our state_dict loaded strictly, both in eval mode."""
    weights = specs.to_native(specs.get(model_id), calibration.calibrated_weights(model_id), "torch")
    ours = pytorch_impl.build(model_id).eval()
    pytorch_impl.load_state_dict(ours, {**ours.state_dict(), **{k: torch.from_numpy(v) for k, v in weights.items()}})
    reference = timm.create_model(model_id, pretrained=False).eval()
    reference.load_state_dict(ours.state_dict(), strict=True)
    return ours, reference


def test_the_timm_ids_are_the_ones_expected():
    assert TIMM_IDS == ["resnet50d", "resnet101d", "seresnet50"]


@pytest.mark.parametrize("model_id", TIMM_IDS)
def test_state_dict_is_timms(model_id):
    with torch.device("meta"):
        ours, reference = pytorch_impl.build(model_id), timm.create_model(model_id, pretrained=False)
    assert list(specs.shapes_of(ours.state_dict()).items()) == list(specs.shapes_of(reference.state_dict()).items())


@pytest.mark.parametrize("model_id, size", [
    ("resnet50d", ODD_SIZE), ("seresnet50", ODD_SIZE),
    pytest.param("resnet50d", 224, marks=pytest.mark.slow), pytest.param("seresnet50", 224, marks=pytest.mark.slow),
    pytest.param("resnet101d", 224, marks=pytest.mark.slow), pytest.param("resnet101d", ODD_SIZE, marks=pytest.mark.slow),
])
def test_computes_what_timm_computes(model_id, size):
    ours, reference = _ours_in_timm(model_id)
    images = torch.from_numpy(calibration.sample_input(2, size=size))
    with torch.no_grad():
        torch.testing.assert_close(ours(images), reference(images), rtol=0, atol=0)  # float32: bit-identical
        expected = reference.double()(images.double()).numpy()
        actual = ours.double()(images.double()).numpy()
    assert np.linalg.norm(actual - expected) / np.linalg.norm(expected) <= 1e-9


def test_the_shortcut_pool_is_timms_and_only_where_the_block_strides():
    """timm's downsample_avg: AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False), an Identity in stage 1."""
    model = pytorch_impl.resnet50d()
    pools = [model.layer1[0].downsample[0], *(getattr(model, f"layer{i}")[0].downsample[0] for i in (2, 3, 4))]
    assert isinstance(pools[0], torch.nn.Identity)
    assert all((p.kernel_size, p.stride, p.ceil_mode, p.count_include_pad) == (2, 2, True, False) for p in pools[1:])

"""pytorch_impl builds a variant from its data alone: ResNeXt and Wide ResNet as torchvision builds them, and a
named constructor for every spec id."""

from __future__ import annotations

import importlib
from dataclasses import replace

import numpy as np
import pytest
import torch
import torchvision

import pytorch_impl
from crosscheck import calibration
from crosscheck import spec as specs

# torchvision.models' ResNeXt and Wide ResNet builders, and what each passes to ResNet (groups, width_per_group)
GROUPED_IDS = {"resnext50_32x4d": (32, 4), "resnext101_32x8d": (32, 8), "resnext101_64x4d": (64, 4),
               "wide_resnet50_2": (1, 128), "wide_resnet101_2": (1, 128)}
# default tier: the 50-layer ids at a small input; slow tier: every id at its 224x224 input
EQUALITY_CASES = [("resnext50_32x4d", 64), ("wide_resnet50_2", 64),
                  *(pytest.param(m, specs.IMAGENET_INPUT_SIZE, marks=pytest.mark.slow) for m in GROUPED_IDS)]


def _variant(base: str, model_id: str) -> specs.Variant:
    groups, width_per_group = GROUPED_IDS[model_id.removesuffix("_cifar")]
    return replace(specs.VARIANTS[base], model_id=model_id, groups=groups, width_per_group=width_per_group)


@pytest.mark.parametrize("model_id", GROUPED_IDS)
def test_grouped_id_has_torchvisions_modules(model_id):
    """Same state dict keys in the same order, and every conv grouped (or not) as torchvision's."""
    with torch.device("meta"):  # shapes without initialising the weights
        ours, reference = pytorch_impl.build(model_id), getattr(torchvision.models, model_id)(weights=None)
    assert list(ours.state_dict()) == list(reference.state_dict())
    convs = {name: (m.groups, m.stride, m.padding) for name, m in reference.named_modules()
             if isinstance(m, torch.nn.Conv2d)}
    assert {name: (m.groups, m.stride, m.padding) for name, m in ours.named_modules()
            if isinstance(m, torch.nn.Conv2d)} == convs
    assert {groups for groups, _, _ in convs.values()} == {1, GROUPED_IDS[model_id][0]}


@pytest.mark.parametrize("model_id, size", EQUALITY_CASES)
def test_grouped_id_equals_torchvision(model_id, size):
    """torchvision's model (weights=None) holding the calibrated weights, loaded strictly into ours: same modules,
    same kernels, so bit-identical logits in float32 and float64."""
    spec = specs.get(model_id)
    reference = getattr(torchvision.models, model_id)(weights=None).eval()
    native = specs.to_native(spec, calibration.calibrated_weights(model_id), "torch")
    reference.load_state_dict({**reference.state_dict(), **{k: torch.from_numpy(v) for k, v in native.items()}})
    ours = pytorch_impl.build(model_id).eval()
    pytorch_impl.load_state_dict(ours, reference.state_dict())
    images = torch.from_numpy(calibration.sample_input(2, size=size))
    for dtype in (torch.float64, torch.float32):
        with torch.inference_mode():
            expected, actual = reference.to(dtype)(images.to(dtype)).numpy(), ours.to(dtype)(images.to(dtype)).numpy()
        assert expected.shape == (2, 1000) and np.isfinite(expected).all() and expected.std() > 0.1
        np.testing.assert_array_equal(actual, expected, err_msg=str(dtype))


@pytest.mark.parametrize("model_id", [m for m in specs.MODEL_IDS
                                      if specs.get(m).references.get("torch", "").startswith("torchvision.")])
def test_every_id_with_a_torchvision_reference_has_its_state_dict(model_id):
    """The reference the spec names (torchvision.models.resnet50, ...): a new id is compared with no test to edit."""
    module, name = specs.get(model_id).references["torch"].rsplit(".", 1)
    with torch.device("meta"):
        ours, reference = pytorch_impl.build(model_id), getattr(importlib.import_module(module), name)(weights=None)
    assert specs.shapes_of(ours.state_dict()) == specs.shapes_of(reference.state_dict())


def _cifar_stem(model: torch.nn.Module) -> torch.nn.Module:
    """torchvision's model with the CIFAR blogs' stem: a 3x3/1 conv and no max-pool."""
    model.conv1 = torch.nn.Conv2d(3, 64, 3, 1, 1, bias=False)
    model.maxpool = torch.nn.Identity()
    return model


def test_grouped_variant_computes_what_torchvisions_resnext_computes():
    """Same calibrated weights in both, one block per stage and 32x32 input (the CIFAR stem) to keep it cheap."""
    variant = replace(_variant("resnet50_cifar", "resnext50_32x4d_cifar"), model_id="resnext_32x4d_cifar",
                      depths=(1, 1, 1, 1))
    spec = specs.get(variant)
    state = {k: torch.from_numpy(v) for k, v in specs.to_native(spec, calibration.calibrated_weights(variant),
                                                                  "torch").items()}
    ours = pytorch_impl.build(spec).eval()
    resnet = torchvision.models.resnet
    reference = _cifar_stem(resnet.ResNet(resnet.Bottleneck, [1, 1, 1, 1], num_classes=10, groups=32,
                                          width_per_group=4)).eval()
    missing, unexpected = reference.load_state_dict(state, strict=False)
    assert not unexpected and all(key.endswith("num_batches_tracked") for key in missing)
    pytorch_impl.load_state_dict(ours, reference.state_dict())
    x = torch.from_numpy(calibration.sample_input(2, size=spec.input_size))
    with torch.no_grad():
        expected = reference(x).numpy()
        np.testing.assert_allclose(ours(x).numpy(), expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())


def test_every_spec_id_has_a_named_constructor():
    assert set(specs.MODEL_IDS) <= set(pytorch_impl.__all__)
    for model_id in ("resnet50v2", "resnet18_cifar"):
        model = getattr(pytorch_impl, model_id)()
        assert (model.model_id, model.num_classes, model.softmax) == \
            (model_id, specs.get(model_id).num_classes, model_id == "resnet50v2")

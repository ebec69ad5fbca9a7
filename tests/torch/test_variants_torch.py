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

# torchvision.models.resnext50_32x4d and wide_resnet50_2 as kwargs of torchvision's resnet50
TORCHVISION_VARIANTS = {
    "resnext50_32x4d": {"groups": 32, "width_per_group": 4},
    "wide_resnet50_2": {"width_per_group": 128},
}


def _variant(base: str, model_id: str) -> specs.Variant:
    return replace(specs.VARIANTS[base], model_id=model_id, **TORCHVISION_VARIANTS[model_id.removesuffix("_cifar")])


@pytest.mark.parametrize("model_id", TORCHVISION_VARIANTS)
def test_variant_has_torchvisions_state_dict(model_id):
    with torch.device("meta"):  # shapes without initialising the weights
        ours = pytorch_impl.build(specs.get(_variant("resnet50", model_id)))
        reference = getattr(torchvision.models, model_id)(weights=None)
    assert specs.shapes_of(ours.state_dict()) == specs.shapes_of(reference.state_dict())
    assert ours.layer2[0].conv2.groups == reference.layer2[0].conv2.groups


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

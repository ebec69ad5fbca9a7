"""train-step's worker turns a framework's native training results into canonical arrays through the spec's own
`from_native`, with its checks: a missing or mis-shaped key is an error naming it, never a silently shorter
comparison. Framework-free: the native results are the spec's own relabelling of seeded weights."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

from crosscheck import calibration
from crosscheck import spec as specs
from crosscheck.train_step.worker_ops import canonical_results

MODEL = "resnet18_cifar"


@cache
def seeded_weights() -> dict[str, np.ndarray]:
    return calibration.calibrated_weights(MODEL)


def native_results(framework: str) -> tuple[dict[str, np.ndarray], dict, dict, dict]:
    """(canonical weights, gradients, first-step statistics, state) with the weights standing in for all three, in
    `framework`'s native keys and layout, split as a training run splits them."""
    spec = specs.get(MODEL)
    weights = seeded_weights()
    native = specs.to_native(spec, weights, framework)
    statistic = {layer.native_key(param, framework) for layer in spec.layers for param in layer.shapes
                 if param in ("running_mean", "running_var")}
    gradients = {key: array for key, array in native.items() if key not in statistic}
    first = {key: array for key, array in native.items() if key in statistic}
    return weights, gradients, first, native


@pytest.mark.parametrize("framework", specs.NAMINGS)
def test_native_results_come_back_in_canonical_keys_and_layout(framework):
    weights, gradients, first, state = native_results(framework)
    results = canonical_results(specs.get(MODEL), framework, [2.5, 2.0], gradients, first, state)
    np.testing.assert_array_equal(results["loss"], [2.5, 2.0])
    statistics = {key for key in weights if key.endswith((".running_mean", ".running_var"))}
    assert {key for key in results if key.startswith("grad/")} == {f"grad/{key}" for key in set(weights) - statistics}
    assert {key for key in results if key.startswith("first/")} == {f"first/{key}" for key in statistics}
    for key, array in weights.items():
        np.testing.assert_array_equal(results[f"after/{key}"], array)


@pytest.mark.parametrize("framework", specs.NAMINGS)
def test_a_missing_gradient_is_an_error_naming_its_key(framework):
    _, gradients, first, state = native_results(framework)
    missing = specs.get(MODEL).layer("conv2_block1_1_conv").native_key("weight", framework)
    del gradients[missing]
    with pytest.raises(specs.WeightMismatchError, match=f"missing {missing}"):
        canonical_results(specs.get(MODEL), framework, [1.0], gradients, first, state)


def test_a_mis_shaped_statistic_is_an_error_naming_its_key():
    _, gradients, first, state = native_results("paddle")
    key = specs.get(MODEL).layer("conv1_bn").native_key("running_var", "paddle")
    first[key] = first[key][:-1]
    with pytest.raises(specs.WeightMismatchError, match=f"{key}: shape"):
        canonical_results(specs.get(MODEL), "paddle", [1.0], gradients, first, state)

"""Weight transfer through the canonical hub is lossless: torch -> keras -> paddle -> torch, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from crosscheck import calibration
from crosscheck.checkpoints import canonical
from crosscheck import spec as specs
from crosscheck.worker.client import FrameworkWorker


@pytest.fixture(scope="module")
def workers():
    started = {fw: FrameworkWorker(fw) for fw in ("torch", "keras", "paddle")}
    yield started
    for worker in started.values():
        worker.close()


@pytest.mark.parametrize("model_id", ["resnet18", "resnet50_v1", "resnet50v2", "resnet18_cifar"])
def test_round_trip_through_every_framework_is_bit_identical(workers, model_id, tmp_path):
    original = calibration.calibrated_weights(model_id, seed=7)
    path = canonical.save(tmp_path / "start.safetensors", model_id, original)
    for step, framework in enumerate(("torch", "keras", "paddle", "torch")):
        workers[framework].request("load", model_id=model_id, weights=path)
        path = tmp_path / f"{step}-{framework}.safetensors"
        workers[framework].request("save_canonical", model_id=model_id, output=path)
    _, returned, metadata = canonical.load(path)
    assert metadata["source_framework"] == "torch"
    assert returned.keys() == original.keys()
    for key, array in original.items():
        assert returned[key].dtype == np.float32
        assert np.array_equal(returned[key].view(np.uint32), array.view(np.uint32)), key


def test_native_layouts_follow_each_frameworks_convention():
    """First principles: Keras kernels are HWIO, Keras/Paddle dense kernels are [in, out], torch is canonical."""
    spec = specs.get("resnet18", num_classes=10)
    weights = calibration.calibrated_weights("resnet18", num_classes=10)
    keras, paddle, torch = (specs.to_native(spec, weights, fw) for fw in ("keras", "paddle", "torch"))
    assert keras["conv1_conv/kernel"].shape == (7, 7, 3, 64)
    assert np.array_equal(keras["conv1_conv/kernel"][:, :, 1, 5], weights["conv1_conv.weight"][5, 1])
    assert keras["predictions/kernel"].shape == paddle["fc.weight"].shape == (512, 10)
    assert np.array_equal(paddle["layer1.0.bn1._variance"], weights["conv2_block1_1_bn.running_var"])
    assert torch["fc.weight"].shape == (10, 512)
    for fw, native in (("keras", keras), ("paddle", paddle), ("torch", torch)):
        back = specs.from_native(spec, native, fw)
        assert all(np.array_equal(back[k], weights[k]) for k in weights)

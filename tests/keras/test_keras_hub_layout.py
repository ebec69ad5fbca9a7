"""keras-hub's plain ResNetBackbone is the id its config is read as: a keras-hub model with random weights and BN
statistics, saved with its own `save_to_preset` and read back by crosscheck's keras-hub runtime, computes what
keras_impl's torchvision-family model computes with those arrays mapped through the keras-hub layout (float64)."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
keras_hub = pytest.importorskip("keras_hub")

from crosscheck import spec as specs  # noqa: E402
from crosscheck.backends.keras import adapter  # noqa: E402
from crosscheck.backends.keras.shared import _floatx as floatx  # noqa: E402
from crosscheck.checkpoints.hubs import keras_hub as layout  # noqa: E402
from crosscheck.checkpoints.hubs import keras_hub_runtime as runtime  # noqa: E402
from crosscheck.checkpoints.hubs import to_base  # noqa: E402

BLOCKS = {"resnet18": ([2, 2, 2, 2], "basic_block"), "resnet50": ([3, 4, 6, 3], "bottleneck_block")}


def randomised(model, rng):
    """Every BN statistic, scale and offset and the head drawn at random, so a swapped or dropped one shows."""
    for layer in [*model.backbone.layers, model.output_dense]:
        for variable in layer.weights:
            if isinstance(layer, keras.layers.Conv2D):
                continue
            low = 0.5 if variable.name in ("gamma", "moving_variance") else -0.5
            variable.assign(rng.uniform(low, low + 1, variable.shape))
    return model


@pytest.mark.parametrize("model_id", ["resnet18", pytest.param("resnet50", marks=pytest.mark.slow)])
def test_a_plain_keras_hub_preset_computes_what_its_id_computes(tmp_path, model_id):
    blocks, block_type = BLOCKS[model_id]
    with floatx("float64"):  # the Input too: keras-hub's takes the global floatx
        backbone = keras_hub.models.ResNetBackbone(
            input_conv_filters=[64], input_conv_kernel_sizes=[7], stackwise_num_filters=[64, 128, 256, 512],
            stackwise_num_blocks=blocks, stackwise_num_strides=[1, 2, 2, 2], block_type=block_type, dtype="float64")
        hub = keras_hub.models.ResNetImageClassifier(backbone=backbone, num_classes=6)
    randomised(hub, np.random.default_rng(0))
    hub.save_to_preset(str(tmp_path / "preset"))
    assert layout.read_config(tmp_path / "preset" / layout.CONFIG).model_id == model_id

    spec = specs.get(model_id, 6)
    native = to_base(spec, runtime.read(tmp_path / "preset"), layout.NAME)
    ours = adapter.build(model_id, 6, "float64")
    adapter.set_native(ours, spec, native)
    images = np.random.default_rng(1).standard_normal((2, 3, 64, 64))
    expected = keras.ops.convert_to_numpy(hub(np.transpose(images, (0, 2, 3, 1)), training=False))
    np.testing.assert_allclose(adapter.forward(ours, images), expected, rtol=0, atol=1e-10)

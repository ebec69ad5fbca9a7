"""convert's proof loads a transformers directory with transformers' own from_pretrained, and refuses a load that
leaves a weight at its random initialisation (from_pretrained itself only warns)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from crosscheck import spec as specs

transformers = pytest.importorskip("transformers")
torch = pytest.importorskip("torch")

from crosscheck.checkpoints.hubs import transformers_runtime  # noqa: E402  (imports transformers)


@pytest.fixture(scope="module")
def directory(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("hf") / "hf18"
    config = transformers.ResNetConfig(depths=[2, 2, 2, 2], layer_type="basic", hidden_sizes=[64, 128, 256, 512],
                                       num_labels=3)
    transformers.ResNetForImageClassification(config).save_pretrained(path)
    return path


@pytest.mark.slow
def test_outputs_are_transformers_own_float64_logits(directory):
    images = np.random.default_rng(0).standard_normal((1, 3, 64, 64))
    values, how = transformers_runtime.outputs(directory, specs.get("resnet18", 3), "", "", images)
    model = transformers.ResNetForImageClassification.from_pretrained(directory, dtype=torch.float64).eval()
    with torch.inference_mode():
        expected = model(pixel_values=torch.from_numpy(images)).logits.numpy()
    np.testing.assert_array_equal(values, expected)
    assert "from_pretrained" in how


@pytest.mark.slow
def test_a_weight_missing_from_the_file_is_refused_naming_it(directory, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text((directory / "config.json").read_text())
    arrays = load_file(str(directory / "model.safetensors"))
    del arrays["resnet.encoder.stages.1.layers.0.shortcut.normalization.running_var"]
    save_file(arrays, str(broken / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(transformers_runtime.HubLoadError, match="missing resnet.encoder.stages.1.layers.0.shortcut"):
        transformers_runtime.outputs(broken, specs.get("resnet18", 3), "", "", np.zeros((1, 3, 64, 64)))

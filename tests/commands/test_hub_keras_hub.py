"""keras-hub presets: read, converted to the three frameworks and written back with `--to keras-hub`.

The presets are made by keras-hub itself, in a subprocess: `ResNetBackbone` / `ResNetImageClassifier` with random
weights, BN statistics and head, saved with their own `save_to_preset`; the ones crosscheck refuses are keras-hub
configs no crosscheck id is (its ResNetV2, ResNet-vd, other depths, a max-pooling classifier). A written directory is
proved with keras-hub's own `from_preset` inside convert; its arrays are compared dataset by dataset with h5py.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from crosscheck import calibration
from crosscheck.checkpoints import canonical
from crosscheck.cli import main
from crosscheck.convert.session import ConvertOptions, convert
from subprocess_python import run_python  # tests/ helpers

PRESETS = r'''
import sys, os
import numpy as np, keras, keras_hub
out, deep = sys.argv[1], sys.argv[2] == "deep"
rng = np.random.default_rng(0)
PLAIN = dict(input_conv_filters=[64], input_conv_kernel_sizes=[7], stackwise_num_filters=[64, 128, 256, 512],
             stackwise_num_strides=[1, 2, 2, 2])

def backbone(blocks, block_type, **changes):
    return keras_hub.models.ResNetBackbone(**{**PLAIN, **changes}, stackwise_num_blocks=blocks, block_type=block_type)

def randomised(model):  # BN statistics, scales, offsets and the head at random, so a dropped or swapped one shows
    head = [model.output_dense] if hasattr(model, "output_dense") else []
    for layer in [*getattr(model, "backbone", model).layers, *head]:
        if isinstance(layer, keras.layers.Conv2D):
            continue
        for variable in layer.weights:
            low = 0.5 if variable.name in ("gamma", "moving_variance") else -0.5
            variable.assign(rng.uniform(low, low + 1, variable.shape).astype("float32"))
    return model

def classifier(blocks, block_type, classes, **head):
    return keras_hub.models.ResNetImageClassifier(backbone=backbone(blocks, block_type), num_classes=classes, **head)

if deep:
    randomised(classifier([3, 4, 6, 3], "bottleneck_block", 7)).save_to_preset(f"{out}/kh50")
    sys.exit()
randomised(classifier([2, 2, 2, 2], "basic_block", 5)).save_to_preset(f"{out}/kh18")
randomised(backbone([2, 2, 2, 2], "basic_block")).save_to_preset(f"{out}/kh18-base")
randomised(classifier([2, 2, 2, 2], "basic_block", 5, activation="softmax")).save_to_preset(f"{out}/kh18-softmax")
backbone([2, 2, 2, 2], "basic_block", use_pre_activation=True).save_to_preset(f"{out}/v2")
backbone([2, 2, 2, 2], "basic_block_vd", input_conv_filters=[32, 32, 64], input_conv_kernel_sizes=[3, 3, 3]
         ).save_to_preset(f"{out}/vd")
backbone([1, 1, 1, 1], "basic_block").save_to_preset(f"{out}/shallow")
classifier([2, 2, 2, 2], "basic_block", 5, pooling="max").save_to_preset(f"{out}/maxpool")
'''


pytestmark = pytest.mark.usefixtures("wide_console")  # tests/conftest.py


@pytest.fixture(scope="module")
def kh(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("keras-hub")
    run_python(PRESETS, directory, "small")
    return directory


@pytest.fixture(scope="module")
def kh50(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("keras-hub-50")
    run_python(PRESETS, directory, "deep")
    return directory / "kh50"


def datasets(path: Path) -> dict[str, np.ndarray]:
    """Every dataset of a Keras weights file by its path (the optimizer's state aside: no weight)."""
    found: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as file:
        file.visititems(lambda name, item: found.__setitem__(name, item[()])
                        if isinstance(item, h5py.Dataset) and not name.startswith("optimizer") else None)
    return found


def assert_same_preset(actual: Path, expected: Path) -> None:
    """Two presets hold the same backbone and head arrays, bit for bit, and the same architecture."""
    names = ["config.json", "model.weights.h5"] + (["task.json", "task.weights.h5"]
                                                   if (expected / "task.json").is_file() else [])
    assert sorted(set(names) & {path.name for path in actual.iterdir()}) == sorted(names)
    for name in names[1::2]:
        found, wanted = datasets(actual / name), datasets(expected / name)
        assert sorted(found) == sorted(wanted), name
        for key, array in wanted.items():
            np.testing.assert_array_equal(found[key], array, err_msg=f"{name}:{key}")
    architecture = lambda path: {key: value for key, value in json.loads((path / "config.json").read_text())["config"].items()
                                 if key.startswith(("stackwise", "input_conv", "block_type", "use_pre"))}
    assert architecture(actual) == architecture(expected)


def refused(capsys, *argv: str) -> str:
    """The one error line of a refused command (exit 2)."""
    assert main(list(argv)) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.parametrize("name, says", [
    ("v2", "use_pre_activation=true"),
    ("vd", "block_type=basic_block_vd"),
    ("shallow", "stackwise_num_blocks=[1, 1, 1, 1]"),
    ("maxpool", "pooling='max'"),
])
def test_keras_hub_resnets_no_id_is_are_refused_in_one_line_naming_the_setting(kh, tmp_path, capsys, name, says):
    message = refused(capsys, "convert", str(kh / name), str(tmp_path / "out.pth"))
    assert says in message and str(kh / name) in message
    assert list(tmp_path.iterdir()) == []


def test_what_keras_hub_cannot_hold_is_refused_before_anything_is_written(tmp_path, capsys):
    source = canonical.save(tmp_path / "cifar.safetensors", "resnet18_cifar",
                            calibration.calibrated_weights("resnet18_cifar"))
    assert "resnet18_cifar is not" in refused(capsys, "convert", str(source), str(tmp_path / "out"), "--to", "keras-hub")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["cifar.safetensors"]


def test_inspect_names_keras_hub_and_the_id(kh, capsys):
    assert main(["inspect", "--json", str(kh / "kh18")]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["naming"], summary["model_id"], summary["num_classes"]) == ("keras-hub", "resnet18", 5)
    assert "keras-hub" in summary["library"] and summary["ignored_count"] == 0


@pytest.mark.slow
@pytest.mark.parametrize("name, suffix", [("kh18", ".pth"), ("kh18-base", ".pdparams"), ("kh18", ".weights.h5")])
def test_keras_hub_goes_to_each_framework_and_back_bit_identically(kh, pool, tmp_path, name, suffix):
    middle, back = tmp_path / f"middle{suffix}", tmp_path / "back"
    there = convert(kh / name, middle, pool=pool)
    assert there.passed and there.source_framework == "keras-hub (keras)" and "from_preset" in there.source_reading
    home = convert(middle, back, ConvertOptions(to="keras-hub"), pool=pool)
    assert home.passed and "from_preset" in home.destination_reading
    assert_same_preset(back, kh / name)


@pytest.mark.slow
def test_a_keras_hub_resnet50_strides_its_3x3s_as_resnet50_does(kh50, pool, tmp_path):
    """The bottleneck's stride placement and projections: keras-hub's own from_preset against torch's resnet50."""
    middle, back = tmp_path / "r50.pth", tmp_path / "back"
    there = convert(kh50, middle, pool=pool)
    assert there.passed and there.spec.model_id == "resnet50" and there.spec.num_classes == 7
    assert convert(middle, back, ConvertOptions(to="keras-hub"), pool=pool).passed
    assert_same_preset(back, kh50)


@pytest.mark.slow
def test_a_softmax_classifier_is_converted_as_logits_saying_so(kh, tmp_path, capsys):
    assert main(["convert", str(kh / "kh18-softmax"), str(tmp_path / "out.pth")]) == 0
    assert "activation='softmax'" in capsys.readouterr().out


@pytest.mark.slow
def test_an_existing_keras_hub_directory_is_the_target_without_to(kh, tmp_path, capsys):
    destination = tmp_path / "existing"
    shutil.copytree(kh / "kh18", destination)
    assert "already exists" in refused(capsys, "convert", str(kh / "kh18"), str(destination))
    assert main(["convert", str(kh / "kh18"), str(destination), "--overwrite"]) == 0
    assert_same_preset(destination, kh / "kh18")


@pytest.mark.slow
def test_weights_that_do_not_fit_their_config_are_one_line_naming_the_directory(kh, tmp_path, capsys):
    mixed = tmp_path / "mixed"
    shutil.copytree(kh / "kh18-base", mixed)
    shutil.copyfile(kh / "shallow" / "model.weights.h5", mixed / "model.weights.h5")
    message = refused(capsys, "convert", str(mixed), str(tmp_path / "out.pth"))
    assert f"{mixed}: keras-hub's ResNetBackbone does not load it" in message
    assert not (tmp_path / "out.pth").exists()


@pytest.mark.slow
def test_predict_and_export_read_a_keras_hub_preset(kh, tmp_path, capsys):
    from PIL import Image

    image = tmp_path / "image.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (240, 240, 3), dtype=np.uint8)).save(image)
    assert main(["predict", str(image), "--weights", str(kh / "kh18"), "--framework", "torch", "--top", "5"]) == 0
    assert main(["export", "--model", "resnet18", "--weights", str(kh / "kh18-base"), "--framework", "torch",
                 "-o", str(tmp_path / "out.onnx")]) == 0
    assert (tmp_path / "out.onnx").is_file()

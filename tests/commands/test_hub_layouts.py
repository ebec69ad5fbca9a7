"""Model-hub layouts: Hugging Face transformers' ResNet and PaddleClas' ResNet, read and written back.

transformers installs with our stack, so its files are made by transformers itself (`ResNetForImageClassification`
/ `ResNetModel` with random weights and BN statistics, `save_pretrained`) and the written directories are loaded by
its own `from_pretrained`, in a subprocess. PaddleClas does not install with our stack: its files are written here
from PaddleClas' source naming (ppcls/arch/backbone/legendary_models/resnet.py, and the legacy static-graph
names of ppcls/modeling/architectures/resnet.py), by paddle.save of a paddle.vision resnet50's tensors under those
names, matched in module-creation order (PaddleClas builds conv0, conv1, conv2, short per block as paddle.vision
builds conv1..3, downsample; both end with fc), shapes checked.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from crosscheck import calibration
from crosscheck.checkpoints import canonical
from crosscheck.cli import main
from crosscheck.convert.session import ConvertOptions, convert
from subprocess_python import load_state, run_python  # tests/ helpers

LABELS = ["cat", "dog", "fox", "owl", "yak"]

HF_FILES = r'''
import sys, shutil, torch
from transformers import ResNetConfig, ResNetForImageClassification, ResNetModel
out = sys.argv[1]
labels = ["cat", "dog", "fox", "owl", "yak"]

def randomised(model):
    with torch.no_grad():  # non-trivial BN statistics, so a dropped or swapped one shows
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-1, 1); module.running_var.uniform_(0.5, 2)
                module.weight.uniform_(0.5, 1.5); module.bias.uniform_(-0.5, 0.5)
    return model

torch.manual_seed(0)
basic = dict(depths=[2, 2, 2, 2], layer_type="basic", hidden_sizes=[64, 128, 256, 512])
randomised(ResNetForImageClassification(ResNetConfig(**basic, id2label=dict(enumerate(labels)),
    label2id={name: i for i, name in enumerate(labels)}))).save_pretrained(f"{out}/hf18")
randomised(ResNetModel(ResNetConfig(**basic))).save_pretrained(f"{out}/hf18-base")
randomised(ResNetForImageClassification(ResNetConfig(depths=[3, 4, 6, 3], layer_type="bottleneck",
    hidden_sizes=[256, 512, 1024, 2048], num_labels=7))).save_pretrained(f"{out}/hf50")
randomised(ResNetForImageClassification(ResNetConfig(depths=[3, 4, 6, 3], layer_type="bottleneck",
    hidden_sizes=[256, 512, 1024, 2048], downsample_in_bottleneck=True))).save_pretrained(f"{out}/caffe")
import os; os.makedirs(f"{out}/alone")
shutil.copy(f"{out}/hf18/model.safetensors", f"{out}/alone/weights.safetensors")
'''

HF_LOGITS = r'''
import sys, numpy as np, torch
from transformers import ResNetForImageClassification, ResNetModel
model_class = ResNetModel if sys.argv[3] == "base" else ResNetForImageClassification
model = model_class.from_pretrained(sys.argv[1], dtype=torch.float64).eval()
images = torch.from_numpy(np.random.default_rng(1).standard_normal((2, 3, 64, 64)))
with torch.inference_mode():
    out = model(pixel_values=images)
values = out.pooler_output.flatten(1) if sys.argv[3] == "base" else out.logits
np.save(sys.argv[2], values.numpy())
print(json.dumps(model.config.id2label) if hasattr(model.config, "id2label") else "{}")
'''.replace("import sys,", "import json, sys,")


def make(script: str, directory: Path) -> Path:
    run_python(script, directory)
    return directory


pytestmark = pytest.mark.usefixtures("wide_console")  # tests/conftest.py


@pytest.fixture(scope="module")
def hf(tmp_path_factory) -> Path:
    return make(HF_FILES, tmp_path_factory.mktemp("hf"))


def hf_logits(directory: Path, kind: str = "classifier") -> tuple[np.ndarray, dict]:
    """float64 outputs of `directory` as transformers' from_pretrained loads it, and its id2label."""
    output = directory.parent / f"{directory.name}-logits.npy"
    labels = json.loads(run_python(HF_LOGITS, directory, output, kind).strip().splitlines()[-1])
    return np.load(output), labels


def weights_of(directory: Path) -> dict[str, np.ndarray]:
    """A save_pretrained directory's arrays, BN counters left out (they are not weights)."""
    return {k: v for k, v in load_file(str(directory / "model.safetensors")).items() if "num_batches_tracked" not in k}


def assert_same_arrays(actual: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
    assert sorted(actual) == sorted(expected)
    for key, array in expected.items():
        np.testing.assert_array_equal(actual[key], array, err_msg=key)


def inspect_json(capsys, path: Path) -> dict:
    assert main(["inspect", "--json", str(path)]) == 0
    return json.loads(capsys.readouterr().out)


def refused(capsys, *argv: str) -> str:
    """The one error line of a refused command (exit 2)."""
    assert main(list(argv)) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


# ---------------------------------------------------------------------------------------------------------------------
# transformers


@pytest.mark.slow
@pytest.mark.parametrize("name, model_id, head", [("hf18", "resnet18", 5), ("hf18-base", "resnet18", 0),
                                                  ("hf50", "resnet50", 7)])
def test_inspect_names_transformers_and_the_id(hf, capsys, name, model_id, head):
    summary = inspect_json(capsys, hf / name)
    assert (summary["naming"], summary["model_id"], summary["num_classes"]) == ("transformers", model_id, head)
    assert "Hugging Face transformers" in summary["library"] and summary["ignored_count"] == 0


@pytest.mark.slow
def test_the_weights_file_alone_is_read_saying_what_it_assumed(hf, capsys):
    summary = inspect_json(capsys, hf / "alone" / "weights.safetensors")
    assert (summary["naming"], summary["model_id"], summary["num_classes"]) == ("transformers", "resnet18", 5)
    assert any("no config.json" in warning and "downsample_in_bottleneck" in warning for warning in summary["warnings"])


@pytest.mark.slow
def test_transformers_to_keras_and_back_loads_in_transformers_with_equal_float64_logits(hf, pool, tmp_path):
    keras_file, back = tmp_path / "hf18.weights.h5", tmp_path / "back"
    assert convert(hf / "hf18", keras_file, pool=pool).passed
    result = convert(keras_file, back, ConvertOptions(to="transformers"), pool=pool)
    assert result.passed and "from_pretrained" in result.destination_reading
    assert sorted(path.name for path in back.iterdir()) == ["config.json", "model.safetensors"]
    original, _ = hf_logits(hf / "hf18")
    converted, _ = hf_logits(back)
    assert np.max(np.abs(converted - original)) <= 1e-9
    assert_same_arrays(weights_of(back), weights_of(hf / "hf18"))


@pytest.mark.slow
@pytest.mark.parametrize("name, kind, suffix", [("hf18", "classifier", ".pth"), ("hf18-base", "base", ".pdparams"),
                                                ("hf50", "classifier", ".pdparams")])
def test_transformers_goes_to_torch_and_paddle_and_back_bit_identically_keeping_its_labels(hf, pool, tmp_path, name,
                                                                                             kind, suffix):
    middle, back = tmp_path / f"middle{suffix}", tmp_path / "back"
    source = convert(hf / name, middle, pool=pool)
    assert source.passed and "transformers" in source.source_framework
    assert "from_pretrained" in source.source_reading
    assert convert(middle, back, ConvertOptions(to="transformers"), pool=pool).passed
    assert_same_arrays(weights_of(back), weights_of(hf / name))
    original, _ = hf_logits(hf / name, kind)
    converted, _ = hf_logits(back, kind)
    np.testing.assert_array_equal(converted, original)


@pytest.mark.slow
def test_a_transformers_directory_keeps_its_class_names_through_a_direct_copy(hf, tmp_path):
    back = tmp_path / "copy"
    assert main(["convert", str(hf / "hf18"), str(back), "--to", "transformers"]) == 0
    _, labels = hf_logits(back)
    assert [labels[str(index)] for index in range(5)] == LABELS


@pytest.mark.slow
def test_an_existing_transformers_directory_is_the_target_without_to(hf, tmp_path, capsys):
    destination = tmp_path / "existing"
    shutil.copytree(hf / "hf18", destination)
    assert "already exists" in refused(capsys, "convert", str(hf / "hf18"), str(destination))
    assert main(["convert", str(hf / "hf18"), str(destination), "--overwrite"]) == 0
    assert_same_arrays(weights_of(destination), weights_of(hf / "hf18"))


@pytest.mark.slow
def test_a_stride_on_the_first_1x1_is_refused_naming_the_config(hf, tmp_path, capsys):
    message = refused(capsys, "convert", str(hf / "caffe"), str(tmp_path / "out.pth"))
    assert "config.json" in message and "downsample_in_bottleneck" in message and "resnet50" in message
    assert not (tmp_path / "out.pth").exists()


def canonical_file(directory: Path, model_id: str) -> Path:
    return canonical.save(directory / f"{model_id}.safetensors", model_id, calibration.calibrated_weights(model_id))


@pytest.mark.parametrize("argv, says", [
    (lambda d, src: [src, str(d / "out"), "--to", "transformers"], "resnet18_cifar is not"),
    (lambda d, src: [src, str(d / "out")], "--to "),
    (lambda d, src: [src, str(d / "out.pth"), "--to", "paddleclas"], "writes a .pdparams file"),
])
def test_what_transformers_or_paddleclas_cannot_hold_or_name_is_one_line_and_no_output(tmp_path, capsys, argv, says):
    source = str(canonical_file(tmp_path, "resnet18_cifar"))
    assert says in refused(capsys, "convert", *argv(tmp_path, source))
    assert sorted(path.name for path in tmp_path.iterdir()) == ["resnet18_cifar.safetensors"]


@pytest.mark.slow
def test_predict_prints_the_class_names_of_id2label(hf, tmp_path, capsys):
    from PIL import Image

    image = tmp_path / "image.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (240, 240, 3), dtype=np.uint8)).save(image)
    assert main(["predict", str(image), "--weights", str(hf / "hf18"), "--framework", "torch", "--top", "5"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in LABELS)


# ---------------------------------------------------------------------------------------------------------------------
# PaddleClas

PADDLECLAS_FILES = r'''
import sys, numpy as np, paddle
out = sys.argv[1]
depths = [3, 4, 6, 3]

def current_names():
    """PaddleClas' legendary_models ResNet50 state_dict keys, in its module-creation order."""
    bn = ["weight", "bias", "_mean", "_variance"]
    layer = lambda name: [f"{name}.conv.weight"] + [f"{name}.bn.{p}" for p in bn]
    names, flat = layer("stem.0"), 0
    for stage, depth in enumerate(depths):
        for i in range(depth):
            for conv in ("conv0", "conv1", "conv2"):
                names += layer(f"blocks.{flat}.{conv}")
            if i == 0:  # use_first_short_conv: every stage's first block has `short`
                names += layer(f"blocks.{flat}.short")
            flat += 1
    return names + ["fc.weight", "fc.bias"]

def legacy_names():
    """ppcls/modeling/architectures/resnet.py's ParamAttr names for ResNet50, in creation order."""
    bn = ["scale", "offset", "mean", "variance"]
    layer = lambda conv, bn_name: [f"{conv}_weights"] + [f"{bn_name}_{p}" for p in bn]
    names = layer("conv1", "bn_conv1")
    for block, depth in enumerate(depths):
        for i in range(depth):
            conv_name = "res" + str(block + 2) + chr(97 + i)
            for branch in ("branch2a", "branch2b", "branch2c"):
                names += layer(f"{conv_name}_{branch}", f"bn{conv_name[3:]}_{branch}")
            if i == 0:
                names += layer(f"{conv_name}_branch1", f"bn{conv_name[3:]}_branch1")
    return names + ["fc_0.w_0", "fc_0.b_0"]

paddle.seed(0)
model = paddle.vision.models.resnet50(num_classes=7)
for layer in model.sublayers():
    if isinstance(layer, paddle.nn.BatchNorm2D):
        layer._mean.set_value(paddle.uniform(layer._mean.shape, min=-1, max=1))
        layer._variance.set_value(paddle.uniform(layer._variance.shape, min=0.5, max=2))
state = model.state_dict()
paddle.save(state, f"{out}/vision.pdparams")
LEGACY_PARAMS = {"weight": ("weights", "scale", "w_0"), "bias": ("offset", "b_0"), "_mean": ("mean",),
                 "_variance": ("variance",)}
for names, file in ((current_names(), "clas.pdparams"), (legacy_names(), "legacy.pdparams")):
    assert len(names) == len(state)
    for name, key in zip(names, state):  # the same parameter in both creation orders
        param = key.rsplit(".", 1)[-1]
        assert name.rsplit(".", 1)[-1] == param or name.endswith(LEGACY_PARAMS[param]), (name, key)
    paddle.save(dict(zip(names, state.values())), f"{out}/{file}")

def clas_key(key):
    """paddle.vision resnet key -> PaddleClas' (legendary_models) for ResNet18: flat blocks of two convs."""
    parts = key.split(".")
    if parts[0] in ("conv1", "bn1"):
        return f"stem.0.{'conv' if parts[0] == 'conv1' else 'bn'}.{parts[1]}"
    if parts[0] == "fc":
        return key
    flat = 2 * (int(parts[0][-1]) - 1) + int(parts[1])
    if parts[2] == "downsample":
        return f"blocks.{flat}.short.{'conv' if parts[3] == '0' else 'bn'}.{parts[4]}"
    return f"blocks.{flat}.conv{int(parts[2][-1]) - 1}.{'conv' if parts[2].startswith('conv') else 'bn'}.{parts[3]}"

# PaddleClas' ResNet18 projects its first stage's first block too (use_first_short_conv), torchvision's does not
small = {clas_key(key): value for key, value in paddle.vision.models.resnet18(num_classes=7).state_dict().items()}
small["blocks.0.short.conv.weight"] = paddle.zeros([64, 64, 1, 1])
small.update({f"blocks.0.short.bn.{p}": paddle.ones([64]) for p in ("weight", "bias", "_mean", "_variance")})
paddle.save(small, f"{out}/first-short.pdparams")
'''


@pytest.fixture(scope="module")
def clas(tmp_path_factory) -> Path:
    return make(PADDLECLAS_FILES, tmp_path_factory.mktemp("paddleclas"))


def paddle_arrays(path: Path) -> dict[str, np.ndarray]:
    return {k: v for k, v in load_state("paddle", path).items() if k != "StructuredToParameterName@@"}


@pytest.mark.slow
@pytest.mark.parametrize("name, layout", [("clas.pdparams", "paddleclas"), ("legacy.pdparams", "paddleclas-legacy")])
def test_paddleclas_files_are_paddle_visions_resnet50_bit_for_bit(clas, pool, tmp_path, capsys, name, layout):
    summary = inspect_json(capsys, clas / name)
    assert (summary["naming"], summary["model_id"], summary["num_classes"]) == (layout, "resnet50", 7)
    assert "PaddleClas" in summary["library"]
    result = convert(clas / name, tmp_path / "vision.pdparams", pool=pool)
    assert result.passed and "PaddleClas does not install" in result.source_reading
    assert_same_arrays(paddle_arrays(tmp_path / "vision.pdparams"), paddle_arrays(clas / "vision.pdparams"))


@pytest.mark.slow
def test_paddleclas_goes_to_keras_and_back_to_its_own_keys_bit_identically(clas, pool, tmp_path):
    keras_file, back = tmp_path / "clas.weights.h5", tmp_path / "back.pdparams"
    assert convert(clas / "legacy.pdparams", keras_file, pool=pool).passed
    assert convert(keras_file, back, ConvertOptions(to="paddleclas"), pool=pool).passed
    assert_same_arrays(paddle_arrays(back), paddle_arrays(clas / "clas.pdparams"))


@pytest.mark.slow
def test_paddleclas_resnet18s_first_stage_projection_fits_no_id(clas, tmp_path, capsys):
    message = refused(capsys, "convert", str(clas / "first-short.pdparams"), str(tmp_path / "out.pth"))
    assert "fits no known model id" in message and "unexpected blocks.0.short.conv.weight" in message
    assert not (tmp_path / "out.pth").exists()


# PaddleClas ResNet_vd: timm's resnet50d arrays (timm installs) under PaddleClas' ResNet_vd names (it does not), written
# from its source naming in module-creation order: `stem.{0,1,2}`, `blocks.{i}.conv{0,1,2}`, `short` (current) and
# `conv1_{1,2,3}_weights`, `bnv1_{1,2,3}_*` (ConvBNLayer's "bn" + name[3:]), `res2a_branch1_weights` (legacy
# ppcls/modeling/architectures/resnet_vd.py); timm creates conv1.{0,1,3,4,6}, bn1, then per block conv1..bn3 and
# downsample.{1,2} in the same order PaddleClas creates its layers.

TIMM_RESNET50D = r'''
import sys, numpy as np, timm, torch
torch.manual_seed(0)
model = timm.create_model("resnet50d", pretrained=False, num_classes=7)
with torch.no_grad():  # non-trivial BN statistics, so a dropped or swapped one shows
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-1, 1); module.running_var.uniform_(0.5, 2)
            module.weight.uniform_(0.5, 1.5); module.bias.uniform_(-0.5, 0.5)
state = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
torch.save(state, f"{sys.argv[1]}/timm.pth")
np.savez(f"{sys.argv[1]}/timm.npz", **{k: v.numpy() for k, v in state.items()})  # creation order kept
'''

PADDLECLAS_VD_FILES = r'''
import sys, numpy as np, paddle
out = sys.argv[1]
depths = [3, 4, 6, 3]

def current_names():
    """PaddleClas' legendary_models ResNet50_vd state_dict keys, in creation order."""
    layer = lambda name: [f"{name}.conv.weight"] + [f"{name}.bn.{p}" for p in ("weight", "bias", "_mean", "_variance")]
    names, flat = layer("stem.0") + layer("stem.1") + layer("stem.2"), 0
    for depth in depths:
        for i in range(depth):
            for conv in ("conv0", "conv1", "conv2"):
                names += layer(f"blocks.{flat}.{conv}")
            if i == 0:
                names += layer(f"blocks.{flat}.short")
            flat += 1
    return names + ["fc.weight", "fc.bias"]

def legacy_names():
    """ppcls/modeling/architectures/resnet_vd.py's ParamAttr names for ResNet50_vd, in creation order."""
    def layer(name):
        bn_name = "bn_" + name if name == "conv1" else "bn" + name[3:]
        return [f"{name}_weights"] + [f"{bn_name}_{p}" for p in ("scale", "offset", "mean", "variance")]
    names = layer("conv1_1") + layer("conv1_2") + layer("conv1_3")
    for block, depth in enumerate(depths):
        for i in range(depth):
            conv_name = "res" + str(block + 2) + chr(97 + i)
            for branch in ("branch2a", "branch2b", "branch2c"):
                names += layer(f"{conv_name}_{branch}")
            if i == 0:
                names += layer(f"{conv_name}_branch1")
    return names + ["fc_0.w_0", "fc_0.b_0"]

with np.load(f"{out}/timm.npz") as loaded:
    timm_state = dict(loaded)
TORCH_TO = {"weight": ("weight", "weights", "scale", "w_0"), "bias": ("bias", "offset", "b_0"),
            "running_mean": ("_mean", "mean"), "running_var": ("_variance", "variance")}
for names, file in ((current_names(), "clas-vd.pdparams"), (legacy_names(), "legacy-vd.pdparams")):
    assert len(names) == len(timm_state)
    state = {}
    for name, (key, array) in zip(names, timm_state.items()):  # the same parameter in both creation orders
        assert name.endswith(TORCH_TO[key.rsplit(".", 1)[-1]]), (name, key)
        state[name] = paddle.to_tensor(array.T if key == "fc.weight" else array)  # paddle's Linear is [in, out]
    paddle.save(state, f"{out}/{file}")
'''


@pytest.fixture(scope="module")
def clas_vd(tmp_path_factory) -> Path:
    directory = make(TIMM_RESNET50D, tmp_path_factory.mktemp("paddleclas-vd"))
    return make(PADDLECLAS_VD_FILES, directory)


def torch_arrays(path: Path) -> dict[str, np.ndarray]:
    return {k: v for k, v in load_state("torch", path).items() if not k.endswith("num_batches_tracked")}


@pytest.mark.slow
@pytest.mark.parametrize("name, layout", [("clas-vd.pdparams", "paddleclas"),
                                          ("legacy-vd.pdparams", "paddleclas-legacy")])
def test_paddleclas_resnet50_vd_files_are_timms_resnet50d_bit_for_bit(clas_vd, pool, tmp_path, capsys, name, layout):
    summary = inspect_json(capsys, clas_vd / name)
    assert (summary["naming"], summary["model_id"], summary["num_classes"]) == (layout, "resnet50d", 7)
    assert "PaddleClas" in summary["library"]
    result = convert(clas_vd / name, tmp_path / "timm.pth", pool=pool)
    assert result.passed and "PaddleClas does not install" in result.source_reading
    assert_same_arrays(torch_arrays(tmp_path / "timm.pth"), torch_arrays(clas_vd / "timm.pth"))


@pytest.mark.slow
@pytest.mark.parametrize("via", ["vd.pth", "vd.weights.h5", "vd.pdparams"])
def test_paddleclas_resnet50_vd_goes_to_each_framework_and_back_to_its_own_keys(clas_vd, pool, tmp_path, via):
    """Legacy names in, the current ResNet_vd keys out (`--to paddleclas` writes the current naming)."""
    middle, back = tmp_path / via, tmp_path / "back.pdparams"
    assert convert(clas_vd / "legacy-vd.pdparams", middle, pool=pool).passed
    assert convert(middle, back, ConvertOptions(to="paddleclas"), pool=pool).passed
    assert_same_arrays(paddle_arrays(back), paddle_arrays(clas_vd / "clas-vd.pdparams"))

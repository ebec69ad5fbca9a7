"""Fine-tuned models and training checkpoints: heads of any size under the names people give them, timm's train
checkpoints, mmpretrain's layout; each read, mapped onto the right id, converted to every framework and back.

Every file is made by the library that makes it in practice (torchvision, timm's own CheckpointSaver,
paddle.vision, Keras), in a subprocess (one framework per process); the arrays a round trip must give back are
those libraries' own. mmpretrain does not install beside this stack (it pins mmcv/mmengine builds for older torch
versions), so its files are written here from its source naming: mmpretrain/models/backbones/resnet.py names its
layers as torchvision does (`conv1`, `bn1`, `layer{i}.{j}.conv1..3`, `downsample.0/1`) under the classifier's
`backbone.`, heads/linear_head.py's LinearClsHead holds `fc` under `head.`, and mmengine's runner saves
`{'meta': {'cfg': <config text>, ...}, 'state_dict': ...}` (and `ema_state_dict` from its EMAHook, `module.`
around the model's keys).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from crosscheck.cli import main
from crosscheck.convert.session import ConvertOptions, convert
from subprocess_python import load_state, make_files, run_python  # tests/ helpers

FRAMEWORK_SUFFIX = {"torch": ".pth", "paddle": ".pdparams", "keras": ".weights.h5"}

TORCH_FILES = r'''
import argparse, sys, torch, torchvision, timm
from timm.utils import CheckpointSaver, ModelEmaV3
out = sys.argv[1]
torch.manual_seed(0)

def stats(model):  # the CIFAR stem (resnet18_cifar: 32x32 inputs, quick to run); non-trivial BN statistics
    model.conv1 = torch.nn.Conv2d(3, 64, 3, 1, 1, bias=False); model.maxpool = torch.nn.Identity()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-1, 1); module.running_var.uniform_(0.5, 2)
    return model

def plain(model, linear):  # the same weights with torchvision's own fc = Linear
    model.fc = linear
    return model.state_dict()

tuned = stats(torchvision.models.resnet18()); tuned.fc = torch.nn.Linear(512, 7)
torch.save(tuned.state_dict(), f"{out}/finetuned.pth")
tutorial = stats(torchvision.models.resnet18()); tutorial.fc = torch.nn.Sequential(torch.nn.Dropout(0.2), torch.nn.Linear(512, 5))
torch.save(tutorial.state_dict(), f"{out}/tutorial.pth")
torch.save(plain(tutorial, tutorial.fc[1]), f"{out}/tutorial-reference.pth")
deep = stats(torchvision.models.resnet18())
deep.fc = torch.nn.Sequential(torch.nn.Linear(512, 256), torch.nn.ReLU(), torch.nn.Dropout(), torch.nn.Linear(256, 5))
torch.save(deep.state_dict(), f"{out}/deep.pth")
torch.save(plain(deep, torch.nn.Identity()), f"{out}/deep-reference.pth")

model = stats(timm.create_model("resnet18", pretrained=False, num_classes=4))
ema = ModelEmaV3(model, decay=0.5)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
model(torch.randn(2, 3, 32, 32)).sum().backward(); optimizer.step(); ema.update(model)
saver = CheckpointSaver(model, optimizer, args=argparse.Namespace(model="resnet18", lr=0.1), model_ema=ema,
                        checkpoint_dir=out, recovery_dir=out)
saver.save_checkpoint(0, metric=0.5)
torch.save(model.state_dict(), f"{out}/timm-model.pth")
torch.save(ema.module.state_dict(), f"{out}/timm-ema.pth")

mm = stats(torchvision.models.resnet18()); mm.fc = torch.nn.Linear(512, 3)
backbone = {f"backbone.{k}": v for k, v in mm.state_dict().items() if not k.startswith("fc.")}
head = {"head.fc.weight": mm.fc.weight.detach(), "head.fc.bias": mm.fc.bias.detach()}
config = "model = dict(type='ImageClassifier', backbone=dict(type='ResNet_CIFAR', depth=18, style='pytorch'), neck=dict(type='GlobalAveragePooling'), head=dict(type='LinearClsHead', num_classes=3, in_channels=512))"
meta = {"cfg": config, "dataset_meta": {"classes": ("a", "b", "c")}, "epoch": 3, "iter": 30}
torch.save({"meta": meta, "state_dict": {**backbone, **head}}, f"{out}/mmpretrain.pth")
ema_state = {f"module.{k}": v * 0.5 if v.is_floating_point() else v for k, v in {**backbone, **head}.items()}
torch.save({"meta": meta, "state_dict": {**backbone, **head}, "ema_state_dict": {**ema_state, "steps": torch.tensor(30)}},
           f"{out}/mmpretrain-ema.pth")
torch.save(mm.state_dict(), f"{out}/mmpretrain-reference.pth")
'''

# mmpretrain's bottleneck ResNet, where style matters: the config says caffe, or there is no config at all.
MMPRETRAIN_STYLES = r'''
import sys, torch, torchvision
out = sys.argv[1]
state = torchvision.models.resnet50().state_dict()
weights = {**{f"backbone.{k}": v for k, v in state.items() if not k.startswith("fc.")},
           "head.fc.weight": state["fc.weight"], "head.fc.bias": state["fc.bias"]}
caffe = "model = dict(type='ImageClassifier', backbone=dict(type='ResNet', depth=50, style='caffe'), head=dict(type='LinearClsHead', num_classes=1000, in_channels=2048))"
torch.save({"meta": {"cfg": caffe}, "state_dict": weights}, f"{out}/caffe.pth")
torch.save({"state_dict": weights}, f"{out}/no-meta.pth")
'''

PADDLE_FILES = r'''
import sys, paddle
out = sys.argv[1]
paddle.seed(0)
tuned = paddle.vision.models.resnet18(num_classes=7)
paddle.save(tuned.state_dict(), f"{out}/finetuned.pdparams")
tutorial = paddle.vision.models.resnet18()
tutorial.fc = paddle.nn.Sequential(paddle.nn.Dropout(0.2), paddle.nn.Linear(512, 5))
paddle.save(tutorial.state_dict(), f"{out}/tutorial.pdparams")
tutorial.fc = tutorial.fc[1]
paddle.save(tutorial.state_dict(), f"{out}/tutorial-reference.pdparams")
'''

# Keras transfer learning on a small base (keras_impl's resnet18_cifar, include_top=False): nested as a sub-model,
# flat (the base built on the model's input), Sequential, and a two-Dense head; each saved as .keras, .h5 and
# .weights.h5. The reference is every weight by layer name, the Dense's as `predictions`. argv[2]: keras.applications'
# ResNet50 as the base instead (slow).
KERAS_FILES = r'''
import sys, numpy as np, keras
from keras_impl import resnet
out, applications = sys.argv[1], sys.argv[2] == "resnet50"
keras.utils.set_random_seed(0)
size = 224 if applications else 32

def base(**kwargs):
    made = keras.applications.ResNet50(weights=None, include_top=False, input_shape=(size, size, 3), **kwargs) \
        if applications else resnet.build("resnet18_cifar", include_top=False, input_shape=(size, size, 3), **kwargs)
    for layer in made.layers:  # non-trivial BN statistics
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.moving_mean.assign(np.random.uniform(-1, 1, layer.moving_mean.shape))
            layer.moving_variance.assign(np.random.uniform(0.5, 2, layer.moving_variance.shape))
    return made

def reference(backbone, dense):
    arrays = {f"{layer.name}/{v.name}": keras.ops.convert_to_numpy(v) for layer in backbone.layers for v in layer.weights}
    arrays.update({f"predictions/{v.name}": keras.ops.convert_to_numpy(v) for v in dense.weights})
    return arrays

inputs = keras.Input((size, size, 3)); nested_base = base()
head = keras.layers.Dense(7, name="my_head")
models, references = {}, {}
models["nested"] = keras.Model(inputs, head(keras.layers.Dropout(0.2)(keras.layers.GlobalAveragePooling2D()(nested_base(inputs)))))
references["nested"] = reference(nested_base, head)
flat_base = base(); flat_head = keras.layers.Dense(5, activation="softmax", name="classifier")
models["flat"] = keras.Model(flat_base.input, flat_head(keras.layers.Dropout(0.3)(keras.layers.GlobalAveragePooling2D(name="gap")(flat_base.output))))
references["flat"] = reference(flat_base, flat_head)
seq_base = base(); seq_head = keras.layers.Dense(3)
models["sequential"] = keras.Sequential([keras.Input((size, size, 3)), seq_base, keras.layers.GlobalAveragePooling2D(), seq_head])
references["sequential"] = reference(seq_base, seq_head)
deep_base = base()
x = keras.layers.Dense(64, activation="relu", name="fc1")(keras.layers.GlobalAveragePooling2D()(deep_base.output))
models["deep"] = keras.Model(deep_base.input, keras.layers.Dense(4, name="fc2")(x))
for name, model in models.items():
    model.save(f"{out}/{name}.keras")
    model.save(f"{out}/{name}.h5")
    model.save_weights(f"{out}/{name}.weights.h5")
    if name in references:
        np.savez(f"{out}/{name}-reference.npz", **references[name])
np.savez(f"{out}/deep-reference.npz", **{f"{layer.name}/{v.name}": keras.ops.convert_to_numpy(v) for layer in deep_base.layers for v in layer.weights})
'''

# Loads each .weights.h5 of argv[3:] into keras_impl's build of argv[1] with argv[2] classes (0: no head) and saves its
# weights by layer name beside it: Keras' own reading of a converted file.
KERAS_LOAD = r'''
import sys, numpy as np, keras
from keras_impl import resnet
model_id, classes = sys.argv[1], int(sys.argv[2])
model = resnet.build(model_id, include_top=classes > 0, classes=max(classes, 1), pooling="avg")
for path in sys.argv[3:]:
    model.load_weights(path)
    np.savez(path + ".npz", **{f"{layer.name}/{v.name}": keras.ops.convert_to_numpy(v) for layer in model.layers
                               for v in layer.weights})
'''


pytestmark = pytest.mark.usefixtures("wide_console")  # tests/conftest.py


@pytest.fixture(scope="module")
def torch_files(tmp_path_factory) -> Path:
    return make_files(TORCH_FILES, tmp_path_factory.mktemp("torch"))


@pytest.fixture(scope="module")
def paddle_files(tmp_path_factory) -> Path:
    return make_files(PADDLE_FILES, tmp_path_factory.mktemp("paddle"))


@pytest.fixture(scope="module")
def keras_files(tmp_path_factory) -> Path:
    return make_files(KERAS_FILES, tmp_path_factory.mktemp("keras"), "resnet18_cifar")


def state(framework: str, path: Path) -> dict[str, np.ndarray]:
    """A file's arrays as its framework's own loader reads them, BN counters and paddle's name table left out."""
    if framework == "keras":
        with np.load(path) as archive:
            return dict(archive)
    return {k: v for k, v in load_state(framework, path).items()
            if not k.endswith("num_batches_tracked") and k != "StructuredToParameterName@@"}


def assert_same_state(actual: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
    assert sorted(actual) == sorted(expected)
    for key, array in expected.items():
        np.testing.assert_array_equal(actual[key], array, err_msg=key)


def keras_state(model_id: str, classes: int, *paths: Path) -> list[dict[str, np.ndarray]]:
    """Each .weights.h5 as Keras loads it into that model, by layer name."""
    run_python(KERAS_LOAD, model_id, classes, *paths)
    return [state("keras", Path(f"{path}.npz")) for path in paths]


def round_trips(source: Path, via: list[str], back: str, pool, tmp_path: Path, options: ConvertOptions = ConvertOptions(),
                messages: list[str] | None = None) -> list[Path]:
    """SRC to each framework in `via` and from there to the framework `back`; every step proven; the files back."""
    backs = []
    tmp_path.mkdir(parents=True, exist_ok=True)
    for framework in via:
        there = tmp_path / f"{source.stem}-{framework}{FRAMEWORK_SUFFIX[framework]}"
        result = convert(source, there, options, pool=pool, progress=(messages if messages is not None else []).append)
        assert result.passed and result.written, framework
        backs.append(tmp_path / f"{source.stem}-{framework}-back{FRAMEWORK_SUFFIX[back]}")
        assert convert(there, backs[-1], pool=pool).passed
    return backs


def inspect_json(capsys, *argv: str) -> dict:
    assert main(["inspect", "--json", *argv]) == 0
    return json.loads(capsys.readouterr().out)


def refused(capsys, tmp_path: Path, *argv: str) -> str:
    """A convert that must stop with one line, exit 2 and no file; that line."""
    out = tmp_path / "refused.pdparams"
    assert main(["convert", *argv, str(out)]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and not out.exists(), error
    return error


# ---- torchvision fine-tuned

def test_a_torchvision_head_of_any_size_is_read_from_the_file(torch_files, capsys):
    summary = inspect_json(capsys, str(torch_files / "finetuned.pth"))
    assert (summary["model_id"], summary["num_classes"], summary["head_mapping"]) == ("resnet18_cifar", 7, "")
    assert summary["layout"].startswith("torchvision state_dict, fine-tuned head: 7 classes")


def test_the_tutorials_sequential_head_maps_onto_fc_and_round_trips(torch_files, pool, tmp_path, capsys):
    summary = inspect_json(capsys, str(torch_files / "tutorial.pth"))
    assert (summary["model_id"], summary["num_classes"], summary["ignored_count"]) == ("resnet18_cifar", 5, 0)
    assert summary["head_mapping"] == "fc.1.weight, fc.1.bias -> fc.weight, fc.bias"
    assert "fc = Sequential(Dropout, Linear)" in summary["layout"]
    messages: list[str] = []
    [back] = round_trips(torch_files / "tutorial.pth", ["paddle"], "torch", pool, tmp_path, messages=messages)
    assert "head: fc.1.weight, fc.1.bias -> fc.weight, fc.bias" in messages[0]
    assert any("load_state_dict, the head from fc.1.weight" in m for m in messages)  # torch's own loader, renamed head
    assert_same_state(state("torch", back), state("torch", torch_files / "tutorial-reference.pth"))


@pytest.mark.slow
@pytest.mark.parametrize("name,reference", [("finetuned.pth", "finetuned.pth"), ("tutorial.pth", "tutorial-reference.pth")])
def test_torchvision_fine_tuned_files_go_through_every_framework(torch_files, pool, tmp_path, name, reference):
    for back in round_trips(torch_files / name, ["torch", "paddle", "keras"], "torch", pool, tmp_path):
        assert_same_state(state("torch", back), state("torch", torch_files / reference))


def test_a_stack_of_linear_layers_is_refused_naming_them_and_num_classes_0_reads_the_backbone(torch_files, pool,
                                                                                                tmp_path, capsys):
    error = refused(capsys, tmp_path, str(torch_files / "deep.pth"))
    assert "2 linear layers after the backbone (fc.0 [256, 512], fc.3 [5, 256])" in error and "--num-classes 0" in error
    assert main(["convert", "--num-classes", "0", str(torch_files / "deep.pth"), str(tmp_path / "backbone.pth")]) == 0
    captured = capsys.readouterr()
    out = " ".join((captured.err + captured.out).split())  # progress on stderr, the report on stdout
    assert "no head" in out and "4 other key(s) ignored" in out and "the backbone alone (--num-classes 0)" in out
    assert_same_state(state("torch", tmp_path / "backbone.pth"), state("torch", torch_files / "deep-reference.pth"))
    summary = inspect_json(capsys, "--num-classes", "0", str(torch_files / "deep.pth"))
    assert sorted(a["name"] for a in summary["ignored_arrays"]) == ["fc.0.bias", "fc.0.weight", "fc.3.bias", "fc.3.weight"]
    assert summary["warnings"] == []  # asked for: listed, not warned about


def test_num_classes_takes_only_0(torch_files, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["convert", "--num-classes", "5", str(torch_files / "deep.pth"), str(tmp_path / "o.pth")])
    assert exit_.value.code == 2 and "invalid choice" in capsys.readouterr().err and not (tmp_path / "o.pth").exists()


# ---- timm train checkpoints

def test_a_timm_train_checkpoint_names_its_model_and_ema_and_the_key_of_each(torch_files, pool, tmp_path, capsys):
    last = torch_files / "last.pth.tar"  # CheckpointSaver's own name; it also holds argparse args and the optimizer
    error = refused(capsys, tmp_path, str(last))
    assert "a timm train checkpoint: several places hold a ResNet" in error
    assert 'under key "state_dict" (resnet18_cifar): --key state_dict' in error
    assert 'under key "state_dict_ema" (resnet18_cifar): --key state_dict_ema' in error
    summary = inspect_json(capsys, "--key", "state_dict_ema", str(last))
    assert summary["layout"].startswith("timm train checkpoint (CheckpointSaver), the EMA copy")
    assert summary["warnings"] == []  # the model's fc beside the EMA's is another model's, not a stray head


@pytest.mark.slow
def test_a_timm_train_checkpoints_model_and_ema_round_trip(torch_files, pool, tmp_path):
    last = torch_files / "last.pth.tar"
    for key, reference in (("state_dict", "timm-model.pth"), ("state_dict_ema", "timm-ema.pth")):
        [back] = round_trips(last, ["paddle"], "torch", pool, tmp_path / key, ConvertOptions(key=key))
        assert_same_state(state("torch", back), state("torch", torch_files / reference))


def test_a_timm_train_checkpoint_is_not_a_destination(torch_files, tmp_path, capsys):
    assert main(["convert", str(torch_files / "timm-model.pth"), str(tmp_path / "out.pth.tar")]) == 2
    assert "write .pth" in capsys.readouterr().err and not (tmp_path / "out.pth.tar").exists()


@pytest.mark.slow
def test_timm_loads_a_converted_file_as_its_own_resnet(torch_files, pool, tmp_path):
    """timm's plain ResNet keys are torchvision's: the .pth convert writes is what timm's load_state_dict takes."""
    [back] = round_trips(torch_files / "last.pth.tar", ["keras"], "torch", pool, tmp_path, ConvertOptions(key="state_dict"))
    code = ("import sys, torch, timm\nmodel = timm.create_model('resnet18', pretrained=False, num_classes=4)\n"
            "model.conv1, model.maxpool = torch.nn.Conv2d(3, 64, 3, 1, 1, bias=False), torch.nn.Identity()\n"
            "model.load_state_dict(torch.load(sys.argv[1], weights_only=True), strict=True)\n"
            "reference = torch.load(sys.argv[2], weights_only=True)\n"
            "assert all(torch.equal(v, reference[k]) for k, v in model.state_dict().items() if 'num_batches' not in k)\n")
    run_python(code, back, torch_files / "timm-model.pth")


# ---- mmpretrain

def test_an_mmpretrain_checkpoint_maps_backbone_and_head_fc_and_round_trips(torch_files, pool, tmp_path, capsys):
    summary = inspect_json(capsys, str(torch_files / "mmpretrain.pth"))
    assert (summary["model_id"], summary["num_classes"], summary["container"], summary["prefix"]) == \
        ("resnet18_cifar", 3, "state_dict", "backbone.")
    assert summary["head_mapping"] == "head.fc.weight, head.fc.bias -> fc.weight, fc.bias"
    assert summary["layout"].startswith("mmpretrain ImageClassifier") and summary["ignored_count"] == 0


@pytest.mark.slow
def test_an_mmpretrain_checkpoint_goes_through_every_framework(torch_files, pool, tmp_path):
    for back in round_trips(torch_files / "mmpretrain.pth", ["torch", "paddle", "keras"], "torch", pool, tmp_path):
        assert_same_state(state("torch", back), state("torch", torch_files / "mmpretrain-reference.pth"))


def test_an_mmpretrain_checkpoint_with_ema_names_both(torch_files, tmp_path, capsys):
    error = refused(capsys, tmp_path, str(torch_files / "mmpretrain-ema.pth"))
    assert 'under key "state_dict", prefix "backbone." (resnet18_cifar): --key state_dict' in error
    assert 'under key "ema_state_dict", prefix "module.backbone." (resnet18_cifar): --key ema_state_dict' in error
    summary = inspect_json(capsys, "--key", "ema_state_dict", str(torch_files / "mmpretrain-ema.pth"))
    assert summary["head_mapping"] == "module.head.fc.weight, module.head.fc.bias -> fc.weight, fc.bias"
    assert "the EMA copy" in summary["layout"]


@pytest.fixture(scope="module")
def mmpretrain_styles(tmp_path_factory) -> Path:
    return make_files(MMPRETRAIN_STYLES, tmp_path_factory.mktemp("styles"))


def test_mmpretrain_caffe_style_is_named_and_refused(mmpretrain_styles, tmp_path, capsys):
    """style='caffe' strides the first 1x1 of a bottleneck: resnet50's keys and shapes, another function."""
    error = refused(capsys, tmp_path, str(mmpretrain_styles / "caffe.pth"))
    assert "style='caffe'" in error and "not resnet50" in error
    assert "resnet50_v1 strides there but has a bias on every conv" in error


def test_mmpretrain_without_its_config_says_the_style_was_assumed(mmpretrain_styles, capsys):
    summary = inspect_json(capsys, str(mmpretrain_styles / "no-meta.pth"))
    assert summary["model_id"] == "resnet50"
    [warning] = summary["warnings"]
    assert "cannot be read from weights" in warning and "read as style='pytorch', resnet50" in warning


# ---- paddle.vision fine-tuned

def test_paddle_vision_with_a_new_fc_is_read(paddle_files, capsys):
    summary = inspect_json(capsys, str(paddle_files / "finetuned.pdparams"))
    assert (summary["model_id"], summary["num_classes"]) == ("resnet18", 7)
    assert summary["layout"] == "paddle.vision state_dict, fine-tuned head: 7 classes"
    tutorial = inspect_json(capsys, str(paddle_files / "tutorial.pdparams"))
    assert tutorial["num_classes"] == 5 and tutorial["head_mapping"] == "fc.1.weight, fc.1.bias -> fc.weight, fc.bias"


@pytest.mark.slow
@pytest.mark.parametrize("name,reference", [("finetuned", "finetuned"), ("tutorial", "tutorial-reference")])
def test_paddle_vision_fine_tuned_goes_through_every_framework(paddle_files, pool, tmp_path, name, reference):
    for back in round_trips(paddle_files / f"{name}.pdparams", ["torch", "paddle", "keras"], "paddle", pool, tmp_path):
        assert_same_state(state("paddle", back), state("paddle", paddle_files / f"{reference}.pdparams"))


# ---- Keras transfer learning

KERAS_CASES = [  # (model, its head's layer name, classes)
    ("nested", "my_head", 7),
    ("flat", "classifier", 5),
    ("sequential", "dense", 3),
]


@pytest.mark.parametrize("model,head,classes", KERAS_CASES)
def test_keras_transfer_learning_models_map_their_dense_onto_the_head(keras_files, capsys, model, head, classes):
    """.keras and legacy .h5 name every layer: read without Keras, the Dense named."""
    for suffix in (".keras", ".h5"):
        summary = inspect_json(capsys, str(keras_files / f"{model}{suffix}"))
        assert (summary["model_id"], summary["num_classes"], summary["ignored_count"]) == ("resnet18_cifar", classes, 0)
        assert summary["head_mapping"] == f"{head}/kernel, {head}/bias -> predictions/kernel, predictions/bias"
        assert summary["layout"].startswith("Keras transfer learning")
        assert ("nested as a sub-model" in summary["layout"]) == (model != "flat")


@pytest.mark.slow
@pytest.mark.parametrize("model,head,classes", KERAS_CASES)
def test_keras_transfer_weights_h5_is_read_through_the_base(keras_files, capsys, model, head, classes):
    """An order-based .weights.h5 names no layer: the flat model's Dense is its one dense layer; a nested base is
    read by Keras' own loader from its group, the one Dense around it is the head."""
    summary = inspect_json(capsys, str(keras_files / f"{model}.weights.h5"))
    assert (summary["model_id"], summary["num_classes"], summary["ignored_count"]) == ("resnet18_cifar", classes, 0)
    if model != "flat":
        assert summary["container"] == "functional"
        assert summary["head_mapping"] == "layers/dense/vars/0, layers/dense/vars/1 -> predictions/kernel, predictions/bias"


@pytest.mark.slow
def test_a_keras_dense_stack_in_a_weights_h5_is_refused(keras_files, tmp_path, capsys):
    error = refused(capsys, tmp_path, str(keras_files / "deep.weights.h5"))
    assert "2 linear layers after the backbone (dense [512, 64], dense [64, 4])" in error and "--num-classes 0" in error


@pytest.mark.slow
@pytest.mark.parametrize("model,head,classes", KERAS_CASES)
def test_keras_transfer_files_go_through_every_framework(keras_files, pool, tmp_path, model, head, classes):
    """Each of Keras' three files of the model is read; each goes to another framework (the reading is what differs
    between the files, and every framework is a target once) and back."""
    for suffix, framework in zip((".keras", ".h5", ".weights.h5"), ("torch", "paddle", "keras")):
        backs = round_trips(keras_files / f"{model}{suffix}", [framework], "keras", pool, tmp_path / suffix)
        for back in keras_state("resnet18_cifar", classes, *backs):
            assert_same_state(back, state("keras", keras_files / f"{model}-reference.npz"))


def test_a_keras_dense_stack_is_refused_naming_num_classes_0(keras_files, tmp_path, capsys):
    for suffix in (".keras", ".h5"):
        error = refused(capsys, tmp_path, str(keras_files / f"deep{suffix}"))
        assert "2 linear layers after the backbone (fc1 [512, 64], fc2 [64, 4])" in error and "--num-classes 0" in error


@pytest.mark.slow
def test_num_classes_0_converts_a_keras_base_alone(keras_files, pool, tmp_path):
    backs = round_trips(keras_files / "deep.h5", ["torch"], "keras", pool, tmp_path, ConvertOptions(num_classes=0))
    [back] = keras_state("resnet18_cifar", 0, *backs)
    assert_same_state(back, state("keras", keras_files / "deep-reference.npz"))


@pytest.mark.slow
def test_keras_applications_resnet50_transfer_model_goes_to_paddle_and_back(tmp_path_factory, pool, tmp_path):
    """The tutorial's base itself: keras.applications.ResNet50(include_top=False), nested, saved as .keras (the
    resnet18_cifar transfer files above go through every framework)."""
    files = make_files(KERAS_FILES, tmp_path_factory.mktemp("resnet50"), "resnet50")
    backs = round_trips(files / "nested.keras", ["paddle"], "keras", pool, tmp_path)
    for back in keras_state("resnet50_v1", 7, *backs):
        assert_same_state(back, state("keras", files / "nested-reference.npz"))


@pytest.mark.slow
def test_export_num_classes_0_exports_the_backbone_of_a_deep_head(torch_files, tmp_path, capsys):
    """export reads --weights as convert does: the stack is refused, --num-classes 0 exports the pooled features."""
    import onnx

    argv = ["export", "--model", "resnet18_cifar", "--framework", "torch", "--weights", str(torch_files / "deep.pth")]
    assert main([*argv, "-o", str(tmp_path / "refused.onnx")]) == 2
    assert "--num-classes 0" in capsys.readouterr().err and not (tmp_path / "refused.onnx").exists()
    assert main([*argv, "--num-classes", "0", "-o", str(tmp_path / "backbone.onnx")]) == 0
    [output] = onnx.load(str(tmp_path / "backbone.onnx")).graph.output
    assert output.type.tensor_type.shape.dim[1].dim_value == 512  # resnet18's pooled features, no classifier


# timm's own loading of a --to timm file: load_state_dict, and create_model(pretrained_cfg_overlay=dict(file=...)) (no
# download: the file is the pretrained source); its float64 logits against torchvision's on the same file.
TIMM_LOAD = r'''
import sys, torch, timm, torchvision
path, classes = sys.argv[1], int(sys.argv[2])
state = torch.load(path, weights_only=True)
model = timm.create_model("resnet18", pretrained=False, num_classes=classes)
model.load_state_dict(state, strict=True)
overlaid = timm.create_model("resnet18", pretrained=True, num_classes=classes, pretrained_cfg_overlay=dict(file=path, num_classes=classes))
assert all(torch.equal(value, overlaid.state_dict()[key]) for key, value in model.state_dict().items())
reference = torchvision.models.resnet18(num_classes=classes)
reference.load_state_dict(state, strict=True)
images = torch.randn(2, 3, 224, 224, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
ours, theirs = (m.double().eval()(images) for m in (model, reference))
assert ((ours - theirs).norm() / theirs.norm()).item() <= 1e-9
'''


@pytest.mark.slow
def test_convert_to_timm_writes_what_timms_loaders_take(paddle_files, pool, tmp_path):
    """paddle.vision fine-tuned -> --to timm: a .pth timm's resnet18 loads strictly, and as its pretrained file."""
    options = ConvertOptions(to="timm")
    assert convert(paddle_files / "finetuned.pdparams", tmp_path / "timm.pth", options, pool=pool).passed
    run_python(TIMM_LOAD, tmp_path / "timm.pth", 7)


def test_convert_to_timm_refuses_what_timm_does_not_build(keras_files, tmp_path, capsys):
    error = refused_to(capsys, tmp_path, "--to", "timm", str(keras_files / "nested.keras"))
    assert "timm's ResNets are torchvision's and its own: resnet18_cifar is not one" in error


def refused_to(capsys, tmp_path: Path, *argv: str) -> str:
    """A convert to a .pth that must stop with one line, exit 2 and no file; that line."""
    out = tmp_path / "refused.pth"
    assert main(["convert", *argv, str(out)]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and not out.exists(), error
    return error

"""The checkpoints people actually have: training dicts, prefixes, Lightning, hub safetensors, .keras, headless.

Every file is made the way users make it, by torch / paddle / keras themselves in a subprocess
(one framework per process); the arrays a round trip must give back are those libraries' own
state_dicts and weights, compared bit for bit.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from crosscheck.cli import main
from crosscheck.convert.session import ConvertOptions, convert
from subprocess_python import load_state, make_files, run_python  # tests/ helpers

ROOT = Path(__file__).resolve().parents[2]

TORCH_FILES = r'''
import sys, torch, torchvision
from safetensors.torch import save_file
out = sys.argv[1]
torch.manual_seed(0)
model = torchvision.models.resnet18()
with torch.no_grad():  # non-trivial BN statistics, so a dropped or swapped one shows
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-1, 1); module.running_var.uniform_(0.5, 2)
sd = model.state_dict()
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
torch.save({"epoch": 7, "model_state_dict": sd, "optimizer_state_dict": opt.state_dict(), "loss": 0.25}, f"{out}/tutorial.pth")
torch.save(torch.nn.DataParallel(model).state_dict(), f"{out}/dataparallel.pth")
torch.save({"epoch": 2, "global_step": 40, "pytorch-lightning_version": "2.4.0", "hyper_parameters": {"lr": 0.1},
            "state_dict": {f"model.{k}": v for k, v in sd.items()}, "optimizer_states": [opt.state_dict()]},
           f"{out}/lightning.ckpt")
save_file({k: v.contiguous() for k, v in sd.items()}, f"{out}/model.safetensors", metadata={"format": "pt"})
torch.save(sd, f"{out}/torchvision.pth")
torch.save(sd, f"{out}/pytorch_model.bin")
ema = {k: v * 0.5 if v.is_floating_point() else v for k, v in sd.items()}
torch.save({"state_dict": sd, "state_dict_ema": ema}, f"{out}/ema.pth")
torch.save(ema, f"{out}/ema-reference.pth")
model.fc = torch.nn.Identity()
torch.save(model.state_dict(), f"{out}/headless.pth")
torch.save(torchvision.models.mobilenet_v3_small().state_dict(), f"{out}/mobilenet.pth")
'''

PADDLE_FILES = r'''
import sys, paddle
out = sys.argv[1]
paddle.seed(0)
model = paddle.vision.models.resnet18()
optimizer = paddle.optimizer.Momentum(parameters=model.parameters())
paddle.save({"epoch": 3, "model": model.state_dict(), "optimizer": optimizer.state_dict()}, f"{out}/nested.pdparams")
paddle.save(model.state_dict(), f"{out}/reference.pdparams")
headless = paddle.vision.models.resnet18(num_classes=0)
paddle.save({"backbone." + k: v for k, v in headless.state_dict().items()}, f"{out}/backbone.pdparams")
paddle.save(headless.state_dict(), f"{out}/headless-reference.pdparams")
'''

KERAS_FILES = r'''
import sys, json, h5py, numpy as np, keras
from keras.src.legacy.saving import legacy_h5_format
out = sys.argv[1]
keras.utils.set_random_seed(0)
model = keras.applications.ResNet50(weights=None, include_top=False)
for layer in model.layers:  # non-trivial BN statistics
    if isinstance(layer, keras.layers.BatchNormalization):
        layer.moving_mean.assign(np.random.uniform(-1, 1, layer.moving_mean.shape))
        layer.moving_variance.assign(np.random.uniform(0.5, 2, layer.moving_variance.shape))
model.save(f"{out}/notop.keras")
model.save_weights(f"{out}/notop.weights.h5")
with h5py.File(f"{out}/notop.h5", "w") as file:
    legacy_h5_format.save_weights_to_hdf5_group(file, model)
np.savez(f"{out}/reference.npz", **{f"{layer.name}/{v.name}": keras.ops.convert_to_numpy(v)
                                    for layer in model.layers for v in layer.weights})
'''


pytestmark = pytest.mark.usefixtures("wide_console")  # tests/conftest.py


@pytest.fixture(scope="module")
def torch_files(tmp_path_factory) -> Path:
    return make_files(TORCH_FILES, tmp_path_factory.mktemp("torch"))


@pytest.fixture(scope="module")
def paddle_files(tmp_path_factory) -> Path:
    return make_files(PADDLE_FILES, tmp_path_factory.mktemp("paddle"))


def torch_state(path: Path) -> dict[str, np.ndarray]:
    """A flat state_dict as torch loads it, BN counters left out (they are not weights)."""
    return {k: v for k, v in load_state("torch", path).items() if not k.endswith("num_batches_tracked")}


def paddle_state(path: Path) -> dict[str, np.ndarray]:
    return {k: v for k, v in load_state("paddle", path).items() if k != "StructuredToParameterName@@"}


def assert_same_state(actual: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
    assert sorted(actual) == sorted(expected)
    for key, array in expected.items():
        np.testing.assert_array_equal(actual[key], array, err_msg=key)


# (file, where the ResNet is as the progress line says it, head)
TORCH_CASES = [
    ("tutorial.pth", 'under key "model_state_dict"', "num_classes=1000"),
    ("dataparallel.pth", 'top level, prefix "module."', "num_classes=1000"),
    ("lightning.ckpt", 'under key "state_dict", prefix "model."', "num_classes=1000"),
    ("model.safetensors", "top level", "num_classes=1000"),
    ("pytorch_model.bin", "top level", "num_classes=1000"),
    ("headless.pth", "top level", "no head"),
]


@pytest.mark.parametrize("name,where,head", TORCH_CASES)
def test_torch_checkpoints_go_to_paddle_and_back_bit_identically(torch_files, pool, tmp_path, name, where, head):
    messages: list[str] = []
    there = convert(torch_files / name, tmp_path / "there.pdparams", pool=pool, progress=messages.append)
    assert there.passed and there.written and there.spec.model_id == "resnet18"
    assert f"resnet18, {head} (inferred from keys and shapes), {where}" in messages[0]
    back = convert(tmp_path / "there.pdparams", tmp_path / "back.pth", pool=pool)
    assert back.passed
    reference = torch_state(torch_files / ("headless.pth" if head == "no head" else "torchvision.pth"))
    assert_same_state(torch_state(tmp_path / "back.pth"), reference)
    assert ("fc.weight" in reference) == (head != "no head")


def test_paddle_training_dict_and_prefixed_headless_backbone_round_trip(paddle_files, pool, tmp_path):
    messages: list[str] = []
    assert convert(paddle_files / "nested.pdparams", tmp_path / "nested.pth", pool=pool, progress=messages.append).passed
    assert convert(tmp_path / "nested.pth", tmp_path / "nested.pdparams", pool=pool).passed
    assert_same_state(paddle_state(tmp_path / "nested.pdparams"), paddle_state(paddle_files / "reference.pdparams"))
    headless = convert(paddle_files / "backbone.pdparams", tmp_path / "headless.safetensors", pool=pool,
                       progress=messages.append)
    assert headless.passed and headless.spec.num_classes == 0 and headless.source_logits.shape == (2, 512)
    assert convert(tmp_path / "headless.safetensors", tmp_path / "headless.pdparams", pool=pool).passed
    assert_same_state(paddle_state(tmp_path / "headless.pdparams"), paddle_state(paddle_files / "headless-reference.pdparams"))
    assert 'under key "model"' in messages[0]
    assert any('no head (inferred from keys and shapes), top level, prefix "backbone."' in m for m in messages)


def test_the_canonical_file_records_that_it_has_no_head(paddle_files, pool, tmp_path):
    from crosscheck.checkpoints import canonical

    convert(paddle_files / "backbone.pdparams", tmp_path / "h.safetensors", pool=pool)
    metadata = canonical.read_metadata(tmp_path / "h.safetensors")
    assert metadata["num_classes"] == "0" and metadata["head"] == "none"


def inspect_json(capsys, *argv: str) -> dict:
    assert main(["inspect", "--json", *argv]) == 0
    return json.loads(capsys.readouterr().out)


def test_inspect_says_where_the_model_is_and_names_the_weights_by_digest(torch_files, paddle_files, capsys):
    lightning = inspect_json(capsys, str(torch_files / "lightning.ckpt"))
    assert (lightning["container"], lightning["prefix"], lightning["model_id"]) == ("state_dict", "model.", "resnet18")
    assert lightning["num_classes"] == 1000 and lightning["dtypes"] == ["float32"] and lightning["nonfinite"] == []
    assert lightning["parameters"] == 11_689_512  # torchvision's documented resnet18 size
    hub = inspect_json(capsys, str(torch_files / "model.safetensors"))
    assert hub["naming"] == "torch" and hub["frameworks_started"] == []  # safetensors: read without a framework
    assert hub["sha256"] == lightning["sha256"]  # the same weights in two containers: one digest
    headless = inspect_json(capsys, str(paddle_files / "backbone.pdparams"))
    assert headless["head"] == "none" and headless["prefix"] == "backbone." and headless["frameworks_started"] == []
    assert headless["parameters"] == 11_689_512 - 512 * 1000 - 1000  # resnet18 without its fc


def test_inspect_reports_nan_and_inf_instead_of_refusing(tmp_path, capsys):
    from crosscheck import calibration
    from crosscheck import spec as specs

    native = specs.to_native(specs.get("resnet18"), calibration.calibrated_weights("resnet18"), "paddle")
    native["bn1._variance"] = np.full_like(native["bn1._variance"], np.inf)
    native["fc.bias"][0] = np.nan
    (tmp_path / "nan.pdparams").write_bytes(pickle.dumps({"model": native}, protocol=4))
    summary = inspect_json(capsys, str(tmp_path / "nan.pdparams"))
    assert sorted(summary["nonfinite"]) == ["bn1._variance", "fc.bias"] and summary["container"] == "model"


def test_several_places_with_a_resnet_need_key(torch_files, pool, tmp_path, capsys):
    assert main(["convert", str(torch_files / "ema.pth"), str(tmp_path / "o.pdparams")]) == 2
    error = " ".join(capsys.readouterr().err.split())
    assert 'under key "state_dict" (resnet18)' in error and 'under key "state_dict_ema" (resnet18)' in error
    assert "--key" in error and not (tmp_path / "o.pdparams").exists()
    options = ConvertOptions(key="state_dict_ema")
    assert convert(torch_files / "ema.pth", tmp_path / "ema.pdparams", options, pool=pool).passed
    assert convert(tmp_path / "ema.pdparams", tmp_path / "ema.pth", pool=pool).passed
    assert_same_state(torch_state(tmp_path / "ema.pth"), torch_state(torch_files / "ema-reference.pth"))


def test_a_wrong_prefix_is_refused_naming_the_nearest_place(torch_files, tmp_path, capsys):
    assert main(["convert", "--prefix", "", str(torch_files / "dataparallel.pth"), str(tmp_path / "o.pdparams")]) == 2
    error = " ".join(capsys.readouterr().err.split())
    assert "dataparallel.pth" in error and "fits no known model id" in error and "unexpected module.conv1.weight" in error


def test_a_file_without_a_resnet_names_the_three_closest_ids_and_why(torch_files, tmp_path, capsys):
    assert main(["convert", str(torch_files / "mobilenet.pth"), str(tmp_path / "o.pdparams")]) == 2
    error = " ".join(capsys.readouterr().err.split())
    assert "mobilenet.pth" in error and "fits no known model id; closest: " in error
    closest = error.split("closest: ", 1)[1]
    assert closest.count(" keys, ") == 3 and closest.count("unexpected") >= 3  # three ids, each with its reasons


def test_malicious_ckpt_is_refused_without_running_it(tmp_path, capsys):
    marker = tmp_path / "MARKER"
    src = tmp_path / "evil.ckpt"
    script = (f"import os, torch\nclass P:\n    def __reduce__(self): return os.system, ('touch {marker}',)\n"
              f"torch.save({{'state_dict': {{'conv1.weight': torch.zeros(3)}}, 'callbacks': P()}}, {str(src)!r})")
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True)
    for argv in (["convert", str(src), str(tmp_path / "out.pdparams")], ["inspect", str(src)]):
        assert main(argv) == 2
        error = capsys.readouterr().err
        assert "unsafe or unreadable .ckpt file" in error and "posix.system" in error
    assert not marker.exists() and sorted(os.listdir(tmp_path)) == ["evil.ckpt"]


def test_malicious_nested_pdparams_is_refused_without_running_it(tmp_path, capsys):
    class Payload:
        def __reduce__(self):
            return os.system, (f"touch {tmp_path / 'MARKER'}",)

    src = tmp_path / "evil.pdparams"
    src.write_bytes(pickle.dumps({"model": {"conv1.weight": ("conv1.weight", np.zeros(3))}, "x": [Payload()]}))
    assert main(["inspect", str(src)]) == 2
    assert "refused global posix.system" in capsys.readouterr().err and not (tmp_path / "MARKER").exists()


def test_a_lightning_ckpt_is_not_a_destination(torch_files, tmp_path, capsys):
    assert main(["convert", str(torch_files / "torchvision.pth"), str(tmp_path / "out.ckpt")]) == 2
    assert "write .pth" in capsys.readouterr().err and not (tmp_path / "out.ckpt").exists()


def test_export_takes_a_torchvision_pth(torch_files, tmp_path, capsys):
    import onnx

    output = tmp_path / "r18.onnx"
    assert main(["export", "--model", "resnet18", "--framework", "torch", "--weights", str(torch_files / "torchvision.pth"),
                 "-o", str(output)]) == 0
    capsys.readouterr()
    digest = inspect_json(capsys, str(torch_files / "torchvision.pth"))["sha256"]
    assert {p.key: p.value for p in onnx.load(str(output)).metadata_props}["weights_sha256"] == digest


KERAS_LOAD = r'''
import sys, numpy as np, keras
model = keras.applications.ResNet50(weights=None, include_top=False)
for path in sys.argv[1:]:
    model.load_weights(path)
    np.savez(path + ".npz", **{f"{layer.name}/{v.name}": keras.ops.convert_to_numpy(v) for layer in model.layers
                               for v in layer.weights})
'''


@pytest.mark.slow
def test_keras_notop_files_go_to_torch_and_back_bit_identically(tmp_path_factory, pool, tmp_path):
    """keras.applications ResNet50(include_top=False) saved as .keras, .weights.h5 and legacy .h5."""
    files = make_files(KERAS_FILES, tmp_path_factory.mktemp("keras"))
    backs = []
    for name in ("notop.keras", "notop.weights.h5", "notop.h5"):
        there = convert(files / name, tmp_path / f"{name}.pth", pool=pool)
        assert there.passed and there.spec.model_id == "resnet50_v1" and there.spec.headless
        backs.append(tmp_path / f"{name}.back.weights.h5")
        assert convert(tmp_path / f"{name}.pth", backs[-1], pool=pool).passed
    done = subprocess.run([sys.executable, "-c", KERAS_LOAD, *map(str, backs)], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    with np.load(files / "reference.npz") as archive:
        reference = dict(archive)
    for back in backs:
        with np.load(f"{back}.npz") as archive:
            assert_same_state(dict(archive), reference)


def native(framework: str, seed: int, num_classes: int | None = None) -> dict[str, np.ndarray]:
    """Random resnet18_cifar arrays in `framework`'s keys and layout, distinct per seed: files to read, not to run."""
    from crosscheck import spec as specs
    from crosscheck.checkpoints import identify

    rng = np.random.default_rng(seed)
    shapes = identify.expected_shapes(specs.get("resnet18_cifar", num_classes), framework)
    return {key: rng.standard_normal(shape).astype(np.float32) for key, shape in shapes.items()}


def save_torch_named(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    """A flat torch-named file as hub repositories ship them (safetensors, read without a framework)."""
    from safetensors.numpy import save_file

    save_file(arrays, str(path), metadata={"format": "pt"})
    return path


@pytest.mark.parametrize("copy", ["teacher.", "ema.", "model_ema."])
def test_a_model_beside_its_prefixed_copy_is_ambiguous_and_prefix_picks_either(tmp_path, capsys, copy):
    plain, other = native("torch", 0), native("torch", 1)
    both = save_torch_named(tmp_path / "both.safetensors", {**plain, **{copy + k: v for k, v in other.items()}})
    assert main(["convert", str(both), str(tmp_path / "out.pdparams")]) == 2
    error = " ".join(capsys.readouterr().err.split())
    assert f'top level (resnet18_cifar): --prefix \'\'' in error, error
    assert f'top level, prefix "{copy}" (resnet18_cifar): --prefix {copy}' in error, error
    assert not (tmp_path / "out.pdparams").exists()
    for prefix, arrays in (("", plain), (copy, other)):
        picked = inspect_json(capsys, "--prefix", prefix, str(both))
        alone = inspect_json(capsys, str(save_torch_named(tmp_path / f"alone-{prefix or 'plain'}.safetensors", arrays)))
        assert picked["sha256"] == alone["sha256"] and picked["ignored_count"] == len(plain)


def write_pickle(path: Path, tree: dict) -> Path:
    """A .pdparams as paddle.save writes a dict of numpy arrays (paddle's own pickle form)."""
    path.write_bytes(pickle.dumps(tree, protocol=4))
    return path


def test_a_head_beside_the_backbone_converts_the_backbone_and_ends_with_a_warning_naming_it(tmp_path, capsys):
    from crosscheck import calibration
    from crosscheck import spec as specs

    weights = specs.to_native(specs.get("resnet18_cifar"), calibration.calibrated_weights("resnet18_cifar"), "paddle")
    backbone = {"backbone." + k: v for k, v in weights.items() if not k.startswith("fc.")}  # runs: calibrated
    head = {"head.fc.weight": np.ones((512, 10), np.float32), "head.fc.bias": np.zeros(10, np.float32)}  # paddle: [in, out]
    source = write_pickle(tmp_path / "finetuned.pdparams", {**backbone, **head})
    assert main(["convert", str(source), str(tmp_path / "backbone.pdparams")]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert lines[-1].startswith("warning: head.fc.weight [512, 10] + head.fc.bias [10] look like a 10-class classifier "
                                "head of this resnet18_cifar; they are not converted"), lines[-3:]
    assert sorted(paddle_formats_load(tmp_path / "backbone.pdparams")) == sorted(k.removeprefix("backbone.") for k in backbone)


def paddle_formats_load(path: Path) -> dict[str, np.ndarray]:
    from crosscheck.checkpoints import paddle_formats

    return paddle_formats.load(path)


def test_ignored_arrays_anywhere_in_the_file_are_listed_and_only_head_shaped_pairs_warned_about(tmp_path, capsys):
    source = write_pickle(tmp_path / "train.pdparams", {
        "model": native("paddle", 0, num_classes=0),
        "classifier": {"weight": np.ones((512, 7), np.float32), "bias": np.zeros(7, np.float32)},
        "probe": {"weight": np.ones((100, 7), np.float32), "bias": np.zeros(7, np.float32)},  # not the backbone's width
        "optimizer": {"conv1.weight_velocity_0": np.zeros((64, 3, 3, 3), np.float32)},
    })
    summary = inspect_json(capsys, str(source))
    assert summary["container"] == "model" and summary["ignored_count"] == 5
    assert {a["name"]: a["shape"] for a in summary["ignored_arrays"]} == {
        "classifier/weight": [512, 7], "classifier/bias": [7], "probe/weight": [100, 7], "probe/bias": [7],
        "optimizer/conv1.weight_velocity_0": [64, 3, 3, 3]}
    [warning] = summary["warnings"]
    assert warning.startswith("classifier/weight [512, 7] + classifier/bias [7] look like a 7-class classifier head")


# A keras_impl backbone and a Dense in a keras.Sequential, saved both ways into argv[1]; prints the backbone's name.
KERAS_SEQUENTIAL = """
import sys, keras
from pathlib import Path
from keras_impl import resnet
backbone = resnet.build("resnet18_cifar", include_top=False, pooling="avg", input_shape=(32, 32, 3))
model = keras.Sequential([keras.Input((32, 32, 3)), backbone, keras.layers.Dense(10, name="head")])
model.save(Path(sys.argv[1], "seq.keras"))
model.save_weights(Path(sys.argv[1], "seq.weights.h5"))
print(backbone.name)
"""


def test_a_keras_sequential_backbone_and_dense_maps_the_dense_onto_the_head(tmp_path, capsys):
    """keras.Sequential([ResNet(include_top=False), Dense(10)]) saved as .keras: the Dense, a separate layer, is the
    head (mapped onto `predictions`)."""
    backbone_name = run_python(KERAS_SEQUENTIAL, tmp_path).strip()
    summary = inspect_json(capsys, str(tmp_path / "seq.keras"))
    assert summary["num_classes"] == 10 and summary["container"] == backbone_name
    assert summary["ignored_arrays"] == [] and summary["warnings"] == []
    assert summary["head_mapping"] == "head/kernel, head/bias -> predictions/kernel, predictions/bias"

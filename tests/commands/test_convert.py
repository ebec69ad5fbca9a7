"""`crosscheck convert`: reference-library checkpoints in every direction, verified; unsafe and bad files refused.

Reference files are made, and reference outputs computed, by torchvision / keras.applications /
paddle.vision themselves, each in its own subprocess (one framework per process).
"""

from __future__ import annotations

import functools
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from crosscheck import calibration
from crosscheck.checkpoints import canonical, identify, reader
from crosscheck import spec as specs
from crosscheck.cli import main
from crosscheck.convert import command, session
from crosscheck.convert.session import CANONICAL_READING, ConvertOptions, convert
from crosscheck.metrics import rel_l2
from subprocess_python import load_state, run_python  # tests/ helpers

FLOAT64_GATE = 1e-9  # README: the float64 gate every conversion is proven by

ROOT = Path(__file__).resolve().parents[2]
SUFFIXES = (".pth", ".weights.h5", ".h5", ".pdparams", ".safetensors")
# The reference library that makes and reads each (format, model id), where one exists.
REFERENCES = {
    (".pth", "resnet18"): "torch", (".pth", "resnet50"): "torch",
    (".pdparams", "resnet18"): "paddle", (".pdparams", "resnet50"): "paddle",
    (".weights.h5", "resnet50_v1"): "keras", (".weights.h5", "resnet50v2"): "keras",
    (".h5", "resnet50_v1"): "keras", (".h5", "resnet50v2"): "keras",
}

# argv: framework, "make"|"load", model_id, checkpoint path, input .npy, logits .npy, [canonical weights].
# The reference library computes its logits in float64, as convert's own verification does.
REFERENCE_SCRIPT = r'''
import sys, numpy as np
from crosscheck import spec as specs
from crosscheck.checkpoints import canonical
framework, mode, model_id, path, images_path, logits_path = sys.argv[1:7]
spec = specs.get(model_id)
images = np.load(images_path)
if mode == "make":
    _, arrays, _ = canonical.load(sys.argv[7])
    native = specs.to_native(spec, arrays, framework)
if framework == "torch":
    import torch, torchvision
    model = getattr(torchvision.models, model_id)().eval()
    if mode == "make":
        missing, unexpected = model.load_state_dict({k: torch.from_numpy(v) for k, v in native.items()}, strict=False)
        assert not unexpected and all(k.endswith("num_batches_tracked") for k in missing), (missing, unexpected)
        torch.save(model.state_dict(), path)
    else:
        model.load_state_dict(torch.load(path, weights_only=True))  # strict
    with torch.no_grad():
        logits = model.double()(torch.from_numpy(images).double()).numpy()
elif framework == "paddle":
    import paddle
    model = getattr(paddle.vision.models, model_id)()
    model.eval()
    if mode == "make":
        model.set_state_dict(native)
        paddle.save(model.state_dict(), path)
    else:
        state = paddle.load(path)
        assert set(state) - {"StructuredToParameterName@@"} == set(model.state_dict()), "keys differ"
        model.set_state_dict(state)
    model.to(dtype="float64")
    logits = model(paddle.to_tensor(images).astype("float64")).numpy()
else:
    import keras
    from keras.src.legacy.saving import legacy_h5_format
    import h5py
    name = {"resnet50_v1": "ResNet50", "resnet50v2": "ResNet50V2"}[model_id]
    keras.config.set_dtype_policy("float64")
    model = getattr(keras.applications, name)(weights=None, classifier_activation=None)
    if mode == "make":
        for layer in spec.layers:
            params = specs.NATIVE_PARAMS["keras"][layer.kind][:len(layer.shapes)]
            model.get_layer(layer.name).set_weights([native[f"{layer.name}/{p}"] for p in params])
        if path.endswith(".weights.h5"):
            model.save_weights(path)
        else:
            with h5py.File(path, "w") as f:
                legacy_h5_format.save_weights_to_hdf5_group(f, model)
    else:
        model.load_weights(path)
    logits = keras.ops.convert_to_numpy(model(images.transpose(0, 2, 3, 1).astype("float64"), training=False))
np.save(logits_path, logits)
'''


def reference(framework: str, mode: str, model_id: str, path: Path, images: Path, *weights: Path) -> np.ndarray:
    """Make (from canonical `weights`) or load a checkpoint with the reference library; its logits."""
    logits = path.with_name(path.name + f".{mode}.npy")
    done = subprocess.run([sys.executable, "-c", REFERENCE_SCRIPT, framework, mode, model_id, str(path), str(images),
                           str(logits), *map(str, weights)], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return np.load(logits)


pytestmark = pytest.mark.usefixtures("wide_console")  # tests/conftest.py


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("input") / "input.npy"
    np.save(path, calibration.sample_input(2, seed=0))  # the input convert() verifies with by default
    return path


@pytest.fixture(scope="module")
def sources(tmp_path_factory, images, pool):
    """Source checkpoint per (suffix, model id): the reference library's file where one exists, else ours."""
    made: dict[tuple[str, str], tuple[Path, dict[str, np.ndarray], np.ndarray | None]] = {}
    directory = tmp_path_factory.mktemp("sources")

    def get(suffix: str, model_id: str) -> tuple[Path, dict[str, np.ndarray], np.ndarray | None]:
        if (suffix, model_id) not in made:
            weights = calibration.calibrated_weights(model_id, seed=3)
            start = canonical.save(directory / f"{model_id}-start.safetensors", model_id, weights)
            path = directory / f"{model_id}{suffix}"
            framework = REFERENCES.get((suffix, model_id))
            if framework:
                logits = reference(framework, "make", model_id, path, images, start)
            else:
                logits = None
                if suffix == ".safetensors":
                    path = start
                else:
                    convert(start, path, pool=pool)
            made[suffix, model_id] = (path, weights, logits)
        return made[suffix, model_id]

    return get


def read_back(path: Path, pool, scratch: Path) -> dict[str, np.ndarray]:
    """The canonical arrays in a written checkpoint, read as convert reads its source (no second verification:
    the forward passes were checked when the file was written)."""
    return reader.read(reader.checkpoint(path), pool, scratch).arrays


def check_direction(sources, pool, images, tmp_path, model_id: str, src_suffix: str, dst_suffix: str) -> float:
    """Convert, then check: the gate passed, DST holds the source weights bit for bit, and the reference
    libraries of source and destination compute what the converter's frameworks computed."""
    src, weights, src_logits = sources(src_suffix, model_id)
    dst = tmp_path / f"converted-{model_id}{dst_suffix}"
    result = convert(src, dst, pool=pool)
    assert result.passed and result.written and dst.is_file()
    assert result.spec.model_id == model_id and result.spec.num_classes == specs.get(model_id).num_classes
    assert result.agreement.rel_l2 <= FLOAT64_GATE and result.agreement.top1 == 1.0
    returned = read_back(dst, pool, tmp_path)
    for key, array in weights.items():  # float64 where SRC is (the Keras references are made under a float64 policy)
        narrow = returned[key].astype(np.float32)
        assert np.array_equal(narrow, returned[key]) and np.array_equal(narrow.view(np.uint32), array.view(np.uint32)), key
    if src_logits is not None:  # the converter read SRC as its reference library does
        assert rel_l2(result.source_logits, src_logits) <= FLOAT64_GATE
    framework = REFERENCES.get((dst_suffix, model_id))
    if framework:  # the reference library loads DST and computes what the source computed
        assert rel_l2(reference(framework, "load", model_id, dst, images), result.source_logits) <= FLOAT64_GATE
    return result.agreement.rel_l2


# Every format on one side or the other, three reference libraries; the rest is in test_every_direction.
REPRESENTATIVE = [
    ("resnet18", ".pth", ".pdparams"),  # torchvision -> paddle.vision
    ("resnet50v2", ".weights.h5", ".safetensors"),  # keras.applications (Keras 3) -> canonical
    ("resnet18", ".h5", ".weights.h5"),  # legacy by-name -> Keras 3 order-based, for a torchvision id
]


@pytest.mark.parametrize("model_id,src_suffix,dst_suffix", REPRESENTATIVE)
def test_representative_directions_match_the_reference_libraries(sources, pool, images, tmp_path, model_id,
                                                                  src_suffix, dst_suffix):
    check_direction(sources, pool, images, tmp_path, model_id, src_suffix, dst_suffix)


# A cycle reads and writes every format once. Conversion goes reader -> canonical -> writer, with no branch per
# pair of formats, so resnet18 takes the cycle both ways (every format read and written twice, every ordered
# pair of frameworks verified) and the deeper ids, one per family, the cycle once.
CYCLE = list(zip(SUFFIXES, SUFFIXES[1:] + SUFFIXES[:1]))
DIRECTIONS = [("resnet18", src, dst) for src, dst in CYCLE + [(dst, src) for src, dst in CYCLE]]
DIRECTIONS += [(model_id, src, dst) for model_id in ("resnet50", "resnet50_v1", "resnet50v2") for src, dst in CYCLE]


def test_cifar_round_trips_into_the_order_based_keras_file(sources, pool, images, tmp_path):
    """The CIFAR id has resnet18's keys with another stem kernel: PyTorch -> Keras 3's order-based .weights.h5 (the
    one format identified by its layers' shapes, not its keys); the key-based formats are the next test's."""
    check_direction(sources, pool, images, tmp_path, "resnet18_cifar", ".pth", ".weights.h5")


@pytest.mark.parametrize("framework", ["torch", "paddle", "keras", "canonical"])
def test_cifar_and_imagenet_resnet18_are_told_apart_by_the_stem_kernel(framework):
    """Identical keys, one differing shape: each is inferred as itself, with the classes of its head."""
    for model_id, other in (("resnet18_cifar", "resnet18"), ("resnet18", "resnet18_cifar")):
        shapes = identify.expected_shapes(specs.get(model_id, 7), framework)
        assert shapes.keys() == identify.expected_shapes(specs.get(other, 7), framework).keys()
        found = identify.identify(shapes, framework)
        assert (found.model_id, found.num_classes) == (model_id, 7)
    layers = [(layer.kind, shapes) for layer, shapes in identify._keras_layers(specs.get("resnet18_cifar"))]
    assert identify.identify_layers(layers).model_id == "resnet18_cifar"  # order-based .weights.h5


def test_a_cifar_checkpoint_given_as_resnet18_names_the_stem(tmp_path, capsys):
    native = specs.to_native(specs.get("resnet18_cifar"), calibration.calibrated_weights("resnet18_cifar"), "paddle")
    src = write_pdparams(tmp_path / "cifar.pdparams", native)
    error = fails(capsys, tmp_path, "--model", "resnet18", str(src), str(tmp_path / "out.pth"))
    assert "checkpoint is not resnet18: it looks like resnet18_cifar (fits exactly, num_classes=10)" in error
    assert "conv1.weight: shape (64, 3, 3, 3), resnet18 has (64, 3, 7, 7)" in error


@pytest.mark.slow
@pytest.mark.parametrize("model_id,src_suffix,dst_suffix", DIRECTIONS)
def test_every_direction(sources, pool, images, tmp_path, model_id, src_suffix, dst_suffix):
    rel = check_direction(sources, pool, images, tmp_path, model_id, src_suffix, dst_suffix)
    print(f"REL_L2 {model_id} {src_suffix} -> {dst_suffix}: {rel:.2e}")


def test_plain_weights_cycle_through_every_framework_bit_identically(pool, images, tmp_path):
    """Untuned weights (torchvision's own init, BN statistics from a batch), whose float32 rounding alone is
    1.4e-5: every step is proven in float64, written, and lossless. (The deeper ids' float64 proof on plain
    weights is test_precision's run of every id: conversion has no per-depth code.)"""
    model_id = "resnet50"
    weights = calibration.default_init_weights(model_id, seed=5)
    start = canonical.save(tmp_path / "start.safetensors", model_id, weights)
    pth = tmp_path / "start.pth"
    reference("torch", "make", model_id, pth, images, start)  # a real torchvision checkpoint
    chain = [pth, tmp_path / "a.weights.h5", tmp_path / "b.pdparams", tmp_path / "c.pth"]
    for src, dst in zip(chain, chain[1:]):
        result = convert(src, dst, pool=pool)
        assert result.passed and result.written and dst.is_file(), (src, dst, result.agreement)
        assert result.agreement.rel_l2 <= FLOAT64_GATE
    returned = read_back(chain[-1], pool, tmp_path)
    for key, array in weights.items():
        np.testing.assert_array_equal(returned[key], array, err_msg=key)


def test_cli_infers_the_model_and_num_classes_and_prints_the_report(tmp_path, capsys):
    weights = calibration.calibrated_weights("resnet18", seed=1, num_classes=10)
    src = canonical.save(tmp_path / "w.safetensors", "resnet18", weights)
    write_pdparams(tmp_path / "w.pdparams", specs.to_native(specs.get("resnet18", 10), weights, "paddle"))
    assert main(["convert", str(tmp_path / "w.pdparams"), str(tmp_path / "out.pth")]) == 0
    output = capsys.readouterr()
    assert "resnet18, num_classes=10 (inferred" in output.err
    assert "PASS" in output.out and "paddle (source)" in output.out
    assert (tmp_path / "out.pth").is_file() and src.is_file()


def test_a_failing_gate_writes_nothing_unless_forced(pool, tmp_path):
    src = canonical.save(tmp_path / "w.safetensors", "resnet18", calibration.calibrated_weights("resnet18"))
    dst = tmp_path / "out.pdparams"
    impossible = ConvertOptions(rtol=1e-30)  # torch and paddle in float64 differ by ~1e-12 (Paddle's float32 BN eps)
    result = convert(src, dst, impossible, pool=pool)
    assert not result.passed and not result.written and not dst.exists()
    assert os.listdir(tmp_path) == ["w.safetensors"]
    forced = convert(src, dst, ConvertOptions(rtol=1e-30, force=True), pool=pool)
    assert not forced.passed and forced.written and dst.is_file()


# ------------------------------------------------------------------------------------------------
# The proof compares file to file: SRC as its framework loads it, DST as the destination framework loads it.

CIFAR = "resnet18_cifar"


@pytest.fixture(scope="module")
def cifar_files(tmp_path_factory) -> dict[str, Path]:
    """A CIFAR ResNet18 as a flat .pdparams and as a Lightning .ckpt (under "state_dict", keys prefixed "model.")."""
    directory = tmp_path_factory.mktemp("cifar")
    weights = calibration.calibrated_weights(CIFAR, seed=2)
    # positive stem BN means: swapped with the variances they still make a finite model, so only the proof can tell
    weights["conv1_bn.running_mean"] = np.abs(weights["conv1_bn.running_mean"]) + np.float32(0.5)
    native = specs.to_native(specs.get(CIFAR), weights, "torch")
    np.savez(directory / "native.npz", **native)
    run_python("import sys, numpy as np, torch; arrays = np.load(sys.argv[1]); torch.save({'epoch': 3, 'state_dict': "
               "{f'model.{k}': torch.from_numpy(arrays[k]) for k in arrays.files}}, sys.argv[2])",
               directory / "native.npz", directory / "cifar.ckpt")
    return {".pdparams": write_pdparams(directory / "cifar.pdparams", specs.to_native(specs.get(CIFAR), weights, "paddle")),
            ".ckpt": directory / "cifar.ckpt"}


def mislabelling(first: str, second: str):
    """The reader's relabelling with `first` and `second` of the stem BN swapped: a reader bug that keeps every
    key and shape right, so only a proof that reads SRC by itself can see it."""
    relabel = reader._canonical

    def canonical_arrays(located):
        arrays = dict(relabel(located))
        a, b = f"conv1_bn.{first}", f"conv1_bn.{second}"
        arrays[a], arrays[b] = arrays[b], arrays[a]
        return arrays
    return canonical_arrays


def cli_with(pool, monkeypatch) -> None:
    """`crosscheck convert` on the module's workers (starting fresh ones would cost seconds per test)."""
    monkeypatch.setattr(command, "convert", functools.partial(convert, pool=pool))


@pytest.mark.parametrize("src_suffix,first,second,dst_suffix", [
    (".pdparams", "running_mean", "running_var", ".pth"),
    (".ckpt", "weight", "bias", ".weights.h5"),  # gamma and beta, read through a Lightning container
])
def test_a_reader_that_mislabels_same_shape_tensors_fails_the_proof(cifar_files, pool, monkeypatch, tmp_path, capsys,
                                                                    src_suffix, first, second, dst_suffix):
    monkeypatch.setattr(reader, "_canonical", mislabelling(first, second))
    cli_with(pool, monkeypatch)
    dst = tmp_path / f"out{dst_suffix}"
    assert main(["convert", str(cifar_files[src_suffix]), str(dst)]) == 1
    assert os.listdir(tmp_path) == []
    output = " ".join(capsys.readouterr().out.split())
    assert "FAIL" in output and f"not written: {dst}" in output and "nan" not in output.lower()


def test_a_write_that_perturbs_one_tensor_is_caught_in_the_written_file(cifar_files, pool, monkeypatch, tmp_path, capsys):
    """The in-memory arrays stay right and only the written file is wrong: the proof must read the file."""
    write = session._Conversion.write

    def perturbing_write(self, path, spec, arrays, labels):
        write(self, path, spec, arrays, labels)
        run_python("import sys, torch; state = torch.load(sys.argv[1], weights_only=True); "
                   "state['layer1.0.conv1.weight'] += 1e-3; torch.save(state, sys.argv[1])", path)

    monkeypatch.setattr(session._Conversion, "write", perturbing_write)
    cli_with(pool, monkeypatch)
    dst = tmp_path / "out.pth"
    assert main(["convert", str(cifar_files[".pdparams"]), str(dst)]) == 1
    assert os.listdir(tmp_path) == []
    assert f"not written: {dst}" in " ".join(capsys.readouterr().out.split())


def test_the_report_says_how_each_side_of_the_proof_read_its_file(cifar_files, pool, monkeypatch, tmp_path, capsys):
    cli_with(pool, monkeypatch)
    assert main(["convert", str(cifar_files[".ckpt"]), str(tmp_path / "out.pdparams")]) == 0
    output = " ".join(capsys.readouterr().out.split())
    assert ('cifar.ckpt read by torch.load(weights_only=True) + load_state_dict, under key "state_dict", prefix "model."'
            in output)
    assert "out.pdparams read by Paddle set_state_dict of the file's state_dict (restricted unpickler)" in output
    assert main(["convert", str(tmp_path / "out.pdparams"), str(tmp_path / "out.safetensors")]) == 0
    assert main(["convert", str(tmp_path / "out.safetensors"), str(tmp_path / "back.pth")]) == 0
    output = " ".join(capsys.readouterr().out.split())
    assert f"out.safetensors read by {CANONICAL_READING}" in output  # what the proof starts from, said


def test_a_resnet_nested_in_a_keras_archive_is_proven_from_crosschecks_reading_and_says_so(pool, tmp_path):
    """Keras loads a .keras archive only into the model it was saved from, here a Sequential around the ResNet."""
    run_python("import sys, keras; from crosscheck import spec; from crosscheck.backends.keras import adapter; keras.Sequential(["
               "keras.Input((32, 32, 3)), adapter.build(sys.argv[1], spec.NO_HEAD), keras.layers.Dense(10)]).save(sys.argv[2])",
               CIFAR, tmp_path / "nested.keras")
    result = convert(tmp_path / "nested.keras", tmp_path / "out.pth", pool=pool)
    assert result.passed and result.source_reading.startswith("crosscheck's reading of the file (Keras loads")
    assert result.destination_reading.startswith("torch.load(weights_only=True)")


@pytest.mark.parametrize("dst_suffix", [".pth", ".weights.h5"])
def test_a_float64_checkpoint_converts_without_rounding(pool, tmp_path, capsys, dst_suffix):
    """float64 weights no float32 can hold (each nudged by ~1e-10 of itself) come out bit-identical, in float64."""
    spec = specs.get(CIFAR)
    weights = calibration.calibrated_weights(CIFAR, seed=4)
    nudge = np.random.default_rng(0)
    wide = {k: v.astype(np.float64) * (1 + 1e-10 * nudge.uniform(1, 2, v.shape)) for k, v in weights.items()}
    assert all(not np.array_equal(v.astype(np.float32), v) for v in wide.values())
    src = write_pdparams(tmp_path / "wide.pdparams", specs.to_native(spec, wide, "paddle"))
    messages: list[str] = []
    dst = tmp_path / f"wide{dst_suffix}"
    result = convert(src, dst, pool=pool, progress=messages.append)
    assert result.passed and result.written and result.precision == "float64"
    assert any("holds float64 tensors; converted and written in float64" in m for m in messages)
    if dst_suffix != ".pth":  # Keras' order-based file: read it back as a torch checkpoint
        assert convert(dst, tmp_path / "back.pth", pool=pool).passed
        dst = tmp_path / "back.pth"
    state = load_state("torch", dst)
    for key, expected in specs.to_native(spec, wide, "torch").items():
        assert state[key].dtype == np.float64, key
        np.testing.assert_array_equal(state[key], expected, err_msg=key)


# ------------------------------------------------------------------------------------------------
# Untrusted files: loading must never run their code.

class Payload:
    """Unpickling this runs `touch MARKER`."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_malicious_pdparams_is_refused_without_running_it(tmp_path, capsys):
    marker = tmp_path / "MARKER"
    src = tmp_path / "evil.pdparams"
    src.write_bytes(pickle.dumps({"conv1.weight": np.zeros(3, np.float32), "x": Payload(marker)}))
    assert main(["convert", str(src), str(tmp_path / "out.pth")]) == 2
    error = capsys.readouterr().err
    assert "unsafe .pdparams file" in error and "refused global posix.system" in error
    assert not marker.exists() and not (tmp_path / "out.pth").exists()


def test_malicious_pth_is_refused_without_running_it(tmp_path, capsys):
    marker = tmp_path / "MARKER"
    src = tmp_path / "evil.pth"
    script = (f"import os, torch\nclass P:\n    def __reduce__(self): return os.system, ('touch {marker}',)\n"
              f"torch.save({{'conv1.weight': torch.zeros(3), 'x': P()}}, {str(src)!r})")
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True)
    assert main(["convert", str(src), str(tmp_path / "out.pdparams")]) == 2
    error = capsys.readouterr().err
    assert "unsafe or unreadable .pth file" in error and "posix.system" in error
    assert not marker.exists() and not (tmp_path / "out.pdparams").exists()


# ------------------------------------------------------------------------------------------------
# Bad input: a clear error, exit code 2, no output file.

def write_pdparams(path: Path, native: dict[str, np.ndarray]) -> Path:
    """A .pdparams file as paddle.save writes a state_dict: a pickled dict of numpy arrays."""
    path.write_bytes(pickle.dumps(dict(native), protocol=4))
    return path


@pytest.fixture
def paddle_resnet18() -> dict[str, np.ndarray]:
    return specs.to_native(specs.get("resnet18"), calibration.calibrated_weights("resnet18"), "paddle")


def fails(capsys, tmp_path, *argv: str) -> str:
    """Run the CLI expecting exit code 2 and no output file; return the error text."""
    before = set(os.listdir(tmp_path))
    assert main(["convert", *argv]) == 2
    assert set(os.listdir(tmp_path)) == before, "an output (or partial) file was left behind"
    return " ".join(capsys.readouterr().err.split())


def test_missing_unexpected_and_misshaped_keys_are_all_listed(tmp_path, capsys, paddle_resnet18):
    native = dict(paddle_resnet18)
    del native["layer1.0.bn1._mean"]
    native["layer9.extra.weight"] = np.zeros(3, np.float32)
    native["layer2.0.conv1.weight"] = np.zeros((128, 64, 1, 1), np.float32)
    src = write_pdparams(tmp_path / "bad.pdparams", native)
    error = fails(capsys, tmp_path, "--model", "resnet18", str(src), str(tmp_path / "out.pth"))
    assert "3 key(s) do not fit resnet18" in error
    assert "missing layer1.0.bn1._mean" in error and "unexpected layer9.extra.weight" in error
    assert "layer2.0.conv1.weight: shape (128, 64, 1, 1), resnet18 has (128, 64, 3, 3)" in error
    error = fails(capsys, tmp_path, str(src), str(tmp_path / "out.pth"))  # auto: names the closest id
    assert "fits no known model id; closest: resnet18 (missing 1 keys, 1 unexpected, 1 shape differences" in error


def test_a_checkpoint_of_another_model_says_which_it_looks_like(tmp_path, capsys):
    native = specs.to_native(specs.get("resnet50"), calibration.calibrated_weights("resnet50"), "paddle")
    src = write_pdparams(tmp_path / "r50.pdparams", native)
    error = fails(capsys, tmp_path, "--model", "resnet18", str(src), str(tmp_path / "out.pth"))
    assert "checkpoint is not resnet18: it looks like resnet50 (fits exactly" in error


def test_keras_v1_and_torchvision_resnet50_are_told_apart_by_their_biases(tmp_path, capsys):
    weights = calibration.calibrated_weights("resnet50_v1")
    src = canonical.save(tmp_path / "v1.safetensors", "resnet50_v1", weights)
    error = fails(capsys, tmp_path, "--model", "resnet50", str(src), str(tmp_path / "out.pth"))
    assert "it looks like resnet50_v1" in error and "unexpected conv1_conv.bias" in error


def test_nan_and_inf_weights_are_refused_naming_the_tensor(tmp_path, capsys, paddle_resnet18):
    native = dict(paddle_resnet18)
    native["fc.bias"] = native["fc.bias"].copy()
    native["fc.bias"][3] = np.nan
    native["bn1._variance"] = np.full_like(native["bn1._variance"], np.inf)
    src = write_pdparams(tmp_path / "nan.pdparams", native)
    error = fails(capsys, tmp_path, str(src), str(tmp_path / "out.safetensors"))
    assert "NaN or Inf in 2 tensor(s)" in error and "fc.bias" in error and "bn1._variance" in error


@pytest.mark.parametrize("suffix", [".pdparams", ".safetensors", ".pth", ".h5", ".weights.h5"])
def test_truncated_files_are_refused(tmp_path, capsys, suffix):
    whole = tmp_path / "whole.safetensors"
    save_file({"conv1_conv.weight": np.ones((64, 3, 7, 7), np.float32)}, str(whole))
    src = tmp_path / f"cut{suffix}"
    src.write_bytes(b"\x80\x04\x95" + whole.read_bytes()[:300])  # a pickle header, then garbage, then cut
    whole.unlink()
    error = fails(capsys, tmp_path, str(src), str(tmp_path / "out.safetensors"))
    assert str(src) in error and ("truncated or corrupt" in error or "unsafe or unreadable" in error)


def test_paths_extensions_and_existing_outputs(tmp_path, capsys, paddle_resnet18):
    src = write_pdparams(tmp_path / "ok.pdparams", paddle_resnet18)
    assert "nope.pth: no such file" in fails(capsys, tmp_path, str(tmp_path / "nope.pth"), str(tmp_path / "o.pdparams"))
    assert "out.onnx: not a checkpoint file name" in fails(capsys, tmp_path, str(src), str(tmp_path / "out.onnx"))
    assert "unknown checkpoint extension" in fails(capsys, tmp_path, str(tmp_path / "w.npz"), str(tmp_path / "o.pth"))
    existing = tmp_path / "existing.pth"
    existing.write_bytes(b"keep me")
    assert "already exists (pass --overwrite" in fails(capsys, tmp_path, str(src), str(existing))
    assert existing.read_bytes() == b"keep me"
    assert "directory" in fails(capsys, tmp_path, str(src), str(tmp_path / "no-dir" / "out.pth"))
    assert "unknown model id 'resnet7'" in fails(capsys, tmp_path, "--model", "resnet7", str(src), str(tmp_path / "o.pth"))

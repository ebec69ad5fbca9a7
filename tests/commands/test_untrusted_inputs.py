"""Checkpoints from strangers through `crosscheck convert`: empty, cut short, random or text files under every
checkpoint extension, and a Keras file with code.

Every real file here is written by its own ecosystem's library (torch.save, paddle.save, Keras' save_weights /
legacy HDF5 writer / model.save, safetensors), then damaged or armed. Everything runs through the CLI
(`crosscheck.cli.main`), so the checks hold whatever the convert internals look like: exit code 2, one
error naming the file, no output file; and code inside a file never runs.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from crosscheck import calibration
from crosscheck.checkpoints import canonical
from crosscheck.cli import main
from subprocess_python import run_python  # tests/ helpers


pytestmark = pytest.mark.usefixtures("wide_console")  # tests/conftest.py


# Each library writes its file in a process of its own: this tier imports no framework.

def _torch_pth(path: Path) -> None:
    run_python("import sys, torch, torchvision; torch.save(torchvision.models.resnet18().state_dict(), sys.argv[1])", path)


def _paddle_pdparams(path: Path) -> None:
    run_python("import sys, paddle; paddle.save(paddle.vision.models.resnet18().state_dict(), sys.argv[1])", path)


def _keras_weights_h5(path: Path) -> None:
    run_python("import sys, keras_impl; keras_impl.build('resnet18', classifier_activation=None).save_weights(sys.argv[1])",
               path)


def _keras_legacy_h5(path: Path) -> None:
    """By-name HDF5 groups, the format of keras.applications' downloadable weight files."""
    run_python("import sys, h5py, keras_impl\nfrom keras.src.legacy.saving import legacy_h5_format\n"
               "with h5py.File(sys.argv[1], 'w') as file:\n"
               "    legacy_h5_format.save_weights_to_hdf5_group(file, keras_impl.build('resnet18', classifier_activation=None))",
               path)


def _safetensors(path: Path) -> None:
    canonical.save(path, "resnet18", calibration.calibrated_weights("resnet18"))


WRITERS = {".pth": _torch_pth, ".pdparams": _paddle_pdparams, ".weights.h5": _keras_weights_h5,
           ".h5": _keras_legacy_h5, ".safetensors": _safetensors}


def error_lines(capsys) -> list[str]:
    """The CLI's stderr lines that report an error."""
    return [line for line in capsys.readouterr().err.splitlines() if "error" in line.lower()]


@pytest.mark.parametrize("suffix", list(WRITERS))
def test_a_real_checkpoint_cut_in_the_middle_is_one_clear_error_and_no_file(tmp_path, capsys, suffix):
    whole = tmp_path / f"whole{suffix}"
    WRITERS[suffix](whole)
    data = whole.read_bytes()
    assert len(data) > 10_000_000  # a real resnet18 checkpoint (~45 MB), not a stub
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(data[: len(data) // 2])
    whole.unlink()
    destination = tmp_path / ("out.pth" if suffix == ".safetensors" else "out.safetensors")
    assert main(["convert", str(cut), str(destination)]) == 2
    [error] = error_lines(capsys)
    assert str(cut) in error and "truncated or corrupt" in error and "Traceback" not in error, error
    assert os.listdir(tmp_path) == [cut.name]  # no output, no partial file


def test_a_keras_h5_that_reads_another_local_file_is_refused(tmp_path, capsys):
    """HDF5 external storage: a dataset whose bytes h5py silently reads from any path the file names (here a
    'secret' holding valid weights). Converted, that file would leak into the output; it is refused instead."""
    import h5py

    source = tmp_path / "leaky.h5"
    _keras_legacy_h5(source)
    secret = tmp_path / "secret.bin"
    with h5py.File(source, "r+") as file:
        layer = file["conv1_bn"]
        name = next(n.decode() if isinstance(n, bytes) else n for n in layer.attrs["weight_names"] if "moving_mean" in str(n))
        values = np.asarray(layer[name])
        secret.write_bytes(values.astype("<f4").tobytes())
        del layer[name]
        layer.create_dataset(name, shape=values.shape, dtype="<f4", external=[(str(secret), 0, values.nbytes)])
    assert main(["convert", str(source), str(tmp_path / "out.safetensors")]) == 2
    [error] = error_lines(capsys)
    assert str(source) in error and "unsafe HDF5 file" in error and f"conv1_bn/{name} (external storage)" in error, error
    assert sorted(os.listdir(tmp_path)) == ["leaky.h5", "secret.bin"]


def _small_legacy_ckpt(path: Path) -> None:
    """torch's pre-1.6 pickle format, which old checkpoints still use; cut short it ends in a message-less EOFError."""
    run_python("import sys, torch; torch.save({'epoch': 1, 'state_dict': {'conv1.weight': torch.ones(64, 3, 7, 7)}}, "
               "sys.argv[1], _use_new_zipfile_serialization=False)", path)


def _small_keras_archive(path: Path) -> None:
    run_python("import sys, keras; keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3), "
               "keras.layers.BatchNormalization()]).save(sys.argv[1])", path)


# Small files of the formats test_a_real_checkpoint_cut_in_the_middle does not cut, written by their own library.
SMALL_WRITERS = {".ckpt": _small_legacy_ckpt, ".keras": _small_keras_archive}
SUFFIXES = [*WRITERS, *SMALL_WRITERS]
TRUNCATED_BYTES = 40  # an interrupted download: the signature arrived, the rest did not


def _defective(defect: str, suffix: str, directory: Path) -> Path:
    """A file with `suffix` that is empty, a real file cut after its first bytes, random bytes, or a text file."""
    path = directory / f"{defect}{suffix}"
    if defect == "truncated":
        whole = directory / f"whole{suffix}"
        SMALL_WRITERS[suffix](whole)
        path.write_bytes(whole.read_bytes()[:TRUNCATED_BYTES])
        whole.unlink()
    else:
        path.write_bytes({"empty": b"", "random": np.random.default_rng(0).bytes(4096),
                          "text": b"# not a checkpoint\n" * 100}[defect])
    return path


# What the one error line says is wrong with each defect.
DEFECTS = {"empty": "empty file (0 bytes)", "truncated": "truncated or corrupt", "random": "checkpoint: it starts with",
           "text": "checkpoint: it starts with b'# not a"}


CASES = [(defect, suffix) for defect in DEFECTS for suffix in SUFFIXES
         if defect != "truncated" or suffix in SMALL_WRITERS]  # the others are cut in the test above


@pytest.mark.parametrize("defect,suffix", CASES)
def test_every_unreadable_input_is_one_line_naming_the_file_and_the_defect(tmp_path, capsys, defect, suffix):
    source = _defective(defect, suffix, tmp_path)
    destination = tmp_path / ("out.pth" if suffix == ".safetensors" else "out.safetensors")
    assert main(["convert", str(source), str(destination)]) == 2
    [error] = error_lines(capsys)
    assert str(source) in error and DEFECTS[defect] in error and "Traceback" not in error, error
    if defect in ("random", "text"):
        assert f"not a {suffix} checkpoint" in error, error
    assert os.listdir(tmp_path) == [source.name]


def test_inspect_of_an_empty_pth_names_the_file(tmp_path, capsys):
    """The issue's report: an empty .pth once gave 'error: list index out of range'."""
    (tmp_path / "empty.pth").write_bytes(b"")
    assert main(["inspect", str(tmp_path / "empty.pth")]) == 2
    [error] = error_lines(capsys)
    assert f"{tmp_path / 'empty.pth'}: empty file (0 bytes), not a checkpoint" in error, error

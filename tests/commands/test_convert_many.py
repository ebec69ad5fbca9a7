"""`crosscheck convert SRC... --to-dir D --to-format SUFFIX`: several files through one pool of workers, each
converted and proven as one file is, written all together or not at all."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from crosscheck import calibration
from crosscheck import spec as specs
from crosscheck.checkpoints import canonical, paddle_formats
from crosscheck.cli import main
from crosscheck.convert.session import convert_many
from crosscheck.worker import client

MODEL = "resnet18_cifar"  # 32x32 input: cheap
SEEDS = (0, 1, 2)


@pytest.fixture
def sources(tmp_path) -> list[Path]:
    """Three canonical files of MODEL with different weights (seeds), in tmp_path/src."""
    folder = tmp_path / "src"
    folder.mkdir()
    return [canonical.save(folder / f"model-{seed}.safetensors", MODEL, calibration.calibrated_weights(MODEL, seed))
            for seed in SEEDS]


def written_arrays(path: Path) -> dict[str, np.ndarray]:
    """A written .pdparams, read without paddle (the restricted unpickler), as {paddle key: array}."""
    [arrays] = paddle_formats.read(path).values()
    return arrays


def test_every_file_is_converted_proven_and_written_by_one_pool(sources, tmp_path, capsys):
    """Each output holds its own source's weights (in paddle's naming and layout), each file's proof is printed, and
    one torch and one paddle worker served all three files."""
    out = tmp_path / "out"
    out.mkdir()
    assert main(["convert", *map(str, sources), "--to-dir", str(out), "--to-format", ".pdparams"]) == 0
    text = "".join(capsys.readouterr().out.split())  # rich wraps long paths anywhere: compare without spaces
    spec = specs.get(MODEL)
    for source in sources:
        target = out / source.name.replace(".safetensors", ".pdparams")
        _, arrays, _ = canonical.load(source)
        expected = specs.to_native(spec, arrays, "paddle")
        found = written_arrays(target)
        assert set(found) == set(expected)
        for key, array in expected.items():
            np.testing.assert_array_equal(found[key], array)
        assert f"proof,filetofile:{source}readby" in text and f"wrote{target}" in text
    assert text.count("PASS") == len(sources)
    assert "wrote3files;2worker(s)" in text


def test_the_pool_starts_each_worker_once_for_all_files(sources, tmp_path, monkeypatch):
    """Counted where every worker process is made: one torch and one paddle for three files, as the result says."""
    made: list[str] = []

    class Counted(client.FrameworkWorker):
        def __init__(self, framework: str, *args, **kwargs) -> None:
            made.append(framework)
            super().__init__(framework, *args, **kwargs)

    monkeypatch.setattr(client, "FrameworkWorker", Counted)
    out = tmp_path / "out"
    out.mkdir()
    many = convert_many(sources, out, ".pdparams")
    assert sorted(made) == sorted(many.workers_started) == ["paddle", "torch"]  # not once per file
    assert many.written and many.passed and len(many.conversions) == len(sources)
    assert all(result.agreement.rel_l2 <= 1e-9 for _, _, result in many.conversions)  # README's float64 gate


def test_a_bad_file_among_several_writes_nothing_and_says_what_became_of_the_others(sources, tmp_path, capsys):
    """The middle file is cut short: one error line naming it, exit 2, nothing in the output directory, and the line
    says the first was converted but not written and the last was not converted."""
    bad = sources[1]
    bad.write_bytes(bad.read_bytes()[:500])
    out = tmp_path / "out"
    out.mkdir()
    assert main(["convert", *map(str, sources), "--to-dir", str(out), "--to-format", ".pdparams"]) == 2
    error = "".join(capsys.readouterr().err.split())
    assert str(bad) in error and "nothingwritten" in error
    assert f"convertedandprovenbutnotwritten:{sources[0]};" in error
    assert f"notconverted:{sources[2]}" in error
    assert list(out.iterdir()) == []


def test_outputs_are_checked_before_any_work(sources, tmp_path, capsys):
    """An existing output, two sources with one destination, a missing directory: exit 2 before a worker starts."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "model-1.pdparams").write_bytes(b"keep me")
    assert main(["convert", *map(str, sources), "--to-dir", str(out), "--to-format", ".pdparams"]) == 2
    assert "model-1.pdparams: already exists" in capsys.readouterr().err
    assert (out / "model-1.pdparams").read_bytes() == b"keep me"
    twice = [str(sources[0]), str(sources[0])]
    assert main(["convert", *twice, "--to-dir", str(tmp_path), "--to-format", ".pth"]) == 2
    assert "given for two outputs" in capsys.readouterr().err
    assert main(["convert", str(sources[0]), "--to-dir", str(tmp_path / "nope"), "--to-format", ".pth"]) == 2
    assert "no such directory" in capsys.readouterr().err
    assert main(["convert", *map(str, sources)]) == 2
    assert "convert takes SRC DST, or several SRC with --to-dir" in capsys.readouterr().err

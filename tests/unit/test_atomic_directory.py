"""A directory output (convert --to transformers) appears complete or not at all, as a file output does."""

from __future__ import annotations

import pytest

from crosscheck.files import OutputPathError, atomic_directory


def test_a_failing_writer_leaves_no_directory_and_no_temp(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_directory(tmp_path / "out") as temp:
            (temp / "config.json").write_text("{}")
            raise RuntimeError("the proof failed half way")
    assert list(tmp_path.iterdir()) == []


def test_overwrite_replaces_the_whole_old_directory(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "stale.bin").write_text("old")
    with pytest.raises(OutputPathError, match="already exists"):
        with atomic_directory(tmp_path / "out", overwrite=False):
            pass
    with atomic_directory(tmp_path / "out") as temp:
        (temp / "model.safetensors").write_text("new")
    assert [path.name for path in tmp_path.iterdir()] == ["out"]
    assert [path.name for path in (tmp_path / "out").iterdir()] == ["model.safetensors"]

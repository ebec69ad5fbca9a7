"""What `verify --watch` and warm alternatives decide without a framework: when a watched file has changed, and at
which input size an alternative model id's structure is traced."""

from __future__ import annotations

import os

import pytest

from crosscheck.verify.session import alternative_size
from crosscheck.verify.watch import WatchedFiles


def test_a_watched_file_changes_when_its_bytes_do_not_when_it_is_touched_or_briefly_gone(tmp_path):
    path = tmp_path / "my_resnet.py"
    path.write_text("EPS = 1e-5\n")
    files = WatchedFiles([path])
    assert not files.changed()
    os.utime(path, ns=(1, 1))  # saved without an edit: a new mtime, the same bytes
    assert not files.changed() and not files.changed()
    path.write_text("EPS = 1e-3\n")  # the same size, other bytes
    os.utime(path, ns=(2, 2))
    assert not files.changed()  # its stat just moved: the save may still be under way
    assert files.changed() and not files.changed()
    path.write_text("")  # a save caught half-way (truncated, not yet written) is not read
    assert not files.changed()
    path.write_text("EPS = 1e-5\n")
    os.utime(path, ns=(3, 3))
    assert not files.changed() and files.changed()
    path.unlink()  # an editor that replaces the file removes it first
    assert not files.changed()
    path.write_text("EPS = 1e-3\n")
    assert not files.changed() and files.changed()


@pytest.mark.parametrize("size, checked, alternative, expected", [
    (224, "resnet50", "resnet50_cifar", 56),  # ImageNet stem: 7x7/2 conv + 3x3/2 pool = /4; CIFAR stem: /1
    (64, "resnet18", "resnet18_cifar", 16),
    (224, "resnet50", "resnet50_v1", 224),  # the same stem: the run's size
    (32, "resnet18_cifar", "resnet18", 32),  # a more reducing stem: never a larger image
    (226, "resnet50", "resnet50_cifar", 226),  # not a multiple of the reduction: the run's size
])
def test_an_alternative_is_traced_where_its_maps_after_the_stem_are_the_checked_ids(size, checked, alternative,
                                                                                  expected):
    assert alternative_size(size, checked, alternative) == expected

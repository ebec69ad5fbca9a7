"""torch's adapter reports its device switches as they stand (read back, not echoed from the request)."""

from __future__ import annotations

import pytest


class StuckSwitches:
    """Stands in for a torch.backends switch module whose switches ignore writes (stuck at the wrong value)."""

    allow_tf32 = property(lambda self: True, lambda self, value: None)
    deterministic = property(lambda self: False, lambda self, value: None)
    benchmark = property(lambda self: True, lambda self, value: None)


def test_torch_reports_its_switches_as_they_stand(monkeypatch):
    torch = pytest.importorskip("torch")
    from crosscheck.backends.torch import adapter

    monkeypatch.setattr(torch.backends, "cudnn", StuckSwitches())
    monkeypatch.setattr(torch.backends.cuda, "matmul", StuckSwitches())
    settings = adapter.configure("cpu", allow_tf32=False)
    assert (settings["cudnn_allow_tf32"], settings["matmul_allow_tf32"]) == ("True", "True")
    assert (settings["cudnn_deterministic"], settings["cudnn_benchmark"]) == ("False", "True")

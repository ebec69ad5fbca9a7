"""Keras' adapter reports its device switches as they stand (read back, not echoed from the request)."""

from __future__ import annotations

import pytest


@pytest.fixture
def op_determinism():
    """TensorFlow's process-wide op-determinism switch, restored after the test."""
    pytest.importorskip("tensorflow")
    from tensorflow.python.framework import config

    enabled = config.is_op_determinism_enabled()
    yield config
    (config.enable_op_determinism if enabled else config.disable_op_determinism)()


def test_keras_reports_op_determinism_as_it_stands(monkeypatch, op_determinism):
    import tensorflow as tf

    from crosscheck.backends.keras import adapter

    op_determinism.disable_op_determinism()
    monkeypatch.setattr(tf.config.experimental, "enable_op_determinism", lambda: None)  # the switch does not take
    assert adapter.configure("cpu", allow_tf32=False)["op_determinism"] == "False"
    monkeypatch.undo()
    assert adapter.configure("cpu", allow_tf32=False)["op_determinism"] == "True"
    assert op_determinism.is_op_determinism_enabled()

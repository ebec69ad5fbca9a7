"""verify's Paddle tracer: a reference built uninitialised (Paddle's LazyGuard) and made ready for a structure-only
trace gives the records of the same model built initialised."""

from __future__ import annotations

import pytest

pytest.importorskip("paddle")

from crosscheck import calibration  # noqa: E402
from crosscheck.backends.paddle import adapter, trace  # noqa: E402


@pytest.mark.parametrize("model_id", ["resnet50", "resnet18_cifar"])
def test_a_shapes_only_trace_records_what_an_initialised_trace_records(model_id):
    images = calibration.sample_input(1, size=64)
    initialised, _, _ = trace.trace(trace.prepare(adapter.build(model_id, dtype="float64")), images)
    lazy = trace.shapes_only(adapter.build(model_id, dtype="float64", uninitialised=True))
    records, _, output = trace.trace(trace.prepare(lazy), images)
    assert records == initialised and output is not None

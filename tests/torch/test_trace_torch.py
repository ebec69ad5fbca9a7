"""verify's PyTorch tracer: a reference traced for its structure alone (on the meta device, no arithmetic) gives
the records of the same model traced on real numbers."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from crosscheck import calibration  # noqa: E402
from crosscheck.backends.torch import adapter, trace  # noqa: E402


@pytest.mark.parametrize("model_id", ["resnet50", "resnet50d", "seresnet50", "resnext50_32x4d", "resnet18_cifar"])
def test_a_shapes_only_trace_records_what_a_computed_trace_records(model_id):
    images = calibration.sample_input(1, size=64)
    computed, _, output = trace.trace(trace.prepare(adapter.build(model_id, dtype="float64")), images)
    shapes_only = trace.shapes_only(adapter.build(model_id, dtype="float64", uninitialised=True))
    records, captured, no_output = trace.trace(trace.prepare(shapes_only), images, {0, 1})
    assert records == computed
    assert output is not None and no_output is None and captured == {}

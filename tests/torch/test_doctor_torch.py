"""The doctor's onnxscript bound is the one torch's exporter enforces."""

from __future__ import annotations

from crosscheck.doctor.findings import MIN_ONNXSCRIPT


def test_onnxscript_bound_is_the_exporters_bound():
    from crosscheck.backends.torch.onnx_export import MIN_ONNXSCRIPT as exporter_bound

    assert MIN_ONNXSCRIPT == exporter_bound == (0, 5, 7)

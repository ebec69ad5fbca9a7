"""torch's ONNX exporter refuses an onnxscript that fuses conv+BN wrongly (tests/commands/test_onnx_export.py has
the export command itself)."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("version, refused", [("0.5.6", True), ("0.4.20", True), ("0.5.7", False),
                                              ("0.10.0", False), ("1.0", False)])
def test_onnxscript_before_0_5_7_is_refused(monkeypatch, version, refused):
    """Compared as numbers, not strings: 0.10.0 is newer than 0.5.7."""
    onnx_export = pytest.importorskip("crosscheck.backends.torch.onnx_export")
    real = onnx_export.importlib.metadata.version
    monkeypatch.setattr(onnx_export.importlib.metadata, "version",
                        lambda name: version if name == "onnxscript" else real(name))
    if refused:
        with pytest.raises(RuntimeError, match=f"onnxscript {version} fuses ResNet conv.BN wrongly.*onnxscript>=0.5.7"):
            onnx_export.check_onnxscript()
    else:
        onnx_export.check_onnxscript()

"""ONNX export of a crosscheck PyTorch model with torch's own exporter (`torch.onnx.export(dynamo=True)`).

The torch.export-based exporter lowers through onnxscript, whose optimizer fused ResNet conv+BN
wrongly before 0.5.7, so older onnxscript releases are refused. It emits opset 18 or newer only:
asked for less, it silently keeps 18, so lower opsets are refused here instead.
"""

from __future__ import annotations

import importlib.metadata
import re

import torch
from torch import nn

MIN_ONNXSCRIPT = (0, 5, 7)
MIN_OPSET = 18
EXAMPLE_BATCH = 2  # torch.export specialises a dimension whose example size is 1


class _ChannelsLast(nn.Module):
    """Takes NHWC input and feeds the wrapped NCHW model, so the ONNX graph's input is NHWC."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images.permute(0, 3, 1, 2))


def check_onnxscript() -> None:
    """Refuse onnxscript releases with the ResNet conv+BN fusion bug (a missing one is an ImportError)."""
    version = importlib.metadata.version("onnxscript")
    if tuple(int(part) for part in re.findall(r"\d+", version)[:3]) < MIN_ONNXSCRIPT:
        wanted = ".".join(map(str, MIN_ONNXSCRIPT))
        raise RuntimeError(f"onnxscript {version} fuses ResNet conv+BN wrongly; "
                           f"install onnxscript>={wanted}: pip install 'onnxscript>={wanted}'")


def export_onnx(model: nn.Module, path: str, opset: int, input_layout: str, image_size: int) -> None:
    """Write `model` as ONNX to `path`: one float32 input [batch, 3, H, W] (or NHWC), batch dynamic."""
    if opset < MIN_OPSET:
        raise ValueError(f"torch.onnx's dynamo exporter emits opset >= {MIN_OPSET} only; got --opset {opset}")
    check_onnxscript()
    module = _ChannelsLast(model) if input_layout == "nhwc" else model
    example = torch.zeros((EXAMPLE_BATCH, 3, image_size, image_size), device=next(model.parameters()).device)
    if input_layout == "nhwc":
        example = example.permute(0, 2, 3, 1).contiguous()
    torch.onnx.export(module.eval(), (example,), path, dynamo=True, opset_version=opset, external_data=False,
                      dynamic_shapes=({0: torch.export.Dim("batch")},), verbose=False)

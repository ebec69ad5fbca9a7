"""ONNX export of a crosscheck Paddle model with Paddle's own exporter (`paddle.onnx.export`, i.e. paddle2onnx).

paddle2onnx logs export errors instead of raising them and appends ".onnx" to the path it is given,
so the export goes to a scratch directory and a missing or empty result is raised as an error.
It needs onnx-graphsurgeon for its constant folding (it tries to pip-install it at run time otherwise).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import paddle
from paddle import nn


class _ChannelsLast(nn.Layer):
    """Takes NHWC input and feeds the wrapped NCHW model, so the ONNX graph's input is NHWC."""

    def __init__(self, model: nn.Layer) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: paddle.Tensor) -> paddle.Tensor:
        return self.model(paddle.transpose(images, [0, 3, 1, 2]))


def export_onnx(model: nn.Layer, path: str, opset: int, input_layout: str, image_size: int) -> None:
    """Write `model` as ONNX to `path`: one float32 input [batch, 3, H, W] (or NHWC), batch dynamic."""
    layer = _ChannelsLast(model) if input_layout == "nhwc" else model
    shape = [None, image_size, image_size, 3] if input_layout == "nhwc" else [None, 3, image_size, image_size]
    layer.eval()
    with tempfile.TemporaryDirectory(prefix="crosscheck-paddle2onnx-") as scratch:
        prefix = Path(scratch) / "model"
        paddle.onnx.export(layer, str(prefix), input_spec=[paddle.static.InputSpec(shape, "float32", "images")],
                           opset_version=opset)
        exported = prefix.with_suffix(".onnx")
        if not exported.is_file() or exported.stat().st_size == 0:
            raise RuntimeError(f"paddle2onnx wrote no ONNX file for {type(model).__name__} at opset {opset}; "
                               "paddle2onnx logs the cause on stderr")
        shutil.move(exported, path)

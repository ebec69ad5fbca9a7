"""ONNX export of a crosscheck Paddle model with Paddle's own exporter (what `paddle.onnx.export` does).

`paddle.onnx.export` is `paddle.jit.save` followed by `paddle2onnx.export`. Here the two steps run
apart: the model is saved in this process, and paddle2onnx converts the saved model in a fresh
interpreter, because paddle2onnx keeps state between conversions in one process (resnet50v2
exported after resnet50_v1 came out with rel L2 1e28 against its native model, while either alone
is exact). paddle2onnx logs errors instead of raising them, so a failed run or a missing result is
raised as an error. It needs onnx-graphsurgeon (it tries to pip-install it at run time otherwise).
"""

from __future__ import annotations

import subprocess
import sys
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
        paddle.jit.save(layer, str(prefix), input_spec=[paddle.static.InputSpec(shape, "float32", "images")])
        program = next(p for p in (prefix.with_suffix(".json"), prefix.with_suffix(".pdmodel")) if p.is_file())
        _convert_in_fresh_process(program, prefix.with_suffix(".pdiparams"), Path(path), opset)


CONVERT = "import sys, paddle2onnx; paddle2onnx.export(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))"


def _convert_in_fresh_process(program: Path, params: Path, path: Path, opset: int) -> None:
    """Run paddle2onnx on a saved model in its own interpreter; raise with its log if no ONNX file appears."""
    path.unlink(missing_ok=True)
    result = subprocess.run([sys.executable, "-c", CONVERT, str(program), str(params), str(path), str(opset)],
                            capture_output=True, text=True)
    if result.returncode != 0 or not path.is_file() or path.stat().st_size == 0:
        log = "\n".join((result.stderr + result.stdout).strip().splitlines()[-10:])
        raise RuntimeError(f"paddle2onnx wrote no ONNX file at opset {opset} (exit code {result.returncode}):\n{log}")

"""`export --preprocess`: the ONNX graph starts with the weights' preprocessing and takes RGB float32 in [0, 255].

Default tier: the CIFAR resnet18 (32x32, quick) exported with a prefix from torch (NHWC) and paddle (NCHW); the
prefix alone, cut out of the file, equals keras.applications' / torchvision's own function (each computed in a
process of its own). keras.applications' ResNet50 exported with `--preprocess caffe` is in tests/keras.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnx.utils
import onnxruntime
import pytest

from crosscheck import calibration, onnx_tools
from crosscheck import spec as specs
from crosscheck.checkpoints import canonical
from crosscheck.cli import main
from crosscheck.export.session import ExportOptions, export
from subprocess_python import compute  # tests/ helpers

MODEL = "resnet18_cifar"


def prefix_only(path, tmp_path) -> onnxruntime.InferenceSession:
    """The preprocessing subgraph of an export (images -> images_preprocessed), as its own model."""
    cut = tmp_path / "prefix.onnx"
    onnx.utils.extract_model(str(path), str(cut), [onnx_tools.INPUT_NAME], [onnx_tools.PREPROCESSED_NAME])
    return onnxruntime.InferenceSession(str(cut), providers=onnx_tools.PROVIDERS)


def keras_reference(images_nhwc: np.ndarray, style: str) -> np.ndarray:
    """keras.applications' preprocess_input of `style` (its own process: this tier imports no framework)."""
    module = {"caffe": "resnet", "tf": "resnet_v2"}[style]
    return compute(f"from keras.applications import {module}\n"
                   f"result = np.asarray({module}.preprocess_input(arrays['images']))", {"images": images_nhwc})


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return canonical.save(tmp_path_factory.mktemp("w") / "w.safetensors", MODEL, calibration.calibrated_weights(MODEL))


@pytest.mark.parametrize("framework, style, layout", [("torch", "caffe", "nhwc"),
                                                      pytest.param("keras", "tf", "nchw", marks=pytest.mark.slow)])
def test_export_with_preprocessing_matches_native_preprocess_and_model(weights, tmp_path, framework, style, layout):
    """onnxruntime on raw [0, 255] images equals the framework's preprocess_input + native model (float64 truth,
    float32 gate); the prefix alone equals keras.applications' function; the metadata records the convention."""
    out = tmp_path / "p.onnx"
    result = export(MODEL, framework, out, weights, ExportOptions(input_layout=layout, preprocess=style))
    assert result.written and result.passed, result.checks
    assert all(check.agreement.rel_l2 <= result.gate for check in result.checks)
    meta = onnx_tools.read_metadata(out)
    p = specs.PREPROCESSING[style]
    assert (meta["preprocess"], meta["preprocess_channel_order"], meta["input_layout"]) == (style, p.channel_order, layout)
    assert meta["input_range"] == "RGB float32 in [0, 255]"
    images = calibration.sample_rgb(2, seed=5, size=32)
    nhwc = images.transpose(0, 2, 3, 1).copy()
    prefixed = prefix_only(out, tmp_path).run(None, {"images": nhwc if layout == "nhwc" else images})[0]
    expected = keras_reference(nhwc, style)
    # the same float32 operations in the same order (flip, / divisor, - mean): bit for bit
    np.testing.assert_array_equal(prefixed, expected if layout == "nhwc" else expected.transpose(0, 3, 1, 2))


def test_torch_style_prefix_equals_torchvision_normalize(weights, tmp_path):
    """The "torch" prefix (x / 255, - mean, / std) equals torchvision's ToTensor arithmetic + Normalize."""
    out = tmp_path / "t.onnx"
    assert export(MODEL, "paddle", out, weights, ExportOptions(preprocess="torch")).passed
    images = calibration.sample_rgb(2, seed=6, size=32)
    expected = compute("import torch\nfrom torchvision.transforms import Normalize\n"
                       "result = Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))"
                       "(torch.from_numpy(arrays['images']) / 255.0).numpy()", {"images": images})
    np.testing.assert_array_equal(prefix_only(out, tmp_path).run(None, {"images": images})[0], expected)


def test_unknown_preprocess_is_refused_by_the_parser(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["export", "--model", MODEL, "--framework", "torch", "-o", str(tmp_path / "x.onnx"), "--preprocess", "imagenet"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'imagenet'" in capsys.readouterr().err
    assert not (tmp_path / "x.onnx").exists()

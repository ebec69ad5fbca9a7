"""The Keras exporter's grouped-conv tracing, on tiny models in this process (tests/commands/test_onnx_export.py
exports the ResNeXt ids end to end)."""

from __future__ import annotations

import hashlib

import numpy as np
import onnx
import onnxruntime
import pytest
from onnx import numpy_helper

from crosscheck.metrics import rel_l2

keras = pytest.importorskip("keras")
from crosscheck.backends.keras import onnx_export  # noqa: E402  (after the importorskip)

SIZE = 16


def tiny_model(groups: int) -> keras.Model:
    """A strided 'same' conv and a 'valid' conv with `groups` groups: the shapes a ResNeXt bottleneck uses."""
    keras.utils.set_random_seed(0)
    images = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(8, 3, padding="same")(images)
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", groups=groups)(x)
    x = keras.layers.Conv2D(8, 3, padding="valid", groups=groups, use_bias=False)(x)
    return keras.Model(images, keras.layers.GlobalAveragePooling2D()(x))


def graph_content(path) -> tuple[list, list[str]]:
    """Ops with their attributes in order, and the initializers' bytes: an export without tf2onnx's counter names."""
    graph = onnx.load(path).graph
    ops = [(node.op_type, sorted((a.name, str(onnx.helper.get_attribute_value(a))) for a in node.attribute))
           for node in graph.node]
    return ops, sorted(hashlib.sha256(numpy_helper.to_array(t).tobytes()).hexdigest() for t in graph.initializer)


def test_grouped_convs_export_as_onnx_group_convs_equal_to_keras(tmp_path):
    """Keras' own grouped conv (XLA on the CPU) is the truth; the export's grouped Convs run it in onnxruntime."""
    model = tiny_model(groups=4)
    path = tmp_path / "grouped.onnx"
    onnx_export.export_onnx(model, str(path), 18, "nhwc", SIZE)
    graph = onnx.load(path).graph
    groups = [a.i for node in graph.node if node.op_type == "Conv" for a in node.attribute if a.name == "group"]
    assert [group for group in groups if group != 1] == [4, 4]
    images = np.random.default_rng(0).standard_normal((2, SIZE, SIZE, 3)).astype(np.float32)
    expected = keras.ops.convert_to_numpy(model(images))
    (exported,) = onnxruntime.InferenceSession(str(path)).run(None, {"images": images})
    assert rel_l2(exported, expected) < 1e-6


def test_ungrouped_export_unchanged_and_keras_conv_restored(tmp_path):
    """Without grouped convs the export equals Keras' plain `model.export`; after it Keras' conv is its own again."""
    from keras.src.backend.tensorflow import nn as keras_tf_nn

    keras_conv = keras_tf_nn.conv
    model = tiny_model(groups=1)
    plain, ours = tmp_path / "plain.onnx", tmp_path / "ours.onnx"
    signature = [keras.InputSpec(shape=(None, SIZE, SIZE, 3), dtype="float32", name="images")]
    model.export(str(plain), format="onnx", opset_version=18, input_signature=signature, verbose=False)
    onnx_export.export_onnx(model, str(ours), 18, "nhwc", SIZE)
    assert graph_content(ours) == graph_content(plain)
    assert keras_tf_nn.conv is keras_conv

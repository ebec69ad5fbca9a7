"""ONNX export of a crosscheck Keras model with Keras 3's own exporter (`model.export(format="onnx")`).

Keras 3 traces the model into a tf.function and converts it with tf2onnx (tf2onnx's own `from_keras`
does not work with Keras 3). The model is channels-last; for NCHW input it is wrapped behind a
`Permute` layer, which becomes a single Transpose at the graph input (tf2onnx's optimizer keeps the
convolutions NCHW either way).
"""

from __future__ import annotations

import keras


def export_onnx(model: keras.Model, path: str, opset: int, input_layout: str, image_size: int) -> None:
    """Write `model` as ONNX to `path`: one float32 input [batch, 3, H, W] (or NHWC), batch dynamic."""
    if input_layout == "nchw":
        images = keras.Input((3, image_size, image_size), name="images")
        model = keras.Model(images, model(keras.layers.Permute((2, 3, 1))(images)), name=f"{model.name}_nchw")
    shape = (None, 3, image_size, image_size) if input_layout == "nchw" else (None, image_size, image_size, 3)
    signature = [keras.InputSpec(shape=shape, dtype="float32", name="images")]
    model.export(path, format="onnx", opset_version=opset, input_signature=signature, verbose=False)

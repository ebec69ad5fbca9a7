"""ONNX export of a crosscheck Keras model with Keras 3's own exporter (`model.export(format="onnx")`).

Keras 3 traces the model into a tf.function and converts it with tf2onnx (tf2onnx's own `from_keras`
does not work with Keras 3). The model is channels-last; for NCHW input it is wrapped behind a
`Permute` layer, which becomes a single Transpose at the graph input (tf2onnx's optimizer keeps the
convolutions NCHW either way).

Keras' TensorFlow backend runs a grouped convolution (ResNeXt) through an XLA-compiled tf.function, because
TensorFlow's CPU kernel refuses grouped Conv2D; tf2onnx keeps that call as a StatefulPartitionedCall node that
ONNX does not know. While exporting, `grouped_convs_traced_plain` traces those convolutions as one plain
`tf.nn.convolution` instead: the graph accepts a filter whose input channels are a fraction of the input's,
and tf2onnx converts it to an ONNX Conv with `group`. Ungrouped convolutions still go through Keras' own code.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from unittest import mock

import keras


@contextlib.contextmanager
def grouped_convs_traced_plain() -> Iterator[None]:
    """For the duration of the block, Keras' TF backend traces grouped 2-D convs as a plain, convertible TF conv."""
    if keras.backend.backend() != "tensorflow":  # the keras_jax / keras_torch backends do not run this code
        yield
        return
    import tensorflow as tf
    from keras.src.backend.tensorflow import nn as keras_tf_nn

    keras_conv = keras_tf_nn.conv

    def conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
        """Keras' conv, except a grouped 2-D conv: one tf.nn.convolution, which tf2onnx turns into a grouped Conv."""
        channels_last = (data_format or keras.config.image_data_format()) == "channels_last"
        channels = inputs.shape[-1] if channels_last else inputs.shape[1]
        if len(inputs.shape) != 4 or channels == kernel.shape[-2]:
            return keras_conv(inputs, kernel, strides, padding, data_format, dilation_rate)
        return tf.nn.convolution(inputs, kernel, strides, padding.upper(),
                                 data_format="NHWC" if channels_last else "NCHW", dilations=dilation_rate)

    with mock.patch.object(keras_tf_nn, "conv", conv):
        yield


def export_onnx(model: keras.Model, path: str, opset: int, input_layout: str, image_size: int) -> None:
    """Write `model` as ONNX to `path`: one float32 input [batch, 3, H, W] (or NHWC), batch dynamic."""
    if input_layout == "nchw":
        images = keras.Input((3, image_size, image_size), name="images")
        model = keras.Model(images, model(keras.layers.Permute((2, 3, 1))(images)), name=f"{model.name}_nchw")
    shape = (None, 3, image_size, image_size) if input_layout == "nchw" else (None, image_size, image_size, 3)
    signature = [keras.InputSpec(shape=shape, dtype="float32", name="images")]
    with grouped_convs_traced_plain():
        model.export(path, format="onnx", opset_version=opset, input_signature=signature, verbose=False)

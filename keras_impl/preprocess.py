"""`preprocess_input` for Keras: the input convention a weight origin expects (crosscheck.spec.PREPROCESSING).

Computed in the order keras.applications' `imagenet_utils.preprocess_input` computes it (BGR flip, x / 127.5
or x / 255, mean subtracted, divided by std), so it is bit-identical to `keras.applications.resnet.preprocess_input`
("caffe"), `resnet_v2.preprocess_input` ("tf") and `mode="torch"` in float32, and also knows the "cifar" style
keras.applications has no mode for.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from crosscheck import spec as specs


def preprocess_input(images: Any, style: str = "caffe", data_format: str | None = None) -> Any:
    """RGB images with values in [0, 255] (channels last unless `data_format` says otherwise, as in
    keras.applications) to what `style`'s weights were trained on; returns a tensor of the input's dtype."""
    p = specs.preprocessing(style)
    x = ops.convert_to_tensor(images)
    axis = x.ndim - 3 if (data_format or keras.config.image_data_format()) == "channels_first" else -1
    shape = [1] * x.ndim
    shape[axis] = 3
    mean = ops.reshape(ops.convert_to_tensor(p.mean, dtype=x.dtype), shape)
    std = ops.reshape(ops.convert_to_tensor(p.std, dtype=x.dtype), shape)
    return (ops.take(x, list(p.source_channels), axis=axis) / p.divisor - mean) / std

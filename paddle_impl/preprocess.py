"""`preprocess_input` for Paddle: the input convention a weight origin expects (crosscheck.spec.PREPROCESSING).

Computed in the order paddle.vision computes it, so it is bit-identical in float32: `transforms.ToTensor`
(x / 255) then `transforms.Normalize(mean, std)` (`(img - mean) / std`) for the "torch" style; the
keras.applications arithmetic for "caffe" (BGR, mean subtracted) and "tf" (x / 127.5 - 1).
"""

from __future__ import annotations

import paddle

from crosscheck import spec as specs


def preprocess_input(images: paddle.Tensor, style: str = "torch") -> paddle.Tensor:
    """RGB images with values in [0, 255], channels first (NCHW or CHW), to what `style`'s weights were trained on."""
    p = specs.preprocessing(style)
    channels = paddle.gather(images, paddle.to_tensor(p.source_channels), axis=images.ndim - 3)
    mean = paddle.to_tensor(p.mean, dtype=images.dtype).reshape([-1, 1, 1])
    std = paddle.to_tensor(p.std, dtype=images.dtype).reshape([-1, 1, 1])
    return (channels / p.divisor - mean) / std

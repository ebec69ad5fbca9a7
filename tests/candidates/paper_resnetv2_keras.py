"""ResNet-50 V2 (He et al. 2016, "Identity Mappings in Deep Residual Networks") as keras.applications ships it.

Test candidate for `crosscheck verify`, written from the paper and the keras.applications notes in
the README (pre-activation units, stride in the last unit of stages 2-4 with a 1x1 max-pool
shortcut, biases on the stem conv, the shortcut conv and the last 1x1 of each unit), with its own
layer names. Each keyword argument reproduces one translation bug; the defaults are correct.
"""

import keras
from keras import layers


def resnet50v2(stride_first=False, same_padding=False, pool_same=False, relu_after_add=False, eps=1.001e-5,
               logits=False, postact=False, conv_shortcut_on_stride=False, input_size=None):
    """Functional ResNet50V2; every flag is one translation bug."""
    names = iter(range(10_000))
    cfg = dict(stride_first=stride_first, same_padding=same_padding, relu_after_add=relu_after_add, eps=eps,
               postact=postact, conv_shortcut_on_stride=conv_shortcut_on_stride)

    def uid(kind):
        return f"{kind}_{next(names)}"

    def strided_conv(x, filters, k, stride, bias):
        if same_padding and stride > 1:
            return layers.Conv2D(filters, k, stride, padding="same", use_bias=bias, name=uid("conv"))(x)
        x = layers.ZeroPadding2D(k // 2, name=uid("pad"))(x)
        return layers.Conv2D(filters, k, stride, use_bias=bias, name=uid("conv"))(x)

    def bn(x):
        return layers.BatchNormalization(epsilon=eps, name=uid("norm"))(x)

    def unit(x, width, stride, project):
        if cfg["postact"]:
            y = layers.ReLU(name=uid("act"))(bn(layers.Conv2D(width, 1, use_bias=False, name=uid("conv"))(x)))
            y = layers.ReLU(name=uid("act"))(bn(strided_conv(y, width, 3, stride, False)))
            y = bn(layers.Conv2D(4 * width, 1, name=uid("conv"))(y))
            skip = layers.Conv2D(4 * width, 1, stride, name=uid("conv"))(x) if project else x
            if stride > 1 and not project:
                skip = layers.MaxPooling2D(1, stride, name=uid("skip_pool"))(x)
            return layers.ReLU(name=uid("act"))(layers.Add(name=uid("sum"))([skip, y]))
        pre = layers.ReLU(name=uid("act"))(bn(x))
        if project:
            skip = layers.Conv2D(4 * width, 1, stride, name=uid("conv"))(pre)
        elif stride > 1 and cfg["conv_shortcut_on_stride"]:
            skip = layers.Conv2D(4 * width, 1, stride, name=uid("conv"))(pre)
        elif stride > 1:
            skip = layers.MaxPooling2D(1, stride, name=uid("skip_pool"))(x)
        else:
            skip = x
        y = layers.ReLU(name=uid("act"))(bn(layers.Conv2D(width, 1, use_bias=False, name=uid("conv"))(pre)))
        y = layers.ReLU(name=uid("act"))(bn(strided_conv(y, width, 3, stride, False)))
        y = layers.Conv2D(4 * width, 1, name=uid("conv"))(y)
        out = layers.Add(name=uid("sum"))([skip, y])
        return layers.ReLU(name=uid("act"))(out) if cfg["relu_after_add"] else out

    inputs = keras.Input((input_size, input_size, 3))
    x = strided_conv(inputs, 64, 7, 2, True)
    if postact:
        x = layers.ReLU(name=uid("act"))(bn(x))
    if pool_same:
        x = layers.MaxPooling2D(3, 2, padding="same", name=uid("pool"))(x)
    else:
        x = layers.MaxPooling2D(3, 2, name=uid("pool"))(layers.ZeroPadding2D(1, name=uid("pad"))(x))
    for stage, (count, width) in enumerate(zip([3, 4, 6, 3], [64, 128, 256, 512])):
        for i in range(count):
            if stride_first:
                stride = 2 if stage > 0 and i == 0 else 1
            else:
                stride = 2 if stage < 3 and i == count - 1 else 1
            x = unit(x, width, stride, project=i == 0)
    if not postact:
        x = layers.ReLU(name=uid("act"))(bn(x))
    x = layers.GlobalAveragePooling2D(name=uid("gap"))(x)
    x = layers.Dense(1000, activation=None if logits else "softmax", name=uid("fc"))(x)
    return keras.Model(inputs, x, name="my_resnet50v2")


class Subclassed(keras.Model):
    """A subclassed model has no layer graph to trace: verify must say so clearly."""

    def __init__(self):
        super().__init__()
        self.conv = layers.Conv2D(8, 3)

    def call(self, x):
        return self.conv(x)

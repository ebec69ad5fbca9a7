"""ResNeXt-50 (32x4d) in Keras, blog-post style: Keras has no ResNeXt of its own, so tutorials write one.

Test candidate for `crosscheck verify`: its own layer names (`stem`, `unit{s}_{b}_a/b/c`, `unit{s}_{b}_skip`),
written without looking at this project's implementations; every conv is padded explicitly so that it pads as
torchvision does. `forget_groups` writes the 3x3 as an ordinary conv, the slip verify must name.
"""

import keras
from keras import layers


def conv_norm(x, filters, kernel, stride, name, groups=1):
    if kernel > 1:
        x = layers.ZeroPadding2D(kernel // 2, name=f"{name}_pad")(x)
    x = layers.Conv2D(filters, kernel, strides=stride, groups=groups, use_bias=False, name=f"{name}_conv")(x)
    return layers.BatchNormalization(epsilon=1e-5, name=f"{name}_norm")(x)


def unit(x, planes, stride, name, cardinality, base_width, forget_groups):
    inner = int(planes * base_width / 64) * cardinality
    y = layers.ReLU()(conv_norm(x, inner, 1, 1, f"{name}_a"))
    y = layers.ReLU()(conv_norm(y, inner, 3, stride, f"{name}_b", groups=1 if forget_groups else cardinality))
    y = conv_norm(y, planes * 4, 1, 1, f"{name}_c")
    if stride != 1 or x.shape[-1] != planes * 4:
        x = conv_norm(x, planes * 4, 1, stride, f"{name}_skip")
    return layers.ReLU()(layers.Add()([y, x]))


def resnext50(cardinality=32, base_width=4, classes=1000, forget_groups=False):
    inputs = keras.Input((None, None, 3))
    x = layers.ReLU()(conv_norm(inputs, 64, 7, 2, "stem"))
    x = layers.MaxPooling2D(3, 2)(layers.ZeroPadding2D(1)(x))  # after the ReLU: zero padding is -inf padding
    for s, (count, planes) in enumerate(zip([3, 4, 6, 3], [64, 128, 256, 512])):
        for b in range(count):
            x = unit(x, planes, 2 if s > 0 and b == 0 else 1, f"unit{s}_{b}", cardinality, base_width, forget_groups)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(classes)(x))

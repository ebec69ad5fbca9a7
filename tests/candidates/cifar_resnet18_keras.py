"""A CIFAR-10 ResNet-18 in Keras's functional API, as CIFAR tutorials write it.

Test candidate for `crosscheck verify`: a 3x3/1 stem without max-pool, explicit ZeroPadding2D before
valid convs, and a head of `AveragePooling2D(4)` + `Flatten()`, a fixed 4x4 window that is the global
average only where the final map is 4x4 (a 32x32 input).
"""

from tensorflow import keras
from tensorflow.keras import layers


def conv_bn(x, filters, kernel, stride):
    if kernel > 1:
        x = layers.ZeroPadding2D(kernel // 2)(x)
    x = layers.Conv2D(filters, kernel, stride, padding="valid", use_bias=False)(x)
    return layers.BatchNormalization(epsilon=1e-5)(x)


def basic_block(x, filters, stride):
    out = layers.ReLU()(conv_bn(x, filters, 3, stride))
    out = conv_bn(out, filters, 3, 1)
    shortcut = conv_bn(x, filters, 1, stride) if stride != 1 or x.shape[-1] != filters else x
    return layers.ReLU()(layers.Add()([out, shortcut]))


def resnet18(num_classes=10, input_shape=(32, 32, 3)):
    inputs = keras.Input(input_shape)
    x = layers.ReLU()(conv_bn(inputs, 64, 3, 1))
    for i, filters in enumerate([64, 128, 256, 512]):
        x = basic_block(x, filters, 1 if i == 0 else 2)
        x = basic_block(x, filters, 1)
    x = layers.Flatten()(layers.AveragePooling2D(4)(x))
    return keras.Model(inputs, layers.Dense(num_classes)(x))

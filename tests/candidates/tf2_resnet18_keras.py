"""ResNet-18 as TF2 tutorials write it: a `tf.keras.Model` subclass whose blocks are custom `Layer`s.

Test candidate for `crosscheck verify`, written in the tutorial style (model subclassing, `call()`,
`training` passed to BatchNormalization, `tf.nn.relu(out + shortcut)` for the residual, `layers.ReLU()`
in the stem) with torchvision's ResNet-18 numbers: no conv biases, BN epsilon 1e-5 (momentum 0.9,
which inference never reads), symmetric explicit padding. `same_padding=True` is the usual
shortcut of writing `padding="same"` on every conv, which TensorFlow pads bottom/right only at
stride 2. `double_stride=True` passes the block's stride to both 3x3 convs: the call then fails at
the residual add while TensorFlow traces it.
"""

import tensorflow as tf
from tensorflow.keras import layers


def conv(filters, kernel, stride, same_padding):
    """A conv without bias; symmetric padding as an explicit ZeroPadding2D unless `same_padding`."""
    if same_padding:
        return [layers.Conv2D(filters, kernel, stride, padding="same", use_bias=False)]
    return [layers.ZeroPadding2D(kernel // 2), layers.Conv2D(filters, kernel, stride, padding="valid", use_bias=False)]


def run(stack, x):
    for layer in stack:
        x = layer(x)
    return x


class BasicBlock(layers.Layer):
    def __init__(self, filters, stride=1, same_padding=False, double_stride=False, **kwargs):
        super().__init__(**kwargs)
        self.conv1 = conv(filters, 3, stride, same_padding)
        self.bn1 = layers.BatchNormalization(momentum=0.9, epsilon=1e-5)
        self.conv2 = conv(filters, 3, stride if double_stride else 1, same_padding)
        self.bn2 = layers.BatchNormalization(momentum=0.9, epsilon=1e-5)
        self.downsample = None
        if stride != 1:
            self.downsample = tf.keras.Sequential([
                layers.Conv2D(filters, 1, stride, use_bias=False),
                layers.BatchNormalization(momentum=0.9, epsilon=1e-5),
            ])

    def call(self, inputs, training=False):
        out = tf.nn.relu(self.bn1(run(self.conv1, inputs), training=training))
        out = self.bn2(run(self.conv2, out), training=training)
        shortcut = inputs if self.downsample is None else self.downsample(inputs, training=training)
        return tf.nn.relu(out + shortcut)


class ResNet18(tf.keras.Model):
    def __init__(self, num_classes=1000, same_padding=False, double_stride=False, **kwargs):
        super().__init__(**kwargs)
        self.stem = conv(64, 7, 2, same_padding)
        self.bn = layers.BatchNormalization(momentum=0.9, epsilon=1e-5)
        self.relu = layers.ReLU()
        self.pool = [layers.ZeroPadding2D(1), layers.MaxPooling2D(3, 2)]
        self.stages = []
        for i, filters in enumerate([64, 128, 256, 512]):
            stride = 1 if i == 0 else 2
            self.stages.append([BasicBlock(filters, stride, same_padding, double_stride),
                                BasicBlock(filters, 1, same_padding, double_stride)])
        self.avgpool = layers.GlobalAveragePooling2D()
        self.fc = layers.Dense(num_classes)

    def call(self, x, training=False):
        x = self.relu(self.bn(run(self.stem, x), training=training))
        x = run(self.pool, x)
        for stage in self.stages:
            for block in stage:
                x = block(x, training=training)
        return self.fc(self.avgpool(x))

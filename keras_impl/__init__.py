"""ResNets in Keras 3 (TensorFlow backend), built from crosscheck.spec and interchangeable with keras.applications."""

from keras_impl.resnet import (
    FROM_SPEC,
    ResNet18,
    ResNet34,
    ResNet50,
    ResNet50V2,
    ResNet101,
    ResNet101V2,
    ResNet152,
    ResNet152V2,
    build,
)

__all__ = [
    "FROM_SPEC",
    "ResNet18",
    "ResNet34",
    "ResNet50",
    "ResNet50V2",
    "ResNet101",
    "ResNet101V2",
    "ResNet152",
    "ResNet152V2",
    "build",
]

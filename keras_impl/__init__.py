"""ResNets in Keras 3 (TensorFlow backend), built from crosscheck.spec and interchangeable with keras.applications."""

from keras_impl.preprocess import preprocess_input
from keras_impl.resnet import (
    FROM_SPEC,
    ResNet18,
    ResNet18CIFAR,
    ResNet34,
    ResNet34CIFAR,
    ResNet50,
    ResNet50CIFAR,
    ResNet50V2,
    ResNet101,
    ResNet101CIFAR,
    ResNet101V2,
    ResNet152,
    ResNet152CIFAR,
    ResNet152V2,
    build,
)

__all__ = [
    "FROM_SPEC",
    "ResNet18",
    "ResNet18CIFAR",
    "ResNet34",
    "ResNet34CIFAR",
    "ResNet50",
    "ResNet50CIFAR",
    "ResNet50V2",
    "ResNet101",
    "ResNet101CIFAR",
    "ResNet101V2",
    "ResNet152",
    "ResNet152CIFAR",
    "ResNet152V2",
    "preprocess_input",
    "build",
]

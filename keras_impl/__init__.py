"""ResNets in Keras 3 (TensorFlow backend), built from crosscheck.spec and interchangeable with keras.applications.

The keras.applications-style constructors (`ResNet50`, `ResNet50V2`, `ResNet18CIFAR`, ...) are generated from
`crosscheck.spec.MODEL_IDS`.
"""

from keras_impl.preprocess import preprocess_input
from keras_impl.resnet import CONSTRUCTORS, FROM_SPEC, build

globals().update(CONSTRUCTORS)

__all__ = [
    "FROM_SPEC",
    *CONSTRUCTORS,
    "preprocess_input",
    "build",
]

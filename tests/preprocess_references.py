"""Each ecosystem's own preprocessing of test images, for the preprocess tests of every framework tier.

keras.applications' and torchvision's functions each run in a process of their own (a framework tier imports
only its own framework), all styles of one ecosystem in one process.
"""

from __future__ import annotations

import numpy as np
import pytest

from subprocess_python import compute

KERAS_MODES = ("caffe", "tf", "torch")  # the styles keras.applications' preprocess_input has a mode for
NORMALIZE = {"torch": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),  # torchvision's ImageNet transforms
             "cifar": ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010))}  # kuangliu/pytorch-cifar's

KERAS_APPLICATIONS = f"""
from keras.applications import imagenet_utils, resnet, resnet_v2
functions = {{"caffe": resnet.preprocess_input, "tf": resnet_v2.preprocess_input,
             "torch": lambda x: imagenet_utils.preprocess_input(x, mode="torch")}}
result = np.stack([np.asarray(functions[style](arrays["images"].copy())) for style in {KERAS_MODES!r}])
"""

TORCHVISION = f"""
import torch
from torchvision.transforms import Normalize
chw = torch.from_numpy(arrays["images"].transpose(0, 3, 1, 2).copy()) / 255.0
result = np.stack([Normalize(*mean_std)(chw).numpy() for mean_std in {tuple(NORMALIZE.values())!r}])
"""


def images(dtype: type = np.float32) -> np.ndarray:
    """RGB images in [0, 255] (NHWC), non-integer values, with distinct channels, so a channel swap shows."""
    rng = np.random.default_rng(23)
    return (rng.random((2, 5, 7, 3)) * np.array([255.0, 128.0, 60.0])).astype(dtype)


def keras_references(images_nhwc: np.ndarray) -> dict[str, np.ndarray]:
    """keras.applications' preprocess_input of every mode (NHWC), on copies (it works in place)."""
    return dict(zip(KERAS_MODES, compute(KERAS_APPLICATIONS, {"images": images_nhwc})))


def torchvision_references(images_nhwc: np.ndarray) -> dict[str, np.ndarray]:
    """torchvision's ToTensor arithmetic (x / 255) then Normalize of every NORMALIZE style (NCHW)."""
    return dict(zip(NORMALIZE, compute(TORCHVISION, {"images": images_nhwc})))


def reference_nchw(style: str, normalize: dict[str, np.ndarray], keras: dict[str, np.ndarray]) -> np.ndarray:
    """The ecosystem's own result for `style`: the framework's Normalize for its styles, else keras.applications."""
    return normalize[style] if style in normalize else keras[style].transpose(0, 3, 1, 2)


@pytest.fixture(scope="module")
def images_nhwc() -> np.ndarray:
    """The test images, one set per test module (a fixture the framework tiers' preprocess tests import)."""
    return images()


@pytest.fixture(scope="module")
def keras_applications(images_nhwc: np.ndarray) -> dict[str, np.ndarray]:
    """keras.applications' preprocess_input of every mode, of `images_nhwc`, computed once per test module."""
    return keras_references(images_nhwc)

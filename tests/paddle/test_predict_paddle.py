"""`crosscheck predict` prepares images as paddle.vision's Resize(256) + CenterCrop(224) does (tests/torch has
the command itself)."""

from __future__ import annotations

import numpy as np
from paddle.vision import transforms as paddle_transforms
from PIL import Image

from predict_photos import photos, prepared  # noqa: F401  (tests/ helpers; photos is a fixture)


def test_paddle_vision_pipeline_is_the_same(photos):
    reference = paddle_transforms.Compose([paddle_transforms.Resize(256), paddle_transforms.CenterCrop(224)])
    for path in photos:
        np.testing.assert_array_equal(prepared(path, "torchvision"), np.asarray(reference(Image.open(path).convert("RGB"))))

"""Synthetic photos for the `crosscheck predict` tests of every tier, and predict's own preparation of them."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from crosscheck import spec as specs
from crosscheck.predict import images as pipeline_images


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """Synthetic 'photos' in the shapes real ones come in: portrait PNG, landscape JPEG, a grayscale JPEG."""
    directory = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    smooth = lambda h, w: (np.kron(rng.random((h // 10 + 1, w // 10 + 1, 3)), np.ones((10, 10, 1)))[:h, :w] * 255)
    paths = [directory / "portrait.png", directory / "landscape.jpg", directory / "gray.jpg"]
    Image.fromarray(smooth(301, 259).astype(np.uint8)).save(paths[0])
    Image.fromarray(smooth(203, 333).astype(np.uint8)).save(paths[1])
    Image.fromarray(smooth(240, 240)[..., 0].astype(np.uint8), mode="L").save(paths[2])
    return paths


def prepared(path, origin: str) -> np.ndarray:
    """The image at `path` as predict prepares it for weights of `origin`."""
    return np.asarray(pipeline_images.apply(pipeline_images.decode(path), specs.ORIGINS[origin].pipeline))

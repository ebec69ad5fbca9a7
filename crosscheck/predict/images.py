"""Decode images with Pillow and resize/crop them as a weight origin's reference pipeline does (crosscheck.spec.ORIGINS).

* torchvision / paddle.vision: shorter side to 256 (the longer one `int(256 * long / short)`), bilinear, then
  a centre crop of 224 whose corner is `int(round((size - 224) / 2))` — torchvision's `Resize` + `CenterCrop`
  on a PIL image and paddle.vision's (PIL backend) make exactly these Pillow calls.
* timm (resnet50d, resnet101d, seresnet50): the same shorter-side resize + centre crop with the sizes of the id's
  pretrained_cfg (`floor(input_size / crop_pct)`, then input_size), **bicubic** — timm's eval `create_transform`
  is torchvision's `Resize` + `CenterCrop`, which make these Pillow calls.
* keras.applications: `keras.utils.load_img(path, target_size=(224, 224))`, a direct resize, nearest neighbour.
* the CIFAR ids: a direct resize to 32x32, bilinear (CIFAR images are 32x32 already and are left alone).
Every image is converted to RGB first (load_img and the torchvision loaders do the same). Pillow is not a
deep-learning framework, so this runs in crosscheck's own process; the output is float32 RGB in [0, 255], NCHW.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from crosscheck.spec import ImagePipeline

RESAMPLING = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC,
              "nearest": Image.Resampling.NEAREST}


class ImageError(ValueError):
    """An image that cannot be read or decoded; the message names the file."""


def decode(path: str | Path) -> Image.Image:
    """The image at `path` as RGB, fully decoded (a truncated file fails here, not later)."""
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{path}: no such file")
    try:
        with Image.open(path) as image:
            image.load()
            return image.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as error:
        raise ImageError(f"{path}: not a decodable image ({error})") from error


def apply(image: Image.Image, pipeline: ImagePipeline) -> Image.Image:
    """Resize and crop as the pipeline's reference does: a crop x crop RGB image."""
    resample = RESAMPLING[pipeline.interpolation]
    if pipeline.mode == "direct":
        size = (pipeline.crop, pipeline.crop)
        return image if image.size == size else image.resize(size, resample)
    width, height = image.size
    short, long = min(width, height), max(width, height)
    new_long = int(pipeline.resize * long / short)
    size = (pipeline.resize, new_long) if width <= height else (new_long, pipeline.resize)
    resized = image.resize(size, resample) if size != image.size else image
    top = int(round((resized.height - pipeline.crop) / 2.0))
    left = int(round((resized.width - pipeline.crop) / 2.0))
    return resized.crop((left, top, left + pipeline.crop, top + pipeline.crop))


def load_batch(paths: list[str | Path], pipeline: ImagePipeline) -> np.ndarray:
    """Every image decoded and prepared by `pipeline`: float32 RGB in [0, 255], NCHW."""
    arrays = [np.asarray(apply(decode(path), pipeline), np.float32).transpose(2, 0, 1) for path in paths]
    return np.stack(arrays)

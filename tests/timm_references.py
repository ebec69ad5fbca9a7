"""timm's ResNet-D and SE-ResNet as the reference of the Keras and Paddle tiers: computed by timm itself in a fresh
interpreter (tests/subprocess_python.py), so no torch enters those tiers' pytest process."""

from __future__ import annotations

from dataclasses import replace
from functools import cache

import numpy as np

from crosscheck import calibration
from crosscheck import spec as specs
from subprocess_python import compute

# One block per stage keeps the default tier cheap; 97x97 gives every shortcut pool an odd map (stem 49, 25, 13, 7).
ODD_SIZE = 97
SHORT = {model_id: replace(specs.VARIANTS[model_id], model_id=f"{model_id}_1111", depths=(1, 1, 1, 1))
         for model_id in ("resnet50d", "seresnet50")}
# timm.models.resnet.ResNet kwargs of each id (its registered model_args), with one block per stage
TIMM_ARGS = {"resnet50d": "stem_width=32, stem_type='deep', avg_down=True",
             "seresnet50": "block_args=dict(attn_layer='se')"}

def sample_images() -> np.ndarray:
    """The NCHW float32 batch the references run on: two images at ODD_SIZE."""
    return calibration.sample_input(2, size=ODD_SIZE)


_TIMM_FORWARD = """
import torch
from timm.models.resnet import Bottleneck, ResNet
model = ResNet(block=Bottleneck, layers=(1, 1, 1, 1), {args}).eval().double()
images = torch.from_numpy(arrays.pop("images"))
model.load_state_dict({{k: torch.from_numpy(v) for k, v in arrays.items()}}, strict=False)
with torch.no_grad():
    result = model(images).numpy()
"""


@cache
def timm_output(model_id: str) -> np.ndarray:
    """timm's float64 output for SHORT[model_id] with its calibrated weights on `sample_images()` (computed once)."""
    variant, images = SHORT[model_id], sample_images()
    native = specs.to_native(specs.get(variant), calibration.calibrated_weights(variant), "torch")
    arrays = {k: v.astype(np.float64) for k, v in native.items()} | {"images": images.astype(np.float64)}
    return compute(_TIMM_FORWARD.format(args=TIMM_ARGS[model_id]), arrays)

"""`preprocess_input` for PyTorch: the input convention a weight origin expects (crosscheck.spec.PREPROCESSING).

Computed in the order the references compute it, so it is bit-identical to them in float32: torchvision's
`ToTensor` (x / 255) then `Normalize(mean, std)` (`sub` then `div`) for the "torch" style,
keras.applications' `preprocess_input` for "caffe" (BGR, mean subtracted) and "tf" (x / 127.5 - 1).
"""

from __future__ import annotations

import torch

from crosscheck import spec as specs


def preprocess_input(images: torch.Tensor, style: str = "torch") -> torch.Tensor:
    """RGB images with values in [0, 255], channels first (NCHW or CHW), to what `style`'s weights were trained on."""
    p = specs.preprocessing(style)
    source = torch.tensor(p.source_channels, device=images.device)
    mean = torch.as_tensor(p.mean, dtype=images.dtype, device=images.device).view(-1, 1, 1)
    std = torch.as_tensor(p.std, dtype=images.dtype, device=images.device).view(-1, 1, 1)
    return (images.index_select(-3, source) / p.divisor).sub_(mean).div_(std)

"""transformers' own loaders run a transformers ResNet file for convert's proof (imported only in the torch worker).

A `save_pretrained` directory is loaded by `from_pretrained` (float64, every key required: a missing or unexpected
key fails rather than leaving a random weight); a weights file without its config by the transformers model the
spec's config builds and torch's strict `load_state_dict`. Neither goes through crosscheck's key mapping.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load_file
from transformers import ResNetConfig, ResNetForImageClassification, ResNetModel

from crosscheck.backends.torch.checkpoints import read as read_torch
from crosscheck.checkpoints.containers import TORCH_BN_COUNTER, own_state
from crosscheck.checkpoints.hubs import transformers as layout
from crosscheck.spec import ModelSpec


class HubLoadError(ValueError):
    """transformers' loader left keys of the file unused or weights of the model unset; the message names them."""


def outputs(path: Path, spec: ModelSpec, container: str, prefix: str, images: np.ndarray) -> tuple[np.ndarray, str]:
    """Float64 logits (a headless model's pooled features) of the file at `path` as transformers loads it, and how."""
    model_class = ResNetModel if spec.headless else ResNetForImageClassification
    directory = path if path.is_dir() else path.parent
    if path.is_dir() or ((directory / layout.CONFIG).is_file() and path.name in layout.WEIGHTS and not prefix):
        model, info = model_class.from_pretrained(directory, dtype=torch.float64, output_loading_info=True)
        _check_complete(directory, info)
        how = f"transformers {model_class.__name__}.from_pretrained of its directory"
    else:
        state = own_state(load_file(str(path)) if path.suffix == ".safetensors" else read_torch(path)[container], prefix)
        headless_file = layout.BASE_STEM in state
        model_class = ResNetModel if headless_file else ResNetForImageClassification
        model = model_class(ResNetConfig(**layout.config(spec))).to(torch.float64)
        tensors = {key: torch.from_numpy(np.ascontiguousarray(value)) for key, value in state.items()}
        counters = {key: value for key, value in model.state_dict().items() if key.endswith(TORCH_BN_COUNTER)}
        model.load_state_dict({**counters, **tensors}, strict=True)
        how = f"transformers {model_class.__name__}(config of {spec.model_id}) + strict load_state_dict"
    model.eval()
    with torch.inference_mode():
        result = model(pixel_values=torch.from_numpy(np.ascontiguousarray(images)).to(torch.float64))
    values = result.pooler_output.flatten(1) if model_class is ResNetModel else result.logits
    return values.numpy(), how


def _check_complete(directory: Path, info: dict[str, list[str]]) -> None:
    """Refuse a load that left a weight at its random init or a file array unused (BN counters aside)."""
    problems = [f"{kind.replace('_keys', '')} {key}" for kind in ("missing_keys", "unexpected_keys")
                for key in info.get(kind, []) if not key.endswith(TORCH_BN_COUNTER)]
    if problems:
        raise HubLoadError(f"{directory}: transformers' from_pretrained does not load every weight: "
                           + "; ".join(problems[:5]) + (f" and {len(problems) - 5} more" if len(problems) > 5 else ""))

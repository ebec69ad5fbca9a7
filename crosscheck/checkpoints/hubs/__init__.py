"""Model-hub key layouts: the same ResNet arrays under another library's keys (framework-free).

A hub layout is a further key naming derived from one of the spec's NAMINGS (its *base*: the weight layout and
parameter names it shares): Hugging Face transformers' ResNet keys are torch arrays renamed, PaddleClas' are
paddle arrays renamed, keras-hub's are keras arrays renamed. Each layout is one `HubLayout` record in its library's
module (`transformers.py`, `paddleclas.py`, `keras_hub.py`); identification, locating and relabelling treat its name like any naming (`native_key`,
`to_base`), so a hub file is read, identified and converted as its base naming's files are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np

from crosscheck import spec as specs
from crosscheck.checkpoints.hubs import keras_hub, paddleclas, transformers
from crosscheck.checkpoints.hubs.layout import HubConfig, HubConfigError, HubLayout
from crosscheck.spec import LayerSpec, ModelSpec

__all__ = ["HubConfig", "HubConfigError", "HubLayout", "LAYOUTS"]


def native_key(spec: ModelSpec, layer: LayerSpec, param: str, naming: str) -> str:
    """The key of canonical `param` of `layer` in `naming`: a spec naming's own, or a hub layout's."""
    layout = LAYOUTS.get(naming)
    if layout is None:
        return layer.native_key(param, naming)
    base_param = specs.NATIVE_PARAMS[layout.base][layer.kind][specs.CANONICAL_PARAMS[layer.kind].index(param)]
    return layout.key(spec, layer, base_param)


def base(naming: str) -> str:
    """The spec naming whose arrays `naming` holds (itself for a spec naming)."""
    return LAYOUTS[naming].base if naming in LAYOUTS else naming


def to_base(spec: ModelSpec, native: Mapping[str, np.ndarray], naming: str) -> dict[str, np.ndarray]:
    """{hub key: array} -> {base naming key: array} for `spec` (keys the layout does not name are left out)."""
    if naming not in LAYOUTS:
        return dict(native)
    renamed = {}
    for layer in spec.layers:
        for param in layer.shapes:
            key = native_key(spec, layer, param, naming)
            if key in native:
                renamed[layer.native_key(param, LAYOUTS[naming].base)] = native[key]
    return renamed


def from_base(spec: ModelSpec, native: Mapping[str, np.ndarray], naming: str) -> dict[str, np.ndarray]:
    """{base naming key: array} -> {hub key: array} for `spec`, in forward order."""
    layout = LAYOUTS[naming]
    return {native_key(spec, layer, param, naming): native[layer.native_key(param, layout.base)]
            for layer in spec.layers for param in layer.shapes}


def derived(naming: str) -> list[str]:
    """The hub layouts whose arrays are in `naming`, to try on a file of that naming."""
    return [name for name, layout in LAYOUTS.items() if layout.base == naming]


def directory_weights(path: Path) -> Path | None:
    """The weights file of a hub directory (`save_pretrained`, ...), by the layouts' file names; None if none."""
    for layout in LAYOUTS.values():
        for name in layout.weights_names:
            if (path / name).is_file():
                return path / name
    return None


def read_in_worker(weights: Path) -> HubLayout | None:
    """The layout whose library alone can read `weights` (keras-hub's `model.weights.h5` beside its `config.json`)."""
    return next((layout for layout in LAYOUTS.values() if layout.read_in_worker and layout.read_in_worker(weights)),
                None)


def config_for(naming: str, weights: Path) -> HubConfig | None:
    """The layout's config beside `weights` read (HubConfigError if it contradicts the layout), or None without one."""
    layout = LAYOUTS.get(naming)
    if layout is None or layout.read_config is None:
        return None
    path = weights.parent / layout.config_name
    if path.is_file():
        return layout.read_config(path)
    return HubConfig(None, notes=(f"no {layout.config_name} beside {weights.name}: {layout.without_config}",))


LAYOUTS: dict[str, HubLayout] = {layout.name: layout for layout in (transformers.LAYOUT, *paddleclas.LAYOUTS, keras_hub.LAYOUT)}

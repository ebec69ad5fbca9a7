"""The 1000 ImageNet class names, as torchvision ships them (`ResNet50_Weights.IMAGENET1K_V1.meta["categories"]`).

They are read from torchvision's `models/_meta.py` with `ast.literal_eval`, without importing torchvision (which
would load torch into crosscheck's own process) and without running any of its code. keras.applications
(`decode_predictions`, whose index file is a download) and paddle.vision use the same ILSVRC-2012 class order
(index 0 tench ... 999 toilet tissue, the sorted WordNet ids); that is assumed here, not checked.
"""

from __future__ import annotations

import ast
import importlib.util
from functools import cache
from pathlib import Path

IMAGENET_CLASSES = 1000
_VARIABLE = "_IMAGENET_CATEGORIES"


@cache
def imagenet_categories() -> tuple[str, ...] | None:
    """The class names by index, or None when torchvision is not installed (callers print indices instead)."""
    found = importlib.util.find_spec("torchvision")
    if found is None or not found.submodule_search_locations:
        return None
    source = Path(next(iter(found.submodule_search_locations))) / "models" / "_meta.py"
    if not source.is_file():
        return None
    for node in ast.parse(source.read_text()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == _VARIABLE for t in node.targets):
            names = tuple(ast.literal_eval(node.value))
            return names if len(names) == IMAGENET_CLASSES else None
    return None

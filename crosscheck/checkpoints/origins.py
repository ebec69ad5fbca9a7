"""Which library and layout a found ResNet comes from, and what its layout's weights cannot tell (framework-free).

A timm train checkpoint (timm.utils.CheckpointSaver: `state_dict`, `state_dict_ema`, `optimizer`, `args`) holds
the model and its EMA, which the reader never picks between silently. An mmpretrain checkpoint (`meta` +
`state_dict`: `backbone.*` + `head.fc.*`, an EMA in `ema_state_dict` under `module.`) has torchvision's backbone
keys, but its `style='caffe'` puts a bottleneck's stride on the first 1x1 conv instead of the 3x3: the same keys
and shapes, another function. Only the config mmengine stores in `meta` says which style; `check` reads it in the
torch worker and refuses 'caffe', and without one says the style was assumed.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Mapping

from crosscheck import spec as specs
from crosscheck.checkpoints.containers import SEPARATOR, TOP, Arrays, Located
from crosscheck.checkpoints.heads import MMPRETRAIN_BACKBONE

if TYPE_CHECKING:
    from crosscheck.checkpoints.reader import Checkpoint
    from crosscheck.worker.client import WorkerPool

TIMM_MODEL, TIMM_EMA, TIMM_OPTIMIZER = "state_dict", "state_dict_ema", "optimizer"
MMPRETRAIN_MODEL, MMPRETRAIN_EMA = "state_dict", "ema_state_dict"
STYLE = re.compile(r"""['"]?\bstyle['"]?\s*[=:]\s*['"](\w+)['"]""")  # style='caffe' or 'style': 'caffe'
CAFFE = "caffe"


def library(places: Mapping[str, Arrays]) -> str:
    """'a timm train checkpoint' or 'an mmpretrain checkpoint' from the file's dicts of arrays, else ''."""
    if TIMM_MODEL in places and (TIMM_EMA in places or any(p.startswith(TIMM_OPTIMIZER + SEPARATOR) for p in places)):
        return "a timm train checkpoint"
    if MMPRETRAIN_EMA in places:
        return "an mmpretrain checkpoint"
    return ""


def name_choices(places: Mapping[str, Arrays]) -> str:
    """'a timm train checkpoint: ' before a message about the file's places, when the library is known."""
    found = library(places)
    return f"{found}: " if found else ""


def layout(suffix: str, located: Located, places: Mapping[str, Arrays]) -> str:
    """The library and layout of the file, as far as its keys and containers show, for inspect and convert."""
    found = library(places)
    if found == "a timm train checkpoint":
        copy = "the EMA copy" if located.container == TIMM_EMA else "the model"
        return f"timm train checkpoint (CheckpointSaver), {copy}; timm's plain ResNet keys are torchvision's"
    if is_mmpretrain(located):
        copy = "the EMA copy" if located.container == MMPRETRAIN_EMA else "the model"
        return f"mmpretrain ImageClassifier (backbone.* + head.fc.*), {copy}"
    if located.head:
        return located.head.layout
    if located.naming == "keras":
        nested = f", nested as {located.container!r} in a transfer-learning model" if located.container != TOP else ""
        default = specs.get(located.spec.model_id).num_classes
        tuned = f", fine-tuned head: {located.spec.num_classes} classes" \
            if not located.spec.headless and located.spec.num_classes != default else ""
        return f"keras.applications layers{tuned}{nested}"
    if located.naming not in ("torch", "paddle"):
        return "crosscheck canonical"
    default = specs.get(located.spec.model_id).num_classes
    tuned = f", fine-tuned head: {located.spec.num_classes} classes" \
        if not located.spec.headless and located.spec.num_classes != default else ""
    if located.naming == "paddle":
        return f"paddle.vision state_dict{tuned}"
    return f"torchvision state_dict{tuned} (timm's plain ResNet has the same keys)"


def is_mmpretrain(located: Located) -> bool:
    """An mmpretrain ImageClassifier's ResNet: torch keys under `backbone.` in `state_dict` or `ema_state_dict`."""
    return located.naming == "torch" and located.prefix.endswith(MMPRETRAIN_BACKBONE) \
        and located.container in (MMPRETRAIN_MODEL, MMPRETRAIN_EMA)


def check(file: Checkpoint, located: Located, pool: WorkerPool) -> tuple[str, ...]:
    """Notes on what the layout's weights cannot tell; raises ValueError for an mmpretrain `style='caffe'` bottleneck
    ResNet, which no model id is (its config, in the file's `meta`, says so)."""
    spec = located.spec
    if not is_mmpretrain(located) or spec.block_kind != "bottleneck":  # basic blocks ignore style
        return ()
    config = pool["torch"].request("checkpoint_config", path=file.path)["result"]["config"]
    styles = set(STYLE.findall(config))
    if CAFFE in styles:
        strided = [m for m in specs.MODEL_IDS if specs.get(m).stride_on == "conv1" and specs.get(m).block_kind
                   == "bottleneck" and specs.get(m).depths == spec.depths]
        others = f"; {', '.join(strided)} strides there but has a bias on every conv, which this file lacks" \
            if strided else ""
        raise ValueError(f"{file.path}: an mmpretrain ResNet with style='caffe' (its meta config says so): the stride "
                         f"of each downsampling bottleneck is on the first 1x1 conv, so it is not {spec.model_id} "
                         f"(stride on the 3x3){others}; no model id fits")
    if not styles:
        return (f"mmpretrain's style ('pytorch': stride on the 3x3, 'caffe': on the first 1x1) cannot be read from "
                f"weights and {file.path.name} holds no config saying it: read as style='pytorch', {spec.model_id}",)
    return ()

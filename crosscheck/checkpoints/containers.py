"""Where in a checkpoint the ResNet is: which nested dict, under which key prefix (numpy only, framework-free).

Training checkpoints nest the weights (`{"epoch": 3, "model_state_dict": {...}}`, Lightning's
`{"state_dict": {"model.conv1.weight": ...}}`, EMA copies) and wrappers prefix the keys
(DataParallel's `module.`, Lightning's `model.`, `backbone.`). Every dict of arrays in the file is
a place to look, every prefix that puts a stem conv key in the right form is a prefix to try, and
the (place, prefix) whose keys fit a model id exactly is the answer; several exact answers are
ambiguous (`--key` / `--prefix` choose), none names the closest ids for the nearest place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from crosscheck import spec as specs
from crosscheck.checkpoints import identify

SEPARATOR = "/"  # between the keys of nested dicts in a container path: "model/ema"
TOP = ""  # the container path of the file's top-level dict
TORCH_BN_COUNTER = "num_batches_tracked"  # a training counter of torch BatchNorm2d, not a weight
STEM_PARAM = ("conv1_conv", "weight")  # every model id has it: anchors the prefix search

Arrays = dict[str, np.ndarray]


class ContainerError(ValueError):
    """No place in the checkpoint holds a ResNet, or several do; the message says what was found."""


@dataclass(frozen=True)
class Located:
    """A ResNet found in a checkpoint: where, under which prefix and naming, and its native arrays."""

    spec: specs.ModelSpec
    naming: str  # torch, keras, paddle or canonical
    container: str  # TOP, or the path of nested dict keys, e.g. "state_dict"
    prefix: str  # stripped from every key, e.g. "module."
    native: Arrays  # {native key (prefix stripped): array}
    ignored: tuple[str, ...] = ()  # keys of the container outside the prefix

    def where(self) -> str:
        return where(self.container, self.prefix)


def where(container: str, prefix: str) -> str:
    """'under key "state_dict", prefix "model."' or 'top level', for messages."""
    return (f'under key "{container}"' if container else "top level") + (f', prefix "{prefix}"' if prefix else "")


def tensor_dicts(tree: Any, is_array: Any = lambda value: isinstance(value, np.ndarray), path: str = TOP) -> dict[str, Arrays]:
    """Every dict in `tree` (through nested dicts) that holds arrays, by container path: its array entries only."""
    found: dict[str, Arrays] = {}
    if not isinstance(tree, Mapping):
        return found
    arrays = {key: value for key, value in tree.items() if isinstance(key, str) and is_array(value)}
    if arrays:
        found[path] = arrays
    for key, value in tree.items():
        if isinstance(value, Mapping):
            found.update(tensor_dicts(value, is_array, f"{path}{SEPARATOR}{key}" if path else str(key)))
    return found


def prefixes(keys: Sequence[str], naming: str) -> list[str]:
    """'' and every prefix that turns some key into the stem conv's key in `naming`, shortest first."""
    layer = specs.get("resnet18").layer(STEM_PARAM[0])
    anchor = layer.canonical_key(STEM_PARAM[1]) if naming == identify.CANONICAL else layer.native_key(STEM_PARAM[1], naming)
    found = {key[: -len(anchor)] for key in keys if key.endswith(anchor)}
    return sorted(found | {""}, key=lambda prefix: (len(prefix), prefix))


def locate(containers: Mapping[str, Arrays], namings: Sequence[str], model_id: str | None = None,
           key: str | None = None, prefix: str | None = None) -> Located:
    """The one (container, prefix, naming) whose keys fit a model id exactly; raises ContainerError or
    identify.CheckpointMismatchError (for the nearest place) otherwise."""
    if key is not None and key not in containers:
        raise ContainerError(f"no dict of tensors at --key {key!r}; found: {_listing(containers)}")
    places = {path: arrays for path, arrays in containers.items() if key is None or path == key}
    if not places:
        raise ContainerError("holds no dict of tensors (not a state_dict or a checkpoint holding one)")
    exact: list[Located] = []
    nearest: tuple[tuple[bool, int], str, dict[str, identify.Fit]] | None = None  # (rank, where, fits)
    for naming in namings:
        for path, arrays in places.items():
            for candidate in ([prefix] if prefix is not None else prefixes(list(arrays), naming)):
                native, ignored = _strip(arrays, candidate, naming)
                if not native:
                    continue
                fits = identify.fits({k: tuple(np.shape(v)) for k, v in native.items()}, naming)
                if any(f.exact and f.spec.model_id == (model_id or f.spec.model_id) for f in fits.values()):
                    spec = identify.choose(fits, model_id)  # several ids fitting one place: ambiguous, --model
                    exact.append(Located(spec, naming, path, candidate, native, ignored))
                # a place some other id fits exactly explains the mismatch best ("it looks like ...")
                score = (not any(f.exact for f in fits.values()), identify.distance(fits, model_id))
                if nearest is None or score < nearest[0]:
                    nearest = (score, where(path, candidate), fits)
    if len(exact) == 1:
        return exact[0]
    if exact:
        choices = "; ".join(f"{e.where()} ({e.spec.model_id})" for e in exact)
        raise ContainerError(f"several places hold a ResNet: {choices}; choose one with --key and/or --prefix")
    if nearest is None:
        raise ContainerError(f"no keys under prefix {prefix!r}" if prefix else "holds no tensors")
    _, place, fits = nearest
    try:
        identify.choose(fits, model_id)
    except identify.CheckpointMismatchError as error:
        raise identify.CheckpointMismatchError(f"{error}{'' if place == where(TOP, '') else f' (nearest: {place})'}") from None
    raise AssertionError("an exact fit was missed")  # choose() raises whenever no place fits exactly


def _strip(arrays: Arrays, prefix: str, naming: str) -> tuple[Arrays, tuple[str, ...]]:
    """The entries under `prefix` with it removed (torch BN counters dropped), and the keys left outside."""
    inside = {key[len(prefix):]: value for key, value in arrays.items() if key.startswith(prefix)}
    if naming == "torch":
        inside = {key: value for key, value in inside.items() if key.rsplit(".", 1)[-1] != TORCH_BN_COUNTER}
    return inside, tuple(key for key in arrays if not key.startswith(prefix))


def _listing(containers: Mapping[str, Arrays]) -> str:
    return ", ".join(repr(path) if path else "'' (top level)" for path in containers) or "none"

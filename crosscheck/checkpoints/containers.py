"""Where in a checkpoint the ResNet is: which nested dict, under which key prefix (numpy only, framework-free).

Training checkpoints nest the weights (`{"epoch": 3, "model_state_dict": {...}}`, Lightning's
`{"state_dict": {"model.conv1.weight": ...}}`, EMA copies) and wrappers prefix the keys
(DataParallel's `module.`, Lightning's `model.`, `backbone.`). Every dict of arrays in the file is
a place to look, every prefix that puts a stem conv key in the right form is a prefix to try, and
the (place, prefix) whose keys fit a model id exactly is the answer; several exact answers (a model
and its EMA or teacher copy, nested or prefixed beside it) are ambiguous (`--key` / `--prefix` choose),
none names the closest ids for the nearest place. Every other array in the file is listed as ignored,
and ignored pairs shaped like a classifier of the backbone are named in a warning.
"""

from __future__ import annotations

import functools
import re
import shlex
from dataclasses import dataclass, replace
from typing import Any, Mapping, Sequence

import numpy as np

from crosscheck import spec as specs
from crosscheck.checkpoints import hubs, identify

SEPARATOR = "/"  # between the keys of nested dicts in a container path: "model/ema"
TOP = ""  # the container path of the file's top-level dict
TORCH_BN_COUNTER = "num_batches_tracked"  # a training counter of torch BatchNorm2d, not a weight

Arrays = dict[str, np.ndarray]


class ContainerError(ValueError):
    """No place in the checkpoint holds a ResNet, or several do; the message says what was found."""


@dataclass(frozen=True)
class IgnoredArray:
    """An array of the file that is not part of the ResNet read: a custom head, another model, optimizer state."""

    container: str
    key: str
    shape: tuple[int, ...]

    @property
    def name(self) -> str:
        """The key, qualified by its nested dict: "head.fc.weight", "optimizer/fc.weight_moment1_0"."""
        return f"{self.container}{SEPARATOR}{self.key}" if self.container else self.key

    def describe(self) -> str:
        return f"{self.name} {list(self.shape)}"


@dataclass(frozen=True)
class Located:
    """A ResNet found in a checkpoint: where, under which prefix and naming, and its native arrays."""

    spec: specs.ModelSpec
    naming: str  # torch, keras, paddle or canonical
    container: str  # TOP, or the path of nested dict keys, e.g. "state_dict"
    prefix: str  # stripped from every key, e.g. "module."
    native: Arrays  # {native key (prefix stripped): array}
    ignored: tuple[IgnoredArray, ...] = ()  # every other array in the file, in any nested dict

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
    """'' and every prefix that turns some key into a first stem conv's key in `naming`, shortest first."""
    found = {key[: -len(anchor)] for key in keys for anchor in _stem_anchors(naming) if key.endswith(anchor)}
    return sorted(found | {""}, key=lambda prefix: (len(prefix), prefix))


@functools.cache
def _stem_anchors(naming: str) -> frozenset[str]:
    """The weight key of the first stem conv in `naming`: every model id's in a spec naming or the canonical one
    (`conv1.weight`, timm's deep `conv1.0.weight`, ...), resnet18's in a hub layout (which holds plain stems only)."""
    model_ids = specs.MODEL_IDS if naming == identify.CANONICAL or naming in specs.NAMINGS else ("resnet18",)
    anchors = set()
    for model_id in model_ids:
        spec = specs.get(model_id)
        layer = spec.layers[0]
        anchors.add(layer.canonical_key("weight") if naming == identify.CANONICAL
                    else hubs.native_key(spec, layer, "weight", naming))
    return frozenset(anchors)


def locate(containers: Mapping[str, Arrays], namings: Sequence[str], model_id: str | None = None,
           key: str | None = None, prefix: str | None = None) -> Located:
    """The one (container, prefix, naming) whose keys fit a model id exactly, with every other array of the file
    listed as ignored; raises ContainerError or identify.CheckpointMismatchError (for the nearest place) otherwise.

    Longer prefixes are tried first and a model found under one claims its keys, so the plain keys beside a
    prefixed copy (`conv1.weight` next to `teacher.conv1.weight`) are a second candidate, not a misfit.
    """
    if key is not None and key not in containers:
        raise ContainerError(f"no dict of tensors at --key {key!r}; found: {_listing(containers)}")
    places = {path: arrays for path, arrays in containers.items() if key is None or path == key}
    if not places:
        raise ContainerError("holds no dict of tensors (not a state_dict or a checkpoint holding one)")
    exact: list[tuple[Located, set[str]]] = []  # each with the file keys it takes
    nearest: tuple[tuple[bool, int], str, dict[str, identify.Fit]] | None = None  # (rank, where, fits)
    for naming in namings:
        for path, arrays in places.items():
            claimed: set[str] = set()  # keys of a model found under a longer prefix
            candidates = set(prefixes(list(arrays), naming)) | ({prefix} if prefix is not None else set())
            for candidate in sorted(candidates, key=lambda p: (-len(p), p)):
                native, taken = _strip(arrays, candidate, naming, claimed)
                if not native:
                    continue
                fits = identify.fits({k: tuple(np.shape(v)) for k, v in native.items()}, naming)
                if any(f.exact for f in fits.values()):
                    claimed |= taken
                if prefix is not None and candidate != prefix:
                    continue
                if any(f.exact and f.spec.model_id == (model_id or f.spec.model_id) for f in fits.values()):
                    spec = identify.choose(fits, model_id)  # several ids fitting one place: ambiguous, --model
                    exact.append((Located(spec, naming, path, candidate, native), taken))
                # a place some other id fits exactly explains the mismatch best ("it looks like ...")
                score = (not any(f.exact for f in fits.values()), identify.distance(fits, model_id))
                if nearest is None or score < nearest[0]:
                    nearest = (score, where(path, candidate), fits)
    if len(exact) == 1:
        located, taken = exact[0]
        return replace(located, ignored=_ignored(containers, located.container, taken))
    if exact:
        found = [located for located, _ in exact]
        choices = "; ".join(f"{e.where()} ({e.spec.model_id}): {_selector(e, found)}" for e in found)
        raise ContainerError(f"several places hold a ResNet, choose one: {choices}")
    if nearest is None:
        raise ContainerError(f"no keys under prefix {prefix!r}" if prefix else "holds no tensors")
    _, place, fits = nearest
    try:
        identify.choose(fits, model_id)
    except identify.CheckpointMismatchError as error:
        raise identify.CheckpointMismatchError(f"{error}{'' if place == where(TOP, '') else f' (nearest: {place})'}") from None
    raise AssertionError("an exact fit was missed")  # choose() raises whenever no place fits exactly


def head_warnings(located: Located) -> list[str]:
    """Ignored pairs that look like a classifier of this backbone: a 2-D weight with one side the backbone's
    feature width (torch [n, C]; paddle and Keras [C, n]) beside a bias [n] of the same layer."""
    width = located.spec.feature_channels
    kept = "the model read is the headless backbone" if located.spec.headless \
        else f"the model read keeps its own {located.spec.num_classes}-class head"
    warnings = []
    for weight in located.ignored:
        if len(weight.shape) != 2 or width not in weight.shape:
            continue
        classes = weight.shape[0] if weight.shape[1] == width else weight.shape[1]
        bias = next((b for b in located.ignored if b.container == weight.container and b.shape == (classes,)
                     and _parent(b.key) == _parent(weight.key)), None)
        if bias is None:
            continue
        warnings.append(f"{weight.describe()} + {bias.describe()} look like a {classes}-class classifier head of this "
                        f"{located.spec.model_id}; they are not converted: {kept}")
    return warnings


def _strip(arrays: Arrays, prefix: str, naming: str, claimed: set[str]) -> tuple[Arrays, set[str]]:
    """The entries under `prefix` with it removed (torch BN counters dropped), leaving out keys `claimed` by another
    model unless nothing else is left; and the file keys taken."""
    under = [key for key in arrays if key.startswith(prefix)]  # in file order, which messages list
    taken = [key for key in under if key not in claimed] or under
    inside = {key[len(prefix):]: arrays[key] for key in taken}
    if hubs.base(naming) == "torch":
        inside = {key: value for key, value in inside.items() if key.rsplit(".", 1)[-1] != TORCH_BN_COUNTER}
    return inside, set(taken)


def _ignored(containers: Mapping[str, Arrays], container: str, taken: set[str]) -> tuple[IgnoredArray, ...]:
    """Every array of the file outside the keys the model took."""
    return tuple(IgnoredArray(path, key, tuple(int(d) for d in np.shape(value)))
                 for path, arrays in containers.items() for key, value in arrays.items()
                 if not (path == container and key in taken))


def _selector(located: Located, found: Sequence[Located]) -> str:
    """The --key and/or --prefix that pick `located` out of `found`."""
    same_place = [other for other in found if other.container == located.container]
    options = [f"--key {shlex.quote(located.container)}"] if len(same_place) < len(found) else []
    if len(same_place) > 1:
        options.append(f"--prefix {shlex.quote(located.prefix)}")
    return " ".join(options)


def _parent(key: str) -> str:
    """'head.fc.weight' -> 'head.fc.'; 'dense/kernel' -> 'dense/'; 'weight' -> ''."""
    return re.sub(r"[^./]*$", "", key)


def _listing(containers: Mapping[str, Arrays]) -> str:
    return ", ".join(repr(path) if path else "'' (top level)" for path in containers) or "none"


def own_state(arrays: Arrays, prefix: str) -> Arrays:
    """A container's tensors under `prefix`, by their own names (prefix stripped, torch's BN counters dropped): what a
    framework's own loader is given in convert's proof."""
    return {key[len(prefix):]: array for key, array in arrays.items()
            if key.startswith(prefix) and not key.endswith(TORCH_BN_COUNTER)}

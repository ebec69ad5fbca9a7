"""Which model id a checkpoint holds, from its keys and shapes alone (numpy-free, framework-free).

Every id is scored by how its expected keys and shapes differ from the checkpoint's; the head's
bias gives num_classes (no head at all: a headless model, NO_HEAD). An exact fit is the answer; otherwise the error names the closest ids and
what differs. Keras 3 `.weights.h5` files have no layer names, so they are matched as multisets
of (kind, variable shapes) per layer.
"""

from __future__ import annotations

from collections import Counter
from functools import cache
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from crosscheck import spec as specs
from crosscheck.checkpoints import hubs
from crosscheck.spec import ModelSpec

Shapes = Mapping[str, tuple[int, ...]]
Layers = Sequence[tuple[str, Sequence[Sequence[int]]]]  # (kind, variable shapes) per layer
CANONICAL = "canonical"
SHOWN_DIFFERENCES = 3  # per category in a "closest" summary
SHOWN_CANDIDATES = 3


class CheckpointMismatchError(ValueError):
    """A checkpoint that fits no model id, or not the requested one; the message says what differs."""


@dataclass
class Fit:
    """How a checkpoint differs from one model id."""

    spec: ModelSpec
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    reshaped: list[str] = field(default_factory=list)

    @property
    def exact(self) -> bool:
        return not (self.missing or self.unexpected or self.reshaped)

    @property
    def distance(self) -> int:
        return len(self.missing) + len(self.unexpected) + len(self.reshaped)

    def problems(self) -> list[str]:
        return [f"missing {k}" for k in self.missing] + [f"unexpected {k}" for k in self.unexpected] + self.reshaped

    def summary(self) -> str:
        """'resnet50 (missing 0 keys, 2 unexpected, 3 shape differences: fc.weight ..., ...)'."""
        parts = [f"missing {len(self.missing)} keys", f"{len(self.unexpected)} unexpected",
                 f"{len(self.reshaped)} shape differences"]
        examples = self.reshaped[:SHOWN_DIFFERENCES] + [f"missing {k}" for k in self.missing[:SHOWN_DIFFERENCES]] \
            + [f"unexpected {k}" for k in self.unexpected[:SHOWN_DIFFERENCES]]
        return f"{self.spec.model_id} ({', '.join(parts)}: {'; '.join(examples)})"


def expected_shapes(spec: ModelSpec, framework: str) -> dict[str, tuple[int, ...]]:
    """{key: shape} a checkpoint of `spec` holds in `framework`'s naming and layout (a hub layout's, or 'canonical')."""
    if framework == CANONICAL:
        return spec.canonical_shapes()
    shapes = {}
    for layer in spec.layers:
        for param, shape in layer.shapes.items():
            perm = specs.native_permutation(hubs.base(framework), layer.kind, param)
            shapes[hubs.native_key(spec, layer, param, framework)] = tuple(shape[i] for i in perm) if perm else shape
    return shapes


@cache
def _registered_shapes(model_id: str, num_classes: int | None, framework: str) -> Mapping[str, tuple[int, ...]]:
    """expected_shapes of a registered id, computed once per process: a file is fitted against every id in every
    naming it may be in, and again for each place in it that may hold a ResNet (read only: shared)."""
    return expected_shapes(specs.get(model_id, num_classes), framework)


def fit(spec: ModelSpec, shapes: Shapes, framework: str,
        expected: Mapping[str, tuple[int, ...]] | None = None) -> Fit:
    """How `shapes` differs from `spec` in `framework`'s naming (`expected`: its expected_shapes, if known)."""
    expected = expected_shapes(spec, framework) if expected is None else expected
    return Fit(
        spec,
        missing=[key for key in expected if key not in shapes],
        unexpected=[key for key in shapes if key not in expected],
        reshaped=[f"{key}: shape {tuple(shapes[key])}, {spec.model_id} has {shape}"
                  for key, shape in expected.items() if key in shapes and tuple(shapes[key]) != shape],
    )


def fit_layers(spec: ModelSpec, layers: Layers) -> Fit:
    """Compare (kind, keras variable shapes) multisets: order-based files have no names to compare."""
    expected = Counter(_layer_signature(layer.kind, shapes) for layer, shapes in _keras_layers(spec))
    found = Counter(_layer_signature(kind, shapes) for kind, shapes in layers)
    return Fit(spec, missing=_describe(expected - found), unexpected=_describe(found - expected))


def fits(shapes: Shapes, framework: str) -> dict[str, Fit]:
    """How `shapes` differs from every model id, each sized to the head found (none: headless)."""
    head = _head_key(framework)
    if head in shapes:
        classes = int(shapes[head][0]) if len(shapes[head]) == 1 else None
    else:
        classes = None if _head_key(framework, "weight") in shapes else specs.NO_HEAD
    return {m: fit(specs.get(m, classes), shapes, framework, _registered_shapes(m, classes, framework))
            for m in specs.MODEL_IDS}


def distance(fits_: dict[str, Fit], model_id: str | None) -> int:
    """How far the checkpoint is from `model_id`, or from the closest id: ranks places to look for a ResNet."""
    return fits_[model_id].distance if model_id in fits_ else min(f.distance for f in fits_.values())


def identify(shapes: Shapes, framework: str, model_id: str | None = None) -> ModelSpec:
    """The model id (and num_classes, from the head) whose keys and shapes `shapes` fits exactly."""
    return choose(fits(shapes, framework), model_id)


def identify_layers(layers: Layers, model_id: str | None = None) -> ModelSpec:
    """As `identify`, for an order-based Keras .weights.h5 listed by `crosscheck.checkpoints.keras_formats.layers`."""
    dense = [shapes for kind, shapes in layers if kind == "dense"]
    heads = [shapes[1] for shapes in dense if len(shapes) == 2 and len(shapes[1]) == 1]
    classes = int(heads[0][0]) if len(heads) == 1 else None if dense else specs.NO_HEAD
    return choose({m: fit_layers(specs.get(m, classes), layers) for m in specs.MODEL_IDS}, model_id)


def choose(fits: dict[str, Fit], model_id: str | None) -> ModelSpec:
    """The exactly fitting spec (the requested one if given); otherwise raise naming the closest ids and why."""
    exact = [f for f in fits.values() if f.exact]
    if model_id is not None:
        specs.get(model_id)  # an unknown id raises, listing the valid ones
        wanted = fits[model_id]
        if wanted.exact:
            return wanted.spec
        if exact:
            raise CheckpointMismatchError(
                f"checkpoint is not {model_id}: it looks like {exact[0].spec.model_id} "
                f"(fits exactly, num_classes={exact[0].spec.num_classes}); versus {wanted.summary()}")
        listing = "\n  ".join(wanted.problems())
        raise CheckpointMismatchError(f"{wanted.distance} key(s) do not fit {model_id}:\n  {listing}")
    if len(exact) == 1:
        return exact[0].spec
    if exact:
        raise CheckpointMismatchError(f"ambiguous checkpoint: fits {', '.join(f.spec.model_id for f in exact)}; pass --model")
    closest = sorted(fits.values(), key=lambda f: f.distance)[:SHOWN_CANDIDATES]
    raise CheckpointMismatchError("checkpoint fits no known model id; closest: "
                                  + "; ".join(f.summary() for f in closest))


def _head_key(framework: str, param: str = "bias") -> str:
    spec = specs.get("resnet18")
    head = spec.layer("predictions")
    return head.canonical_key(param) if framework == CANONICAL else hubs.native_key(spec, head, param, framework)


def _keras_layers(spec: ModelSpec) -> list[tuple[specs.LayerSpec, list[tuple[int, ...]]]]:
    """Each layer with its keras variable shapes, in keras' variable order."""
    native = expected_shapes(spec, "keras")
    return [(layer, [native[layer.native_key(p, "keras")] for p in specs.CANONICAL_PARAMS[layer.kind] if p in layer.shapes])
            for layer in spec.layers]


def _layer_signature(kind: str, shapes: Sequence[Sequence[int]]) -> tuple[str, tuple[tuple[int, ...], ...]]:
    return kind, tuple(tuple(int(d) for d in shape) for shape in shapes)


def _describe(layers: Counter) -> list[str]:
    return [f"{count} x {kind} layer {list(map(list, shapes))}" if count > 1 else f"{kind} layer {list(map(list, shapes))}"
            for (kind, shapes), count in layers.items()]

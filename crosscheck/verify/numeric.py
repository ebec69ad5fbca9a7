"""The numeric half of verify: map the reference's weights onto the candidate, compare outputs layer by layer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Collection, Mapping

import numpy as np

from crosscheck.metrics import rel_l2
from crosscheck.spec import CANONICAL_PARAMS, ModelSpec
from crosscheck.verify.graph import Record, Structure

OUTPUT = "output"


@dataclass(frozen=True)
class Point:
    """One comparison point in forward order: a layer, a block output, or the model output."""

    name: str
    kind: str  # layer | block | output
    rel_l2: float  # inf when the shapes differ or the candidate has no such point
    detail: str = ""

    def passes(self, rtol: float) -> bool:
        return bool(np.isfinite(self.rel_l2) and self.rel_l2 <= rtol)

    def as_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "rel_l2": self.rel_l2 if np.isfinite(self.rel_l2) else None,
                "detail": self.detail}


def record_shapes(record: Record) -> dict[str, tuple[int, ...]]:
    """Canonical-layout shapes of the parameters a traced layer actually has."""
    present = record.get("params", {})
    if record["op"] == "conv":
        shapes = {"weight": (record["out_channels"], record["in_channels"] // record.get("groups", 1), *record["kernel"])}
        if record["bias"]:
            shapes["bias"] = (record["out_channels"],)
        return shapes
    if record["op"] == "dense":
        shapes = {"weight": (record["out_features"], record["in_features"])}
        return shapes | ({"bias": (record["out_features"],)} if record["bias"] else {})
    return {p: (record["channels"],) for p in CANONICAL_PARAMS["bn"] if p in present}


def plan_weights(candidate: Structure, reference: Structure, spec: ModelSpec,
                 weights: Mapping[str, np.ndarray]) -> tuple[dict[str, np.ndarray], list[str]]:
    """The spec's canonical `weights` planned onto the candidate through the alignment (see plan_aligned)."""
    aligned = {f"{name}/{param}": weights[spec.layer(name).canonical_key(param)]
               for name in reference.layers() for param in spec.layer(name).shapes}
    return plan_aligned(candidate, set(reference.layers()), aligned)


def plan_aligned(candidate: Structure, layers: Collection[str],
                 weights: Mapping[str, np.ndarray]) -> tuple[dict[str, np.ndarray], list[str]]:
    """Arrays keyed '{candidate record index}/{param}' for every layer aligned with one of `layers` (canonical
    names; `weights` keyed '{name}/{param}', canonical layout), and notes on what could not load."""
    arrays: dict[str, np.ndarray] = {}
    notes: list[str] = []
    for name, record in candidate.layers().items():
        if name not in layers:
            notes.append(f"{name}: no reference layer; keeps its own initial weights")
            continue
        have = record_shapes(record)
        for param, shape in have.items():
            key, value = f"{record['index']}/{param}", weights.get(f"{name}/{param}")
            if value is None:
                arrays[key] = np.zeros(shape, np.float64)
                notes.append(f"{name}.{param}: the reference has none; loaded as zeros")
            elif value.shape != shape:
                notes.append(f"{name}.{param}: shape {shape}, reference {value.shape}; not loaded")
            else:
                arrays[key] = value
        notes += [f"{name}.{key.split('/')[1]}: the candidate has none; the reference's value is dropped"
                  for key in weights if key.split("/")[0] == name and key.split("/")[1] not in have]
    return arrays, notes


def compare_points(candidate: Structure, reference: Structure, cand_arrays: Mapping[str, np.ndarray],
                   ref_arrays: Mapping[str, np.ndarray], softmax_head: bool) -> list[Point]:
    """rel L2 at every reference point (forward order) and at the model output; arrays are keyed by record index.
    `softmax_head`: the reference's model ends in softmax, which its traced logits do not include."""
    cand_points = candidate.points()
    points = []
    for name, (kind, ref_record) in reference.points().items():
        if name not in cand_points:
            points.append(Point(name, kind, float("inf"), "no such point in the candidate"))
            continue
        record = cand_points[name][1]
        expected = ref_arrays[str(ref_record["index"])]
        got = cand_arrays.get(str(record["index"]))
        if got is None:  # the candidate's forward pass raised at or before this op
            points.append(Point(name, kind, float("inf"), "the forward pass fails here"))
            continue
        if record.get("activation") == "softmax" and ref_record.get("activation") != "softmax":
            expected = softmax(expected)
        points.append(_point(name, kind, got, expected))
    expected = ref_arrays[OUTPUT]
    if softmax_head:
        expected = softmax(expected)
    if OUTPUT not in cand_arrays:
        points.append(Point(OUTPUT, OUTPUT, float("inf"), "no output: the forward pass fails"))
    else:
        points.append(_point(OUTPUT, OUTPUT, cand_arrays[OUTPUT], expected))
    return points


def first_failing_point(points: list[Point], rtol: float) -> Point | None:
    """The first point of the aligned trace, in forward order, whose error exceeds `rtol`."""
    return next((p for p in points if not p.passes(rtol)), None)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def _point(name: str, kind: str, got: np.ndarray, expected: np.ndarray) -> Point:
    if got.shape != expected.shape:
        return Point(name, kind, float("inf"), f"shape {got.shape[1:]}, reference {expected.shape[1:]}")
    return Point(name, kind, rel_l2(got, expected))

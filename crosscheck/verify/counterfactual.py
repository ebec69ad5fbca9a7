"""Counterfactual references: the reference built from a spec with one named bug put in.

A structural finding says *what* differs; a counterfactual proves that it is *why* the numbers
differ: if the reference with exactly that change matches the candidate at the gate at every point,
the finding explains the whole mismatch, and nothing else is wrong. Mutations are plain
`dataclasses.replace` on the spec, limited to what every implementation reads from the spec
(LayerSpec stride and eps, the stem pool padding in torch/paddle); the head needs no rebuild.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, replace

from crosscheck.spec import LayerSpec, ModelSpec
from crosscheck.verify.diagnose import Finding
from crosscheck.verify.graph import Structure


@dataclass(frozen=True)
class Mutation:
    """One single change to a spec: which finding it tests, and how to say it."""

    code: str  # the finding it would explain
    name: str  # stride_on | bn_eps | stem_pool_padding | head
    value: str | float

    @property
    def describe(self) -> str:
        return f"{self.name}={self.value}"

    @property
    def rebuilds(self) -> bool:
        """False for the head: softmax is applied to the reference's logits, no model is built."""
        return self.name != "head"


def mutations(findings: list[Finding], candidate: Structure, spec: ModelSpec, framework: str) -> list[Mutation]:
    """The single-change counterfactuals worth testing for these findings."""
    found = {f.code for f in findings}
    proposed = []
    if "stride_on_1x1" in found:
        proposed.append(Mutation("stride_on_1x1", "stride_on", "conv1"))
    if "stride_on_3x3" in found:
        proposed.append(Mutation("stride_on_3x3", "stride_on", "conv2"))
    if "bn_eps" in found:
        proposed.append(Mutation("bn_eps", "bn_eps", _candidate_eps(candidate)))
    if "pool_padding_value" in found and framework != "keras":  # keras_impl always zero-pads its stem pool
        proposed.append(Mutation("pool_padding_value", "stem_pool_padding",
                                 "zero" if spec.stem_pool_padding == "neg_inf" else "neg_inf"))
    if found & {"head_softmax", "head_logits"}:
        proposed.append(Mutation("head_softmax" if "head_softmax" in found else "head_logits", "head",
                                 "softmax" if spec.default_head == "logits" else "logits"))
    return proposed


def mutate(spec: ModelSpec, name: str, value: str | float) -> ModelSpec:
    """`spec` with one change; layers stay consistent (strides, output shapes, epsilons)."""
    if name == "stride_on":
        return _stride_on(spec, str(value))
    if name == "bn_eps":
        layers = tuple(replace(layer, eps=float(value)) if layer.kind == "bn" else layer for layer in spec.layers)
        return replace(spec, bn_eps=float(value), layers=layers)
    if name == "stem_pool_padding":
        return replace(spec, stem_pool_padding=value)
    if name == "head":
        return replace(spec, default_head=value)
    raise ValueError(f"unknown mutation {name!r}")


def _stride_on(spec: ModelSpec, conv: str) -> ModelSpec:
    """Move every strided bottleneck's stride to its first 1x1 ('conv1') or its 3x3 ('conv2')."""
    blocks = {b.name: b for b in spec.blocks}
    layers: list[LayerSpec] = []
    for layer in spec.layers:
        block = blocks.get(layer.block)
        role = layer.name.removeprefix(f"{layer.block}_")
        if block is not None and block.kind != "basic" and block.stride > 1 and role in ("1_conv", "1_bn", "2_conv"):
            carries = role.startswith("1") == (conv == "conv1")
            size = block.input_size // block.stride if role.startswith("2") or conv == "conv1" else block.input_size
            shape = (layer.out_channels, size, size)
            layer = replace(layer, output_shape=shape, **({"stride": block.stride if carries else 1}
                                                          if layer.kind == "conv" else {}))
        layers.append(layer)
    return replace(spec, stride_on=conv, layers=tuple(layers),
                   blocks=tuple(replace(b, stride_on=conv) if b.kind != "basic" else b for b in spec.blocks))


def _candidate_eps(candidate: Structure) -> float:
    """The epsilon most of the candidate's BNs use."""
    counts = Counter(r["eps"] for r in candidate.records if r["op"] == "bn")
    return counts.most_common(1)[0][0] if counts else math.nan

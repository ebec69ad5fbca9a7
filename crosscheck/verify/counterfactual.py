"""Counterfactual references: the reference built from a spec with one named bug put in.

A structural finding says *what* differs; a counterfactual proves that it is *why* the numbers
differ: if the reference with exactly that change matches the candidate at the gate at every point,
the finding explains the whole mismatch, and nothing else is wrong. Mutations are plain
`dataclasses.replace` on the spec, limited to what every implementation reads from the spec
(LayerSpec stride and eps, the blocks' ReLU after the add, their shortcut kind, their squeeze-excitation's
position and gate, the stem pool padding in torch/paddle);
the head needs no rebuild. Every finding code has either a mutation or, in NO_COUNTERFACTUAL, the
reason none can be built, so every cause verify names carries one or the other.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, replace

from crosscheck import backends
from crosscheck.spec import LayerSpec, ModelSpec
from crosscheck.verify.diagnose import Finding
from crosscheck.verify.graph import Structure


@dataclass(frozen=True)
class Mutation:
    """One single change to a spec: which finding it tests, and how to say it."""

    code: str  # the finding it would explain
    name: str  # stride_on | bn_eps | relu_after_add | stem_pool_padding | head | downsample | attention_at | gate
    value: str | float | bool

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
    for code in ("relu_after_add_missing", "relu_after_add_extra"):
        if code in found:
            proposed.append(Mutation(code, "relu_after_add", code.endswith("extra")))
    if "pool_padding_value" in found and absent("pool_padding_value", framework) is None:
        proposed.append(Mutation("pool_padding_value", "stem_pool_padding",
                                 "zero" if spec.stem_pool_padding == "neg_inf" else "neg_inf"))
    if "resnet_d_no_avgpool" in found:
        proposed.append(Mutation("resnet_d_no_avgpool", "downsample", "projection"))
    if "se_after_add" in found:
        proposed.append(Mutation("se_after_add", "attention_at", "after_add"))
    if "se_gate" in found:
        proposed.append(Mutation("se_gate", "gate", _candidate_gate(candidate)))
    if found & {"head_softmax", "head_logits"}:
        proposed.append(Mutation("head_softmax" if "head_softmax" in found else "head_logits", "head",
                                 "softmax" if spec.default_head == "logits" else "logits"))
    return proposed


# finding code -> why no single-change reference can be built for it (said next to the cause)
NO_COUNTERFACTUAL: dict[str, str] = {
    "depths": "other blocks per stage change which layers exist; the model ids with the candidate's depths are "
              "tried instead",
    "channels": "another width changes the weights' shapes, so the same weights cannot load into both",
    "kernel": "another kernel size changes the weights' shapes, so the same weights cannot load into both",
    "stem": "the stem's stride or BN differs in a way no model id's spec describes",
    "stem_kind": "the other stem is another model id: the finding names it and the alternatives try it",
    "stride_block": "moving the stride to another block also changes the shortcut of both blocks; not one spec change",
    "basic_conv2_stride": "a second strided conv changes every later map size, so no point after it aligns",
    "stride": "the stride sits in a place no spec describes",
    "asymmetric_padding": "the spec's padding is symmetric: no implementation builds bottom/right-only padding from it",
    "padding": "another padding changes the map sizes after that layer, so no point after it aligns",
    "pool": "another stem max-pool window changes every later map size, so no point after it aligns",
    "conv_bias_extra": "a note, never a cause: the bias is loaded as 0, so it adds nothing",
    "conv_bias_missing": "the reference's weights include the bias; without it they do not load one to one",
    "relu_missing": "the spec has no switch for the ReLUs inside a block",
    "relu_extra": "the spec has no switch for the ReLUs inside a block",
    "preact_order": "pre- and post-activation blocks have different layers (BN roles), so the weights do not map",
    "shortcut": "another shortcut kind changes which layers exist",
    "shortcut_bn_missing": "the spec has no switch for the shortcut's BN",
    "avgpool_ceil_mode": "at an odd size the floor-mode shortcut is one row and column short and the add fails, so "
                         "the candidate has no numbers there to match; at even sizes both modes agree",
    "avgpool_count_pad": "the spec has no switch for a shortcut pool that averages padding in; it changes only the "
                         "last row and column of odd-sized maps",
    "se_reduction": "another reduced width changes the squeeze-excitation's weight shapes, so the same weights cannot "
                    "load into both",
    "shortcut_bn_extra": "the spec has no switch for the shortcut's BN",
    "missing_layer": "a layer the candidate lacks has no spec switch",
    "extra_layer": "a layer the reference lacks has no spec switch",
    "post_norm": "the final BN+ReLU belongs to pre-activation models only; not one spec change",
    "head_pool": "a classifier that does not read the global average has another weight shape",
    "head_fixed_pool": "a warning, never a cause: at this input size the pool is the global average",
    "forward_fails": "the candidate's forward pass fails, so it has no numbers to match",
}


def absent(code: str, framework: str) -> str | None:
    """Why finding `code` has no counterfactual in `framework`, or None when `mutations` proposes one."""
    return NO_COUNTERFACTUAL.get(code) or backends.get(framework).cannot_build.get(code)


def mutate(spec: ModelSpec, name: str, value: str | float | bool) -> ModelSpec:
    """`spec` with one change; layers stay consistent (strides, output shapes, epsilons)."""
    if name == "stride_on":
        return _stride_on(spec, str(value))
    if name == "bn_eps":
        layers = tuple(replace(layer, eps=float(value)) if layer.kind == "bn" else layer for layer in spec.layers)
        return replace(spec, bn_eps=float(value), layers=layers)
    if name == "relu_after_add":
        return replace(spec, blocks=tuple(replace(block, relu_after_add=bool(value)) for block in spec.blocks))
    if name == "stem_pool_padding":
        return replace(spec, stem_pool_padding=value)
    if name == "head":
        return replace(spec, default_head=value)
    if name == "downsample":
        return _strided_projection(spec)
    if name in ("attention_at", "gate"):
        return replace(spec, blocks=tuple(replace(b, **{name: value}) if b.attention else b for b in spec.blocks))
    raise ValueError(f"unknown mutation {name!r}")


def _strided_projection(spec: ModelSpec) -> ModelSpec:
    """ResNet-D's average-pool shortcuts as plain strided 1x1 projections (torchvision's `downsample.0`, `.1`)."""
    blocks = {b.name: b for b in spec.blocks if b.shortcut == "avgpool_projection"}
    layers = []
    for layer in spec.layers:
        block = blocks.get(layer.block)
        role = layer.name.removeprefix(f"{layer.block}_")
        if block is not None and role in ("0_conv", "0_bn"):
            path = f"{block.module_path}.downsample.{0 if role == '0_conv' else 1}"
            layer = replace(layer, module_path=path, **({"stride": block.stride} if role == "0_conv" else {}))
        layers.append(layer)
    return replace(spec, layers=tuple(layers), blocks=tuple(replace(b, shortcut="projection") if b.name in blocks else b
                                                            for b in spec.blocks))


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


def _candidate_gate(candidate: Structure) -> str:
    """The gate the candidate's squeeze-excitations use."""
    return next((b.gate for b in candidate.blocks if b.gate), "hard_sigmoid")


def _candidate_eps(candidate: Structure) -> float:
    """The epsilon most of the candidate's BNs use."""
    counts = Counter(r["eps"] for r in candidate.records if r["op"] == "bn")
    return counts.most_common(1)[0][0] if counts else math.nan

"""Recover a ResNet's structure (stem, residual blocks by role, head) from a traced op list.

The trace modules (`crosscheck/backends/<name>/trace.py`) turn a forward pass into plain op records:

* every record: ``index``, ``op`` (conv, bn, dense, maxpool, avgpool, gap, pad, relu, add, mul, sigmoid,
  hard_sigmoid, softmax, other), ``name`` (module path or layer name, may be empty), ``inputs`` (producer indices, -1 for the
  model input), ``shape`` (output shape without the batch axis, channels first);
* conv: in/out_channels, kernel, stride, padding [top, bottom, left, right], bias, params;
  bn: channels, eps, params; dense: in/out_features, bias, activation (keras), params;
  maxpool/avgpool: kernel, stride, padding; avgpool also ceil_mode, count_include_pad; pad: padding, value;
  add and mul: both producers in ``inputs``.

Blocks are found by dataflow, not by names or raw order: each residual add closes a block; the
block's ops are the add's ancestors after the previous block's output; the add input with more
convs is the main branch, the other the shortcut. Roles are numbered along the main branch
(1_conv, 1_bn, ...), so a torch block that runs its downsample last and a keras block that creates
``_0_conv`` first get the same roles. Stages are runs of blocks with the same output width.
A squeeze-excitation (a global average, convs, a gate, a multiply) is taken out of the branch it sits in
and named ``se_reduce`` / ``se_expand``; one that runs after a block's add belongs to that block
(``attention_at`` "after_add"). A stem of several convs names them ``conv1_1_conv`` ... as the spec does.

A forward pass that raised ends its records with the failing op (``error``: the message,
``input_shapes``, ``shape`` None): the structure holds what ran up to it, and `failure` is that op.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

Record = dict
PASSTHROUGH = {"pad", "other"}  # ops that only move data: followed through when looking for producers
PARAMETERISED = {"conv", "bn", "dense"}


class NotAResNetError(ValueError):
    """The traced model has no residual additions, so it has no ResNet structure to compare."""


@dataclass
class Block:
    """One residual block: its ops by role, and the properties that tell ResNet variants apart."""

    name: str  # canonical block name, conv{stage+2}_block{i+1}
    layers: dict[str, Record]  # role ("0_conv", "1_bn", "preact_bn", ...) -> record
    shortcut: str  # projection | identity | maxpool
    relu_after_add: bool
    sequence: list[str]  # op kinds along the main branch, from the block input to the add
    stride: int  # product of the main branch's strides
    out_channels: int
    output: Record  # the add, or the ReLU after it
    shortcut_stride: int = 1  # product of the shortcut's strides
    main_input: int = 0  # which input of the add is the main branch
    shortcut_pool: Record | None = None  # the shortcut's average or max pool
    attention_at: str | None = None  # "before_add" | "after_add": where a squeeze-excitation runs
    gate: str | None = None  # its gate op (sigmoid, hard_sigmoid)


@dataclass
class Structure:
    """A traced model seen as a ResNet: stem, stages of blocks, head."""

    records: list[Record]
    stem: dict[str, Record] = field(default_factory=dict)  # conv1_conv, conv1_bn, pool
    stem_sequence: list[str] = field(default_factory=list)
    stages: list[list[Block]] = field(default_factory=list)
    head: dict[str, Record] = field(default_factory=dict)  # post_bn, gap, predictions, softmax
    head_sequence: list[str] = field(default_factory=list)
    failure: Record | None = None  # the op the forward pass raised at; the structure is what ran before it

    @property
    def blocks(self) -> list[Block]:
        return [block for stage in self.stages for block in stage]

    @property
    def depths(self) -> tuple[int, ...]:
        return tuple(len(stage) for stage in self.stages)

    def layers(self) -> dict[str, Record]:
        """Every parameterised layer by canonical name, in forward order of the canonical scheme."""
        named = {name: r for name, r in self.stem.items() if r["op"] in PARAMETERISED}
        for block in self.blocks:
            named.update({f"{block.name}_{role}": r for role, r in sorted(block.layers.items(), key=_role_order)})
        named.update({name: r for name, r in self.head.items() if r["op"] in PARAMETERISED})
        return named

    def points(self) -> dict[str, tuple[str, Record]]:
        """Comparison points in forward order, name -> (kind, record): layers, the stem, each block's output."""
        points = {name: ("layer", r) for name, r in self.stem.items() if r["op"] in PARAMETERISED}
        if "pool" in self.stem:
            points["stem"] = ("block", self.stem["pool"])
        for block in self.blocks:
            points.update({f"{block.name}_{role}": ("layer", r)
                           for role, r in sorted(block.layers.items(), key=_role_order)})
            points[block.name] = ("block", block.output)
        points.update({name: ("layer", r) for name, r in self.head.items() if r["op"] in PARAMETERISED})
        return points


def _role_order(item: tuple[str, Record]) -> int:
    return item[1]["index"]


def effective_padding(records: Sequence[Record], record: Record) -> tuple[list[int], float]:
    """A conv's or pool's padding including an explicit pad op in front of it, and the padded value."""
    own = list(record.get("padding", [0, 0, 0, 0]))
    default = float("-inf") if record["op"] == "maxpool" else 0.0
    source = record["inputs"][0] if record["inputs"] else -1
    if source >= 0 and records[source]["op"] == "pad":
        pad = records[source]
        own = [a + b for a, b in zip(own, pad["padding"])]
        return own, pad["value"] if any(pad["padding"]) else default
    return own, default


def producer(records: Sequence[Record], index: int) -> int:
    """The first non-passthrough op at or before `index` along the data path (-1: the model input)."""
    while index >= 0 and records[index]["op"] in PASSTHROUGH:
        inputs = records[index]["inputs"]
        index = inputs[0] if inputs else -1
    return index


def extract(records: Sequence[Record]) -> Structure:
    """The ResNet structure of a trace; raises NotAResNetError when there is no residual add."""
    records = list(records)
    failure = records[-1] if records and records[-1].get("error") else None
    adds = [r for r in records if r["op"] == "add"]
    if not adds:
        if failure is not None:
            raise NotAResNetError(f"the forward pass fails before any residual addition: {failure['error']}")
        raise NotAResNetError("no residual additions in the forward pass: this is not a ResNet")
    consumers: dict[int, list[int]] = {}
    for r in records:
        for i in r["inputs"]:
            consumers.setdefault(i, []).append(r["index"])
    structure = Structure(records, failure=failure)
    stem_end = _stem_end(records, adds[0])
    stem_ops = sorted(_ancestors(records, stem_end["index"])) if stem_end else []
    structure.stem = _stem_roles(records, stem_ops)
    structure.stem_sequence = _kinds(records, stem_ops)

    previous = stem_end["index"] if stem_end else -1
    seen = _ancestors(records, previous)
    blocks: list[Block] = []
    attention = _attention_ops(records)
    for add in adds:
        trailing = _attention_after(records, attention, seen, add)
        if blocks and trailing:  # the previous block's squeeze-excitation ran after its add
            _attach_attention(records, blocks[-1], trailing, "after_add")
            blocks[-1].output = records[max(trailing)]
        block = _block(records, add, seen | trailing, consumers, attention)
        blocks.append(block)
        previous = block.output["index"]
        seen = seen | _ancestors(records, previous)
    last = [i for i in attention if i > previous and i not in seen]
    if blocks and last:
        _attach_attention(records, blocks[-1], set(last), "after_add")
        blocks[-1].output = records[max(last)]
        previous = max(last)
        seen = seen | _ancestors(records, previous)
    structure.stages = _stages(blocks)
    head_ops = [r["index"] for r in records if r["index"] > previous and r["index"] not in seen]
    structure.head = _head_roles(records, head_ops)
    structure.head_sequence = _kinds(records, head_ops)
    return structure


def _ancestors(records: Sequence[Record], index: int) -> set[int]:
    """`index` and every op it depends on."""
    found: set[int] = set()
    stack = [index]
    while stack:
        i = stack.pop()
        if i < 0 or i in found:
            continue
        found.add(i)
        stack.extend(records[i]["inputs"])
    return found


def _stem_end(records: Sequence[Record], first_add: Record) -> Record | None:
    """The stem's last op: the first max-pool feeding the first block, else the op where its branches fork."""
    before = _ancestors(records, first_add["index"])
    pools = [records[i] for i in sorted(before) if records[i]["op"] == "maxpool"]
    if pools:
        return pools[0]
    a, b = (_ancestors(records, i) for i in first_add["inputs"])
    common = a & b
    return records[max(common)] if common else None


def _attention_ops(records: Sequence[Record]) -> set[int]:
    """Every op of every squeeze-excitation: a multiply whose one input derives from the other through a global
    average (the gate's ops and the multiply, not the features it scales)."""
    ops: set[int] = set()
    for r in records:
        if r["op"] != "mul" or len(r["inputs"]) != 2:
            continue
        a, b = (_ancestors(records, i) for i in r["inputs"])
        for gate, features in ((a, b), (b, a)):
            own = gate - features
            if any(records[i]["op"] == "gap" for i in own):
                ops |= own | {r["index"]}
    return ops


def _attention_after(records: Sequence[Record], attention: set[int], seen: set[int], add: Record) -> set[int]:
    """The squeeze-excitation ops `add` depends on through both of its inputs: run after the previous block's add."""
    a, b = (_ancestors(records, i) - seen for i in add["inputs"])
    return a & b & attention


def _attach_attention(records: Sequence[Record], block: Block, ops: set[int], at: str) -> None:
    """Name a block's squeeze-excitation convs (se_reduce, se_expand) and record where it runs and its gate."""
    convs = sorted(i for i in ops if records[i]["op"] == "conv")
    for role, i in zip(("se_reduce", "se_expand"), convs):
        block.layers[role] = records[i]
    gates = [records[i]["op"] for i in sorted(ops) if records[i]["op"] in ("sigmoid", "hard_sigmoid")]
    block.attention_at, block.gate = at, gates[0] if gates else "other"


def _block(records: Sequence[Record], add: Record, seen: set[int], consumers: dict[int, list[int]],
           attention: set[int]) -> Block:
    """The block closed by `add`: its ops are the add's ancestors not `seen` in the stem or earlier blocks; a
    squeeze-excitation on its main branch is named apart from the branch's own layers."""
    branches = [_ancestors(records, i) - seen for i in add["inputs"]]
    common = branches[0] & branches[1]
    own = [b - common for b in branches]
    convs = [sum(records[i]["op"] == "conv" for i in b) for b in own]
    main_at = 0 if (convs[0], len(own[0])) >= (convs[1], len(own[1])) else 1
    main = sorted((common | own[main_at]) - attention)
    inner_attention = (common | own[main_at]) & attention
    short = sorted(own[1 - main_at])

    layers: dict[str, Record] = {}
    main_convs = [i for i in main if records[i]["op"] == "conv"]
    for role, i in enumerate(main_convs, start=1):
        layers[f"{role}_conv"] = records[i]
    short_convs = [i for i in short if records[i]["op"] == "conv"]
    if short_convs:
        layers["0_conv"] = records[short_convs[0]]
    conv_role = {r["index"]: role.removesuffix("_conv") for role, r in layers.items()}
    for i in main + short:
        r = records[i]
        if r["op"] == "bn":
            source = producer(records, r["inputs"][0])
            layers[f"{conv_role[source]}_bn" if source in conv_role else "preact_bn"] = r

    after = [records[c] for c in consumers.get(add["index"], [])]
    relu = next((r for r in after if r["op"] == "relu"), None)
    pools = [records[i] for i in short if records[i]["op"] in ("maxpool", "avgpool")]
    strided = ("conv", "maxpool", "avgpool")
    averaged = any(p["op"] == "avgpool" for p in pools)
    block = Block(
        name="",
        layers=layers,
        shortcut=("avgpool_projection" if averaged else "projection") if short_convs else (
            "maxpool" if pools else "identity"),
        relu_after_add=relu is not None,
        sequence=_kinds(records, main),
        stride=math.prod(records[i]["stride"][0] for i in main if records[i]["op"] in strided),
        out_channels=(add["shape"] or add["input_shapes"][main_at])[0],
        output=relu or add,
        shortcut_stride=math.prod(records[i]["stride"][0] for i in short if records[i]["op"] in strided),
        main_input=main_at,
        shortcut_pool=pools[0] if pools else None,
    )
    if inner_attention:
        _attach_attention(records, block, inner_attention, "before_add")
    return block


def _stages(blocks: list[Block]) -> list[list[Block]]:
    """Group blocks into stages (a stage ends where the output width changes) and name them."""
    stages: list[list[Block]] = []
    for block in blocks:
        if not stages or stages[-1][-1].out_channels != block.out_channels:
            stages.append([])
        stages[-1].append(block)
    for s, stage in enumerate(stages):
        for b, block in enumerate(stage):
            block.name = f"conv{s + 2}_block{b + 1}"
    return stages


def _stem_roles(records: Sequence[Record], ops: list[int]) -> dict[str, Record]:
    """conv1_conv, conv1_bn and the pool; a stem of several convs as the spec names the deep stem: conv1_1_conv,
    conv1_1_bn, ..., its last conv's BN conv1_bn."""
    convs = [records[i] for i in ops if records[i]["op"] == "conv"]
    roles: dict[str, Record] = {}
    for i in ops:
        r = records[i]
        if r["op"] == "conv":
            roles.setdefault("conv1_conv" if len(convs) == 1 else f"conv1_{convs.index(r) + 1}_conv", r)
        elif r["op"] == "bn":
            source = producer(records, r["inputs"][0])
            position = next((n for n, c in enumerate(convs) if c["index"] == source), len(convs) - 1)
            roles.setdefault("conv1_bn" if position == len(convs) - 1 else f"conv1_{position + 1}_bn", r)
        elif r["op"] in ("maxpool", "avgpool"):
            roles["pool"] = r
    return roles


def _head_roles(records: Sequence[Record], ops: list[int]) -> dict[str, Record]:
    names = {"bn": "post_bn", "gap": "gap", "avgpool": "gap", "dense": "predictions", "softmax": "softmax"}
    return {names[records[i]["op"]]: records[i] for i in ops if records[i]["op"] in names}


def _kinds(records: Sequence[Record], ops: Sequence[int]) -> list[str]:
    """Op kinds in execution order, without data-moving ops; a dense's own activation becomes an op."""
    kinds = []
    for i in ops:
        r = records[i]
        if r["op"] in PASSTHROUGH:
            continue
        kinds.append(r["op"])
        if r.get("activation") not in (None, "linear"):
            kinds.append(r["activation"])
    return kinds

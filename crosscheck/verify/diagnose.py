"""Compare a candidate's structure with the reference's and name the translation bugs it contains.

Both structures come from `graph.extract` on traces from the same framework, so every difference
is real. Raw differences (per layer, per block) are grouped into named findings: one finding per
cause, listing every place it occurs, first place first. A finding is an "error" when it changes
the function; a "warning" when it leaves the function unchanged at this input size only (a fixed
pool window equal to the final map), and says at which sizes; a "note" when it is harmless (e.g. a
conv bias followed by BN, which we load as 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from crosscheck import spec as specs
from crosscheck.spec import ModelSpec
from crosscheck.verify.graph import Block, Record, Structure, effective_padding, producer

ERROR, WARNING, NOTE = "error", "warning", "note"
_SEVERITY_RANK = {NOTE: 0, WARNING: 1, ERROR: 2}

# code -> one-line title; the finding's message adds the specifics.
TITLES: dict[str, str] = {
    "depths": "different number of blocks per stage",
    "channels": "wrong channel count",
    "kernel": "wrong kernel size",
    "stem": "different stem",
    "stem_kind": "CIFAR stem vs ImageNet stem",
    "stride_on_1x1": "stride on the first 1x1 conv (ResNet v1) instead of the 3x3 (v1.5)",
    "stride_on_3x3": "stride on the 3x3 conv (v1.5) instead of the first 1x1 (ResNet v1)",
    "stride_block": "stride in a different block of the stage",
    "basic_conv2_stride": "the second conv of a basic block also strides",
    "stride": "stride in another place",
    "asymmetric_padding": "asymmetric 'same' padding at stride 2 instead of symmetric padding",
    "padding": "different padding",
    "pool_padding_value": "max-pool padding value (zero vs -inf)",
    "pool": "different stem max-pool",
    "bn_eps": "BatchNorm epsilon",
    "conv_bias_extra": "conv with a bias the reference does not have",
    "conv_bias_missing": "conv without the bias the reference has",
    "relu_after_add_missing": "no ReLU after the residual add",
    "relu_after_add_extra": "extra ReLU after the residual add",
    "relu_missing": "missing ReLU inside a block",
    "relu_extra": "extra ReLU inside a block",
    "preact_order": "activation order (pre-activation vs post-activation)",
    "shortcut": "different shortcut type",
    "shortcut_bn_missing": "projection shortcut without BatchNorm",
    "shortcut_bn_extra": "projection shortcut with a BatchNorm the reference does not have",
    "resnet_d_no_avgpool": "strided 1x1 projection where ResNet-D average-pools first (the stride left on the 1x1)",
    "avgpool_ceil_mode": "shortcut average pool in floor mode where the reference uses ceil_mode=True",
    "avgpool_count_pad": "shortcut average pool that counts padding where the reference leaves it out",
    "se_after_add": "squeeze-excitation after the residual add instead of before it",
    "se_reduction": "squeeze-excitation reduced to another width",
    "se_gate": "squeeze-excitation gate other than the reference's",
    "missing_layer": "missing layer",
    "extra_layer": "extra layer",
    "post_norm": "final BatchNorm+ReLU (post_bn) differs",
    "head_softmax": "softmax head where the reference outputs logits",
    "head_logits": "logits head where the reference ends in softmax",
    "head_pool": "no global average pooling before the classifier",
    "head_fixed_pool": "a fixed-window average pool in place of a global one",
    "forward_fails": "the forward pass fails",
}


@dataclass
class Finding:
    """One named cause, with every place (canonical layer or block name) it occurs, in forward order."""

    code: str
    severity: str
    places: list[str]
    explanation: str = ""  # the specifics, once for all places (they repeat the same cause)

    @property
    def title(self) -> str:
        return TITLES[self.code]

    @property
    def where(self) -> str:
        return self.places[0] if self.places else "-"

    def message(self, limit: int = 3) -> str:
        """Title, the first places, and the explanation."""
        more = f" (+{len(self.places) - limit} more)" if len(self.places) > limit else ""
        text = f"{self.title} at {', '.join(self.places[:limit])}{more}"
        return f"{text}: {self.explanation}" if self.explanation else text

    def as_dict(self) -> dict:
        return {"code": self.code, "severity": self.severity, "title": self.title, "where": self.where,
                "places": self.places, "explanation": self.explanation}


class _Findings:
    """Collects raw differences grouped by code, in the order first seen."""

    def __init__(self) -> None:
        self.by_code: dict[str, Finding] = {}

    def add(self, code: str, place: str, explanation: str = "", severity: str = ERROR) -> None:
        """Record `code` at `place`; the first explanation given for a code stands for all its places, unless a
        place where it is more severe (a warning that is an error at this input size here) comes later: that place
        leads, with its explanation."""
        finding = self.by_code.setdefault(code, Finding(code, severity, [], explanation))
        if _SEVERITY_RANK[severity] > _SEVERITY_RANK[finding.severity]:
            finding.severity, finding.explanation = severity, explanation
            finding.places.insert(0, place)
        elif place not in finding.places:
            finding.places.append(place)

    def result(self, order: Sequence[str]) -> list[Finding]:
        rank = {name: i for i, name in enumerate(order)}
        findings = list(self.by_code.values())
        return sorted(findings, key=lambda f: min((rank.get(p, len(rank)) for p in f.places), default=len(rank)))


def compare(candidate: Structure, reference: Structure, spec: ModelSpec) -> list[Finding]:
    """Every structural difference of `candidate` from `reference` (the spec's model), as named findings."""
    found = _Findings()
    if candidate.failure is None and candidate.depths != reference.depths:
        found.add("depths", "conv2_block1", f"blocks per stage {candidate.depths}, reference {reference.depths}")
    _compare_stem(candidate, reference, spec, found)
    _compare_strides(candidate, reference, found)
    ref_blocks = {b.name: b for b in reference.blocks}
    for block in candidate.blocks:
        if block.name in ref_blocks:
            _compare_block(candidate, reference, block, ref_blocks[block.name], found)
    if candidate.failure is None:
        _compare_head(candidate, reference, spec, found)
    else:
        _compare_failure(candidate, ref_blocks, found)
        if "gap" in candidate.head and "gap" in reference.head:  # a fixed pool that left too many features
            _compare_head_pool(candidate, reference, found)
    return found.result(list(reference.points()))


def errors(findings: Sequence[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity == ERROR]


def distance(findings: Sequence[Finding]) -> tuple[int, int]:
    """How far a candidate is from a model id by what differs: its structural errors, then the places they occur."""
    found = errors(findings)
    return len(found), sum(len(f.places) for f in found)


# (stem conv kernel, stride, has a max-pool) -> the spec's one-conv stem kind
STEM_KINDS = {((kernel, kernel), stride, stem.max_pool): kind
              for kind, stem in specs.STEMS.items() if len(stem.convs) == 1 for kernel, stride, _ in stem.convs}


def _compare_stem(candidate: Structure, reference: Structure, spec: ModelSpec, found: _Findings) -> None:
    cand, ref = candidate.stem, reference.stem
    kinds = _stem_kind(candidate), _stem_kind(reference)
    if None not in kinds and kinds[0] != kinds[1]:  # one cause, not a kernel + stride + pool difference
        found.add("stem_kind", "conv1_conv", _stem_kind_explanation(candidate, kinds[0], spec))
    else:
        for role in sorted(r for r in cand.keys() & ref.keys() if r.endswith("_conv")):
            _compare_conv(candidate, reference, role, cand[role], ref[role], found)
    if ("conv1_bn" in cand) != ("conv1_bn" in ref):
        what = "a BN+ReLU after the stem conv" if "conv1_bn" in cand else "no BN+ReLU after the stem conv"
        found.add("stem", "conv1_conv", f"{what} (reference stem: {' -> '.join(reference.stem_sequence)})")
    elif "conv1_bn" in cand:
        _compare_bn("conv1_bn", cand["conv1_bn"], ref["conv1_bn"], found)
    if "stem_kind" in found.by_code:
        return
    if ("pool" in cand) != ("pool" in ref):
        found.add("pool", "stem", "no stem max-pool" if "pool" in ref else "a stem max-pool the reference lacks")
    elif "pool" in cand:
        _compare_pool(candidate, reference, found)


def _compare_failure(candidate: Structure, ref_blocks: dict[str, Block], found: _Findings) -> None:
    """Where the forward pass raised; at a residual add, which strides make the two branches' shapes disagree."""
    failure = candidate.failure
    block = next((b for b in candidate.blocks if b.output["index"] == failure["index"]), None)
    if block is None:
        last = candidate.blocks[-1].name if candidate.blocks else "stem"
        found.add("forward_fails", last, f"after {last}, {failure['op']} {failure['name']!r} raised {failure['error']}")
        return
    shapes = failure["input_shapes"]
    main, short = tuple(shapes[block.main_input]), tuple(shapes[1 - block.main_input])
    text = (f"the residual add raised {failure['error']}: the main branch gives {main} after "
            f"{_strided(block, main=True)} (stride {block.stride} in total), the shortcut gives {short} after "
            f"{_strided(block, main=False)} (stride {block.shortcut_stride})")
    ref = ref_blocks.get(block.name)
    if ref is not None:
        text += f"; the reference strides {_strided(ref, main=True)} and its shortcut {_strided(ref, main=False)}"
    found.add("forward_fails", block.name, text)


def _strided(block: Block, main: bool) -> str:
    """The strided convs of a block's main branch (or its shortcut), 'name (KxK, stride S, padding P)'."""
    layers = [f"{block.name}_{role} ({_k(r['kernel'])}, stride {r['stride'][0]}, padding {_pad(r['padding'])})"
              for role, r in block.layers.items()
              if r["op"] == "conv" and r["stride"][0] > 1 and role.startswith("0_") != main]
    return ", ".join(layers) or "no strided conv"


def _stem_kind(structure: Structure) -> str | None:
    """'cifar' or 'imagenet' when the stem is exactly one of the two, else None."""
    conv = structure.stem.get("conv1_conv")
    return STEM_KINDS.get((tuple(conv["kernel"]), conv["stride"][0], "pool" in structure.stem)) if conv else None


def _stem_kind_explanation(candidate: Structure, kind: str, spec: ModelSpec) -> str:
    """What each stem is, and the torchvision-style model id with the candidate's stem, depths and blocks."""
    stems = specs.STEMS
    text = f"the candidate has {stems[kind].description}, {spec.model_id} has {stems[spec.stem].description}"
    basic = bool(candidate.blocks) and "3_conv" not in candidate.blocks[0].layers
    fitting = [m for m in specs.MODEL_IDS if (other := specs.get(m)).stem == kind and other.family == "torchvision"
               and other.depths == candidate.depths and (other.block_kind == "basic") == basic]
    if fitting:
        text += f"; it looks like {fitting[0]}: check it with --model {fitting[0]}"
    return text


def _compare_pool(candidate: Structure, reference: Structure, found: _Findings) -> None:
    cand, ref = candidate.stem["pool"], reference.stem["pool"]
    (cpad, cvalue), (rpad, rvalue) = (effective_padding(s.records, p) for s, p in ((candidate, cand), (reference, ref)))
    if (cand["op"], cand["kernel"], cand["stride"]) != (ref["op"], ref["kernel"], ref["stride"]):
        found.add("pool", "stem", f"{cand['op']} {_k(cand['kernel'])}/{cand['stride'][0]}, reference {ref['op']} "
                                  f"{_k(ref['kernel'])}/{ref['stride'][0]}")
    elif cpad != rpad:
        code = "asymmetric_padding" if _asymmetric(cpad) else "padding"
        found.add(code, "stem", f"stem max-pool padding {_pad(cpad)}, reference {_pad(rpad)}")
    if cvalue != rvalue and any(cpad) and any(rpad):
        after_relu = _after_relu(candidate.records, cand) and _after_relu(reference.records, ref)
        detail = (f"stem max-pool pads with {_value(cvalue)} where the reference pads with {_value(rvalue)}")
        if after_relu:
            found.add("pool_padding_value", "stem", detail + "; harmless here: the pool input is post-ReLU (>= 0)", NOTE)
        else:
            found.add("pool_padding_value", "stem", detail + "; the pool input is the raw conv output, which can be "
                                                             "negative, so border maxima differ")


def _compare_strides(candidate: Structure, reference: Structure, found: _Findings) -> None:
    """Which block of each stage, and which conv of each block, carries the stride."""
    cand_strided = [b.name for b in candidate.blocks if b.stride > 1]
    ref_strided = [b.name for b in reference.blocks if b.stride > 1]
    moved = set(cand_strided) ^ set(ref_strided) if candidate.depths == reference.depths else set()
    if moved:
        found.add("stride_block", min(moved, key=_block_rank),
                  f"the candidate strides in {_positions(cand_strided, candidate)}; the reference in "
                  f"{_positions(ref_strided, reference)}")
    ref_blocks = {b.name: b for b in reference.blocks}
    for block in candidate.blocks:
        ref = ref_blocks.get(block.name)
        if ref is None or block.name in moved:
            continue
        cstrides = _conv_strides(block)
        rstrides = _conv_strides(ref)
        if cstrides == rstrides:
            continue
        cat = {role for role, s in cstrides.items() if s > 1 and role != "0_conv"}
        rat = {role for role, s in rstrides.items() if s > 1 and role != "0_conv"}
        place = f"{block.name}_{min(cat | rat or {'1_conv'})}"
        if cat == {"1_conv"} and rat == {"2_conv"} and "3_conv" in block.layers:
            found.add("stride_on_1x1", place, "the strided blocks put stride 2 on their first 1x1 conv (_1_conv, "
                                              "as keras.applications ResNet50 = resnet50_v1 does); the reference "
                                              "strides the 3x3 (_2_conv, torchvision's v1.5)")
        elif cat == {"2_conv"} and rat == {"1_conv"} and "3_conv" in block.layers:
            found.add("stride_on_3x3", place, "the strided blocks put stride 2 on their 3x3 conv (_2_conv, "
                                              "torchvision's v1.5); the reference strides the first 1x1 (_1_conv, "
                                              "the original v1)")
        elif "3_conv" not in block.layers and cat == {"1_conv", "2_conv"}:
            found.add("basic_conv2_stride", f"{block.name}_2_conv",
                      "both 3x3 convs of the strided basic blocks have stride 2; only the first (_1_conv) should")
        elif cat != rat:
            found.add("stride", place, f"{block.name} strides {_convs(cat, block.name)}; the reference strides "
                                       f"{_convs(rat, block.name)}")


def _compare_block(candidate: Structure, reference: Structure, block: Block, ref: Block, found: _Findings) -> None:
    name = block.name
    strided_elsewhere = block.stride != ref.stride
    if (block.shortcut, ref.shortcut) == ("projection", "avgpool_projection"):
        found.add("resnet_d_no_avgpool", f"{name}_0_conv", f"{name}: the 1x1 projection strides "
                  f"{block.shortcut_stride} and so reads one position in four; ResNet-D averages each 2x2 window "
                  f"(AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False)) before a stride-1 1x1")
    elif block.shortcut != ref.shortcut and not (strided_elsewhere and {block.shortcut, ref.shortcut} <= {"identity", "maxpool"}):
        found.add("shortcut", name, f"{name}: {block.shortcut} shortcut, reference {ref.shortcut}")
    elif block.shortcut == "avgpool_projection" and block.shortcut_pool and ref.shortcut_pool:
        _compare_shortcut_pool(candidate, reference, block, ref, found)
    elif block.shortcut == "projection":
        if "0_bn" in ref.layers and "0_bn" not in block.layers:
            found.add("shortcut_bn_missing", f"{name}_0_bn", f"{name}: shortcut conv without BN")
        elif "0_bn" in block.layers and "0_bn" not in ref.layers:
            found.add("shortcut_bn_extra", f"{name}_0_conv", f"{name}: shortcut conv followed by a BN")
    failed = candidate.failure is not None and block.output["index"] == candidate.failure["index"]
    if block.relu_after_add != ref.relu_after_add and not failed:  # a failed add never reached its ReLU
        code = "relu_after_add_missing" if ref.relu_after_add else "relu_after_add_extra"
        found.add(code, name, "the sum goes on without a ReLU; the reference applies ReLU after every add"
                  if ref.relu_after_add else "the sum goes through a ReLU; the reference (pre-activation) has none")
    if _compare_sequence(block, ref, found):
        return  # pre- vs post-activation: the roles of the BNs do not correspond
    _compare_attention(block, ref, found)
    for role, rec in block.layers.items():
        layer = f"{name}_{role}"
        if role.startswith("se_") and "se_reduction" in found.by_code and role in ref.layers:
            continue
        if role not in ref.layers:
            if not (role.startswith("0_") and ({"shortcut", "shortcut_bn_extra"} & found.by_code.keys())):
                found.add("extra_layer", layer, f"{layer}: {rec['op']} the reference does not have")
        elif rec["op"] == "conv":
            _compare_conv(candidate, reference, layer, rec, ref.layers[role], found)
        elif rec["op"] == "bn":
            _compare_bn(layer, rec, ref.layers[role], found)
    for role in ref.layers.keys() - block.layers.keys():
        if role.startswith("0_") and ({"shortcut", "shortcut_bn_missing"} & found.by_code.keys()):
            continue
        found.add("missing_layer", f"{name}_{role}", f"{name}_{role} ({ref.layers[role]['op']}) is missing")


def _compare_shortcut_pool(candidate: Structure, reference: Structure, block: Block, ref: Block,
                           found: _Findings) -> None:
    """ResNet-D's shortcut pool: ceil mode and left-out padding matter only where its input is odd-sized; there the
    difference is an error, elsewhere a warning naming when it bites."""
    cand, want = block.shortcut_pool, ref.shortcut_pool
    size = candidate.records[producer(candidate.records, cand["inputs"][0])]["shape"][1:] if cand["inputs"] and \
        cand["inputs"][0] >= 0 else []
    odd = any(n % 2 for n in size)
    severity = ERROR if odd else WARNING
    at = (f"its input here is {_k(size)}, odd" if odd else
          f"equal at this run's {_k(size)} input, it differs wherever the map reaching it is odd-sized")
    cpad, _ = effective_padding(candidate.records, cand)
    if want.get("ceil_mode", False) and not cand.get("ceil_mode", False) and not any(cpad):
        found.add("avgpool_ceil_mode", f"{block.name}_0_conv", f"floor mode drops the last row and column of an odd "
                  f"map, so the shortcut comes out one smaller than the main branch's 3x3/2 and the add fails; {at}",
                  severity)
    explicit = cpad != list(cand["padding"])  # a pad op in front: its zeros are part of the pool's input
    counts = explicit or (any(cand["padding"]) and cand.get("count_include_pad", True))
    if counts and not any(effective_padding(reference.records, want)[0]):
        found.add("avgpool_count_pad", f"{block.name}_0_conv", f"padding {_pad(cpad)} is averaged in as zeros, so "
                  f"the last row and column of an odd map are halved; the reference averages only the map's own "
                  f"values (ceil_mode=True, count_include_pad=False; TF's 'same'); {at}", severity)


def _compare_attention(block: Block, ref: Block, found: _Findings) -> None:
    """Where the squeeze-excitation runs, its reduced width and its gate."""
    if block.attention_at is None or ref.attention_at is None:
        return
    if block.attention_at != ref.attention_at:
        found.add("se_after_add" if block.attention_at == "after_add" else "extra_layer", f"{block.name}_se_reduce",
                  f"{block.name}: the squeeze-excitation scales the block's output; timm's scales the main branch "
                  f"after bn3, before the shortcut is added")
    cand, want = block.layers.get("se_reduce"), ref.layers.get("se_reduce")
    if cand and want and cand["out_channels"] != want["out_channels"]:
        found.add("se_reduction", f"{block.name}_se_reduce", f"{block.name}: {cand['in_channels']} -> "
                  f"{cand['out_channels']} channels, reference {want['in_channels']} -> {want['out_channels']} "
                  f"(timm: make_divisible(channels / 16, 8))")
    if block.gate != ref.gate:
        found.add("se_gate", f"{block.name}_se_expand", f"{block.name}: gate {block.gate}, reference {ref.gate}")


def _compare_sequence(block: Block, ref: Block, found: _Findings) -> bool:
    """ReLU placement along the main branch: pre-activation order, missing or extra ReLUs; True if the order differs."""
    cand, want = block.sequence, ref.sequence
    if cand == want:
        return False
    if cand and want and (cand[0] == "conv") != (want[0] == "conv"):
        kind = "pre-activation (BN-ReLU before each conv)" if cand[0] != "conv" else "post-activation (conv-BN-ReLU)"
        ref_kind = "post-activation" if want[0] == "conv" else "pre-activation"
        found.add("preact_order", block.name, f"{block.name}: {kind}, reference {ref_kind}")
        return True
    crelu, rrelu = cand.count("relu"), want.count("relu")
    if crelu > rrelu:
        at = "before the add" if cand[-1] == "relu" and want[-1] != "relu" else "inside the branch"
        found.add("relu_extra", block.name, f"{block.name}: extra ReLU {at} ({' -> '.join(cand)})")
    elif crelu < rrelu:
        found.add("relu_missing", block.name, f"{block.name}: {' -> '.join(cand)}, reference {' -> '.join(want)}")
    return False


def _compare_conv(candidate: Structure, reference: Structure, name: str, cand: Record, ref: Record,
                  found: _Findings) -> None:
    if (cand["in_channels"], cand["out_channels"]) != (ref["in_channels"], ref["out_channels"]):
        found.add("channels", name, f"{name}: {cand['in_channels']}->{cand['out_channels']} channels, reference "
                                    f"{ref['in_channels']}->{ref['out_channels']}")
    if cand["kernel"] != ref["kernel"]:
        found.add("kernel", name, f"{name}: kernel {_k(cand['kernel'])}, reference {_k(ref['kernel'])}")
    if name == "conv1_conv" and cand["stride"] != ref["stride"]:
        found.add("stem", name, f"stem conv stride {cand['stride'][0]}, reference {ref['stride'][0]}")
    cpad, _ = effective_padding(candidate.records, cand)
    rpad, _ = effective_padding(reference.records, ref)
    if cpad != rpad and cand["kernel"] == ref["kernel"]:
        if _asymmetric(cpad) and not _asymmetric(rpad):
            found.add("asymmetric_padding", name, f"{name}: padding {_pad(cpad)} (TF/Keras 'same' at stride "
                                                  f"{cand['stride'][0]} pads the extra row and column at the "
                                                  f"bottom/right only), reference {_pad(rpad)}")
        else:
            found.add("padding", name, f"{name}: padding {_pad(cpad)}, reference {_pad(rpad)}")
    if cand["bias"] and not ref["bias"]:
        if _next_bn(candidate.records, cand):
            found.add("conv_bias_extra", name, "each feeds a BN, so a bias b folds into it (running_mean -= b), "
                      "but with the reference's running statistics it shifts the output unless b = 0; loaded as 0 "
                      "for the comparison", NOTE)
        else:
            found.add("conv_bias_extra", name, "no BN follows it; loaded as 0 for the comparison, a non-zero bias "
                      "changes the output", NOTE)
    elif ref["bias"] and not cand["bias"]:
        folded = _next_bn(reference.records, ref)
        found.add("conv_bias_missing", name, "the reference's bias feeds a BN: equivalent only after folding it "
                  "into that BN's running_mean (running_mean -= b)" if folded else
                  "the reference adds a bias here; without it the output differs")


def _compare_bn(name: str, cand: Record, ref: Record, found: _Findings) -> None:
    if not math.isclose(cand["eps"], ref["eps"], rel_tol=1e-6):
        found.add("bn_eps", name, f"eps {cand['eps']:g}, reference {ref['eps']:g}")
    if cand["channels"] != ref["channels"]:
        found.add("channels", name, f"{name}: {cand['channels']} channels, reference {ref['channels']}")


def _compare_head(candidate: Structure, reference: Structure, spec: ModelSpec, found: _Findings) -> None:
    cand, ref = candidate.head, reference.head
    if ("post_bn" in cand) != ("post_bn" in ref):
        found.add("post_norm", "post_bn" if "post_bn" in ref else "predictions",
                  "no post_bn+ReLU before the pool" if "post_bn" in ref else "a BN before the pool the reference lacks")
    elif "post_bn" in cand:
        _compare_bn("post_bn", cand["post_bn"], ref["post_bn"], found)
    if "gap" not in cand and "gap" in ref:
        found.add("head_pool", "predictions", "the classifier does not read a globally pooled feature")
    elif "gap" in cand and "gap" in ref:
        _compare_head_pool(candidate, reference, found)
    if "predictions" not in cand:
        found.add("missing_layer", "predictions", "no dense classifier")
    elif "predictions" in ref and cand["predictions"]["out_features"] != ref["predictions"]["out_features"]:
        found.add("channels", "predictions", f"{cand['predictions']['out_features']} classes, reference "
                                             f"{ref['predictions']['out_features']}")
    softmax = "softmax" in candidate.head_sequence
    if softmax and spec.default_head == "logits":
        found.add("head_softmax", "predictions", f"the model ends in softmax; {spec.model_id} outputs logits")
    elif not softmax and spec.default_head == "softmax":
        found.add("head_logits", "predictions", f"the model outputs logits; {spec.model_id} ends in softmax")


def _compare_head_pool(candidate: Structure, reference: Structure, found: _Findings) -> None:
    """A fixed average pool in place of a global one: a warning where its window is this run's whole final
    map (with the input sizes at which that holds), an error where it is not."""
    cand, ref = candidate.head["gap"], reference.head["gap"]
    if _pool_key(cand) == _pool_key(ref):
        return
    for structure, pool, whose in ((candidate, cand, "the candidate's"), (reference, ref, "the reference's")):
        if pool["op"] != "avgpool":
            continue
        window = pool["kernel"]
        final = structure.records[pool["inputs"][0]]["shape"][1:]
        name = f"{whose} fixed {_k(window)} average pool"
        if list(final) != list(window) or any(pool["padding"]):
            found.add("head_pool", "predictions", f"{name} (stride {pool['stride'][0]}, padding "
                      f"{_pad(pool['padding'])}) on the {_k(final)} final map leaves {_k(pool['shape'][1:])} "
                      f"positions, not their global average")
            return
        sizes = _input_sizes(structure.records, pool) or [0]  # [0]: an op on the way changes sizes untraceably
        at = ("this run's size only" if sizes == [0] else f"{sizes[0]}x{sizes[0]}" if len(sizes) == 1
              else f"{sizes[0]}x{sizes[0]} to {sizes[-1]}x{sizes[-1]}")
        found.add("head_fixed_pool", "predictions", f"{name} equals the global average only where the final map is "
                  f"{_k(window)}, at input {at}; it differs at other input sizes (a part of the map or several "
                  f"positions reach the classifier)", WARNING)
        return


def _pool_key(pool: Record) -> tuple:
    """What defines a head pool: 'gap', or an average pool's window, stride and padding."""
    return ("gap",) if pool["op"] == "gap" else (pool["op"], tuple(pool["kernel"]), tuple(pool["stride"]),
                                                 tuple(pool["padding"]))


def _input_sizes(records: Sequence[Record], pool: Record, limit: int = 8192) -> list[int]:
    """Square input sizes (up to `limit`) at which the map reaching `pool` equals its window, following the
    traced kernels, strides and paddings from the input to it (any branch of an add: their sizes agree)."""
    steps = []
    index = pool["inputs"][0]
    while index >= 0:
        record = records[index]
        if record["op"] in ("conv", "maxpool", "avgpool"):
            steps.append((record["kernel"][0], record["stride"][0], sum(record["padding"][:2])))
        elif record["op"] == "pad":
            steps.append((1, 1, sum(record["padding"][:2])))
        index = record["inputs"][0] if record["inputs"] else -1
    window, sizes = pool["kernel"][0], []
    for size in range(1, limit + 1):
        mapped = size
        for kernel, stride, padding in reversed(steps):
            mapped = (mapped + padding - kernel) // stride + 1 if mapped + padding >= kernel else 0
        if mapped == window:
            sizes.append(size)
        elif mapped > window:
            break
    return sizes


def _conv_strides(block: Block) -> dict[str, int]:
    return {role: r["stride"][0] for role, r in block.layers.items() if r["op"] == "conv"}


def _next_bn(records: Sequence[Record], conv: Record) -> bool:
    return any(r["op"] == "bn" and r["inputs"] and producer(records, r["inputs"][0]) == conv["index"] for r in records)


def _after_relu(records: Sequence[Record], op: Record) -> bool:
    source = producer(records, op["inputs"][0]) if op["inputs"] else -1
    return source >= 0 and records[source]["op"] == "relu"


def _positions(names: Sequence[str], structure: Structure) -> str:
    """'the first block of conv3, conv4' style description of where blocks sit in their stages."""
    where: dict[str, list[str]] = {}
    for stage in structure.stages:
        for i, block in enumerate(stage):
            if block.name in names:
                position = "first" if i == 0 else "last" if i == len(stage) - 1 else f"block {i + 1}"
                where.setdefault(position, []).append(block.name.split("_")[0])
    return "; ".join(f"the {position} block of {', '.join(stages)}" for position, stages in where.items()) or "no block"


def _convs(roles: set[str], block: str) -> str:
    return ", ".join(f"{block}_{role}" for role in sorted(roles)) or "no conv"


def _block_rank(name: str) -> tuple[int, int]:
    stage, block = name.removeprefix("conv").split("_block")
    return int(stage), int(block)


def _asymmetric(pad: Sequence[int]) -> bool:
    return pad[0] != pad[1] or pad[2] != pad[3]


def _pad(pad: Sequence[int]) -> str:
    return f"{pad[0]}" if not _asymmetric(pad) and pad[0] == pad[2] else f"top/bottom/left/right {list(pad)}"


def _k(kernel: Sequence[int]) -> str:
    return "x".join(str(k) for k in kernel)


def _value(value: float) -> str:
    return "-inf" if value == float("-inf") else f"{value:g}"

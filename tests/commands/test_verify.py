"""`crosscheck verify`: hand-written ResNets (tests/candidates/, written from the papers and in the styles
tutorials use, with their own layer names) are checked against model ids, or against the source they
translate, layer by layer, in float64; each deliberate translation bug must be caught, named (and
nothing else named), and located at the layer where it first changes the numbers.

Every run goes through the CLI, so each framework lives in its own worker process. Inputs are 64x64
to keep the default tier fast: every diagnosis here is independent of the input size, except a fixed
pool window in the head, checked at the CIFAR ids' own 32x32.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crosscheck import backends
from crosscheck import spec as specs
from crosscheck.cli import main
from crosscheck.verify import counterfactual, diagnose, graph

CANDIDATES = Path(__file__).parents[1] / "candidates"
TORCH = f"{CANDIDATES / 'blog_resnet_torch.py'}:BlogResNet"
KERAS = f"{CANDIDATES / 'paper_resnetv2_keras.py'}:resnet50v2"
PADDLE = f"{CANDIDATES / 'blog_resnet18_paddle.py'}"
KERAS_SUBCLASSED = f"{CANDIDATES / 'tf2_resnet18_keras.py'}:ResNet18"
TUTORIAL_TORCH = f"{CANDIDATES / 'blog_basicblock_torch.py'}:ResNet18"
PORTED_V2 = f"{CANDIDATES / 'ported_resnet50v2_torch.py'}:ResNet50V2"
RESNET_D = f"{CANDIDATES / 'blog_resnet_d_torch.py'}:BlogResNetD"
SE_RESNET = {"deep_stem": False, "avg_down": False, "se": True}  # the blog's SE-ResNet-50: 7x7 stem, plain shortcuts
RESNEXT = f"{CANDIDATES / 'blog_resnext_torch.py'}:BlogResNeXt"
KERAS_RESNEXT = f"{CANDIDATES / 'blog_resnext_keras.py'}:resnext50"
WIDE = {"cardinality": 1, "base_width": 128}  # BlogResNeXt's wide_resnet50_2
GATE = 1e-9  # the documented float64 gate (README): equal functions agree to ~1e-13 and below in float64
KUANGLIU = f"{CANDIDATES / 'kuangliu_cifar_resnet.py'}"
PADDLE_CIFAR = f"{CANDIDATES / 'blog_cifar_resnet18_paddle.py'}:ResNet18"
SMALL = {"torch": "3,64,64", "paddle": "3,64,64", "keras": "64,64,3"}
CIFAR = {"torch": "3,32,32", "paddle": "3,32,32", "keras": "32,32,3"}  # the CIFAR ids' own input size
# CIFAR ResNet18s whose head is a fixed 4x4 average pool (+ flatten or reshape), one per framework
FIXED_POOL_HEADS = {"torch": f"{KUANGLIU}:ResNet18", "paddle": PADDLE_CIFAR,
                    "keras": f"{CANDIDATES / 'cifar_resnet18_keras.py'}:resnet18"}
# findings that have a single-change counterfactual reference: (framework, finding) -> mutations tested
COUNTERFACTUALS = {
    ("torch", "stride_on_1x1"): ["stride_on=conv1"],
    ("torch", "bn_eps"): ["bn_eps=0.001"],
    ("paddle", "bn_eps"): ["bn_eps=0.001"],
    ("torch", "head_softmax"): ["head=softmax"],
    ("torch", "resnet_d_no_avgpool"): ["downsample=projection"],
    ("torch", "se_after_add"): ["attention_at=after_add"],
    ("torch", "se_gate"): ["gate=hard_sigmoid"],
    ("torch", "relu_after_add_missing"): ["relu_after_add=False"],
    ("paddle", "relu_after_add_missing"): ["relu_after_add=False"],
    ("keras", "relu_after_add_extra"): ["relu_after_add=True"],
    ("keras", "head_logits"): ["head=logits"],
    ("torch", "groups_3x3"): ["groups_3x3=1"],
    ("keras", "groups_3x3"): ["groups_3x3=1"],
    ("torch", "groups_on_1x1"): ["groups_1x1=32"],
    ("torch", "width_per_group"): ["inner_widths=4,4"],
    ("torch", "width_on_wrong_conv"): ["inner_widths=1,2"],
}


def verify(tmp_path: Path, target: str, framework: str, model: str | None, kwargs: dict | None = None,
           *extra: str) -> tuple[int, dict | None]:
    """Run the CLI; return its exit code and the JSON report (None when none was written)."""
    report = tmp_path / "verify.json"
    against = ["--model", model] if model else []
    code = main(["verify", target, "--framework", framework, *against, "--kwargs", json.dumps(kwargs or {}),
                 "--input-shape", SMALL[framework], "--json", str(report), *extra])
    return code, json.loads(report.read_text()) if report.exists() else None


def findings(report: dict) -> dict[str, dict]:
    return {f["code"]: f for f in report["findings"]}


def error_codes(report: dict) -> set[str]:
    return {f["code"] for f in report["findings"] if f["severity"] == "error"}


def test_correct_torch_resnet50_with_its_own_names_passes(tmp_path):
    plot = tmp_path / "curve.png"
    code, report = verify(tmp_path, TORCH, "torch", "resnet50", {"depth": 50}, "--plot", str(plot))
    assert code == 0, report
    assert report["passed"] and report["findings"] == [] and report["first_divergence"] is None
    assert report["candidate"]["depths"] == [3, 4, 6, 3]
    # every canonical layer of resnet50 aligned (107) plus stem, 16 block outputs and the output
    assert len(report["points"]) == 107 + 1 + 16 + 1
    assert report["gate"] == {"metric": "relative L2 error", "rtol": GATE, "dtype": "float64"}
    assert max(p["rel_l2"] for p in report["points"]) <= GATE
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_correct_keras_resnet50v2_from_the_paper_passes(tmp_path):
    code, report = verify(tmp_path, KERAS, "keras", "resnet50v2")
    assert code == 0, report
    assert report["findings"] == [] and max(p["rel_l2"] for p in report["points"]) <= GATE


def test_correct_paddle_resnet18_passes_in_float64(tmp_path):
    """Paddle keeps BN epsilon as a float32 attribute; the float64 floor must still sit under the gate."""
    code, report = verify(tmp_path, f"{PADDLE}:PaddleResNet18", "paddle", "resnet18")
    assert code == 0, report
    assert report["findings"] == [] and max(p["rel_l2"] for p in report["points"]) <= GATE


def test_bn_eps_off_by_a_thousandth_fails_the_float64_comparison_by_itself(tmp_path, capsys):
    """eps 1.001e-5 for 1e-5 moves the first BN by ~2.6e-9: invisible to a float32 gate (1e-5), caught in float64.
    With this one slip the closest model id is resnet18 itself, not resnet18_cifar (another stem, another class
    count, and the same slip)."""
    code, report = verify(tmp_path, TORCH, "torch", "resnet18", {"depth": 18, "eps": 1.001e-5})
    assert code == 1 and report["matches_other_model"] is None
    assert [a["model_id"] for a in report["alternatives"]] == ["resnet18_cifar"]
    assert report["closest"] == {"model_id": "resnet18", "differs_by": ["bn_eps"]}
    assert "closest: resnet18 itself (differs by: BatchNorm epsilon)" in " ".join(capsys.readouterr().out.split())
    points = {p["name"]: p["rel_l2"] for p in report["points"]}
    assert points["conv1_conv"] <= GATE  # before any BN the candidate is exact
    assert GATE < points["conv1_bn"] < 1e-5 and GATE < points["output"] < 1e-5  # the numbers alone reject it
    assert report["first_divergence"]["name"] == "conv1_bn"
    assert error_codes(report) == {"bn_eps"} and report["causes"] == ["bn_eps"]


def test_subclassed_keras_resnet18_with_custom_layers_passes(tmp_path):
    """tf.keras.Model subclass, blocks as custom Layers, tf.nn.relu(out + shortcut): traced at the op level."""
    code, report = verify(tmp_path, KERAS_SUBCLASSED, "keras", "resnet18")
    assert code == 0, report
    assert report["findings"] == [] and report["candidate"]["depths"] == [2, 2, 2, 2]
    assert len(report["points"]) == 41 + 1 + 8 + 1  # every resnet18 layer, the stem, 8 blocks, the output
    assert max(p["rel_l2"] for p in report["points"]) <= GATE


def test_subclassed_keras_same_padding_at_stride_2_is_named(tmp_path):
    """padding='same' at stride 2 pads bottom/right only: named at the stem conv and each strided 3x3, nothing else."""
    code, report = verify(tmp_path, KERAS_SUBCLASSED, "keras", "resnet18", {"same_padding": True}, "--no-alternatives")
    assert code == 1
    assert error_codes(report) == {"asymmetric_padding"}
    padding = findings(report)["asymmetric_padding"]
    assert padding["places"] == ["conv1_conv", "conv3_block1_1_conv", "conv4_block1_1_conv", "conv5_block1_1_conv"]
    assert "[2, 3, 2, 3]" in padding["explanation"] and "bottom/right" in padding["explanation"]
    assert report["first_divergence"]["name"] == "conv1_conv" and report["causes"] == ["asymmetric_padding"]


def test_basic_block_striding_twice_crashes_and_the_double_stride_is_named(tmp_path):
    """Both 3x3 convs strided: the forward fails at the add; that is a mismatch (exit 1) with the shapes explained."""
    code, report = verify(tmp_path, TUTORIAL_TORCH, "torch", "resnet18", {"double_stride": True})
    assert code == 1, report
    assert error_codes(report) == {"basic_conv2_stride", "forward_fails"}
    assert findings(report)["basic_conv2_stride"]["where"] == "conv3_block1_2_conv"
    crash = findings(report)["forward_fails"]
    assert crash["where"] == "conv3_block1"
    # 64x64 input: stem to 16x16, conv3's main branch strides 2*2 to 4x4, its shortcut 2 to 8x8
    assert "main branch gives (128, 4, 4)" in crash["explanation"] and "shortcut gives (128, 8, 8)" in crash["explanation"]
    assert "conv3_block1_2_conv (3x3, stride 2, padding 1)" in crash["explanation"]
    assert "stride 4 in total" in crash["explanation"] and "must match the size" in crash["explanation"]
    assert report["first_divergence"]["name"] == "conv3_block1_2_conv"
    assert report["causes"][0] == "basic_conv2_stride"
    assert report["points"][-1] == {"name": "output", "kind": "output", "rel_l2": None,
                                    "detail": "no output: the forward pass fails"}


@pytest.mark.slow
def test_subclassed_keras_block_striding_twice_fails_while_traced_and_is_named(tmp_path):
    """The same slip in a Keras subclassed model: TensorFlow fails to build the add; the same diagnosis."""
    code, report = verify(tmp_path, KERAS_SUBCLASSED, "keras", "resnet18", {"double_stride": True})
    assert code == 1, report
    assert error_codes(report) == {"basic_conv2_stride", "forward_fails"}
    crash = findings(report)["forward_fails"]
    assert crash["where"] == "conv3_block1" and "Dimensions must be equal, but are 4 and 8" in crash["explanation"]
    assert "main branch gives (128, 4, 4)" in crash["explanation"] and "shortcut gives (128, 8, 8)" in crash["explanation"]
    assert report["first_divergence"]["name"] == "conv3_block1_2_conv" and report["causes"][0] == "basic_conv2_stride"


def test_tutorial_basic_block_resnet18_passes(tmp_path):
    code, report = verify(tmp_path, TUTORIAL_TORCH, "torch", "resnet18")
    assert code == 0, report
    assert report["findings"] == [] and max(p["rel_l2"] for p in report["points"]) <= GATE


def test_port_of_a_nonstandard_resnet50v2_is_rejected_against_the_model_id(tmp_path):
    """A faithful torch port of a Keras ResNet50V2 with BN eps 1e-3 is not resnet50v2: eps is the only error."""
    code, report = verify(tmp_path, PORTED_V2, "torch", "resnet50v2", {"eps": 1e-3}, "--no-alternatives")
    assert code == 1
    assert error_codes(report) == {"bn_eps"}
    assert findings(report)["bn_eps"]["explanation"] == "eps 0.001, reference 1.001e-05"
    assert [t["mutation"] for t in report["counterfactuals"]] == ["bn_eps=0.001"]
    assert report["counterfactuals"][0]["explains"]


@pytest.mark.slow
def test_port_matches_its_keras_source_with_against(tmp_path):
    """The same port checked --against its Keras source (eps 1e-3 too): both described as resnet50v2 with
    bn_eps=0.001, the source's own weights carried over, equal in float64 at every point."""
    source = ["--against", KERAS, "--against-framework", "keras", "--against-kwargs", json.dumps({"eps": 1e-3})]
    code, report = verify(tmp_path, PORTED_V2, "torch", None, {"eps": 1e-3}, *source)
    assert code == 0, report
    assert report["nearest"] == {"source": {"model_id": "resnet50v2", "deviations": ["bn_eps=0.001"]},
                                 "candidate": {"model_id": "resnet50v2", "deviations": ["bn_eps=0.001"]}}
    assert report["findings"] == [] and len(report["points"]) == 121
    assert max(p["rel_l2"] for p in report["points"]) <= GATE


@pytest.mark.slow
def test_port_with_the_standard_eps_diverges_from_its_nonstandard_source(tmp_path):
    """Against its source (eps 1e-3), a port that kept keras.applications' 1.001e-5 diverges at the first BN."""
    source = ["--against", KERAS, "--against-framework", "keras", "--against-kwargs", json.dumps({"eps": 1e-3})]
    code, report = verify(tmp_path, PORTED_V2, "torch", None, {}, *source)
    assert code == 1
    assert error_codes(report) == {"bn_eps"} and report["causes"] == ["bn_eps"]
    assert report["first_divergence"]["name"] == "conv2_block1_preact_bn"


@pytest.mark.parametrize("framework, target, model, kwargs, code, where, divergence", [
    # v1 vs v1.5: the stride moved from the 3x3 to the first 1x1
    ("torch", TORCH, "resnet50", {"stride_on_1x1": True}, "stride_on_1x1", "conv3_block1_1_conv", "conv3_block1_1_conv"),
    ("torch", TORCH, "resnet18", {"depth": 18, "relu_after_add": False}, "relu_after_add_missing", "conv2_block1",
     "conv2_block1"),
    ("torch", TORCH, "resnet18", {"depth": 18, "extra_relu": True}, "relu_extra", "conv2_block1", "conv2_block1"),
    ("torch", TORCH, "resnet18", {"depth": 18, "eps": 1e-3}, "bn_eps", "conv1_bn", "conv1_bn"),
    ("torch", TORCH, "resnet18", {"depth": 18, "softmax": True}, "head_softmax", "predictions", "output"),
    ("torch", TORCH, "resnet18", {"depth": 18, "stem_width": 32}, "channels", "conv1_conv", "conv1_conv"),
    ("torch", TORCH, "resnet18", {"depth": 18, "shortcut_bn": False}, "shortcut_bn_missing", "conv3_block1_0_bn",
     "conv3_block1_0_bn"),
    # the blog code also strides its shortcut twice to keep the add's shapes equal; torchvision runs the
    # shortcut after the main branch, so the strided second conv is the first point whose shape differs
    ("torch", TORCH, "resnet18", {"depth": 18, "second_conv_stride": True}, "basic_conv2_stride",
     "conv3_block1_2_conv", "conv3_block1_2_conv"),
    # ResNet-D written as torchvision's downsample: the stride stays on the shortcut's 1x1, no average pool
    ("torch", RESNET_D, "resnet50d", {"avg_down": False}, "resnet_d_no_avgpool", "conv3_block1_0_conv",
     "conv3_block1_0_conv"),
    # SE on the block output: its squeeze reads the sum, not bn3's output
    ("torch", RESNET_D, "seresnet50", SE_RESNET | {"se_after_add": True}, "se_after_add", "conv2_block1_se_reduce",
     "conv2_block1_se_reduce"),
    pytest.param("torch", RESNET_D, "seresnet50", SE_RESNET | {"hard_gate": True}, "se_gate", "conv2_block1_se_expand",
                 "conv2_block1", marks=pytest.mark.slow),
    pytest.param("torch", RESNET_D, "seresnet50", SE_RESNET | {"se_reduction": 8}, "se_reduction",
                 "conv2_block1_se_reduce", "conv2_block1_se_reduce", marks=pytest.mark.slow),
    # V2 strides in the LAST block of conv2..conv4; a port from v1 code strides the first block of conv3..conv5
    ("keras", KERAS, "resnet50v2", {"stride_first": True}, "stride_block", "conv2_block3", "conv2_block3_2_conv"),
    ("paddle", f"{PADDLE}:PaddleResNet18", "resnet18", {"stride_on_second": True}, "stride", "conv3_block1_1_conv",
     "conv3_block1_1_conv"),
    ("paddle", f"{PADDLE}:PaddleResNet18", "resnet18", {"eps": 1e-3}, "bn_eps", "conv1_bn", "conv1_bn"),
    ("paddle", f"{PADDLE}:PaddleResNet18", "resnet18", {"relu_after_add": False}, "relu_after_add_missing",
     "conv2_block1", "conv2_block1"),
    # ResNeXt without `groups` on its 3x3 (each 3x3 then sees all the inner channels)
    ("torch", RESNEXT, "resnext50_32x4d", {"forget_groups": True}, "groups_3x3", "conv2_block1_2_conv",
     "conv2_block1_2_conv"),
    # the same slip in Keras, whose grouped conv runs through a compiled function on the CPU
    pytest.param("keras", KERAS_RESNEXT, "resnext50_32x4d", {"forget_groups": True}, "groups_3x3",
                 "conv2_block1_2_conv", "conv2_block1_2_conv", marks=pytest.mark.slow),
    # `groups` passed to every conv of the unit; the first grouped 1x1 is the first point that differs
    pytest.param("torch", RESNEXT, "resnext50_32x4d", {"groups_everywhere": True}, "groups_on_1x1",
                 "conv2_block1_1_conv", "conv2_block1_1_conv", marks=pytest.mark.slow),
    # 32x8d's width per group in a 32x4d: the first 1x1 is the first conv whose output shape differs
    pytest.param("torch", RESNEXT, "resnext50_32x4d", {"base_width": 8}, "width_per_group", "conv2_block1_1_conv",
                 "conv2_block1_1_conv", marks=pytest.mark.slow),
    # Wide ResNet's factor on the 3x3 only: its first 1x1 stays planes wide
    pytest.param("torch", RESNEXT, "wide_resnet50_2", {**WIDE, "widen_only_3x3": True}, "width_on_wrong_conv",
                 "conv2_block1_1_conv", "conv2_block1_1_conv", marks=pytest.mark.slow),
    pytest.param("keras", KERAS, "resnet50v2", {"same_padding": True}, "asymmetric_padding", "conv1_conv",
                 "conv1_conv", marks=pytest.mark.slow),
    pytest.param("keras", KERAS, "resnet50v2", {"pool_same": True}, "pool_padding_value", "stem", "stem",
                 marks=pytest.mark.slow),
    pytest.param("keras", KERAS, "resnet50v2", {"relu_after_add": True}, "relu_after_add_extra", "conv2_block1",
                 "conv2_block1", marks=pytest.mark.slow),
    pytest.param("keras", KERAS, "resnet50v2", {"logits": True}, "head_logits", "predictions", "output",
                 marks=pytest.mark.slow),
    pytest.param("keras", KERAS, "resnet50v2", {"conv_shortcut_on_stride": True}, "shortcut", "conv2_block3",
                 "conv2_block3", marks=pytest.mark.slow),
])
def test_translation_bug_is_named_at_the_layer_where_it_diverges(tmp_path, framework, target, model, kwargs, code,
                                                                  where, divergence):
    exit_code, report = verify(tmp_path, target, framework, model, kwargs, "--no-alternatives")
    assert exit_code == 1, report
    found = findings(report)
    assert code in found, report["findings"]
    assert found[code]["severity"] == "error" and found[code]["where"] == where
    # and nothing else is blamed (a narrower stem also turns conv2_block1's identity into a projection;
    # a 'same' max-pool at stride 2 both pads bottom/right only and pads with -inf)
    also = {"channels": {"shortcut"}, "pool_padding_value": {"asymmetric_padding"}}.get(code, set())
    assert error_codes(report) == {code} | also, report["findings"]
    assert report["first_divergence"]["name"] == divergence
    assert code in report["causes"]
    # a counterfactual reference (the spec with exactly this change) reproduces the candidate at every point
    for test in report["counterfactuals"]:
        assert test["finding"] == code and test["explains"] and test["max_rel_l2"] <= GATE, test
    assert [t["mutation"] for t in report["counterfactuals"]] == COUNTERFACTUALS.get((framework, code), [])
    # every cause named carries its counterfactual or the reason none can be built
    covered = {t["finding"] for t in report["counterfactuals"]} | {n["finding"] for n in report["no_counterfactual"]}
    assert set(report["causes"]) <= covered and all(n["why"] for n in report["no_counterfactual"])


@pytest.mark.parametrize("framework", backends.names())
@pytest.mark.parametrize("code", sorted(diagnose.TITLES))
def test_every_finding_has_a_counterfactual_or_says_why_not(code, framework):
    """Exactly one of: a single-change mutation that changes the spec, or a reason why none can be built."""
    # a reference the finding can occur against
    spec = specs.get({"relu_after_add_extra": "resnet50v2", "stride_on_3x3": "resnet50_v1", "resnet_d_no_avgpool":
                      "resnet50d", "se_after_add": "seresnet50", "se_gate": "seresnet50",
                      "groups_3x3": "resnext50_32x4d", "groups_on_1x1": "resnext50_32x4d",
                      "width_per_group": "wide_resnet50_2", "width_on_wrong_conv": "wide_resnet50_2"}.get(code, "resnet50"))
    finding = diagnose.Finding(code, diagnose.ERROR, ["conv1_conv"])
    proposed = counterfactual.mutations([finding], graph.Structure(records=[]), spec, framework)
    why = counterfactual.absent(code, framework)
    assert bool(proposed) != bool(why), (proposed, why)
    for mutation in proposed:
        assert mutation.code == code and counterfactual.mutate(spec, mutation.name, mutation.value) != spec


@pytest.mark.slow
def test_post_activation_port_of_v2_is_named(tmp_path):
    """conv-BN-ReLU units where V2 pre-activates: the stem's extra BN diverges first, every unit is named."""
    code, report = verify(tmp_path, KERAS, "keras", "resnet50v2", {"postact": True}, "--no-alternatives")
    assert code == 1
    found = findings(report)
    assert found["preact_order"]["where"] == "conv2_block1" and len(found["preact_order"]["places"]) == 16
    assert {"stem", "post_norm", "relu_after_add_extra"} <= found.keys()
    assert report["first_divergence"]["name"] == "stem" and report["causes"] == ["stem"]


def test_counterfactual_mutations_keep_the_spec_consistent():
    """Moving resnet50's stride to the 1x1 gives resnet50_v1's strides and shapes; eps reaches every BN."""
    v15, v1 = specs.get("resnet50"), specs.get("resnet50_v1")
    moved = counterfactual.mutate(v15, "stride_on", "conv1")
    assert [(l.name, l.stride, l.output_shape) for l in moved.layers] == \
        [(l.name, l.stride, l.output_shape) for l in v1.layers]
    assert all(b.stride_on == "conv1" for b in moved.blocks)
    eps = counterfactual.mutate(v15, "bn_eps", 1e-3)
    assert {l.eps for l in eps.layers if l.kind == "bn"} == {1e-3} and eps.bn_eps == 1e-3
    assert v15.layer("conv1_bn").eps == 1e-5 and v15.layer("conv3_block1_2_conv").stride == 2  # original untouched


@pytest.mark.parametrize("slip, code", [({"floor_pool": True}, "avgpool_ceil_mode"),
                                        pytest.param({"padded_pool": True}, "avgpool_count_pad", marks=pytest.mark.slow)],
                         ids=["floor_mode", "counted_padding"])
def test_resnet_d_shortcut_pool_slips_are_errors_where_a_map_is_odd(tmp_path, slip, code):
    """At 56x56 conv4_block1's shortcut pool reads a 7x7 map: floor mode leaves the shortcut 3x3 against the main
    branch's 4x4 (the add fails), counted zero padding halves its last row and column. conv3_block1's and
    conv5_block1's maps are even, where both slips compute the reference's numbers: the same finding, said there."""
    report = tmp_path / "verify.json"
    exit_code = main(["verify", RESNET_D, "--framework", "torch", "--model", "resnet50d", "--kwargs", json.dumps(slip),
                      "--input-shape", "3,56,56", "--no-alternatives", "--json", str(report)])
    found = findings(json.loads(report.read_text()))
    assert exit_code == 1 and found[code]["severity"] == "error"
    assert found[code]["places"][0] == "conv4_block1_0_conv" and "7x7, odd" in found[code]["explanation"]
    # (a floor-mode forward stops at conv4_block1's add, so conv5_block1 is never traced)
    assert {"conv3_block1_0_conv", "conv4_block1_0_conv"} <= set(found[code]["places"]) <= \
        {"conv3_block1_0_conv", "conv4_block1_0_conv", "conv5_block1_0_conv"}
    assert set(found) - {code} <= {"forward_fails"}


@pytest.mark.slow
def test_resnet_d_shortcut_pool_slips_are_warnings_where_every_map_is_even(tmp_path):
    """At 64x64 every shortcut pool reads an even map: floor mode and counted padding give the reference's numbers,
    so the candidate matches, warned where the slips would bite."""
    code, report = verify(tmp_path, RESNET_D, "torch", "resnet50d", {"padded_pool": True}, "--no-alternatives")
    assert code == 0 and error_codes(report) == set()
    assert {f["code"]: f["severity"] for f in report["findings"]} == {"avgpool_count_pad": "warning"}


def test_resnet_d_counterfactual_is_torchvisions_projection_on_the_same_layers():
    """resnet50d with its average pools taken out: every shortcut 1x1 strides as torchvision's resnet50's does, at
    torchvision's module paths (downsample.0, .1), and nothing else moves."""
    plain = counterfactual.mutate(specs.get("resnet50d"), "downsample", "projection")
    torchvision = {l.name: (l.stride, l.module_path, l.output_shape) for l in specs.get("resnet50").layers}
    shortcuts = [l for l in plain.layers if l.name.split("_", 2)[-1] in ("0_conv", "0_bn")]
    assert [(l.stride, l.module_path, l.output_shape) for l in shortcuts] == [torchvision[l.name] for l in shortcuts]
    assert all(b.shortcut in ("projection", "identity") for b in plain.blocks)
    assert [l for l in plain.layers if l not in shortcuts] == \
        [l for l in specs.get("resnet50d").layers if l.name not in {s.name for s in shortcuts}]
    late = counterfactual.mutate(specs.get("seresnet50"), "attention_at", "after_add")
    assert {(b.attention_at, b.gate) for b in late.blocks} == {("after_add", "sigmoid")}
    hard = counterfactual.mutate(specs.get("seresnet50"), "gate", "hard_sigmoid")
    assert {(b.attention_at, b.gate) for b in hard.blocks} == {("before_add", "hard_sigmoid")}


def _shapes(spec: specs.ModelSpec) -> list[tuple]:
    return [(l.name, l.in_channels, l.out_channels, l.groups, dict(l.shapes), l.output_shape) for l in spec.layers]


def test_reshaping_mutations_give_the_layers_of_the_id_they_turn_into():
    """torchvision's builders: resnext50_32x4d without groups has wide_resnet50_2's layers (32 x 4 = 128 = 64 x 2 at
    64 planes), wide_resnet50_2 at width factor 1 is resnet50; grouped 1x1s divide those weights' inputs."""
    resnext, wide = specs.get("resnext50_32x4d"), specs.get("wide_resnet50_2")
    assert _shapes(counterfactual.mutate(resnext, "groups_3x3", 1)) == _shapes(wide)
    assert _shapes(counterfactual.mutate(wide, "inner_widths", "1,1")) == _shapes(specs.get("resnet50"))
    assert _shapes(counterfactual.mutate(wide, "inner_widths", "2,2")) == _shapes(wide)
    grouped = counterfactual.mutate(resnext, "groups_1x1", 32)
    assert grouped.layer("conv2_block1_1_conv").shapes["weight"] == (128, 2, 1, 1)
    assert grouped.layer("conv2_block1_3_conv").shapes["weight"] == (256, 4, 1, 1)
    assert grouped.layer("conv2_block1_0_conv") == resnext.layer("conv2_block1_0_conv")  # the shortcut untouched


def test_foldable_conv_bias_is_a_note_and_matches_when_zero(tmp_path):
    """A conv bias feeding a BN is named, loaded as zero, and the numbers still match (exit 0)."""
    code, report = verify(tmp_path, TORCH, "torch", "resnet18", {"depth": 18, "conv_bias": True})
    assert code == 0, report
    bias = findings(report)["conv_bias_extra"]
    assert bias["severity"] == "note" and bias["where"] == "conv1_conv" and len(bias["places"]) == 20
    assert "unless b = 0" in bias["explanation"]
    assert any("loaded as zeros" in note for note in report["weight_notes"])


def test_zero_padded_stem_pool_after_relu_is_harmless(tmp_path):
    code, report = verify(tmp_path, TORCH, "torch", "resnet18", {"depth": 18, "pool_pad": "zero"})
    assert code == 0
    assert findings(report)["pool_padding_value"]["severity"] == "note"


def test_bug_that_makes_another_model_id_is_reported_as_that_id(tmp_path):
    """resnet50_v1 (stride on the 1x1, biases, eps 1.001e-5) checked as resnet50: it *is* resnet50_v1."""
    kwargs = {"stride_on_1x1": True, "conv_bias": True, "eps": 1.001e-5, "softmax": True}
    code, report = verify(tmp_path, TORCH, "torch", "resnet50", kwargs)
    assert code == 1
    # in float64 the epsilon (1.001e-5 for 1e-5) already moves conv1_bn: it diverges first
    assert report["first_divergence"]["name"] == "conv1_bn" and report["causes"] == ["bn_eps"]
    assert {"stride_on_1x1", "bn_eps", "head_softmax"} <= error_codes(report)
    assert report["matches_other_model"] == "resnet50_v1"


def test_wrong_depth_is_named_and_the_matching_model_id_found(tmp_path):
    """A ResNet34 checked as resnet18: blocks per stage differ, and resnet34 matches it exactly."""
    code, report = verify(tmp_path, TORCH, "torch", "resnet18", {"depth": 34})
    assert code == 1
    assert findings(report)["depths"]["explanation"] == "blocks per stage (3, 4, 6, 3), reference (2, 2, 2, 2)"
    assert report["matches_other_model"] == "resnet34"


def test_subclassed_keras_model_without_residuals_is_read_and_is_not_a_resnet(tmp_path):
    code, report = verify(tmp_path, f"{CANDIDATES / 'paper_resnetv2_keras.py'}:Subclassed", "keras", "resnet18")
    assert code == 1 and "no residual additions" in report["not_a_resnet"]


@pytest.mark.parametrize("framework", backends.default_names())  # the engines verify traces
def test_fixed_pool_over_the_whole_final_map_is_a_warning_and_the_numbers_decide(tmp_path, capsys, framework):
    """A CIFAR ResNet18 whose head is a fixed 4x4 average pool (kuangliu's torch code, its Paddle port, a Keras
    AveragePooling2D(4) + Flatten) is resnet18_cifar at the id's 32x32 input: one warning, MATCH. The final map
    is ceil(s/8) after three stride-2 3x3 convs with padding 1, so the window covers it exactly for s in 25..32."""
    report = tmp_path / "verify.json"
    code = main(["verify", FIXED_POOL_HEADS[framework], "--framework", framework, "--model", "resnet18_cifar",
                 "--json", str(report)])
    report = json.loads(report.read_text())
    assert code == 0, report
    assert report["candidate"]["input_shape"] == [int(v) for v in CIFAR[framework].split(",")]
    assert [(f["code"], f["severity"], f["where"]) for f in report["findings"]] == \
        [("head_fixed_pool", "warning", "predictions")]
    assert "fixed 4x4 average pool equals the global average only where the final map is 4x4, at input 25x25 to " \
           "32x32; it differs at other input sizes" in report["findings"][0]["explanation"]
    assert len(report["points"]) == 41 + 8 + 1  # every canonical layer, 8 blocks, the output (no stem pool point)
    assert max(p["rel_l2"] for p in report["points"]) <= GATE
    out = " ".join(capsys.readouterr().out.split())
    assert "warning: a fixed-window average pool in place of a global one" in out and "MATCH: the candidate computes resnet18_cifar" in out


@pytest.mark.parametrize("window, size, errors, pooled", [
    (2, 32, {"head_pool"}, "fixed 2x2 average pool (stride 2, padding 0) on the 4x4 final map leaves 2x2 positions"),
    # the warning's claim: at 64x64 the same 4x4 window leaves 2x2 positions and the 512-wide classifier fails
    (4, 64, {"head_pool", "forward_fails"}, "fixed 4x4 average pool (stride 4, padding 0) on the 8x8 final map "
                                            "leaves 2x2 positions"),
], ids=["window-2", "input-64"])
def test_fixed_pool_smaller_than_the_final_map_stays_an_error(tmp_path, window, size, errors, pooled):
    """A window smaller than the final map changes the function: an error, with the pool and the map named."""
    code, report = verify(tmp_path, PADDLE_CIFAR, "paddle", "resnet18_cifar", {"window": window}, "--no-alternatives",
                          "--input-shape", f"3,{size},{size}")
    assert code == 1
    assert error_codes(report) == errors and "head_fixed_pool" not in findings(report)
    assert pooled in findings(report)["head_pool"]["explanation"]
    assert report["first_divergence"]["name"] == "predictions" and "head_pool" in report["causes"]
    assert {n["finding"] for n in report["no_counterfactual"]} == set(report["causes"])


@pytest.mark.parametrize("target, model, cifar_id_matches, suggested", [
    (f"{KUANGLIU}:ResNet18", "resnet18", True, "resnet18_cifar"),
    (TORCH, "resnet18_cifar", False, "resnet18"),
])
def test_stem_kind_is_one_finding_that_names_the_fitting_id(tmp_path, target, model, cifar_id_matches, suggested):
    """A CIFAR stem checked against the ImageNet one (or the reverse) is one cause, and the id with the candidate's
    stem is named; the CIFAR ResNet then matches resnet18_cifar among the alternatives."""
    args = ["--input-shape", "3,32,32"] + ([] if cifar_id_matches else ["--no-alternatives"])
    report = tmp_path / "verify.json"
    kwargs = [] if cifar_id_matches else ["--kwargs", json.dumps({"depth": 18})]
    code = main(["verify", target, "--framework", "torch", "--model", model, *kwargs, *args, "--json", str(report)])
    report = json.loads(report.read_text())
    assert code == 1
    found = findings(report)
    assert found["stem_kind"]["where"] == "conv1_conv" and found["stem_kind"]["severity"] == "error"
    assert f"it looks like {suggested}: check it with --model {suggested}" in found["stem_kind"]["explanation"]
    assert not {"kernel", "pool"} & found.keys()  # not three findings for one cause
    assert report["first_divergence"]["name"] == "conv1_conv" and "stem_kind" in report["causes"]
    if cifar_id_matches:
        assert report["matches_other_model"] == "resnet18_cifar"


def test_not_a_resnet_is_a_clear_mismatch(tmp_path, capsys):
    code, report = verify(tmp_path, f"{PADDLE}:NotAResNet", "paddle", "resnet18")
    assert code == 1
    assert "not a ResNet" in report["not_a_resnet"]
    assert "NOT A RESNET" in capsys.readouterr().out


@pytest.mark.parametrize("target, framework, message", [
    (f"{PADDLE}:broken_constructor", "paddle", "broken_constructor(**{}) raised RuntimeError: this constructor needs "
                                               "a pretrained checkpoint path (blog_resnet18_paddle.py:65)"),
    (f"{CANDIDATES / 'does_not_import.py'}:ResNet50", "torch",
     "does not import: ModuleNotFoundError: No module named 'resnet_helpers' (does_not_import.py:3)"),
    (f"{PADDLE}:NoSuchClass", "paddle", "defines no callable 'NoSuchClass'"),
])
def test_candidate_that_cannot_be_built_is_a_clear_error_with_exit_2(tmp_path, capsys, target, framework, message):
    code, report = verify(tmp_path, target, framework, "resnet18")
    assert code == 2 and report is None  # no half-written report
    err = " ".join(capsys.readouterr().err.split())
    assert message in err and "Traceback" not in err


@pytest.mark.parametrize("argv, message", [
    ([TORCH.replace(":", "")], "expected FILE.py:CALLABLE"),
    (["nowhere.py:Net"], "nowhere.py: no such file"),
    ([TORCH, "--kwargs", "{depth: 50}"], "--kwargs is not valid JSON"),
    ([TORCH, "--input-shape", "224,224,3"], "--input-shape must be 3,H,W"),
    ([TORCH, "--model", "resnet9"], "valid ids: resnet18"),
    ([TORCH, "--json", "/nonexistent-dir/v.json"], "/nonexistent-dir does not exist"),
    ([TORCH, "--against", KERAS], "--against needs --against-framework"),
    ([TORCH, "--against", "nowhere.py:f", "--against-framework", "keras"], "nowhere.py: no such file"),
    ([TORCH, "--model", "resnet50", "--against", KERAS, "--against-framework", "keras"], "either --model or --against"),
    ([TORCH, "--against", KERAS, "--against-framework", "keras", "--against-kwargs", "[1]"],
     "--against-kwargs must be a JSON object"),
])
def test_usage_errors_exit_2_before_any_work(argv, message, capsys):
    args = ["verify", *argv, "--framework", "torch"]
    if "--model" not in argv and "--against" not in argv:
        args += ["--model", "resnet50"]
    assert main(args) == 2
    assert message in " ".join(capsys.readouterr().err.split())


def test_neither_a_model_id_nor_a_source_is_a_usage_error(capsys):
    assert main(["verify", TORCH, "--framework", "torch"]) == 2
    assert "give --model ID, or --against" in capsys.readouterr().err


@pytest.mark.slow
def test_paddle_resnet18_against_a_torch_tutorial_source_sits_at_the_float64_floor(tmp_path):
    """Across frameworks the float64 floor stays far below the gate, although paddle keeps BN eps in float32."""
    source = ["--against", TUTORIAL_TORCH, "--against-framework", "torch"]
    code, report = verify(tmp_path, f"{PADDLE}:PaddleResNet18", "paddle", None, {}, *source)
    assert code == 0, report
    assert report["nearest"]["source"] == {"model_id": "resnet18", "deviations": []}
    assert 0 < max(p["rel_l2"] for p in report["points"]) <= GATE / 10

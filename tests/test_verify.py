"""`crosscheck verify`: hand-written ResNets (tests/candidates/, written from the papers with their own
layer names) are checked against model ids layer by layer; each deliberate translation bug must be
caught, named, and located at the layer where it first changes the numbers.

Every run goes through the CLI, so each framework lives in its own worker process. Inputs are 64x64
to keep the default tier fast: every diagnosis here is independent of the input size.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crosscheck import spec as specs
from crosscheck.cli import main
from crosscheck.verify import counterfactual

CANDIDATES = Path(__file__).parent / "candidates"
TORCH = f"{CANDIDATES / 'blog_resnet_torch.py'}:BlogResNet"
KERAS = f"{CANDIDATES / 'paper_resnetv2_keras.py'}:resnet50v2"
PADDLE = f"{CANDIDATES / 'blog_resnet18_paddle.py'}"
KUANGLIU = f"{CANDIDATES / 'kuangliu_cifar_resnet.py'}"
SMALL = {"torch": "3,64,64", "paddle": "3,64,64", "keras": "64,64,3"}
# findings that have a single-change counterfactual reference: (framework, finding) -> mutations tested
COUNTERFACTUALS = {
    ("torch", "stride_on_1x1"): ["stride_on=conv1"],
    ("torch", "bn_eps"): ["bn_eps=0.001"],
    ("paddle", "bn_eps"): ["bn_eps=0.001"],
    ("torch", "head_softmax"): ["head=softmax"],
    ("keras", "head_logits"): ["head=logits"],
}


def verify(tmp_path: Path, target: str, framework: str, model: str, kwargs: dict | None = None,
           *extra: str) -> tuple[int, dict | None]:
    """Run the CLI; return its exit code and the JSON report (None when none was written)."""
    report = tmp_path / "verify.json"
    code = main(["verify", target, "--framework", framework, "--model", model, "--kwargs", json.dumps(kwargs or {}),
                 "--input-shape", SMALL[framework], "--json", str(report), *extra])
    return code, json.loads(report.read_text()) if report.exists() else None


def findings(report: dict) -> dict[str, dict]:
    return {f["code"]: f for f in report["findings"]}


def test_correct_torch_resnet50_with_its_own_names_passes(tmp_path):
    plot = tmp_path / "curve.png"
    code, report = verify(tmp_path, TORCH, "torch", "resnet50", {"depth": 50}, "--plot", str(plot))
    assert code == 0, report
    assert report["passed"] and report["findings"] == [] and report["first_divergence"] is None
    assert report["candidate"]["depths"] == [3, 4, 6, 3]
    # every canonical layer of resnet50 aligned (107) plus stem, 16 block outputs and the output
    assert len(report["points"]) == 107 + 1 + 16 + 1
    assert max(p["rel_l2"] for p in report["points"]) <= 1e-5
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_correct_keras_resnet50v2_from_the_paper_passes(tmp_path):
    code, report = verify(tmp_path, KERAS, "keras", "resnet50v2")
    assert code == 0, report
    assert report["findings"] == [] and report["points"][-1]["rel_l2"] <= 1e-5


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
    # V2 strides in the LAST block of conv2..conv4; a port from v1 code strides the first block of conv3..conv5
    ("keras", KERAS, "resnet50v2", {"stride_first": True}, "stride_block", "conv2_block3", "conv2_block3_2_conv"),
    ("paddle", f"{PADDLE}:PaddleResNet18", "resnet18", {"stride_on_second": True}, "stride", "conv3_block1_1_conv",
     "conv3_block1_1_conv"),
    ("paddle", f"{PADDLE}:PaddleResNet18", "resnet18", {"eps": 1e-3}, "bn_eps", "conv1_bn", "conv1_bn"),
    ("paddle", f"{PADDLE}:PaddleResNet18", "resnet18", {"relu_after_add": False}, "relu_after_add_missing",
     "conv2_block1", "conv2_block1"),
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
    assert report["first_divergence"]["name"] == divergence
    assert code in report["causes"]
    # a counterfactual reference (the spec with exactly this change) reproduces the candidate at every point
    for test in report["counterfactuals"]:
        assert test["finding"] == code and test["explains"] and test["max_rel_l2"] <= 1e-5, test
    assert [t["mutation"] for t in report["counterfactuals"]] == COUNTERFACTUALS.get((framework, code), [])


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
    assert "stride_on_1x1" in report["causes"]
    assert report["matches_other_model"] == "resnet50_v1"


def test_wrong_depth_is_named_and_the_matching_model_id_found(tmp_path):
    """A ResNet34 checked as resnet18: blocks per stage differ, and resnet34 matches it exactly."""
    code, report = verify(tmp_path, TORCH, "torch", "resnet18", {"depth": 34})
    assert code == 1
    assert findings(report)["depths"]["explanation"] == "blocks per stage (3, 4, 6, 3), reference (2, 2, 2, 2)"
    assert report["matches_other_model"] == "resnet34"


def test_correct_cifar_resnet_passes_as_its_cifar_id_at_32x32(tmp_path):
    """kuangliu/pytorch-cifar's ResNet18 is resnet18_cifar: checked at the id's default 3x32x32 input."""
    report = tmp_path / "verify.json"
    code = main(["verify", f"{KUANGLIU}:ResNet18", "--framework", "torch", "--model", "resnet18_cifar",
                 "--json", str(report)])
    report = json.loads(report.read_text())
    assert code == 0, report
    assert report["candidate"]["input_shape"] == [3, 32, 32] and report["findings"] == []
    assert len(report["points"]) == 41 + 8 + 1  # every canonical layer, 8 blocks, the output (no stem pool point)
    assert max(p["rel_l2"] for p in report["points"]) <= 1e-5


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
    (f"{CANDIDATES / 'paper_resnetv2_keras.py'}:Subclassed", "keras", "subclassed keras.Model"),
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
])
def test_usage_errors_exit_2_before_any_work(argv, message, capsys):
    args = ["verify", *argv, "--framework", "torch"]
    if "--model" not in argv:
        args += ["--model", "resnet50"]
    assert main(args) == 2
    assert message in " ".join(capsys.readouterr().err.split())

"""Measured numbers in README.md and docs/ come from `python -m benchmarks.docs`, never from a hand: every generated
block equals what the stored results and the spec render, and no measured-looking number stands outside one."""

from __future__ import annotations

import re

import pytest

from benchmarks import docs
from crosscheck import spec


def test_every_generated_block_is_what_the_stored_results_and_the_spec_render():
    assert docs.stale_documents(docs.load_results(), docs.documents()) == []


def test_the_docs_hold_the_generated_blocks():
    """The blocks exist where the measurements belong (a deleted block would also pass the check above)."""
    text = {path.name: path.read_text() for path in docs.documents()}
    found = {(name, m["name"]) for name, body in text.items() for m in docs.BLOCK.finditer(body)}
    assert {("README.md", "variants"), ("train-step.md", "train-step"), ("gates.md", "gates"),
            ("gates.md", "gate-margins"), ("gates.md", "gate-notes"), ("export.md", "export-distances")} <= found


def test_a_hand_edited_figure_in_a_generated_block_is_caught(tmp_path):
    results = docs.load_results()
    page = tmp_path / "page.md"
    page.write_text(docs.render("# Page\n\n<!-- generated:train-step --><!-- /generated:train-step -->\n", results))
    assert docs.stale_documents(results, [page]) == []
    page.write_text(re.sub(r"\d\.\de-\d+", "9.9e-99", page.read_text(), count=1))
    assert docs.stale_documents(results, [page]) == ["page.md"]


def test_a_new_model_id_without_a_rendered_readme_is_caught(monkeypatch):
    """The variants table follows spec.MODEL_IDS: an id the README's table lacks makes the README stale."""
    readme = [docs.ROOT / "README.md"]
    assert docs.stale_documents({}, readme) == []
    monkeypatch.setattr(spec, "MODEL_IDS", spec.MODEL_IDS[:-1])
    assert docs.stale_documents({}, readme) == ["README.md"]


def test_no_measured_looking_number_outside_the_generated_blocks():
    assert {path.name: docs.hand_typed_numbers(path.read_text()) for path in docs.documents()} == \
           {path.name: [] for path in docs.documents()}


@pytest.mark.parametrize("prose, found", [
    ("the default run took 12 s on 2 cores", ["12 s"]),
    ("one worker peaks at 3.4 GB, a file is 102 MB", ["3.4 GB", "102 MB"]),
    ("the smallest bug is 2.4e-7 on resnet18", ["2.4e-7"]),
    ("float64 is 2.2x float32 and exports round 1.9× less", ["2.2x", "1.9×"]),
    ("2 steps, batch 2, a 3x3 conv at 224×224, 4 × the smallest, resnet50v2 and Python 3.11", []),
    ("budget ≤ 10 min; the default tier took 10 min", ["10 min"]),
    ("the gate is 1e-9, the floor 1e-5, TF32 5e-3, Keras' epsilon 1.001e-5", []),
    ("<!-- generated:gates -->took 12 s, 2.4e-7<!-- /generated:gates --> and in prose 3 min", ["3 min"]),
    ("```text\n$ crosscheck verify a.py:M --model resnet50\n│ conv3_block1 │ 8.22e-01 │\n```\n```text\n4.5e-3\n```",
     ["4.5e-3"]),
])
def test_measured_looking_numbers_are_found_outside_blocks_and_checked_examples(prose, found):
    assert docs.hand_typed_numbers(prose) == found


def test_the_design_constants_the_docs_may_quote_are_the_codes():
    """Each allowed spelling is the value the code uses: a changed gate or epsilon makes its old spelling fail."""
    constants = docs.design_constants()
    for spelling, values in constants.items():
        assert values == pytest.approx((float(spelling),) * len(values), rel=1e-10), spelling
    assert {"1e-9", "1e-5", "5e-3", "1.001e-5"} <= set(constants)


def test_a_gate_row_is_computed_from_a_run_report():
    """Spreads over the smallest distance, from a hand-made report: two frameworks, one export."""
    model = {"model_id": "m", "float32_gate": 1e-5,
             "float32_vs_float64_rel_l2": {"torch": 2e-6, "keras": 4e-6, "torch-onnx": 1e-6},
             "pairs": [{"a": "torch", "b": "keras", "float64_rel_l2": 3e-15, "float32_rel_l2": 5e-6},
                       {"a": "torch", "b": "torch-onnx", "float64_rel_l2": None, "float32_rel_l2": 1.5e-6},
                       {"a": "keras", "b": "torch-onnx", "float64_rel_l2": None, "float32_rel_l2": 4.5e-6}]}
    row = docs.gate_row(model, "plain")
    assert row["float64_pairs"] == [3e-15]
    assert row["float32_exports"] == [1e-6]
    assert row["largest_over_smallest"] == pytest.approx(4.0)
    assert row["worst_pair_over_smallest"] == pytest.approx(5.0)
    assert row["frameworks_largest_over_smallest"] == pytest.approx(2.0)
    assert row["frameworks_worst_pair_over_smallest"] == pytest.approx(2.5)
    assert row["export_vs_native"] == [1.5e-6] and row["export_vs_export"] == []


def test_rewriting_benchmarks_md_keeps_the_hand_recorded_section():
    from benchmarks import run

    report = (docs.ROOT / "BENCHMARKS.md").read_text()
    measured, recorded = run.split_recorded(report)
    assert recorded.startswith(run.RECORDED_HEADING) and "### Gates" in recorded
    assert run.RECORDED_HEADING not in measured and measured + recorded == report

"""The agreement metrics and the gates, on arrays whose answers are known by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from crosscheck.gate import verdict
from crosscheck.metrics import agreement, rel_l2


def test_rel_l2_is_the_error_norm_over_the_references_norm():
    """||(3, 4.5) - (3, 4)|| / ||(3, 4)|| = 0.5 / 5; the reference, not the candidate, is the denominator."""
    assert rel_l2(np.array([3.0, 4.5]), np.array([3.0, 4.0])) == pytest.approx(0.1, rel=1e-15)
    assert rel_l2(np.array([0.0, 2.0]), np.array([1.0, 1.0])) == pytest.approx(1.0, rel=1e-15)
    assert rel_l2(np.array([1.0, 1.0]), np.array([0.0, 2.0])) == pytest.approx(math.sqrt(2) / 2, rel=1e-15)


def test_rel_l2_is_computed_in_float64_whatever_the_inputs_are():
    """float32 logits of 1e20: their squares overflow float32 (max 3.4e38) but not float64."""
    reference = np.full(4, 1e20, np.float32)
    candidate = np.nextafter(reference, np.float32(np.inf))  # one float32 ulp above, in every entry
    ulp = float(candidate[0]) - float(reference[0])
    assert rel_l2(candidate, reference) == pytest.approx(ulp / float(reference[0]), rel=1e-12)


def test_rel_l2_of_a_zero_reference_is_zero_only_when_equal():
    zeros = np.zeros(3)
    assert rel_l2(zeros, zeros) == 0.0 and rel_l2(np.array([0.0, 1e-30, 0.0]), zeros) == math.inf


def test_rel_l2_refuses_different_shapes():
    with pytest.raises(ValueError, match=r"shape mismatch: \(2, 3\) vs \(3, 2\)"):
        rel_l2(np.zeros((2, 3)), np.zeros((3, 2)))


def test_agreement_reports_the_largest_error_cosine_and_top1_by_hand():
    reference = np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 3.0]])
    candidate = np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 0.5], [0.0, 4.0, 3.0]])  # the third row's argmax moves
    measured = agreement(candidate, reference)
    assert measured.max_abs == 4.0 and measured.top1 == pytest.approx(2 / 3)
    # cosine = <c, r> / (|c| |r|) = (1 + 4 + 9) / (sqrt(1 + 4 + 0.25 + 16 + 9) * sqrt(14))
    assert measured.cosine == pytest.approx(14 / (math.sqrt(30.25) * math.sqrt(14)), rel=1e-14)
    assert measured.rel_l2 == pytest.approx(math.sqrt(0.25 + 16) / math.sqrt(14), rel=1e-14)
    assert math.isnan(agreement(np.ones(4), np.ones(4)).top1)  # no rows to take an argmax of


@pytest.mark.parametrize("error, passes", [(0.0, True), (1e-6, True), (1e-6 * (1 + 1e-9), False), (math.nan, False),
                                           (math.inf, False)])
def test_a_gate_passes_up_to_and_including_its_tolerance_and_never_on_nan(error, passes):
    """rtol 1e-6 on a unit reference: an error of exactly the tolerance passes, anything above, NaN or inf fails."""
    reference = np.array([1.0, 0.0])
    candidate = reference + np.array([0.0, error])
    measured, passed = verdict(candidate, reference, 1e-6)
    assert passed is passes and measured.passes(1e-6) is passes

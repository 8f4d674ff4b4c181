"""scoring.marker_agreement: ICC pinned to Shrout & Fleiss (1979) and to a hand-worked example, the
double-marking threshold at its edge, and per-examiner statistics worked by hand."""
from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose

from scoring.marker_agreement import examiner_statistics, icc, resolve_double_mark

# Shrout & Fleiss (1979), Table 2: 6 targets rated by 4 judges.
SF_RATINGS = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]


def test_icc_shrout_fleiss_published_values():
    r = icc(SF_RATINGS)
    # Table 3 mean squares: BMS 11.24, WMS 6.26, JMS 32.49, EMS 1.02
    assert_allclose([r.msr, r.msw, r.msc, r.mse], [11.24, 6.26, 32.49, 1.02], atol=0.005)
    # Table 4: ICC(1,1) = .17, ICC(2,1) = .29, ICC(3,1) = .71 (published to two decimals)
    assert_allclose([r.icc1, r.icc2, r.icc3], [0.17, 0.29, 0.71], atol=0.006)
    assert (r.n, r.k) == (6, 4)


def test_icc_hand_worked_three_scripts_two_markers():
    # x = [[1,2],[3,3],[5,6]]: grand mean 10/3; SSR = 49/3, SSC = 2/3, SST = 52/3, SSE = 1/3
    # MSR = 49/6, MSC = 2/3, MSE = 1/6, MSW = (2/3 + 1/3)/3 = 1/3
    r = icc([[1, 2], [3, 3], [5, 6]])
    assert_allclose([r.msr, r.msc, r.mse, r.msw], [49 / 6, 2 / 3, 1 / 6, 1 / 3], rtol=1e-12)
    assert_allclose(r.icc2, 12 / 13, rtol=1e-12)   # 8 / (50/6 + 2*(1/2)/3) = 8 / (26/3)
    assert_allclose(r.icc3, 24 / 25, rtol=1e-12)   # 8 / (50/6)
    assert_allclose(r.icc1, 47 / 51, rtol=1e-12)   # (49/6 - 1/3) / (49/6 + 1/3)


def test_icc_absolute_agreement_penalises_a_constant_offset_consistency_does_not():
    x = np.array([[1.0, 3.0], [2.0, 4.0], [5.0, 7.0], [6.0, 8.0]])
    r = icc(x)
    assert_allclose(r.icc3, 1.0, rtol=1e-12)
    assert r.icc2 < 0.9


def test_icc_degenerate_cases():
    r = icc([[3, 3]])
    assert math.isnan(r.icc2) and r.notes
    r = icc([[2, 2], [2, 2], [2, 2]])
    assert math.isnan(r.icc2) and math.isnan(r.icc3) and r.notes
    with pytest.raises(ValueError):
        icc([1, 2, 3])
    with pytest.raises(ValueError):
        icc([[1], [2]])
    with pytest.raises(ValueError):
        icc([[1, float("nan")], [2, 3]])


@pytest.mark.parametrize("a, b, max_points, frac, final, adjudicate", [
    (10.0, 8.0, 20.0, 0.10, 9.0, False),      # difference 2.0 == threshold 2.0: agreement, mean
    (10.0, 7.5, 20.0, 0.10, None, True),      # 2.5 > 2.0: chief adjudicates
    (70.0, 80.0, 100.0, 0.10, 75.0, False),   # exactly 10 points of 100
    (70.0, 80.5, 100.0, 0.10, None, True),    # just above
    (0.3, 0.0, 3.0, 0.10, 0.15, False),       # 0.3 vs 0.1 * 3 (binary fractions)
    (5.0, 5.0, 10.0, 0.0, 5.0, False),        # zero threshold: only identical marks agree
    (5.0, 4.5, 10.0, 0.0, None, True),
])
def test_resolve_double_mark_at_and_above_the_threshold(a, b, max_points, frac, final, adjudicate):
    d = resolve_double_mark(a, b, max_points, frac)
    assert d.needs_adjudication is adjudicate
    assert d.final == final if final is None else d.final == pytest.approx(final)
    assert d.threshold == pytest.approx(frac * max_points)


def test_resolve_double_mark_bad_input():
    for args in [(1, 2, 0), (1, float("nan"), 10), (1, 2, 10, 1.5), (True, 2, 10)]:
        with pytest.raises(ValueError):
            resolve_double_mark(*args)


def test_examiner_statistics_hand_worked():
    # scripts s1..s3 (max 10) double-marked by X and Y, s4 single-marked by X; finals given
    script = ["s1", "s1", "s2", "s2", "s3", "s3", "s4"]
    examiner = ["X", "Y", "X", "Y", "X", "Y", "X"]
    score = [1, 2, 3, 3, 5, 6, 8]
    mx = [10] * 7
    final = [1.5, 1.5, 3, 3, 5.5, 5.5, 8]
    seconds = [30, 60, 40, 80, 50, float("nan"), 100]
    stats = {s.examiner: s for s in examiner_statistics(script, examiner, score, mx, final, seconds)}
    x, y = stats["X"], stats["Y"]
    assert (x.n_marks, x.n_double, y.n_marks, y.n_double) == (4, 3, 3, 3)
    # X vs Y in percent: [[10,20],[30,30],[50,60]] = 10 × the hand-worked matrix -> same ICC(2,1) = 12/13
    assert_allclose(x.agreement_icc, 12 / 13, rtol=1e-12)
    assert_allclose(y.agreement_icc, 12 / 13, rtol=1e-12)
    assert_allclose(x.mean_signed_difference, -20 / 3, rtol=1e-12)   # (-10 + 0 - 10) / 3 percent
    assert_allclose(y.mean_signed_difference, 20 / 3, rtol=1e-12)
    # severity: X (1-1.5, 3-3, 5-5.5, 8-8)*10 / 4 = -2.5 ; Y (2-1.5, 3-3, 6-5.5)*10 / 3 = +10/3
    assert_allclose(x.severity, -2.5, rtol=1e-12)
    assert_allclose(y.severity, 10 / 3, rtol=1e-12)
    assert x.median_seconds == 45.0 and y.median_seconds == 70.0


def test_examiner_statistics_single_marking_only_and_bad_input():
    (s,) = examiner_statistics(["a", "b"], ["X", "X"], [1, 2], [4, 4])
    assert s.n_double == 0 and math.isnan(s.agreement_icc) and math.isnan(s.severity) and s.notes
    with pytest.raises(ValueError):
        examiner_statistics(["a"], ["X"], [1], [0])
    with pytest.raises(ValueError):
        examiner_statistics(["a", "b"], ["X"], [1], [4])

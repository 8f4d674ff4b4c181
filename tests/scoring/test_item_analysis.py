"""Classical item statistics pinned to hand-worked values and to second formulations."""

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy import stats

from scoring._core import summarize, upper_lower_groups
from scoring.item_analysis import item_statistics
from scoring.matrix import score_matrix_from_scores

# 5 candidates x 3 items, worked by hand in the comments below
HAND = np.array([[1, 1, 0], [1, 0, 0], [1, 1, 1], [0, 0, 0], [1, 1, 1]], dtype=float)


def alpha_loop(x):
    """Cronbach's alpha with explicit loops (second formulation)."""
    n, j = x.shape
    var = lambda v: sum((a - sum(v) / len(v)) ** 2 for a in v) / (len(v) - 1)  # noqa: E731
    totals = [sum(row) for row in x]
    return j / (j - 1) * (1 - sum(var(list(x[:, k])) for k in range(j)) / var(totals))


class TestHandWorked:
    def test_values(self):
        s = item_statistics(HAND)
        # p = 4/5, 3/5, 2/5; sd = sqrt(5/4 pq)
        assert_allclose(s.p, [0.8, 0.6, 0.4], rtol=1e-12)
        assert_allclose(s.sd, np.sqrt([0.2, 0.3, 0.3]), rtol=1e-12)
        # item 1: rest = 1,0,2,0,2; cov = 1.0/4 = .25, var x = .2, var rest = 1  ->  r = .25/sqrt(.2) = sqrt(5)/4
        assert_allclose(s.r_rest[0], math.sqrt(5) / 4, rtol=1e-12)
        # alpha without item 1: items 2, 3 have variances .3, .3 and their sum has variance 1 -> 2 (1 - .6) = .8
        assert_allclose(s.alpha_if_deleted[0], 0.8, rtol=1e-12)
        # n_g = floor(.27*5 + .5) = 1; upper = row 2 (tied with row 4, earlier row wins), lower = row 3
        assert s.ul_group_size == 1
        assert_allclose(s.d_ul27, [1.0, 1.0, 1.0])

    def test_against_second_formulation(self):
        rng = np.random.default_rng(7)
        x = (rng.random((60, 8)) < rng.uniform(0.2, 0.9, 8)).astype(float)
        x[:, 2] *= 2  # a 2-point item
        x[:7, 5] = 0.5  # a polytomous item on a half-point grid
        s = item_statistics(x, [1, 1, 2, 1, 1, 1, 1, 1])
        t = x.sum(1)
        for j in range(8):
            rest = t - x[:, j]
            assert_allclose(s.r_pbis[j], np.corrcoef(x[:, j], t)[0, 1], rtol=1e-10)
            assert_allclose(s.r_rest[j], stats.pearsonr(x[:, j], rest).statistic, rtol=1e-10)
            assert_allclose(s.alpha_if_deleted[j], alpha_loop(np.delete(x, j, axis=1)), rtol=1e-10)
            # Moodle discriminative efficiency with an explicit sort
            cov_max = np.sum((np.sort(x[:, j]) - x[:, j].mean()) * (np.sort(rest) - rest.mean())) / 59
            assert_allclose(s.disc_efficiency[j], np.cov(x[:, j], rest)[0, 1] / cov_max, rtol=1e-10)
        assert_allclose(s.sd, x.std(axis=0, ddof=1), rtol=1e-12)

    def test_disc_efficiency_off_grid_scores_use_sorting(self):
        rng = np.random.default_rng(3)
        x = np.round(rng.random((40, 4)) * 3, 3)  # 0.001-point resolution: no score grid
        s = item_statistics(x, [3, 3, 3, 3])
        t = x.sum(1)
        for j in range(4):
            rest = t - x[:, j]
            cov_max = np.sum((np.sort(x[:, j]) - x[:, j].mean()) * (np.sort(rest) - rest.mean())) / 39
            assert_allclose(s.disc_efficiency[j], np.cov(x[:, j], rest)[0, 1] / cov_max, rtol=1e-10)


class TestUpperLowerTieRule:
    def test_group_size_rounding(self):
        for n, ng in [(2, 1), (10, 3), (100, 27), (11, 3), (13, 4), (1000, 270)]:
            up, lo = upper_lower_groups(np.arange(n), 0.27)
            assert len(up) == len(lo) == ng  # floor(0.27 n + 0.5)

    def test_ties_at_the_boundary_go_to_earlier_rows(self):
        totals = np.array([5, 3, 3, 3, 1, 0, 3, 9, 3, 3])  # n_g = 3; boundary ties at total 3
        up, lo = upper_lower_groups(totals, 0.27)
        assert_array_equal(up, [7, 0, 1])  # 9, 5, then the first 3 in row order
        assert_array_equal(lo, [5, 4, 1])  # 0, 1, then the first 3 in row order

    def test_d_depends_on_row_order_only_through_the_documented_rule(self):
        # item answered right only by the tied candidates that come later
        totals_items = np.array([[1, 0], [1, 0], [1, 1], [0, 0], [1, 1], [1, 1]], dtype=float)
        # totals 1,1,2,0,2,2: n_g = 2; upper = rows 2,4 (ties at 2: rows 2,4,5 -> earlier first); lower = 3,0
        s = item_statistics(totals_items)
        assert_array_equal(np.sort(summarize(totals_items).upper), [2, 4])
        assert_array_equal(summarize(totals_items).lower, [3, 0])
        assert_allclose(s.p_upper, [1.0, 1.0])
        assert_allclose(s.p_lower, [0.5, 0.0])
        assert_allclose(s.d_ul27, [0.5, 1.0])


class TestIntervals:
    def test_wilson_bounds_solve_the_score_equation(self):
        s = item_statistics(HAND, confidence=0.95)
        z = stats.norm.ppf(0.975)
        for p, lo, hi in zip(s.p, s.p_ci_low, s.p_ci_high):
            for bound in (lo, hi):  # (p_hat - P)^2 = z^2 P (1 - P) / n
                assert_allclose((p - bound) ** 2, z * z * bound * (1 - bound) / 5, rtol=1e-9)

    def test_fisher_interval(self):
        rng = np.random.default_rng(1)
        x = (rng.random((200, 5)) < 0.6).astype(float)
        x[:, 1] = np.maximum(x[:, 0], x[:, 1])
        s = item_statistics(x, confidence=0.90)
        z = stats.norm.ppf(0.95)
        assert_allclose(s.r_rest_ci_low, np.tanh(np.arctanh(s.r_rest) - z / math.sqrt(197)), rtol=1e-12)
        assert_allclose(s.r_rest_ci_high, np.tanh(np.arctanh(s.r_rest) + z / math.sqrt(197)), rtol=1e-12)

    def test_polytomous_item_uses_normal_interval(self):
        x = np.array([[0, 1], [1, 1], [2, 0], [2, 1], [1, 0], [0, 1]], dtype=float)
        s = item_statistics(x, [2, 1])
        assert not s.dichotomous[0] and s.dichotomous[1]
        half = stats.norm.ppf(0.975) * x[:, 0].std(ddof=1) / 2 / math.sqrt(6)
        assert_allclose([s.p_ci_low[0], s.p_ci_high[0]], [0.5 - half, 0.5 + half], rtol=1e-12)


class TestDegenerate:
    def test_zero_variance_item_is_nan_with_reason(self):
        x = HAND.copy()
        x[:, 1] = 1
        s = item_statistics(x)
        assert np.isnan(s.r_pbis[1]) and np.isnan(s.r_rest[1]) and np.isnan(s.disc_efficiency[1])
        assert any("zero variance" in n for n in s.notes[1])
        assert s.p[1] == 1.0 and np.isfinite(s.r_rest[0])

    def test_two_items_have_no_alpha_if_deleted(self):
        s = item_statistics(HAND[:, :2])
        assert np.all(np.isnan(s.alpha_if_deleted))
        assert "alpha_if_deleted needs at least 3 items" in s.notes[0]

    @pytest.mark.parametrize("bad,exc,msg", [
        ([[1, np.nan], [0, 1]], ValueError, "NaN"),
        ([[1, 0]], ValueError, "at least 2 candidates"),
        ([1, 0, 1], ValueError, "2-D"),
        ([["a", "b"], ["c", "d"]], TypeError, "numeric"),
        ([[-1, 0], [0, 1]], ValueError, ">= 0"),
    ])
    def test_bad_input(self, bad, exc, msg):
        with pytest.raises(exc, match=msg):
            item_statistics(np.array(bad))

    def test_bad_confidence(self):
        with pytest.raises(ValueError, match="confidence"):
            item_statistics(HAND, confidence=1.5)


def test_negative_item_is_never_reversed():
    rng = np.random.default_rng(11)
    theta = rng.normal(size=400)
    x = (rng.random((400, 10)) < 1 / (1 + np.exp(-2 * theta[:, None]))).astype(float)
    x[:, 4] = 1 - x[:, 4]  # mis-keyed: the complement of a good item
    s = item_statistics(score_matrix_from_scores(x))
    assert s.r_rest[4] < -0.3 and s.r_pbis[4] < 0 and s.d_ul27[4] < 0 and s.disc_efficiency[4] < 0
    assert s.alpha_if_deleted[4] > alpha_loop(x)  # dropping it would raise alpha


@pytest.mark.parametrize("case", ["binary", "half_points", "wide_range", "off_grid"])
def test_covariance_paths_agree_with_numpy(case):
    rng = np.random.default_rng(21)
    n = 3000
    if case == "binary":  # exact float32 Gram of 0/1 scores
        x, mp = (rng.random((n, 12)) < 0.7).astype(float), np.ones(12)
    elif case == "half_points":  # grid 0.5, items up to 5 points
        x, mp = rng.integers(0, 11, (n, 12)) / 2.0, np.full(12, 5.0)
    elif case == "wide_range":  # 0..100 on a 0.5 grid: blocks too small for float32, float64 path
        x, mp = rng.integers(0, 201, (n, 6)) / 2.0, np.full(6, 100.0)
    else:  # no grid at all
        x, mp = rng.random((n, 6)) * 3, np.full(6, 3.0)
    s = summarize(x, mp)
    assert_allclose(s.cov, np.cov(x, rowvar=False), rtol=1e-11, atol=1e-13)
    assert_allclose(s.var_total, x.sum(1).var(ddof=1), rtol=1e-11)

"""scoring.sitting: packed responses -> ScoreMatrix (same as scoring.matrix on letters), curves, pooling."""
from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy import optimize, stats

from scoring.matrix import build_score_matrix
from scoring.report import analyze
from scoring.sitting import (fit_logistic_grouped, flag_severity, mask_label, matrix_from_masks, normal_scores,
                             pool_statistics, response_mask, score_group_curves, worst_severity)


def _sim(n=300, seed=1):
    rng = np.random.default_rng(seed)
    theta = rng.normal(size=n)
    single = np.where(rng.random((n, 3)) < 1 / (1 + np.exp(-(theta[:, None] + [0.5, 0, -0.5]))), "B",
                      rng.choice(["A", "C", "D", ""], size=(n, 3)))
    multi = np.where(rng.random(n) < 1 / (1 + np.exp(-theta)), "AC", rng.choice(["A", "C", "ABC", "BD", ""], size=n))
    tf = np.where(rng.random(n) < 0.7, "T", np.where(rng.random(n) < 0.8, "F", ""))
    return single, multi, tf


def test_response_mask_and_labels():
    assert response_mask("B", "single") == 2
    assert response_mask("ca", "multiple") == 5 and mask_label(5, "multiple") == "AC"
    assert response_mask(["A", "D"], "multiple") == 9
    assert response_mask(True, "true_false") == 1 and response_mask(False, "true_false") == 2
    assert response_mask("对", "true_false") == 1 and mask_label(2, "true_false") == "F"
    assert response_mask(None, "single") == 0 and response_mask("", "multiple") == 0
    assert response_mask("Z", "single") == 0
    assert response_mask("some text", "marked") == 1 and response_mask("  ", "marked") == 0


@pytest.mark.parametrize("policy", ["exact", "partial"])
def test_matrix_from_masks_equals_build_score_matrix(policy):
    single, multi, tf = _sim()
    n = single.shape[0]
    cells = np.column_stack([single, multi, tf]).astype(object)
    ids = [f"C{i}" for i in range(n)]
    items = ["S1", "S2", "S3", "M1", "T1"]
    ref = build_score_matrix(ids, items, cells, {"S1": ("B", 1, 4), "S2": ("B", 1, 4), "S3": ("B", 1, 4),
                                                 "M1": ("AC", 2), "T1": ("T", 1)}, multiple_policy=policy)
    kinds = ["single"] * 3 + ["multiple", "true_false"]
    masks = np.array([[response_mask(v, k) for v, k in zip(row, kinds)] for row in cells], dtype=np.uint8)
    got, notes = matrix_from_masks(ids, items, kinds, ["B", "B", "B", "AC", True], [4, 4, 4, None, None],
                                   [1, 1, 1, 2, 1], masks, multiple_policy=policy)
    assert notes == [[]] * 5
    assert_array_equal(got.scores, ref.scores)
    assert_array_equal(got.choices, ref.choices)
    assert got.option_labels == ref.option_labels and got.keys == ref.keys
    assert_array_equal(got.key_index, ref.key_index)
    # with the awarded scores passed in, the result is the same matrix
    got2, notes2 = matrix_from_masks(ids, items, kinds, ["B", "B", "B", "AC", True], [4, 4, 4, None, None],
                                     [1, 1, 1, 2, 1], masks, ref.scores, multiple_policy=policy)
    assert notes2 == [[]] * 5
    assert got2.option_scores == ref.option_scores
    ra, rb = analyze(ref), analyze(got2)
    assert ra["items"] == rb["items"]


def test_awarded_scores_that_do_not_follow_the_choices_fall_back_to_marked():
    masks = np.array([[2, 1], [1, 0], [2, 1], [4, 1]], dtype=np.uint8)
    scores = np.array([[1, 3], [0, 0], [0.5, 4], [0, 1.5]], dtype=float)  # B scored 1 and 0.5
    m, notes = matrix_from_masks(list("abcd"), ["q1", "q2"], ["single", "marked"], ["B", None], [4, None],
                                 [1, 4], masks, scores)
    assert m.kinds == ("marked", "marked") and "different scores" in notes[0][0]
    assert_array_equal(m.omitted[:, 1], [False, True, False, False])
    with pytest.raises(ValueError):
        matrix_from_masks(["a"], ["q"], ["marked"], [None], [None], [1], np.ones((1, 1)))


def test_corrected_key_in_the_marks_is_followed():
    # key recorded as B, but the marks were re-marked with C: the option scores follow the marks
    masks = np.array([[2], [4], [4], [1]], dtype=np.uint8)
    scores = np.array([[0], [1], [1], [0]], dtype=float)
    m, notes = matrix_from_masks(list("abcd"), ["q"], ["single"], ["C"], [4], [1], masks, scores)
    assert notes == [[]] and m.keys == ("C",) and m.option_scores[0] == (0.0, 0.0, 1.0, 0.0)


def test_normal_scores_match_rankdata():
    t = np.array([3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5], dtype=float)
    expected = stats.norm.ppf((stats.rankdata(t) - 0.5) / t.size)
    assert_allclose(normal_scores(t), expected, rtol=1e-12)


def test_fit_logistic_grouped_matches_direct_ml():
    x = np.array([-1.5, -0.8, -0.2, 0.3, 0.9, 1.6])
    n = np.array([40, 55, 60, 58, 50, 37], dtype=float)
    k = np.array([6, 14, 25, 34, 38, 33], dtype=float)

    def nll(beta):
        p = 1 / (1 + np.exp(-(beta[0] + beta[1] * x)))
        return -np.sum(k * np.log(p) + (n - k) * np.log(1 - p))

    ref = optimize.minimize(nll, [0.0, 1.0], method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-12,
                                                                              "maxiter": 5000}).x
    a, b, ok = fit_logistic_grouped(x, k, n)
    assert ok
    assert_allclose([a, -b * a], [ref[1], ref[0]], rtol=1e-5)
    assert fit_logistic_grouped([0, 1], [0, 0], [5, 5])[2] is False
    assert math.isnan(fit_logistic_grouped([1], [1], [2])[0])


def test_score_group_curves_tables():
    single, multi, tf = _sim(n=500, seed=4)
    cells = np.column_stack([single, multi, tf]).astype(object)
    ids = [f"C{i}" for i in range(cells.shape[0])]
    m = build_score_matrix(ids, ["S1", "S2", "S3", "M1", "T1"], cells,
                           {"S1": ("B", 1, 4), "S2": ("B", 1, 4), "S3": ("B", 1, 4), "M1": ("AC", 2), "T1": ("T", 1)})
    curves = score_group_curves(m, n_groups=5)
    totals = m.scores.sum(axis=1)
    for jj, c in enumerate(curves):
        assert sum(g["n"] for g in c["groups"]) == 500
        for g in c["groups"]:
            assert_allclose(sum(g["options"].values()) + g["omit"], 1.0)
            sel = (totals >= g["lo"]) & (totals <= g["hi"])
            assert sel.sum() == g["n"]  # ties stay in one group
            assert_allclose(g["p"], m.scores[sel, jj].mean() / m.max_points[jj])
        assert c["fit"] is not None and c["fit"]["source"] == "logistic"
        assert c["fit"]["a"] > 0  # items that measure the same ability rise with it
        assert len(c["curve"]["theta"]) == len(c["curve"]["p"])
    with_irt = score_group_curves(m, irt=[{"a": 1.2, "b": -0.3}] + [None] * 4)
    assert with_irt[0]["fit"] == {"a": 1.2, "b": -0.3, "source": "irt"}


def test_pool_statistics_weighted():
    out = pool_statistics([100, 300], [0.5, 0.7], [0.2, 0.4], [0.3, None])
    assert out["n"] == 400 and out["sittings"] == 2
    assert_allclose(out["p"], (50 + 210) / 400)
    z = (97 * np.arctanh(0.2) + 297 * np.arctanh(0.4)) / (97 + 297)
    assert_allclose(out["r_rest"], np.tanh(z))
    assert_allclose(out["d"], 0.3)
    assert pool_statistics([], [], [], [])["p"] is None
    with pytest.raises(ValueError):
        pool_statistics([1, 2], [0.5], None, None)


def test_severity():
    assert flag_severity("possible_miskey") == "error"
    assert flag_severity("too_easy") == "warning"
    assert flag_severity("nonfunctioning_distractor") == "info"
    assert worst_severity(["too_easy", "dif_c"]) == "error" and worst_severity([]) is None

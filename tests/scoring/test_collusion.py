"""Answer-copying screen: K index against a loop port of CopyDetect's k_2, BH, planted pair."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy import stats

from scoring.collusion import answer_copying, benjamini_hochberg
from scoring.matrix import score_matrix_from_choices, score_matrix_from_scores


def k_index_loop(ch, key, copier, source):
    """K index as in R CopyDetect k_2 (form = nominal, form2 = scored; omitted = NA)."""
    scored = np.where(ch < 0, np.nan, (ch == key).astype(float))
    wc = np.nansum(scored[copier] == 0)
    ws = np.nansum(scored[source] == 0)
    incorrect = np.flatnonzero(scored[source] == 0)
    m = np.sum(ch[copier, incorrect] == ch[source, incorrect])
    wrong_counts = np.nansum(scored == 0, axis=1)
    subgroup = [i for i in np.flatnonzero(wrong_counts == wc) if i != source]
    emp = [np.sum(ch[i, incorrect] == ch[source, incorrect]) for i in subgroup]
    p = np.mean(emp) / ws
    return 1 - stats.binom.cdf(m - 1, ws, p)


def small_sitting(seed=8, n=40, j=30):
    rng = np.random.default_rng(seed)
    theta = rng.normal(size=n)
    key = rng.integers(0, 4, j)
    right = rng.random((n, j)) < 1 / (1 + np.exp(-(theta[:, None] - rng.normal(size=j))))
    wrong = (key + rng.integers(1, 4, (n, j))) % 4
    ch = np.where(right, key, wrong)
    ch[rng.random((n, j)) < 0.05] = -1  # some omissions
    return ch, key


def test_k_index_matches_copydetect_loop():
    ch, key = small_sitting()
    res = answer_copying(score_matrix_from_choices(ch, key, 4))
    assert len(res.a) == 40 * 39 // 2
    checked = 0
    for i in range(0, len(res.a), 37):
        a, b = res.a[i], res.b[i]
        ws = np.sum((ch[a] >= 0) & (ch[a] != key))
        if ws == 0 or res.identical_wrong[i] == 0:
            assert res.k_ab[i] == 1.0
            continue
        assert_allclose(res.k_ab[i], k_index_loop(ch, key, copier=b, source=a), rtol=1e-10)
        assert_allclose(res.k_ba[i], k_index_loop(ch, key, copier=a, source=b), rtol=1e-10)
        checked += 1
    assert checked > 10


def test_pair_counts():
    ch = np.array([[0, 1, 2, -1], [0, 1, 3, -1], [0, 2, 3, 1], [1, 1, 3, 1]])
    key = np.array([0, 1, 2, 0])
    res = answer_copying(score_matrix_from_choices(ch, key, 4))
    pairs = {(a, b): (s, w) for a, b, s, w in zip(res.a, res.b, res.identical, res.identical_wrong)}
    assert pairs[(0, 1)] == (2, 0)  # same right answers on items 1, 2; omissions never match
    assert pairs[(1, 2)] == (2, 1)  # item 1 right, item 3 same wrong option
    assert pairs[(2, 3)] == (2, 2)  # item 3 (D) and item 4 (B) same wrong options
    wrong = {(a, b): (wa, wb) for a, b, wa, wb in zip(res.a, res.b, res.n_wrong_a, res.n_wrong_b)}
    assert wrong[(0, 1)] == (0, 1) and wrong[(2, 3)] == (3, 3)


def test_benjamini_hochberg_by_hand():
    p = np.array([0.01, 0.04, 0.03, 0.005, 0.5])
    # sorted: .005 .01 .03 .04 .5 -> *5/rank: .025 .025 .05 .05 .5 -> cumulative min from the top
    assert_allclose(benjamini_hochberg(p), [0.025, 0.05, 0.05, 0.025, 0.5], rtol=1e-12)
    assert benjamini_hochberg([]).shape == (0,)


def test_planted_pair_is_the_only_flag(sitting):
    res = answer_copying(sitting.matrix(), sittings=sitting.groups)
    flagged = {(res.a[i], res.b[i]) for i in np.flatnonzero(res.flagged)}
    pair = (min(sitting.source, sitting.copier), max(sitting.source, sitting.copier))
    assert flagged == {pair}
    i = np.flatnonzero((res.a == pair[0]) & (res.b == pair[1]))[0]
    assert res.sitting[i] == "S1" and res.identical_wrong[i] >= 20
    # within-sitting multiplicity: Bonferroni uses the number of pairs of S1 (500 candidates)
    assert_allclose(res.p_bonferroni[i], min(1.0, res.p_value[i] * 500 * 499 / 2), rtol=1e-12)
    # no pair across sittings
    g = sitting.groups
    assert np.all(g[res.a] == g[res.b])


def test_bonferroni_choice_and_limits():
    ch, key = small_sitting(n=12)
    m = score_matrix_from_choices(ch, key, 4)
    res = answer_copying(m, correction="bonferroni", alpha=0.5)
    assert_array_equal(res.flagged, res.p_bonferroni <= 0.5)
    with pytest.raises(ValueError, match="limited to 10 per sitting"):
        answer_copying(m, max_sitting_size=10)
    with pytest.raises(ValueError, match="correction"):
        answer_copying(m, correction="holm")
    res = answer_copying(score_matrix_from_scores(np.eye(3)))
    assert res.a.shape == (0,) and "no choice items" in res.notes[0]

"""Mantel-Haenszel DIF: published R output, a hand-worked 2x2x3 table, ETS rules, the simulated DIF item."""

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from scoring.dif import ets_class, mantel_haenszel, mh_dif
from scoring.matrix import score_matrix_from_scores


def test_r_mantelhaen_published_example():
    # R: xtabs(count ~ stress + opinion + region) |> mantelhaen.test(correct = FALSE)
    # Mantel-Haenszel X-squared = 23.05, p-value = 1.578e-06, 95% CI 2.066744 6.069367, OR 3.541726
    r = mantel_haenszel([55, 48], [135, 12], [7, 96], [53, 94], correct=False)
    assert_allclose(r.alpha_mh, 3.541726, rtol=1e-6)
    assert_allclose(r.chi2, 23.05, rtol=1e-3)
    assert_allclose(r.p_value, 1.578e-06, rtol=1e-3)
    assert_allclose([r.ci_low, r.ci_high], [2.066744, 6.069367], rtol=1e-6)


def test_hand_worked_three_strata():
    a, b, c, d = [10, 8, 3], [5, 2, 7], [6, 4, 1], [9, 6, 9]
    r = mantel_haenszel(a, b, c, d)
    # R_k = AD/N = 3, 2.4, 1.35; S_k = BC/N = 1, .4, .35
    assert_allclose(r.alpha_mh, 6.75 / 1.75, rtol=1e-12)
    assert_allclose(r.d_dif, -2.35 * math.log(6.75 / 1.75), rtol=1e-12)
    # sum A = 21, sum E(A) = 8 + 6 + 2 = 16; Var = 50400/26100 + 9600/7600 + 6400/7600
    var = 50400 / 26100 + 9600 / 7600 + 6400 / 7600
    assert_allclose(r.chi2, 4.5 ** 2 / var, rtol=1e-12)
    assert_allclose(mantel_haenszel(a, b, c, d, correct=False).chi2, 25 / var, rtol=1e-12)
    # Robins-Breslow-Greenland variance, term by term
    n = np.add(np.add(a, b), np.add(c, d))
    P, Q = (np.add(a, d)) / n, (np.add(b, c)) / n
    Rk, Sk = np.multiply(a, d) / n, np.multiply(b, c) / n
    R, S = Rk.sum(), Sk.sum()
    v = (P * Rk).sum() / (2 * R * R) + (P * Sk + Q * Rk).sum() / (2 * R * S) + (Q * Sk).sum() / (2 * S * S)
    assert_allclose(r.se_log_alpha, math.sqrt(v), rtol=1e-12)
    assert_allclose(r.se_d_dif, 2.35 * math.sqrt(v), rtol=1e-12)


def test_vectorised_over_leading_axes_and_degenerate():
    a = np.array([[10, 8, 3], [0, 0, 0]])
    r = mantel_haenszel(a, [[5, 2, 7], [5, 5, 5]], [[6, 4, 1], [3, 3, 3]], [[9, 6, 9], [2, 2, 2]])
    assert_allclose(r.alpha_mh[0], 6.75 / 1.75)
    assert np.isnan(r.alpha_mh[1]) and np.isnan(r.d_dif[1]) and r.ets_class[1] == ""
    with pytest.raises(ValueError, match=">= 0"):
        mantel_haenszel([-1], [1], [1], [1])


@pytest.mark.parametrize("d,se,p,cls", [
    (0.9, 0.2, 0.001, "A"),    # |D| < 1
    (-2.0, 0.9, 0.2, "A"),     # not significant
    (1.2, 0.3, 0.01, "B"),
    (-1.6, 0.3, 0.001, "C"),   # (1.6 - 1)/.3 = 2 > 1.645
    (1.6, 0.5, 0.001, "B"),    # (1.6 - 1)/.5 = 1.2: not significantly above 1
    (1.4, 0.1, 0.001, "B"),    # |D| < 1.5
    (np.nan, 0.1, 0.5, ""),
])
def test_ets_rules(d, se, p, cls):
    assert ets_class(d, se, p) == cls


def test_simulated_dif_item(sitting):
    res = mh_dif(sitting.matrix(), sitting.groups)
    assert res.focal == ("S1", "S2", "S3") and res.reference == ("rest", "rest", "rest")
    s2 = res.focal.index("S2")
    j = sitting.dif_item
    assert res.ets_class[s2, j] == "C"
    assert res.d_dif[s2, j] < -1.5  # harder for S2: favours the reference group
    # most items without planted DIF are class A
    planted = {sitting.dif_item, sitting.leak_item}
    others = [k for k in range(res.d_dif.shape[1]) if k not in planted]
    assert np.mean(res.ets_class[:, others] == "A") > 0.85


def test_mh_dif_matches_tables_built_by_loops(sitting):
    m = sitting.matrix()
    x, g = m.scores, sitting.groups
    res = mh_dif(m, g, reference="S1", focal=["S3"])
    assert res.reference == ("S1",) and res.focal == ("S3",)
    totals = x.sum(1)
    for j in (0, sitting.dif_item, sitting.leak_item):
        a, b, c, d = [], [], [], []
        for t in np.unique(totals):
            ref = (g == "S1") & (totals == t)
            foc = (g == "S3") & (totals == t)
            a.append(x[ref, j].sum()); b.append((1 - x[ref, j]).sum())  # noqa: E702
            c.append(x[foc, j].sum()); d.append((1 - x[foc, j]).sum())  # noqa: E702
        r = mantel_haenszel(a, b, c, d)
        assert_allclose(res.d_dif[0, j], r.d_dif, rtol=1e-12)
        assert_allclose(res.chi2[0, j], r.chi2, rtol=1e-12)
        assert_allclose(res.se[0, j], r.se_d_dif, rtol=1e-12)
    assert res.n_focal[0] == (g == "S3").sum() and res.n_reference[0] == (g == "S1").sum()


def test_two_groups_default_reference_and_polytomous_items():
    rng = np.random.default_rng(4)
    x = (rng.random((200, 6)) < 0.6).astype(float)
    x[:5, 2] = 0.5
    g = np.where(np.arange(200) < 100, "men", "women")
    res = mh_dif(score_matrix_from_scores(x), g)
    assert res.focal == ("women",) and res.reference == ("men",)
    assert np.isnan(res.d_dif[0, 2]) and res.ets_class[0, 2] == "" and "polytomous" in res.notes[2][0]
    assert np.all(np.isfinite(np.delete(res.d_dif[0], 2)))


@pytest.mark.parametrize("kw,msg", [
    (dict(groups=["a"] * 10), "at least two groups"),
    (dict(groups=["a", "b"] * 5, reference="c"), "reference group 'c'"),
    (dict(groups=["a", "b"] * 5, reference="a", focal="a"), "not a group other than the reference"),
    (dict(groups=["a", "b"]), "2 labels for 10 candidates"),
])
def test_bad_groups(kw, msg):
    x = np.tile([[1.0, 0.0], [0.0, 1.0]], (5, 1))
    with pytest.raises(ValueError, match=msg):
        mh_dif(x, **kw)

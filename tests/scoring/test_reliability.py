"""Test-level statistics: distribution, alpha/KR-20, SEM, CSEM, decision consistency."""

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import stats

from scoring.matrix import score_matrix_from_scores
from scoring.reliability import (bivariate_normal_cdf_equal, cronbach_alpha, pass_mark_analysis,
                                 score_distribution)

HAND = np.array([[1, 1, 0], [1, 0, 0], [1, 1, 1], [0, 0, 0], [1, 1, 1]], dtype=float)


def simulated(n=400, j=20, seed=2):
    rng = np.random.default_rng(seed)
    theta = rng.normal(size=n)
    b = rng.normal(size=j)
    return (rng.random((n, j)) < 1 / (1 + np.exp(-1.5 * (theta[:, None] - b)))).astype(float)


class TestAlpha:
    def test_hand_kr20(self):
        # sum pq = .16 + .24 + .24 = .64, population var(T) = 6.8/5 = 1.36 -> KR-20 = 1.5 (1 - .64/1.36)
        r = cronbach_alpha(HAND)
        assert_allclose(r.alpha, 1.5 * (1 - 0.64 / 1.36), rtol=1e-12)
        assert_allclose(r.kr20, r.alpha)
        assert_allclose(r.sem, math.sqrt(1.7) * math.sqrt(1 - r.alpha), rtol=1e-12)

    def test_against_covariance_of_subsets(self):
        x = simulated()
        x[:, 3] *= 2
        c = np.cov(x, rowvar=False)
        j = x.shape[1]
        expected = j / (j - 1) * (1 - np.trace(c) / c.sum())
        r = cronbach_alpha(x, [1, 1, 1, 2] + [1] * 16)
        assert_allclose(r.alpha, expected, rtol=1e-10)
        # item 3 scores 0 or 2 (its max), so every item is dichotomous and KR-20 is reported
        assert_allclose(r.kr20, expected, rtol=1e-10)

    def test_degenerate(self):
        r = cronbach_alpha(np.ones((5, 3)))
        assert np.isnan(r.alpha) and "zero variance" in r.notes[0]
        r = cronbach_alpha(HAND[:, :1])
        assert np.isnan(r.alpha) and "at least 2 items" in r.notes[0]
        # negatively related items: alpha < 0, SEM undefined
        r = cronbach_alpha(np.array([[1, 0, 0], [0, 1, 0], [1, 0, 1], [0, 1, 1], [1, 0, 1]], dtype=float))
        assert r.alpha < 0 and np.isnan(r.sem) and "SEM undefined" in r.notes[0]


class TestDistribution:
    def test_against_scipy(self):
        t = simulated().sum(1)
        d = score_distribution(t, 20)
        assert_allclose(d.skewness, stats.skew(t, bias=False), rtol=1e-10)
        assert_allclose(d.kurtosis, stats.kurtosis(t, bias=False), rtol=1e-10)
        assert_allclose([d.mean, d.sd, d.median], [t.mean(), t.std(ddof=1), np.median(t)], rtol=1e-12)
        assert d.histogram_counts.sum() == t.size and len(d.histogram_counts) == 21  # one bin per score 0..20
        assert_allclose(d.histogram_counts, np.bincount(t.astype(int), minlength=21))

    def test_moodle_k_statistics_by_hand(self):
        t = np.array([2.0, 1, 3, 0, 3])
        n = 5
        m = t - t.mean()
        m2, m3, m4 = (m ** 2).mean(), (m ** 3).mean(), (m ** 4).mean()
        k2 = n * m2 / (n - 1)
        k3 = n * n * m3 / ((n - 1) * (n - 2))
        k4 = n * n * ((n + 1) * m4 - 3 * (n - 1) * m2 ** 2) / ((n - 1) * (n - 2) * (n - 3))
        d = score_distribution(t, 3)
        assert_allclose([d.skewness, d.kurtosis], [k3 / k2 ** 1.5, k4 / k2 ** 2], rtol=1e-12)

    def test_wide_range_uses_20_bins_and_degenerate_notes(self):
        d = score_distribution(np.linspace(0, 200, 50), 200)
        assert len(d.histogram_counts) == 20 and d.histogram_counts.sum() == 50
        d = score_distribution([3.0, 3.0, 3.0], 5)
        assert np.isnan(d.skewness) and np.isnan(d.kurtosis) and "zero variance" in d.notes[0]
        with pytest.raises(ValueError, match="finite"):
            score_distribution([1.0, np.nan])


class TestPassMark:
    def test_lord_csem_and_pass_count(self):
        x = simulated()
        r = pass_mark_analysis(x)
        t = x.sum(1)
        assert r.cut == 12.0 and r.pass_count == int((t >= 12).sum())
        assert_allclose(r.csem_lord, math.sqrt(12 * 8 / 19), rtol=1e-12)  # sqrt(x (n - x) / (n - 1))
        mu, var = t.mean(), t.var(ddof=1)
        kr21 = 20 / 19 * (1 - mu * (20 - mu) / (20 * var))
        assert_allclose(r.kr21, kr21, rtol=1e-12)
        alpha = cronbach_alpha(x).alpha
        assert_allclose(r.csem_keats, r.csem_lord * math.sqrt((1 - alpha) / (1 - kr21)), rtol=1e-12)

    def test_weighted_test_rescales_to_number_correct(self):
        x = simulated(j=10)
        x[:, :5] *= 3  # 5 items worth 3 points: max 20
        r = pass_mark_analysis(x, [3] * 5 + [1] * 5, cut=14)
        assert_allclose(r.csem_lord, 20 * math.sqrt(0.7 * 0.3 / 9), rtol=1e-12)
        assert np.isnan(r.subkoviak_p0) and any("Subkoviak" in n for n in r.notes)

    def test_decision_consistency_normal_approximation(self):
        x = simulated()
        r = pass_mark_analysis(x)
        t = x.sum(1)
        rho = cronbach_alpha(x).alpha
        z = (12 - 0.5 - t.mean()) / t.std(ddof=1)
        both_fail = stats.multivariate_normal([0, 0], [[1, rho], [rho, 1]]).cdf([z, z])
        p0 = both_fail + (1 - 2 * stats.norm.cdf(z) + both_fail)
        assert_allclose(r.p0, p0, rtol=1e-6)
        pc = stats.norm.cdf(z) ** 2 + stats.norm.sf(z) ** 2
        assert_allclose(r.kappa, (p0 - pc) / (1 - pc), rtol=1e-5)

    def test_subkoviak_against_explicit_binomial(self):
        x = simulated(n=120, j=15, seed=9)
        r = pass_mark_analysis(x)
        n_items, t = 15, x.sum(1)
        rel = r.kr21
        c = math.ceil(0.6 * 15)
        p0s, ps = [], []
        for xi in t:
            tau = rel * xi / n_items + (1 - rel) * t.mean() / n_items
            p = sum(math.comb(n_items, k) * tau ** k * (1 - tau) ** (n_items - k) for k in range(c, n_items + 1))
            ps.append(p)
            p0s.append(p * p + (1 - p) ** 2)
        assert_allclose(r.subkoviak_p0, np.mean(p0s), rtol=1e-10)
        pbar = np.mean(ps)
        pc = pbar ** 2 + (1 - pbar) ** 2
        assert_allclose(r.subkoviak_kappa, (np.mean(p0s) - pc) / (1 - pc), rtol=1e-9)

    def test_agreement_is_higher_for_a_more_reliable_test(self):
        short = pass_mark_analysis(simulated(j=10))
        long = pass_mark_analysis(simulated(j=60))
        assert long.p0 > short.p0 and long.kappa > short.kappa

    def test_bad_cut(self):
        with pytest.raises(ValueError, match="cut must be between"):
            pass_mark_analysis(HAND, cut=4)
        with pytest.raises(ValueError, match="pass_fraction"):
            pass_mark_analysis(HAND, pass_fraction=0)


@pytest.mark.parametrize("h", [-2.0, -0.4, 0.0, 0.9, 2.5])
@pytest.mark.parametrize("rho", [-0.5, 0.0, 0.3, 0.8, 0.97])
def test_bivariate_normal_equal_limits(h, rho):
    expected = stats.multivariate_normal([0, 0], [[1, rho], [rho, 1]]).cdf([h, h])
    assert_allclose(bivariate_normal_cdf_equal(h, rho), expected, rtol=1e-6, atol=1e-10)


def test_marked_matrix_is_accepted():
    m = score_matrix_from_scores(HAND * 2, 2)
    assert_allclose(cronbach_alpha(m).alpha, cronbach_alpha(HAND).alpha, rtol=1e-12)


def test_lsat6_published_facilities_and_alpha():
    # LSAT section 6 (Bock & Lieberman 1970; R psych::bock.table / ltm::LSAT): 32 response patterns
    # of 5 items, 1000 examinees, published item facilities .924 .709 .553 .763 .870
    freq = [3, 6, 2, 11, 1, 1, 3, 4, 1, 8, 0, 16, 0, 3, 2, 15, 10, 29, 14, 81, 3, 28, 15, 80, 16, 56, 21, 173,
            11, 61, 28, 298]
    patterns = np.array([[int(c) for c in format(i, "05b")] for i in range(32)])
    x = np.repeat(patterns, freq, axis=0).astype(float)
    assert x.shape == (1000, 5)
    from scoring.item_analysis import item_statistics

    s = item_statistics(x)
    assert_allclose(s.p, [0.924, 0.709, 0.553, 0.763, 0.870], rtol=1e-12)
    pq = s.p * (1 - s.p)
    t = x.sum(1)
    kr20 = 5 / 4 * (1 - pq.sum() / t.var())  # textbook KR-20 with population variances
    assert_allclose(cronbach_alpha(x).alpha, kr20, rtol=1e-12)
    assert_allclose(cronbach_alpha(x).alpha, 0.2950, atol=5e-5)

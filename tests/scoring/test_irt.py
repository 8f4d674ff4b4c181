"""Tests of scoring.irt (Rasch and 2PL by marginal ML), pinned to published references.

References used
---------------
* LSAT7 and LSAT6 pattern frequencies (Bock & Lieberman 1970): R psych ``bock.table``
  (columns Ob6, Ob7), as exported by Rdatasets, vincentarelbundock/Rdatasets
  ``csv/psych/bock.table.csv``. Cross-checked: LSAT7 number-correct counts 12, 40, 114, 205,
  321, 308 are the "observed" column of mirt's own test (philchalmers/mirt
  ``tests/testthat/test-01-mirtOne.R``, EAPsum table); LSAT6 proportions .924/.709/.553/.763/.870
  as in mirt's LSAT6 documentation (itemstats). (The PyPI ``mirt`` clone's LSAT7 table sums to
  980 and is wrong; do not use it.)
* LSAT7 2PL (R mirt, 61 nodes on [-6, 6], TOL 1e-4): a = .988, 1.081, 1.706, .7651, .7358,
  d = 1.8561, .808, 1.8043, .486, 1.8545, and 95% Wald CIs with SE.type = 'Richardson'
  (numeric observed information) -- philchalmers/mirt ``tests/testthat/test-01-mirtOne.R``;
  logLik = -2658.805 -- mirt reference page of ``read.mirt`` (mirt 1.45.6 example output).
  EAP of the first six patterns -1.8666, -1.5267, -1.5134, -1.1852, -1.0947, -0.7667 (same test
  file, ``fscores(modm1, full.scores = FALSE)``, tolerance 1e-2 there too).
* LSAT7 common-slope model: a = 1.011, d = 1.868, .791, 1.461, .521, 1.993 (same test file, modm4).
* LSAT6 Rasch: ltm ``rasch(LSAT)`` (Rizopoulos 2006, J. Stat. Softw. 17(5)): logLik -2466.938,
  discrimination .7551 (SE .0694), difficulties -3.6153, -1.3224, -.3176, -1.7301, -2.7802 (SE .3266,
  .1422, .0977, .1691, .2510), 21 Gauss-Hermite points; mirt (LSAT6 help page, 61 nodes, common
  slope) a = .755, d = 2.730, .999, .240, 1.307, 2.100, logLik -2466.938.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from numpy.testing import assert_allclose

from scoring.irt import (
    EmpiricalICC,
    IRTResult,
    empirical_icc,
    expected_score_curve,
    fit_2pl,
    fit_rasch,
    item_information,
    test_information,
)

# ----------------------------------------------------------------------------- reference data

# Response patterns in the order 00000, 00001, 00010, ..., 11111 (item 1 is the leftmost digit).
PATTERNS = np.array(list(itertools.product([0, 1], repeat=5)), dtype=np.float64)
# psych::bock.table, column Ob7 (LSAT section 7) and Ob6 (section 6); see the module docstring.
LSAT7_FREQ = [12, 19, 1, 7, 3, 19, 3, 17, 10, 5, 3, 7, 7, 23, 8, 28,
              7, 39, 11, 34, 14, 51, 15, 90, 6, 25, 7, 35, 18, 136, 32, 308]
LSAT6_FREQ = [3, 6, 2, 11, 1, 1, 3, 4, 1, 8, 0, 16, 0, 3, 2, 15,
              10, 29, 14, 81, 3, 28, 15, 80, 16, 56, 21, 173, 11, 61, 28, 298]

Z975 = 1.959963984540054


def _expand(freq):
    return np.repeat(PATTERNS, freq, axis=0)


@pytest.fixture(scope="module")
def lsat7():
    return _expand(LSAT7_FREQ)


@pytest.fixture(scope="module")
def lsat6():
    return _expand(LSAT6_FREQ)


@pytest.fixture(scope="module")
def lsat7_2pl(lsat7):
    return fit_2pl(lsat7)


def _simulate(rng, n, a, b, theta_sd=1.0):
    theta = rng.normal(0.0, theta_sd, n)
    p = 1.0 / (1.0 + np.exp(-a * (theta[:, None] - b)))
    return (rng.random((n, a.size)) < p).astype(np.float64), theta


def _marginal_loglik(x, a, d, n_quad=61):
    """Independent brute-force marginal log-likelihood (masking NaN), for checks."""
    nodes = np.linspace(-6, 6, n_quad)
    w = np.exp(-nodes**2 / 2)
    w /= w.sum()
    like = np.ones((x.shape[0], n_quad))  # direct product of probabilities, no log space
    for j in range(x.shape[1]):
        p = 1.0 / (1.0 + np.exp(-(a[j] * nodes + d[j])))
        like[x[:, j] == 1] *= p
        like[x[:, j] == 0] *= 1.0 - p  # NaN rows are untouched: not presented
    return float(np.log(like @ w).sum())


# ----------------------------------------------------------------------------- data sanity


def test_reference_tables_match_published_summaries(lsat7, lsat6):
    assert lsat7.shape == (1000, 5) and lsat6.shape == (1000, 5)
    counts7 = np.bincount(lsat7.sum(axis=1).astype(int), minlength=6)
    assert counts7.tolist() == [12, 40, 114, 205, 321, 308]  # mirt EAPsum "observed"
    assert_allclose(lsat7.mean(axis=0), [0.828, 0.658, 0.772, 0.606, 0.843])
    assert_allclose(lsat6.mean(axis=0), [0.924, 0.709, 0.553, 0.763, 0.870])


# ----------------------------------------------------------------------------- LSAT7 2PL vs mirt


def test_lsat7_2pl_matches_mirt(lsat7_2pl):
    res = lsat7_2pl
    assert isinstance(res, IRTResult)
    assert res.model == "2pl" and res.converged and res.n_quad == 61
    assert_allclose(res.a, [0.988, 1.081, 1.706, 0.7651, 0.7358], atol=0.01)
    assert_allclose(res.d, [1.8561, 0.808, 1.8043, 0.486, 1.8545], atol=0.01)
    assert_allclose(res.b, -res.d / res.a, rtol=1e-12)
    assert_allclose(res.loglik, -2658.805, atol=0.01)
    assert res.n_params == 10
    assert_allclose(res.aic, 5337.61, atol=0.02)  # printed by mirt alongside the logLik
    assert np.all(np.isnan(res.infit)) and np.all(np.isnan(res.outfit))  # Rasch-only statistics


def test_lsat7_2pl_standard_errors_match_mirt_richardson(lsat7_2pl):
    # mirt SE.type = 'Richardson' 95% CIs (lower, upper) for a and d of items 1..5
    ci_a = [(0.6406, 1.3354), (0.7501, 1.4119), (1.0779, 2.334), (0.5022, 1.028), (0.4395, 1.032)]
    ci_d = [(1.5984, 2.1138), (0.6291, 0.9869), (1.4036, 2.205), (0.3392, 0.6328), (1.6302, 2.0787)]
    se_a = [(hi - lo) / (2 * Z975) for lo, hi in ci_a]
    se_d = [(hi - lo) / (2 * Z975) for lo, hi in ci_d]
    res = lsat7_2pl
    assert res.se_method == "full"
    assert_allclose(res.se_a, se_a, rtol=0.01)
    assert_allclose(res.se_d, se_d, rtol=0.01)
    # delta method for b = -d/a from the full covariance matrix
    k = 5
    cov = res.cov
    g_a, g_d = res.d / res.a**2, -1.0 / res.a
    var_b = g_a**2 * np.diag(cov)[:k] + g_d**2 * np.diag(cov)[k:] + 2 * g_a * g_d * np.diag(cov[:k, k:])
    assert_allclose(res.se_b, np.sqrt(var_b), rtol=1e-12)


def test_lsat7_2pl_eap_matches_mirt(lsat7_2pl, lsat7):
    # first rows of the expanded table are patterns 00000 (x12), 00001 (x19), 00010, 00011, 00100, 00101
    starts = np.cumsum([0] + LSAT7_FREQ)[:6]
    assert_allclose(lsat7_2pl.theta[starts],
                    [-1.8665957, -1.5266920, -1.5134024, -1.1852276, -1.0946830, -0.7666992], atol=0.01)
    assert np.all(lsat7_2pl.theta_se > 0) and np.all(lsat7_2pl.theta_se < 1)


def test_loglik_equals_independent_computation(lsat7_2pl, lsat7):
    res = lsat7_2pl
    assert_allclose(res.loglik, _marginal_loglik(lsat7, res.a, res.d), rtol=1e-10)


def test_se_method_item_is_conditional_and_smaller(lsat7, lsat7_2pl):
    res = fit_2pl(lsat7, se="item")
    assert res.se_method == "item" and res.cov is None
    assert any("per-item blocks" in n for n in res.notes)
    assert np.all(res.se_a < lsat7_2pl.se_a) and np.all(res.se_d < lsat7_2pl.se_d)
    assert np.all(res.se_a > 0.85 * lsat7_2pl.se_a)
    # the per-item SEs are those of each item's own 2x2 block of the full information
    info = np.linalg.inv(lsat7_2pl.cov)
    for j in range(5):
        block = info[np.ix_([j, 5 + j], [j, 5 + j])]
        assert_allclose([res.se_a[j], res.se_d[j]], np.sqrt(np.diag(np.linalg.inv(block))), rtol=1e-8)
    none = fit_2pl(lsat7, se="none")
    assert none.se_method == "none" and np.all(np.isnan(none.se_a))
    assert_allclose(none.a, lsat7_2pl.a)


# ----------------------------------------------------------------------------- Rasch vs ltm / mirt


def test_lsat6_rasch_matches_ltm_and_mirt(lsat6):
    res = fit_rasch(lsat6)
    assert res.model == "rasch" and res.converged
    assert_allclose(res.loglik, -2466.938, atol=0.01)
    assert_allclose(res.latent_sd, 0.7551, atol=0.002)
    assert_allclose(res.se_latent_sd, 0.0694, rtol=0.02)
    assert_allclose(res.a, 1.0)
    assert_allclose(res.d, [2.730, 0.999, 0.240, 1.307, 2.100], atol=0.005)  # mirt, common slope
    assert_allclose(res.b, -res.d)
    assert_allclose(res.se_b, res.se_d)
    assert np.all(np.isnan(res.se_a))
    # ltm reports b* = -d / sigma (difficulty in SD units) and its SE: delta method on (sigma, d)
    s, d, cov = res.latent_sd, res.d, res.cov
    b_star = -d / s
    assert_allclose(b_star, [-3.6153, -1.3224, -0.3176, -1.7301, -2.7802], atol=0.005)
    grad = np.zeros((5, 6))
    grad[:, 0] = d / s**2
    grad[np.arange(5), 1 + np.arange(5)] = -1.0 / s
    se_b_star = np.sqrt(np.einsum("ij,jk,ik->i", grad, cov, grad))
    assert_allclose(se_b_star, [0.3266, 0.1422, 0.0977, 0.1691, 0.2510], rtol=0.02)
    # EAP in logits: theta = sigma * z; posterior SD below the prior SD
    assert np.all(res.theta_se < res.latent_sd)


def test_rasch_item_standard_errors_are_conditional(lsat6):
    full = fit_rasch(lsat6)
    item = fit_rasch(lsat6, se="item")
    assert item.se_method == "item" and item.cov is None
    # conditional SEs: 1 / sqrt(diagonal of the information) <= sqrt(diagonal of its inverse)
    info = np.linalg.inv(full.cov)
    assert_allclose(item.se_d, 1 / np.sqrt(np.diag(info)[1:]), rtol=1e-8)
    assert_allclose(item.se_latent_sd, 1 / np.sqrt(info[0, 0]), rtol=1e-8)
    assert np.all(item.se_d <= full.se_d) and item.se_latent_sd <= full.se_latent_sd


def test_lsat7_rasch_matches_mirt_common_slope(lsat7):
    res = fit_rasch(lsat7)
    assert_allclose(res.latent_sd, 1.011, atol=0.003)
    assert_allclose(res.d, [1.868, 0.791, 1.461, 0.521, 1.993], atol=0.005)
    assert res.n_params == 6


def test_full_covariance_matches_numeric_hessian_with_missing_data():
    """Observed information (Louis) vs finite differences of an independent log-likelihood."""
    rng = np.random.default_rng(11)
    a = np.array([0.8, 1.3, 1.9, 1.0])
    b = np.array([-1.0, 0.0, 0.5, 1.2])
    x, _ = _simulate(rng, 300, a, b)
    x[rng.random(x.shape) < 0.2] = np.nan
    res = fit_2pl(x)
    assert res.se_method == "full"
    p0 = np.r_[res.a, res.d]
    h = 1e-3
    k = p0.size
    hess = np.zeros((k, k))
    for i in range(k):
        for j in range(i, k):
            ei, ej = np.eye(k)[i] * h, np.eye(k)[j] * h
            f = [_marginal_loglik(x, *np.split(p0 + si * ei + sj * ej, 2)) for si, sj in
                 ((1, 1), (1, -1), (-1, 1), (-1, -1))]
            hess[i, j] = hess[j, i] = (f[0] - f[1] - f[2] + f[3]) / (4 * h * h)
    assert_allclose(res.cov, np.linalg.inv(-hess), rtol=2e-3, atol=1e-6)


# ----------------------------------------------------------------------------- recovery


def test_2pl_parameter_recovery_2000_by_40():
    # a ~ U(0.8, 2.0), b ~ U(-2, 2), theta ~ N(0, 1); seeded
    rng = np.random.default_rng(20240601)
    a = rng.uniform(0.8, 2.0, 40)
    b = rng.uniform(-2.0, 2.0, 40)
    x, theta = _simulate(rng, 2000, a, b)
    res = fit_2pl(x)
    assert res.converged
    rmse_a = np.sqrt(np.mean((res.a - a) ** 2))
    rmse_b = np.sqrt(np.mean((res.b - b) ** 2))
    assert rmse_a <= 0.10, rmse_a
    assert rmse_b <= 0.10, rmse_b
    # the SEs are calibrated: standardised errors have RMS about 1
    z_a = (res.a - a) / res.se_a
    z_b = (res.b - b) / res.se_b
    assert 0.7 < np.sqrt(np.mean(z_a**2)) < 1.35
    assert 0.7 < np.sqrt(np.mean(z_b**2)) < 1.35
    # EAP sanity: correlation with the true ability, and the variance decomposition
    # Var(theta) = E[Var(theta | x)] + Var(E[theta | x]) = 1 under the fitted N(0, 1) model
    assert np.corrcoef(res.theta, theta)[0, 1] > 0.93
    assert_allclose(np.mean(res.theta_se**2) + np.var(res.theta), 1.0, atol=0.03)
    assert_allclose(np.mean(res.theta), 0.0, atol=0.02)


def test_rasch_recovery_and_fit_statistics():
    # b ~ U(-2, 2), theta ~ N(0, 1.3^2); item 0 too flat (a = 0.4), item 1 too steep (a = 2.5)
    rng = np.random.default_rng(7)
    j = 30
    b = rng.uniform(-2.0, 2.0, j)
    a = np.ones(j)
    a[0], a[1] = 0.4, 2.5
    x, theta = _simulate(rng, 3000, a, b, theta_sd=1.3)
    res = fit_rasch(x)
    assert res.converged
    ok = slice(2, None)
    assert np.sqrt(np.mean((res.b[ok] - b[ok]) ** 2)) <= 0.10
    assert_allclose(res.latent_sd, 1.3, atol=0.06)
    assert np.corrcoef(res.theta, theta)[0, 1] > 0.9
    # fitting items: mean squares near 1 (their SD ~ sqrt(2/N) ~ 0.03)
    assert np.all(np.abs(res.infit[ok] - 1) < 0.1) and np.all(np.abs(res.outfit[ok] - 1) < 0.15)
    assert_allclose(np.median(res.infit[ok]), 1.0, atol=0.02)
    assert res.infit[0] > 1.15 and res.outfit[0] > 1.2  # noisy: underfit
    assert res.infit[1] < 0.85 and res.outfit[1] < 0.8  # too deterministic: overfit
    # SEs of the difficulties roughly calibrated
    z = (res.b[ok] - b[ok]) / res.se_b[ok]
    assert 0.6 < np.sqrt(np.mean(z**2)) < 1.5


def test_missing_by_design_is_masked_not_scored_wrong():
    """Two forms with 10 common items: NaN = not presented must not bias the estimates."""
    rng = np.random.default_rng(3)
    j = 30
    a = rng.uniform(0.8, 2.0, j)
    b = rng.uniform(-1.5, 1.5, j)
    x, _ = _simulate(rng, 4000, a, b)
    form_b = rng.random(4000) < 0.5
    x[np.ix_(~form_b, np.arange(20, 30))] = np.nan  # form A: items 0-19
    x[np.ix_(form_b, np.arange(0, 10))] = np.nan  # form B: items 10-29
    res = fit_2pl(x)
    assert res.converged and res.se_method == "full"
    assert np.sqrt(np.mean((res.a - a) ** 2)) <= 0.12
    assert np.sqrt(np.mean((res.b - b) ** 2)) <= 0.12
    # treating NaN as wrong would make the form-specific items look much harder
    wrong = fit_2pl(np.nan_to_num(x), max_iter=40, se="none")
    assert np.sqrt(np.mean((wrong.b - b) ** 2)) > 0.3


def test_row_order_and_pattern_collapsing_do_not_matter(lsat7, lsat7_2pl):
    perm = np.random.default_rng(5).permutation(lsat7.shape[0])
    res = fit_2pl(lsat7[perm])
    assert_allclose(res.a, lsat7_2pl.a, rtol=1e-10)
    assert_allclose(res.theta, lsat7_2pl.theta[perm], rtol=1e-10)
    # bool and int input give the same answer as float
    assert_allclose(fit_2pl(lsat7.astype(bool)).d, lsat7_2pl.d)
    assert_allclose(fit_2pl(lsat7.astype(np.int8)).d, lsat7_2pl.d)


def test_candidate_without_responses_gets_the_prior(lsat7):
    x = lsat7.copy()
    x[0] = np.nan
    res = fit_2pl(x)
    assert res.theta[0] == pytest.approx(0.0, abs=1e-12)
    assert res.theta_se[0] == pytest.approx(1.0, abs=1e-3)
    assert any("saw none of the used items" in n for n in res.notes)


# ----------------------------------------------------------------------------- degenerate input


def test_constant_and_unpresented_items_are_excluded_with_reason(lsat7):
    x = np.column_stack([lsat7, np.ones(1000), np.zeros(1000), np.full(1000, np.nan)])
    res = fit_2pl(x)
    assert res.item_used.tolist() == [True] * 5 + [False] * 3
    for arr in (res.a, res.b, res.d, res.se_a, res.se_b):
        assert np.all(np.isnan(arr[5:])) and np.all(np.isfinite(arr[:5]))
    notes = " | ".join(res.notes)
    assert "item 5: all 1000 candidates answered correctly" in notes
    assert "item 6: all 1000 candidates answered wrongly" in notes
    assert "item 7: never presented" in notes
    ref = fit_2pl(lsat7)
    assert_allclose(res.a[:5], ref.a)


def test_negative_discrimination_is_noted(lsat7):
    x = lsat7.copy()
    x[:, 2] = 1 - x[:, 2]  # reversed key
    res = fit_2pl(x)
    assert res.a[2] < 0
    assert any("item 2: negative discrimination" in n and "check the key" in n for n in res.notes)


def test_non_convergence_is_reported(lsat7):
    res = fit_2pl(lsat7, max_iter=2)
    assert not res.converged and res.n_iter == 2
    assert any("did not converge" in n for n in res.notes)


@pytest.mark.parametrize(
    "scores, exc, match",
    [
        (np.array([[0, 1, 2], [1, 0, 1], [0, 0, 1]]), ValueError,
         r"only 0, 1 or NaN.*2\.0 at row 0, column 2 \(0-based\)"),
        (np.array([[0, 1, 0.5], [1, 0, 1], [0, 0, 1]]), ValueError, r"only 0, 1 or NaN"),
        (np.array([[0, 1, np.inf], [1, 0, 1], [0, 0, 1]]), ValueError,
         r"infinite value \(row 0, column 2, 0-based\)"),
        (np.array([[0, 1, 1]]), ValueError, r"at least 2 candidates"),
        (np.array([0, 1, 1]), ValueError, r"2-D"),
        (np.array([["0", "1"], ["1", "0"]]), TypeError, r"numeric"),
        (np.ones((10, 4)), ValueError, r"needs at least 3 items with both right and wrong.*got 0 of 4"),
    ],
)
def test_bad_input_messages(scores, exc, match):
    with pytest.raises(exc, match=match):
        fit_2pl(scores)


def test_rasch_needs_two_items_and_2pl_three():
    x = np.array([[0, 1, 1], [1, 0, 1], [1, 1, 1], [0, 0, 1]], dtype=float)  # column 2 constant
    with pytest.raises(ValueError, match=r"2pl model needs at least 3 items.*item 2: all 4 candidates"):
        fit_2pl(x)
    rng = np.random.default_rng(2)
    y, _ = _simulate(rng, 500, np.ones(2), np.array([-0.5, 0.5]))
    res = fit_rasch(np.column_stack([y, np.ones(500)]))
    assert res.item_used.tolist() == [True, True, False]
    with pytest.raises(ValueError, match=r"rasch model needs at least 2 items"):
        fit_rasch(np.column_stack([y[:, :1], np.ones(500)]))


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"n_quad": 3}, ValueError, "n_quad must be at least 5"),
        ({"n_quad": 61.0}, TypeError, "n_quad must be an integer"),
        ({"tol": 0}, ValueError, "tol must be a positive"),
        ({"tol": "1e-4"}, TypeError, "tol must be a real number"),
        ({"max_iter": 0}, ValueError, "max_iter must be at least 1"),
        ({"se": "sandwich"}, ValueError, "se must be one of"),
    ],
)
def test_bad_options(lsat7, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        fit_rasch(lsat7, **kwargs)


# ----------------------------------------------------------------------------- curves


def test_item_information_hand_values():
    # I = a^2 P (1 - P); at theta = b, P = 1/2 so I = a^2 / 4; at theta = b + ln(3)/a, P = 3/4
    a, b = 1.5, 0.5
    assert_allclose(item_information(a, b, b), 1.5**2 * 0.25)
    assert_allclose(item_information(a, b, b + np.log(3) / a), 1.5**2 * 0.75 * 0.25)
    assert_allclose(item_information(a, b, b - np.log(3) / a), 1.5**2 * 0.75 * 0.25)
    grid = np.array([-1.0, 0.0, 2.0])
    info = item_information([1.0, 2.0], [0.0, 1.0], grid)
    assert info.shape == (3, 2)
    p = 1 / (1 + np.exp(-np.array([[-1.0, -4.0], [0.0, -2.0], [2.0, 2.0]])))
    assert_allclose(info, np.array([1.0, 4.0]) * p * (1 - p), rtol=1e-12)


def test_test_information_and_expected_score(lsat7_2pl):
    a = np.array([1.0, 2.0, np.nan])
    b = np.array([0.0, 1.0, np.nan])
    grid = np.linspace(-3, 3, 13)
    ti = test_information(a, b, grid)
    assert_allclose(ti, item_information(a[:2], b[:2], grid).sum(axis=1))
    assert_allclose(test_information(a, b, 0.0), 0.25 + 4 * (1 / (1 + np.exp(2))) * (1 / (1 + np.exp(-2))))
    icc = expected_score_curve(a, b, grid, per_item=True)
    assert icc.shape == (13, 3) and np.all(np.isnan(icc[:, 2]))
    assert_allclose(expected_score_curve(a, b, 0.0, per_item=True)[:2], [0.5, 1 / (1 + np.exp(2))])
    tcc = expected_score_curve(a, b, grid)
    assert_allclose(tcc, icc[:, :2].sum(axis=1))
    assert np.all(np.diff(tcc) > 0)
    # maximum information of a 2PL item is a^2/4 at theta = b
    res = lsat7_2pl
    peak = item_information(res.a, res.b, res.b)
    assert_allclose(np.diag(peak), res.a**2 / 4)


def test_curve_argument_errors():
    with pytest.raises(ValueError, match="same shape"):
        item_information([1.0, 1.0], [0.0], 0.0)
    with pytest.raises(ValueError, match="theta must be finite"):
        test_information([1.0], [0.0], [np.nan])


def test_empirical_icc_hand_example():
    t = np.arange(10.0)
    x = np.array([0, 0, 0, 1, 0, 1, 1, 1, 1, 1], dtype=float)
    e = empirical_icc(x, t, n_bins=2)
    assert isinstance(e, EmpiricalICC)
    assert_allclose(e.edges, [0.0, 4.0, 9.0])
    assert e.n.tolist() == [4, 6]
    assert_allclose(e.p, [1 / 4, 5 / 6])
    assert_allclose(e.x_mean, [1.5, 6.5])
    assert_allclose(e.se, np.sqrt(e.p * (1 - e.p) / e.n))
    # ties stay together; NaN (not presented) responses are left out
    t2 = np.array([1, 1, 1, 1, 2, 2, 3, 3, 3, 3], dtype=float)
    x2 = np.array([0, 1, 0, np.nan, 1, 1, 1, 0, 1, 1])
    e2 = empirical_icc(x2, t2, n_bins=5)
    assert e2.n.sum() == 9
    for lo, hi in zip(e2.edges[:-1], e2.edges[1:]):
        assert not np.any((t2 > lo) & (t2 < hi) & ~np.isin(t2, e2.edges))
    with pytest.raises(ValueError, match="only 0, 1 or NaN"):
        empirical_icc([0, 2], [1.0, 2.0])
    with pytest.raises(ValueError, match="equal length"):
        empirical_icc([0, 1], [1.0])
    with pytest.raises(ValueError, match="finite"):
        empirical_icc([0, 1], [1.0, np.nan])


def test_empirical_icc_follows_the_fitted_curve():
    rng = np.random.default_rng(4)
    a = rng.uniform(0.8, 2.0, 20)
    b = rng.uniform(-1.5, 1.5, 20)
    x, _ = _simulate(rng, 3000, a, b)
    res = fit_2pl(x)
    e = empirical_icc(x[:, 3], res.theta, n_bins=8)
    model = expected_score_curve(res.a, res.b, e.x_mean, per_item=True)[:, 3]
    # EAP is shrunk, so compare loosely: within 3 binomial SEs (+ 0.03) in every bin
    assert np.all(np.abs(e.p - model) < 3 * e.se + 0.03)

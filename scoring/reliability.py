"""Test-level statistics: score distribution, Cronbach's alpha / KR-20, SEM, and precision and
decision consistency at the pass mark.

* ``mean``, ``sd`` (divisor N − 1), ``median``; ``skewness = k3 / k2^1.5`` and (excess)
  ``kurtosis = k4 / k2²`` from Fisher's k-statistics, as Moodle's quiz statistics
  (``k2 = N m2/(N−1)``, ``k3 = N² m3/((N−1)(N−2))``,
  ``k4 = N²((N+1) m4 − 3(N−1) m2²)/((N−1)(N−2)(N−3))``); these equal
  ``scipy.stats.skew(bias=False)`` and ``scipy.stats.kurtosis(bias=False)``.
* ``alpha = J/(J−1) · (1 − Σ var(x_j) / var(T))`` (Cronbach 1951; = KR-20 for 0/1 items,
  = Moodle CIC / 100); ``SEM = SD(T) · sqrt(1 − alpha)``.
* Conditional SEM at the cut c (in points, test maximum M, J items): Lord's binomial error model
  ``CSEM(c) = M · sqrt(π (1 − π) / (J − 1))``, π = c / M (Lord 1955, 1957; for number-correct scores
  this is sqrt(x (J − x)/(J − 1))). Keats' (1957) correction multiplies it by
  ``sqrt((1 − alpha) / (1 − KR21))`` with KR-21 computed on the number-correct metric x' = J·T/M.
* Decision consistency ``p0`` = probability that a candidate is classified the same (pass/fail) on
  a parallel form, and Cohen's kappa, by the normal approximation (Huynh 1976; Peng & Subkoviak
  1980, J. Educ. Meas. 17:359–368): scores on two forms are bivariate normal with correlation
  ρ = alpha; with ``z = (c − u/2 − mean)/SD`` (u = score unit, a continuity correction),
  ``p0 = 1 − 2Φ(z) + 2Φ₂(z, z; ρ)``, ``pc = Φ(z)² + (1 − Φ(z))²``, ``kappa = (p0 − pc)/(1 − pc)``.
  Φ₂(h, h; ρ) = Φ(h) − 2 T(h, sqrt((1 − ρ)/(1 + ρ))) with Owen's T function (Owen 1956).
* For number-correct tests (all items 0/1 with equal points) also Subkoviak's (1976) binomial
  method: ``τ̂_i = KR21 · x_i/J + (1 − KR21) · x̄/J``, ``P_i = P(Binomial(J, τ̂_i) ≥ c)``,
  ``p0 = mean(P_i² + (1 − P_i)²)``.

A candidate passes when ``T >= cut``; the default cut is 60 % of the maximum total.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special, stats

from ._core import ScoreSummary, score_grid, summarize
from .results import PassMarkResult, ReliabilityResult, ScoreDistribution

__all__ = [
    "score_distribution",
    "cronbach_alpha",
    "pass_mark_analysis",
    "bivariate_normal_cdf_equal",
    "DEFAULT_PASS_FRACTION",
]

DEFAULT_PASS_FRACTION = 0.60


def score_distribution(totals, max_total=None, *, bins=None) -> ScoreDistribution:
    """Describe the distribution of total scores.

    Parameters
    ----------
    totals : array_like (N,)
        Total scores in points, N >= 1.
    max_total : float, optional
        Maximum possible total (default: the observed maximum).
    bins : int or array_like of edges, optional
        Histogram bins. Default: one bin per attainable score when scores are multiples of a unit
        (1, 0.5, ... points) and there are at most 101 such values, else 20 equal bins on
        [0, max_total].

    Returns
    -------
    ScoreDistribution
        skewness needs N >= 3 and kurtosis N >= 4 and a non-zero SD, else nan with a note.
    """
    t = np.asarray(totals, dtype=np.float64).reshape(-1)
    n = t.shape[0]
    if n < 1:
        raise ValueError("score_distribution needs at least one total score")
    if not np.all(np.isfinite(t)):
        raise ValueError("total scores must be finite")
    mt = float(t.max()) if max_total is None else float(max_total)
    if not math.isfinite(mt) or mt <= 0:
        mt = max(float(t.max()), 1.0)
    notes = []
    mean = float(t.mean())
    d = t - mean
    m2 = float(np.mean(d * d))
    m3 = float(np.mean(d ** 3))
    m4 = float(np.mean(d ** 4))
    sd = math.sqrt(m2 * n / (n - 1)) if n >= 2 else float("nan")
    if n < 2:
        notes.append("sd needs at least 2 candidates")
    skew = kurt = float("nan")
    if m2 <= 1e-14 * max(mt * mt, 1e-300):
        notes.append("zero variance of the total score: skewness and kurtosis undefined")
    else:
        k2 = n * m2 / (n - 1)
        if n >= 3:
            k3 = n * n * m3 / ((n - 1) * (n - 2))
            skew = k3 / k2 ** 1.5
        else:
            notes.append("skewness needs at least 3 candidates")
        if n >= 4:
            k4 = n * n * ((n + 1) * m4 - 3 * (n - 1) * m2 * m2) / ((n - 1) * (n - 2) * (n - 3))
            kurt = k4 / (k2 * k2)
        else:
            notes.append("kurtosis needs at least 4 candidates")
    if bins is None:
        u = score_grid(np.concatenate((t, [mt])))
        if u is not None and mt / u <= 100:
            edges = (np.arange(0, round(mt / u) + 2) - 0.5) * u
        else:
            edges = np.linspace(0.0, mt, 21)
    else:
        edges = bins
    counts, edges = np.histogram(t, bins=edges)
    return ScoreDistribution(
        n=n, mean=mean, sd=sd, median=float(np.median(t)), minimum=float(t.min()), maximum=float(t.max()),
        skewness=skew, kurtosis=kurt, max_total=mt, histogram_edges=np.asarray(edges, dtype=np.float64),
        histogram_counts=counts.astype(np.int64), notes=tuple(notes),
    )


def cronbach_alpha(data, max_points=None, *, summary: ScoreSummary | None = None) -> ReliabilityResult:
    """Cronbach's alpha (KR-20 for dichotomous items) and the SEM.

    ``alpha = J/(J−1) · (1 − Σ_j var(x_j) / var(T))``; ``SEM = SD(T) sqrt(1 − alpha)``.

    Parameters
    ----------
    data : ScoreMatrix or array_like (N, J)
    max_points : array_like (J,), optional (arrays only)
    summary : ScoreSummary, optional

    Returns
    -------
    ReliabilityResult
        alpha is nan for J < 2 or var(T) = 0; SEM is nan when alpha <= 0 (it would exceed SD).

    References
    ----------
    Cronbach (1951), Psychometrika 16:297–334; Kuder & Richardson (1937), Psychometrika 2:151–160.
    """
    if summary is None:
        summary = summarize(data, max_points)
    j, n = summary.n_items, summary.n
    item_var = np.diag(summary.cov)
    s_item = float(item_var.sum())
    vt = summary.var_total
    notes = []
    alpha = float("nan")
    if j < 2:
        notes.append("alpha needs at least 2 items")
    elif vt <= 0:
        notes.append("zero variance of the total score: alpha undefined")
    else:
        alpha = j / (j - 1) * (1 - s_item / vt)
    kr20 = alpha if bool(np.all(summary.dichotomous)) else float("nan")
    sem = float("nan")
    if math.isfinite(alpha):
        if alpha > 0:
            sem = math.sqrt(vt) * math.sqrt(1 - min(alpha, 1.0))
        else:
            notes.append(f"alpha = {alpha:.3f} <= 0: SEM undefined (items do not measure a common trait)")
    return ReliabilityResult(alpha=alpha, kr20=kr20, sem=sem, n=n, n_items=j, sum_item_variances=s_item,
                             total_variance=vt, notes=tuple(notes))


def bivariate_normal_cdf_equal(h, rho):
    """P(Z1 <= h, Z2 <= h) for standard bivariate normal with correlation rho in (-1, 1].

    ``Φ₂(h, h; ρ) = Φ(h) − 2 T(h, sqrt((1 − ρ)/(1 + ρ)))`` (Owen 1956, Ann. Math. Stat. 27:1075).
    """
    h = np.asarray(h, dtype=np.float64)
    rho = np.asarray(rho, dtype=np.float64)
    if np.any((rho <= -1) | (rho > 1)):
        raise ValueError("rho must be in (-1, 1]")
    a = np.sqrt((1 - rho) / (1 + rho))
    return special.ndtr(h) - 2 * special.owens_t(h, a)


def pass_mark_analysis(
    data,
    max_points=None,
    *,
    cut: float | None = None,
    pass_fraction: float = DEFAULT_PASS_FRACTION,
    summary: ScoreSummary | None = None,
    alpha: float | None = None,
) -> PassMarkResult:
    """Pass count, conditional SEM and decision consistency at the pass mark.

    Parameters
    ----------
    data : ScoreMatrix or array_like (N, J)
    max_points : array_like (J,), optional (arrays only)
    cut : float, optional
        Pass mark in points (pass when total >= cut). Default ``pass_fraction * max_total``.
    pass_fraction : float, default 0.60
    summary : ScoreSummary, optional
    alpha : float, optional
        Reliability to use (default: Cronbach's alpha of the data).

    Returns
    -------
    PassMarkResult
        Formulas and references in the module docstring.
    """
    if summary is None:
        summary = summarize(data, max_points)
    if not isinstance(pass_fraction, (int, float)) or not 0 < pass_fraction <= 1:
        raise ValueError(f"pass_fraction must be in (0, 1], got {pass_fraction!r}")
    m_total = float(summary.max_points.sum())
    if cut is None:
        cut = pass_fraction * m_total
    cut = float(cut)
    if not math.isfinite(cut) or not 0 <= cut <= m_total:
        raise ValueError(f"cut must be between 0 and the maximum total {m_total:g}, got {cut!r}")
    t = summary.totals
    n, j = summary.n, summary.n_items
    eps = 1e-9 * max(1.0, abs(cut))
    passed = t >= cut - eps
    pass_count = int(passed.sum())
    notes = []
    if alpha is None:
        alpha = cronbach_alpha(None, summary=summary).alpha
    # Lord / Keats conditional SEM
    csem_lord = csem_keats = kr21 = float("nan")
    if j >= 2:
        pi = cut / m_total
        csem_lord = m_total * math.sqrt(pi * (1 - pi) / (j - 1))
        xprime = t * (j / m_total)
        mu = float(xprime.mean())
        var = float(xprime.var(ddof=1))
        if var > 0:
            kr21 = j / (j - 1) * (1 - mu * (j - mu) / (j * var))
            if kr21 < 1 and math.isfinite(alpha):
                csem_keats = csem_lord * math.sqrt(max(1 - alpha, 0.0) / (1 - kr21))
        else:
            notes.append("zero variance of the total score: KR-21 and Keats' CSEM undefined")
    else:
        notes.append("conditional SEM needs at least 2 items")
    # normal approximation
    p0 = kappa = float("nan")
    sd = math.sqrt(summary.var_total)
    if sd <= 0:
        notes.append("zero variance of the total score: decision consistency undefined")
    elif not math.isfinite(alpha) or alpha <= 0:
        notes.append("reliability <= 0 or undefined: decision consistency undefined")
    else:
        u = score_grid(summary.max_points)
        if u is not None and not np.all(summary.dichotomous):
            u = score_grid(summary.scores[:, ~summary.dichotomous])
        u = 0.0 if u is None else u
        z = (cut - u / 2 - float(t.mean())) / sd
        phi = float(special.ndtr(z))
        rho = min(alpha, 1.0)
        phi2 = float(bivariate_normal_cdf_equal(z, rho))
        p0 = 1 - 2 * phi + 2 * phi2
        pc = phi * phi + (1 - phi) ** 2
        kappa = (p0 - pc) / (1 - pc) if pc < 1 else float("nan")
    # Subkoviak (number-correct tests only)
    sp0 = skappa = float("nan")
    mp = summary.max_points
    if bool(np.all(summary.dichotomous)) and np.all(mp == mp[0]) and math.isfinite(kr21):
        x = t / mp[0]
        c = math.ceil(cut / mp[0] - 1e-9)
        rel = min(max(kr21, 0.0), 1.0)
        tau = np.clip(rel * x / j + (1 - rel) * float(x.mean()) / j, 0.0, 1.0)
        pi_pass = stats.binom.sf(c - 1, j, tau)
        sp0 = float(np.mean(pi_pass ** 2 + (1 - pi_pass) ** 2))
        pbar = float(pi_pass.mean())
        pc = pbar * pbar + (1 - pbar) ** 2
        skappa = (sp0 - pc) / (1 - pc) if pc < 1 else float("nan")
    else:
        notes.append("Subkoviak's method applies only to tests of 0/1 items with equal points")
    return PassMarkResult(
        cut=cut, pass_count=pass_count, pass_rate=pass_count / n, csem_lord=csem_lord, csem_keats=csem_keats,
        kr21=kr21, p0=p0, kappa=kappa, subkoviak_p0=sp0, subkoviak_kappa=skappa, notes=tuple(notes),
    )

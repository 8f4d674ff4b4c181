"""Classical item statistics: facility, SD, item–total and item–rest r, alpha if deleted,
upper–lower 27 % D and Moodle's discriminative efficiency, with confidence intervals.

Notation: x_ij score of candidate i on item j (points), max_j its maximum, T_i = Σ_j x_ij,
N candidates, J items; variances and covariances use the divisor N − 1; C is the J × J item
covariance matrix (computed once as Xcᵀ Xc / (N − 1), the "J × J trick").

* facility ``p_j = mean(x_j) / max_j`` (Moodle facility index / 100);
* ``r_pbis_j = cov(x_j, T) / sqrt(var(x_j) var(T))`` (R psych ``raw.r``; point-biserial for 0/1);
* ``r_rest_j = cov(x_j, T − x_j) / sqrt(var(x_j) var(T − x_j))`` (psych ``r.drop``, Moodle
  discrimination index / 100), with ``cov(x_j, T − x_j) = ΣC_j· − C_jj`` and
  ``var(T − x_j) = ΣC − 2ΣC_j· + C_jj``;
* ``alpha_if_deleted_j = (J−1)/(J−2) · (1 − (tr C − C_jj) / var(T − x_j))`` (psych ``alpha.drop``);
* ``d_ul27 = p_upper − p_lower`` over the top / bottom ``round(0.27 N)`` candidates by T
  (Kelley 1939), tie rule in `scoring._core.upper_lower_groups`;
* discriminative efficiency (Moodle ``question/classes/statistics/questions/calculator.php``):
  ``cov(x_j, T − x_j) / cov_max`` with ``cov_max = Σ_i (x_(i) − x̄)(r_(i) − r̄) / (N − 1)`` where
  x_(i) and r_(i) are x_j and T − x_j each sorted ascending — reported as a fraction (Moodle shows
  ×100 and calls an item "dubious" below 15 %);
* CIs: Wilson score interval for p of a dichotomous item, otherwise a normal interval
  ``p ± z·sd/(max·sqrt N)`` clipped to [0, 1]; Fisher z for r_rest (``tanh(atanh r ± z/sqrt(N−3))``).

Zero-variance items and totals give nan with a reason in ``notes``; nothing is ever reversed.
"""

from __future__ import annotations

import numpy as np

from ._core import ScoreSummary, strata_sums, summarize, upper_lower_groups
from .intervals import fisher_z_interval, wald_interval, wilson_interval, z_value
from .results import ItemStatistics

__all__ = ["item_statistics", "upper_lower_groups", "discriminative_efficiency"]


def _safe_div(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    out = np.full(np.broadcast(a, b).shape, np.nan)
    np.divide(a, b, out=out, where=(b > 0) & np.isfinite(b))
    return out


def _top_sums(hist: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Per column c of ``hist`` (count of value r in row r), the sum of the k[c] largest values."""
    r = np.arange(hist.shape[0], dtype=np.float64)[:, None]
    cnt = np.cumsum(hist[::-1], axis=0)[::-1]  # number of values >= r
    tot = np.cumsum((r * hist)[::-1], axis=0)[::-1]  # sum of values >= r
    cnt = np.vstack([cnt, np.zeros((1, hist.shape[1]))])
    tot = np.vstack([tot, np.zeros((1, hist.shape[1]))])
    rstar = (cnt[:-1] >= k[None, :]).sum(axis=0) - 1  # largest r with at least k values >= r
    cols = np.arange(hist.shape[1])
    return tot[rstar + 1, cols] + rstar * (k - cnt[rstar + 1, cols])


def _sorted_product_hist(xcol: np.ndarray, restcol: np.ndarray) -> float:
    """Σ sort(x)_i sort(rest)_i for non-negative integer vectors, from their histograms."""
    hx = np.bincount(xcol)
    hr = np.bincount(restcol)
    cr = np.cumsum(hr)
    cs = np.cumsum(np.arange(hr.shape[0]) * hr)
    cx = np.cumsum(hx)
    k = np.searchsorted(cr, cx, side="right")  # blocks of rest fully inside the first cx values
    prev_c = np.where(k > 0, cr[np.maximum(k - 1, 0)], 0)
    prev_s = np.where(k > 0, cs[np.maximum(k - 1, 0)], 0)
    f = prev_s + np.where(k < hr.shape[0], k, 0) * (cx - prev_c)  # sum of the cx smallest rest values
    block = np.diff(np.concatenate(([0], f)))
    return float(np.dot(np.arange(hx.shape[0], dtype=np.float64), block))


def discriminative_efficiency(summary: ScoreSummary) -> np.ndarray:
    """Moodle discriminative efficiency (fraction) of every item.

    ``DE_j = cov(x_j, T − x_j) / cov_max_j``; cov_max pairs x_j and T − x_j each sorted ascending.
    When the scores lie on a grid (multiples of 1, 0.5, ... points) the sorted products come from
    histograms: for 0/max items from the counts of right answers per total score (one sparse product
    for all items), for other items from per-item histograms; without a grid, by sorting.

    Parameters
    ----------
    summary : ScoreSummary

    Returns
    -------
    ndarray (J,)
        nan where cov_max <= 0 (constant item or constant rest score).
    """
    x = summary.scores
    n, j = x.shape
    mp = summary.max_points
    rest_mean = summary.totals.mean() - summary.means
    sum_prod = np.empty(j)
    u = summary.unit
    if u is not None:
        tcode = np.rint(summary.totals / u).astype(np.int64)
        kt = int(tcode.max()) + 1
        dcols = np.flatnonzero(summary.dichotomous)
        if dcols.size:
            xs = x if dcols.size == j else x[:, dcols]
            h1 = np.rint(strata_sums(xs, tcode, kt) / mp[dcols])  # (kt, Jd): right answers per total
            h0 = np.bincount(tcode, minlength=kt)[:, None] - h1
            steps = np.rint(mp[dcols] / u).astype(np.int64)
            for m in np.unique(steps):
                sel = np.flatnonzero(steps == m)
                hist = h0[:, sel].copy()  # rest = t for wrong answers, t - m for right answers
                hist[: kt - m] += h1[m:, sel]
                n1 = h1[:, sel].sum(axis=0)
                sum_prod[dcols[sel]] = m * _top_sums(hist, n1) * u * u
        for jj in np.flatnonzero(~summary.dichotomous):
            col = np.rint(x[:, jj] / u).astype(np.int64)
            sum_prod[jj] = _sorted_product_hist(col, tcode - col) * u * u
    else:
        for jj in range(j):
            col = x[:, jj]
            sum_prod[jj] = float(np.dot(np.sort(col), np.sort(summary.totals - col)))
    cov_max = (sum_prod - n * summary.means * rest_mean) / (n - 1)
    cov_max = np.where(cov_max > 1e-12 * np.maximum(mp, 1) ** 2, cov_max, 0.0)
    return _safe_div(summary.cov_item_rest, cov_max)


def item_statistics(
    data,
    max_points=None,
    *,
    ul_fraction: float = 0.27,
    confidence: float = 0.95,
    summary: ScoreSummary | None = None,
    item_ids=None,
) -> ItemStatistics:
    """Classical item statistics of every item (formulas in the module docstring).

    Parameters
    ----------
    data : ScoreMatrix or array_like (N, J)
        Item scores; omitted = 0.
    max_points : array_like (J,), optional
        Only with an array; default the column maximum (at least 1).
    ul_fraction : float, default 0.27
        Share of candidates in each of the upper and lower groups.
    confidence : float, default 0.95
        Level of the intervals for p and r_rest.
    summary : ScoreSummary, optional
        Precomputed `scoring._core.summarize` output (saves a pass over the data).
    item_ids : sequence of str, optional
        Default: the ScoreMatrix's ids or ``"1".."J"``.

    Returns
    -------
    ItemStatistics

    References
    ----------
    Moodle quiz statistics (calculator.php); Revelle, psych::alpha; Kelley (1939), J. Educ.
    Psychol. 30:17–24; Wilson (1927), JASA 22:209–212.
    """
    z_value(confidence)
    if summary is None:
        summary = summarize(data, max_points, ul_fraction=ul_fraction)
    if item_ids is None:
        item_ids = getattr(data, "item_ids", None) or tuple(str(i + 1) for i in range(summary.n_items))
    x, mp, n, j = summary.scores, summary.max_points, summary.n, summary.n_items
    item_var = np.diag(summary.cov).copy()
    sd = np.sqrt(item_var)
    mean = summary.means
    p = mean / mp
    dich = summary.dichotomous
    wl, wh = wilson_interval(p, n, confidence)
    nl, nh = wald_interval(p, sd / mp, n, confidence)
    p_lo = np.where(dich, wl, nl)
    p_hi = np.where(dich, wh, nh)

    vt = summary.var_total
    with np.errstate(invalid="ignore", divide="ignore"):
        r_pbis = _safe_div(summary.cov_item_total, np.sqrt(item_var * vt))
        r_rest = _safe_div(summary.cov_item_rest, np.sqrt(item_var * summary.var_rest))
    r_pbis = np.clip(r_pbis, -1, 1)
    r_rest = np.clip(r_rest, -1, 1)
    r_lo, r_hi = fisher_z_interval(r_rest, n, confidence)

    trace = float(item_var.sum())
    if j >= 3:
        alpha_del = (j - 1) / (j - 2) * (1 - _safe_div(trace - item_var, summary.var_rest))
    else:
        alpha_del = np.full(j, np.nan)

    up, lo = summary.upper, summary.lower
    ng = up.shape[0]
    p_upper = x[up].mean(axis=0) / mp
    p_lower = x[lo].mean(axis=0) / mp
    d = p_upper - p_lower
    de = discriminative_efficiency(summary)

    notes = []
    for jj in range(j):
        nt = []
        if item_var[jj] == 0:
            nt.append("zero variance (every candidate has the same score): r_pbis, r_rest, "
                      "disc_efficiency undefined")
        elif vt == 0:
            nt.append("zero variance of the total score: r_pbis undefined")
        if item_var[jj] > 0 and summary.var_rest[jj] == 0:
            nt.append("zero variance of the rest score: r_rest, alpha_if_deleted undefined")
        if j < 3:
            nt.append("alpha_if_deleted needs at least 3 items")
        if n <= 3 and np.isfinite(r_rest[jj]):
            nt.append("r_rest confidence interval needs N > 3")
        notes.append(tuple(nt))
    return ItemStatistics(
        item_ids=tuple(item_ids), n=n, mean=mean, sd=sd, p=p, p_ci_low=p_lo, p_ci_high=p_hi,
        r_pbis=r_pbis, r_rest=r_rest, r_rest_ci_low=r_lo, r_rest_ci_high=r_hi,
        alpha_if_deleted=alpha_del, p_upper=p_upper, p_lower=p_lower, d_ul27=d,
        disc_efficiency=de, dichotomous=dich, ul_group_size=int(ng), confidence=float(confidence),
        notes=tuple(notes),
    )

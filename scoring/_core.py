"""Shared one-pass summaries of a score matrix (totals, covariance, upper/lower groups).

Computed once per analysis and passed to the item, distractor, reliability and flag functions so a
100,000 x 200 matrix is traversed only a few times.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from .results import ScoreMatrix

__all__ = ["ScoreSummary", "summarize", "upper_lower_groups", "as_scores", "score_grid", "strata_sums"]

#: Rows per block when accumulating the covariance (bounds temporary memory to ~32 MB).
_BLOCK_ELEMENTS = 1 << 22


def as_scores(data, max_points=None):
    """Return (scores float64 2-D, max_points (J,)) from a ScoreMatrix or an array.

    Raises ValueError for non-2-D input, NaN/inf, negative scores or scores above max_points.
    Without ``max_points`` for an array, the column maximum (at least 1) is used.
    """
    if isinstance(data, ScoreMatrix):
        if max_points is not None:
            raise ValueError("max_points is taken from the ScoreMatrix; do not pass it separately")
        return data.scores, data.max_points
    x = np.asarray(data)
    if x.dtype == object or not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise TypeError(f"scores must be numeric, got dtype {x.dtype}")
    x = x.astype(np.float64, copy=False)
    if x.ndim != 2:
        raise ValueError(f"scores must be a 2-D array (candidates x items), got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("scores contain NaN or infinity (omitted responses must be scored 0; "
                         "not-presented cells are not supported)")
    if np.any(x < 0):
        raise ValueError("scores must be >= 0")
    if max_points is None:
        mp = np.maximum(x.max(axis=0) if x.shape[0] else np.ones(x.shape[1]), 1.0)
    else:
        mp = np.broadcast_to(np.asarray(max_points, dtype=np.float64), (x.shape[1],)).copy()
        if not np.all(np.isfinite(mp) & (mp > 0)):
            raise ValueError("max_points must be finite and > 0")
        if np.any(x > mp + 1e-9 * np.maximum(mp, 1)):
            raise ValueError("a score exceeds its item's max_points")
    return x, mp


def upper_lower_groups(totals, fraction: float = 0.27):
    """Upper and lower groups for the upper–lower discrimination index.

    Group size ``n_g = floor(fraction * N + 0.5)`` (round half up; Kelley 1939 uses 27 %).
    **Tie rule**: candidates are ranked by total score; at a group boundary, candidates with equal
    totals are taken in input (row) order, earlier rows first — the upper group is the first n_g of
    a stable sort by descending total, the lower group the first n_g of a stable sort by ascending
    total. The rule is deterministic and symmetric, but D depends on it when a score is tied across
    a boundary.

    Parameters
    ----------
    totals : array_like (N,)
    fraction : float in (0, 0.5]

    Returns
    -------
    upper, lower : ndarray of intp
        Row indices, best first / worst first.
    """
    t = np.asarray(totals, dtype=np.float64).reshape(-1)
    if not isinstance(fraction, (int, float)) or not 0 < fraction <= 0.5:
        raise ValueError(f"fraction must be in (0, 0.5], got {fraction!r}")
    n = t.shape[0]
    ng = int(math.floor(fraction * n + 0.5))
    ng = max(ng, 1) if n >= 2 else 0
    lower = np.argsort(t, kind="stable")[:ng]
    upper = np.argsort(-t, kind="stable")[:ng]
    return upper, lower


def score_grid(scores, candidates=(1.0, 0.5, 0.25, 0.2, 0.1, 0.05, 0.01)):
    """Largest unit u from ``candidates`` such that every score is an integer multiple of u, else None."""
    x = np.asarray(scores)
    for u in candidates:
        y = x / u
        if np.all(np.abs(y - np.rint(y)) <= 1e-7):
            return u
    return None


@dataclass(frozen=True, eq=False)
class ScoreSummary:
    """Moments of a score matrix shared by the analyses.

    Attributes
    ----------
    scores : ndarray (N, J)
    max_points : ndarray (J,)
    n, n_items : int
    totals : ndarray (N,)
    means : ndarray (J,)
    cov : ndarray (J, J)
        Sample covariance matrix of the items (divisor N - 1).
    var_total : float
        Sample variance of the totals, ``cov.sum()``.
    cov_item_total, cov_item_rest, var_rest : ndarray (J,)
        cov(x_j, T), cov(x_j, T - x_j) and var(T - x_j).
    upper, lower : ndarray of intp
        Upper / lower group rows (see `upper_lower_groups`).
    ul_fraction : float
    dichotomous : ndarray (J,) bool
        Every score of the item is 0 or max_points.
    unit : float or None
        Largest of 1, 0.5, 0.25, 0.2, 0.1, 0.05, 0.01 points of which every score is a multiple
        (None if there is no such grid).
    """

    scores: np.ndarray
    max_points: np.ndarray
    n: int
    n_items: int
    totals: np.ndarray
    means: np.ndarray
    cov: np.ndarray
    var_total: float
    cov_item_total: np.ndarray
    cov_item_rest: np.ndarray
    var_rest: np.ndarray
    upper: np.ndarray
    lower: np.ndarray
    ul_fraction: float
    dichotomous: np.ndarray
    unit: float | None

    @property
    def item_var(self) -> np.ndarray:
        return np.diag(self.cov).copy()


def strata_sums(x: np.ndarray, codes: np.ndarray, n_codes: int) -> np.ndarray:
    """Column sums of ``x`` within each stratum: ``out[k, j] = Σ_{i: codes[i] = k} x[i, j]``.

    One sparse (n_codes x N) indicator product: reads ``x`` once, row by row, without copying it.
    """
    n = x.shape[0]
    ind = sparse.csr_array((np.ones(n), (np.asarray(codes, dtype=np.int64), np.arange(n))), shape=(n_codes, n))
    return np.asarray(ind @ x)


def _covariance(x: np.ndarray, means: np.ndarray, unit: float | None, max_points: np.ndarray) -> np.ndarray:
    """Sample covariance (N - 1) of the columns of x.

    When every score is a multiple of ``unit`` the Gram matrix of the integer scores x/unit is formed
    in float32 blocks small enough that every partial sum is an integer below 2**24, i.e. *exactly*,
    and centred in float64: ``C = (G - s sᵀ/N) u² / (N - 1)``. Otherwise float64 on centred blocks.
    """
    n, j = x.shape
    if n < 2:
        return np.full((j, j), np.nan)
    kmax = float(np.max(max_points)) / unit if unit is not None else math.inf
    rows = int(min(32768, (1 << 24) // max(1.0, kmax * kmax))) if math.isfinite(kmax) else 0
    c = np.zeros((j, j), dtype=np.float64)
    if rows >= 1024:
        for start in range(0, n, rows):
            blk = x[start:start + rows]
            b = (blk if unit == 1.0 else blk / unit).astype(np.float32)
            np.rint(b, out=b)  # scores within 1e-7 of the grid count as on it
            c += b.T @ b
        s = x.sum(axis=0) / unit
        c = (c - np.outer(s, s) / n) * (unit * unit) / (n - 1)
    else:
        block = max(1, _BLOCK_ELEMENTS // max(j, 1))
        for start in range(0, n, block):
            b = x[start:start + block] - means
            c += b.T @ b
        c /= n - 1
    return (c + c.T) / 2


def summarize(data, max_points=None, *, ul_fraction: float = 0.27) -> ScoreSummary:
    """Compute totals, means, the J x J covariance matrix and the upper/lower groups.

    Parameters
    ----------
    data : ScoreMatrix or array_like (N, J)
    max_points : array_like (J,), optional (arrays only)
    ul_fraction : float, default 0.27

    Returns
    -------
    ScoreSummary
    """
    x, mp = as_scores(data, max_points)
    n, j = x.shape
    if n < 2:
        raise ValueError(f"at least 2 candidates are needed, got {n}")
    if j < 1:
        raise ValueError("at least 1 item is needed")
    dich = ((x == 0) | (x == mp)).all(axis=0)
    unit = score_grid(mp)
    if unit is not None and not dich.all():
        unit = score_grid(x[:, ~dich])
    totals = x.sum(axis=1)
    means = x.mean(axis=0)
    cov = _covariance(x, means, unit, mp)
    diag = np.diag(cov).copy()
    diag_clean = np.where(diag < 1e-14 * np.maximum(mp * mp, 1e-300), 0.0, diag)
    if np.any(diag_clean != diag):
        cov[np.diag_indices(j)] = diag_clean
        diag = diag_clean
    var_total = float(cov.sum())
    if var_total <= 1e-12 * max(float(np.sum(mp)) ** 2, 1e-300):
        var_total = 0.0
    cit = cov.sum(axis=1)
    cir = cit - diag
    vr = var_total - 2 * cit + diag
    vr = np.where(vr < 1e-12 * max(var_total, 1e-300), 0.0, vr)
    upper, lower = upper_lower_groups(totals, ul_fraction)
    return ScoreSummary(
        scores=x, max_points=mp, n=n, n_items=j, totals=totals, means=means, cov=cov, var_total=var_total,
        cov_item_total=cit, cov_item_rest=cir, var_rest=vr, upper=upper, lower=lower,
        ul_fraction=float(ul_fraction), dichotomous=dich, unit=unit,
    )

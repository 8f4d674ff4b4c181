"""Confidence intervals used across the scoring library (vectorised)."""

from __future__ import annotations

import numpy as np
from scipy import special

__all__ = ["z_value", "wilson_interval", "wald_interval", "fisher_z_interval"]


def z_value(confidence: float) -> float:
    """Two-sided standard normal quantile, e.g. 1.959964 for ``confidence = 0.95``."""
    if not isinstance(confidence, (int, float)) or not 0 < confidence < 1:
        raise ValueError(f"confidence must be a number in (0, 1), got {confidence!r}")
    return float(special.ndtri(0.5 + confidence / 2))


def wilson_interval(p, n, confidence: float = 0.95):
    """Wilson score interval for a binomial proportion.

    ``(p + z²/2n ± z sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n)`` (Wilson 1927; Agresti & Coull 1998).

    Parameters
    ----------
    p : array_like
        Observed proportions in [0, 1].
    n : array_like
        Number of trials (> 0; n = 0 gives nan).
    confidence : float

    Returns
    -------
    low, high : ndarray
    """
    z = z_value(confidence)
    p = np.asarray(p, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        z2n = z * z / n
        centre = (p + z2n / 2) / (1 + z2n)
        half = z / (1 + z2n) * np.sqrt(np.maximum(p * (1 - p) / n, 0) + z2n / (4 * n))
        low = np.clip(centre - half, 0.0, 1.0)
        high = np.clip(centre + half, 0.0, 1.0)
    bad = ~(n > 0)
    return np.where(bad, np.nan, low), np.where(bad, np.nan, high)


def wald_interval(mean, sd, n, confidence: float = 0.95, lower: float = 0.0, upper: float = 1.0):
    """Normal-approximation interval ``mean ± z sd / sqrt(n)`` clipped to [lower, upper]."""
    z = z_value(confidence)
    mean = np.asarray(mean, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        half = z * np.asarray(sd, dtype=np.float64) / np.sqrt(np.asarray(n, dtype=np.float64))
    return np.clip(mean - half, lower, upper), np.clip(mean + half, lower, upper)


def fisher_z_interval(r, n, confidence: float = 0.95):
    """Fisher-z interval for a correlation: ``tanh(atanh(r) ± z / sqrt(n - 3))``.

    Undefined (nan) for n <= 3 or r = nan; for |r| = 1 the interval is the point r.
    """
    z = z_value(confidence)
    r = np.asarray(r, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        zr = np.arctanh(np.clip(r, -1.0, 1.0))
        half = z / np.sqrt(n - 3)
        low = np.tanh(zr - half)
        high = np.tanh(zr + half)
    ok = (n > 3) & np.isfinite(r)
    edge = np.abs(r) >= 1.0
    low = np.where(edge, r, low)
    high = np.where(edge, r, high)
    return np.where(ok, low, np.nan), np.where(ok, high, np.nan)

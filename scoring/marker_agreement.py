"""Marker (examiner, 考评员) agreement: intraclass correlation, double-marking resolution, examiner statistics.

**ICC** (:func:`icc`) of an ``n × k`` matrix (n scripts, k markers, complete), from the two-way ANOVA
without replication (Shrout & Fleiss 1979, Psychol. Bull. 86:420–428; McGraw & Wong 1996):

* ``MSR = k Σ_i (x̄_i· − x̄)² / (n − 1)`` (scripts), ``MSC = n Σ_j (x̄_·j − x̄)² / (k − 1)`` (markers),
  ``MSE = (SST − SSR − SSC) / ((n − 1)(k − 1))``, ``MSW = (SSC + SSE) / (n (k − 1))``;
* ``ICC(1,1) = (MSR − MSW) / (MSR + (k − 1) MSW)``;
* **``ICC(2,1) = (MSR − MSE) / (MSR + (k − 1) MSE + k (MSC − MSE) / n)``** — two-way random effects,
  absolute agreement, single marker. This is the agreement statistic examsys reports: a result must not
  depend on *which* examiner marked, so a systematically severe examiner should lower the agreement;
* ``ICC(3,1) = (MSR − MSE) / (MSR + (k − 1) MSE)`` — two-way mixed, consistency (ignores a constant
  offset between markers); reported alongside for comparison.

Degenerate cases return ``nan`` with a note: fewer than 2 scripts, or a zero denominator (e.g. every
script got the same score from everyone).

**Double marking** (:func:`resolve_double_mark`): two independent marks ``a`` and ``b`` of a script with
maximum ``M``; ``threshold = threshold_fraction × M``. If ``|a − b| > threshold`` (strictly; exactly at the
threshold is still agreement, with 1e-9 slack for binary fractions) a chief examiner adjudicates; otherwise
the final score is the mean ``(a + b) / 2`` (not rounded).

**Examiner statistics** (:func:`examiner_statistics`): from plain arrays of marks (script, examiner, score,
maximum, the script's final score, seconds spent). Scores are compared as **percent of the script's
maximum** so that items of different sizes pool. Per examiner:

* ``agreement_icc`` — ICC(2,1) of the pairs (own mark, co-marker's mark) over the examiner's
  double-marked scripts (k = 2; the co-marker column pools whoever the co-marker was);
* ``mean_signed_difference`` — mean of (own − co-marker) in percent of the maximum (> 0: more generous);
* ``severity`` — mean of (own − final score) in percent of the maximum over every script with a final
  score (< 0: severe, > 0: lenient);
* ``median_seconds`` — median time per script (marks without a time are ignored).

Pure library: numpy only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

__all__ = ["icc", "ICCResult", "resolve_double_mark", "DoubleMarkDecision", "examiner_statistics",
           "ExaminerStats", "DEFAULT_THRESHOLD_FRACTION"]

#: Default double-marking threshold: 10 % of the maximum.
DEFAULT_THRESHOLD_FRACTION = 0.10
_EPS = 1e-9


@dataclass(frozen=True)
class ICCResult:
    """Intraclass correlations of an n × k rating matrix (see the module docstring)."""

    icc1: float
    icc2: float
    icc3: float
    n: int
    k: int
    msr: float
    msc: float
    mse: float
    msw: float
    notes: tuple[str, ...] = ()


def icc(ratings: Any) -> ICCResult:
    """ICC(1,1), ICC(2,1) and ICC(3,1) of ``ratings`` (n scripts × k markers, no missing values).

    Parameters
    ----------
    ratings : array_like (n, k)
        Finite scores; n >= 1, k >= 2.

    Returns
    -------
    ICCResult
        nan values with a note when n < 2 or a denominator is zero.

    References
    ----------
    Shrout, P. E. & Fleiss, J. L. (1979). Intraclass correlations: uses in assessing rater reliability.
    Psychological Bulletin, 86(2), 420–428 (Table 4 example: ICC(1,1) = .17, ICC(2,1) = .29, ICC(3,1) = .71).
    """
    x = np.asarray(ratings, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"ratings must be a 2-D matrix (scripts × markers), got {x.ndim} dimension(s)")
    n, k = x.shape
    if k < 2:
        raise ValueError("ICC needs at least two markers (columns)")
    if n < 1:
        raise ValueError("ICC needs at least one script (row)")
    if not np.all(np.isfinite(x)):
        raise ValueError("ratings must be finite (no missing marks)")
    nan = float("nan")
    if n < 2:
        return ICCResult(nan, nan, nan, n, k, nan, nan, nan, nan, ("fewer than 2 scripts",))
    gm = float(x.mean())
    row = x.mean(axis=1)
    col = x.mean(axis=0)
    sst = float(((x - gm) ** 2).sum())
    ssr = float(k * ((row - gm) ** 2).sum())
    ssc = float(n * ((col - gm) ** 2).sum())
    sse = max(sst - ssr - ssc, 0.0)
    msr = ssr / (n - 1)
    msc = ssc / (k - 1)
    mse = sse / ((n - 1) * (k - 1))
    msw = (ssc + sse) / (n * (k - 1))
    notes: list[str] = []

    def ratio(num: float, den: float, label: str) -> float:
        if abs(den) <= _EPS * max(1.0, abs(num)):
            notes.append(f"{label}: zero denominator (no variation between scripts)")
            return nan
        return num / den

    icc1 = ratio(msr - msw, msr + (k - 1) * msw, "ICC(1,1)")
    icc2 = ratio(msr - mse, msr + (k - 1) * mse + k * (msc - mse) / n, "ICC(2,1)")
    icc3 = ratio(msr - mse, msr + (k - 1) * mse, "ICC(3,1)")
    return ICCResult(icc1, icc2, icc3, n, k, msr, msc, mse, msw, tuple(dict.fromkeys(notes)))


@dataclass(frozen=True)
class DoubleMarkDecision:
    """Outcome of two independent marks: ``final`` (``None`` when a chief must adjudicate)."""

    final: float | None
    needs_adjudication: bool
    difference: float
    threshold: float


def resolve_double_mark(first: float, second: float, max_points: float,
                        threshold_fraction: float = DEFAULT_THRESHOLD_FRACTION) -> DoubleMarkDecision:
    """Mean of two marks when ``|first − second| <= threshold_fraction × max_points``, else adjudication."""
    vals = [first, second, max_points, threshold_fraction]
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) for v in vals):
        raise ValueError("marks, maximum and threshold must be finite numbers")
    if max_points <= 0:
        raise ValueError("the maximum must be > 0")
    if not 0 <= threshold_fraction <= 1:
        raise ValueError("threshold_fraction must be in [0, 1]")
    diff = abs(float(first) - float(second))
    thr = float(threshold_fraction) * float(max_points)
    if diff > thr + _EPS * max(1.0, float(max_points)):
        return DoubleMarkDecision(None, True, diff, thr)
    return DoubleMarkDecision((float(first) + float(second)) / 2.0, False, diff, thr)


@dataclass(frozen=True)
class ExaminerStats:
    """Statistics of one examiner (see the module docstring; differences in percent of the maximum)."""

    examiner: Any
    n_marks: int
    n_double: int
    agreement_icc: float
    agreement_icc3: float
    mean_signed_difference: float
    severity: float
    n_final: int
    median_seconds: float
    notes: tuple[str, ...] = field(default_factory=tuple)


def examiner_statistics(script: Sequence[Any], examiner: Sequence[Any], score: Sequence[float],
                        max_points: Sequence[float], final: Sequence[float] | None = None,
                        seconds: Sequence[float] | None = None) -> list[ExaminerStats]:
    """Per-examiner agreement, severity and speed from one row per mark.

    Parameters
    ----------
    script, examiner : sequences (m,)
        Script and examiner ids of each mark (one mark per examiner and script; adjudications excluded).
    score, max_points : sequences (m,)
        The mark and the script's maximum (> 0).
    final : sequence (m,), optional
        The script's final score (nan when not final yet).
    seconds : sequence (m,), optional
        Time spent on the mark (nan when unknown).

    Returns
    -------
    list of ExaminerStats, sorted by examiner id as given (first appearance order).
    """
    m = len(script)
    if not (len(examiner) == len(score) == len(max_points) == m):
        raise ValueError("script, examiner, score and max_points must have the same length")
    sc = np.asarray(score, dtype=np.float64)
    mx = np.asarray(max_points, dtype=np.float64)
    if np.any(~np.isfinite(mx)) or np.any(mx <= 0):
        raise ValueError("every maximum must be a finite number > 0")
    if np.any(~np.isfinite(sc)):
        raise ValueError("every mark must be a finite number")
    fin = np.full(m, np.nan) if final is None else np.asarray(final, dtype=np.float64)
    sec = np.full(m, np.nan) if seconds is None else np.asarray(seconds, dtype=np.float64)
    if fin.shape != (m,) or sec.shape != (m,):
        raise ValueError("final and seconds must have one value per mark")
    pct = 100.0 * sc / mx
    fpct = 100.0 * fin / mx
    by_script: dict[Any, list[int]] = {}
    for i, s in enumerate(script):
        by_script.setdefault(s, []).append(i)
    order: list[Any] = list(dict.fromkeys(examiner))
    out = []
    for ex in order:
        idx = [i for i in range(m) if examiner[i] == ex]
        own, other = [], []
        for i in idx:
            partners = [j for j in by_script[script[i]] if j != i and examiner[j] != ex]
            if partners:
                own.append(pct[i])
                other.append(float(np.mean(pct[partners])))
        notes: list[str] = []
        nan = float("nan")
        if len(own) >= 2:
            r = icc(np.column_stack([own, other]))
            agree, agree3 = r.icc2, r.icc3
            notes += list(r.notes)
        else:
            agree = agree3 = nan
            notes.append("fewer than 2 double-marked scripts")
        msd = float(np.mean(np.subtract(own, other))) if own else nan
        fi = [i for i in idx if math.isfinite(fpct[i])]
        sev = float(np.mean(pct[fi] - fpct[fi])) if fi else nan
        secs = [sec[i] for i in idx if math.isfinite(sec[i])]
        med = float(np.median(secs)) if secs else nan
        out.append(ExaminerStats(examiner=ex, n_marks=len(idx), n_double=len(own), agreement_icc=agree,
                                 agreement_icc3=agree3, mean_signed_difference=msd, severity=sev, n_final=len(fi),
                                 median_seconds=med, notes=tuple(notes)))
    return out

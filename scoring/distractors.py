"""Distractor (option) analysis of choice items.

For every option o of item j (and for omission), with I_o the 0/1 indicator "chose o" and
R_j = T − x_j the rest score:

* ``prop = n_o / N``; ``prop_upper``, ``prop_lower``: the same share inside the upper and lower
  27 % groups (`scoring._core.upper_lower_groups`, same groups as D);
* ``mean_total``: mean total score T of the candidates who chose o;
* ``r_rest = cov(I_o, R_j) / sqrt(var(I_o) var(R_j))`` (option–rest point-biserial; for the key of a
  dichotomous item it equals the item's r_rest). A distractor with r_rest > 0, or above the key's,
  signals a possible mis-key or an ambiguous item (Haladyna 2004; Tarrant et al. 2009).

Keys are never reversed or changed here. Multiple-answer items use response patterns as options.
"""

from __future__ import annotations

import numpy as np

from ._core import ScoreSummary, summarize
from .results import DistractorAnalysis, OptionStatistics, ScoreMatrix

__all__ = ["distractor_analysis"]


def distractor_analysis(
    matrix: ScoreMatrix,
    *,
    ul_fraction: float = 0.27,
    summary: ScoreSummary | None = None,
) -> DistractorAnalysis:
    """Per-option proportions (all, upper, lower), mean total of choosers and option–rest r.

    Parameters
    ----------
    matrix : ScoreMatrix
    ul_fraction : float, default 0.27
    summary : ScoreSummary, optional
        Precomputed `scoring._core.summarize(matrix)`.

    Returns
    -------
    DistractorAnalysis
        ``items[j]`` is an `OptionStatistics` for choice items and None for marked items.
        Options nobody chose have prop 0, mean_total nan and r_rest nan.
    """
    if not isinstance(matrix, ScoreMatrix):
        raise TypeError(f"distractor_analysis needs a ScoreMatrix (it uses the choices), got {type(matrix).__name__}")
    if summary is None:
        summary = summarize(matrix, ul_fraction=ul_fraction)
    n = summary.n
    totals = summary.totals
    mean_total = float(totals.mean())
    up, lo = summary.upper, summary.lower
    n_up, n_lo = up.shape[0], lo.shape[0]
    choice_cols = np.flatnonzero(matrix.is_choice)
    out: list = [None] * matrix.n_items
    if choice_cols.size:
        ch = matrix.choices if choice_cols.size == matrix.n_items else matrix.choices[:, choice_cols]
        cht = np.ascontiguousarray(ch.T)  # (Jc, N): one pass, then contiguous rows per item
        for t, j in enumerate(choice_cols):
            labels = matrix.option_labels[j]
            k = len(labels)
            code = cht[t].astype(np.intp) + 1  # 0 = omitted, 1..k = options
            cnt = np.bincount(code, minlength=k + 1).astype(np.float64)
            sum_t = np.bincount(code, weights=totals, minlength=k + 1)
            cnt_up = np.bincount(code[up], minlength=k + 1).astype(np.float64)
            cnt_lo = np.bincount(code[lo], minlength=k + 1).astype(np.float64)
            osc = np.concatenate(([0.0], np.asarray(matrix.option_scores[j], dtype=np.float64)))
            sum_rest = sum_t - cnt * osc
            mean_rest = mean_total - summary.means[j]
            var_rest = summary.var_rest[j]
            var_i = cnt * (n - cnt) / (n * (n - 1.0))
            cov = (sum_rest - cnt * mean_rest) / (n - 1.0)
            den = np.sqrt(var_i * var_rest)
            with np.errstate(invalid="ignore", divide="ignore"):
                r = np.where(den > 0, cov / np.where(den > 0, den, 1.0), np.nan)
                mt = np.where(cnt > 0, sum_t / np.where(cnt > 0, cnt, 1.0), np.nan)
            r = np.clip(r, -1.0, 1.0)
            out[j] = OptionStatistics(
                item_id=matrix.item_ids[j],
                labels=labels,
                key_index=int(matrix.key_index[j]),
                count=cnt[1:].astype(np.int64),
                prop=cnt[1:] / n,
                prop_upper=cnt_up[1:] / n_up if n_up else np.full(k, np.nan),
                prop_lower=cnt_lo[1:] / n_lo if n_lo else np.full(k, np.nan),
                mean_total=mt[1:],
                r_rest=r[1:],
                omit_count=int(cnt[0]),
                omit_prop=float(cnt[0] / n),
                omit_prop_upper=float(cnt_up[0] / n_up) if n_up else float("nan"),
                omit_prop_lower=float(cnt_lo[0] / n_lo) if n_lo else float("nan"),
                omit_mean_total=float(mt[0]),
                omit_r_rest=float(r[0]),
            )
    return DistractorAnalysis(item_ids=matrix.item_ids, items=tuple(out), n=n, ul_group_size=int(n_up))

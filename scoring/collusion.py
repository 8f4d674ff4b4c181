"""Answer-copying screen of all candidate pairs in a sitting.

For every pair (a, b) of a sitting, over the choice items:

* ``identical``: items both answered with the same option; ``identical_wrong``: items both answered
  *wrongly* with the same option. Omissions are neither right nor wrong and never match.
* K index (Holland 1996; as implemented in R CopyDetect ``k_2``): with s the source and c the copier,
  ``w_s`` = number of items s answered wrongly, ``m`` = items where c chose the same wrong option as
  s, and the comparison group G = all candidates of the sitting with the copier's number of wrong
  answers (the copier included, the source excluded),
  ``p̂ = mean_{i in G}(matches of i with s's wrong answers) / w_s`` and
  ``K_{s→c} = P(Binomial(w_s, p̂) >= m)``. Conditioning on the copier's number wrong is the
  ability adjustment: weak candidates share many wrong answers by chance.
* pair p-value ``min(1, 2 · min(K_{a→b}, K_{b→a}))`` (both directions, Bonferroni within the pair);
  ``K = 1`` when the source has no wrong answer (nothing to copy).
* multiplicity within each sitting: Bonferroni ``min(1, M p)`` and Benjamini–Hochberg (1995) q-values
  over the M pairs of the sitting; a pair is flagged when the chosen adjusted value <= alpha.

Raw identical-wrong counts are not evidence by themselves (they grow as ability falls); only the
K probability is used for flagging.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from .results import CopyingResult, ScoreMatrix

__all__ = ["answer_copying", "benjamini_hochberg", "DEFAULT_MAX_SITTING_SIZE"]

#: Largest sitting screened (pairs grow as n²/2); split bigger data by sitting (room, session).
DEFAULT_MAX_SITTING_SIZE = 3000


def benjamini_hochberg(p) -> np.ndarray:
    """Benjamini–Hochberg (1995) adjusted p-values (q-values), ``min_{k>=i} p_(k) M / k``, capped at 1."""
    p = np.asarray(p, dtype=np.float64).reshape(-1)
    m = p.shape[0]
    if m == 0:
        return p.copy()
    order = np.argsort(p, kind="stable")
    ranked = p[order] * m / np.arange(1, m + 1)
    q = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(q, 1.0)
    return out


def _sitting_pairs(ch: np.ndarray, keys: np.ndarray, n_opt: np.ndarray):
    """All-pairs statistics of one sitting. ch: (n, J) option index or -1; returns dict of arrays."""
    n, j = ch.shape
    offs = np.concatenate(([0], np.cumsum(n_opt)[:-1]))
    width = int(n_opt.sum())
    answered = ch >= 0
    rows, cols = np.nonzero(answered)
    e = np.zeros((n, width), dtype=np.float32)
    e[rows, offs[cols] + ch[rows, cols]] = 1.0
    wrong = answered & (ch != keys[None, :])
    wr, wc = np.nonzero(wrong)
    w = np.zeros((n, width), dtype=np.float32)
    w[wr, offs[wc] + ch[wr, wc]] = 1.0
    ident = np.rint(e @ e.T).astype(np.int64)
    iw = np.rint(w @ w.T).astype(np.int64)
    nwrong = np.diag(iw).copy()
    # S[s, v] = sum over i != s with nwrong[i] == v of iw[s, i]
    vmax = int(nwrong.max()) if n else 0
    onehot = np.zeros((n, vmax + 1), dtype=np.float64)
    onehot[np.arange(n), nwrong] = 1.0
    s_sum = iw.astype(np.float64) @ onehot
    s_sum[np.arange(n), nwrong] -= nwrong
    cnt = onehot.sum(axis=0)
    a, b = np.triu_indices(n, k=1)

    def k_index(src, cop):
        ws = nwrong[src]
        m = iw[src, cop]
        v = nwrong[cop]
        cnt_excl = cnt[v] - (nwrong[src] == v)
        with np.errstate(invalid="ignore", divide="ignore"):
            p_hat = s_sum[src, v] / cnt_excl / ws
        k = np.ones(src.shape[0])
        live = (ws > 0) & (m > 0)
        k[live] = stats.binom.sf(m[live] - 1, ws[live], np.clip(p_hat[live], 0.0, 1.0))
        return k

    k_ab = k_index(a, b)
    k_ba = k_index(b, a)
    return dict(a=a, b=b, identical=ident[a, b], identical_wrong=iw[a, b], n_wrong_a=nwrong[a],
                n_wrong_b=nwrong[b], k_ab=k_ab, k_ba=k_ba)


def answer_copying(
    matrix: ScoreMatrix,
    *,
    sittings=None,
    alpha: float = 0.05,
    correction: str = "fdr",
    max_sitting_size: int = DEFAULT_MAX_SITTING_SIZE,
) -> CopyingResult:
    """Screen every pair of candidates in each sitting for answer copying (K index).

    Parameters
    ----------
    matrix : ScoreMatrix
        Uses the choice items (single, multiple, true/false); marked items are ignored.
    sittings : array_like (N,), optional
        Sitting (room / session / station) label per candidate; pairs are formed and multiplicity
        is corrected within each sitting. Default: one sitting.
    alpha : float, default 0.05
        Level for the adjusted p-values.
    correction : {"fdr", "bonferroni"}
        Which adjusted value decides ``flagged``.
    max_sitting_size : int
        Refuse larger sittings (ValueError): the screen is O(n²) in time and memory.

    Returns
    -------
    CopyingResult
        One entry per unordered pair; ``result.flagged`` marks the pairs passing the correction.

    References
    ----------
    Holland (1996), ETS RR-96-7; Sotaridona & Meijer (2002), J. Educ. Meas. 39:115–132;
    Zopluoglu, CopyDetect (R); Benjamini & Hochberg (1995), JRSS B 57:289–300.
    """
    if not isinstance(matrix, ScoreMatrix):
        raise TypeError(f"answer_copying needs a ScoreMatrix, got {type(matrix).__name__}")
    if not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    if correction not in ("fdr", "bonferroni"):
        raise ValueError(f"correction must be 'fdr' or 'bonferroni', got {correction!r}")
    n = matrix.n_candidates
    cols = np.flatnonzero(matrix.is_choice)
    notes = []
    if sittings is None:
        labels = np.zeros(n, dtype=np.int64)
        names = np.array([""])
    else:
        s = np.asarray(sittings).astype(str).reshape(-1)
        if s.shape[0] != n:
            raise ValueError(f"sittings has {s.shape[0]} labels for {n} candidates")
        names, labels = np.unique(s, return_inverse=True)
    parts = []
    if cols.size == 0:
        notes.append("no choice items: copying screen not run")
    else:
        ch_all = matrix.choices[:, cols].astype(np.int64)
        keys = matrix.key_index[cols].astype(np.int64)
        n_opt = np.array([len(matrix.option_labels[c]) for c in cols], dtype=np.int64)
        for t, name in enumerate(names):
            idx = np.flatnonzero(labels == t)
            if idx.shape[0] < 2:
                continue
            if idx.shape[0] > max_sitting_size:
                where = f"sitting {name!r}" if name else "the data"
                raise ValueError(
                    f"{where} has {idx.shape[0]} candidates; the all-pairs copying screen is limited to "
                    f"{max_sitting_size} per sitting - give the sittings (exam rooms / sessions) as groups"
                )
            res = _sitting_pairs(ch_all[idx], keys, n_opt)
            res["a"] = idx[res["a"]]
            res["b"] = idx[res["b"]]
            p = np.minimum(1.0, 2.0 * np.minimum(res["k_ab"], res["k_ba"]))
            res["p_value"] = p
            res["p_bonferroni"] = np.minimum(1.0, p * p.shape[0])
            res["q_fdr"] = benjamini_hochberg(p)
            res["sitting"] = np.full(p.shape[0], name, dtype=object)
            parts.append(res)
    keys_out = ["a", "b", "identical", "identical_wrong", "n_wrong_a", "n_wrong_b", "k_ab", "k_ba",
                "p_value", "p_bonferroni", "q_fdr", "sitting"]
    if parts:
        cat = {k: np.concatenate([r[k] for r in parts]) for k in keys_out}
    else:
        cat = {k: np.zeros(0, dtype=object if k == "sitting" else np.float64) for k in keys_out}
        for k in ("a", "b", "identical", "identical_wrong", "n_wrong_a", "n_wrong_b"):
            cat[k] = np.zeros(0, dtype=np.int64)
    adj = cat["q_fdr"] if correction == "fdr" else cat["p_bonferroni"]
    return CopyingResult(
        candidate_ids=matrix.candidate_ids, a=cat["a"], b=cat["b"], sitting=cat["sitting"],
        identical=cat["identical"], identical_wrong=cat["identical_wrong"], n_wrong_a=cat["n_wrong_a"],
        n_wrong_b=cat["n_wrong_b"], k_ab=cat["k_ab"], k_ba=cat["k_ba"], p_value=cat["p_value"],
        p_bonferroni=cat["p_bonferroni"], q_fdr=cat["q_fdr"], flagged=adj <= alpha, alpha=float(alpha),
        correction=correction, notes=tuple(notes),
    )

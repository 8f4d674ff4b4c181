"""A delivered sitting as a score matrix, curves by score group, pooled statistics and flag severity.

Pure helpers for the web app's item statistics (``examsys.services.stats``); they take plain arrays.

* **Packed responses.** A response is one byte per item (`response_mask`): for choice items the set of
  chosen option letters as a bit mask (A = 1, B = 2, C = 4, ... H = 128; 0 = omitted); for true/false
  T = 1, F = 2; for every other item 1 = answered, 0 = blank. `matrix_from_masks` turns an ``N x J``
  mask matrix, the keys and the awarded item scores into a `scoring.results.ScoreMatrix` whose options
  are the item's letters (single choice), ``T``/``F`` or the observed letter patterns (multiple answer),
  so distractor analysis and the mis-key flag work on the candidates' actual choices.
* **Curves.** `score_group_curves`: per item, the option-by-score-group table (share of each option and
  of omissions in equal-count total-score groups), the empirical item characteristic curve (mean item
  score / max per group) on a normal-score ability scale, and a fitted two-parameter logistic curve.
* **Pooling.** `pool_statistics`: one item's statistics across sittings, weighted by N.
* **Severity.** `flag_severity`: ``error`` flags send an item back to review; ``warning`` flags are
  shown; ``info`` flags are advice.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import sparse
from scipy.special import expit, ndtri

from .matrix import LETTERS
from .results import ScoreMatrix

__all__ = [
    "KINDS_BY_TYPE",
    "FLAG_SEVERITY",
    "flag_severity",
    "response_mask",
    "mask_label",
    "matrix_from_masks",
    "normal_scores",
    "score_group_curves",
    "fit_logistic_grouped",
    "pool_statistics",
]

#: Item type of the bank -> kind of the score matrix.
KINDS_BY_TYPE = {"single_choice": "single", "multiple_choice": "multiple", "true_false": "true_false"}

#: Flag code -> severity. ``error``: the item goes back to review (a wrong key, items that work against the
#: test, large DIF, a leaked item); ``warning``: reviewers should look at it; ``info``: advice for the writer.
FLAG_SEVERITY = {
    "possible_miskey": "error",
    "negative_discrimination": "error",
    "dif_c": "error",
    "station_leak": "error",
    "ambiguous": "warning",
    "too_easy": "warning",
    "too_hard": "warning",
    "low_discrimination": "warning",
    "dif_b": "warning",
    "poor_irt_fit": "warning",
    "nonfunctioning_distractor": "info",
}
_SEVERITY_RANK = {"error": 3, "warning": 2, "info": 1}


def flag_severity(code: str) -> str:
    """``error``, ``warning`` or ``info`` for a flag code (unknown codes are warnings)."""
    return FLAG_SEVERITY.get(str(code), "warning")


def response_mask(answer, kind: str) -> int:
    """One stored answer as a byte (see the module docstring).

    Parameters
    ----------
    answer : str, bool, list or None
        As stored by delivery in the item's original label space: ``"B"``, ``"AC"`` (or ``["A", "C"]``),
        ``True``/``False`` (also ``"T"``/``"F"``) or text; ``None``/``""``/``[]`` is a blank.
    kind : str
        ``single``, ``multiple``, ``true_false`` or ``marked``.

    Returns
    -------
    int
        0..255. A choice answer with a character outside A–H gives 0 (treated as blank).
    """
    if answer is None or (isinstance(answer, (str, list, tuple, dict)) and len(answer) == 0):
        return 0
    if kind == "true_false":
        if isinstance(answer, bool):
            return 1 if answer else 2
        s = str(answer).strip().upper()
        if s in ("T", "TRUE", "对", "√", "1"):
            return 1
        if s in ("F", "FALSE", "错", "×", "0"):
            return 2
        return 0
    if kind in ("single", "multiple"):
        letters = "".join(answer) if isinstance(answer, (list, tuple)) else str(answer)
        mask = 0
        for ch in letters.upper():
            if ch in " ,;、":
                continue
            k = LETTERS.find(ch)
            if k < 0:
                return 0
            mask |= 1 << k
        return mask
    if isinstance(answer, str):
        return 1 if answer.strip() else 0
    return 1


def mask_label(mask: int, kind: str) -> str:
    """The option label of a mask: ``"B"``, ``"AC"``, ``"T"``/``"F"``; ``""`` for 0."""
    if kind == "true_false":
        return {1: "T", 2: "F"}.get(int(mask), "")
    return "".join(LETTERS[k] for k in range(8) if int(mask) >> k & 1)


def _key_mask(key, kind: str) -> int:
    if kind == "true_false":
        if isinstance(key, bool):
            return 1 if key else 2
        return response_mask(key, kind)
    return response_mask(key, kind)


def _popcount8(a: np.ndarray) -> np.ndarray:
    a = a.astype(np.uint8)
    c = np.zeros(a.shape, dtype=np.uint8)
    for k in range(8):
        c += (a >> k) & 1
    return c


def matrix_from_masks(
    candidate_ids: Sequence,
    item_ids: Sequence,
    kinds: Sequence[str],
    keys: Sequence,
    n_options: Sequence,
    max_points,
    masks,
    scores=None,
    *,
    multiple_policy: str = "exact",
    copy_scores: bool = True,
) -> tuple[ScoreMatrix, list[list[str]]]:
    """Build a `ScoreMatrix` from packed responses and (optionally) the awarded scores.

    Parameters
    ----------
    candidate_ids, item_ids : sequences of str, lengths N and J
    kinds : sequence of str, length J
        ``single``, ``multiple``, ``true_false`` or ``marked``.
    keys : sequence, length J
        Key per item: ``"B"``, ``"AC"``, ``True``/``False`` (or ``"T"``/``"F"``); ignored for marked items.
    n_options : sequence of int or None, length J
        Number of options of choice items (labels A.. of single-choice items); None infers from the data.
    max_points : array_like (J,)
    masks : array_like of uint8, shape (N, J)
        Packed responses (`response_mask`).
    scores : array_like (N, J), optional
        Awarded item scores (the marks). Without it choice items are scored from the key (full points for
        the key; for multiple-answer items ``multiple_policy``) and marked items must not be present.
    multiple_policy : {"exact", "partial"}
        Only used to score multiple-answer items without ``scores``.
    copy_scores : bool, default True
        False lets the matrix use (and clean in place) a float64 ``scores`` array the caller gives away.

    Returns
    -------
    (ScoreMatrix, notes)
        ``notes[j]`` lists what was changed for item j: a choice item whose awarded scores do not follow
        from its choices (e.g. marked by hand) is analysed as a marked item (no options); an invalid key
        likewise; scores outside ``[0, max_points]`` are clipped.

    Raises
    ------
    ValueError
        On inconsistent shapes.
    """
    m = np.asarray(masks)
    if m.ndim != 2:
        raise ValueError(f"masks must be 2-D (candidates x items), got shape {m.shape}")
    m = m.astype(np.uint8, copy=False)
    n, j = m.shape
    if len(item_ids) != j or len(kinds) != j or len(keys) != j or len(n_options) != j:
        raise ValueError("item_ids, kinds, keys and n_options must have one entry per column of masks")
    if len(candidate_ids) != n:
        raise ValueError(f"{len(candidate_ids)} candidate ids for {n} rows")
    mp = np.broadcast_to(np.asarray(max_points, dtype=np.float64), (j,)).copy()
    if not np.all(np.isfinite(mp) & (mp > 0)):
        raise ValueError("max_points must be finite and > 0")
    if scores is not None:
        x = np.array(scores, dtype=np.float64, copy=copy_scores)  # marked columns may be cleaned in place
        if x.shape != (n, j):
            raise ValueError(f"scores must have shape {(n, j)}, got {x.shape}")
    else:
        x = np.zeros((n, j), dtype=np.float64)
    notes: list[list[str]] = [[] for _ in range(j)]
    # one pass over the matrix: the distinct answers of every column
    codes = m.astype(np.int32)
    codes += (np.arange(j, dtype=np.int32) * 256)[None, :]
    counts = np.bincount(codes.ravel(), minlength=j * 256).reshape(j, 256)
    specs: list = [None] * j  # per column: (labels, option scores, lut (256,), key index) or None (marked)
    for jj in range(j):
        kind = str(kinds[jj])
        if kind == "marked":
            continue
        if kind not in ("single", "multiple", "true_false"):
            raise ValueError(f"item {item_ids[jj]!r}: unknown kind {kind!r}")
        km = _key_mask(keys[jj], kind)
        ok_key = km > 0 and (kind != "true_false" or km in (1, 2)) and (kind != "single" or bin(km).count("1") == 1)
        if not ok_key:
            notes[jj].append(f"key {keys[jj]!r} is not valid for a {kind} item; analysed as a marked item")
            continue
        res = _choice_spec(counts[jj], kind, km, n_options[jj], float(mp[jj]), multiple_policy)
        if isinstance(res, str):
            notes[jj].append(res)
        else:
            specs[jj] = res
    choice_cols = [jj for jj in range(j) if specs[jj] is not None]
    choices = np.full((n, j), -2, dtype=np.int16)
    width = max([len(specs[jj][0]) for jj in choice_cols] + [1]) + 1
    if choice_cols:
        lut = np.full((j, 256), -2, dtype=np.int16)
        table = np.zeros((j, width), dtype=np.float64)  # column 0: omitted
        for jj in choice_cols:
            labels, osc, lut_j, _k = specs[jj]
            lut[jj] = lut_j
            table[jj, 1:len(osc) + 1] = osc
        choices = lut.ravel()[codes]
        del codes
        cc = np.asarray(choice_cols)
        if len(choice_cols) == j:
            idx = choices.astype(np.int32)
            idx += (np.arange(j, dtype=np.int32) * width + 1)[None, :]
            expected = table.ravel()[idx]
            del idx
            if scores is None:
                x = expected
                bad_cols = []
            else:
                bad_cols = np.flatnonzero((expected != x).any(axis=0)).tolist()
        else:
            sub = choices[:, cc].astype(np.intp) + 1 + (cc * width)[None, :]
            expected = table.ravel()[sub]
            if scores is None:
                x[:, cc] = expected
                bad_cols = []
            else:
                bad_cols = cc[np.flatnonzero((expected != x[:, cc]).any(axis=0))].tolist()
        del expected
        # columns whose marks do not follow the key: the option scores follow the marks when they can
        for jj in bad_cols:
            fixed = _scores_from_marks(choices[:, jj], x[:, jj], specs[jj], float(mp[jj]))
            if isinstance(fixed, str):
                notes[jj].append(fixed)
                specs[jj] = None
                choices[:, jj] = -2
            else:
                specs[jj] = fixed
    else:
        del codes
    out_kinds, out_keys, labels_all, oscores_all = [], [], [], []
    key_index = np.full(j, -1, dtype=np.intp)
    for jj in range(j):
        if specs[jj] is not None:
            labels, osc, _lut, kidx = specs[jj]
            out_kinds.append(str(kinds[jj]))
            out_keys.append(labels[kidx])
            labels_all.append(labels)
            oscores_all.append(tuple(osc))
            key_index[jj] = kidx
            continue
        if scores is None:
            raise ValueError(f"item {item_ids[jj]!r}: a marked item needs the awarded scores")
        col_x = x[:, jj]
        bad = ~np.isfinite(col_x)
        if bad.any():
            col_x[bad] = 0.0
            notes[jj].append(f"{int(bad.sum())} missing score(s) counted as 0")
        lo, hi = col_x < 0, col_x > mp[jj] * (1 + 1e-9)
        if lo.any() or hi.any():
            np.clip(col_x, 0.0, mp[jj], out=col_x)
            notes[jj].append(f"{int(lo.sum() + hi.sum())} score(s) outside 0-{mp[jj]:g} clipped")
        x[:, jj] = col_x
        out_kinds.append("marked")
        out_keys.append(None)
        labels_all.append(())
        oscores_all.append(())
    matrix = ScoreMatrix(
        candidate_ids=tuple(str(c) for c in candidate_ids), item_ids=tuple(str(i) for i in item_ids), scores=x,
        max_points=mp, kinds=tuple(out_kinds), keys=tuple(out_keys), omitted=m == 0, choices=choices,
        option_labels=tuple(labels_all), option_scores=tuple(oscores_all), key_index=key_index,
        multiple_policy=multiple_policy)
    return matrix, notes


def _pattern_points(pattern: int, key: int, mp: float, policy: str) -> float:
    if pattern == key:
        return mp
    if policy == "partial" and pattern and pattern & ~key == 0:
        return mp * bin(pattern).count("1") / bin(key).count("1")
    return 0.0


def _choice_spec(counts, kind, km, n_opt, mp, policy):
    """Labels, option scores (from the key), mask -> option index table and key index of one choice item,
    from the counts of its 256 possible answer bytes; or a note why it cannot be analysed as a choice item."""
    present = np.flatnonzero(counts[1:]) + 1
    if kind == "true_false":
        if np.any(present > 2):
            return "answers other than T/F; analysed as a marked item"
        masks = np.array([1, 2], dtype=np.int64)
    elif kind == "single":
        if present.size and np.any(_popcount8(present) != 1):
            return "answers with several letters to a single-answer item; analysed as a marked item"
        top = int(max([km.bit_length()] + [int(v).bit_length() for v in present]))
        k_opt = int(n_opt) if n_opt else max(2, top)
        if top > k_opt:
            return f"answers beyond the item's {k_opt} options; analysed as a marked item"
        masks = np.array([1 << t for t in range(k_opt)], dtype=np.int64)
    else:
        # the observed patterns and the key, ordered by their letter strings (A, AB, ABC, AC, B, ...) as
        # scoring.matrix orders them
        masks = np.array(sorted(set(int(v) for v in present) | {int(km)}, key=lambda v: mask_label(v, kind)),
                         dtype=np.int64)
    labels = tuple(mask_label(int(v), kind) for v in masks)
    lut = np.full(256, -1, dtype=np.int16)
    lut[masks] = np.arange(masks.size, dtype=np.int16)
    kidx = int(lut[km])
    if kind == "multiple":
        osc = [_pattern_points(int(v), int(km), mp, policy) for v in masks]
    else:
        osc = [mp if t == kidx else 0.0 for t in range(masks.size)]
    return labels, osc, lut, kidx


def _scores_from_marks(ch, sc, spec, mp):
    """Option scores taken from the awarded marks when every chooser of an option got the same score
    (e.g. a corrected key or a partial-credit rule); otherwise a note."""
    labels, osc, lut, kidx = spec
    osc = list(osc)
    if not np.all(np.isfinite(sc)):
        return "some awarded scores are missing; analysed as a marked item"
    if np.any(sc[ch < 0] != 0):
        return "a blank answer was awarded points; analysed as a marked item"
    order = np.argsort(ch, kind="stable")
    sorted_ch = ch[order]
    for t in range(len(labels)):
        lo, hi = np.searchsorted(sorted_ch, [t, t + 1])
        if hi > lo:
            sel = sc[order[lo:hi]]
            v = float(sel[0])
            if np.any(sel != v):
                return (f"candidates choosing {labels[t]} were awarded different scores; "
                        "analysed as a marked item")
            osc[t] = v
    if not 0 <= min(osc) <= max(osc) <= mp * (1 + 1e-9):
        return "awarded scores outside the item's points; analysed as a marked item"
    return labels, osc, lut, kidx


def normal_scores(totals) -> np.ndarray:
    """Normal scores ``Phi^-1((rank - 0.5) / N)`` of the totals (mid-ranks for ties): an ability scale
    comparable with an IRT theta (mean 0, SD about 1)."""
    t = np.asarray(totals, dtype=np.float64)
    n = t.size
    if n == 0:
        return t.copy()
    order = np.argsort(t, kind="stable")
    st = t[order]
    # mid-ranks of ties: first and last position of each distinct value
    uniq, first, counts = np.unique(st, return_index=True, return_counts=True)
    mid = first + (counts - 1) / 2.0 + 1.0
    ranks = np.empty(n)
    ranks[order] = np.repeat(mid, counts)
    return ndtri((ranks - 0.5) / n)


def fit_logistic_grouped(x, k, n, *, max_iter: int = 50) -> tuple[float, float, bool]:
    """Fit ``P(x) = 1 / (1 + exp(-a (x - b)))`` to grouped proportions ``k / n`` by maximum likelihood
    (binomial; ``k`` may be fractional, e.g. mean score / max x n for a marked item).

    Returns ``(a, b, converged)``; ``(nan, nan, False)`` when the proportions are all 0 or all 1 or
    there are fewer than 2 groups."""
    x = np.asarray(x, dtype=np.float64)
    k = np.asarray(k, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    keep = n > 0
    x, k, n = x[keep], k[keep], n[keep]
    if x.size < 2 or k.sum() <= 0 or k.sum() >= n.sum() or np.ptp(x) == 0:
        return math.nan, math.nan, False
    beta = np.array([0.0, 1.0])  # intercept c, slope a: P = expit(c + a x)
    p0 = np.clip(k.sum() / n.sum(), 1e-6, 1 - 1e-6)
    beta[0] = math.log(p0 / (1 - p0))
    converged = False
    for _ in range(max_iter):
        eta = beta[0] + beta[1] * x
        p = expit(eta)
        w = n * p * (1 - p)
        g = np.array([np.sum(k - n * p), np.sum((k - n * p) * x)])
        h = np.array([[w.sum(), (w * x).sum()], [(w * x).sum(), (w * x * x).sum()]])
        try:
            step = np.linalg.solve(h + 1e-9 * np.eye(2), g)
        except np.linalg.LinAlgError:
            break
        scale = 1.0
        max_step = float(np.max(np.abs(step)))
        if max_step > 5:
            scale = 5 / max_step
        beta = beta + scale * step
        if max_step * scale < 1e-8:
            converged = True
            break
    a, c = float(beta[1]), float(beta[0])
    if not (math.isfinite(a) and math.isfinite(c)) or abs(a) < 1e-8 or abs(a) > 50:
        return math.nan, math.nan, False
    return a, -c / a, converged


def _groups(totals: np.ndarray, n_groups: int) -> tuple[np.ndarray, int]:
    """Equal-count groups of the totals, ties kept together (group 0 = lowest)."""
    n = totals.size
    edges = np.unique(np.quantile(totals, np.linspace(0.0, 1.0, n_groups + 1), method="inverted_cdf"))
    if edges.size < 2:
        return np.zeros(n, dtype=np.intp), 1
    k = edges.size - 1
    idx = np.clip(np.searchsorted(edges, totals, side="right") - 1, 0, k - 1)
    used = np.unique(idx)
    remap = np.full(k, -1, dtype=np.intp)
    remap[used] = np.arange(used.size)
    return remap[idx], int(used.size)


def score_group_curves(matrix: ScoreMatrix, *, n_groups: int = 5, n_curve_groups: int = 10,
                       irt: Sequence | None = None) -> list[dict]:
    """Option-by-score-group tables and item characteristic curves of every item.

    Candidates are put in ``n_groups`` equal-count groups by total score (ties stay together, so there may
    be fewer groups) for the option table, and in ``n_curve_groups`` groups for the empirical curve. The
    ability scale is the normal score of the total (`normal_scores`). The fitted curve is the item's IRT
    curve when ``irt[j]`` gives ``{"a", "b"}`` (from `scoring.irt` via the report), otherwise a two-parameter
    logistic curve fitted to the grouped proportions (`fit_logistic_grouped`).

    Returns
    -------
    list of dict, one per item::

        {"groups": [{"lo", "hi", "n", "mean_total", "p", "options": {label: share}, "omit": share}],
         "curve": {"theta": [...], "p": [...], "n": [...]},
         "fit": {"a", "b", "source": "irt" | "logistic"} or None}
    """
    n, j = matrix.n_candidates, matrix.n_items
    if n == 0:
        return [{"groups": [], "curve": {"theta": [], "p": [], "n": []}, "fit": None} for _ in range(j)]
    x = matrix.scores
    totals = x.sum(axis=1)
    theta = normal_scores(totals)
    g, k = _groups(totals, n_groups)
    gn = np.bincount(g, minlength=k).astype(np.float64)
    g_lo = np.array([totals[g == t].min() for t in range(k)])
    g_hi = np.array([totals[g == t].max() for t in range(k)])
    g_mean = np.bincount(g, weights=totals, minlength=k) / gn
    cg, ck = _groups(totals, n_curve_groups)
    cn = np.bincount(cg, minlength=ck).astype(np.float64)
    c_theta = np.bincount(cg, weights=theta, minlength=ck) / cn
    # per-group item means in one product each
    # item score sums per group for both groupings in one sparse product (reads the matrix once)
    rows = np.concatenate([g, k + cg])
    cols = np.concatenate([np.arange(n), np.arange(n)])
    ind = sparse.csr_array((np.ones(2 * n), (rows, cols)), shape=(k + ck, n))
    sums = np.asarray(ind @ x)
    gp = sums[:k] / gn[:, None] / matrix.max_points[None, :]  # (k, J)
    cp = sums[k:] / cn[:, None] / matrix.max_points[None, :]  # (ck, J)
    chT = np.ascontiguousarray(matrix.choices.T)
    omT = np.ascontiguousarray(matrix.omitted.T)
    out = []
    for jj in range(j):
        labels = matrix.option_labels[jj]
        opts_by_group = [dict() for _ in range(k)]
        omit_by_group = [0.0] * k
        if labels:
            width = len(labels) + 1
            codes = g * width + (chT[jj].astype(np.intp) + 1)  # 0 = omitted
            counts = np.bincount(codes, minlength=k * width).reshape(k, width)
            for t in range(k):
                omit_by_group[t] = float(counts[t, 0] / gn[t])
                opts_by_group[t] = {lab: float(counts[t, o + 1] / gn[t]) for o, lab in enumerate(labels)}
        else:
            om = np.bincount(g, weights=omT[jj].astype(np.float64), minlength=k) / gn
            omit_by_group = [float(v) for v in om]
        groups = [{"lo": float(g_lo[t]), "hi": float(g_hi[t]), "n": int(gn[t]), "mean_total": float(g_mean[t]),
                   "p": float(gp[t, jj]), "options": opts_by_group[t], "omit": omit_by_group[t]} for t in range(k)]
        fit = None
        spec = irt[jj] if irt is not None and jj < len(irt) else None
        if spec and spec.get("a") is not None and spec.get("b") is not None \
                and math.isfinite(spec["a"]) and math.isfinite(spec["b"]):
            fit = {"a": float(spec["a"]), "b": float(spec["b"]), "source": "irt"}
        else:
            a, b, _ok = fit_logistic_grouped(c_theta, cp[:, jj] * cn, cn)
            if math.isfinite(a):
                fit = {"a": a, "b": b, "source": "logistic"}
        out.append({"groups": groups,
                    "curve": {"theta": [float(v) for v in c_theta], "p": [float(v) for v in cp[:, jj]],
                              "n": [int(v) for v in cn]},
                    "fit": fit})
    return out


def pool_statistics(n, p, r_rest=None, d=None) -> dict:
    """One item's statistics pooled across sittings, weighted by N.

    ``p`` and ``d`` (upper–lower index) are N-weighted means; ``r_rest`` is averaged on Fisher's z scale
    with weights ``N - 3`` (the inverse variance of z), then transformed back. Sittings whose value is
    missing (None/nan) do not count for that statistic.

    Returns
    -------
    dict
        ``{"n", "p", "r_rest", "d", "sittings"}`` (``n`` = total candidates; values None when undefined).
    """
    n = np.asarray(n, dtype=np.float64).reshape(-1)

    def arr(v):
        if v is None:
            return np.full(n.shape, np.nan)
        return np.asarray([np.nan if e is None else e for e in v], dtype=np.float64).reshape(-1)

    p_, r_, d_ = arr(p), arr(r_rest), arr(d)
    if not (p_.shape == r_.shape == d_.shape == n.shape):
        raise ValueError("n, p, r_rest and d must have the same length")
    if np.any(n < 0) or not np.all(np.isfinite(n)):
        raise ValueError("n must be finite and >= 0")

    def wmean(v, w):
        ok = np.isfinite(v) & (w > 0)
        return float(np.sum(v[ok] * w[ok]) / np.sum(w[ok])) if ok.any() else None

    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.arctanh(np.clip(r_, -0.999999, 0.999999))
    zbar = wmean(z, np.maximum(n - 3, 0))
    return {"n": int(n.sum()), "p": wmean(p_, n), "r_rest": None if zbar is None else float(np.tanh(zbar)),
            "d": wmean(d_, n), "sittings": int(np.sum(n > 0))}


def worst_severity(codes) -> str | None:
    """The most severe severity among flag codes (None when there are none)."""
    best = None
    for c in codes:
        s = flag_severity(c)
        if best is None or _SEVERITY_RANK[s] > _SEVERITY_RANK[best]:
            best = s
    return best


__all__.append("worst_severity")

"""Differential item functioning by the Mantel–Haenszel procedure (Holland & Thayer 1988).

Candidates are matched on the total score T (studied item included). In stratum k,
A_k / B_k are the reference group's right / wrong counts, C_k / D_k the focal group's, N_k the sum:

* ``alpha_MH = Σ(A_k D_k / N_k) / Σ(B_k C_k / N_k)`` (common odds ratio, reference vs focal);
* ``MH D-DIF = −2.35 ln alpha_MH`` (ETS delta scale; negative favours the reference group);
* ``chi2_MH = (|ΣA_k − ΣE(A_k)| − ½)² / ΣVar(A_k)`` with ``E(A_k) = n_Rk m_1k / N_k`` and
  ``Var(A_k) = n_Rk n_Fk m_1k m_0k / (N_k² (N_k − 1))``; the ½ continuity correction is applied
  only when ``|ΣA − ΣE| >= ½``, as R's ``mantelhaen.test``;
* ``Var(ln alpha_MH)`` by Robins, Breslow & Greenland (1986):
  ``ΣP_kR_k/(2R²) + Σ(P_kS_k + Q_kR_k)/(2RS) + ΣQ_kS_k/(2S²)`` with ``P = (A + D)/N``,
  ``Q = (B + C)/N``, ``R_k = A D/N``, ``S_k = B C/N``; ``SE(D-DIF) = 2.35 sqrt(Var)``;
* ETS classes (Zwick 2012, ETS RR-12-08): **A** if |D| < 1 or chi2_MH not significant at .05;
  **C** if |D| >= 1.5 and ``(|D| − 1)/SE > 1.645``; **B** otherwise.

Only dichotomous items (every score 0 or max) are analysed; polytomous items get nan with a note.
"""

from __future__ import annotations

import numpy as np
from scipy import special, stats

from ._core import as_scores, strata_sums
from .intervals import z_value
from .results import DIFResult, MantelHaenszelResult, ScoreMatrix

__all__ = ["mantel_haenszel", "mh_dif", "ets_class"]

DELTA_SCALE = 2.35


def ets_class(d_dif, se, p_value, *, level: float = 0.05):
    """ETS A/B/C classification (vectorised); ``""`` where D-DIF or its SE is not finite."""
    d = np.abs(np.asarray(d_dif, dtype=np.float64))
    se = np.asarray(se, dtype=np.float64)
    p = np.asarray(p_value, dtype=np.float64)
    z1 = float(special.ndtri(1 - level))
    with np.errstate(invalid="ignore", divide="ignore"):
        sig_gt1 = (d - 1) / se > z1
    cls = np.where((d < 1) | (p >= level), "A", np.where((d >= 1.5) & sig_gt1, "C", "B"))
    ok = np.isfinite(d) & np.isfinite(se) & np.isfinite(p)
    return np.where(ok, cls, "")


def mantel_haenszel(a, b, c, d, *, correct: bool = True, confidence: float = 0.95) -> MantelHaenszelResult:
    """Mantel–Haenszel common odds ratio, RGB interval and chi-square for 2 x 2 x K tables.

    Parameters
    ----------
    a, b, c, d : array_like, shape (..., K)
        Per stratum: reference right, reference wrong, focal right, focal wrong (R's
        ``x[1,1,k], x[1,2,k], x[2,1,k], x[2,2,k]``). Vectorised over leading axes.
    correct : bool, default True
        Continuity correction of the chi-square (as R, only when |ΣA − ΣE| >= ½).
    confidence : float, default 0.95

    Returns
    -------
    MantelHaenszelResult
        nan (and ets_class ``""``) when the odds ratio is 0 or infinite (no discordant pairs)
        or no stratum holds both groups.

    References
    ----------
    Mantel & Haenszel (1959), JNCI 22:719–748; Robins, Breslow & Greenland (1986), Biometrics
    42:311–323; Holland & Thayer (1988); R ``stats::mantelhaen.test``.
    """
    z = z_value(confidence)
    arrs = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (a, b, c, d)))
    a, b, c, d = arrs
    if a.ndim < 1:
        raise ValueError("a, b, c, d need a stratum axis (shape (..., K))")
    if any(np.any(~np.isfinite(v)) or np.any(v < 0) for v in arrs):
        raise ValueError("table counts must be finite and >= 0")
    n = a + b + c + d
    with np.errstate(invalid="ignore", divide="ignore"):
        inv_n = np.where(n > 0, 1.0 / np.where(n > 0, n, 1.0), 0.0)
        rk = a * d * inv_n
        sk = b * c * inv_n
        pk = (a + d) * inv_n
        qk = (b + c) * inv_n
        R = rk.sum(axis=-1)
        S = sk.sum(axis=-1)
        alpha = R / S
        log_alpha = np.log(alpha)
        var = ((pk * rk).sum(-1) / (2 * R * R) + (pk * sk + qk * rk).sum(-1) / (2 * R * S)
               + (qk * sk).sum(-1) / (2 * S * S))
        se = np.sqrt(var)
        n_r, n_f, m1, m0 = a + b, c + d, a + c, b + d
        expect = n_r * m1 * inv_n
        v_a = np.where(n > 1, n_r * n_f * m1 * m0 / (n * n * np.where(n > 1, n - 1, 1.0)), 0.0)
        delta = a.sum(-1) - expect.sum(-1)
        yates = np.where(correct & (np.abs(delta) >= 0.5), 0.5, 0.0)
        vsum = v_a.sum(-1)
        chi2 = np.where(vsum > 0, (np.abs(delta) - yates) ** 2 / np.where(vsum > 0, vsum, 1.0), np.nan)
    finite = np.isfinite(log_alpha) & np.isfinite(se) & (R > 0) & (S > 0)
    alpha = np.where(finite, alpha, np.nan)
    log_alpha = np.where(finite, log_alpha, np.nan)
    se = np.where(finite, se, np.nan)
    p = np.where(np.isfinite(chi2), stats.chi2.sf(np.where(np.isfinite(chi2), chi2, 0.0), 1), np.nan)
    d_dif = -DELTA_SCALE * log_alpha
    se_d = DELTA_SCALE * se
    return MantelHaenszelResult(
        alpha_mh=alpha, log_alpha=log_alpha, se_log_alpha=se, ci_low=np.exp(log_alpha - z * se),
        ci_high=np.exp(log_alpha + z * se), chi2=chi2, p_value=p, d_dif=d_dif, se_d_dif=se_d,
        ets_class=ets_class(d_dif, se_d, p),
    )


def mh_dif(
    data,
    groups,
    *,
    reference=None,
    focal=None,
    max_points=None,
    correct: bool = True,
    item_ids=None,
) -> DIFResult:
    """Mantel–Haenszel DIF of every dichotomous item for one or more group comparisons.

    Parameters
    ----------
    data : ScoreMatrix or array_like (N, J)
    groups : array_like (N,)
        Group label of every candidate (e.g. station, sex, region); converted to str.
    reference : str, optional
        Reference group. Without it every group is compared with all other candidates
        ("rest"); with exactly two groups and no reference, the first label in sorted order is
        the reference.
    focal : str or sequence of str, optional
        Restrict the focal groups (default: every group except the reference).
    max_points : array_like (J,), optional (arrays only)
    correct : bool, default True
        Continuity correction of chi2_MH.
    item_ids : sequence of str, optional

    Returns
    -------
    DIFResult
        Arrays of shape (n_comparisons, J).
    """
    x, mp = as_scores(data, max_points)
    n, j = x.shape
    if item_ids is None:
        item_ids = data.item_ids if isinstance(data, ScoreMatrix) else tuple(str(i + 1) for i in range(j))
    g = np.asarray(groups).astype(str).reshape(-1)
    if g.shape[0] != n:
        raise ValueError(f"groups has {g.shape[0]} labels for {n} candidates")
    labels, gcode = np.unique(g, return_inverse=True)
    if labels.shape[0] < 2:
        raise ValueError("DIF needs at least two groups")
    if reference is not None and str(reference) not in labels:
        raise ValueError(f"reference group {reference!r} does not occur in groups")
    if reference is None and labels.shape[0] == 2:
        reference = labels[0]
    if focal is None:
        focal_list = [lab for lab in labels if reference is None or lab != str(reference)]
    else:
        focal_list = [str(focal)] if isinstance(focal, str) else [str(f) for f in focal]
        for f in focal_list:
            if f not in labels or (reference is not None and f == str(reference)):
                raise ValueError(f"focal group {f!r} is not a group other than the reference")
    dich = np.all((x == 0) | (x == mp), axis=0)
    totals = x.sum(axis=1)
    _, tcode = np.unique(np.round(totals, 9), return_inverse=True)
    k = int(tcode.max()) + 1
    ng = labels.shape[0]
    cell = gcode.astype(np.int64) * k + tcode
    right = np.rint(strata_sums(x, cell, ng * k) / mp).reshape(ng, k, j)  # right answers of 0/max items
    size = np.bincount(cell, minlength=ng * k).reshape(ng, k).astype(np.float64)
    total_right = right.sum(axis=0)
    total_size = size.sum(axis=0)
    idx = {lab: t for t, lab in enumerate(labels)}
    ref_names, res_list, nf_list, nr_list = [], [], [], []
    for f in focal_list:
        fi = idx[f]
        if reference is None:
            ra = total_right - right[fi]
            rn = total_size - size[fi]
            ref_names.append("rest")
        else:
            ra = right[idx[str(reference)]]
            rn = size[idx[str(reference)]]
            ref_names.append(str(reference))
        fa, fn = right[fi], size[fi]
        res = mantel_haenszel(ra.T, (rn[:, None] - ra).T, fa.T, (fn[:, None] - fa).T, correct=correct)
        res_list.append(res)
        nf_list.append(int(fn.sum()))
        nr_list.append(int(rn.sum()))

    def stack(name):
        arr = np.stack([getattr(r, name) for r in res_list])
        if arr.dtype.kind == "f":
            arr = np.where(dich[None, :], arr, np.nan)
        else:
            arr = np.where(dich[None, :], arr, "")
        return arr

    notes = tuple(() if dich[jj] else ("polytomous item: Mantel-Haenszel DIF needs scores 0 or max",)
                  for jj in range(j))
    return DIFResult(
        item_ids=tuple(item_ids), focal=tuple(focal_list), reference=tuple(ref_names),
        n_focal=np.array(nf_list, dtype=np.int64), n_reference=np.array(nr_list, dtype=np.int64),
        alpha_mh=stack("alpha_mh"), d_dif=stack("d_dif"), se=stack("se_d_dif"), chi2=stack("chi2"),
        p_value=stack("p_value"), ets_class=stack("ets_class"), notes=notes,
    )

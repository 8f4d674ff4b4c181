"""One entry point, `analyze`, that runs the whole classical analysis and returns a JSON-able dict.

Shape (``nan`` becomes ``null``)::

    {"conventions": {...},
     "test": {"n_candidates", "n_items", "max_total", "mean", "sd", "median", "min", "max",
              "skewness", "kurtosis", "alpha", "kr20", "sem", "mean_p", "ul_group_size",
              "pass_mark": {...}, "histogram": {"edges", "counts"}, "irt", "dif", "copying_screen",
              "notes"},
     "items": [{"item_id", "kind", "key", "max_points", "n", "n_omitted", "mean", "p", "p_ci", "sd",
                "r_pbis", "r_rest", "r_rest_ci", "alpha_if_deleted", "d_ul27", "p_upper", "p_lower",
                "disc_efficiency",
                "options": {"A": {"prop", "prop_upper", "prop_lower", "r_rest", "mean_total", "count",
                                  "is_key"}, ...},
                "omit": {"prop", "prop_upper", "prop_lower", "r_rest", "mean_total", "count"} or null,
                "irt": {"a", "b", "se_a", "se_b", "infit", "outfit"} or null,
                "dif": {"group", "reference", "mh_d_dif", "se", "ets_class", "alpha_mh", "p_value",
                        "favours", "comparisons": [...]} or null,
                "flags": [{"code", "reason": {"en", "zh"}, "evidence"}],
                "notes": [...]}],
     "copying": [{"candidate_a", "candidate_b", "group", "identical", "identical_wrong", "n_wrong_a",
                  "n_wrong_b", "k_a_to_b", "k_b_to_a", "p_value", "p_adjusted"}]}

``copying`` lists only the pairs flagged after the multiplicity correction (empty when the screen
was not requested; ``test.copying_screen`` says whether it ran).
"""

from __future__ import annotations

import math
import warnings
from types import SimpleNamespace

import numpy as np

from ._core import summarize
from .collusion import answer_copying
from .dif import mh_dif
from .distractors import distractor_analysis
from .flags import FlagThresholds, flag_items
from .item_analysis import item_statistics
from .reliability import cronbach_alpha, pass_mark_analysis, score_distribution
from .results import ScoreMatrix

__all__ = ["analyze", "to_jsonable", "SCHEMA_VERSION"]

SCHEMA_VERSION = 1
_ETS_RANK = {"C": 3, "B": 2, "A": 1, "": 0}


def to_jsonable(obj):
    """Convert numpy types to Python, non-finite floats to None, tuples/arrays to lists (recursive)."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [to_jsonable(v) for v in obj.tolist()]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        x = float(obj)
        return x if math.isfinite(x) else None
    if obj is None:
        return None
    if isinstance(obj, str):
        return str(obj)
    raise TypeError(f"cannot convert {type(obj).__name__} to JSON")


def _fit_irt(matrix: ScoreMatrix, summary, model: str):
    """Fit scoring.irt on the dichotomous items; map results to all J items."""
    from . import irt as irt_mod  # optional dependency inside the package

    j = matrix.n_items
    cols = np.flatnonzero(summary.dichotomous)
    nan = np.full(j, np.nan)
    mapped = SimpleNamespace(model=model, a=nan.copy(), b=nan.copy(), se_a=nan.copy(), se_b=nan.copy(),
                             infit=nan.copy(), outfit=nan.copy(), fitted=np.zeros(j, dtype=bool), summary=None)
    if cols.size < 3:
        mapped.summary = {"model": model, "error": "IRT needs at least 3 dichotomous items"}
        return mapped
    x01 = summary.scores[:, cols] / summary.max_points[cols]
    fit = irt_mod.fit_rasch if model == "rasch" else irt_mod.fit_2pl
    with warnings.catch_warnings(record=True) as caught:  # numeric warnings become notes in the report
        warnings.simplefilter("always")
        try:
            res = fit(x01)
        except ValueError as exc:
            mapped.summary = {"model": model, "error": str(exc)}
            return mapped
    for name in ("a", "b", "se_a", "se_b", "infit", "outfit"):
        arr = getattr(mapped, name)
        arr[cols] = np.asarray(getattr(res, name, np.full(cols.size, np.nan)), dtype=np.float64)
    used = np.asarray(getattr(res, "item_used", np.ones(cols.size, dtype=bool)), dtype=bool)
    mapped.fitted[cols[used]] = True
    mapped.summary = {
        "model": model, "converged": bool(getattr(res, "converged", False)),
        "n_iter": getattr(res, "n_iter", None), "loglik": getattr(res, "loglik", None),
        "latent_sd": getattr(res, "latent_sd", None), "n_items_fitted": int(used.sum()),
        "notes": [str(s) for s in getattr(res, "notes", ())]
        + [f"warning during the fit: {w.message}" for w in caught],
    }
    return mapped


def analyze(
    matrix: ScoreMatrix,
    *,
    groups=None,
    reference_group: str | None = None,
    irt=None,
    copying: bool = False,
    thresholds: FlagThresholds | None = None,
    cut: float | None = None,
    ul_fraction: float = 0.27,
    confidence: float = 0.95,
    copying_alpha: float = 0.05,
    copying_correction: str = "fdr",
) -> dict:
    """Run the classical analysis (and optionally IRT, DIF, copying) and return the report dict.

    Parameters
    ----------
    matrix : ScoreMatrix
        From `scoring.matrix.build_score_matrix` or `scoring.io.read_inputs`.
    groups : array_like (N,), optional
        Group label per candidate (e.g. station). Enables Mantel–Haenszel DIF (each group vs the
        rest, or vs ``reference_group``), the ``station_leak`` flag, and makes the copying screen run
        within each group.
    reference_group : str, optional
    irt : {"rasch", "2pl"} or None, optional
        Fit `scoring.irt` on the dichotomous items and report a, b, SEs (and Rasch infit/outfit).
    copying : bool, default False
        Run the all-pairs answer-copying screen (`scoring.collusion.answer_copying`).
    thresholds : FlagThresholds, optional
        Flag thresholds; ``thresholds.pass_fraction`` (default 0.60) sets the pass mark.
    cut : float, optional
        Pass mark in points (overrides ``pass_fraction``).
    ul_fraction : float, default 0.27
    confidence : float, default 0.95
        Level of the reported intervals.
    copying_alpha : float, default 0.05
    copying_correction : {"fdr", "bonferroni"}, default "fdr"

    Returns
    -------
    dict
        JSON-able (see the module docstring); ``json.dumps(report, allow_nan=False)`` works.
    """
    if not isinstance(matrix, ScoreMatrix):
        raise TypeError(f"analyze needs a ScoreMatrix, got {type(matrix).__name__}")
    th = thresholds or FlagThresholds()
    if not isinstance(th, FlagThresholds):
        raise TypeError("thresholds must be a FlagThresholds")
    if irt not in (None, "rasch", "2pl"):
        raise ValueError(f"irt must be None, 'rasch' or '2pl', got {irt!r}")
    n, j = matrix.n_candidates, matrix.n_items
    if n < 2:
        raise ValueError(f"at least 2 candidates are needed, got {n}")
    g = None
    if reference_group is not None and groups is None:
        raise ValueError("reference_group needs groups")
    if groups is not None:
        g = np.asarray(groups).astype(str).reshape(-1)
        if g.shape[0] != n:
            raise ValueError(f"groups has {g.shape[0]} labels for {n} candidates")
    summary = summarize(matrix, ul_fraction=ul_fraction)
    items = item_statistics(matrix, summary=summary, confidence=confidence)
    options = distractor_analysis(matrix, summary=summary)
    rel = cronbach_alpha(matrix, summary=summary)
    dist = score_distribution(summary.totals, matrix.max_total)
    pm = pass_mark_analysis(matrix, summary=summary, cut=cut, pass_fraction=th.pass_fraction, alpha=rel.alpha)
    test_notes = list(dist.notes) + list(rel.notes) + list(pm.notes)

    dif = None
    if g is not None:
        if np.unique(g).shape[0] >= 2:
            dif = mh_dif(matrix, g, reference=reference_group)
        else:
            test_notes.append("DIF and station_leak need at least two groups")
    irt_mapped = _fit_irt(matrix, summary, irt) if irt is not None else None
    flags = flag_items(matrix, items, options, summary, dif=dif, irt=irt_mapped, groups=g,
                       thresholds=th, cut=pm.cut)
    if n < th.min_n:
        test_notes.append(f"no item flags: fewer than {th.min_n} candidates")

    copy_res = None
    if copying:
        copy_res = answer_copying(matrix, sittings=g, alpha=copying_alpha, correction=copying_correction)

    item_dicts = [_item_dict(matrix, summary, items, options, dif, irt_mapped, flags, jj, th) for jj in range(j)]
    report = {
        "conventions": _conventions(matrix, summary, th, confidence, pm.cut, copying_alpha, copying_correction),
        "test": {
            "n_candidates": n, "n_items": j, "max_total": matrix.max_total,
            "mean": dist.mean, "sd": dist.sd, "median": dist.median, "min": dist.minimum, "max": dist.maximum,
            "skewness": dist.skewness, "kurtosis": dist.kurtosis, "alpha": rel.alpha, "kr20": rel.kr20,
            "sem": rel.sem, "mean_p": float(np.mean(items.p)), "ul_group_size": items.ul_group_size,
            "pass_mark": {
                "cut": pm.cut, "fraction": pm.cut / matrix.max_total, "pass_count": pm.pass_count,
                "pass_rate": pm.pass_rate, "csem_lord": pm.csem_lord, "csem_keats": pm.csem_keats,
                "kr21": pm.kr21,
                "decision_consistency": {"method": "normal approximation (Huynh 1976; Peng & Subkoviak 1980)",
                                         "reliability": rel.alpha, "p0": pm.p0, "kappa": pm.kappa},
                "subkoviak": {"p0": pm.subkoviak_p0, "kappa": pm.subkoviak_kappa},
            },
            "histogram": {"edges": dist.histogram_edges, "counts": dist.histogram_counts},
            "irt": irt_mapped.summary if irt_mapped is not None else None,
            "dif": None if dif is None else {
                "comparisons": [{"focal": f, "reference": r, "n_focal": int(nf), "n_reference": int(nr)}
                                for f, r, nf, nr in zip(dif.focal, dif.reference, dif.n_focal, dif.n_reference)]},
            "copying_screen": None if copy_res is None else {
                "n_pairs": int(copy_res.p_value.shape[0]), "n_flagged": int(copy_res.flagged.sum()),
                "alpha": copy_res.alpha, "correction": copy_res.correction,
                "within_groups": g is not None, "notes": list(copy_res.notes)},
            "notes": test_notes,
        },
        "items": item_dicts,
        "copying": [] if copy_res is None else _copying_list(copy_res),
    }
    return to_jsonable(report)


def _conventions(matrix, summary, th, confidence, cut, copying_alpha, copying_correction):
    return {
        "schema_version": SCHEMA_VERSION,
        "omitted": "an empty response scores 0; omissions are reported per item ('n_omitted', 'omit')",
        "not_presented": "every item was presented to every candidate (one form); analyse forms separately",
        "variance": "sample variance and SD (divisor N - 1)",
        "p": "facility = mean score / max_points",
        "r_pbis": "Pearson r of item score with total score (point-biserial for 0/1 items)",
        "r_rest": "corrected item-total r: item vs total minus the item (psych r.drop, Moodle DI/100)",
        "alpha_if_deleted": "Cronbach alpha of the other items (from the J x J covariance matrix)",
        "ul_groups": {"fraction": summary.ul_fraction, "size": int(summary.upper.shape[0]),
                      "size_rule": "floor(fraction * N + 0.5)",
                      "tie_rule": "ranked by total; candidates tied at a group boundary are taken in input order "
                                  "(earlier rows first) for both the upper and the lower group"},
        "d_ul27": "p_upper - p_lower",
        "disc_efficiency": "Moodle discriminative efficiency as a fraction (Moodle shows x100; 'dubious' < 0.15)",
        "skewness_kurtosis": "Moodle k-statistics k3/k2^1.5 and k4/k2^2 (excess kurtosis; = scipy bias=False)",
        "alpha": "Cronbach alpha = KR-20 when every item is 0/max; sem = sd * sqrt(1 - alpha)",
        "confidence": confidence,
        "p_ci": "Wilson score interval (dichotomous items), else normal interval clipped to [0, 1]",
        "r_rest_ci": "Fisher z interval",
        "multiple_choice": f"multiple-answer items scored '{matrix.multiple_policy}'; their options are the "
                           "observed response patterns",
        "options": "option r_rest = r(choice indicator, total - item); keys are never reversed",
        "pass_mark": {"cut": cut, "rule": "pass when total >= cut", "default_fraction": th.pass_fraction},
        "csem": "Lord binomial error model at the cut (csem_lord) and Keats' correction (csem_keats)",
        "decision_consistency": "normal approximation with reliability = alpha and continuity correction "
                                "(Peng & Subkoviak 1980); Subkoviak 1976 binomial method for number-correct tests",
        "dif": "Mantel-Haenszel on total-score strata (studied item included), MH D-DIF = -2.35 ln alpha_MH "
               "(negative favours the reference group), RGB SE, ETS A/B/C (Zwick 2012); "
               "per item the most severe comparison",
        "copying": f"K index (Holland 1996) per ordered pair, pair p = min(1, 2 min(K_ab, K_ba)), "
                   f"{copying_correction} at alpha {copying_alpha} within each group; only flagged pairs listed",
        "flags": "raised only when N >= min_n and the confidence interval clears the threshold",
        "thresholds": th.to_dict(),
        "nan": "undefined values are null; the reason is in 'notes'",
    }


def _item_dict(matrix, summary, items, options, dif, irt_mapped, flags, j, th):
    opt = options.items[j]
    if opt is not None:
        opts = {lab: {"prop": opt.prop[t], "prop_upper": opt.prop_upper[t], "prop_lower": opt.prop_lower[t],
                      "r_rest": opt.r_rest[t], "mean_total": opt.mean_total[t], "count": int(opt.count[t]),
                      "is_key": t == opt.key_index}
                for t, lab in enumerate(opt.labels)}
        omit = {"prop": opt.omit_prop, "prop_upper": opt.omit_prop_upper, "prop_lower": opt.omit_prop_lower,
                "r_rest": opt.omit_r_rest, "mean_total": opt.omit_mean_total, "count": opt.omit_count}
        n_omit = opt.omit_count
    else:
        opts, omit = {}, None
        n_omit = int(matrix.omitted[:, j].sum())
    irt_d = None
    if irt_mapped is not None and irt_mapped.fitted[j]:
        irt_d = {"model": irt_mapped.model, "a": irt_mapped.a[j], "b": irt_mapped.b[j], "se_a": irt_mapped.se_a[j],
                 "se_b": irt_mapped.se_b[j], "infit": irt_mapped.infit[j], "outfit": irt_mapped.outfit[j]}
    dif_d = None
    notes = list(items.notes[j])
    if dif is not None:
        notes.extend(dif.notes[j])
        comps = []
        for c in range(len(dif.focal)):
            d = dif.d_dif[c, j]
            comps.append({"group": dif.focal[c], "reference": dif.reference[c], "mh_d_dif": d, "se": dif.se[c, j],
                          "ets_class": str(dif.ets_class[c, j]) or None, "alpha_mh": dif.alpha_mh[c, j],
                          "chi2": dif.chi2[c, j], "p_value": dif.p_value[c, j],
                          "favours": None if not np.isfinite(d) else ("reference" if d < 0 else "focal"),
                          "n_focal": int(dif.n_focal[c]), "n_reference": int(dif.n_reference[c])})
        finite = [c for c in comps if c["ets_class"]]
        if finite:
            worst = max(finite, key=lambda c: (_ETS_RANK[c["ets_class"]], abs(c["mh_d_dif"])))
            dif_d = dict(worst)
            dif_d["comparisons"] = comps
    return {
        "item_id": matrix.item_ids[j], "kind": matrix.kinds[j], "key": matrix.keys[j],
        "max_points": float(matrix.max_points[j]), "n": items.n, "n_omitted": n_omit,
        "mean": items.mean[j], "p": items.p[j], "p_ci": [items.p_ci_low[j], items.p_ci_high[j]], "sd": items.sd[j],
        "r_pbis": items.r_pbis[j], "r_rest": items.r_rest[j],
        "r_rest_ci": [items.r_rest_ci_low[j], items.r_rest_ci_high[j]],
        "alpha_if_deleted": items.alpha_if_deleted[j], "d_ul27": items.d_ul27[j], "p_upper": items.p_upper[j],
        "p_lower": items.p_lower[j], "disc_efficiency": items.disc_efficiency[j],
        "options": opts, "omit": omit, "irt": irt_d, "dif": dif_d,
        "flags": [f.to_dict() for f in flags[j]], "notes": notes,
    }


def _copying_list(res):
    ids = res.candidate_ids
    out = []
    idx = np.flatnonzero(res.flagged)
    adj = res.q_fdr if res.correction == "fdr" else res.p_bonferroni
    for i in idx[np.argsort(res.p_value[idx], kind="stable")]:
        out.append({"candidate_a": ids[res.a[i]], "candidate_b": ids[res.b[i]], "group": res.sitting[i] or None,
                    "identical": int(res.identical[i]), "identical_wrong": int(res.identical_wrong[i]),
                    "n_wrong_a": int(res.n_wrong_a[i]), "n_wrong_b": int(res.n_wrong_b[i]),
                    "k_a_to_b": float(res.k_ab[i]), "k_b_to_a": float(res.k_ba[i]),
                    "p_value": float(res.p_value[i]), "p_adjusted": float(adj[i])})
    return out

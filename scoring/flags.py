"""Item flags: reasons to review an item, with the evidence, in English and Chinese.

A flag is raised only when (a) at least ``min_n`` candidates answered, and (b) the confidence
interval of the statistic clears the threshold — e.g. *too easy* needs the lower Wilson bound of p
above ``too_easy_p``, not just p. Thresholds live in `FlagThresholds` (all configurable).

Codes
-----
``too_easy`` / ``too_hard``
    Facility p with its CI entirely above ``too_easy_p`` (0.90) / below ``too_hard_p`` (0.30)
    (Blackboard "needs review" uses p > .80 / p < .30; 鉴定命题 guidance targets p ≈ 0.65).
``negative_discrimination``
    Fisher-z CI of r_rest entirely below 0: stronger candidates do worse (mis-key, flawed item).
``low_discrimination``
    CI of r_rest entirely below ``low_discrimination_r`` (0.20; Ebel & Frisbie: < .20 poor).
``possible_miskey``
    A distractor's option–rest r exceeds the key's and its CI lies above ``miskey_min_r`` (0).
    The flag proposes that option as key and gives a what-if: alpha, pass count at the pass mark
    and which candidates' pass decisions change under the new key. Keys are never changed.
``nonfunctioning_distractor``
    Single-answer items: distractors whose Wilson upper bound of the choice share is below
    ``nonfunctioning_prop`` (5 %; Tarrant, Ware & Mohammed 2009).
``ambiguous``
    A distractor attracts the upper 27 % group almost like the key: its upper-group share has a
    Wilson lower bound >= ``ambiguous_upper_prop`` (0.20), is >= ``ambiguous_key_ratio`` (0.5)
    times the key's upper share, and exceeds its lower-group share.
``dif_c`` / ``dif_b``
    ETS class C / B Mantel–Haenszel DIF (significance built into the ETS rules) for a comparison
    where both groups have >= ``dif_min_group_n`` candidates.
``poor_irt_fit``
    Rasch infit or outfit mean square outside [``irt_mnsq_low``, ``irt_mnsq_high``] (0.7–1.3,
    Wright & Linacre 1994) by more than z·sqrt(2/N) (approximate SE of a mean square); for the 2PL
    a slope significantly below 0.
``station_leak``
    A group's facility on the item exceeds *every* other group's by more than ``leak_margin``
    (0.15) after removing the groups' overall difference on the other items, with the lower
    confidence bound of each difference (binomial SE) above the margin.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from ._core import ScoreSummary
from .intervals import fisher_z_interval, wilson_interval, z_value
from .matrix import rescore_item
from .results import DIFResult, DistractorAnalysis, Flag, ItemStatistics, ScoreMatrix

__all__ = ["FlagThresholds", "flag_items", "rekey_what_if", "FLAG_CODES"]

FLAG_CODES = (
    "too_easy", "too_hard", "low_discrimination", "negative_discrimination", "possible_miskey",
    "nonfunctioning_distractor", "ambiguous", "dif_c", "dif_b", "poor_irt_fit", "station_leak",
)


@dataclass(frozen=True)
class FlagThresholds:
    """Thresholds of the item flags (see the module docstring for each code).

    Attributes
    ----------
    min_n : int, default 30
        No statistical flag below this number of candidates.
    confidence : float, default 0.95
        Level of the intervals that must clear the thresholds.
    too_easy_p, too_hard_p : float, default 0.90, 0.30
    low_discrimination_r : float, default 0.20
    negative_discrimination_r : float, default 0.0
    miskey_min_r : float, default 0.0
    nonfunctioning_prop : float, default 0.05
    ambiguous_upper_prop : float, default 0.20
    ambiguous_key_ratio : float, default 0.5
    dif_min_group_n : int, default 100
    irt_mnsq_low, irt_mnsq_high : float, default 0.7, 1.3
    leak_margin : float, default 0.15
    leak_min_group_n : int, default 20
    pass_fraction : float, default 0.60
        Pass mark as a share of the maximum total (what-if of a mis-key).
    max_listed_candidates : int, default 100
        At most this many candidate ids per list in a what-if.
    """

    min_n: int = 30
    confidence: float = 0.95
    too_easy_p: float = 0.90
    too_hard_p: float = 0.30
    low_discrimination_r: float = 0.20
    negative_discrimination_r: float = 0.0
    miskey_min_r: float = 0.0
    nonfunctioning_prop: float = 0.05
    ambiguous_upper_prop: float = 0.20
    ambiguous_key_ratio: float = 0.5
    dif_min_group_n: int = 100
    irt_mnsq_low: float = 0.7
    irt_mnsq_high: float = 1.3
    leak_margin: float = 0.15
    leak_min_group_n: int = 20
    pass_fraction: float = 0.60
    max_listed_candidates: int = 100

    def __post_init__(self):
        for name in ("min_n", "dif_min_group_n", "leak_min_group_n", "max_listed_candidates"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise ValueError(f"{name} must be a whole number >= 0, got {v!r}")
        z_value(self.confidence)
        for name in ("too_easy_p", "too_hard_p", "nonfunctioning_prop", "ambiguous_upper_prop",
                     "ambiguous_key_ratio", "leak_margin"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not 0 <= v <= 1:
                raise ValueError(f"{name} must be a number in [0, 1], got {v!r}")
        for name in ("low_discrimination_r", "negative_discrimination_r", "miskey_min_r"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not -1 <= v <= 1:
                raise ValueError(f"{name} must be a number in [-1, 1], got {v!r}")
        if not 0 < self.pass_fraction <= 1:
            raise ValueError(f"pass_fraction must be in (0, 1], got {self.pass_fraction!r}")
        if not 0 < self.irt_mnsq_low < 1 < self.irt_mnsq_high:
            raise ValueError("need 0 < irt_mnsq_low < 1 < irt_mnsq_high")

    def to_dict(self) -> dict:
        return asdict(self)


def _f(x, nd=3):
    """Round a float for evidence (None for nan)."""
    if x is None:
        return None
    x = float(x)
    return round(x, nd) if math.isfinite(x) else None


def rekey_what_if(matrix: ScoreMatrix, summary: ScoreSummary, item: int, new_key: str, *,
                  cut: float, max_listed: int = 100) -> dict:
    """Consequences of re-keying one item: alpha, pass count and changed pass decisions.

    Parameters
    ----------
    matrix : ScoreMatrix
    summary : ScoreSummary
        `scoring._core.summarize(matrix)`.
    item : int
        Column index.
    new_key : str
        An option label of the item.
    cut : float
        Pass mark in points (pass when total >= cut).
    max_listed : int
        Longest list of candidate ids returned.

    Returns
    -------
    dict
        ``alpha_before``, ``alpha_after``, ``pass_count_before``, ``pass_count_after``,
        ``n_fail_to_pass``, ``n_pass_to_fail``, ``fail_to_pass`` and ``pass_to_fail`` (candidate ids,
        at most ``max_listed`` each) and ``lists_truncated``.
    """
    j_items = summary.n_items
    x_old = summary.scores[:, item]
    x_new = rescore_item(matrix, item, new_key)
    t_old = summary.totals
    t_new = t_old - x_old + x_new
    item_var = np.diag(summary.cov)
    trace_old = float(item_var.sum())
    trace_new = trace_old - float(item_var[item]) + float(np.var(x_new, ddof=1))
    var_new = float(np.var(t_new, ddof=1))

    def alpha(tr, vt):
        if j_items < 2 or vt <= 0:
            return None
        return j_items / (j_items - 1) * (1 - tr / vt)

    eps = 1e-9 * max(1.0, abs(cut))
    p_old = t_old >= cut - eps
    p_new = t_new >= cut - eps
    up = np.flatnonzero(~p_old & p_new)
    down = np.flatnonzero(p_old & ~p_new)
    ids = matrix.candidate_ids
    return {
        "alpha_before": _f(alpha(trace_old, summary.var_total), 4),
        "alpha_after": _f(alpha(trace_new, var_new), 4),
        "cut": _f(cut, 4),
        "pass_count_before": int(p_old.sum()),
        "pass_count_after": int(p_new.sum()),
        "n_fail_to_pass": int(up.size),
        "n_pass_to_fail": int(down.size),
        "fail_to_pass": [ids[i] for i in up[:max_listed]],
        "pass_to_fail": [ids[i] for i in down[:max_listed]],
        "lists_truncated": bool(up.size > max_listed or down.size > max_listed),
    }


def _group_facility(summary: ScoreSummary, codes: np.ndarray, n_groups: int):
    """Per-group item facility (G, J), rest facility excluding each item (G, J), group sizes (G,)."""
    x = summary.scores
    onehot = np.zeros((x.shape[0], n_groups), dtype=np.float64)
    onehot[np.arange(x.shape[0]), codes] = 1.0
    sums = (x.T @ onehot).T  # (G, J)
    size = onehot.sum(axis=0)
    mp = summary.max_points
    with np.errstate(invalid="ignore", divide="ignore"):
        p = sums / size[:, None] / mp[None, :]
        total = sums.sum(axis=1, keepdims=True)
        rest_p = (total - sums) / size[:, None] / (mp.sum() - mp)[None, :]
    return p, rest_p, size


def flag_items(
    matrix: ScoreMatrix,
    items: ItemStatistics,
    options: DistractorAnalysis | None,
    summary: ScoreSummary,
    *,
    dif: DIFResult | None = None,
    irt=None,
    groups=None,
    thresholds: FlagThresholds | None = None,
    cut: float | None = None,
) -> tuple:
    """Raise the flags of every item.

    Parameters
    ----------
    matrix : ScoreMatrix
    items : ItemStatistics
    options : DistractorAnalysis or None
    summary : ScoreSummary
    dif : DIFResult, optional
    irt : object with ``model``, ``a``, ``se_a``, ``infit``, ``outfit`` per item, optional
        E.g. `scoring.irt.IRTResult` mapped to all J items (nan where not fitted).
    groups : array_like (N,), optional
        Group (station) per candidate, for ``station_leak``.
    thresholds : FlagThresholds, optional
    cut : float, optional
        Pass mark in points for the mis-key what-if (default ``pass_fraction * max_total``).

    Returns
    -------
    tuple of tuple of Flag
        One tuple per item, in item order.
    """
    th = thresholds or FlagThresholds()
    if not isinstance(th, FlagThresholds):
        raise TypeError("thresholds must be a FlagThresholds")
    j_items = matrix.n_items
    n = items.n
    out: list[list[Flag]] = [[] for _ in range(j_items)]
    if n < th.min_n:
        return tuple(tuple(f) for f in out)
    conf = th.confidence
    z = z_value(conf)
    pct = f"{round(conf * 100):d}%"
    if cut is None:
        cut = th.pass_fraction * matrix.max_total
    # recompute intervals at the flag confidence
    p = items.p
    wl, wh = wilson_interval(p, n, conf)
    sd_p = items.sd / matrix.max_points
    with np.errstate(invalid="ignore", divide="ignore"):
        nl = np.clip(p - z * sd_p / math.sqrt(n), 0, 1)
        nh = np.clip(p + z * sd_p / math.sqrt(n), 0, 1)
    p_lo = np.where(items.dichotomous, wl, nl)
    p_hi = np.where(items.dichotomous, wh, nh)
    r_lo, r_hi = fisher_z_interval(items.r_rest, n, conf)

    for j in range(j_items):
        fl = out[j]
        if np.isfinite(p_lo[j]) and p_lo[j] > th.too_easy_p:
            fl.append(Flag(
                "too_easy",
                f"Facility p = {p[j]:.2f} ({pct} CI {p_lo[j]:.2f}-{p_hi[j]:.2f}) is above {th.too_easy_p:.2f}: "
                "the item is too easy to tell candidates apart.",
                f"难度系数 p = {p[j]:.2f}（{pct} 置信区间 {p_lo[j]:.2f}–{p_hi[j]:.2f}）高于 {th.too_easy_p:.2f}：试题过易，区分不出考生水平。",
                {"p": _f(p[j]), "ci": [_f(p_lo[j]), _f(p_hi[j])], "threshold": th.too_easy_p},
            ))
        if np.isfinite(p_hi[j]) and p_hi[j] < th.too_hard_p:
            fl.append(Flag(
                "too_hard",
                f"Facility p = {p[j]:.2f} ({pct} CI {p_lo[j]:.2f}-{p_hi[j]:.2f}) is below {th.too_hard_p:.2f}: "
                "the item is too hard; check the key and the wording.",
                f"难度系数 p = {p[j]:.2f}（{pct} 置信区间 {p_lo[j]:.2f}–{p_hi[j]:.2f}）低于 {th.too_hard_p:.2f}：试题过难，请核对答案和题意。",
                {"p": _f(p[j]), "ci": [_f(p_lo[j]), _f(p_hi[j])], "threshold": th.too_hard_p},
            ))
        r = items.r_rest[j]
        if np.isfinite(r_hi[j]) and r_hi[j] < th.negative_discrimination_r:
            fl.append(Flag(
                "negative_discrimination",
                f"Item-rest correlation r = {r:.2f} ({pct} CI {r_lo[j]:.2f} to {r_hi[j]:.2f}) is negative: "
                "stronger candidates do worse on this item; check the key.",
                f"区分度（题目与其余得分的相关）r = {r:.2f}（{pct} 置信区间 {r_lo[j]:.2f}～{r_hi[j]:.2f}）为负："
                "高分考生反而答错更多，请核对答案。",
                {"r_rest": _f(r), "ci": [_f(r_lo[j]), _f(r_hi[j])], "threshold": th.negative_discrimination_r},
            ))
        elif np.isfinite(r_hi[j]) and r_hi[j] < th.low_discrimination_r:
            fl.append(Flag(
                "low_discrimination",
                f"Item-rest correlation r = {r:.2f} ({pct} CI {r_lo[j]:.2f} to {r_hi[j]:.2f}) is below "
                f"{th.low_discrimination_r:.2f}: the item discriminates poorly.",
                f"区分度 r = {r:.2f}（{pct} 置信区间 {r_lo[j]:.2f}～{r_hi[j]:.2f}）低于 {th.low_discrimination_r:.2f}：区分度不足。",
                {"r_rest": _f(r), "ci": [_f(r_lo[j]), _f(r_hi[j])], "threshold": th.low_discrimination_r},
            ))
        opt = options.items[j] if options is not None else None
        if opt is not None:
            _option_flags(matrix, summary, j, opt, fl, th, n, z, pct, cut, r)
    if dif is not None:
        _dif_flags(dif, out, th)
    if irt is not None:
        _irt_flags(irt, out, th, n, z)
    if groups is not None:
        _leak_flags(summary, groups, out, th, z, matrix)
    return tuple(tuple(f) for f in out)


def _option_flags(matrix, summary, j, opt, fl, th, n, z, pct, cut, r_item):
    k = opt.key_index
    labels = opt.labels
    key = labels[k]
    distractors = [o for o in range(len(labels)) if o != k]
    miskey_option = None
    if distractors:
        rr = np.where(np.isfinite(opt.r_rest), opt.r_rest, -np.inf)
        best = max(distractors, key=lambda o: rr[o])
        r_best = opt.r_rest[best]
        r_key = opt.r_rest[k]
        lo, hi = fisher_z_interval(r_best, n, th.confidence)
        key_cmp = r_key if np.isfinite(r_key) else -np.inf
        if np.isfinite(r_best) and r_best > key_cmp and lo > th.miskey_min_r:
            miskey_option = best
            what_if = rekey_what_if(matrix, summary, j, labels[best], cut=cut,
                                    max_listed=th.max_listed_candidates)
            rk = "n/a" if not np.isfinite(r_key) else f"{r_key:.2f}"
            fl.append(Flag(
                "possible_miskey",
                f"Option {labels[best]} correlates with the rest score "
                f"(r = {r_best:.2f}, {pct} CI {lo:.2f} to {hi:.2f}) "
                f"more than the key {key} (r = {rk}); the key may be wrong - consider {labels[best]}. "
                f"With key {labels[best]}: alpha {what_if['alpha_before']} -> {what_if['alpha_after']}, "
                f"passes {what_if['pass_count_before']} -> {what_if['pass_count_after']} "
                f"({what_if['n_fail_to_pass']} fail->pass, {what_if['n_pass_to_fail']} pass->fail).",
                f"选项 {labels[best]} 与其余得分的相关（r = {r_best:.2f}，{pct} 置信区间 {lo:.2f}～{hi:.2f}）高于标准答案 {key}"
                f"（r = {rk}）：答案可能有误，建议核对是否应为 {labels[best]}。改为 {labels[best]} 后：α {what_if['alpha_before']} → "
                f"{what_if['alpha_after']}，合格人数 {what_if['pass_count_before']} → {what_if['pass_count_after']}"
                f"（{what_if['n_fail_to_pass']} 人由不合格变为合格，{what_if['n_pass_to_fail']} 人由合格变为不合格）。",
                {"current_key": key, "proposed_key": labels[best], "r_rest_key": _f(r_key),
                 "r_rest_proposed": _f(r_best), "ci_proposed": [_f(lo), _f(hi)],
                 "prop_key": _f(opt.prop[k]), "prop_proposed": _f(opt.prop[best]), "what_if": what_if},
            ))
        if matrix.kinds[j] == "single":
            _, hi_prop = wilson_interval(opt.prop, n, th.confidence)
            dead = [o for o in distractors if hi_prop[o] < th.nonfunctioning_prop]
            if dead:
                names = ", ".join(labels[o] for o in dead)
                shares = ", ".join(f"{labels[o]} {opt.prop[o]:.1%}" for o in dead)
                fl.append(Flag(
                    "nonfunctioning_distractor",
                    f"Distractor(s) {names} chosen by fewer than {th.nonfunctioning_prop:.0%} of candidates "
                    f"({shares}; upper {pct} bound below the threshold): they do not distract - rewrite them.",
                    f"干扰项 {names} 的选择率低于 {th.nonfunctioning_prop:.0%}（{shares}）：干扰项无效，建议修改。",
                    {"options": {labels[o]: {"prop": _f(opt.prop[o], 4), "ci_high": _f(hi_prop[o], 4)} for o in dead},
                     "threshold": th.nonfunctioning_prop},
                ))
        n_up = summary.upper.shape[0]
        if n_up > 0:
            lo_up, _ = wilson_interval(opt.prop_upper, n_up, th.confidence)
            key_up = opt.prop_upper[k]
            amb = [o for o in distractors if o != miskey_option and lo_up[o] >= th.ambiguous_upper_prop
                   and opt.prop_upper[o] >= th.ambiguous_key_ratio * key_up and opt.prop_upper[o] > opt.prop_lower[o]]
            for o in amb:
                fl.append(Flag(
                    "ambiguous",
                    f"Option {labels[o]} attracts {opt.prop_upper[o]:.0%} of the upper group (lower {pct} bound "
                    f"{lo_up[o]:.0%}) against {key_up:.0%} for the key {key}, and more of the upper than of the lower "
                    f"group ({opt.prop_lower[o]:.0%}): two options may be defensible.",
                    f"高分组中 {opt.prop_upper[o]:.0%} 的考生选择 {labels[o]}（{pct} 置信下限 {lo_up[o]:.0%}），"
                    f"标准答案 {key} 为 {key_up:.0%}，且高分组选择比例高于低分组（{opt.prop_lower[o]:.0%}）：题意可能有歧义，存在两个可辩护的答案。",
                    {"option": labels[o], "key": key, "prop_upper": _f(opt.prop_upper[o]),
                     "prop_upper_ci_low": _f(lo_up[o]), "prop_lower": _f(opt.prop_lower[o]),
                     "key_prop_upper": _f(key_up), "threshold": th.ambiguous_upper_prop,
                     "key_ratio": th.ambiguous_key_ratio},
                ))


def _dif_flags(dif: DIFResult, out, th: FlagThresholds):
    ok = (dif.n_focal >= th.dif_min_group_n) & (dif.n_reference >= th.dif_min_group_n)
    for j in range(len(out)):
        for cls, code in (("C", "dif_c"), ("B", "dif_b")):
            hits = [c for c in range(len(dif.focal)) if ok[c] and dif.ets_class[c, j] == cls]
            if not hits:
                continue
            hits.sort(key=lambda c: -abs(dif.d_dif[c, j]))
            parts_en, parts_zh, ev = [], [], []
            for c in hits:
                d = dif.d_dif[c, j]
                fav = "reference" if d < 0 else "focal"
                favoured = dif.reference[c] if d < 0 else dif.focal[c]
                ref_zh = "其余考生" if dif.reference[c] == "rest" else dif.reference[c]
                favoured_zh = "其余考生" if favoured == "rest" else favoured
                parts_en.append(f"{dif.focal[c]} vs {dif.reference[c]}: MH D-DIF = {d:.2f} (SE {dif.se[c, j]:.2f}), "
                                f"favours {favoured}")
                parts_zh.append(f"{dif.focal[c]} 与 {ref_zh} 比较：MH D-DIF = {d:.2f}（标准误 {dif.se[c, j]:.2f}），"
                                f"对 {favoured_zh} 有利")
                ev.append({"group": dif.focal[c], "reference": dif.reference[c], "mh_d_dif": _f(d),
                           "se": _f(dif.se[c, j]), "alpha_mh": _f(dif.alpha_mh[c, j], 4),
                           "p_value": _f(dif.p_value[c, j], 6), "favours": fav,
                           "n_focal": int(dif.n_focal[c]), "n_reference": int(dif.n_reference[c])})
            size = "large" if cls == "C" else "moderate"
            size_zh = "较大" if cls == "C" else "中等"
            out[j].append(Flag(
                code,
                f"ETS class {cls} ({size}) DIF after matching on total score: " + "; ".join(parts_en) + ".",
                f"按总分匹配后存在 ETS {cls} 级（{size_zh}）项目功能差异（DIF）：" + "；".join(parts_zh) + "。",
                {"comparisons": ev, "ets_class": cls, "min_group_n": th.dif_min_group_n},
            ))


def _irt_flags(irt, out, th: FlagThresholds, n: int, z: float):
    model = getattr(irt, "model", "")
    infit = np.asarray(getattr(irt, "infit", np.full(len(out), np.nan)), dtype=np.float64)
    outfit = np.asarray(getattr(irt, "outfit", np.full(len(out), np.nan)), dtype=np.float64)
    a = np.asarray(getattr(irt, "a", np.full(len(out), np.nan)), dtype=np.float64)
    se_a = np.asarray(getattr(irt, "se_a", np.full(len(out), np.nan)), dtype=np.float64)
    band = z * math.sqrt(2.0 / n)
    for j in range(len(out)):
        bad = []
        for name, v in (("infit", infit[j]), ("outfit", outfit[j])):
            if np.isfinite(v) and (v - band > th.irt_mnsq_high or v + band < th.irt_mnsq_low):
                bad.append((name, v))
        if bad:
            txt = ", ".join(f"{nm} MNSQ = {v:.2f}" for nm, v in bad)
            out[j].append(Flag(
                "poor_irt_fit",
                f"{model} fit: {txt}, outside {th.irt_mnsq_low:.1f}-{th.irt_mnsq_high:.1f} "
                "(>1: noisy, unexpected responses; <1: too predictable).",
                f"{model} 模型拟合不良：{txt}，超出 {th.irt_mnsq_low:.1f}–{th.irt_mnsq_high:.1f}"
                "（大于 1：作答杂乱、意外反应多；小于 1：过于确定）。",
                {"model": model, "infit": _f(infit[j]), "outfit": _f(outfit[j]),
                 "range": [th.irt_mnsq_low, th.irt_mnsq_high], "se_approx": _f(math.sqrt(2.0 / n), 4)},
            ))
        elif model == "2pl" and np.isfinite(a[j]) and np.isfinite(se_a[j]) and a[j] + z * se_a[j] < 0:
            out[j].append(Flag(
                "poor_irt_fit",
                f"2PL slope a = {a[j]:.2f} (SE {se_a[j]:.2f}) is significantly negative: the item works against "
                "the ability the test measures.",
                f"2PL 区分度参数 a = {a[j]:.2f}（标准误 {se_a[j]:.2f}）显著为负：该题与测验所测能力方向相反。",
                {"model": model, "a": _f(a[j]), "se_a": _f(se_a[j])},
            ))


def _leak_flags(summary: ScoreSummary, groups, out, th: FlagThresholds, z: float, matrix: ScoreMatrix):
    g = np.asarray(groups).astype(str).reshape(-1)
    if g.shape[0] != summary.n:
        raise ValueError(f"groups has {g.shape[0]} labels for {summary.n} candidates")
    labels, codes = np.unique(g, return_inverse=True)
    if labels.shape[0] < 2:
        return
    p, rest_p, size = _group_facility(summary, codes, labels.shape[0])
    eligible = np.flatnonzero(size >= th.leak_min_group_n)
    if eligible.size < 2:
        return
    for j in range(len(out)):
        for gi in eligible:
            others = [h for h in eligible if h != gi]
            gaps, lows = [], []
            for h in others:
                gap = (p[gi, j] - p[h, j]) - (rest_p[gi, j] - rest_p[h, j])
                pg, ph = np.clip(p[gi, j], 0, 1), np.clip(p[h, j], 0, 1)
                se = math.sqrt(pg * (1 - pg) / size[gi] + ph * (1 - ph) / size[h])
                gaps.append(gap)
                lows.append(gap - z * se)
            if lows and np.all(np.isfinite(lows)) and min(lows) > th.leak_margin:
                name = str(labels[gi])
                best_other = max(others, key=lambda h: p[h, j])
                out[j].append(Flag(
                    "station_leak",
                    f"Group {name}: facility p = {p[gi, j]:.2f} against at most {p[best_other, j]:.2f} elsewhere; "
                    f"after allowing for the groups' overall level the excess is >= {min(gaps):.2f} "
                    f"(lower bound {min(lows):.2f} > {th.leak_margin:.2f}): possible item exposure (leak) at {name}.",
                    f"考点 {name} 的得分率 p = {p[gi, j]:.2f}，其他考点最高 {p[best_other, j]:.2f}；扣除各考点整体水平差异后仍高出"
                    f"至少 {min(gaps):.2f}（置信下限 {min(lows):.2f} > {th.leak_margin:.2f}）：该考点可能存在试题泄露。",
                    {"group": name, "p_group": _f(p[gi, j]), "n_group": int(size[gi]),
                     "p_others": {str(labels[h]): _f(p[h, j]) for h in others},
                     "min_adjusted_gap": _f(min(gaps)), "min_gap_ci_low": _f(min(lows)),
                     "margin": th.leak_margin},
                ))

"""Why a blueprint cannot be met, in the domain's words (Chinese and English).

Two stages, as measured in the assembly notes:

* **Supply checks** before solving: O(n) necessary conditions, rule by rule — an X point with fewer
  eligible items than the forms need, a section without enough items, an area window that holds no
  multiple of the item points (granularity), an area whose X points alone need more points than its
  window allows, a mean-p window beyond the easiest/hardest possible paper, anchors that cannot all be
  placed, practical modules without tasks for the station's equipment, a duration the fastest paper
  exceeds. Any finding here proves the blueprint infeasible for this bank.
* **Elastic re-solve** after HiGHS proves infeasibility although every rule alone is satisfiable: every
  row gets a weighted slack (one unit = one item, 0.5 point, 0.01 of mean p, one minute; structural
  rows such as section counts cost 100 per unit, item sets never give way), the total slack is
  minimised as an LP, then as a short MILP, and the rows with slack name which rules must give way and
  by how much (e.g. "leave 2 X points uncovered on form A and lower form B's mean-p floor by 0.023").

Public entry points: :func:`supply_checks` (candidates + blueprint) and, through
:func:`question_bank.assembly.explain`, the elastic stage. Every result is a list of :class:`Finding`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

import numpy as np
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, milp

from .blueprint import TYPE_NAMES_ZH, Blueprint, parse_blueprint

if TYPE_CHECKING:  # pragma: no cover
    from .assembly import Candidate, _Model, _Pool

FORM_LABELS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass(frozen=True)
class Finding:
    """One reason a blueprint cannot be met (or a warning).

    Attributes
    ----------
    stage : str
        ``eligibility``, ``supply`` (before solving), ``solver`` or ``elastic`` (after).
    code : str
        Stable code, e.g. ``x_point_supply``, ``area_granularity``, ``relax_mean_p``.
    rule : str
        The blueprint rule concerned (``point``, ``area_points``, ``mean_p``, ``section_count`` ...).
    subject : str or None
        What it is about: a kp code, area code, item type, item id.
    forms : tuple of str
        Form labels concerned (empty = all / not form-specific).
    need, have : float or None
        What the blueprint needs and what the bank offers, in ``unit``.
    relax : float or None
        Elastic stage: by how much the rule must give way, in ``unit``.
    unit : str
        ``items``, ``points``, ``p``, ``min`` ...
    severity : str
        ``error`` (proves infeasibility / must give way) or ``warning``.
    option : int or None
        Elastic stage: 1 = the cheapest way out; 2 = the alternative when the rules of option 1 are
        kept (so together they name the conflicting rules).
    """

    stage: str
    code: str
    rule: str
    message_zh: str
    message_en: str
    subject: str | None = None
    forms: tuple[str, ...] = ()
    need: float | None = None
    have: float | None = None
    relax: float | None = None
    unit: str = "items"
    severity: str = "error"
    option: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"stage": self.stage, "code": self.code, "rule": self.rule, "subject": self.subject,
                "forms": list(self.forms), "need": self.need, "have": self.have, "relax": self.relax,
                "unit": self.unit, "severity": self.severity, "option": self.option,
                "message_zh": self.message_zh, "message_en": self.message_en}

    def __str__(self) -> str:
        return f"[{self.code}] {self.message_en} / {self.message_zh}"


def _g(x: float) -> str:
    return f"{x:.4g}" if abs(x - round(x)) > 1e-9 else str(int(round(x)))


def _forms_text(K: int) -> tuple[str, str]:
    if K == 1:
        return "本卷", "the paper"
    lab = f"{FORM_LABELS[0]}–{FORM_LABELS[K - 1]}"
    return f"{lab} {K} 套试卷", f"forms {lab}"


def _type_breakdown(pool: "_Pool", idx: np.ndarray, zh: bool) -> str:
    counts: dict[str, int] = {}
    for i in idx.tolist():
        t = pool.cands[i].type
        counts[t] = counts.get(t, 0) + 1
    if not counts:
        return ""
    if zh:
        return "（" + "、".join(f"{TYPE_NAMES_ZH[t]} {c}" for t, c in counts.items()) + "）"
    return " (" + ", ".join(f"{TYPE_NAMES_ZH[t]} {c}" for t, c in counts.items()) + ")"


# ----------------------------------------------------------------------------------------------
# supply checks
# ----------------------------------------------------------------------------------------------
def _supply_checks_pool(pool: "_Pool", bp: Blueprint, K: int) -> list[Finding]:
    """O(n) necessary conditions on the eligible pool; every finding proves infeasibility."""
    out: list[Finding] = []
    fz, fe = _forms_text(K)
    mu = bp.forms.max_uses
    uses = np.where(pool.anchor, K, min(mu, K)).astype(float)
    th, pr = bp.theory, bp.practical

    # anchors
    pool_ids = {c.item_id for c in pool.cands} if bp.eligibility.anchors else set()
    for aid in bp.eligibility.anchors:
        if aid not in pool_ids:
            why = pool.excluded.get(aid, "not among the candidates")
            out.append(Finding("supply", "anchor_not_eligible", "anchor",
                               f"锚题 {aid} 不可用（{why}），无法强制入卷",
                               f"anchor item {aid} is not eligible ({why}) and cannot be forced in", subject=aid))
    anchors = np.flatnonzero(pool.anchor)
    if len(anchors):
        for g in np.unique(pool.en_group[np.isin(pool.en_item, anchors)]):
            mem = pool.en_item[(pool.en_group == g) & np.isin(pool.en_item, anchors)]
            if len(mem) > 1:
                ids = ", ".join(pool.cands[i].item_id for i in mem)
                out.append(Finding("supply", "anchor_enemies", "enemy",
                                   f"锚题 {ids} 互斥（互斥组 {pool.enemy_ids[g]}），不能同卷",
                                   f"anchor items {ids} are enemies (group {pool.enemy_ids[g]}) and cannot share a paper",
                                   subject=pool.enemy_ids[g]))

    if th is not None:
        N = th.n_items
        theory = pool.part == 0
        S = len(th.sections)
        # sections
        for s, sec in enumerate(th.sections):
            idx = theory & (pool.sec == s)
            have = int(idx.sum())
            na = int((idx & pool.anchor).sum())
            tz = TYPE_NAMES_ZH[sec.type]
            if na > sec.count:
                out.append(Finding("supply", "anchor_overflow", "section_count",
                                   f"{tz}锚题 {na} 道，超过每卷题量 {sec.count}",
                                   f"{na} anchor {tz} items exceed the section's {sec.count} items",
                                   subject=sec.type, need=sec.count, have=na))
                continue
            need = na + math.ceil(K * (sec.count - na) / mu)
            if have < need:
                out.append(Finding("supply", "section_supply", "section_count",
                                   f"可用{tz}题只有 {have} 道，{fz}共需 {need} 道（每卷 {sec.count} 道）",
                                   f"{have} eligible {tz} items, the blueprint needs {need} across {fe} "
                                   f"({sec.count} per form)", subject=sec.type, need=need, have=have))
        # X points
        n_kp = len(pool.kp_codes)
        kp_uses = np.bincount(pool.kp[theory], weights=uses[theory], minlength=n_kp)
        need_x = K * th.min_per_x_point
        order = np.argsort(pool.kp[theory], kind="stable")
        ti = np.flatnonzero(theory)[order]
        starts = np.searchsorted(pool.kp[ti], np.arange(n_kp + 1))
        for k in pool.required.tolist():
            if kp_uses[k] + 1e-9 < need_x:
                items = ti[starts[k]:starts[k + 1]]
                code = pool.kp_codes[k]
                have = len(items)
                if have == 0:
                    zh = f"X 鉴定点 {code} 没有可用试题，{fz}每卷至少需覆盖 {th.min_per_x_point} 道（共需 {need_x} 道）"
                    en = (f"X point {code} has no eligible items; the blueprint needs {need_x} across {fe}")
                else:
                    zh = (f"X 鉴定点 {code} 只有 {have} 道可用试题{_type_breakdown(pool, items, True)}，"
                          f"{fz}共需 {need_x} 道")
                    en = (f"X point {code} has {have} eligible items{_type_breakdown(pool, items, False)}, "
                          f"the blueprint needs {need_x} across {fe}")
                out.append(Finding("supply", "x_point_supply", "point", zh, en, subject=code, need=need_x,
                                   have=float(kp_uses[k])))
        n_req = len(pool.required) * th.min_per_x_point
        if n_req > N:
            out.append(Finding("supply", "x_points_exceed_items", "point",
                               f"必考 X 鉴定点 {len(pool.required)} 个，需 {n_req} 道题覆盖，超过每卷题量 {N}",
                               f"{len(pool.required)} X points need {n_req} items, more than the {N} items of a form",
                               need=n_req, have=N))
        # point cap vs counts, and the Y+Z cap vs X supply
        if th.max_per_point is not None:
            cap = th.max_per_point
            for s, sec in enumerate(th.sections):
                cnt = np.bincount(pool.kp[theory & (pool.sec == s)], minlength=n_kp)
                room = int(np.minimum(cnt, cap).sum())
                if room < sec.count:
                    tz = TYPE_NAMES_ZH[sec.type]
                    out.append(Finding("supply", "point_cap_vs_count", "point",
                                       f"每点至多 {cap} 道时，{tz}题每卷最多只能选 {room} 道，少于题量 {sec.count}",
                                       f"with at most {cap} items per point a form can hold only {room} {tz} items, "
                                       f"fewer than the section's {sec.count}", subject=sec.type, need=sec.count,
                                       have=room))
            if th.yz_max is not None and th.importance_basis == "items":
                need_xi = N - math.floor(th.yz_max * N + 1e-9)
                xmask = theory & (pool.imp == 0)
                x_per_kp = np.bincount(pool.kp[xmask], minlength=n_kp)
                room = int(np.minimum(x_per_kp, cap).sum())
                if room < need_xi:
                    out.append(Finding("supply", "yz_cap_vs_x_supply", "yz_share",
                                       f"Y+Z 题至多 {_g(th.yz_max * 100)}%，每卷至少需 {need_xi} 道 X 题，"
                                       f"但每点至多 {cap} 道时 X 题最多 {room} 道",
                                       f"the Y+Z cap of {_g(th.yz_max * 100)} % needs at least {need_xi} X items per form, "
                                       f"but with at most {cap} per point only {room} can be used",
                                       need=need_xi, have=room))
        # areas
        for a_i, a in enumerate(pool.areas):
            lo, hi = th.area_windows[a]
            amask = theory & (pool.area == a_i)
            have_pts = float((pool.pts[amask] * uses[amask]).sum())
            if have_pts + 1e-9 < K * lo:
                out.append(Finding("supply", "area_supply", "area_points",
                                   f"鉴定范围 {a} 的可用试题共 {_g(have_pts)} 分，{fz}共需至少 {_g(K * lo)} 分",
                                   f"area {a}'s eligible items carry {_g(have_pts)} points, the blueprint needs at "
                                   f"least {_g(K * lo)} across {fe}", subject=a, need=K * lo, have=have_pts,
                                   unit="points"))
            pts_vals = np.unique(pool.pts[amask])
            if len(pts_vals):
                halves = [int(round(v * 2)) for v in pts_vals]
                gcd = 0
                for h in halves:
                    gcd = math.gcd(gcd, h)
                step = gcd / 2.0
                if step > 0 and math.floor(hi / step + 1e-9) < math.ceil(lo / step - 1e-9):
                    out.append(Finding("supply", "area_granularity", "area_points",
                                       f"鉴定范围 {a} 的分值区间 [{_g(lo)}, {_g(hi)}] 不含 {_g(step)} 分的整数倍，"
                                       f"而该范围试题分值均为 {_g(step)} 分的倍数",
                                       f"area {a}'s window [{_g(lo)}, {_g(hi)}] holds no multiple of {_g(step)} points, "
                                       f"the granularity of its items", subject=a, unit="points"))
            req_in_a = [k for k in pool.required.tolist()
                        if np.any(amask & (pool.kp == k))]
            if req_in_a:
                min_pts = 0.0
                for k in req_in_a:
                    min_pts += th.min_per_x_point * float(pool.pts[amask & (pool.kp == k)].min())
                if min_pts > hi + 1e-9:
                    out.append(Finding("supply", "area_x_overflow", "area_points",
                                       f"鉴定范围 {a} 有 {len(req_in_a)} 个必考 X 鉴定点，覆盖至少需 {_g(min_pts)} 分，"
                                       f"但比重只允许至多 {_g(hi)} 分",
                                       f"area {a} has {len(req_in_a)} X points needing at least {_g(min_pts)} points, "
                                       f"but its window allows at most {_g(hi)}", subject=a, need=min_pts, have=hi,
                                       unit="points"))
        # mean p: the easiest / hardest possible paper
        if th.mean_p is not None:
            lo, hi = th.mean_p
            best_hi = best_lo = 0.0
            pooled_hi = pooled_lo = 0.0
            for s, sec in enumerate(th.sections):
                ps = np.sort(pool.p[theory & (pool.sec == s)])
                best_hi += ps[-sec.count:].sum() if len(ps) else 0.0
                best_lo += ps[:sec.count].sum()
                m = min(len(ps), K * sec.count)
                pooled_hi += ps[len(ps) - m:].sum()
                pooled_lo += ps[:m].sum()
            if best_hi / N < lo - 1e-9:
                out.append(Finding("supply", "mean_p_too_high", "mean_p",
                                   f"即使每题都选最容易的，平均难度 p 最高只有 {best_hi / N:.3f}，达不到下限 {_g(lo)}",
                                   f"even the easiest possible paper has mean p {best_hi / N:.3f}, below the window's "
                                   f"minimum {_g(lo)}", need=lo, have=best_hi / N, unit="p"))
            elif K > 1 and mu == 1 and pooled_hi / (K * N) < lo - 1e-9:
                out.append(Finding("supply", "mean_p_too_high", "mean_p",
                                   f"{fz}互不重复时，平均难度 p 合计最高 {pooled_hi / (K * N):.3f}，达不到下限 {_g(lo)}",
                                   f"across {fe} without overlap the mean p can reach at most "
                                   f"{pooled_hi / (K * N):.3f}, below the minimum {_g(lo)}",
                                   need=lo, have=pooled_hi / (K * N), unit="p"))
            if best_lo / N > hi + 1e-9:
                out.append(Finding("supply", "mean_p_too_low", "mean_p",
                                   f"即使每题都选最难的，平均难度 p 最低也有 {best_lo / N:.3f}，超过上限 {_g(hi)}",
                                   f"even the hardest possible paper has mean p {best_lo / N:.3f}, above the window's "
                                   f"maximum {_g(hi)}", need=hi, have=best_lo / N, unit="p"))
            elif K > 1 and mu == 1 and pooled_lo / (K * N) > hi + 1e-9:
                out.append(Finding("supply", "mean_p_too_low", "mean_p",
                                   f"{fz}互不重复时，平均难度 p 合计最低 {pooled_lo / (K * N):.3f}，超过上限 {_g(hi)}",
                                   f"across {fe} without overlap the mean p is at least {pooled_lo / (K * N):.3f}, "
                                   f"above the maximum {_g(hi)}", need=hi, have=pooled_lo / (K * N), unit="p"))
        # difficulty bands
        for k, band in enumerate(th.bands):
            inb = np.array([band.contains(x) for x in pool.p[theory]], dtype=bool)
            have = float(uses[theory][inb].sum())
            if have + 1e-9 < K * band.min:
                out.append(Finding("supply", "band_supply", "band",
                                   f"难度段 [{_g(band.lo)}, {_g(band.hi)}) 只有 {int(inb.sum())} 道可用试题，"
                                   f"{fz}共需 {K * band.min} 道",
                                   f"difficulty band [{_g(band.lo)}, {_g(band.hi)}) has {int(inb.sum())} eligible items, "
                                   f"the blueprint needs {K * band.min} across {fe}",
                                   subject=f"{band.lo:g}-{band.hi:g}", need=K * band.min, have=have))
        # time
        fastest = 0.0
        for s, sec in enumerate(th.sections):
            ss = np.sort(pool.secs[theory & (pool.sec == s)])
            fastest += ss[:sec.count].sum()
        if fastest > th.duration_min * 60 + 1e-9:
            out.append(Finding("supply", "time_supply", "time",
                               f"最快的组合也需约 {fastest / 60:.1f} 分钟作答，超过考试时长 {_g(th.duration_min)} 分钟",
                               f"even the quickest selection needs about {fastest / 60:.1f} min, more than the "
                               f"{_g(th.duration_min)} min duration", need=th.duration_min, have=fastest / 60,
                               unit="min"))

    if pr is not None:
        practical = pool.part == 1
        fastest = 0.0
        group_fast: dict[str, list[float]] = {}
        group_ok: dict[str, int] = {}
        for mi, m in enumerate(pr.modules):
            mask = practical & (pool.mod == mi)
            have = float(uses[mask].sum())
            need = K * m.tasks
            st = np.sort(pool.secs[mask])
            t_fast = st[:m.tasks].sum() if len(st) >= m.tasks else np.inf
            if m.compulsory:
                if have + 1e-9 < need:
                    out.append(Finding("supply", "module_supply", "module_tasks",
                                       f"必考模块 {m.area} 只有 {int(mask.sum())} 道可用操作题（本站设备可做），{fz}共需 {need} 道",
                                       f"compulsory module {m.area} has {int(mask.sum())} eligible tasks (for the "
                                       f"station's equipment), the blueprint needs {need} across {fe}",
                                       subject=m.area, need=need, have=have))
                fastest += t_fast if np.isfinite(t_fast) else 0.0
            else:
                group_fast.setdefault(m.group, []).append(t_fast)  # type: ignore[arg-type]
                if have + 1e-9 >= m.tasks:
                    group_ok[m.group] = group_ok.get(m.group, 0) + 1  # type: ignore[index]
        for g, choose in pr.groups.items():
            ok = group_ok.get(g, 0)
            if ok < choose:
                out.append(Finding("supply", "group_supply", "group_choice",
                                   f"可选组 {g} 只有 {ok} 个模块有足够的可用操作题，需选 {choose} 个",
                                   f"optional group {g} has {ok} modules with enough eligible tasks, {choose} are needed",
                                   subject=g, need=choose, have=ok))
            fast = sorted(x for x in group_fast.get(g, []) if np.isfinite(x))[:choose]
            fastest += sum(fast)
        if fastest > pr.duration_min * 60 + 1e-9:
            out.append(Finding("supply", "time_supply", "time",
                               f"操作技能最快的组合也需 {fastest / 60:.0f} 分钟，超过时长 {_g(pr.duration_min)} 分钟",
                               f"the quickest practical selection needs {fastest / 60:.0f} min, more than the "
                               f"{_g(pr.duration_min)} min duration", subject="practical", need=pr.duration_min,
                               have=fastest / 60, unit="min"))
    return out


def supply_checks(candidates: Sequence["Candidate"], blueprint: Blueprint | Mapping[str, Any], *, forms: int | None = None,
                  kp_index: Mapping[str, Any] | None = None, x_points: Iterable[str] | None = None,
                  station_equipment: Iterable[str] | None = None) -> list[Finding]:
    """The O(n) supply and granularity checks alone (see the module docstring).

    Parameters are those of :func:`question_bank.assembly.assemble`. Returns the findings; an empty
    list means no single rule is short of supply (the rules may still conflict jointly).
    """
    from .assembly import _build_pool  # local import: assembly imports this module

    bp = parse_blueprint(blueprint)
    K = forms if forms is not None else bp.forms.count
    if isinstance(K, bool) or not isinstance(K, int) or not 1 <= K <= 26:
        raise ValueError(f"forms must be an int in 1..26, got {forms!r}")
    pool = _build_pool(candidates, bp, kp_index=kp_index, x_points=x_points, station_equipment=station_equipment)
    return _supply_checks_pool(pool, bp, K)


# ----------------------------------------------------------------------------------------------
# elastic re-solve
# ----------------------------------------------------------------------------------------------
_RULE_ZH = {
    "section_count": "题型题量", "area_points": "鉴定比重（分值）", "point": "鉴定点覆盖/上限",
    "z_share": "Z 类题比例", "yz_share": "Y+Z 类题比例", "mean_p": "平均难度", "band": "难度段题量",
    "time": "作答时间", "enemy": "互斥题", "item_set": "题组", "module_tasks": "操作技能模块",
    "group_choice": "可选模块", "max_uses": "试卷间不重复", "mean_p_spread": "平行卷难度差",
    "objective_spread": "平行卷区分度差", "tif": "测验信息函数",
}
_RULE_EN = {
    "section_count": "section counts", "area_points": "area weights (points)", "point": "point coverage / cap",
    "z_share": "Z share", "yz_share": "Y+Z share", "mean_p": "mean difficulty", "band": "difficulty band",
    "time": "answering time", "enemy": "enemy items", "item_set": "item sets", "module_tasks": "practical modules",
    "group_choice": "optional modules", "max_uses": "no overlap between forms", "mean_p_spread": "mean-p spread",
    "objective_spread": "objective spread", "tif": "test information",
}


_CODE_ZH = {"relax_x_coverage": "X 鉴定点覆盖", "relax_point_cap": "每点题数上限",
            "relax_mean_p_min": "平均难度下限", "relax_mean_p_max": "平均难度上限",
            "relax_area_min": "鉴定比重下限", "relax_area_max": "鉴定比重上限"}
_CODE_EN = {"relax_x_coverage": "X point coverage", "relax_point_cap": "per-point cap",
            "relax_mean_p_min": "mean-p minimum", "relax_mean_p_max": "mean-p maximum",
            "relax_area_min": "area minimum", "relax_area_max": "area maximum"}


def _row_message(rule: str, subject: str, side: str, amount: float, form: str | None, bp: Blueprint
                 ) -> tuple[str, str, str]:
    """(code, zh, en) for one relaxed row; side 'lo' = below the lower bound, 'hi' = above the upper."""
    fz = f"{form} 卷" if form else "各卷合计"
    fe = f"form {form}" if form else "across forms"
    a = _g(round(amount, 3))
    th = bp.theory
    if rule == "point":
        if side == "lo":
            return ("relax_x_coverage", f"{fz}无法覆盖 X 鉴定点 {subject}（覆盖要求需放宽 {a} 道）",
                    f"{fe} cannot cover X point {subject} (coverage must give way by {a} item)")
        return ("relax_point_cap", f"{fz}鉴定点 {subject} 需超出每点上限 {a} 道",
                f"{fe} needs {a} more item(s) of point {subject} than the per-point cap")
    if rule == "area_points":
        lo, hi = th.area_windows[subject] if th else (0, 0)
        if side == "lo":
            return ("relax_area_min", f"{fz}鉴定范围 {subject} 的分值需低于下限 {_g(lo)} 分 {a} 分",
                    f"{fe}: area {subject} must fall {a} points below its minimum {_g(lo)}")
        return ("relax_area_max", f"{fz}鉴定范围 {subject} 的分值需超出上限 {_g(hi)} 分 {a} 分",
                f"{fe}: area {subject} must exceed its maximum {_g(hi)} points by {a}")
    if rule == "mean_p" and th is not None and th.mean_p is not None:
        if side == "lo":
            return ("relax_mean_p_min", f"{fz}平均难度 p 的下限 {_g(th.mean_p[0])} 需放宽 {a}",
                    f"{fe}: the mean-p minimum {_g(th.mean_p[0])} must give way by {a}")
        return ("relax_mean_p_max", f"{fz}平均难度 p 的上限 {_g(th.mean_p[1])} 需放宽 {a}",
                f"{fe}: the mean-p maximum {_g(th.mean_p[1])} must give way by {a}")
    if rule in ("z_share", "yz_share"):
        name = "Z" if rule == "z_share" else "Y+Z"
        return (f"relax_{rule}", f"{fz}{name} 类题需超出上限 {a} 道",
                f"{fe} needs {a} more {name} item(s) than the cap allows")
    if rule == "section_count":
        tz = TYPE_NAMES_ZH.get(subject, subject)
        word_zh, word_en = ("少", "fewer") if side == "lo" else ("多", "more")
        return ("relax_section_count", f"{fz}{tz}题需{word_zh} {a} 道", f"{fe} needs {a} {word_en} {tz} item(s)")
    if rule == "time":
        return ("relax_time", f"{fz}作答时间需超出时长 {a} 分钟", f"{fe} needs {a} min more than the duration")
    if rule == "band":
        word_zh, word_en = ("少于下限", "below the minimum") if side == "lo" else ("多于上限", "above the maximum")
        return ("relax_band", f"{fz}难度段 {subject} 的题数需{word_zh} {a} 道",
                f"{fe}: difficulty band {subject} must be {a} item(s) {word_en}")
    if rule == "max_uses":
        return ("relax_overlap", f"试题 {subject} 需在多套试卷中重复使用（超出 {a} 次）",
                f"item {subject} must be reused on more forms ({a} over the limit)")
    if rule == "mean_p_spread":
        return ("relax_mean_p_spread", f"{fz}与其他卷的平均难度差需放宽 {a}",
                f"{fe}: the mean-p spread between forms must give way by {a}")
    if rule == "enemy":
        return ("relax_enemy", f"{fz}需同时使用互斥组 {subject} 中的 {_g(amount + 1)} 道题",
                f"{fe} needs {_g(amount + 1)} items of enemy group {subject} together")
    if rule == "module_tasks":
        return ("relax_module", f"{fz}操作技能模块 {subject} 的题数需改变 {a} 道",
                f"{fe}: practical module {subject} must change by {a} task(s)")
    zh, en = _RULE_ZH.get(rule, rule), _RULE_EN.get(rule, rule)
    return (f"relax_{rule}", f"{fz}规则「{zh}」（{subject}）需放宽 {a}", f"{fe}: rule '{en}' ({subject}) must give way by {a}")


def _elastic_solve(model: "_Model", integral: bool, time_limit: float, hard_rules: frozenset[str] = frozenset()
                   ) -> tuple[np.ndarray | None, np.ndarray, np.ndarray, str]:
    """Solve the elastic model; returns (x, slack below lower bounds, slack above upper bounds, status)."""
    A = model.A
    m = A.shape[0]
    blk = model.block_of_row()
    elastic = np.array([not model.blocks[b].hard and model.blocks[b].rule not in hard_rules for b in blk],
                       dtype=bool) if m else np.zeros(0, bool)
    w = np.array([model.blocks[b].weight for b in blk]) if m else np.zeros(0)
    lo_rows = np.flatnonzero(elastic & np.isfinite(model.lb))
    hi_rows = np.flatnonzero(elastic & np.isfinite(model.ub))
    n_s = len(lo_rows) + len(hi_rows)
    S = sp.csr_matrix((np.r_[np.ones(len(lo_rows)), -np.ones(len(hi_rows))],
                       (np.r_[lo_rows, hi_rows], np.arange(n_s))), shape=(m, n_s))
    A_el = sp.hstack([A, S], format="csr")
    c = np.r_[np.zeros(A.shape[1]), w[lo_rows], w[hi_rows]]
    integ = np.r_[model.integrality if integral else np.zeros(A.shape[1], dtype=np.int64), np.zeros(n_s, dtype=np.int64)]
    lb = np.r_[model.col_lb, np.zeros(n_s)]
    ub = np.r_[model.col_ub, np.full(n_s, np.inf)]
    opts = {"time_limit": max(0.05, time_limit), "presolve": True, "mip_rel_gap": 1e-4}
    from . import assembly as _asm  # local import: assembly imports this module

    n_int = int(integ.sum())
    if n_int > _asm.GUARD_FREE_BINARIES or A_el.shape[1] > _asm.GUARD_LP_COLUMNS:
        res = _asm._milp_guarded(c, integ, lb, ub, A_el, model.lb, model.ub, opts,
                                 hard_limit=max(0.05, time_limit) + _asm.GUARD_GRACE_S)
    else:
        res = milp(c, integrality=integ, bounds=Bounds(lb, ub), constraints=LinearConstraint(A_el, model.lb, model.ub),
                   options=opts)
    s_lo = np.zeros(m)
    s_hi = np.zeros(m)
    if res.x is None:
        return None, s_lo, s_hi, "no_solution" if res.status == 1 else "infeasible"
    x = res.x
    s_lo[lo_rows] = x[A.shape[1]:A.shape[1] + len(lo_rows)]
    s_hi[hi_rows] = x[A.shape[1] + len(lo_rows):]
    return x, s_lo, s_hi, "optimal" if res.status == 0 else "time_limit"


@dataclass(frozen=True)
class _Relaxed:
    rule: str
    subject: str
    side: str
    amount: float
    form: int | None
    unit: str


def _elastic_round(model: "_Model", deadline: float, hard_rules: frozenset[str], milp_share: float, tol: float
                   ) -> tuple[list[_Relaxed] | None, str]:
    """One elastic solve: the LP, then the MILP (integral amounts) with ``milp_share`` of the time left."""
    x, s_lo, s_hi, st = _elastic_solve(model, False, deadline - time.perf_counter(), hard_rules)
    if x is None:
        return None, st
    note = "LP"
    left = deadline - time.perf_counter()
    if left > 0.2:
        x2, lo2, hi2, st2 = _elastic_solve(model, True, left * milp_share, hard_rules)
        if x2 is not None:
            s_lo, s_hi, note = lo2, hi2, "MILP" + ("" if st2 == "optimal" else ", time limit")
    blk = model.block_of_row()
    out = []
    for r in np.flatnonzero((s_lo > tol) | (s_hi > tol)).tolist():
        b = model.blocks[blk[r]]
        subject = b.subjects[r - b.start] if r - b.start < len(b.subjects) else b.rule
        side = "lo" if s_lo[r] > tol else "hi"
        out.append(_Relaxed(b.rule, subject, side, float((s_lo[r] if side == "lo" else s_hi[r]) / b.div), b.form,
                            b.unit))
    return out, note


def _option_findings(rows: list[_Relaxed], K: int, bp: Blueprint, option: int) -> tuple[list[Finding], str, str]:
    out = []
    summary_zh: dict[str, list[str]] = {}
    summary_en: dict[str, list[str]] = {}
    for r in rows:
        form = FORM_LABELS[r.form] if r.form is not None and K > 1 else None
        code, zh, en = _row_message(r.rule, r.subject, r.side, r.amount, form, bp)
        if K == 1:
            zh = zh.replace("各卷合计", "本卷")
            en = en.replace("across forms", "the paper")
        out.append(Finding("elastic", code, r.rule, zh, en, subject=r.subject,
                           forms=(FORM_LABELS[r.form],) if r.form is not None else (), relax=r.amount,
                           unit=r.unit, option=option))
        summary_zh.setdefault(_CODE_ZH.get(code, _RULE_ZH.get(r.rule, r.rule)), []).append(form or "")
        summary_en.setdefault(_CODE_EN.get(code, _RULE_EN.get(r.rule, r.rule)), []).append(form or "")

    def fmt(d: dict[str, list[str]], zh: bool) -> str:
        parts = []
        for rule, forms in d.items():
            cnt: dict[str, int] = {}
            for f in forms:
                cnt[f] = cnt.get(f, 0) + 1
            if zh:
                detail = "、".join(f"{f} 卷 {c} 处" if f else f"{c} 处" for f, c in cnt.items())
            else:
                detail = ", ".join(f"form {f}: {c}" if f else f"{c}" for f, c in cnt.items())
            parts.append(f"{rule}（{detail}）" if zh else f"{rule} ({detail})")
        return ("；" if zh else "; ").join(parts)

    return out, fmt(summary_zh, True), fmt(summary_en, False)


def elastic_findings(model: "_Model", bp: Blueprint, *, time_limit: float = 5.0, tol: float = 1e-5,
                     alternatives: bool = True) -> list[Finding]:
    """Which rules must give way, and by how much.

    Option 1: every row gets a weighted slack and the total is minimised (the elastic LP, then the
    elastic MILP with a short limit for integral amounts). Option 2 (``alternatives``): the same with
    the rules relaxed in option 1 kept hard — the other way out. Together they name the rules in
    conflict (e.g. X coverage ↔ mean difficulty). The first finding summarises; then one finding per
    relaxed rule and form, each with ``relax`` (amount, in ``unit``) and ``option``.
    """
    deadline = time.perf_counter() + time_limit
    K = model.K
    rows1, note1 = _elastic_round(model, deadline, frozenset(), 0.5 if alternatives else 1.0, tol)
    if rows1 is None:
        return [Finding("elastic", "hard_rules_conflict", "item_set",
                        "即使放宽所有可放宽的规则也无法组卷：锚题或题组（全选或全不选）本身冲突",
                        "no paper exists even with every soft rule relaxed: anchors or item sets conflict")]
    if not rows1:
        return [Finding("elastic", "elastic_inconclusive", "summary",
                        "弹性模型在时限内未找到需让步的规则（可能是取整/粒度冲突），请延长时限后重试",
                        "the elastic model found no rule to relax within the time limit (likely an integrality or "
                        "granularity conflict); retry with a longer limit", severity="warning")]
    f1, zh1, en1 = _option_findings(rows1, K, bp, 1)
    f2: list[Finding] = []
    zh2 = en2 = ""
    if alternatives and deadline - time.perf_counter() > 0.1:
        rules1 = frozenset(r.rule for r in rows1)
        rows2, note2 = _elastic_round(model, deadline, rules1, 1.0, tol)
        if rows2:
            f2, zh2, en2 = _option_findings(rows2, K, bp, 2)
            zh2, en2 = f"；或者（方案 2，{note2}）保留上述规则，改为放宽：{zh2}", f"; or (option 2, {note2}) keep those and relax: {en2}"
    conflict = list(dict.fromkeys([f.code for f in f1] + [f.code for f in f2]))
    czh = " ↔ ".join(dict.fromkeys(_CODE_ZH.get(c, _RULE_ZH.get(c[6:], c)) for c in conflict))
    cen = " <-> ".join(dict.fromkeys(_CODE_EN.get(c, _RULE_EN.get(c[6:], c)) for c in conflict))
    head = Finding("elastic", "rules_must_give_way", "summary",
                   f"各条规则单独都可满足，但合在一起无法满足（冲突：{czh}）。方案 1（{note1}）需放宽：{zh1}{zh2}",
                   f"each rule alone can be met but not all together (conflict: {cen}). Option 1 ({note1}) "
                   f"relax: {en1}{en2}")
    return [head] + f1 + f2


__all__ = ["Finding", "supply_checks", "elastic_findings"]

"""Independent check of assembled forms against a blueprint.

:func:`check_forms` re-verifies every rule directly on the chosen candidates — it shares no code with
the MILP model — and returns a :class:`CheckReport`: one :class:`RuleCheck` per rule (per form where
the rule is per form) with target, achieved value and pass/fail. The assembler attaches the report to
every result; the bench uses it to count the greedy baseline's violations.
"""

from __future__ import annotations

import ast
import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from .blueprint import Blueprint, parse_blueprint

if TYPE_CHECKING:  # pragma: no cover
    from .assembly import Candidate

FORM_LABELS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_EPS = 1e-6


@dataclass(frozen=True)
class RuleCheck:
    """One rule checked: ``target`` and ``achieved`` are short human-readable strings in English
    (e.g. ``"[0.63, 0.69]"`` and ``"0.6612"``, ``"no item twice"`` and ``"ok"``), ``target_zh`` and
    ``achieved_zh`` the same in Chinese (equal to the English text when it has no words, such as
    ``"= 25"``); ``form`` is the form label or None for cross-form rules."""

    rule: str
    part: str
    form: str | None
    subject: str | None
    target: str
    achieved: str
    passed: bool
    target_zh: str | None = None
    achieved_zh: str | None = None

    def __post_init__(self) -> None:
        if self.target_zh is None:
            object.__setattr__(self, "target_zh", zh_text(self.target))
        if self.achieved_zh is None:
            object.__setattr__(self, "achieved_zh", zh_text(self.achieved))

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "part": self.part, "form": self.form, "subject": self.subject,
                "target": self.target, "achieved": self.achieved, "passed": self.passed,
                "target_zh": self.target_zh, "achieved_zh": self.achieved_zh}

    def __str__(self) -> str:
        where = f" form {self.form}" if self.form else ""
        subj = f" [{self.subject}]" if self.subject else ""
        return f"{'PASS' if self.passed else 'FAIL'} {self.rule}{subj}{where}: target {self.target}, achieved {self.achieved}"


@dataclass(frozen=True)
class CheckReport:
    """All rule checks of a set of forms; ``passed`` is True when every check passed."""

    checks: tuple[RuleCheck, ...]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def violations(self) -> list[RuleCheck]:
        return [c for c in self.checks if not c.passed]

    def by_rule(self, rule: str) -> list[RuleCheck]:
        return [c for c in self.checks if c.rule == rule]

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "n_checks": len(self.checks), "n_violations": len(self.violations),
                "checks": [c.to_dict() for c in self.checks]}

    def summary(self) -> str:
        if self.passed:
            return f"all {len(self.checks)} checks passed"
        return f"{len(self.violations)} of {len(self.checks)} checks failed: " + "; ".join(
            str(v) for v in self.violations[:8])


# The checker writes its texts in English; these patterns give the Chinese for every text it can write (and so
# also for reports stored before the Chinese texts were stored with them). A text without words ("= 25",
# "[0.63, 0.69]", "0.6612", "12.5 %") is the same in both languages.
_ZH_PATTERNS: tuple[tuple[re.Pattern[str], Any], ...] = tuple((re.compile(rx), out) for rx, out in (
    (r"ok", "符合"),
    (r"no item twice", "同一试题不重复"),
    (r"repeated: (?P<l>.+)", "重复：{l}"),
    (r"every item eligible", "每道题都符合入选条件"),
    (r"not eligible: (?P<l>.+)", "不符合入选条件：{l}"),
    (r"types/points of the sections", "题型和分值符合方案"),
    (r"not allowed: (?P<l>.+)", "题型或分值不符：{l}"),
    (r"no theory part", "方案没有理论知识部分"),
    (r"(?P<n>\d+) theory items", "{n} 道理论题"),
    (r"only areas of the weight table", "只用比重表中的鉴定范围"),
    (r"items from (?P<l>.+)", "含以下范围的试题：{l}"),
    (r"every X point", "覆盖每个 X 类鉴定点"),
    (r"not checked \(no taxonomy given\)", "未检查（未提供细目表）"),
    (r"(?P<n>\d+) X points ≥ (?P<m>\d+)", "{n} 个 X 类鉴定点各至少 {m} 题"),
    (r"(?P<n>\d+) covered", "已覆盖 {n} 个"),
    (r"(?P<n>\d+) covered; missing (?P<l>.+)", "已覆盖 {n} 个；未覆盖：{l}"),
    (r"≤ (?P<n>\S+) per point", "每个鉴定点至多 {n} 题"),
    (r"max (?P<n>\d+)", "最多 {n} 题"),
    (r"max (?P<n>\d+); over: (?P<l>.+)", "最多 {n} 题；超出：{l}"),
    (r"≤ (?P<n>\S+) items", "至多 {n} 题"),
    (r"≤ (?P<n>\S+) points", "至多 {n} 分"),
    (r"≤ (?P<n>\S+) min", "至多 {n} 分钟"),
    (r"(?P<n>[\d.]+) min", "{n} 分钟"),
    (r"only modules of the blueprint", "只用方案中的模块"),
    (r"tasks from (?P<l>.+)", "含以下模块的试题：{l}"),
    (r"no practical part", "方案没有操作技能部分"),
    (r"(?P<n>\d+) tasks", "{n} 道操作技能题"),
    (r"0 or (?P<n>\d+)", "0 或 {n}"),
    (r"= (?P<n>\d+) modules", "= {n} 个模块"),
    (r"station has every tool", "鉴定站具备全部设备"),
    (r"missing for (?P<l>.+)", "缺设备的试题：{l}"),
    (r"≤ 1 item per enemy group", "每个互斥组至多 1 题"),
    (r"clash in (?P<l>.+)", "互斥组冲突：{l}"),
    (r"all or none of each set", "题组全选或全不选"),
    (r"incomplete: (?P<l>.+)", "题组不完整：{l}"),
    (r"(?P<n>\d+) anchors present", "{n} 道锚题都在卷中"),
    (r"missing (?P<l>.+)", "缺少：{l}"),
    (r"≤ (?P<n>\d+) form\(s\) per item", "每题至多用于 {n} 套试卷"),
    (r"(?P<n>\d+) items over: (?P<l>.+)", "{n} 道题超出：{l}"),
))


def _zh_list(text: str) -> str:
    """``"['Q1', 'Q2']"`` → ``"Q1、Q2"`` (enemy groups of the blueprint as 方案互斥组 k)."""
    try:
        values = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text
    if not isinstance(values, (list, tuple)):
        return text
    out = []
    for v in values:
        m = re.fullmatch(r"blueprint-enemies\[(\d+)\]", str(v))
        out.append(f"方案互斥组{int(m.group(1)) + 1}" if m else str(v))
    return "、".join(out)


def zh_text(text: str) -> str:
    """The Chinese of a target or achieved text of :func:`check_forms` (see :class:`RuleCheck`): e.g.
    ``"no item twice"`` → ``"同一试题不重复"``, ``"25 covered; missing ['B-A-001']"`` →
    ``"已覆盖 25 个；未覆盖：B-A-001"``. Texts without words come back unchanged."""
    text = str(text)
    for rx, out in _ZH_PATTERNS:
        m = rx.fullmatch(text)
        if m:
            parts = {k: (_zh_list(v) if k == "l" else v) for k, v in m.groupdict().items()}
            return out.format(**parts)
    return text


def _f(x: float) -> str:
    return f"{x:.4g}"


def _required_x(bp: Blueprint, kp_index: Mapping[str, Any] | None) -> list[str] | None:
    th = bp.theory
    if th is None:
        return []
    if isinstance(th.x_points, tuple):
        return list(th.x_points)
    if kp_index is None:
        return None
    out = []
    for code, info in kp_index.items():
        area, imp, part = (info.area, info.importance, info.part) if hasattr(info, "area") else tuple(info)
        if part == "theory" and imp == "X" and area in th.area_windows:
            out.append(str(code))
    return sorted(out)


def check_forms(forms: Sequence[Sequence["Candidate"]], blueprint: Blueprint | Mapping[str, Any], *,
                x_points: Iterable[str] | None = None, kp_index: Mapping[str, Any] | None = None,
                pool: Sequence["Candidate"] | None = None, station_equipment: Iterable[str] | None = None
                ) -> CheckReport:
    """Check forms (each a sequence of chosen Candidates) against every rule of the blueprint.

    Parameters
    ----------
    forms : sequence of sequences of Candidate
        Form A, B, ... as chosen candidates (order irrelevant).
    blueprint : Blueprint or dict
    x_points : iterable of str, optional
        The X points every form must cover; default: the blueprint's list, else the theory X points of
        ``kp_index`` in the blueprint's areas; with neither, X coverage is reported as not checked.
    kp_index : mapping, optional
        kp code → (area, importance, part), see above.
    pool : sequence of Candidate, optional
        The eligible candidates: when given, every chosen item must be one of them, item-set membership
        declared on candidates is known, and pool anchors must be present.
    station_equipment : iterable of str, optional
        Overrides ``practical.station_equipment``.
    """
    bp = parse_blueprint(blueprint)
    th, pr = bp.theory, bp.practical
    K = len(forms)
    checks: list[RuleCheck] = []

    def add(rule: str, part: str, form: str | None, subject: str | None, target: str, achieved: str,
            ok: bool) -> None:
        checks.append(RuleCheck(rule, part, form, subject, target, achieved, bool(ok)))

    required = sorted(set(x_points)) if x_points is not None else _required_x(bp, kp_index)
    station = frozenset(station_equipment) if station_equipment is not None else (
        pr.station_equipment if pr is not None else None)

    # item sets and enemies from the blueprint and the candidates
    set_members: dict[str, set[str]] = {sid: set(ids) for sid, ids in bp.eligibility.item_sets.items()}
    bp_set_of = {iid: sid for sid, ids in bp.eligibility.item_sets.items() for iid in ids}
    pool_keys: set[tuple[str, int]] | None = None
    anchors = set(bp.eligibility.anchors)
    if pool is not None:
        pool_keys = {(c.item_id, c.version) for c in pool}
        for c in pool:
            sid = bp_set_of.get(c.item_id, c.item_set)
            if sid is not None:
                set_members.setdefault(sid, set()).add(c.item_id)
            if c.anchor:
                anchors.add(c.item_id)
    bp_enemy = {}
    for k, grp in enumerate(bp.eligibility.enemies):
        for iid in grp:
            bp_enemy.setdefault(iid, []).append(f"blueprint-enemies[{k}]")

    form_means: list[float] = []
    form_obj: list[float] = []
    for f, items in enumerate(forms):
        lab = FORM_LABELS[f]
        ids = [c.item_id for c in items]
        dup = [i for i, n in Counter(ids).items() if n > 1]
        add("unique_items", "all", lab, None, "no item twice", "ok" if not dup else f"repeated: {dup[:5]}", not dup)
        if pool_keys is not None:
            bad = [c.item_id for c in items if (c.item_id, c.version) not in pool_keys]
            add("eligible", "all", lab, None, "every item eligible", "ok" if not bad else f"not eligible: {bad[:5]}",
                not bad)
        theory = [c for c in items if c.type != "practical_task"]
        practical = [c for c in items if c.type == "practical_task"]
        form_obj.append(sum(c.disc for c in items))

        if th is not None:
            secs = {s.type: s for s in th.sections}
            wrong = [c.item_id for c in theory if c.type not in secs or
                     (secs[c.type].match_item_points and abs(c.points - secs[c.type].points) > _EPS)]
            add("section_type", "theory", lab, None, "types/points of the sections",
                "ok" if not wrong else f"not allowed: {wrong[:5]}", not wrong)
            by_type = Counter(c.type for c in theory)
            for s in th.sections:
                got = by_type.get(s.type, 0)
                add("section_count", "theory", lab, s.type, f"= {s.count}", str(got), got == s.count)
            paper_pts = {c.item_id: secs[c.type].points for c in theory if c.type in secs}
            total = sum(paper_pts.values())
            add("total_points", "theory", lab, None, f"= {_f(th.total_points)}", _f(total),
                abs(total - th.total_points) < _EPS)
            area_pts: dict[str, float] = {}
            for c in theory:
                area_pts[c.area] = area_pts.get(c.area, 0.0) + paper_pts.get(c.item_id, 0.0)
            for a, (lo, hi) in sorted(th.area_windows.items()):
                got = area_pts.get(a, 0.0)
                add("area_points", "theory", lab, a, f"[{_f(lo)}, {_f(hi)}]", _f(got), lo - _EPS <= got <= hi + _EPS)
            stray = sorted(set(area_pts) - set(th.area_windows))
            if stray:
                add("area_points", "theory", lab, ",".join(stray), "only areas of the weight table",
                    f"items from {stray}", False)
            per_kp = Counter(c.kp for c in theory)
            if required is None:
                add("x_coverage", "theory", lab, None, "every X point", "not checked (no taxonomy given)", True)
            else:
                missing = [k for k in required if per_kp.get(k, 0) < th.min_per_x_point]
                add("x_coverage", "theory", lab, None,
                    f"{len(required)} X points ≥ {th.min_per_x_point}",
                    f"{len(required) - len(missing)} covered" + (f"; missing {missing[:10]}" if missing else ""),
                    not missing)
            if th.max_per_point is not None:
                over = sorted(k for k, n in per_kp.items() if n > th.max_per_point)
                mx = max(per_kp.values(), default=0)
                add("point_cap", "theory", lab, None, f"≤ {th.max_per_point} per point",
                    f"max {mx}" + (f"; over: {over[:10]}" if over else ""), not over)
            N = len(theory)
            basis_items = th.importance_basis == "items"
            base = th.n_items if basis_items else th.total_points
            for rule, share, imps in (("z_share", th.z_max, {"Z"}), ("yz_share", th.yz_max, {"Y", "Z"})):
                if share is None:
                    continue
                got = sum(1.0 if basis_items else paper_pts.get(c.item_id, 0.0) for c in theory if c.importance in imps)
                lim = math.floor(share * base + 1e-9) if basis_items else share * base
                add(rule, "theory", lab, None, f"≤ {_f(lim)} {'items' if basis_items else 'points'}", _f(got),
                    got <= lim + _EPS)
            mean_p = sum(c.p for c in theory) / N if N else float("nan")
            form_means.append(mean_p)
            if th.mean_p is not None:
                lo, hi = th.mean_p
                # the rule is on the mean over the part's n_items items (N == n_items when counts pass)
                m_rule = sum(c.p for c in theory) / th.n_items
                add("mean_p", "theory", lab, None, f"[{_f(lo)}, {_f(hi)}]", f"{m_rule:.4f}",
                    lo - _EPS <= m_rule <= hi + _EPS)
            for band in th.bands:
                got = sum(1 for c in theory if band.contains(c.p))
                ok = got >= band.min and (band.max is None or got <= band.max)
                add("band", "theory", lab, f"{band.lo:g}-{band.hi:g}",
                    f"[{band.min}, {band.max if band.max is not None else '∞'}]", str(got), ok)
            secs_total = sum(c.seconds if c.seconds is not None else th.seconds_for(c.type) for c in theory)
            add("time", "theory", lab, None, f"≤ {_f(th.duration_min)} min", f"{secs_total / 60:.1f} min",
                secs_total <= th.duration_min * 60 + _EPS)
        elif theory:
            add("section_type", "theory", lab, None, "no theory part", f"{len(theory)} theory items", False)

        if pr is not None:
            by_mod = Counter(c.area for c in practical)
            stray = sorted(set(by_mod) - {m.area for m in pr.modules})
            if stray:
                add("module_tasks", "practical", lab, ",".join(stray), "only modules of the blueprint",
                    f"tasks from {stray}", False)
            chosen_in_group: Counter[str] = Counter()
            pts = 0.0
            for m in pr.modules:
                got = by_mod.get(m.area, 0)
                if m.compulsory:
                    add("module_tasks", "practical", lab, m.area, f"= {m.tasks}", str(got), got == m.tasks)
                else:
                    add("module_tasks", "practical", lab, m.area, f"0 or {m.tasks}", str(got), got in (0, m.tasks))
                    if got:
                        chosen_in_group[m.group] += 1  # type: ignore[index]
                pts += got * pr.task_points(m)
            for g, choose in sorted(pr.groups.items()):
                got = chosen_in_group.get(g, 0)
                add("group_choice", "practical", lab, g, f"= {choose} modules", str(got), got == choose)
            add("total_points", "practical", lab, None, f"= {_f(pr.total_points)}", _f(pts),
                abs(pts - pr.total_points) < _EPS)
            if station is not None:
                bad = [c.item_id for c in practical if not c.equipment <= station]
                add("equipment", "practical", lab, None, "station has every tool",
                    "ok" if not bad else f"missing for {bad[:5]}", not bad)
            minutes = sum((c.seconds if c.seconds is not None else 1800.0) for c in practical) / 60
            add("time", "practical", lab, None, f"≤ {_f(pr.duration_min)} min", f"{minutes:.0f} min",
                minutes <= pr.duration_min + _EPS)
        elif practical:
            add("module_tasks", "practical", lab, None, "no practical part", f"{len(practical)} tasks", False)

        # enemies, item sets, anchors
        groups: Counter[str] = Counter()
        for c in items:
            for g in set(c.enemy_groups) | set(bp_enemy.get(c.item_id, ())):
                groups[g] += 1
        clash = sorted(g for g, n in groups.items() if n > 1)
        add("enemies", "all", lab, None, "≤ 1 item per enemy group", "ok" if not clash else f"clash in {clash[:5]}",
            not clash)
        present = set(ids)
        touched = {bp_set_of.get(c.item_id, c.item_set) for c in items} - {None}
        partial = sorted(s for s in touched if s in set_members and not set_members[s] <= present)  # type: ignore[operator]
        add("item_sets", "all", lab, None, "all or none of each set",
            "ok" if not partial else f"incomplete: {partial[:5]}", not partial)
        if anchors:
            miss = sorted(anchors - present)
            add("anchors", "all", lab, None, f"{len(anchors)} anchors present",
                "ok" if not miss else f"missing {miss[:5]}", not miss)

    # across forms
    if K > 1:
        use = Counter(c.item_id for items in forms for c in {x.item_id: x for x in items}.values())
        over = sorted(i for i, n in use.items() if n > bp.forms.max_uses and i not in anchors)
        add("max_uses", "all", None, None, f"≤ {bp.forms.max_uses} form(s) per item",
            "ok" if not over else f"{len(over)} items over: {over[:5]}", not over)
        if th is not None and th.mean_p is not None and bp.forms.mean_p_spread is not None and form_means:
            spread = max(form_means) - min(form_means)
            add("mean_p_spread", "theory", None, None, f"≤ {_f(bp.forms.mean_p_spread)}", f"{spread:.4f}",
                spread <= bp.forms.mean_p_spread + _EPS)
        if bp.objective.kind == "discrimination" and bp.forms.objective_spread is not None:
            lo, hi = min(form_obj), max(form_obj)
            ok = hi <= (1 + bp.forms.objective_spread) * lo + _EPS if lo > 0 else hi - lo <= _EPS
            rel = (hi - lo) / lo if lo > 0 else float("inf") if hi > lo else 0.0
            add("objective_spread", "all", None, None, f"≤ {_f(bp.forms.objective_spread * 100)} %",
                f"{rel * 100:.2f} %", ok)
    return CheckReport(tuple(checks))


__all__ = ["RuleCheck", "CheckReport", "check_forms", "zh_text"]

"""The call into the pure assembler, shared by the web service (database items) and the CLI (bank files).

:func:`run` takes item dicts (docs/items.md, with ``id`` and ``version``), a blueprint dict and the
taxonomy's kp index, screens the items (:func:`question_bank.assembly.screen_items`: grade, status,
recent papers, exposure), calls :func:`question_bank.assembly.assemble` and returns an :class:`Outcome`
of plain data: the forms as slot dicts, the report to store with the paper, or the findings that explain
why the blueprint cannot be met. No database, no Flask.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from question_bank import assembly as qb_assembly
from question_bank import blueprint as qb_blueprint


@dataclass
class Outcome:
    ok: bool
    forms: list[tuple[str, list[dict]]] = field(default_factory=list)
    report: dict = field(default_factory=dict)
    findings: list[dict] = field(default_factory=list)
    solver: str = ""
    blueprint_hash: str = ""
    eligible: int = 0
    excluded: dict = field(default_factory=dict)
    status: str = ""
    paper: dict | None = None  # the assembler's paper.json dict (to_dict())


def solver_label(solver: Mapping[str, Any]) -> str:
    parts = [f"scipy {solver.get('scipy')}"]
    if solver.get("highs"):
        parts.append(f"HiGHS {solver.get('highs')}")
    return " / ".join(parts)


def _finding(code: str, zh: str, en: str, **kw) -> dict:
    d = {"stage": "assembly", "code": code, "rule": kw.pop("rule", "all"), "subject": kw.pop("subject", None),
         "forms": [], "need": None, "have": None, "relax": None, "unit": "items", "severity": "error",
         "message_zh": zh, "message_en": en}
    d.update(kw)
    return d


def run(items: Sequence[Mapping[str, Any]], spec: Mapping[str, Any], kp_index: Mapping[str, Any], grade: int, *,
        forms: int, seed: int, time_limit: float, recent_papers: Sequence[Iterable[str]] = (),
        exposure: Mapping[str, float] | None = None, occupation: str | None = None,
        station_equipment: Iterable[str] | None = None) -> Outcome:
    """Screen the items and assemble ``forms`` forms; see the module docstring."""
    bp = qb_blueprint.parse_blueprint(dict(spec), kp_index=kp_index or None)
    screening = qb_assembly.screen_items(items, kp_index, grade, blueprint=bp, occupation=occupation,
                                         recent_papers=recent_papers, exposure=exposure,
                                         station_equipment=station_equipment)
    cands = screening.candidates
    excluded = _count(screening.excluded.values())
    if not cands:
        why_zh = "、".join(f"{k} {v} 道" for k, v in sorted(excluded.items())) or "题库中没有该职业和等级的试题"
        why_en = ", ".join(f"{k}: {v}" for k, v in sorted(excluded.items())) or "the bank has no items of this occupation and grade"
        return Outcome(False, findings=[_finding(
            "no_eligible_items", f"没有符合条件的试题（已排除：{why_zh}）",
            f"no eligible items (excluded: {why_en})", stage="eligibility")],
            blueprint_hash=bp.hash, excluded=excluded, status="infeasible")
    result = qb_assembly.assemble(cands, bp, forms=forms, seed=seed, time_limit=time_limit, kp_index=kp_index or None,
                                  station_equipment=station_equipment)
    paper = result.to_dict()
    if not result.ok:
        findings = [f.to_dict() for f in result.findings]
        if not findings and result.check is not None:
            findings = [_finding("check_failed", f"检查未通过：{c.rule} {c.subject or ''} {c.form or ''} 目标 {c.target_zh}，实际 {c.achieved_zh}",
                                 f"check failed: {c.rule} {c.subject or ''} {c.form or ''} target {c.target}, achieved {c.achieved}",
                                 rule=c.rule, subject=c.subject)
                        for c in result.check.violations]
        if not findings:
            findings = [_finding(result.status, result.message_zh, result.message_en)]
        return Outcome(False, findings=findings, solver=solver_label(result.solver), blueprint_hash=result.blueprint_hash,
                       eligible=len(cands), excluded=excluded, status=result.status, paper=paper)
    total = {"theory": bp.theory.total_points if bp.theory else 100.0,
             "practical": bp.practical.total_points if bp.practical else 100.0}
    out_forms = []
    for f in result.forms:
        slots = []
        for e in f.entries:
            weight = round(e.points * 100.0 / total[e.part], 6) if e.part == "practical" else None
            slots.append({"item_id": e.item_id, "version": e.version, "part": e.part, "section": e.section,
                          "position": e.position, "points": e.points, "weight": weight})
        out_forms.append((f.label, slots))
    check = result.check.to_dict()
    report = {
        "passed": check["passed"], "n_checks": check["n_checks"], "n_violations": check["n_violations"],
        "checks": check["checks"], "status": result.status,
        "message": {"zh": result.message_zh, "en": result.message_en},
        "objective": paper["objective"], "gap": result.gap, "solve_time_s": paper["solve_time_s"],
        "total_time_s": paper["total_time_s"], "model": paper["model"], "solver": paper["solver"],
        "seed": result.seed, "forms": [{k: v for k, v in fd.items() if k != "items"} for fd in paper["forms"]],
        "excluded": excluded,
    }
    return Outcome(True, forms=out_forms, report=report, solver=solver_label(result.solver),
                   blueprint_hash=result.blueprint_hash, eligible=len(cands), excluded=excluded,
                   status=result.status, paper=paper)


def _count(values: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        key = str(v).split(":", 1)[0]
        out[key] = out.get(key, 0) + 1
    return out

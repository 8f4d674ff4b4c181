"""Blueprints (组卷方案) and frozen papers: the transaction boundary between the web/CLI and
:mod:`question_bank.blueprint` / :mod:`question_bank.assembly`.

Blueprints are stored per occupation and grade as the canonical spec dict with its sha256
(:func:`question_bank.blueprint.blueprint_hash`). Assembling loads the eligible item versions of the
database (approved, of the occupation and grade, not used in the station's last N papers, exposure rate
not above the limit), hands them to the pure assembler as item dicts, and stores the result as a frozen
:class:`~examsys.models.Paper` with forms A/B/… of :class:`~examsys.models.PaperItem` rows, together with
the check report, the blueprint hash, the seed and the solver versions; it records one
:class:`~examsys.models.ItemUsage` per item and bumps ``Item.exposure_count``. When the blueprint cannot be
met nothing is stored and :class:`Infeasible` carries the explanation in the domain's words.

Every change commits here, with its audit entry in the same transaction.
"""
from __future__ import annotations

import copy
import json
import secrets
from dataclasses import dataclass, field
from typing import Any, Iterable

import yaml
from sqlalchemy import func, select

from question_bank import assembly_check as qb_check
from question_bank import blueprint as qb_blueprint

from .. import clock
from ..extensions import db
from ..models import (Blueprint, Item, ItemUsage, ItemVersion, KnowledgeNode, Occupation, Paper, PaperForm,
                      PaperItem, Station, WeightEntry)
from . import audit
from . import taxonomy as taxonomy_service

#: largest number of forms and time limit the UI and the CLI accept
MAX_FORMS = 10
MAX_TIME_LIMIT_S = 600
PRESETS = tuple(qb_blueprint.LAYOUT_PRESETS)


# ----------------------------------------------------------------------------------------------
# errors
# ----------------------------------------------------------------------------------------------
@dataclass
class Message:
    """One problem shown to the user: ``field`` (a path in the blueprint or a form field) and the text in
    both languages; :meth:`text` picks the UI language."""

    field: str
    message_zh: str
    message_en: str
    code: str = ""
    severity: str = "error"

    def text(self, zh: bool = True) -> str:
        return self.message_zh if zh else self.message_en

    def to_dict(self) -> dict:
        return {"field": self.field, "code": self.code, "severity": self.severity,
                "message_zh": self.message_zh, "message_en": self.message_en}


class PaperServiceError(ValueError):
    """Bad input: ``messages`` lists every problem, each naming its field. Nothing was stored."""

    def __init__(self, messages: list[Message]):
        self.messages = messages
        super().__init__("; ".join(f"{m.field}: {m.message_en}" for m in messages))


class Infeasible(ValueError):
    """The blueprint cannot be met from the eligible items; ``findings`` explain why (dicts with
    ``message_zh`` / ``message_en`` …). Nothing was stored."""

    def __init__(self, findings: list[dict], *, eligible: int = 0, excluded: dict | None = None):
        self.findings = findings
        self.eligible = eligible
        self.excluded = excluded or {}
        super().__init__("; ".join(f.get("message_en", "") for f in findings) or "infeasible")


def _msg_from_problem(p) -> Message:
    return Message(p.field or "spec", p.message_zh, p.message_en, getattr(p, "code", ""),
                   getattr(p, "severity", "error"))


# ----------------------------------------------------------------------------------------------
# taxonomy helpers
# ----------------------------------------------------------------------------------------------
def kp_index_for(occ: Occupation, grade: int | None = None) -> dict[str, qb_blueprint.KpInfo]:
    """kp code → KpInfo(area, importance, part) of the occupation's points for ``grade`` (all when None)."""
    nodes = list(db.session.execute(select(KnowledgeNode).where(KnowledgeNode.occupation_id == occ.id)).scalars())
    by_id = {n.id: n for n in nodes}
    out: dict[str, qb_blueprint.KpInfo] = {}
    for n in nodes:
        if n.level != 3:
            continue
        if grade is not None and n.grades and grade not in n.grades:
            continue
        area = n
        while area.parent_id is not None and area.parent_id in by_id:
            area = by_id[area.parent_id]
        out[n.code] = qb_blueprint.KpInfo(area.code, n.importance or "X", n.part or area.part)
    return out


def area_names(occ: Occupation) -> dict[str, str]:
    """Code → name of the occupation's level-1 areas and units (for reports and print headers)."""
    rows = db.session.execute(select(KnowledgeNode.code, KnowledgeNode.name).where(
        KnowledgeNode.occupation_id == occ.id, KnowledgeNode.level <= 2)).all()
    return {c: n for c, n in rows}


def grades_with_weights(occ: Occupation) -> list[int]:
    rows = db.session.execute(select(WeightEntry.grade).where(WeightEntry.occupation_id == occ.id).distinct()).scalars()
    return sorted(set(rows) | set(occ.grades or []), reverse=True)


# ----------------------------------------------------------------------------------------------
# blueprints: parse, validate, store
# ----------------------------------------------------------------------------------------------
def parse_spec_text(text: str, fmt: str | None = None) -> dict:
    """The blueprint dict from YAML or JSON text (YAML is a superset of JSON).

    Raises :class:`PaperServiceError` naming the line and column of a syntax error."""
    if text is None or not str(text).strip():
        raise PaperServiceError([Message("spec", "组卷方案内容为空", "the blueprint text is empty", "missing")])
    try:
        if fmt == "json":
            data = json.loads(text)
        else:
            data = yaml.safe_load(text)
    except json.JSONDecodeError as e:
        raise PaperServiceError([Message(
            "spec", f"JSON 语法错误（第 {e.lineno} 行第 {e.colno} 列）：{e.msg}",
            f"JSON syntax error at line {e.lineno}, column {e.colno}: {e.msg}", "syntax")]) from e
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where_zh = f"第 {mark.line + 1} 行第 {mark.column + 1} 列" if mark else ""
        where_en = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e)
        raise PaperServiceError([Message("spec", f"YAML 语法错误（{where_zh}）：{problem}",
                                         f"YAML syntax error{where_en}: {problem}", "syntax")]) from e
    if not isinstance(data, dict):
        raise PaperServiceError([Message("spec", "组卷方案应为键值映射（YAML/JSON 对象）",
                                         "a blueprint must be a mapping (YAML/JSON object)", "not_a_mapping")])
    return data


def validate_spec(occ: Occupation, grade: int, data: dict) -> tuple[qb_blueprint.Blueprint | None, list[Message]]:
    """Validate a blueprint dict for ``occ`` and ``grade``: the library's checks against the occupation's
    taxonomy (area and point codes), plus occupation/grade agreement. Missing ``occupation`` / ``grade``
    are filled in from the selection. Returns ``(parsed or None, messages incl. warnings)``."""
    data = copy.deepcopy(data)
    messages: list[Message] = []
    if data.get("occupation") in (None, ""):
        data["occupation"] = occ.code
    elif str(data["occupation"]) != occ.code:
        messages.append(Message("occupation", f"occupation：方案中的职业编码 {data['occupation']} 与所选职业 {occ.code} 不一致",
                                f"occupation: the blueprint's occupation {data['occupation']} is not the selected "
                                f"occupation {occ.code}", "occupation_mismatch"))
    if data.get("grade") is None:
        data["grade"] = grade
    elif data.get("grade") != grade and not isinstance(data.get("grade"), bool) \
            and isinstance(data.get("grade"), (int, float)):
        messages.append(Message("grade", f"grade：方案中的等级 {data['grade']} 与所选等级 {grade} 不一致",
                                f"grade: the blueprint's grade {data['grade']} is not the selected grade {grade}",
                                "grade_mismatch"))
    kp_index = kp_index_for(occ, grade)
    try:
        problems = qb_blueprint.validate_blueprint(data, kp_index=kp_index or None)
    except (TypeError, ValueError, AttributeError) as e:  # a shape the validator did not foresee
        problems = []
        messages.append(Message("spec", f"组卷方案格式有误：{e}", f"malformed blueprint: {e}", "malformed"))
    messages.extend(_msg_from_problem(p) for p in problems)
    if any(m.severity == "error" for m in messages):
        return None, messages
    parsed = qb_blueprint.parse_blueprint(data, kp_index=kp_index or None)
    return parsed, messages


def _name_problem(name: str | None) -> list[Message]:
    if not name or not name.strip():
        return [Message("name", "name：请填写方案名称", "name: a name is required", "missing")]
    if len(name) > 200:
        return [Message("name", "name：名称最长 200 个字符", "name: at most 200 characters", "too_long")]
    return []


def occupation_and_grade(occupation_id: int | None, grade: Any) -> tuple[Occupation, int]:
    msgs = []
    occ = db.session.get(Occupation, occupation_id) if occupation_id else None
    if occ is None:
        msgs.append(Message("occupation_id", "occupation_id：请选择职业", "occupation_id: choose an occupation", "missing"))
    try:
        g = int(grade)
        if isinstance(grade, bool) or not 1 <= g <= 5:
            raise ValueError
    except (TypeError, ValueError):
        msgs.append(Message("grade", "grade：等级应为 1 到 5 的整数", "grade: must be a whole number 1..5", "bad_grade"))
        g = 0
    if msgs:
        raise PaperServiceError(msgs)
    return occ, g


def save_blueprint(*, occupation_id: int, grade: Any, name: str, data: dict, actor,
                   blueprint_id: int | None = None) -> tuple[Blueprint, list[Message]]:
    """Create (or replace the spec of) a blueprint after validation; commits with an audit entry.

    Raises :class:`PaperServiceError` (nothing stored) listing every error. Returns the row and the
    warnings."""
    occ, g = occupation_and_grade(occupation_id, grade)
    name_msgs = _name_problem(name)
    parsed, messages = validate_spec(occ, g, data)
    errors = name_msgs + [m for m in messages if m.severity == "error"]
    if errors or parsed is None:
        db.session.rollback()
        raise PaperServiceError(errors)
    spec = parsed.to_dict()
    if not spec.get("name"):
        spec["name"] = name.strip()
    spec_hash = qb_blueprint.blueprint_hash(parsed)
    now = clock.now()
    if blueprint_id is None:
        row = Blueprint(occupation_id=occ.id, grade=g, name=name.strip(), spec=spec, spec_hash=spec_hash,
                        created_by=getattr(actor, "id", None), created_at=now, updated_at=now)
        db.session.add(row)
        db.session.flush()
        audit.record("blueprint.create", "blueprint", row.id, actor=actor,
                     after={"name": row.name, "occupation": occ.code, "grade": g, "spec_hash": spec_hash})
    else:
        row = db.session.get(Blueprint, blueprint_id)
        if row is None:
            raise PaperServiceError([Message("id", "组卷方案不存在", "no such blueprint", "not_found")])
        before = {"name": row.name, "occupation_id": row.occupation_id, "grade": row.grade, "spec_hash": row.spec_hash,
                  "spec": row.spec}
        row.occupation_id, row.grade, row.name = occ.id, g, name.strip()
        row.spec, row.spec_hash, row.updated_at = spec, spec_hash, now
        audit.record("blueprint.update", "blueprint", row.id, actor=actor, before=before,
                     after={"name": row.name, "occupation": occ.code, "grade": g, "spec_hash": spec_hash, "spec": spec})
    db.session.commit()
    return row, [m for m in messages if m.severity != "error"]


def delete_blueprint(blueprint_id: int, actor) -> bool:
    """Delete a blueprint that no paper was assembled from (papers keep their blueprint); audited."""
    row = db.session.get(Blueprint, blueprint_id)
    if row is None:
        return False
    used = db.session.execute(select(func.count(Paper.id)).where(Paper.blueprint_id == row.id)).scalar_one()
    if used:
        raise PaperServiceError([Message("id", f"已有 {used} 份试卷由此方案组成，不能删除",
                                         f"{used} paper(s) were assembled from this blueprint; it cannot be deleted",
                                         "in_use")])
    audit.record("blueprint.delete", "blueprint", row.id, actor=actor,
                 before={"name": row.name, "occupation_id": row.occupation_id, "grade": row.grade,
                         "spec_hash": row.spec_hash, "spec": row.spec})
    db.session.delete(row)
    db.session.commit()
    return True


def derive_spec(occ: Occupation, grade: int, preset: str = "classic-200", forms: int = 1) -> dict:
    """A blueprint dict derived from the occupation's weight tables (鉴定比重表) and a layout preset.

    Raises :class:`PaperServiceError` when the occupation has no weight table for the grade."""
    if preset not in qb_blueprint.LAYOUT_PRESETS:
        raise PaperServiceError([Message("preset", f"preset：未知的版式 {preset}", f"preset: unknown layout {preset}",
                                         "bad_value")])
    tax = taxonomy_service.taxonomy_dict(occ)
    try:
        spec = qb_blueprint.derive_blueprint(tax, int(grade), preset, forms=max(1, min(MAX_FORMS, int(forms))))
    except ValueError as e:
        raise PaperServiceError([Message("grade", f"无法由鉴定比重表生成方案：{e}",
                                         f"cannot derive a blueprint from the weight tables: {e}", "no_weights")]) from e
    return spec


def dump_spec(spec: dict, fmt: str = "yaml") -> str:
    if fmt == "json":
        return json.dumps(spec, ensure_ascii=False, indent=2)
    return qb_blueprint.dump_blueprint(spec)


def list_blueprints(occupation_id: int | None = None) -> list[Blueprint]:
    q = select(Blueprint).order_by(Blueprint.occupation_id, Blueprint.grade.desc(), Blueprint.name)
    if occupation_id:
        q = q.where(Blueprint.occupation_id == occupation_id)
    return list(db.session.execute(q).scalars())


def get_blueprint(blueprint_id: int) -> Blueprint | None:
    return db.session.get(Blueprint, blueprint_id)


def occupation_of(row) -> Occupation:
    return db.session.get(Occupation, row.occupation_id)


def blueprint_parts(row: Blueprint) -> list[str]:
    return [p for p in ("theory", "practical") if (row.spec or {}).get(p)]


def part_spec(spec: dict, part: str) -> dict:
    """The blueprint reduced to one part (a paper is either theory or practical)."""
    out = copy.deepcopy(spec)
    for other in ("theory", "practical"):
        if other != part:
            out[other] = None
    return out


# ----------------------------------------------------------------------------------------------
# eligibility and exposure
# ----------------------------------------------------------------------------------------------
def _grade_bit(grade: int) -> int:
    return 1 << int(grade)


def bank_items(occ: Occupation, grade: int, statuses: Iterable[str] = ("approved",)) -> list[dict]:
    """Item dicts (docs/items.md) of the current versions of the occupation's items for ``grade`` whose
    status is in ``statuses``, with ``id`` = item id, ``version`` = version number and ``version_id``."""
    rows = db.session.execute(
        select(Item, ItemVersion).join(ItemVersion, ItemVersion.id == Item.current_version_id)
        .where(Item.occupation_id == occ.id, Item.status.in_(list(statuses)))
        .order_by(Item.id)).all()
    out = []
    for item, ver in rows:
        if grade not in (ver.grades or []):
            continue
        d = ver.to_dict(occ.code, item.status)
        d["version_id"] = ver.id
        out.append(d)
    from .stats_loop import prefer_measured  # measured p and D from item analysis once N is large enough
    return prefer_measured(out)


def recent_papers(occ: Occupation, grade: int, station_id: int | None, n: int) -> list[list[str]]:
    """Item ids (str) of the station's last ``n`` papers of this occupation and grade, newest first
    (every station's papers when ``station_id`` is None)."""
    if n <= 0:
        return []
    q = select(Paper.id).where(Paper.occupation_id == occ.id, Paper.grade == grade)
    if station_id is not None:
        q = q.where(Paper.station_id == station_id)
    ids = list(db.session.execute(q.order_by(Paper.created_at.desc(), Paper.id.desc()).limit(n)).scalars())
    out = []
    for pid in ids:
        out.append([str(i) for i in db.session.execute(
            select(ItemUsage.item_id).where(ItemUsage.paper_id == pid)).scalars()])
    return out


def exposure_rates(occ: Occupation, grade: int) -> dict[str, float]:
    """Item id → share of this occupation's and grade's papers that used the item (0..1)."""
    n_papers = db.session.execute(select(func.count(Paper.id)).where(
        Paper.occupation_id == occ.id, Paper.grade == grade)).scalar_one()
    if not n_papers:
        return {}
    rows = db.session.execute(
        select(ItemUsage.item_id, func.count(func.distinct(ItemUsage.paper_id)))
        .where(ItemUsage.occupation_id == occ.id, ItemUsage.grade == grade).group_by(ItemUsage.item_id)).all()
    return {str(i): c / n_papers for i, c in rows}


# ----------------------------------------------------------------------------------------------
# assembling
# ----------------------------------------------------------------------------------------------
@dataclass
class AssemblyRequest:
    """What the form / CLI asks for. ``exclude_recent`` / ``max_exposure`` override the blueprint's
    eligibility when not None; ``seed`` None = a fresh random seed (stored with the paper)."""

    blueprint_id: int
    part: str = "theory"
    forms: int = 1
    seed: int | None = None
    time_limit: float = 60.0
    station_id: int | None = None
    name: str = ""
    exclude_recent: int | None = None
    max_exposure: float | None = None
    errors: list = field(default_factory=list)


def check_request(req: AssemblyRequest, row: Blueprint | None) -> list[Message]:
    msgs: list[Message] = []
    if row is None:
        return [Message("blueprint_id", "组卷方案不存在", "no such blueprint", "not_found")]
    parts = blueprint_parts(row)
    if req.part not in parts:
        msgs.append(Message("part", f"part：方案中没有{'理论知识' if req.part == 'theory' else '操作技能'}部分",
                            f"part: the blueprint has no {req.part} part", "bad_part"))
    if isinstance(req.forms, bool) or not isinstance(req.forms, int) or not 1 <= req.forms <= MAX_FORMS:
        msgs.append(Message("forms", f"forms：套数应为 1 到 {MAX_FORMS} 的整数",
                            f"forms: must be a whole number 1..{MAX_FORMS}", "out_of_range"))
    if req.seed is not None and (isinstance(req.seed, bool) or not isinstance(req.seed, int)
                                 or not 0 <= req.seed < 2 ** 31):
        msgs.append(Message("seed", "seed：随机种子应为 0 到 2147483647 的整数",
                            "seed: must be a whole number 0..2147483647", "out_of_range"))
    if not isinstance(req.time_limit, (int, float)) or isinstance(req.time_limit, bool) \
            or not 1 <= req.time_limit <= MAX_TIME_LIMIT_S:
        msgs.append(Message("time_limit", f"time_limit：求解时限应在 1 到 {MAX_TIME_LIMIT_S} 秒之间",
                            f"time_limit: must be 1..{MAX_TIME_LIMIT_S} seconds", "out_of_range"))
    if req.exclude_recent is not None and (not isinstance(req.exclude_recent, int) or req.exclude_recent < 0):
        msgs.append(Message("exclude_recent", "exclude_recent：应为非负整数", "exclude_recent: must be a whole number ≥ 0",
                            "negative"))
    if req.max_exposure is not None and (not isinstance(req.max_exposure, (int, float))
                                         or not 0 <= req.max_exposure <= 1):
        msgs.append(Message("max_exposure", "max_exposure：曝光率上限应在 0 到 1 之间",
                            "max_exposure: must be between 0 and 1", "out_of_range"))
    if req.station_id is not None and db.session.get(Station, req.station_id) is None:
        msgs.append(Message("station_id", "station_id：鉴定站不存在", "station_id: no such station", "not_found"))
    if len(req.name or "") > 200:
        msgs.append(Message("name", "name：名称最长 200 个字符", "name: at most 200 characters", "too_long"))
    return msgs


def assemble_paper(req: AssemblyRequest, actor) -> Paper:
    """Assemble and store a frozen paper from a stored blueprint. Raises :class:`PaperServiceError` for
    bad input and :class:`Infeasible` when the blueprint cannot be met; in both cases nothing is stored."""
    row = get_blueprint(req.blueprint_id)
    msgs = check_request(req, row)
    if msgs:
        raise PaperServiceError(msgs)
    paper, _outcome = assemble_spec(occupation_of(row), row.grade, row.spec, req, actor, row=row)
    return paper


def assemble_spec(occ: Occupation, grade: int, spec_full: dict, req: AssemblyRequest, actor, *,
                  row: Blueprint | None = None, store: bool = True):
    """Assemble ``req.part`` of a blueprint dict from the database items; returns ``(paper or None, outcome)``.

    ``row`` is the stored blueprint (None for a blueprint file given to the CLI: its canonical hash is
    stored); ``store=False`` is a dry run (nothing written). Raises :class:`Infeasible` (nothing stored)."""
    from . import papers_assembly

    spec = part_spec(spec_full, req.part)
    spec["grade"] = grade
    spec.setdefault("occupation", occ.code)
    el = spec.setdefault("eligibility", {}) or {}
    spec["eligibility"] = el
    if req.exclude_recent is not None:
        el["exclude_recent_papers"] = req.exclude_recent
    if req.max_exposure is not None:
        el["max_exposure"] = req.max_exposure
    seed = req.seed if req.seed is not None else secrets.randbelow(2 ** 31)
    kp_index = kp_index_for(occ, grade)
    items = bank_items(occ, grade, el.get("statuses") or ("approved",))
    recent = recent_papers(occ, grade, req.station_id, int(el.get("exclude_recent_papers") or 0))
    exposure = exposure_rates(occ, grade)
    try:
        outcome = papers_assembly.run(items, spec, kp_index, grade, forms=req.forms, seed=seed,
                                      time_limit=float(req.time_limit), recent_papers=recent, exposure=exposure,
                                      occupation=occ.code)
    except qb_blueprint.BlueprintError as e:
        raise PaperServiceError([_msg_from_problem(p) for p in e.problems]) from e
    except ValueError as e:  # an item the assembler cannot use (bad stored data)
        raise PaperServiceError([Message("items", f"题库数据无法用于组卷：{e}", f"the bank cannot be assembled: {e}",
                                         "bad_item")]) from e
    if not outcome.ok:
        db.session.rollback()
        raise Infeasible(outcome.findings, eligible=outcome.eligible, excluded=outcome.excluded)
    if not store:
        return None, outcome
    spec_hash = row.spec_hash if row is not None else qb_blueprint.blueprint_hash(spec_full)
    name = (req.name or "").strip() or (f"{row.name if row is not None else spec_full.get('name') or occ.work_type or occ.name}"
                                        f" · {'理论知识' if req.part == 'theory' else '操作技能'}")
    return _store_paper(occ, grade, row, spec_hash, name, req, spec, seed, outcome, items, actor), outcome


def _store_paper(occ: Occupation, grade: int, row: Blueprint | None, spec_hash: str, name: str, req: AssemblyRequest,
                 spec: dict, seed: int, outcome, items: list[dict], actor) -> Paper:
    version_ids = {(str(d["id"]), int(d["version"])): d["version_id"] for d in items}
    now = clock.now()
    part_d = spec.get(req.part) or {}
    duration = int(round(float(part_d.get("duration_min") or 120)))
    total = float(part_d.get("total_points") or 100)
    report = dict(outcome.report)
    report["part"] = req.part
    report["part_blueprint_hash"] = outcome.blueprint_hash
    paper = Paper(occupation_id=occ.id, grade=grade, part=req.part, name=name[:200],
                  blueprint_id=row.id if row is not None else None, blueprint_hash=spec_hash, seed=seed,
                  solver=outcome.solver[:100], check_report=report, duration_min=duration, total_points=total,
                  station_id=req.station_id, created_by=getattr(actor, "id", None), created_at=now)
    db.session.add(paper)
    db.session.flush()
    counts = {}
    for label, slots in outcome.forms:
        form = PaperForm(paper_id=paper.id, label=label)
        db.session.add(form)
        db.session.flush()
        for s in slots:
            vid = version_ids[(str(s["item_id"]), int(s["version"]))]
            db.session.add(PaperItem(form_id=form.id, position=int(s["position"]), section=str(s["section"])[:64],
                                     item_version_id=vid, points=float(s["points"]), weight=s.get("weight")))
            item_id = int(s["item_id"])
            if item_id not in counts:
                counts[item_id] = label
                db.session.add(ItemUsage(item_id=item_id, item_version_id=vid, paper_id=paper.id, form_label=label,
                                         station_id=req.station_id, occupation_id=occ.id, grade=grade, used_at=now))
    for item in db.session.execute(select(Item).where(Item.id.in_(list(counts)))).scalars():
        item.exposure_count = (item.exposure_count or 0) + 1
    audit.record("paper.assemble", "paper", paper.id, actor=actor, after={
        "name": paper.name, "blueprint_id": paper.blueprint_id, "blueprint_hash": spec_hash, "part": req.part,
        "forms": [lab for lab, _ in outcome.forms], "seed": seed, "solver": paper.solver,
        "station_id": req.station_id, "items": len(counts), "passed": report.get("passed")})
    db.session.commit()
    return paper


# ----------------------------------------------------------------------------------------------
# papers: listing, ownership, view models
# ----------------------------------------------------------------------------------------------
def visible_papers_query(user):
    q = select(Paper).order_by(Paper.created_at.desc(), Paper.id.desc())
    if getattr(user, "role", None) != "admin":
        q = q.where(Paper.station_id == getattr(user, "station_id", None), Paper.station_id.is_not(None))
    return q


def list_papers(user, limit: int = 200) -> list[Paper]:
    return list(db.session.execute(visible_papers_query(user).limit(limit)).scalars())


def paper_for(user, paper_id: int) -> Paper | None:
    """The paper if ``user`` may see it (admin: all; a station manager: their station's), else None."""
    paper = db.session.get(Paper, paper_id)
    if paper is None:
        return None
    if getattr(user, "role", None) == "admin":
        return paper
    if paper.station_id is not None and paper.station_id == getattr(user, "station_id", None):
        return paper
    return None


def paper_view(paper: Paper) -> dict:
    """Plain data for the preview and print templates: per form its sections and items (item dicts
    with paper points), the check report split per form, and the header fields."""
    occ = db.session.get(Occupation, paper.occupation_id)
    station = db.session.get(Station, paper.station_id) if paper.station_id else None
    names = area_names(occ)
    kp_names = dict(db.session.execute(select(KnowledgeNode.code, KnowledgeNode.name).where(
        KnowledgeNode.occupation_id == occ.id)).all())
    report = paper.check_report or {}
    # papers assembled before the checker stored Chinese texts get them from the same translation
    checks = [c if "target_zh" in c else {**c, "target_zh": qb_check.zh_text(c.get("target", "")),
                                          "achieved_zh": qb_check.zh_text(c.get("achieved", ""))}
              for c in report.get("checks") or []]
    forms = []
    for form in paper.forms:
        sections: list[dict] = []
        for pi in form.items:
            ver = pi.item_version
            d = ver.to_dict(occ.code, "")
            d.update(position=pi.position, paper_points=pi.points, weight=pi.weight, section=pi.section,
                     kp_name=kp_names.get(ver.kp_code, ""), version_id=ver.id)
            if not sections or sections[-1]["section"] != pi.section:
                sections.append({"section": pi.section, "type": ver.type, "items": [], "points": 0.0})
            sections[-1]["items"].append(d)
            sections[-1]["points"] += pi.points
        for s in sections:
            s["first"] = s["items"][0]["position"]
            s["last"] = s["items"][-1]["position"]
            s["item_points"] = s["items"][0]["paper_points"]
            s["uniform"] = all(abs(i["paper_points"] - s["item_points"]) < 1e-9 for i in s["items"])
        forms.append({
            "label": form.label, "sections": sections,
            "n_items": sum(len(s["items"]) for s in sections),
            "points": sum(s["points"] for s in sections),
            "checks": [c for c in checks if c.get("form") == form.label],
        })
    return {
        "paper": paper, "occupation": occ, "station": station, "area_names": names, "forms": forms,
        "cross_checks": [c for c in checks if not c.get("form")], "report": report,
    }


def print_materials(view: dict, form_label: str) -> dict:
    """Materials and equipment of a practical form's tasks (for the 准备通知单), de-duplicated in order."""
    mats: list[str] = []
    equip: list[str] = []
    for f in view["forms"]:
        if f["label"] != form_label:
            continue
        for s in f["sections"]:
            for it in s["items"]:
                for m in it.get("materials") or []:
                    if m not in mats:
                        mats.append(m)
                for e in it.get("equipment") or []:
                    if e not in equip:
                        equip.append(e)
    return {"materials": mats, "equipment": equip}


# ----------------------------------------------------------------------------------------------
# demo
# ----------------------------------------------------------------------------------------------
def load_demo_blueprints(actor=None) -> int:
    """Store every examples/blueprints/<occupation>-<grade>-*.yaml whose occupation exists (the demo commits).

    Returns the number stored. Files for occupations that are not loaded are skipped."""
    from ..config import ROOT

    n = 0
    for path in sorted((ROOT / "examples" / "blueprints").glob("[0-9]*-*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not data.get("occupation") or not data.get("grade"):
            continue
        occ = taxonomy_service.get_occupation_by_code(str(data["occupation"]))
        if occ is None:
            continue
        exists = db.session.execute(select(Blueprint.id).where(
            Blueprint.occupation_id == occ.id, Blueprint.grade == int(data["grade"]),
            Blueprint.name == str(data.get("name") or path.stem))).first()
        if exists:
            continue
        parsed, messages = validate_spec(occ, int(data["grade"]), data)
        if parsed is None:
            continue
        spec = parsed.to_dict()
        now = clock.now()
        row = Blueprint(occupation_id=occ.id, grade=int(data["grade"]), name=str(data.get("name") or path.stem)[:200],
                        spec=spec, spec_hash=qb_blueprint.blueprint_hash(parsed), created_by=getattr(actor, "id", None),
                        created_at=now, updated_at=now)
        db.session.add(row)
        db.session.flush()
        audit.record("blueprint.create", "blueprint", row.id, actor=actor, actor_label=None if actor else "demo",
                     after={"name": row.name, "occupation": occ.code, "grade": row.grade, "spec_hash": row.spec_hash,
                            "file": path.name})
        n += 1
    return n

"""Occupations and their 鉴定要素细目表 tree: load from the taxonomy dict (docs/items.md) and query."""
from __future__ import annotations

from sqlalchemy import delete, or_, select

from ..extensions import db
from ..models import KnowledgeNode, Occupation, WeightEntry
from . import audit


def get_occupation_by_code(code: str) -> Occupation | None:
    return db.session.execute(select(Occupation).where(Occupation.code == code)).scalar_one_or_none()


def list_occupations() -> list[Occupation]:
    return list(db.session.execute(select(Occupation).order_by(Occupation.code)).scalars())


def upsert_taxonomy(data: dict, actor=None) -> Occupation:
    """Create or replace an occupation's tree and weight tables from a taxonomy dict (already validated).
    Existing nodes are updated in place by code (items keep pointing at them); nodes no longer listed
    are kept only while items reference them. The caller commits."""
    occ_d = data["occupation"]
    occ = get_occupation_by_code(occ_d["code"])
    before = None
    if occ is None:
        occ = Occupation(code=occ_d["code"], name=occ_d["name"], work_type=occ_d.get("work_type", ""),
                         grades=list(data.get("grades", [])))
        db.session.add(occ)
        db.session.flush()
    else:
        before = {"name": occ.name, "work_type": occ.work_type, "grades": occ.grades}
        occ.name, occ.work_type = occ_d["name"], occ_d.get("work_type", "")
        occ.grades = list(data.get("grades", occ.grades or []))
    existing = {n.code: n for n in db.session.execute(
        select(KnowledgeNode).where(KnowledgeNode.occupation_id == occ.id)).scalars()}

    def put(code, name, level, parent, part, importance=None, grades=None):
        node = existing.get(code)
        if node is None:
            node = KnowledgeNode(occupation_id=occ.id, code=code)
            db.session.add(node)
            existing[code] = node
        node.name, node.level, node.parent, node.part = name, level, parent, part
        node.importance, node.grades = importance, list(grades or [])
        return node

    for area in data.get("tree", []):
        part = area.get("part", "theory")
        a = put(area["code"], area["name"], 1, None, part, grades=data.get("grades", []))
        for unit in area.get("units", []):
            u = put(unit["code"], unit["name"], 2, a, unit.get("part", part), grades=data.get("grades", []))
            for p in unit.get("points", []):
                put(p["code"], p["name"], 3, u, p.get("part", unit.get("part", part)), p.get("importance", "X"),
                    p.get("grades", data.get("grades", [])))
    db.session.execute(delete(WeightEntry).where(WeightEntry.occupation_id == occ.id))
    for part, per_grade in (data.get("weights") or {}).items():
        for grade, areas in (per_grade or {}).items():
            for area_code, weight in (areas or {}).items():
                db.session.add(WeightEntry(occupation_id=occ.id, grade=int(grade), part=part,
                                           area_code=str(area_code), weight=float(weight)))
    db.session.flush()
    audit.record("taxonomy.import", "occupation", occ.id, actor=actor, before=before,
                 after={"code": occ.code, "name": occ.name, "nodes": len(existing)})
    return occ


def subtree_condition(code: str):
    """SQL condition selecting a node code and every code below it (codes are hierarchical, '-' separated)."""
    return or_(KnowledgeNode.code == code, KnowledgeNode.code.like(code.replace("%", r"\%") + "-%"))


def taxonomy_dict(occ: Occupation) -> dict:
    """The occupation's tree and weights as the taxonomy dict of docs/items.md."""
    nodes = list(db.session.execute(select(KnowledgeNode).where(KnowledgeNode.occupation_id == occ.id)
                                    .order_by(KnowledgeNode.code)).scalars())
    by_parent: dict = {}
    for n in nodes:
        by_parent.setdefault(n.parent_id, []).append(n)
    tree = []
    for a in by_parent.get(None, []):
        units = []
        for u in by_parent.get(a.id, []):
            pts = [{"code": p.code, "name": p.name, "importance": p.importance or "X", "grades": list(p.grades or [])}
                   for p in by_parent.get(u.id, [])]
            units.append({"code": u.code, "name": u.name, "points": pts})
        tree.append({"code": a.code, "name": a.name, "part": a.part, "units": units})
    weights: dict = {}
    for w in db.session.execute(select(WeightEntry).where(WeightEntry.occupation_id == occ.id)).scalars():
        weights.setdefault(w.part, {}).setdefault(w.grade, {})[w.area_code] = w.weight
    return {"occupation": {"code": occ.code, "name": occ.name, "work_type": occ.work_type},
            "grades": list(occ.grades or []), "weights": weights, "tree": tree}


class TaxonomyRejected(ValueError):
    """The taxonomy (or an edit of it) is invalid; ``problems`` lists every problem, nothing was stored."""

    def __init__(self, problems):
        super().__init__("; ".join(p.message_en for p in problems))
        self.problems = list(problems)


def apply_taxonomy(data: dict, actor=None, *, allow_new: bool = True) -> Occupation:
    """Validate a whole taxonomy dict and store it: nodes are updated in place by code, new ones added,
    and nodes that are no longer listed are removed — unless items still refer to them (then the edit is
    refused with a problem naming the node). Commits; on any problem nothing is stored."""
    from question_bank.messages import Problem
    from question_bank.taxonomy import validate_taxonomy

    from ..models import Item

    problems = [p for p in validate_taxonomy(data) if p.is_error]
    if problems:
        raise TaxonomyRejected(problems)
    occ = get_occupation_by_code(data["occupation"]["code"])
    if occ is None and not allow_new:
        raise TaxonomyRejected([Problem("occupation.code", "unknown_occupation", "职业不存在", "unknown occupation")])
    listed = {area["code"] for area in data.get("tree", [])}
    for area in data.get("tree", []):
        for unit in area.get("units", []):
            listed.add(unit["code"])
            listed.update(p["code"] for p in unit.get("points", []))
    removed: list[KnowledgeNode] = []
    if occ is not None:
        for node in db.session.execute(select(KnowledgeNode).where(KnowledgeNode.occupation_id == occ.id)).scalars():
            if node.code not in listed:
                removed.append(node)
        used = set(db.session.execute(select(Item.kp_id).where(Item.kp_id.in_([n.id for n in removed]))).scalars())
        blocked = [n for n in removed if n.id in used]
        if blocked:
            raise TaxonomyRejected([Problem(f"tree.{n.code}", "node_in_use",
                                            f"鉴定点 {n.code} 仍有试题引用，不能删除",
                                            f"knowledge point {n.code} is still used by items and cannot be removed")
                                    for n in blocked])
    try:
        occ = upsert_taxonomy(data, actor=actor)
        # delete deepest first so parents are free of children
        for node in sorted(removed, key=lambda n: -n.level):
            db.session.delete(node)
            db.session.flush()
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return occ


def node_counts(occ: Occupation) -> dict[str, int]:
    """Number of items per knowledge-point code of the occupation."""
    from sqlalchemy import func

    from ..models import Item
    rows = db.session.execute(select(Item.kp_code, func.count()).where(Item.occupation_id == occ.id)
                              .group_by(Item.kp_code)).all()
    return {code: n for code, n in rows}

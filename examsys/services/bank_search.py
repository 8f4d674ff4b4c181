"""The bank browser's query: filters, free text (Chinese too), facet counts, pagination.

One grouped query computes every facet count (type, status, importance, grade) from a single scan, and
one query fetches the page. Free text is matched against ``Item.search_text``, the near-duplicate
normal form of stem + options (NFKC, case-folded, whitespace and punctuation removed), so "Ｇ７１ 循环"
finds "G71循环".
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import and_, func, or_, select

from question_bank.normalize import normalize_text

from ..extensions import db
from ..models import Item, ItemVersion, Occupation

PAGE_SIZE = 50
FACETS = ("type", "status", "importance", "grade")


@dataclass
class BankQuery:
    """Filters of the bank browser; ``None`` or empty means "any"."""

    occupation_id: int | None = None
    grade: int | None = None  # 1..5
    kp: str | None = None  # knowledge-point code; its whole subtree matches
    type: str | None = None
    status: str | None = None
    importance: str | None = None  # X | Y | Z
    difficulty_min: float | None = None  # 0..1
    difficulty_max: float | None = None
    text: str | None = None
    page: int = 1


@dataclass
class BankPage:
    rows: list[dict]
    total: int
    page: int
    pages: int
    counts: dict[str, dict] = field(default_factory=dict)  # facet -> value -> count (other filters applied)


def _like_escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _base_conditions(q: BankQuery, viewer) -> list:
    cond = []
    if q.occupation_id:
        cond.append(Item.occupation_id == q.occupation_id)
    if q.kp:
        code = q.kp.strip()
        cond.append(or_(Item.kp_code == code, Item.kp_code.like(_like_escape(code) + "-%", escape="\\")))
    if q.difficulty_min is not None:
        cond.append(Item.difficulty >= q.difficulty_min)
    if q.difficulty_max is not None:
        cond.append(Item.difficulty <= q.difficulty_max)
    if q.text:
        needle = normalize_text(q.text)
        if needle:
            cond.append(Item.search_text.like("%" + _like_escape(needle) + "%", escape="\\"))
    role = getattr(viewer, "role", None)
    if role == "writer":  # other writers' drafts are private
        cond.append(or_(Item.status != "draft", Item.created_by == viewer.id))
    elif role == "station_manager":
        cond.append(Item.status == "approved")
    return cond


def _facet_conditions(q: BankQuery, skip: str | None) -> list:
    cond = []
    if q.type and skip != "type":
        cond.append(Item.type == q.type)
    if q.status and skip != "status":
        cond.append(Item.status == q.status)
    if q.importance and skip != "importance":
        cond.append(Item.importance == q.importance)
    if q.grade and skip != "grade":
        cond.append(Item.grade_mask.op("&")(1 << int(q.grade)) != 0)
    return cond


def _matches(row, q: BankQuery, skip: str) -> bool:
    t, s, imp, mask = row
    return ((not q.type or skip == "type" or t == q.type)
            and (not q.status or skip == "status" or s == q.status)
            and (not q.importance or skip == "importance" or imp == q.importance)
            and (not q.grade or skip == "grade" or mask & (1 << int(q.grade))))


def search(q: BankQuery, viewer=None, page_size: int = PAGE_SIZE) -> BankPage:
    """Run the bank browser query. Facet counts for each facet apply every filter except that facet's own,
    so a user can see how many items switching the facet would give."""
    base = _base_conditions(q, viewer)
    grouped = db.session.execute(
        select(Item.type, Item.status, Item.importance, Item.grade_mask, func.count())
        .where(and_(True, *base))
        .group_by(Item.type, Item.status, Item.importance, Item.grade_mask)
    ).all()
    counts: dict[str, dict] = {f: {} for f in FACETS}
    total = 0
    for t, s, imp, mask, n in grouped:
        key = (t, s, imp, mask)
        if _matches(key, q, skip=""):
            total += n
        if _matches(key, q, "type"):
            counts["type"][t] = counts["type"].get(t, 0) + n
        if _matches(key, q, "status"):
            counts["status"][s] = counts["status"].get(s, 0) + n
        if _matches(key, q, "importance") and imp:
            counts["importance"][imp] = counts["importance"].get(imp, 0) + n
        if _matches(key, q, "grade"):
            for g in range(1, 6):
                if mask & (1 << g):
                    counts["grade"][g] = counts["grade"].get(g, 0) + n
    pages = max(1, -(-total // page_size))
    page = min(max(1, q.page), pages)
    rows = db.session.execute(
        select(Item.id, Item.type, Item.status, Item.kp_code, Item.importance, Item.grade_mask, Item.difficulty,
               Item.points, Item.updated_at, ItemVersion.number, ItemVersion.stem, Occupation.code)
        .join(ItemVersion, ItemVersion.id == Item.current_version_id)
        .join(Occupation, Occupation.id == Item.occupation_id)
        .where(and_(True, *base, *_facet_conditions(q, None)))
        .order_by(Item.id.desc())
        .offset((page - 1) * page_size).limit(page_size)
    ).all()
    out = [{
        "id": r[0], "type": r[1], "status": r[2], "kp": r[3], "importance": r[4],
        "grades": [g for g in range(5, 0, -1) if r[5] & (1 << g)], "difficulty": r[6], "points": r[7],
        "updated_at": r[8], "version": r[9], "stem": r[10], "occupation": r[11],
    } for r in rows]
    return BankPage(rows=out, total=total, page=page, pages=pages, counts=counts)

"""Append entries to the hash-chained audit log (DESIGN.md decision 7).

:func:`record` adds the entry to the current transaction; the caller's service commits it together
with the change it describes, so a change and its audit row stand or fall together.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
from typing import Any

from sqlalchemy import select

from .. import clock
from ..extensions import db
from ..models import AuditHead, AuditLog

GENESIS = "0" * 64


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def entry_hash(prev_hash: str, fields: dict) -> str:
    return hashlib.sha256((prev_hash + _canonical(fields)).encode("utf-8")).hexdigest()


def record(action: str, object_type: str, object_id: Any, *, actor=None, actor_label: str | None = None,
           before: dict | None = None, after: dict | None = None, reason: str = "",
           at: _dt.datetime | None = None) -> AuditLog:
    """Add one audit entry (who, when, what, before, after, reason) to the session, chained to the last.
    ``at`` (timezone-aware, UTC): when the change happened, when it is recorded later (default: now)."""
    head = db.session.execute(select(AuditHead).where(AuditHead.id == 1).with_for_update()).scalar_one_or_none()
    if head is None:
        head = AuditHead(id=1, last_hash=GENESIS, count=0)
        db.session.add(head)
    at = at or clock.now()
    label = actor_label or (getattr(actor, "username", None) or "system")
    fields = {
        "at": at.isoformat(), "actor": label, "action": action, "object_type": object_type,
        "object_id": str(object_id), "before": before, "after": after, "reason": reason,
    }
    h = entry_hash(head.last_hash, fields)
    entry = AuditLog(at=at, actor_id=getattr(actor, "id", None), actor_label=label, action=action,
                     object_type=object_type, object_id=str(object_id), before=before, after=after,
                     reason=reason, prev_hash=head.last_hash, hash=h)
    head.last_hash = h
    head.count = (head.count or 0) + 1
    db.session.add(entry)
    return entry


def verify_chain() -> tuple[bool, int | None]:
    """Recompute the chain; return ``(True, None)`` or ``(False, id of the first bad entry)``."""
    prev = GENESIS
    for e in db.session.execute(select(AuditLog).order_by(AuditLog.id)).scalars():
        fields = {
            "at": e.at.isoformat(), "actor": e.actor_label, "action": e.action, "object_type": e.object_type,
            "object_id": e.object_id, "before": e.before, "after": e.after, "reason": e.reason,
        }
        if e.prev_hash != prev or entry_hash(prev, fields) != e.hash:
            return False, e.id
        prev = e.hash
    return True, None


def page_of_entries(page: int, per_page: int = 50, object_type: str | None = None):
    """Newest first; returns ``(entries, number_of_pages)``."""
    from sqlalchemy import func
    q = select(AuditLog)
    cq = select(func.count(AuditLog.id))
    if object_type:
        q = q.where(AuditLog.object_type == object_type)
        cq = cq.where(AuditLog.object_type == object_type)
    total = db.session.execute(cq).scalar_one()
    rows = db.session.execute(q.order_by(AuditLog.id.desc()).offset((page - 1) * per_page).limit(per_page)).scalars()
    return list(rows), max(1, -(-total // per_page))


def entries_for(object_type: str, object_id) -> list[AuditLog]:
    return list(db.session.execute(
        select(AuditLog).where(AuditLog.object_type == object_type, AuditLog.object_id == str(object_id))
        .order_by(AuditLog.id)).scalars())

"""Finalisation of attempts (交卷/收卷): once, from the last saved answers (DESIGN.md decision 5).

:func:`finalise` is a conditional ``UPDATE exam_attempt SET status=... WHERE status IN ('not_started',
'in_progress')`` — only one caller can win, so a double submit, the sweeper and a proctor racing each other
finalise once. It freezes the responses (a digest of them is stored) and then runs the post-finalisation
work (machine marking, results, statistics) through :func:`run_finalised_hooks`.
Attempts past ``deadline + grace`` are finalised from their last saved answers lazily (any candidate request,
the proctor page), by ``examsys exams finalise-due`` and by the sweeper thread (:mod:`examsys.services.sweeper`).
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import importlib
import json
import logging

from sqlalchemy import select, update

from .. import clock
from ..extensions import db
from ..models import AttemptEvent, ExamAttempt, ExamResponse, ExamSession
from ..models.exams import ABSENT, FINAL_STATUSES, OPEN_STATUSES, SUBMITTED
from . import audit, exams

log = logging.getLogger(__name__)


def add_event(session_id: int, attempt_id: int | None, kind: str, *, actor_label: str = "",
              detail: dict | None = None, at: _dt.datetime | None = None) -> AttemptEvent:
    """Add an attempt event (login, save refused, finalised, integrity signal...) to the transaction."""
    ev = AttemptEvent(session_id=session_id, attempt_id=attempt_id, at=at or clock.now(), kind=kind,
                      actor_label=actor_label, detail=detail)
    db.session.add(ev)
    return ev


def get_attempt(attempt_id: int, *, refresh: bool = False) -> ExamAttempt | None:
    if refresh:
        return db.session.execute(select(ExamAttempt).where(ExamAttempt.id == attempt_id)
                                  .execution_options(populate_existing=True)).scalar_one_or_none()
    return db.session.get(ExamAttempt, attempt_id)


def finalise_if_due(att: ExamAttempt, now: _dt.datetime | None = None) -> bool:
    """Finalise ``att`` when its deadline + grace has passed (and it is not paused)."""
    now = now or clock.now()
    if att.status in FINAL_STATUSES or att.deadline is None or att.paused_at is not None:
        return False
    if now <= att.deadline + exams.grace(att.session):
        return False
    return finalise(att.id, "timeout")


def responses_digest(attempt_id: int) -> tuple[str, int]:
    rows = db.session.execute(select(ExamResponse.paper_item_id, ExamResponse.answer, ExamResponse.flagged,
                                     ExamResponse.seq).where(ExamResponse.attempt_id == attempt_id)
                              .order_by(ExamResponse.paper_item_id)).all()
    canonical = json.dumps([[pi, ans, fl, seq] for pi, ans, fl, seq in rows], ensure_ascii=False,
                           sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest(), sum(1 for r in rows if r.answer is not None)


def finalise(attempt_id: int, reason: str, *, actor=None, actor_label: str | None = None, note: str = "",
             commit: bool = True) -> bool:
    """Finalise once (conditional UPDATE). ``reason``: candidate | timeout | proctor | collect_all.
    An attempt never entered becomes ``absent`` (缺考). Returns ``True`` for the caller that finalised it."""
    att = get_attempt(attempt_id, refresh=True)
    if att is None or att.status in FINAL_STATUSES:
        return False
    now = clock.now()
    old_status = att.status
    new_status = SUBMITTED if att.entered_at is not None else ABSENT
    submitted_at = now
    if reason == "timeout" and att.deadline is not None and att.deadline < now:
        submitted_at = att.deadline  # the finish time of a candidate who never came back is the deadline
    res = db.session.execute(update(ExamAttempt).where(ExamAttempt.id == attempt_id,
                                                       ExamAttempt.status.in_(OPEN_STATUSES))
                             .values(status=new_status, submitted_at=submitted_at, finalised_at=now,
                                     submit_reason=reason, paused_at=None))
    if res.rowcount != 1:
        return False
    digest, answered = responses_digest(attempt_id)
    db.session.execute(update(ExamAttempt).where(ExamAttempt.id == attempt_id)
                       .values(final_digest=digest, answered_count=answered))
    label = actor_label or getattr(actor, "username", None) or "system"
    add_event(att.session_id, attempt_id, "finalised", actor_label=label,
           detail={"reason": reason, "status": new_status, "answered": answered})
    audit.record("attempt.finalise", "exam_attempt", attempt_id, actor=actor, actor_label=label,
                 before={"status": old_status},
                 after={"status": new_status, "reason": reason, "answered": answered, "digest": digest,
                        "submitted_at": submitted_at.isoformat()},
                 reason=note or reason)
    if commit:
        db.session.commit()
        run_finalised_hooks([attempt_id])
    return True


def run_finalised_hooks(attempt_ids) -> None:
    """Call ``examsys.services.marking_hooks.on_attempt_finalised(id)`` for each id, when the module exists.
    A failing hook is logged; the finalisation (already committed) stands."""
    try:
        module = importlib.import_module("examsys.services.marking_hooks")
    except ModuleNotFoundError as e:
        if e.name != "examsys.services.marking_hooks":
            raise
        return
    hook = getattr(module, "on_attempt_finalised", None)
    if hook is None:
        return
    for aid in attempt_ids:
        try:
            hook(aid)
        except Exception:  # noqa: BLE001 - the hook must not undo a finalisation
            db.session.rollback()
            log.exception("marking hook failed for attempt %s", aid)


def finalise_due() -> int:
    """Start due auto-start sessions and finalise every attempt past its deadline + grace.
    Returns the number finalised (run by the sweeper and ``examsys exams finalise-due``)."""
    exams.autostart_due()
    now = clock.now()
    rows = db.session.execute(
        select(ExamAttempt.id, ExamAttempt.deadline, ExamSession.grace_seconds)
        .join(ExamSession, ExamSession.id == ExamAttempt.session_id)
        .where(ExamAttempt.status.in_(OPEN_STATUSES), ExamAttempt.deadline.is_not(None),
               ExamAttempt.paused_at.is_(None), ExamAttempt.deadline < now)).all()
    n = 0
    for aid, deadline, grace_s in rows:
        if deadline + _dt.timedelta(seconds=grace_s) < now and finalise(aid, "timeout"):
            n += 1
    return n


def finalise_due_in_session(sess: ExamSession) -> int:
    """Lazy finalisation for one session (the proctor page polls it)."""
    now = clock.now()
    rows = db.session.execute(
        select(ExamAttempt.id, ExamAttempt.deadline)
        .where(ExamAttempt.session_id == sess.id, ExamAttempt.status.in_(OPEN_STATUSES),
               ExamAttempt.deadline.is_not(None), ExamAttempt.paused_at.is_(None),
               ExamAttempt.deadline < now - exams.grace(sess))).all()
    return sum(1 for aid, _d in rows if finalise(aid, "timeout"))



"""Finalisation of attempts (交卷/收卷): once, from the last saved answers (DESIGN.md decision 5).

:func:`finalise` is a conditional ``UPDATE exam_attempt SET status=... WHERE id = :id AND status = :seen``
(the open status it read a moment before) — only one caller can win, so a double submit, the sweeper and a
proctor racing each other finalise once. In the same short transaction it freezes the responses (a digest
of them and the answered count are stored) and adds the ``finalised`` attempt event, which names who
finalised and why. That is all a hand-in waits for.

The rest — machine marking, draft results, statistics and the ``attempt.finalise`` audit entry (the audit
log is a hash chain with one head row, so writing it in every hand-in would serialise a deadline burst) — is
done afterwards, exactly once, by :mod:`examsys.services.post_finalise`: :func:`run_finalised_hooks` hands
the ids over (in the request with ``EXAMS_POST_FINALISE_INLINE``, else to a background thread), and the
sweeper and ``examsys exams finalise-due`` catch up on anything left (``exam_attempt.processed_at`` is NULL
until it is done).

Attempts past ``deadline + grace`` are finalised from their last saved answers lazily (any candidate request,
the proctor page), by ``examsys exams finalise-due`` and by the sweeper thread (:mod:`examsys.services.sweeper`).
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging

from sqlalchemy import and_, case, insert, literal, select, update

from .. import clock
from ..extensions import db
from ..models import AttemptEvent, ExamAttempt, ExamResponse, ExamSession
from ..models.exams import ABSENT, FINAL_STATUSES, IN_PROGRESS, NOT_STARTED, OPEN_STATUSES, SUBMITTED
from ..models.types import UTCDateTime
from . import exams

log = logging.getLogger(__name__)
_A = ExamAttempt.__table__
_E = AttemptEvent.__table__
_R = ExamResponse.__table__


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
    """(sha256 hex digest of the attempt's stored responses in a canonical JSON form, number answered)."""
    rows = db.session.execute(select(_R.c.paper_item_id, _R.c.answer, _R.c.flagged, _R.c.seq)
                              .where(_R.c.attempt_id == attempt_id).order_by(_R.c.paper_item_id)).all()
    canonical = json.dumps([[pi, ans, fl, seq] for pi, ans, fl, seq in rows], ensure_ascii=False,
                           sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest(), sum(1 for r in rows if r.answer is not None)


def finalise(attempt_id: int, reason: str, *, actor=None, actor_label: str | None = None, note: str = "",
             commit: bool = True) -> bool:
    """Finalise once (conditional UPDATE). ``reason``: candidate | timeout | proctor | collect_all.
    An attempt never entered becomes ``absent`` (缺考). Returns ``True`` for the caller that finalised it.

    With ``commit`` the transaction is committed and the post-finalisation (marking, audit entry) handed to
    :func:`run_finalised_hooks`; without it the caller commits and then calls :func:`run_finalised_hooks`.
    Core statements (no ORM rows: an :class:`ExamAttempt` this session holds is not refreshed until the
    commit expires it); for an attempt in progress: the conditional ``UPDATE ... RETURNING``, the responses'
    digest read, one UPDATE of the digest, the event INSERT."""
    now = clock.now()
    won = _close(attempt_id, reason, now)
    if won is None:
        return False
    session_id, old_status, new_status = won
    digest, answered = responses_digest(attempt_id)
    db.session.execute(update(_A).where(_A.c.id == attempt_id).values(final_digest=digest, answered_count=answered))
    label = actor_label or getattr(actor, "username", None) or "system"
    # "audit": what the post-finalisation's audit entry needs besides the attempt row (never shown to people)
    db.session.execute(insert(_E).values(
        session_id=session_id, attempt_id=attempt_id, at=now, kind="finalised", actor_label=label,
        detail={"reason": reason, "status": new_status, "answered": answered,
                "audit": {"before": old_status, "actor_id": getattr(actor, "id", None), "reason": note or reason}}))
    if commit:
        db.session.commit()
        run_finalised_hooks([attempt_id])
    return True


def _close(attempt_id: int, reason: str, now: _dt.datetime) -> tuple[int, str, str] | None:
    """The conditional UPDATE of :func:`finalise`: ``(session id, status before, status after)`` for the
    caller that won, ``None`` when the attempt is missing or already final."""
    if db.session.get_bind().dialect.update_returning:
        # the common case in one statement: an attempt in progress (status ``in_progress`` is set together
        # with ``entered_at``; the CASE keeps the rule "never entered -> absent" exact anyway)
        at = literal(now, UTCDateTime())
        finish = at
        if reason == "timeout":  # the finish time of a candidate who never came back is the deadline
            finish = case((and_(_A.c.deadline.is_not(None), _A.c.deadline < at), _A.c.deadline), else_=at)
        got = db.session.execute(
            update(_A).where(_A.c.id == attempt_id, _A.c.status == IN_PROGRESS)
            .values(status=case((_A.c.entered_at.is_not(None), SUBMITTED), else_=ABSENT), submitted_at=finish,
                    finalised_at=now, submit_reason=reason, paused_at=None)
            .returning(_A.c.session_id, _A.c.status)).first()
        if got is not None:
            return got.session_id, IN_PROGRESS, got.status
    for _try in range(3):  # read, then update if unchanged (a concurrent not_started -> in_progress: again)
        row = db.session.execute(select(_A.c.status, _A.c.entered_at, _A.c.deadline, _A.c.session_id)
                                 .where(_A.c.id == attempt_id)).one_or_none()
        if row is None or row.status not in OPEN_STATUSES:
            return None
        entered = row.entered_at is not None
        new_status = SUBMITTED if entered else ABSENT
        submitted_at = now
        if reason == "timeout" and row.deadline is not None and row.deadline < now:
            submitted_at = row.deadline
        res = db.session.execute(
            update(_A).where(_A.c.id == attempt_id, _A.c.status == row.status,
                             _A.c.entered_at.is_not(None) if entered else _A.c.entered_at.is_(None))
            .values(status=new_status, submitted_at=submitted_at, finalised_at=now, submit_reason=reason,
                    paused_at=None))
        if res.rowcount == 1:
            return row.session_id, row.status, new_status
    return None


def before_status(new_status: str) -> str:
    """The open status an attempt had before it was finalised to ``new_status`` (for events without it)."""
    return IN_PROGRESS if new_status == SUBMITTED else NOT_STARTED


def run_finalised_hooks(attempt_ids) -> None:
    """Hand committed finalisations to the post-finalisation (machine marking, results, statistics, the
    ``attempt.finalise`` audit entry): :func:`examsys.services.post_finalise.enqueue`. Call it after the
    commit. Never raises: the finalisation stands, and anything not processed is picked up later."""
    from . import post_finalise
    post_finalise.enqueue(attempt_ids)


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



"""Finalisation of attempts (交卷/收卷): once, from the last saved answers (DESIGN.md decision 5).

:func:`finalise` is a conditional ``UPDATE exam_attempt SET status=... WHERE id = :id AND status = ...`` —
only one caller can win, so a double submit, the sweeper and a proctor racing each other finalise once. In
the same short transaction it adds the ``finalised`` attempt event, which names who finalised and why. That
is all a hand-in waits for: for an attempt in progress (the common case) it is ONE statement on PostgreSQL —
a data-modifying CTE ``WITH up AS (UPDATE exam_attempt ... RETURNING session_id) INSERT INTO
exam_attempt_event ... SELECT ... FROM up`` — and two on SQLite (no DML in a CTE there: ``UPDATE ...
RETURNING``, then the INSERT), then the commit. The statements are built once per dialect and take bind
parameters only (building a SQLAlchemy statement costs more CPU than running it here). Anything else (an
attempt never entered, which becomes ``absent``; one already final) takes the general path: read the
attempt, then update it if unchanged.

The hand-in does not read the responses. The digest of the final answers (``final_digest``, the canonical
form of :func:`responses_digest`) and ``answered_count`` are stored by the post-finalisation
(:mod:`examsys.services.post_finalise`, one query for a whole batch), for every finaliser alike (candidate,
proctor, collect-all, sweeper, :func:`finalise_due`, ``finalise(commit=False)`` callers). That is safe
because the responses cannot change once the finalising UPDATE has committed: a save's upsert carries the
guard "attempt status is ``in_progress``" in the same statement (so a save that starts later is refused),
and on PostgreSQL a save holds ``FOR SHARE`` on the attempt row from its first read to its commit, so the
finalising UPDATE waits for a save in flight and the save's answer is in what the post-finalisation digests
(on SQLite writers take turns on the database's write lock). Until the post-finalisation has run,
``final_digest`` and ``answered_count`` are NULL (the hand-in page counts the answers live:
:attr:`examsys.models.exams.ExamAttempt.answered`).

The rest — digest, machine marking, draft results, statistics and the ``attempt.finalise`` audit entry (the
audit log is a hash chain with one head row, so writing it in every hand-in would serialise a deadline burst)
— is done afterwards, exactly once, by :mod:`examsys.services.post_finalise`: :func:`run_finalised_hooks`
hands the ids over (in the request with ``EXAMS_POST_FINALISE_INLINE``, else to a background thread), and
the sweeper and ``examsys exams finalise-due`` catch up on anything left (``exam_attempt.processed_at`` is
NULL until it is done).

Attempts past ``deadline + grace`` are finalised from their last saved answers lazily (any candidate request,
the proctor page), by ``examsys exams finalise-due`` and by the sweeper thread (:mod:`examsys.services.sweeper`).
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
from typing import Any, NamedTuple

from sqlalchemy import bindparam, case, insert, literal, null, select, update

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


def digest_rows(rows) -> tuple[str, int]:
    """(sha256 hex digest, number answered) of one attempt's responses given as ``(paper_item_id, answer,
    flagged, seq)`` rows in ``paper_item_id`` order — the one definition of the canonical form (a JSON list
    of ``[paper_item_id, answer, flagged, seq]``, sorted keys, no spaces, UTF-8)."""
    canonical = json.dumps([[pi, ans, fl, seq] for pi, ans, fl, seq in rows], ensure_ascii=False,
                           sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest(), sum(1 for r in rows if r[1] is not None)


def responses_digest(attempt_id: int) -> tuple[str, int]:
    """(sha256 hex digest of the attempt's stored responses in a canonical JSON form, number answered)."""
    rows = db.session.execute(select(_R.c.paper_item_id, _R.c.answer, _R.c.flagged, _R.c.seq)
                              .where(_R.c.attempt_id == attempt_id).order_by(_R.c.paper_item_id)).all()
    return digest_rows(rows)


def finalise(attempt_id: int, reason: str, *, actor=None, actor_label: str | None = None, note: str = "",
             commit: bool = True) -> bool:
    """Finalise once (conditional UPDATE). ``reason``: candidate | timeout | proctor | collect_all.
    An attempt never entered becomes ``absent`` (缺考). Returns ``True`` for the caller that finalised it.

    With ``commit`` the transaction is committed and the post-finalisation (digest and answered count,
    marking, audit entry) handed to :func:`run_finalised_hooks`; without it the caller commits and then calls
    :func:`run_finalised_hooks`. Core statements (no ORM rows: an :class:`ExamAttempt` this session holds is
    not refreshed until the commit expires it). For an attempt in progress: one statement on PostgreSQL (the
    UPDATE and the event's INSERT in a CTE), ``UPDATE ... RETURNING`` + INSERT elsewhere; otherwise the
    general path (:func:`_close`, then the INSERT)."""
    now = clock.now()
    label = actor_label or getattr(actor, "username", None) or "system"
    audit_extra = {"actor_id": getattr(actor, "id", None), "reason": note or reason}
    # the event's detail: "audit" is what the post-finalisation's audit entry needs besides the attempt row
    # (never shown to people); the answered count is in the audit entry (computed by the post-finalisation)
    params = {"p_id": attempt_id, "p_now": now, "p_reason": reason, "p_label": label,
              "p_cap": now if reason == "timeout" else None,
              "p_detail": {"reason": reason, "status": SUBMITTED, "audit": {"before": IN_PROGRESS, **audit_extra}}}
    stmts = _statements(db.session.get_bind().dialect)
    won = False
    if stmts.cte is not None:  # PostgreSQL: the finalisation and its event in one statement
        won = db.session.execute(stmts.cte, params).first() is not None
    elif stmts.close is not None:  # SQLite: UPDATE ... RETURNING, then the INSERT
        got = db.session.execute(stmts.close, params).first()
        if got is not None:
            db.session.execute(stmts.event, {**params, "p_session": got[0]})
            won = True
    if not won:  # not in progress (never entered -> absent), already final, or missing
        closed = _close(attempt_id, reason, now)
        if closed is None:
            return False
        session_id, old_status, new_status = closed
        params["p_detail"] = {"reason": reason, "status": new_status,
                              "audit": {"before": old_status, **audit_extra}}
        db.session.execute(stmts.event, {**params, "p_session": session_id})
    if commit:
        db.session.commit()
        run_finalised_hooks([attempt_id])
    return True


class _Statements(NamedTuple):
    cte: Any  # PostgreSQL: WITH up AS (UPDATE ... RETURNING session_id) INSERT INTO event ... SELECT FROM up
    close: Any  # UPDATE ... RETURNING session_id (dialects with UPDATE ... RETURNING), else None
    event: Any  # INSERT of the finalised event


_STATEMENTS: dict[tuple[str, bool], _Statements] = {}


def _statements(dialect) -> _Statements:
    """The finalisation's statements for ``dialect``, built once (bind parameters ``p_*`` only)."""
    key = (dialect.name, bool(dialect.update_returning))
    got = _STATEMENTS.get(key)
    if got is None:
        got = _STATEMENTS[key] = _build_statements(dialect.name == "postgresql", bool(dialect.update_returning))
    return got


def _build_statements(cte: bool, returning: bool) -> _Statements:
    aid = bindparam("p_id", type_=_A.c.id.type)
    now = bindparam("p_now", type_=UTCDateTime())
    # the finish time of a candidate who never came back is the deadline: p_cap is the finalisation time for
    # a timeout (submitted_at = min(deadline, now)) and NULL otherwise (deadline < NULL is never true)
    cap = bindparam("p_cap", type_=UTCDateTime())
    close = (update(_A)
             .where(_A.c.id == aid, _A.c.status == IN_PROGRESS, _A.c.entered_at.is_not(None))
             .values(status=SUBMITTED, submitted_at=case((_A.c.deadline < cap, _A.c.deadline), else_=now),
                     finalised_at=now, submit_reason=bindparam("p_reason", type_=_A.c.submit_reason.type),
                     paused_at=null())
             .returning(_A.c.session_id))
    cols = ("session_id", "attempt_id", "at", "kind", "actor_label", "detail")
    label = bindparam("p_label", type_=_E.c.actor_label.type)
    detail = bindparam("p_detail", type_=_E.c.detail.type)
    event = insert(_E).values(session_id=bindparam("p_session", type_=_E.c.session_id.type), attempt_id=aid,
                              at=now, kind="finalised", actor_label=label, detail=detail)
    with_cte = None
    if cte:
        up = close.cte("up")
        with_cte = (insert(_E).from_select(cols, select(up.c.session_id, aid, now, literal("finalised"), label, detail))
                    .returning(_E.c.id))
    return _Statements(with_cte, close if returning and not cte else None, event)


def _close(attempt_id: int, reason: str, now: _dt.datetime) -> tuple[int, str, str] | None:
    """The general conditional UPDATE of :func:`finalise` (an attempt never entered becomes ``absent``):
    ``(session id, status before, status after)`` for the caller that won, ``None`` when the attempt is
    missing or already final."""
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



"""Exam sessions (考试场次): creation, ownership, the time window, starting (by a proctor or on schedule).

Times are UTC (``examsys.clock.now()``). A session is ``scheduled`` until it starts, ``running`` while
candidates sit it and ``finished`` after collect-all (统一收卷). Its configuration and roster are frozen once it
has started. Starting sets every attempt's deadline (``started_at + duration + extra time``); an auto-start
session starts by itself at ``starts_at`` the first time anything looks at it after that moment (a candidate
request, the proctor page, the sweeper or ``examsys exams finalise-due``), with ``started_at = starts_at``.
"""
from __future__ import annotations

import datetime as _dt
import secrets
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import func, select, update

from .. import clock
from ..extensions import db
from ..models import ExamAttempt, ExamCandidate, ExamSession, Paper, Station, User
from ..models.exams import FINISHED, OPEN_STATUSES, RUNNING, SCHEDULED, AttemptEvent
from . import audit

LIMITS = {"duration_min": (1, 600), "late_entry_min": (0, 240), "grace_seconds": (0, 600),
          "login_opens_min": (0, 240)}


class ExamError(Exception):
    """A refused operation with a message for the user and an HTTP status for the view."""

    def __init__(self, message: str, status: int = 409, code: str = "refused", problems: list | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.problems = problems or []


@dataclass
class SessionSpec:
    name: str
    station_id: int
    paper_id: int
    form_labels: list[str]
    form_assignment: str
    starts_at: _dt.datetime
    duration_min: int
    late_entry_min: int = 30
    grace_seconds: int = 30
    login_opens_min: int = 30
    auto_start: bool = True
    seed: int | None = None


# -- ownership -------------------------------------------------------------------------------------

def can_manage(user, sess: ExamSession) -> bool:
    """Station managers manage their station's sessions; admins manage all."""
    if user.role == "admin":
        return True
    return user.role == "station_manager" and user.station_id is not None and user.station_id == sess.station_id


def can_proctor(user, sess: ExamSession) -> bool:
    """Proctors and station managers of the session's station."""
    return user.role in ("proctor", "station_manager") and user.station_id is not None \
        and user.station_id == sess.station_id


def get_session(session_id: int) -> ExamSession | None:
    return db.session.get(ExamSession, session_id)


def sessions_for(user) -> list[ExamSession]:
    q = select(ExamSession).order_by(ExamSession.starts_at.desc(), ExamSession.id.desc())
    if user.role != "admin":
        if user.station_id is None:
            return []
        q = q.where(ExamSession.station_id == user.station_id)
    return list(db.session.execute(q).scalars())


def papers_for(user) -> list[Paper]:
    """Theory papers a user may deliver: the station's own and shared ones (no station)."""
    q = select(Paper).where(Paper.part == "theory").order_by(Paper.created_at.desc())
    if user.role != "admin":
        q = q.where((Paper.station_id.is_(None)) | (Paper.station_id == user.station_id))
    return list(db.session.execute(q).scalars())


def candidate_count(session_id: int) -> int:
    return db.session.execute(select(func.count(ExamCandidate.id))
                              .where(ExamCandidate.session_id == session_id)).scalar_one()


# -- creation --------------------------------------------------------------------------------------

def create_session(spec: SessionSpec, actor: User) -> ExamSession:
    """Validate and store a new session; raises :class:`ExamError` (status 422) listing every problem."""
    problems = []
    name = (spec.name or "").strip()
    if not name:
        problems.append(_("Enter a name for the session."))
    elif len(name) > 200:
        problems.append(_("The name is longer than 200 characters."))
    station = db.session.get(Station, spec.station_id) if spec.station_id else None
    if station is None:
        problems.append(_("Choose a station."))
    elif actor.role != "admin" and station.id != actor.station_id:
        problems.append(_("You can only create sessions for your own station."))
    paper = db.session.get(Paper, spec.paper_id) if spec.paper_id else None
    if paper is None:
        problems.append(_("Choose a paper."))
    else:
        if paper.part != "theory":
            problems.append(_("Only theory papers are delivered online."))
        if actor.role != "admin" and paper.station_id not in (None, actor.station_id):
            problems.append(_("This paper belongs to another station."))
        labels = {f.label: f for f in paper.forms}
        chosen = [label for label in spec.form_labels if label in labels]
        if not chosen or len(chosen) != len(spec.form_labels):
            problems.append(_("Choose one or more forms of the paper."))
        for label in chosen:
            if not labels[label].items:
                problems.append(_("Form %(label)s has no items.", label=label))
    if spec.form_assignment not in ("alternate", "random"):
        problems.append(_("Choose how forms are assigned."))
    for field_name, (lo, hi) in LIMITS.items():
        value = getattr(spec, field_name)
        if not isinstance(value, int) or not lo <= value <= hi:
            problems.append(_("%(field)s must be a whole number from %(lo)s to %(hi)s.",
                              field=_field_label(field_name), lo=lo, hi=hi))
    if spec.starts_at is None or spec.starts_at.tzinfo is None:
        problems.append(_("Enter the start time."))
    elif spec.starts_at < clock.now() - _dt.timedelta(minutes=5):
        problems.append(_("The start time is in the past."))
    if problems:
        raise ExamError(problems[0], status=422, code="invalid", problems=problems)
    now = clock.now()
    seed = spec.seed if spec.seed is not None else secrets.randbits(62)
    sess = ExamSession(
        station_id=station.id, occupation_id=paper.occupation_id, grade=paper.grade, paper_id=paper.id, name=name,
        form_labels=list(spec.form_labels), form_assignment=spec.form_assignment, starts_at=spec.starts_at,
        duration_min=spec.duration_min, late_entry_min=spec.late_entry_min, grace_seconds=spec.grace_seconds,
        login_opens_min=spec.login_opens_min, auto_start=bool(spec.auto_start), seed=seed, status=SCHEDULED,
        created_by=actor.id, created_at=now, updated_at=now)
    db.session.add(sess)
    db.session.flush()
    audit.record("exam.session_create", "exam_session", sess.id, actor=actor, after=session_summary(sess))
    db.session.commit()
    return sess


def _field_label(name: str) -> str:
    return {"duration_min": _("Duration (minutes)"), "late_entry_min": _("Late entry until (minutes after the start)"),
            "grace_seconds": _("Grace period (seconds)"),
            "login_opens_min": _("Login opens (minutes before the start)")}[name]


def session_summary(sess: ExamSession) -> dict:
    return {"name": sess.name, "station_id": sess.station_id, "paper_id": sess.paper_id,
            "forms": list(sess.form_labels), "assignment": sess.form_assignment,
            "starts_at": sess.starts_at.isoformat(), "duration_min": sess.duration_min,
            "late_entry_min": sess.late_entry_min, "grace_seconds": sess.grace_seconds,
            "login_opens_min": sess.login_opens_min, "auto_start": sess.auto_start, "status": sess.status}


# -- the time window -------------------------------------------------------------------------------

def login_opens_at(sess: ExamSession) -> _dt.datetime:
    return sess.starts_at - _dt.timedelta(minutes=sess.login_opens_min)


def entry_closes_at(sess: ExamSession) -> _dt.datetime | None:
    """First entry is allowed until the (actual) start + late-entry minutes; ``None`` before the start."""
    if sess.started_at is None:
        return None
    return sess.started_at + _dt.timedelta(minutes=sess.late_entry_min)


def grace(sess: ExamSession) -> _dt.timedelta:
    return _dt.timedelta(seconds=sess.grace_seconds)


def start_session(sess: ExamSession, *, at: _dt.datetime | None = None, actor=None, reason: str = "",
                  commit: bool = True) -> bool:
    """Start ``sess`` (once: a conditional UPDATE on the status) and set every attempt's deadline.
    Returns ``False`` when it had already started."""
    now = clock.now()
    at = at or now
    res = db.session.execute(update(ExamSession).where(ExamSession.id == sess.id, ExamSession.status == SCHEDULED)
                             .values(status=RUNNING, started_at=at, updated_at=now))
    if res.rowcount != 1:
        db.session.rollback()
        db.session.refresh(sess)
        return False
    rows = db.session.execute(select(ExamAttempt.id, ExamAttempt.extra_seconds)
                              .where(ExamAttempt.session_id == sess.id,
                                     ExamAttempt.status.in_(OPEN_STATUSES))).all()
    base = at + _dt.timedelta(minutes=sess.duration_min)
    if rows:
        db.session.execute(update(ExamAttempt), [
            {"id": aid, "deadline": base + _dt.timedelta(seconds=extra or 0)} for aid, extra in rows])
    label = getattr(actor, "username", None) or "system"
    db.session.add(AttemptEvent(session_id=sess.id, attempt_id=None, at=now, kind="session_start", actor_label=label,
                                detail={"started_at": at.isoformat(), "attempts": len(rows)}))
    audit.record("exam.start", "exam_session", sess.id, actor=actor, actor_label=label,
                 before={"status": SCHEDULED}, after={"status": RUNNING, "started_at": at.isoformat(),
                                                      "attempts": len(rows)},
                 reason=reason or ("scheduled start" if actor is None else ""))
    if commit:
        db.session.commit()
    db.session.refresh(sess)
    return True


def maybe_autostart(sess: ExamSession) -> bool:
    """Start an auto-start session whose scheduled time has come (lazily, from any access)."""
    if sess.status != SCHEDULED or not sess.auto_start or clock.now() < sess.starts_at:
        return False
    if candidate_count(sess.id) == 0:
        return False
    return start_session(sess, at=sess.starts_at, actor=None, reason="scheduled start")


def autostart_due() -> int:
    now = clock.now()
    due = db.session.execute(select(ExamSession).where(ExamSession.status == SCHEDULED,
                                                       ExamSession.auto_start.is_(True),
                                                       ExamSession.starts_at <= now)).scalars().all()
    return sum(1 for s in due if maybe_autostart(s))


def is_frozen(sess: ExamSession) -> bool:
    return sess.status != SCHEDULED


def finish_session(sess: ExamSession) -> None:
    """Mark the session finished (collect-all); the caller audits and commits."""
    now = clock.now()
    db.session.execute(update(ExamSession).where(ExamSession.id == sess.id)
                       .values(status=FINISHED, finished_at=now, paused_at=None, updated_at=now))

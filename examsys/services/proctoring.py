"""Proctor operations (监考): start, pause/resume (room or candidate), extra time, force-submit, unlock for
re-login / 换机, irregularity (违纪) notes, collect-all (统一收卷), and the live table.

Every operation takes a reason, is applied on the server at once (the candidate's page learns it from its
next heartbeat or save reply, within 5 s), writes an audit row (who, when, before, after, reason) and an
attempt event in the same transaction. Integrity signals are shown as evidence; nothing here penalises
automatically.

Pause semantics: pausing sets ``paused_at`` (time frozen: the remaining time is ``deadline - paused_at``);
resuming moves the deadline by the paused time. A room pause pauses every open attempt of the session and
a room resume resumes every paused one.
"""
from __future__ import annotations

import datetime as _dt

from flask_babel import get_locale, gettext as _
from sqlalchemy import func, select

from .. import clock
from ..extensions import db
from ..models import AttemptEvent, ExamAttempt, ExamCandidate, ExamResponse, ExamSession
from ..models.exams import FINAL_STATUSES, IN_PROGRESS, NOT_STARTED, OPEN_STATUSES, RUNNING, SCHEDULED
from . import attempts as attempts_service
from . import audit, exams, sessions, throttle
from .exams import ExamError

ROOM_ACTIONS = ("start", "pause", "resume", "extend", "collect_all")
ATTEMPT_ACTIONS = ("pause", "resume", "extend", "force_submit", "unlock", "irregularity")
MAX_EXTRA_MIN = 240
SIGNAL_KINDS = ("focus_loss", "visibility_hidden", "paste", "fullscreen_exit", "second_login", "irregularity",
                "save_refused")


def _need_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ExamError(_("Give a reason for this action."), status=422, code="reason_required")
    if len(reason) > 500:
        raise ExamError(_("The reason is longer than 500 characters."), status=422, code="reason_too_long")
    return reason


def _minutes(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_EXTRA_MIN:
        raise ExamError(_("Extra time is a whole number of minutes from 1 to %(max)s.", max=MAX_EXTRA_MIN),
                        status=422, code="bad_minutes")
    return value


def _attempt_of(sess: ExamSession, attempt_id) -> ExamAttempt:
    att = None
    if isinstance(attempt_id, int) and not isinstance(attempt_id, bool):
        att = attempts_service.get_attempt(attempt_id, refresh=True)
    if att is None or att.session_id != sess.id:
        raise ExamError(_("This candidate is not in this session."), status=404, code="not_found")
    return att


def _open(att: ExamAttempt) -> None:
    if att.status in FINAL_STATUSES:
        raise ExamError(_("This candidate has already handed in."), status=409, code="final")


def _record(sess, att, action, actor, reason, before, after, *, kind: str | None = None):
    """One event for the console (``proctor_<action>`` unless ``kind`` is given) and one audit entry."""
    label = actor.username
    db.session.add(AttemptEvent(session_id=sess.id, attempt_id=att.id if att else None, at=clock.now(),
                                kind=kind or f"proctor_{action}", actor_label=label,
                                detail={"reason": reason, **(after or {})}))
    audit.record(f"proctor.{action}", "exam_attempt" if att else "exam_session", att.id if att else sess.id,
                 actor=actor, before=before, after=after, reason=reason)


def _open_attempts(sess: ExamSession) -> list[ExamAttempt]:
    return list(db.session.execute(select(ExamAttempt).where(ExamAttempt.session_id == sess.id,
                                                             ExamAttempt.status.in_(OPEN_STATUSES))
                                   .execution_options(populate_existing=True)).scalars())


def _pause(att: ExamAttempt, now) -> bool:
    if att.paused_at is not None or att.deadline is None:
        return False
    att.paused_at = now
    return True


def _resume(att: ExamAttempt, now) -> int:
    if att.paused_at is None:
        return 0
    paused = max(0, int((now - att.paused_at).total_seconds()))
    att.deadline = att.deadline + (now - att.paused_at)
    att.paused_seconds = (att.paused_seconds or 0) + paused
    att.paused_at = None
    return paused


def _extend(att: ExamAttempt, minutes: int) -> None:
    att.extra_seconds = (att.extra_seconds or 0) + minutes * 60
    if att.deadline is not None:
        att.deadline = att.deadline + _dt.timedelta(minutes=minutes)


def room_action(sess: ExamSession, action: str, actor, *, reason: str = "", minutes=None) -> dict:
    now = clock.now()
    if action not in ROOM_ACTIONS:
        raise ExamError(_("Unknown action."), status=422, code="unknown_action")
    if action == "start":
        if sess.status != SCHEDULED:
            raise ExamError(_("The session has already started."), status=409, code="started")
        if exams.candidate_count(sess.id) == 0:
            raise ExamError(_("Import the roster before starting."), status=409, code="no_roster")
        if now < exams.login_opens_at(sess):
            raise ExamError(_("It is too early to start this session."), status=409, code="too_early")
        exams.start_session(sess, actor=actor, reason=(reason or "").strip()[:500] or "开考")
        return {"started_at": sess.started_at.isoformat()}
    if sess.status != RUNNING:
        raise ExamError(_("The session is not running."), status=409, code="not_running")
    if action == "collect_all":
        reason = (reason or "").strip()[:500] or "统一收卷"
        ids = [a.id for a in _open_attempts(sess)]
        done = [aid for aid in ids if attempts_service.finalise(aid, "collect_all", actor=actor, note=reason,
                                                                commit=False)]
        exams.finish_session(sess)
        _record(sess, None, "collect_all", actor, reason, {"status": RUNNING}, {"status": "finished",
                                                                                "finalised": len(done)})
        db.session.commit()
        attempts_service.run_finalised_hooks(done)
        return {"finalised": len(done)}
    reason = _need_reason(reason)
    atts = _open_attempts(sess)
    if action == "pause":
        if sess.paused_at is not None:
            raise ExamError(_("The room is already paused."), status=409, code="paused")
        n = sum(1 for a in atts if _pause(a, now))
        sess.paused_at = now
        _record(sess, None, "pause", actor, reason, {"paused": False}, {"paused": True, "attempts": n})
        db.session.commit()
        return {"paused": n}
    if action == "resume":
        n = 0
        for a in atts:
            if a.paused_at is not None:
                _resume(a, now)
                n += 1
        if sess.paused_at is None and n == 0:
            raise ExamError(_("Nobody is paused."), status=409, code="not_paused")
        sess.paused_at = None
        _record(sess, None, "resume", actor, reason, {"paused": True}, {"paused": False, "attempts": n})
        db.session.commit()
        return {"resumed": n}
    if action == "extend":
        m = _minutes(minutes)
        for a in atts:
            _extend(a, m)
        _record(sess, None, "extend", actor, reason, None, {"minutes": m, "attempts": len(atts)})
        db.session.commit()
        return {"extended": len(atts), "minutes": m}
    raise ExamError(_("Unknown action."), status=422, code="unknown_action")  # pragma: no cover


def attempt_action(sess: ExamSession, attempt_id, action: str, actor, *, reason: str = "", minutes=None,
                   note: str = "") -> dict:
    if action not in ATTEMPT_ACTIONS:
        raise ExamError(_("Unknown action."), status=422, code="unknown_action")
    reason = _need_reason(reason)
    att = _attempt_of(sess, attempt_id)
    now = clock.now()
    if action == "irregularity":
        note = (note or "").strip()
        if not note:
            raise ExamError(_("Describe the irregularity."), status=422, code="note_required")
        if len(note) > 2000:
            raise ExamError(_("The note is longer than 2000 characters."), status=422, code="note_too_long")
        # one event, of the kind the live table counts as the candidate's irregularities
        _record(sess, att, "irregularity", actor, reason, None, {"note": note}, kind="irregularity")
        db.session.commit()
        return {}
    if action == "unlock":
        n = sessions.revoke_all(kind="candidate", subject_id=att.id)
        throttle.clear(f"ticket:{att.candidate.ticket_no}")
        _record(sess, att, "unlock", actor, reason, None, {"sessions_ended": n})
        db.session.commit()
        return {"sessions_ended": n}
    _open(att)
    if action == "force_submit":
        if not attempts_service.finalise(att.id, "proctor", actor=actor, note=reason, commit=False):
            raise ExamError(_("This candidate has already handed in."), status=409, code="final")
        _record(sess, att, "force_submit", actor, reason, {"status": att.status}, None)
        db.session.commit()
        attempts_service.run_finalised_hooks([att.id])
        return {}
    if action == "extend" and att.deadline is None:
        return _extend_before_start(sess, att, actor, reason, minutes)
    if sess.status != RUNNING or att.deadline is None:
        raise ExamError(_("The session is not running."), status=409, code="not_running")
    if action == "pause":
        if not _pause(att, now):
            raise ExamError(_("This candidate is already paused."), status=409, code="paused")
        _record(sess, att, "pause", actor, reason, {"paused": False}, {"paused": True})
    elif action == "resume":
        if att.paused_at is None:
            raise ExamError(_("This candidate is not paused."), status=409, code="not_paused")
        if sess.paused_at is not None:
            raise ExamError(_("The whole room is paused; resume the room."), status=409, code="room_paused")
        seconds = _resume(att, now)
        _record(sess, att, "resume", actor, reason, {"paused": True}, {"paused": False, "paused_seconds": seconds})
    elif action == "extend":
        m = _minutes(minutes)
        before = {"deadline": att.deadline.isoformat(), "extra_seconds": att.extra_seconds}
        _extend(att, m)
        _record(sess, att, "extend", actor, reason, before,
                {"deadline": att.deadline.isoformat(), "extra_seconds": att.extra_seconds, "minutes": m})
    db.session.commit()
    return {}


def _extend_before_start(sess, att, actor, reason, minutes) -> dict:
    """Extra time granted before the start (e.g. an accommodation) is added when the deadline is set."""
    m = _minutes(minutes)
    before = {"extra_seconds": att.extra_seconds}
    _extend(att, m)
    _record(sess, att, "extend", actor, reason, before, {"extra_seconds": att.extra_seconds, "minutes": m})
    db.session.commit()
    return {}


# -- the live table --------------------------------------------------------------------------------

def live_table(sess: ExamSession) -> dict:
    """Rows for the proctor's live table (polled): status, answered, last seen, online, signals, time left.
    Starting a due session and finalising due attempts happen here too (lazily)."""
    exams.maybe_autostart(sess)
    attempts_service.finalise_due_in_session(sess)
    now = clock.now()
    rows = db.session.execute(select(ExamAttempt, ExamCandidate)
                              .join(ExamCandidate, ExamCandidate.id == ExamAttempt.candidate_id)
                              .where(ExamAttempt.session_id == sess.id)
                              .execution_options(populate_existing=True)).all()
    ids = [a.id for a, _c in rows]
    answered = attempts_service.answered_counts(ids)
    last_save = dict(db.session.execute(select(ExamResponse.attempt_id, func.max(ExamResponse.saved_at))
                                        .where(ExamResponse.attempt_id.in_(ids))
                                        .group_by(ExamResponse.attempt_id)).all()) if ids else {}
    signals: dict[int, dict[str, int]] = {}
    for aid, kind, n in db.session.execute(
            select(AttemptEvent.attempt_id, AttemptEvent.kind, func.count(AttemptEvent.id))
            .where(AttemptEvent.session_id == sess.id, AttemptEvent.kind.in_(SIGNAL_KINDS))
            .group_by(AttemptEvent.attempt_id, AttemptEvent.kind)).all():
        if aid is not None:
            signals.setdefault(aid, {})[kind] = n
    live = {s.subject_id for s in db.session.execute(
        select(sessions.AuthSession).where(sessions.AuthSession.kind == "candidate",
                                           sessions.AuthSession.subject_id.in_(ids),
                                           sessions.AuthSession.revoked_at.is_(None),
                                           sessions.AuthSession.expires_at > now)).scalars()} if ids else set()
    out = []
    from ..services.roster import _seat_key
    for a, c in sorted(rows, key=lambda ac: _seat_key(ac[1].seat, ac[1].row_number)):
        seen = max([t for t in (a.last_seen_at, last_save.get(a.id)) if t is not None], default=None)
        sig = signals.get(a.id, {})
        out.append({
            "id": a.id, "seat": c.seat, "ticket": c.ticket_no, "name": c.name, "id_masked": c.id_masked,
            "form": c.form_label, "status": a.status, "paused": a.paused_at is not None,
            "answered": answered.get(a.id, 0), "total": sum(len(s["items"]) for s in a.layout["sections"]),
            "last_seen": attempts_service.local_hms(seen),
            "online": bool(seen is not None and now - seen <= attempts_service.ONLINE_WITHIN
                           and a.status not in FINAL_STATUSES),
            "logged_in": a.id in live,
            "focus_loss": sig.get("focus_loss", 0) + sig.get("visibility_hidden", 0),
            "paste": sig.get("paste", 0), "second_login": sig.get("second_login", 0),
            "irregularity": sig.get("irregularity", 0), "refused_saves": sig.get("save_refused", 0),
            "remaining_ms": attempts_service.remaining_ms(a, now) if a.status not in FINAL_STATUSES else None,
            "extra_min": (a.extra_seconds or 0) // 60, "submit_reason": a.submit_reason,
        })
    events = [{"at": attempts_service.local_hms(e.at), "attempt": e.attempt_id, "kind": e.kind,
               "actor": e.actor_label, "detail": _public_detail(e.detail),
               "text": detail_text(e.kind, _public_detail(e.detail))}
              for e in db.session.execute(select(AttemptEvent).where(AttemptEvent.session_id == sess.id)
                                          .order_by(AttemptEvent.id.desc()).limit(40)).scalars()]
    counts = {"total": len(out), "in_progress": sum(1 for r in out if r["status"] == IN_PROGRESS),
              "not_started": sum(1 for r in out if r["status"] == NOT_STARTED),
              "submitted": sum(1 for r in out if r["status"] == "submitted"),
              "absent": sum(1 for r in out if r["status"] == "absent"),
              "online": sum(1 for r in out if r["online"])}
    return {"session": {"id": sess.id, "status": sess.status, "paused": sess.paused_at is not None,
                        "started_at": attempts_service.local_hms(sess.started_at),
                        "starts_at": attempts_service.local_hms(sess.starts_at)},
            "server_now": now.isoformat(), "rows": out, "counts": counts, "events": events}


def _detail_labels() -> dict:
    return {"reason": _("reason"), "minutes": _("minutes"), "note": _("note"), "item": _("question"),
            "status": _("status"), "answered": _("answered"), "attempts": _("candidates"),
            "finalised": _("handed in"), "ms": _("ms"), "with": _("with")}


def _value_labels() -> dict:
    return {
        "status": {"not_started": _("Not started"), "in_progress": _("Sitting"), "submitted": _("Handed in"),
                   "absent": _("Absent"), "scheduled": _("Scheduled"), "running": _("Running"),
                   "finished": _("Finished")},
        # why an attempt was finalised (the reason of a ``finalised`` event; elsewhere the reason is free text)
        "submit_reason": {"candidate": _("handed in by the candidate"), "timeout": _("time was up"),
                          "proctor": _("handed in by the proctor"), "collect_all": _("all papers collected")},
        "with": {"code": _("one-time code"), "id": _("last 6 digits of the ID number")},
    }


def detail_text(kind: str, detail: dict | None) -> str:
    """An event's details for people, in the UI language: ``原因：统一收卷，状态：已交卷``."""
    if not detail:
        return ""
    labels, values = _detail_labels(), _value_labels()
    parts = []
    for key, value in detail.items():
        table = values["submit_reason"] if (key == "reason" and kind == "finalised") else values.get(key, {})
        shown = table.get(value, value) if isinstance(value, str) else value
        parts.append(_("%(label)s: %(value)s", label=labels.get(key, key), value=shown))
    return ("，" if str(get_locale() or "zh").startswith("zh") else ", ").join(parts)


def _public_detail(detail: dict | None) -> dict | None:
    if not detail:
        return None
    return {k: v for k, v in detail.items() if k in ("reason", "minutes", "note", "item", "status", "answered",
                                                   "attempts", "finalised", "ms", "with")}

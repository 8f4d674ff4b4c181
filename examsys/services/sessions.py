"""Server-side login sessions. The cookie carries a random token; the database holds its SHA-256.

A session can be ended on the server (logout, admin, proctor unlock), and a new login always gets a new
token (session renewed at login: no fixation).
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import secrets

from flask import current_app, request, session
from sqlalchemy import select, update

from .. import clock
from ..extensions import db
from ..models import AuthSession

SESSION_KEY = "sid"
_TOUCH_EVERY = _dt.timedelta(seconds=60)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def open_session(*, kind: str, user_id: int | None = None, subject_id: int | None = None) -> AuthSession:
    """Clear the Flask session, create a server-side session row and put its token in the cookie.
    The caller commits."""
    session.clear()
    token = secrets.token_urlsafe(32)
    now = clock.now()
    lifetime = current_app.config["PERMANENT_SESSION_LIFETIME"]
    seconds = lifetime.total_seconds() if isinstance(lifetime, _dt.timedelta) else float(lifetime)
    row = AuthSession(id=_digest(token), kind=kind, user_id=user_id, subject_id=subject_id, created_at=now,
                      last_seen=now, expires_at=now + _dt.timedelta(seconds=seconds),
                      ip=(request.remote_addr or "")[:64], user_agent=(request.user_agent.string or "")[:300])
    db.session.add(row)
    session[SESSION_KEY] = token
    session.permanent = True
    return row


def current_session(kind: str | None = None) -> AuthSession | None:
    """The live server-side session of this request, or ``None`` (missing, expired, revoked)."""
    token = session.get(SESSION_KEY)
    if not token:
        return None
    row = db.session.get(AuthSession, _digest(token))
    now = clock.now()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return None
    if kind is not None and row.kind != kind:
        return None
    if now - row.last_seen > _TOUCH_EVERY:
        row.last_seen = now
        db.session.commit()
    return row


def end_current_session() -> None:
    token = session.get(SESSION_KEY)
    if token:
        revoke(_digest(token))
    session.clear()


def revoke(session_id: str) -> None:
    db.session.execute(update(AuthSession).where(AuthSession.id == session_id).values(revoked_at=clock.now()))


def revoke_all(*, kind: str, subject_id: int | None = None, user_id: int | None = None) -> int:
    """End every live session of a subject (e.g. an attempt) or a user; returns how many were ended."""
    q = update(AuthSession).where(AuthSession.kind == kind, AuthSession.revoked_at.is_(None))
    if subject_id is not None:
        q = q.where(AuthSession.subject_id == subject_id)
    if user_id is not None:
        q = q.where(AuthSession.user_id == user_id)
    return db.session.execute(q.values(revoked_at=clock.now())).rowcount


def live_sessions(*, kind: str, subject_id: int) -> list[AuthSession]:
    now = clock.now()
    return list(db.session.execute(
        select(AuthSession).where(AuthSession.kind == kind, AuthSession.subject_id == subject_id,
                                  AuthSession.revoked_at.is_(None), AuthSession.expires_at > now)
    ).scalars())

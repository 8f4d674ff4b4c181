"""Server-side login sessions. The cookie carries a random token; the database holds its SHA-256.

A session can be ended on the server (logout, admin, proctor unlock), and a new login always gets a new
token (session renewed at login: no fixation).
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import secrets

from flask import current_app, g, has_request_context, request, session
from sqlalchemy import insert, select, update

from .. import clock
from ..extensions import db
from ..models import AuthSession

SESSION_KEY = "sid"
_TOUCH_EVERY = _dt.timedelta(seconds=60)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


_INSERT: list = []


def new_session_row(*, kind: str, user_id: int | None = None, subject_id: int | None = None) -> dict:
    """Start a new login session in the cookie and return its server-side row (``auth_session``'s columns)
    for the caller to insert in the same transaction (:func:`open_session` does; the candidate's login adds
    it to its other writes in one statement). The row's ``id`` is the cookie token's digest.

    The Flask session is cleared and the CSRF token renewed with it: the raw token goes with
    ``session.clear()``, and the signed one Flask-WTF cached for this request (``g.csrf_token``) is dropped,
    so a page rendered in this same request (the candidate's 核对信息 page answers the login) carries a token
    of the new session."""
    session.clear()
    g.pop(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"), None)
    token = secrets.token_urlsafe(32)
    now = clock.now()
    lifetime = current_app.config["PERMANENT_SESSION_LIFETIME"]
    seconds = lifetime.total_seconds() if isinstance(lifetime, _dt.timedelta) else float(lifetime)
    _forget()
    session[SESSION_KEY] = token
    session.permanent = True
    return {"id": _digest(token), "kind": kind, "user_id": user_id, "subject_id": subject_id, "created_at": now,
            "last_seen": now, "expires_at": now + _dt.timedelta(seconds=seconds), "revoked_at": None,
            "ip": (request.remote_addr or "")[:64], "user_agent": (request.user_agent.string or "")[:300]}


def open_session(*, kind: str, user_id: int | None = None, subject_id: int | None = None) -> str:
    """Start a new login session (:func:`new_session_row`) and add its row with one prebuilt Core INSERT.
    Returns the row's id (the token's digest). The caller commits."""
    row = new_session_row(kind=kind, user_id=user_id, subject_id=subject_id)
    insert_row(row)
    return row["id"]


def insert_row(row: dict) -> None:
    """Add a login session's row (:func:`new_session_row`); the caller commits."""
    if not _INSERT:
        _INSERT.append(insert(AuthSession.__table__))
    db.session.execute(_INSERT[0], row)


def token_digest() -> str | None:
    """The database key of this request's login session (SHA-256 of the cookie's token), or ``None``."""
    token = session.get(SESSION_KEY)
    return _digest(token) if token else None


def touch(session_id: str, now) -> None:
    """Record activity (the caller commits); done at most every 60 s per session."""
    db.session.execute(update(AuthSession).where(AuthSession.id == session_id).values(last_seen=now))


def needs_touch(last_seen, now) -> bool:
    return now - last_seen > _TOUCH_EVERY


_LOOKUP = select(AuthSession.id, AuthSession.kind, AuthSession.user_id, AuthSession.subject_id,
                 AuthSession.revoked_at, AuthSession.expires_at, AuthSession.last_seen, AuthSession.ip)
_UNSET = object()


def current_session(kind: str | None = None):
    """The live server-side session of this request, or ``None`` (missing, expired, revoked).

    Returns a read-only row (``id``, ``kind``, ``user_id``, ``subject_id``, ``expires_at``, ``last_seen``,
    ``ip``) read with one Core statement and remembered for the rest of the request; ``last_seen`` is
    written at most every 60 s."""
    token = session.get(SESSION_KEY)
    if not token:
        return None
    row = g.get("_auth_session", _UNSET) if has_request_context() else _UNSET
    if row is _UNSET:
        row = db.session.execute(_LOOKUP.where(AuthSession.id == _digest(token))).one_or_none()
        now = clock.now()
        if row is not None and (row.revoked_at is not None or row.expires_at <= now):
            row = None
        if row is not None and now - row.last_seen > _TOUCH_EVERY:
            db.session.execute(update(AuthSession).where(AuthSession.id == row.id).values(last_seen=now))
            db.session.commit()
        if has_request_context():
            g._auth_session = row
    if row is None or (kind is not None and row.kind != kind):
        return None
    return row


def _forget() -> None:
    if has_request_context():
        g.pop("_auth_session", None)


def end_current_session() -> None:
    token = session.get(SESSION_KEY)
    if token:
        revoke(_digest(token))
    _forget()
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


def other_live_session_ip(*, kind: str, subject_id: int, except_id: str | None) -> str | None:
    """The address of a live session of ``subject_id`` other than ``except_id``, or ``None`` (one statement)."""
    q = select(AuthSession.ip).where(AuthSession.kind == kind, AuthSession.subject_id == subject_id,
                                     AuthSession.revoked_at.is_(None), AuthSession.expires_at > clock.now())
    if except_id is not None:
        q = q.where(AuthSession.id != except_id)
    row = db.session.execute(q.limit(1)).first()
    return None if row is None else (row.ip or "")

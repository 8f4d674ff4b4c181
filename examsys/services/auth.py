"""Staff login: password check with throttling per account and per address, and session renewal."""
from __future__ import annotations

from flask import current_app
from flask_login import login_user, logout_user
from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from .. import clock
from ..extensions import db
from ..models import User
from . import audit, sessions, throttle

# Checked against when the user does not exist, so both failures cost the same time.
_DUMMY_HASH = generate_password_hash("not-a-real-password")

LOGIN_FAILED = "login_failed"
LOGIN_LOCKED = "login_locked"


def hash_password(password: str) -> str:
    """Hash with werkzeug's default (scrypt); tests may set PASSWORD_HASH_METHOD to a cheaper method."""
    method = current_app.config.get("PASSWORD_HASH_METHOD")
    return generate_password_hash(password, method=method) if method else generate_password_hash(password)


def authenticate(username: str, password: str, ip: str) -> tuple[User | None, str | None]:
    """Check credentials. Returns ``(user, None)`` or ``(None, reason)`` where reason is
    :data:`LOGIN_FAILED` (same for an unknown user and a wrong password) or :data:`LOGIN_LOCKED`."""
    cfg = current_app.config
    name = (username or "").strip().lower()[:64]
    user_key, ip_key = f"user:{name}", f"ip:{ip}"
    limit, lock = cfg["LOGIN_MAX_FAILURES"], cfg["LOGIN_LOCK_SECONDS"]
    ok_user = throttle.reserve_attempt(user_key, limit=limit, lock_seconds=lock)
    ok_ip = throttle.reserve_attempt(ip_key, limit=limit, lock_seconds=lock)
    if not (ok_user and ok_ip):
        return None, LOGIN_LOCKED
    user = db.session.execute(select(User).where(func.lower(User.username) == name)).scalar_one_or_none()
    valid = check_password_hash(user.password_hash if user else _DUMMY_HASH, password or "")
    if not (user and valid and user.active):
        audit.record("auth.login_failed", "user", name, actor_label=name or "?", after={"ip": ip})
        db.session.commit()
        return None, LOGIN_FAILED
    throttle.clear(user_key)
    throttle.clear(ip_key)
    return user, None


def start_staff_session(user: User) -> None:
    """Renew the session (new token, old cookie contents dropped) and log the user in."""
    sessions.open_session(kind="staff", user_id=user.id)
    login_user(user)
    audit.record("auth.login", "user", user.id, actor=user)
    db.session.commit()


def end_staff_session(user) -> None:
    sessions.end_current_session()
    logout_user()
    if user is not None and getattr(user, "id", None) is not None:
        audit.record("auth.logout", "user", user.id, actor=user)
    db.session.commit()


def create_user(username: str, password: str, role: str, display_name: str, *, station_id=None,
                is_chief: bool = False, actor=None) -> User:
    user = User(username=username, password_hash=hash_password(password), role=role, display_name=display_name,
                station_id=station_id, is_chief=is_chief, active=True, created_at=clock.now())
    db.session.add(user)
    db.session.flush()
    audit.record("user.create", "user", user.id, actor=actor,
                 after={"username": username, "role": role, "station_id": station_id})
    return user

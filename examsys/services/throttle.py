"""Atomic login-failure counters (per account, per address, per admission ticket).

:func:`reserve_attempt` increments the key's counter in one statement (an upsert, read back in the same transaction) *before*
the password is checked, so concurrent guesses cannot slip past the limit: with a limit of 5, at most 5
password checks happen before the key is locked. A success calls :func:`clear`. Coarse counters that
need no such exactness (all candidates of a room may share one address) are read with :func:`is_locked`
and counted on failure only, so successful logins never queue on one hot row.
"""
from __future__ import annotations

import datetime as _dt

from sqlalchemy import case, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from .. import clock
from ..extensions import db
from ..models import LoginThrottle
from ..models.types import UTCDateTime  # noqa: F401  (type of the columns used below)


def _insert():
    name = db.engine.dialect.name
    if name == "postgresql":
        return postgresql.insert(LoginThrottle)
    if name == "sqlite":
        return sqlite.insert(LoginThrottle)
    raise RuntimeError(f"unsupported database dialect {name!r}")


def _upsert(key: str, *, limit: int, lock_seconds: int):
    now = clock.now()
    t = LoginThrottle.__table__.c
    expired = (t.window_start <= now - _dt.timedelta(seconds=lock_seconds))
    stmt = _insert().values(key=key, failures=1, window_start=now, locked_until=None)
    return stmt.on_conflict_do_update(
        index_elements=[LoginThrottle.key],
        set_={
            "failures": case((expired, 1), else_=t.failures + 1),
            "window_start": case((expired, now), else_=t.window_start),
            "locked_until": case(
                (expired, None),
                (t.failures + 1 >= limit, now + _dt.timedelta(seconds=lock_seconds)),
                else_=t.locked_until,
            ),
        },
    ).returning(t.failures)


def reserve_attempt(key: str, *, limit: int, lock_seconds: int, commit: bool = True) -> bool:
    """Count one attempt for ``key``; return ``False`` when the key is locked (more than ``limit``
    attempts since the last success, within the lock period).

    One upsert ``RETURNING`` the count. With ``commit`` (default) it is committed at once (the counter must
    survive a rolled-back request). With ``commit=False`` the caller keeps the transaction open: the
    upsert holds the key's row lock until the caller commits, so concurrent attempts on the same key wait
    and then see this one's count — the caller must commit on every outcome (after a failure the count
    stays; after a success it calls :func:`clear` in the same transaction)."""
    count = db.session.execute(_upsert(key, limit=limit, lock_seconds=lock_seconds)).scalar_one()
    if commit:
        db.session.commit()
    return count <= limit


def is_locked(key: str, *, limit: int, lock_seconds: int) -> bool:
    """Whether ``key`` has more than ``limit`` failures within the lock period (a read; no write)."""
    row = db.session.execute(select(LoginThrottle.failures, LoginThrottle.window_start)
                             .where(LoginThrottle.key == key)).first()
    if row is None:
        return False
    return row.failures > limit and row.window_start > clock.now() - _dt.timedelta(seconds=lock_seconds)


def clear(key: str) -> None:
    db.session.execute(delete(LoginThrottle).where(LoginThrottle.key == key))


def failures(key: str) -> int:
    row = db.session.execute(select(LoginThrottle.failures).where(LoginThrottle.key == key)).scalar_one_or_none()
    return row or 0

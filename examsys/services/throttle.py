"""Atomic login-failure counters (per account, per address, per admission ticket).

:func:`reserve_attempt` increments the key's counter in one statement (an upsert, read back in the same transaction) *before*
the password is checked, so concurrent guesses cannot slip past the limit: with a limit of 5, at most 5
password checks happen before the key is locked. A success calls :func:`clear`.
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


def reserve_attempt(key: str, *, limit: int, lock_seconds: int) -> bool:
    """Count one attempt for ``key``; return ``False`` when the key is locked (more than ``limit``
    attempts since the last success, within the lock period). Commits at once (the counter must
    survive a rolled-back request)."""
    now = clock.now()
    t = LoginThrottle.__table__.c
    expired = (t.window_start <= now - _dt.timedelta(seconds=lock_seconds))
    stmt = _insert().values(key=key, failures=1, window_start=now, locked_until=None)
    stmt = stmt.on_conflict_do_update(
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
    )
    db.session.execute(stmt)
    # Read back inside the same transaction: the upsert holds the row's write lock until commit,
    # so the count we read is our own increment (no RETURNING: pysqlite mishandles it on commit).
    count = db.session.execute(select(LoginThrottle.failures).where(LoginThrottle.key == key)).scalar_one()
    db.session.commit()
    return count <= limit


def clear(key: str) -> None:
    db.session.execute(delete(LoginThrottle).where(LoginThrottle.key == key))


def failures(key: str) -> int:
    row = db.session.execute(select(LoginThrottle.failures).where(LoginThrottle.key == key)).scalar_one_or_none()
    return row or 0

"""Atomic login-failure counters (per account, per address, per admission ticket).

:func:`reserve_attempt` increments the key's counter in one statement (an upsert, read back in the same transaction) *before*
the password is checked, so concurrent guesses cannot slip past the limit: with a limit of 5, at most 5
password checks happen before the key is locked. A success calls :func:`clear`. Coarse counters that
need no such exactness (all candidates of a room may share one address) are read with :func:`is_locked`
and counted on failure only, so successful logins never queue on one hot row.
"""
from __future__ import annotations

import datetime as _dt

from sqlalchemy import Integer, bindparam, case, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from .. import clock
from ..extensions import db
from ..models import LoginThrottle
from ..models.types import UTCDateTime


_T = LoginThrottle.__table__.c
_STATEMENTS: dict[str, object] = {}


def _build_upsert(dialect: str):
    """``INSERT … ON CONFLICT (key) DO UPDATE … RETURNING failures`` with bound parameters ``key``, ``now``,
    ``expired_before`` (now − lock period), ``lock_end`` (now + lock period) and ``limit``."""
    if dialect == "postgresql":
        ins = postgresql.insert(LoginThrottle.__table__)
    elif dialect == "sqlite":
        ins = sqlite.insert(LoginThrottle.__table__)
    else:  # pragma: no cover
        raise RuntimeError(f"unsupported database dialect {dialect!r}")
    now = bindparam("now", type_=UTCDateTime)
    expired = _T.window_start <= bindparam("expired_before", type_=UTCDateTime)
    stmt = ins.values(key=bindparam("key"), failures=1, window_start=now, locked_until=None)
    return stmt.on_conflict_do_update(
        index_elements=[_T.key],
        set_={
            "failures": case((expired, 1), else_=_T.failures + 1),
            "window_start": case((expired, now), else_=_T.window_start),
            "locked_until": case(
                (expired, None),
                (_T.failures + 1 >= bindparam("limit", type_=Integer),
                 bindparam("lock_end", type_=UTCDateTime)),
                else_=_T.locked_until,
            ),
        },
    ).returning(_T.failures)


def _statement(name: str):
    """The module's statements, built once (per dialect for the upsert): building a statement costs more CPU
    than running it."""
    key = name if name != "upsert" else f"upsert:{db.engine.dialect.name}"
    stmt = _STATEMENTS.get(key)
    if stmt is None:
        if name == "upsert":
            stmt = _build_upsert(db.engine.dialect.name)
        elif name == "read":
            stmt = select(_T.failures, _T.window_start).where(_T.key == bindparam("key"))
        else:
            stmt = delete(LoginThrottle.__table__).where(_T.key == bindparam("key"))
        _STATEMENTS[key] = stmt
    return stmt


def reserve_attempt(key: str, *, limit: int, lock_seconds: int, commit: bool = True) -> bool:
    """Count one attempt for ``key``; return ``False`` when the key is locked (more than ``limit``
    attempts since the last success, within the lock period).

    One upsert ``RETURNING`` the count. With ``commit`` (default) it is committed at once (the counter must
    survive a rolled-back request). With ``commit=False`` the caller keeps the transaction open: the
    upsert holds the key's row lock until the caller commits, so concurrent attempts on the same key wait
    and then see this one's count — the caller must commit on every outcome (after a failure the count
    stays; after a success it calls :func:`clear` in the same transaction)."""
    now = clock.now()
    lock = _dt.timedelta(seconds=lock_seconds)
    count = db.session.execute(_statement("upsert"), {
        "key": key, "now": now, "expired_before": now - lock, "lock_end": now + lock, "limit": limit,
    }).scalar_one()
    if commit:
        db.session.commit()
    return count <= limit


def is_locked(key: str, *, limit: int, lock_seconds: int) -> bool:
    """Whether ``key`` has more than ``limit`` failures within the lock period (a read; no write)."""
    return over_limit(*counter(key), limit=limit, lock_seconds=lock_seconds)


def counter(key: str) -> tuple[int | None, _dt.datetime | None]:
    """``(failures, window start)`` of ``key``, ``(None, None)`` when it has none (a read)."""
    row = db.session.execute(_statement("read"), {"key": key}).first()
    return (row.failures, row.window_start) if row is not None else (None, None)


def over_limit(failures: int | None, window_start: _dt.datetime | None, *, limit: int, lock_seconds: int) -> bool:
    """The rule of :func:`is_locked` on a counter read elsewhere (e.g. joined into another statement)."""
    if failures is None or window_start is None:
        return False
    return failures > limit and window_start > clock.now() - _dt.timedelta(seconds=lock_seconds)


def clear(key: str) -> None:
    db.session.execute(_statement("delete"), {"key": key})


def failures(key: str) -> int:
    row = db.session.execute(select(LoginThrottle.failures).where(LoginThrottle.key == key)).scalar_one_or_none()
    return row or 0

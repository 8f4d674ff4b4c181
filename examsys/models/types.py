"""Column types shared by the models."""
from __future__ import annotations

import datetime as _dt

from sqlalchemy import DateTime, types


class UTCDateTime(types.TypeDecorator):
    """A timestamp stored as naive UTC and returned timezone-aware (UTC), the same on SQLite and PostgreSQL."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; use examsys.clock.now()")
        return value.astimezone(_dt.timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=_dt.timezone.utc)

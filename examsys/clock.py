"""The server's clock (decision 3: the server owns time).

Everything that needs "now" calls :func:`now`. Tests freeze or move time with :func:`set_clock`
instead of sleeping. Times are timezone-aware UTC.
"""
from __future__ import annotations

import datetime as _dt
from typing import Callable

_source: Callable[[], _dt.datetime] | None = None


def now() -> _dt.datetime:
    """Current time, timezone-aware UTC."""
    if _source is not None:
        return _source()
    return _dt.datetime.now(_dt.timezone.utc)


def set_clock(source: Callable[[], _dt.datetime] | None) -> None:
    """Install a clock function (``None`` restores the real clock)."""
    global _source
    _source = source


class FrozenClock:
    """A settable clock for tests: ``clock = FrozenClock(t0); set_clock(clock); clock.advance(seconds=5)``."""

    def __init__(self, start: _dt.datetime):
        if start.tzinfo is None:
            raise ValueError("FrozenClock needs a timezone-aware datetime")
        self.current = start

    def __call__(self) -> _dt.datetime:
        return self.current

    def advance(self, **delta: float) -> _dt.datetime:
        self.current = self.current + _dt.timedelta(**delta)
        return self.current

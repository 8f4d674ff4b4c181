"""Marking after exam delivery: what :mod:`examsys.services.post_finalise` runs for finalised attempts.

:func:`mark_finalised` machine-marks a batch of finalised attempts in one vectorised call
(:func:`examsys.services.marking.mark_attempts`: objective items marked, scripts created for examiners —
a blank constructed answer is marked 0 at once — the session's practical-task scripts once it has started,
and the candidates' draft results refreshed), inside the caller's transaction (no commit). Attempts of a
station's keyless copy are skipped: they are marked centrally when the results package comes back. After the
commit, :func:`after_marked` refreshes each sitting's item statistics once (only when no attempt of it is
open any more; debounced; never raises).

A marking failure is logged by the post-finalisation and leaves the finalisation standing (the attempt is
audited without marks); :func:`mark_session` (also ``examsys marking mark-session SESSION_ID``) catches up
in one batch. :func:`on_attempt_finalised` is the same for one attempt, with its own commit.
"""
from __future__ import annotations

from . import marking


def mark_finalised(attempt_ids) -> dict[int, int]:
    """Machine-mark the finalised attempts ``attempt_ids`` (one batch, no commit). Returns
    ``{session_id: one of its attempt ids}`` for the sessions marked (for :func:`after_marked`)."""
    from sqlalchemy import select

    from ..extensions import db
    from ..models import ExamAttempt
    from .station_package import is_station_copy
    ids = sorted({int(a) for a in attempt_ids})
    if not ids:
        return {}
    by_session: dict[int, list[int]] = {}
    for aid, sid in db.session.execute(select(ExamAttempt.id, ExamAttempt.session_id)
                                       .where(ExamAttempt.id.in_(ids))):
        by_session.setdefault(sid, []).append(aid)
    marked = {sid: aids for sid, aids in by_session.items() if not is_station_copy(sid)}
    if marked:
        marking.mark_attempts([a for aids in marked.values() for a in aids], commit=False)
    return {sid: min(aids) for sid, aids in marked.items()}


def after_marked(sessions: dict[int, int]) -> None:
    """After the marking transaction is committed: each sitting's item statistics, once its last attempt is
    in (``sessions`` as returned by :func:`mark_finalised`; never raises)."""
    from . import stats_loop
    for _sid, attempt_id in sorted(sessions.items()):
        stats_loop.on_attempt_finalised(attempt_id)


def on_attempt_finalised(attempt_id: int) -> None:
    """Machine-mark one finalised attempt and commit, then refresh its sitting's statistics when due."""
    from ..extensions import db
    from ..models import ExamAttempt
    from .station_package import is_station_copy
    att = db.session.get(ExamAttempt, attempt_id)
    if att is not None and is_station_copy(att.session_id):
        return  # a station's keyless copy: marked centrally when its results package comes back
    marking.process_finalised(attempt_id)
    from . import stats_loop  # item statistics of the sitting once its last attempt is in (never raises)
    stats_loop.on_attempt_finalised(attempt_id)


def mark_session(session_id: int) -> dict:
    """Machine-mark every finalised attempt of a session (vectorised) and refresh its draft results."""
    return marking.mark_session(session_id)

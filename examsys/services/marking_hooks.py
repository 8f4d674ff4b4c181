"""Hooks called by exam delivery (:func:`examsys.services.attempts.run_finalised_hooks`).

``on_attempt_finalised(attempt_id)`` runs after the finalisation is committed: it machine-marks the attempt
(objective items), creates its scripts for examiners (constructed-response items; a blank answer is marked 0
at once), creates the session's practical-task scripts once the session has started, and refreshes the
candidate's draft result — then commits. A failure is logged by delivery and leaves the finalisation
standing; :func:`mark_session` (also ``examsys marking mark-session SESSION_ID``) catches up in one batch.
"""
from __future__ import annotations

from . import marking


def on_attempt_finalised(attempt_id: int) -> None:
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

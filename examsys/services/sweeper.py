"""The background sweeper: finalises attempts past their deadline + grace (and starts due sessions) even
when no browser and no proctor page is asking, and catches up on the post-finalisation (marking, audit
entry) of finalised attempts that no process has done yet — e.g. after a crash or a restart.

Design: three mechanisms finalise, and all three are safe together because finalisation is a conditional
UPDATE that only one caller can win (:func:`examsys.services.finalisation.finalise`):

1. **lazily**, on any access to the attempt or its session (candidate requests, the proctor's live table);
2. **``examsys exams finalise-due``** — for cron / systemd timers, or a station without web traffic;
3. **this thread** — a daemon thread per serving process, started on the first request the process handles
   (so ``examsys db upgrade`` and other CLI commands never start it), only when ``TESTING`` is false and
   ``EXAMS_SWEEPER`` is true (default). It wakes every ``EXAMS_SWEEP_SECONDS`` (default 15 s), so an
   abandoned attempt is finalised at most about 15 s after deadline + grace. With several gunicorn workers
   each runs one; they do not conflict.

Each cycle then runs :func:`examsys.services.post_finalise.process_pending` for attempts finalised at least
30 s ago and still not post-processed (a crash, a restart; exactly once per attempt, also with several
processes). The first request also starts the process's post-finalisation worker thread
(:func:`examsys.services.post_finalise.start`; not in testing).
"""
from __future__ import annotations

import logging
import threading

log = logging.getLogger(__name__)
_started: dict[int, threading.Thread] = {}
_lock = threading.Lock()


def sweep_once(app) -> int:
    """Finalise what is due, then post-process the finalised attempts that no process has post-processed
    within ``post_finalise.CATCH_UP_AFTER`` seconds (also when the finalisation failed). Returns the number
    of attempts finalised."""
    from . import finalisation, post_finalise
    try:
        with app.app_context():
            return finalisation.finalise_due()
    finally:
        with app.app_context():
            n = post_finalise.process_pending(older_than=post_finalise.CATCH_UP_AFTER)
        if n:
            log.info("sweeper post-processed %d finalised attempt(s)", n)


def _loop(app, interval: float, stop: threading.Event) -> None:
    while not stop.wait(interval):
        try:
            n = sweep_once(app)
            if n:
                log.info("sweeper finalised %d attempt(s)", n)
        except Exception:  # noqa: BLE001 - keep sweeping; the error is logged
            log.exception("exam sweeper failed")


def start(app) -> threading.Thread | None:
    """Start the sweeper thread for ``app`` once per process (no-op in testing or when disabled)."""
    if app.testing or not app.config.get("EXAMS_SWEEPER", True):
        return None
    with _lock:
        t = _started.get(id(app))
        if t is not None and t.is_alive():
            return t
        stop = threading.Event()
        t = threading.Thread(target=_loop, args=(app, float(app.config.get("EXAMS_SWEEP_SECONDS", 15)), stop),
                             name="examsys-sweeper", daemon=True)
        t.stop_event = stop  # type: ignore[attr-defined]
        t.start()
        _started[id(app)] = t
        return t


def install(app) -> None:
    """Start the sweeper and the post-finalisation worker on the first request this process serves."""
    state = {"done": False}

    @app.before_request
    def _start_sweeper():
        if not state["done"]:
            state["done"] = True
            start(app)
            from . import post_finalise
            post_finalise.start(app)

"""Post-finalisation: what follows a hand-in, done after the reply, exactly once, crash-safe.

A hand-in (:func:`examsys.services.finalisation.finalise`) commits only the finalisation: the attempt's
status, times and reason, and the ``finalised`` attempt event (who, why). The rest is done here for every
attempt with ``finalised_at`` set and ``processed_at`` NULL — a queue kept in the attempt rows themselves
(partial index ``ix_exam_attempt_unprocessed``):

1. the digest of the final answers and the answered count (``final_digest``, ``answered_count``) of the
   batch's attempts that have none yet (a station's results import stores its own): one query over the
   batch's responses, each attempt's rows digested by :func:`examsys.services.finalisation.digest_rows` (the
   canonical form of ``responses_digest``), one executemany UPDATE. Reading the responses here, after the
   finalisation committed, gives exactly the answers it froze: a save's upsert is guarded by "attempt status
   is ``in_progress``" in the same statement, and on PostgreSQL a save holds ``FOR SHARE`` on the attempt row
   from its first read, so the finalising UPDATE waited for any save in flight and every later save is
   refused (on SQLite writers take turns on the write lock). Until this step ``final_digest`` and
   ``answered_count`` are NULL;
2. machine marking of the whole batch in one vectorised call, scripts, draft results
   (:func:`examsys.services.marking_hooks.mark_finalised`; a station's keyless copy is not marked);
3. one ``attempt.finalise`` audit entry per attempt (before: the open status; after: status, reason,
   answered count, digest, finish time; actor: the finalised event's actor; reason: the proctor's note or the
   finalisation reason; ``at``: the finalisation time), all of the batch under one hold of the audit head;
4. ``processed_at`` set by a conditional ``UPDATE ... WHERE id IN (...) AND processed_at IS NULL`` whose
   returned ids are the attempts this transaction owns: only those are marked and audited.

All of it is one transaction per batch (:func:`process_pending`), then the sittings' item statistics are
refreshed once per session (after the commit). On PostgreSQL the batch is first claimed with ``SELECT ...
FOR UPDATE SKIP LOCKED``, so several processes (gunicorn workers, the sweeper, ``examsys exams
finalise-due``) take disjoint batches, and a last pass waits for the rows that were held (by another
processor, or for a moment by a late save); on SQLite the claiming UPDATE takes the database's write lock,
so processors run one after the other and the second finds nothing left. A process killed mid-way rolls back
its batch, which a later run picks up. A batch whose marking fails is retried one attempt at a time; an
attempt whose marking still fails is audited and marked processed without marks (logged; ``examsys marking
mark-session`` catches up), as a failing marking hook always did.

Who runs it (:func:`enqueue`, called through ``finalisation.run_finalised_hooks`` after each commit):

* ``EXAMS_POST_FINALISE_INLINE`` true (tests): the given attempts are processed at once, in the request.
* otherwise a daemon :class:`Worker` thread per serving process is notified. It is started on the first
  request a process serves (never in CLI commands; never in testing unless a test calls :func:`start`; not
  when ``EXAMS_POST_FINALISE_WORKER`` is false). It waits for a quiet moment — ``EXAMS_POST_FINALISE_DELAY``
  seconds (default 1.0) after the last hand-in, but at most :data:`MAX_WAIT` (10 s) after the first — and
  then runs :func:`process_pending` until nothing is left (all pending attempts, not only its own).
* the sweeper (:func:`examsys.services.sweeper.sweep_once`, every cycle) and ``examsys exams finalise-due``
  run :func:`process_pending` too: the catch-up after a crash or a restart. The sweeper takes only attempts
  finalised at least :data:`CATCH_UP_AFTER` (30 s) ago, so it does not compete with the hand-ins of a
  deadline burst that a worker thread is about to process anyway.
"""
from __future__ import annotations

import datetime as _dt
import logging
import threading
import time
from typing import NamedTuple

from flask import current_app, has_request_context
from sqlalchemy import bindparam, select, update

from .. import clock
from ..extensions import db
from ..models import AttemptEvent, ExamAttempt, ExamResponse
from . import audit, marking_hooks
from .finalisation import before_status, digest_rows

log = logging.getLogger(__name__)

BATCH = 250  # attempts per transaction
MAX_WAIT = 10.0  # seconds: the worker starts at most this long after the first hand-in it was told about
CATCH_UP_AFTER = 30.0  # seconds: the sweeper's catch-up takes attempts finalised at least this long ago
_KEY = "examsys.post_finalise"
_lock = threading.Lock()
_T = ExamAttempt.__table__
_R = ExamResponse.__table__


class _Actor(NamedTuple):
    """The finalising user as :func:`examsys.services.audit.record` reads it (``id``, ``username``)."""
    id: int | None
    username: str


# -- processing ------------------------------------------------------------------------------------------

def pending_count(session_id: int | None = None) -> int:
    """Finalised attempts not yet post-processed (of one session, or all)."""
    from sqlalchemy import func
    q = select(func.count()).select_from(_T).where(_T.c.finalised_at.is_not(None), _T.c.processed_at.is_(None))
    if session_id is not None:
        q = q.where(_T.c.session_id == session_id)
    return db.session.execute(q).scalar_one()


def process_pending(limit: int = BATCH, *, attempt_ids=None, older_than: float | None = None) -> int:
    """Mark and audit finalised attempts not yet processed, ``limit`` attempts per transaction, until none is
    left that this process can take. ``attempt_ids``: only these; ``older_than`` (seconds): only attempts
    finalised at least this long ago. Returns how many this call processed. Safe to run in several threads
    and processes at once; never processes an attempt twice."""
    limit = max(1, int(limit))
    wanted = None if attempt_ids is None else sorted({int(a) for a in attempt_ids})
    cutoff = None if older_than is None else clock.now() - _dt.timedelta(seconds=older_than)
    total = 0
    if wanted is not None:  # these attempts (a hand-in's): wait for a row another transaction holds
        for k in range(0, len(wanted), limit):
            total += _process_batch(limit, wanted[k:k + limit], cutoff, skip_locked=False)[0]
        return total
    # in parallel with other processors (rows they hold are skipped), then once more waiting for the rows
    # that were held: by another processor (processed when it commits) or briefly by someone else (e.g. a
    # late save's FOR SHARE on PostgreSQL), which would otherwise wait for the sweeper's catch-up
    for skip_locked in (True, False):
        while True:
            n, more = _process_batch(limit, None, cutoff, skip_locked=skip_locked)
            total += n
            if not more:
                break
    return total


def _pending_ids(limit: int, ids: list[int] | None, cutoff=None, *, skip_locked: bool = True) -> list[int]:
    """Up to ``limit`` pending attempt ids (finalised before ``cutoff`` when given), oldest first; on
    PostgreSQL locked for this transaction (``skip_locked``: rows another transaction holds are skipped;
    otherwise waited for, and left out when that transaction processed them). SQLite ignores ``FOR UPDATE``
    (its writers take turns)."""
    q = select(_T.c.id).where(_T.c.finalised_at.is_not(None), _T.c.processed_at.is_(None))
    if ids is not None:
        q = q.where(_T.c.id.in_(ids))
    if cutoff is not None:
        q = q.where(_T.c.finalised_at <= cutoff)
    q = q.order_by(_T.c.id).limit(limit).with_for_update(skip_locked=skip_locked)
    return list(db.session.execute(q).scalars())


def _claim(ids: list[int], now) -> tuple[list[int], list[int]]:
    """Set ``processed_at`` where it is still NULL. Returns the ids this transaction set (its batch) and,
    among them, those without a digest yet."""
    stmt = update(_T).where(_T.c.id.in_(ids), _T.c.processed_at.is_(None)).values(processed_at=now)
    if db.session.get_bind().dialect.update_returning:
        rows = sorted(db.session.execute(stmt.returning(_T.c.id, _T.c.final_digest)).all())
        return [aid for aid, _d in rows], [aid for aid, digest in rows if digest is None]
    won = []
    for aid in ids:  # pragma: no cover - every supported database has UPDATE ... RETURNING
        res = db.session.execute(update(_T).where(_T.c.id == aid, _T.c.processed_at.is_(None))
                                 .values(processed_at=now))
        if res.rowcount == 1:
            won.append(aid)
    return won, list(db.session.execute(select(_T.c.id).where(_T.c.id.in_(won), _T.c.final_digest.is_(None))
                                        .order_by(_T.c.id)).scalars()) if won else []


_SET_DIGEST = (update(_T).where(_T.c.id == bindparam("d_id"))
               .values(final_digest=bindparam("d_digest"), answered_count=bindparam("d_answered")))


def _digest(ids: list[int]) -> None:
    """Store ``final_digest`` and ``answered_count`` of these finalised attempts: one query over their
    responses (attempt, then paper item order), digested per attempt with
    :func:`~examsys.services.finalisation.digest_rows` (the same canonical form as ``responses_digest``),
    then one executemany UPDATE. An attempt without responses gets the digest of the empty list."""
    if not ids:
        return
    per_attempt: dict[int, list] = {aid: [] for aid in ids}
    for aid, pi, ans, fl, seq in db.session.execute(
            select(_R.c.attempt_id, _R.c.paper_item_id, _R.c.answer, _R.c.flagged, _R.c.seq)
            .where(_R.c.attempt_id.in_(ids)).order_by(_R.c.attempt_id, _R.c.paper_item_id)):
        per_attempt[aid].append((pi, ans, fl, seq))
    values = []
    for aid, rows in per_attempt.items():
        digest, answered = digest_rows(rows)
        values.append({"d_id": aid, "d_digest": digest, "d_answered": answered})
    db.session.execute(_SET_DIGEST, values)


def _audit(ids: list[int]) -> None:
    """One ``attempt.finalise`` entry per attempt, chained in attempt-id order. The first entry takes the
    audit head's row lock (held until the commit) and is flushed; the others are added without autoflush,
    so the batch's entries go to the database in one bulk INSERT at the commit."""
    rows = db.session.execute(
        select(_T.c.id, _T.c.status, _T.c.submit_reason, _T.c.answered_count, _T.c.final_digest,
               ExamAttempt.submitted_at, ExamAttempt.finalised_at)
        .where(_T.c.id.in_(ids)).order_by(_T.c.id)).all()
    events: dict[int, tuple[str, dict]] = {}
    for aid, label, detail in db.session.execute(
            select(AttemptEvent.attempt_id, AttemptEvent.actor_label, AttemptEvent.detail)
            .where(AttemptEvent.attempt_id.in_(ids), AttemptEvent.kind == "finalised").order_by(AttemptEvent.id)):
        events.setdefault(aid, (label, detail or {}))
    for k, (aid, status, reason, answered, digest, submitted_at, finalised_at) in enumerate(rows):
        label, detail = events.get(aid, ("", {}))
        extra = detail.get("audit") if isinstance(detail.get("audit"), dict) else {}
        label = label or "system"
        kwargs = dict(actor=_Actor(extra.get("actor_id"), label), actor_label=label,
                      before={"status": extra.get("before") or before_status(status)},
                      after={"status": status, "reason": reason, "answered": answered, "digest": digest,
                             "submitted_at": submitted_at.isoformat() if submitted_at else None},
                      reason=extra.get("reason") or reason or "", at=finalised_at)
        if k == 0:
            audit.record("attempt.finalise", "exam_attempt", aid, **kwargs)
            db.session.flush()  # the head row exists and is locked from here on
        else:
            with db.session.no_autoflush:
                audit.record("attempt.finalise", "exam_attempt", aid, **kwargs)


def _run(candidates: list[int], *, mark: bool) -> int:
    """One transaction: claim, digest, mark (``mark``), audit, commit; then the statistics. Returns the
    number processed by this transaction."""
    won, undigested = _claim(candidates, clock.now())
    sessions: dict[int, int] = {}
    if won:
        _digest(undigested)  # before the audit entries, which record the digest and the answered count
        if mark:
            sessions = marking_hooks.mark_finalised(won)
        _audit(won)
    db.session.commit()
    if sessions:
        try:
            marking_hooks.after_marked(sessions)
        except Exception:  # noqa: BLE001 - statistics never undo the processing
            db.session.rollback()
            log.exception("item statistics after post-finalisation failed (sessions %s)", sorted(sessions))
    return len(won)


def _process_batch(limit: int, ids: list[int] | None, cutoff=None, *, skip_locked: bool = True) -> tuple[int, bool]:
    """Process one batch. Returns (processed, whether to look for more)."""
    try:
        candidates = _pending_ids(limit, ids, cutoff, skip_locked=skip_locked)
    except Exception:
        db.session.rollback()
        raise
    if not candidates:
        db.session.rollback()  # ends the read transaction
        return 0, False
    try:
        return _run(candidates, mark=True), True
    except Exception:  # noqa: BLE001 - retried one by one below
        db.session.rollback()
        log.exception("post-finalisation of attempts %s..%s failed; retrying one at a time",
                      candidates[0], candidates[-1])
    n = 0
    for aid in candidates:
        try:
            n += _run([aid], mark=True)
            continue
        except Exception:  # noqa: BLE001
            db.session.rollback()
            log.exception("machine marking of attempt %s failed; it is audited without marks (run `examsys "
                          "marking mark-session` for its session)", aid)
        try:
            n += _run([aid], mark=False)
        except Exception:  # noqa: BLE001 - left for a later run (sweeper)
            db.session.rollback()
            log.exception("post-finalisation of attempt %s failed; left for a later run", aid)
            return n, False
    return n, True


# -- who runs it -----------------------------------------------------------------------------------------

def enqueue(attempt_ids) -> None:
    """Post-process these just-finalised attempts (call after the finalisation's commit): now, when
    ``EXAMS_POST_FINALISE_INLINE``; otherwise by this process's worker thread (started here on a request).
    Never raises: what is not processed now is processed by a later run."""
    ids = sorted({int(a) for a in attempt_ids})
    if not ids:
        return
    app = current_app._get_current_object()
    if app.config.get("EXAMS_POST_FINALISE_INLINE", False):
        try:
            process_pending(attempt_ids=ids)
        except Exception:  # noqa: BLE001 - the finalisation stands; the sweeper catches up
            db.session.rollback()
            log.exception("post-finalisation of attempts %s failed", ids)
        return
    worker = worker_for(app)
    if worker is None and has_request_context():
        worker = start(app)
    if worker is not None:
        worker.notify()


class Worker:
    """A daemon thread that runs :func:`process_pending` for ``app`` a quiet moment after hand-ins.

    ``delay`` (seconds): wait until this long after the last :meth:`notify`; ``max_wait`` (seconds): but no
    longer than this after the first one not yet handled."""

    def __init__(self, app, delay: float, max_wait: float = MAX_WAIT):
        self.app = app
        self.delay = max(0.0, float(delay))
        self.max_wait = max(0.0, float(max_wait))
        self.processed = 0  # attempts this thread has processed (diagnostics and tests)
        self.runs = 0
        self._cond = threading.Condition()
        self._first: float | None = None
        self._last: float | None = None
        self._stopping = False
        self.thread = threading.Thread(target=self._loop, name="examsys-post-finalise", daemon=True)

    def notify(self) -> None:
        """A hand-in happened. Wakes the thread only when it is idle: while it is already waiting for a quiet
        moment it finds the later ``_last`` when its wait ends (a deadline burst does not wake it 1,000
        times, each wake taking the GIL from the requests)."""
        with self._cond:
            now = time.monotonic()
            self._last = now
            if self._first is None:
                self._first = now
                self._cond.notify_all()

    def is_alive(self) -> bool:
        return self.thread.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the current run (what is pending stays for the next process or the sweeper)."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self.thread.is_alive() and threading.current_thread() is not self.thread:
            self.thread.join(timeout)

    def _wait(self) -> bool:
        """Block until it is time to run (True) or the worker is stopped (False)."""
        with self._cond:
            while not self._stopping:
                if self._first is None:
                    self._cond.wait()
                    continue
                left = min(self._last + self.delay, self._first + self.max_wait) - time.monotonic()
                if left <= 0:
                    self._first = self._last = None
                    return True
                self._cond.wait(left)
            return False

    def _loop(self) -> None:
        while self._wait():
            try:
                with self.app.app_context():
                    n = process_pending()
                self.processed += n
                self.runs += 1
                if n:
                    log.info("post-finalisation: %d attempt(s) marked and audited", n)
            except Exception:  # noqa: BLE001 - keep the thread; the sweeper catches up
                log.exception("post-finalisation failed")


def worker_for(app) -> Worker | None:
    """This process's running worker for ``app``, if any."""
    w = app.extensions.get(_KEY)
    return w if w is not None and w.is_alive() else None


def start(app, *, delay: float | None = None, max_wait: float = MAX_WAIT, force: bool = False) -> Worker | None:
    """Start the worker thread for ``app`` once per process. A no-op (``None``) in testing unless ``force``,
    and when ``EXAMS_POST_FINALISE_WORKER`` is false. ``delay`` (seconds) defaults to
    ``EXAMS_POST_FINALISE_DELAY``."""
    if not force and (app.testing or not app.config.get("EXAMS_POST_FINALISE_WORKER", True)):
        return None
    with _lock:
        w = worker_for(app)
        if w is not None:
            return w
        if delay is None:
            delay = float(app.config.get("EXAMS_POST_FINALISE_DELAY", 1.0))
        w = Worker(app, delay, max_wait)
        w.thread.start()
        app.extensions[_KEY] = w
        return w


def stop(app, timeout: float = 10.0) -> None:
    """Stop ``app``'s worker thread in this process (tests)."""
    w = app.extensions.pop(_KEY, None)
    if w is not None:
        w.stop(timeout)

"""The candidate's side of an attempt: login, confirmation, the paper, acknowledged autosave, heartbeat,
submit and finalisation (DESIGN.md decisions 3, 4 and 5).

**Autosave** (:func:`save_answer`): one small request per answer carrying the attempt's client sequence
number. The server (1) reads the attempt row, (2) validates the item and the answer's shape, and (3) writes with
one conditional upsert whose guard holds the attempt row ``FOR SHARE`` on PostgreSQL — so a concurrent
finalisation waits for the save and the save waits for a finalisation (on PostgreSQL the read and the upsert are
each autocommitted, :func:`autocommit_connection`; on SQLite they share one short transaction, whose writers
take turns)::

    INSERT INTO exam_response (...) SELECT ... WHERE EXISTS (attempt in progress, not paused,
                                                           deadline >= now - grace)
    ON CONFLICT (attempt_id, paper_item_id) DO UPDATE SET ... WHERE exam_response.seq < excluded.seq

so the deadline check runs inside the write (on SQLite the statement holds the write lock while it checks),
an older sequence never overwrites a newer one, and a retried request changes nothing. The reply is sent
after the commit and carries the stored sequence number, the attempt's status, its deadline and the server's
time. A save refused for time or status answers 409 and is logged as an attempt event. The hot path writes
one response row (no session-row or attempt-row writes per save; the heartbeat updates ``last_seen_at`` at
most every 10 s).

**Finalisation** lives in :mod:`examsys.services.finalisation` (re-exported here).
"""
from __future__ import annotations

import datetime as _dt
import hmac
import logging
import math
from dataclasses import dataclass

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import BigInteger, Boolean, Integer, bindparam, delete, exists, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.attributes import set_committed_value

from question_bank import item_types
from question_bank.layout import LETTERS, AnswerError, answer_to_display, answer_to_original, layout_entries

from .. import clock
from ..extensions import db
from ..models import (AttemptEvent, AuthSession, ExamAttempt, ExamCandidate, ExamResponse, ExamSession,
                      ItemVersion, PaperItem)
from ..models.exams import FINAL_STATUSES, FINISHED, IN_PROGRESS, NOT_STARTED, SUBMITTED
from ..models.types import UTCDateTime
from . import audit, exams, pii, sessions, throttle
from .finalisation import (add_event, finalise, finalise_due, finalise_due_in_session, finalise_if_due,  # noqa: F401
                           get_attempt, responses_digest, run_finalised_hooks)
from .exams import ExamError

log = logging.getLogger(__name__)

LOGIN_FAILED = "login_failed"
LOGIN_LOCKED = "login_locked"
NOT_OPEN = "not_open"
TOO_LATE = "too_late"
SECOND_LOGIN = "second_login"
CLOSED = "closed"

INTEGRITY_KINDS = ("focus_loss", "visibility_hidden", "paste", "fullscreen_exit")
MAX_EVENTS_PER_BEAT = 20
LAST_SEEN_EVERY = _dt.timedelta(seconds=10)
ONLINE_WITHIN = _dt.timedelta(seconds=15)
TIME_UP_TOLERANCE = _dt.timedelta(seconds=2)  # a client's "time is up" counts only this close to the deadline
MAX_SEQ = 2 ** 53 - 1


# -- helpers ---------------------------------------------------------------------------------------

def _iso(t: _dt.datetime | None) -> str | None:
    return t.isoformat().replace("+00:00", "Z") if t is not None else None


def local_hms(t: _dt.datetime | None) -> str:
    if t is None:
        return ""
    return t.astimezone(_dt.timezone(_dt.timedelta(hours=8))).strftime("%H:%M:%S")


_event = add_event


def candidate_label(att: ExamAttempt) -> str:
    return f"candidate:{att.candidate.ticket_no}"


def attempt_for_page(attempt_id: int) -> ExamAttempt | None:
    """The attempt with its candidate, session and occupation, read fresh in one statement (for pages)."""
    return db.session.execute(
        select(ExamAttempt).where(ExamAttempt.id == attempt_id)
        .options(joinedload(ExamAttempt.candidate), joinedload(ExamAttempt.session).joinedload(ExamSession.occupation))
        .execution_options(populate_existing=True)).scalar_one_or_none()


def remaining_ms(att: ExamAttempt, now: _dt.datetime) -> int | None:
    if att.deadline is None:
        return None
    ref = att.paused_at or now
    return max(0, int((att.deadline - ref).total_seconds() * 1000))


def state(att: ExamAttempt, sess: ExamSession | None = None, now: _dt.datetime | None = None) -> dict:
    """What every candidate reply carries: status, pause, deadline, server time, time left (ms)."""
    sess = sess or att.session
    now = now or clock.now()
    out = {"status": att.status, "paused": att.paused_at is not None, "started": sess.started_at is not None,
           "deadline": _iso(att.deadline), "server_now": _iso(now), "remaining_ms": remaining_ms(att, now),
           "grace_ms": sess.grace_seconds * 1000}
    if sess.started_at is None:
        out["starts_in_ms"] = max(0, int((sess.starts_at - now).total_seconds() * 1000))
    return out


# -- login -----------------------------------------------------------------------------------------

@dataclass
class LoginOutcome:
    attempt_id: int | None = None
    error: str | None = None
    opens_at: _dt.datetime | None = None
    view: object = None  # on success: the 核对信息 page's PageView, from the login's own read


def _credential_ok(cand, credential: str) -> tuple[bool, bool]:
    """(valid, used the one-time code). ``cand``: a row of the login's read (``cand_id``, ``id_cipher``,
    ``login_code_cipher``, ``login_code_used_at``) or ``None``."""
    cred = "".join((credential or "").split()).upper()[:32]
    if cand is None:
        # spend about the same time as a real check (no enumeration by timing)
        try:
            pii.decrypt(pii.encrypt("000000000000000000"))
        except pii.PiiError:  # pragma: no cover
            pass
        return False, False
    if len(cred) == 6:
        try:
            idno = pii.decrypt(cand.id_cipher)
        except pii.PiiError:
            log.error("cannot decrypt the ID number of candidate %s (check PII_KEY)", cand.cand_id)
            return False, False
        return hmac.compare_digest(idno[-6:].encode(), cred.encode()), False
    if cand.login_code_cipher and cand.login_code_used_at is None and len(cred) >= 6:
        try:
            code = pii.decrypt(cand.login_code_cipher)
        except pii.PiiError:
            return False, False
        return hmac.compare_digest(code.encode(), cred.encode()), True
    return False, False


def _login_query():
    """The login's read, one statement: the attempt of a 准考证号 with its candidate's credentials, its
    session's times, the address of another live login session of the attempt (``other_ip``, NULL when
    there is none; ``sid``: this browser's own session, not counted) and the failure count of the client's
    address (``ip_failures``/``ip_window``: see :func:`throttle.is_locked`)."""
    from ..models import LoginThrottle
    T = LoginThrottle.__table__.c  # noqa: N806
    other = (select(_AS.ip).where(_AS.kind == "candidate", _AS.subject_id == _A.id, _AS.revoked_at.is_(None),
                                  _AS.expires_at > bindparam("now", type_=UTCDateTime), _AS.id != bindparam("sid"))
             .limit(1).scalar_subquery())
    from ..models import Occupation
    O = Occupation.__table__.c  # noqa: N806
    ip_failures = select(T.failures).where(T.key == bindparam("ip_key")).scalar_subquery()
    ip_window = select(T.window_start).where(T.key == bindparam("ip_key")).scalar_subquery()
    return (select(_A.id, _A.session_id, _A.status, _A.entered_at, _A.deadline, _A.paused_at, _A.confirmed_at,
                   _C.id.label("cand_id"), _C.id_cipher, _C.login_code_cipher, _C.login_code_used_at,
                   _S.status.label("sess_status"), _S.auto_start, _S.starts_at, _S.started_at, _S.login_opens_min,
                   _S.late_entry_min, _S.grace_seconds, other.label("other_ip"), ip_failures.label("ip_failures"),
                   ip_window.label("ip_window"),
                   # what the 核对信息 page that answers a successful login shows
                   _C.name.label("cand_name"), _C.ticket_no, _C.seat, _C.id_masked, _S.name.label("sess_name"),
                   _S.grade, _S.duration_min, O.name.label("occ_name"), O.work_type)
            .join_from(ExamAttempt.__table__, ExamCandidate.__table__, _C.id == _A.candidate_id)
            .join(ExamSession.__table__, _S.id == _A.session_id)
            .join(Occupation.__table__, O.id == _S.occupation_id)
            .where(_C.ticket_no == bindparam("ticket")))


def _confirm_view_of(row) -> "PageView":
    """The 核对信息 page's :class:`PageView` from the login's read."""
    from types import SimpleNamespace as NS
    return PageView(
        att=NS(id=row.id, session_id=row.session_id, status=row.status, deadline=row.deadline,
               paused_at=row.paused_at, confirmed_at=row.confirmed_at, entered_at=row.entered_at, layout=None),
        cand=NS(name=row.cand_name, ticket_no=row.ticket_no, seat=row.seat, id_masked=row.id_masked),
        sess=NS(id=row.session_id, name=row.sess_name, grade=row.grade, starts_at=row.starts_at,
                started_at=row.started_at, duration_min=row.duration_min, grace_seconds=row.grace_seconds,
                status=row.sess_status, occupation=NS(name=row.occ_name, work_type=row.work_type)))


def _login_row(ticket_norm: str, now: _dt.datetime, ip_key: str):
    return db.session.execute(_prebuilt("login", _login_query),
                              {"ticket": ticket_norm, "now": now, "sid": sessions.token_digest() or "",
                               "ip_key": ip_key}).one_or_none()


def _login_transition_due(row, now: _dt.datetime) -> bool:
    """Whether the login must first start an auto-start session or finalise an attempt past its time (rare:
    those go through the ORM services)."""
    if row.started_at is None and row.auto_start and now >= row.starts_at:
        return True
    return row.status not in FINAL_STATUSES and row.deadline is not None and row.paused_at is None \
        and now > row.deadline + _dt.timedelta(seconds=row.grace_seconds)


def candidate_login(ticket: str, credential: str, ip: str) -> LoginOutcome:
    """Check 准考证号 + last 6 characters of the ID number (or the printed one-time code), the session
    window and the one-session rule; on success open a server-side candidate session (the caller's response
    carries its cookie).

    Brute force: the ticket's counter is incremented *before* the check and its row stays locked until this
    transaction commits, so concurrent guesses on one ticket queue and at most ``LOGIN_MAX_FAILURES`` checks
    happen before it locks; the address's counter (a whole room may share one address) is read before and
    incremented on failure only. One commit per login; a success is recorded as the attempt's ``login``
    event (shown to the proctor), a failure or a refused second login also in the audit log. A usual login
    is three statements, all prebuilt: the ticket counter's upsert, one read (the attempt, the credentials,
    the session's times, another live login, the address's counter), and on PostgreSQL one statement for the
    counter's delete and the session and event inserts (three on SQLite). When the address is locked the
    transaction is rolled back: nothing is counted."""
    cfg = current_app.config
    ticket_norm = "".join((ticket or "").split()).upper()[:32]
    lock_s = cfg["LOGIN_LOCK_SECONDS"]
    ip_key, ip_limit = f"cip:{ip}", cfg.get("CANDIDATE_IP_MAX_FAILURES", 100)
    if not throttle.reserve_attempt(f"ticket:{ticket_norm}", limit=cfg["LOGIN_MAX_FAILURES"], lock_seconds=lock_s,
                                    commit=False):
        locked_ip = throttle.is_locked(ip_key, limit=ip_limit, lock_seconds=lock_s)
        if locked_ip:  # the address is locked: this attempt is not counted for the ticket
            db.session.rollback()
        else:
            db.session.commit()
        return LoginOutcome(error=LOGIN_LOCKED)
    now = clock.now()
    row = _login_row(ticket_norm, now, ip_key) if ticket_norm else None
    ip_failures, ip_window = (row.ip_failures, row.ip_window) if row is not None else \
        throttle.counter(ip_key)
    if throttle.over_limit(ip_failures, ip_window, limit=ip_limit, lock_seconds=lock_s):
        db.session.rollback()  # the address is locked: nothing is counted, not even the ticket's attempt
        return LoginOutcome(error=LOGIN_LOCKED)
    valid, used_code = _credential_ok(row, credential)
    if not valid:
        throttle.reserve_attempt(ip_key, limit=ip_limit, lock_seconds=lock_s, commit=False)
        audit.record("candidate.login_failed", "exam_candidate", ticket_norm or "?",
                     actor_label=f"candidate:{ticket_norm or '?'}", after={"ip": ip})
        db.session.commit()
        return LoginOutcome(error=LOGIN_FAILED)
    ticket_key = f"ticket:{ticket_norm}"
    if _login_transition_due(row, now):
        att = get_attempt(row.id, refresh=True)
        if att.session.started_at is None:
            exams.maybe_autostart(att.session)  # commits when it starts the session
        finalise_if_due(att, now)
        row = _login_row(ticket_norm, now, ip_key)
    label = f"candidate:{ticket_norm}"
    refusal = _login_refusal(row, now, ip, label) if row.status not in FINAL_STATUSES else None
    if refusal is not None:
        throttle.clear(ticket_key)  # (the credentials were right)
        db.session.commit()
        return refusal
    sessions.end_current_session()
    session_row = sessions.new_session_row(kind="candidate", subject_id=row.id)
    if used_code:
        db.session.execute(update(ExamCandidate.__table__).where(_C.id == row.cand_id).values(login_code_used_at=now))
    event = {"session_id": row.session_id, "attempt_id": row.id, "at": now, "kind": "login", "actor_label": label,
             "detail": {"ip": ip, "with": "code" if used_code else "id"}}
    if db.engine.dialect.name == "postgresql":  # the three writes of a login in one statement
        db.session.execute(_prebuilt("login_writes", _login_writes_statement), {
            "ticket_key": ticket_key, **{f"s_{k}": v for k, v in session_row.items()},
            **{f"e_{k}": v for k, v in event.items()}})
    else:
        throttle.clear(ticket_key)
        sessions.insert_row(session_row)
        insert_events([event])
    db.session.commit()
    return LoginOutcome(attempt_id=row.id, view=_confirm_view_of(row))


def _login_refusal(row, now: _dt.datetime, ip: str, label: str) -> LoginOutcome | None:
    """The refusal of a login with the right credentials to an attempt not yet handed in (the session window,
    the late-entry time, the one-browser rule), with its event or audit row; ``None`` when it may log in."""
    if now < exams.login_opens_at(row):
        return LoginOutcome(error=NOT_OPEN, opens_at=exams.login_opens_at(row))
    closes = exams.entry_closes_at(row)
    if row.entered_at is None and closes is not None and now > closes:
        _event(row.session_id, row.id, "login_refused_late", actor_label=label, detail={"ip": ip})
        return LoginOutcome(error=TOO_LATE)
    if row.sess_status == FINISHED:
        return LoginOutcome(error=CLOSED)
    if row.other_ip is not None:
        _event(row.session_id, row.id, "second_login", actor_label=label,
               detail={"ip": ip, "active_ip": row.other_ip})
        audit.record("candidate.second_login_refused", "exam_attempt", row.id, actor_label=label, after={"ip": ip})
        return LoginOutcome(error=SECOND_LOGIN)
    return None


def _login_writes_statement():
    """PostgreSQL: a successful login's writes in one statement — the ticket's failure counter deleted
    (``:ticket_key``), the login session inserted (``:s_<column>``) and the ``login`` event inserted
    (``:e_<column>``) — instead of three round trips."""
    from ..models import LoginThrottle
    T, S, E = LoginThrottle.__table__, AuthSession.__table__, AttemptEvent.__table__  # noqa: N806
    drop_counter = delete(T).where(T.c.key == bindparam("ticket_key")).cte("drop_counter")
    add_session = insert(S).values({c.name: bindparam(f"s_{c.name}", type_=c.type) for c in S.c}).cte("add_session")
    return (insert(E).values({c: bindparam(f"e_{c}", type_=E.c[c].type)
                              for c in ("session_id", "attempt_id", "at", "kind", "actor_label", "detail")})
            .add_cte(drop_counter).add_cte(add_session))


def logout() -> None:
    sessions.end_current_session()
    db.session.commit()


def confirm(att: ExamAttempt) -> None:
    """The candidate confirmed the 核对信息 screen; after the start this also enters the paper (one commit)."""
    now = clock.now()
    if att.confirmed_at is None:
        res = db.session.execute(update(ExamAttempt).where(ExamAttempt.id == att.id,
                                                           ExamAttempt.confirmed_at.is_(None))
                                 .values(confirmed_at=now))
        if res.rowcount == 1:
            _event(att.session_id, att.id, "confirmed", actor_label=candidate_label(att), at=now)
            set_committed_value(att, "confirmed_at", now)
        else:
            db.session.expire(att)
    enter(att)


def _confirm_enter_statement():
    """``UPDATE exam_attempt SET confirmed_at = coalesce(confirmed_at, :now), status = in_progress, ...
    WHERE id = :aid AND status = not_started`` (prebuilt)."""
    now = bindparam("now", type_=UTCDateTime)
    return (update(ExamAttempt.__table__)
            .where(_A.id == bindparam("aid", type_=Integer), _A.status == NOT_STARTED)
            .values(confirmed_at=func.coalesce(_A.confirmed_at, now), status=IN_PROGRESS, entered_at=now,
                    last_seen_at=now))


def _confirm_enter_cte():
    """PostgreSQL: :func:`_confirm_enter_statement` and its events (``confirmed`` when ``:first`` is 0, then
    ``entered``) in one statement; a row per event when it won, none when the attempt had left
    ``not_started`` meanwhile."""
    from sqlalchemy import text
    return text("""
        WITH up AS (
            UPDATE exam_attempt
               SET confirmed_at = COALESCE(confirmed_at, :now), status = 'in_progress', entered_at = :now,
                   last_seen_at = :now
             WHERE id = :aid AND status = 'not_started'
            RETURNING id, session_id
        )
        INSERT INTO exam_attempt_event (session_id, attempt_id, at, kind, actor_label, detail)
        SELECT up.session_id, up.id, :now, k.kind, :label, NULL
          FROM up CROSS JOIN (VALUES (0, 'confirmed'), (1, 'entered')) AS k (n, kind)
         WHERE k.n >= :first
         ORDER BY k.n
        RETURNING id""").bindparams(bindparam("now", type_=UTCDateTime()), bindparam("aid", type_=Integer),
                                    bindparam("first", type_=Integer), bindparam("label"))


def insert_events(rows: list[dict]) -> None:
    """Add attempt events with one prebuilt Core INSERT (no ORM flush): each row has ``session_id``,
    ``attempt_id``, ``at``, ``kind``, ``actor_label`` and optionally ``detail``. The caller commits."""
    stmt = _prebuilt("insert_event", lambda: AttemptEvent.__table__.insert())
    params = [{"detail": None, **r} for r in rows]
    db.session.execute(stmt, params[0] if len(params) == 1 else params)  # one row: no executemany


def _startable(status, started_at, paused_at, deadline, grace_seconds: int, now: _dt.datetime) -> bool:
    """Whether confirming now also enters the paper in one statement: the start of a sitting (session
    started, attempt not entered, not paused, not past its time)."""
    due = deadline is not None and now > deadline + _dt.timedelta(seconds=grace_seconds)
    return status == NOT_STARTED and started_at is not None and paused_at is None and not due


def _confirm_enter(attempt_id: int, session_id: int, ticket_no: str, confirmed_before: bool,
                   now: _dt.datetime) -> bool:
    """Confirm and enter in the session's transaction (one prebuilt UPDATE, then the events) and commit;
    ``False`` (nothing written) when the attempt had left ``not_started`` meanwhile."""
    res = db.session.execute(_prebuilt("confirm_enter", _confirm_enter_statement), {"aid": attempt_id, "now": now})
    if res.rowcount != 1:
        return False
    kinds = ("entered",) if confirmed_before else ("confirmed", "entered")
    insert_events([{"session_id": session_id, "attempt_id": attempt_id, "at": now, "kind": kind,
                    "actor_label": f"candidate:{ticket_no}"} for kind in kinds])
    db.session.commit()
    return True


def confirm_attempt(attempt_id: int) -> None:
    """:func:`confirm` by id. At the start of a sitting (session started, attempt not entered) it confirms
    and enters in one statement without loading the attempt; anything else goes through :func:`confirm`."""
    snap = _snapshot(attempt_id, lock=False, layout=False)
    if snap is None:
        db.session.rollback()
        return
    now = clock.now()
    if _startable(snap.status, snap.started_at, snap.paused_at, snap.deadline, snap.grace_seconds, now) \
            and _confirm_enter(attempt_id, snap.session_id, snap.ticket_no, snap.confirmed_at is not None, now):
        return
    if snap.status in FINAL_STATUSES or (snap.confirmed_at is not None and snap.status != NOT_STARTED):
        db.session.rollback()
        return
    confirm(get_attempt(attempt_id, refresh=True))


# -- candidate pages -------------------------------------------------------------------------------

@dataclass
class PageView:
    """What the candidate's pages show, read in one prebuilt statement (no ORM objects): ``att``, ``cand``
    and ``sess`` carry the attribute names of :class:`ExamAttempt`, :class:`ExamCandidate` and
    :class:`ExamSession` that the templates and :func:`state` use (``sess.occupation`` has ``name`` and
    ``work_type``)."""

    att: object
    cand: object
    sess: object
    autocommitted: bool = False  # read by :func:`page_context` outside a transaction (PostgreSQL)


_PAGE_ATT = ("id", "session_id", "status", "deadline", "paused_at", "confirmed_at", "entered_at", "submitted_at",
             "submit_reason", "answered_count", "layout")
_PAGE_CAND = ("name", "ticket_no", "seat", "id_masked")
_PAGE_SESS = ("name", "grade", "starts_at", "started_at", "duration_min", "grace_seconds", "status")
_PAGE_OCC = ("name", "work_type")


def _page_view_query(layout: bool, by_session: bool = False):
    from ..models import Occupation
    O = Occupation.__table__.c  # noqa: N806
    att_cols = [_A[c] for c in _PAGE_ATT if layout or c != "layout"]
    head = (_AS.id.label("sid"), _AS.kind, _AS.revoked_at, _AS.expires_at, _AS.last_seen) if by_session else ()
    q = (select(*head, *att_cols, *(_C[c] for c in _PAGE_CAND), *(_S[c] for c in _PAGE_SESS),
                *(O[c] for c in _PAGE_OCC))
         .join_from(ExamAttempt.__table__, ExamCandidate.__table__, _C.id == _A.candidate_id)
         .join(ExamSession.__table__, _S.id == _A.session_id)
         .join(Occupation.__table__, O.id == _S.occupation_id))
    if by_session:
        return q.join(AuthSession.__table__, _AS.subject_id == _A.id).where(_AS.id == bindparam("sid"))
    return q.where(_A.id == bindparam("aid", type_=Integer))


def _page_view_of(row, layout: bool) -> PageView:
    from types import SimpleNamespace
    vals = iter(row)
    att = SimpleNamespace(**{c: next(vals) for c in _PAGE_ATT if layout or c != "layout"})
    if not layout:
        att.layout = None
    cand = SimpleNamespace(**{c: next(vals) for c in _PAGE_CAND})
    sess = SimpleNamespace(**{c: next(vals) for c in _PAGE_SESS})
    sess.occupation = SimpleNamespace(**{c: next(vals) for c in _PAGE_OCC})
    sess.id = att.session_id
    return PageView(att=att, cand=cand, sess=sess)


def page_view(attempt_id: int, *, layout: bool = False) -> PageView | None:
    """The attempt, candidate and session as the candidate's pages show them (one statement), or ``None``.
    ``layout``: include the attempt's layout (the paper page needs it)."""
    row = db.session.execute(_prebuilt(("page_view", layout), lambda: _page_view_query(layout)),
                             {"aid": attempt_id}).one_or_none()
    return _page_view_of(row, layout) if row is not None else None


def autocommit_connection():
    """A PostgreSQL connection of the app's pool in autocommit mode, or ``None`` on other databases: for the
    start and the end of a sitting, whose requests are one read or one atomic statement each, so they need
    neither BEGIN nor COMMIT (two of the few round trips such a request makes) nor an ORM session."""
    if db.engine.dialect.name != "postgresql":
        return None
    return db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")


def page_context(session_digest: str | None, *, layout: bool, autocommit: bool = False) -> PageView | None:
    """The candidate pages' first statement: the login session (by the cookie's digest) joined with its
    attempt's :class:`PageView` — like :func:`api_context` for the JSON API. ``None`` when the session is
    missing, revoked, expired or not a candidate's. ``autocommit`` (PostgreSQL): read outside a transaction
    (:func:`autocommit_connection`); the view is then marked ``autocommitted`` and, when nothing is found
    there, it is looked for the usual way."""
    if session_digest is None:
        return None
    q = _prebuilt(("page_context", layout), lambda: _page_view_query(layout, by_session=True))
    got = _live_session_row(q, {"sid": session_digest}, fast_query=q if autocommit else None)
    if got is None:
        return None
    row, fast = got
    view = _page_view_of(row[5:], layout)
    view.autocommitted = fast
    return view


def _live_session_row(query, params: dict, *, fast_query=None):
    """``(row, autocommitted)`` of a candidate request's first read (the login session by the cookie's digest,
    joined with its attempt), or ``None`` when the session is missing, revoked, expired or not a candidate's.
    ``fast_query`` (PostgreSQL): tried first outside a transaction (:func:`autocommit_connection`) and taken
    when the session is live and needs no touch; otherwise ``query`` is read in the session's transaction,
    and once a minute the session's ``last_seen`` is touched (in its own transaction) and the row read again."""
    conn = autocommit_connection() if fast_query is not None else None
    if conn is not None:
        with conn:
            row = conn.execute(fast_query, params).one_or_none()
        now = clock.now()
        if _live(row, now) and not sessions.needs_touch(row.last_seen, now):
            return row, True
    row = db.session.execute(query, params).one_or_none()
    now = clock.now()
    if not _live(row, now):
        return None
    if sessions.needs_touch(row.last_seen, now):
        sessions.touch(row.sid, now)
        db.session.commit()
        row = db.session.execute(query, params).one_or_none()
        if row is None:
            return None
    return row, False


def _live(row, now: _dt.datetime) -> bool:
    return row is not None and row.kind == "candidate" and row.revoked_at is None and row.expires_at > now


def confirm_view(view: PageView) -> bool:
    """The candidate confirmed the 核对信息 page shown from ``view`` (read in this request). At the start of a
    sitting (session started, attempt not entered, not paused, not past its time) it confirms and enters
    in one prebuilt UPDATE plus the events, commits, and updates ``view`` to match; returns ``True``.
    Anything else goes through :func:`confirm_attempt` and returns ``False`` (read the view again)."""
    att, sess = view.att, view.sess
    now = clock.now()
    if _startable(att.status, sess.started_at, att.paused_at, att.deadline, sess.grace_seconds, now):
        confirmed_before = att.confirmed_at is not None
        if view.autocommitted:  # PostgreSQL: the UPDATE and the events in one autocommitted statement
            with autocommit_connection() as conn:
                won = bool(conn.execute(_prebuilt("confirm_enter_cte", _confirm_enter_cte), {
                    "aid": att.id, "now": now, "label": f"candidate:{view.cand.ticket_no}",
                    "first": 1 if confirmed_before else 0}).all())
        else:
            won = _confirm_enter(att.id, att.session_id, view.cand.ticket_no, confirmed_before, now)
        if won:
            att.confirmed_at = att.confirmed_at or now
            att.status, att.entered_at, att.fresh = IN_PROGRESS, now, True
            return True
    confirm_attempt(att.id)
    return False


def enter(att: ExamAttempt) -> None:
    """Enter the paper after the start (``not_started`` → ``in_progress``, once): on confirming the details
    after the start, or on the waiting page's first heartbeat after it (POSTs; a GET changes nothing).
    Commits (together with whatever the caller added)."""
    sess = att.session
    if sess.started_at is None:
        exams.maybe_autostart(sess)
    now = clock.now()
    finalise_if_due(att, now)
    if att.status == NOT_STARTED and sess.started_at is not None and att.confirmed_at is not None:
        res = db.session.execute(update(ExamAttempt).where(ExamAttempt.id == att.id,
                                                           ExamAttempt.status == NOT_STARTED)
                                 .values(status=IN_PROGRESS, entered_at=now, last_seen_at=now))
        if res.rowcount == 1:
            _event(att.session_id, att.id, "entered", actor_label=candidate_label(att), at=now)
            for key, value in (("status", IN_PROGRESS), ("entered_at", now), ("last_seen_at", now)):
                set_committed_value(att, key, value)
        else:
            db.session.expire(att)
    db.session.commit()


# -- the paper -------------------------------------------------------------------------------------

def _item_view(iv: ItemVersion) -> dict:
    """What a candidate may see of an item version: stem, images, options, unit (the item type's allow-list)."""
    content = item_types.get(iv.type).candidate_view(iv.content or {})
    return {"stem": iv.stem, "images": list(iv.images or []), "options": content.get("options"),
            "unit": content.get("unit")}


_ITEM_CACHE_MAX = 20_000


def _paper_items(entries: list[dict]) -> dict[int, tuple]:
    """``paper item id -> (points, candidate view)`` for layout entries (``pi``, and ``iv`` when the layout
    records the item version) of frozen papers.

    A frozen paper's items and their item versions never change (a key correction is a marking-side
    override), so the views are kept per app in this process: a 1,000-candidate sitting reads them once
    per worker. An entry whose item version differs from the cached one (an id reused after a deletion) is
    read again. (After ``examsys restore`` into a database a server is using, restart the server.)"""
    cache = current_app.extensions.setdefault("examsys.item_views", {})
    missing = [e["pi"] for e in entries
               if e["pi"] not in cache or (e.get("iv") is not None and cache[e["pi"]][2] != int(e["iv"]))]
    if missing:
        if len(cache) + len(missing) > _ITEM_CACHE_MAX:
            cache.clear()
        for pi, iv in db.session.execute(
                select(PaperItem, ItemVersion).join(ItemVersion, ItemVersion.id == PaperItem.item_version_id)
                .where(PaperItem.id.in_(missing))):
            cache[pi.id] = (pi.points, _item_view(iv), iv.id)
    return {e["pi"]: cache[e["pi"]][:2] for e in entries if e["pi"] in cache}


def paper(att) -> dict:
    """The candidate's paper in display order, with their acknowledged answers (display space).
    Contains no key, reference answer, marking point or other candidate's data. ``att`` needs ``id`` and
    ``layout`` (an :class:`ExamAttempt` or a page view's ``att``; ``att.fresh``: entered by this very request,
    so no answer can have been saved yet and none are read)."""
    entries = list(layout_entries(att.layout))
    rows = _paper_items([e for _, e in entries])
    saved = {} if getattr(att, "fresh", False) else {r.paper_item_id: r for r in db.session.execute(
        _prebuilt("saved_answers", lambda: select(_R.paper_item_id, _R.answer, _R.flagged, _R.seq, _R.saved_at)
                  .where(_R.attempt_id == bindparam("aid", type_=Integer))), {"aid": att.id})}
    sections = []
    by_pi = {e["pi"]: n for n, e in entries}
    for sec in att.layout["sections"]:
        items = []
        for e in sec["items"]:
            pi = e["pi"]
            points, view = rows[pi]
            options = None
            if view["options"] is not None:
                options = [{"id": e["ids"][k], "label": LETTERS[k], "text": view["options"][orig]}
                           for k, orig in enumerate(e["order"])]
            r = saved.get(pi)
            items.append({"id": pi, "no": by_pi[pi], "type": e["t"], "stem": view["stem"], "images": view["images"],
                          "options": options, "unit": view["unit"], "points": points,
                          "answer": answer_to_display(e, r.answer) if r else None,
                          "flagged": bool(r.flagged) if r else False,
                          "saved_at": local_hms(r.saved_at) if r else ""})
        sections.append({"name": sec["name"], "questions": items,
                         "points": sum(i["points"] for i in items)})
    max_seq = max((r.seq for r in saved.values()), default=0)
    return {"sections": sections, "count": len(entries), "max_seq": max_seq}


def seq_base(att: ExamAttempt, max_seq: int) -> int:
    """First sequence number for a freshly loaded page: above every number an earlier page of this attempt
    can have used (server milliseconds × 1000), so a request still in flight from before a reload can
    never overwrite an answer given after it."""
    now_ms = int(clock.now().timestamp() * 1000)
    return max(max_seq + 1, now_ms * 1000)


def attempt_images(att) -> set[str]:
    out: set[str] = set()
    for _points, view in _paper_items([e for _, e in layout_entries(att.layout)]).values():
        out.update(view["images"] or [])
    return out


# -- autosave --------------------------------------------------------------------------------------

def _refusal(att, sess, now: _dt.datetime) -> tuple[str, str] | None:
    """Why a save to ``att`` is refused now, as ``(code, message)``, or ``None``."""
    if att.status in FINAL_STATUSES:
        return "submitted", _("This paper has been handed in; answers can no longer be changed.")
    if att.status != IN_PROGRESS or att.deadline is None:
        return "not_started", _("The exam has not started for you yet.")
    if att.paused_at is not None:
        return "paused", _("The exam is paused by the proctor; your answer will be saved when it resumes.")
    if now > att.deadline + exams.grace(sess):
        return "late", _("Time is up: answers sent after the end of the exam are not accepted.")
    return None


def _entry(att, item_id) -> dict | None:
    if isinstance(item_id, bool) or not isinstance(item_id, int):
        return None
    for sec in att.layout["sections"]:
        for e in sec["items"]:
            if e["pi"] == item_id:
                return e
    return None


_A = ExamAttempt.__table__.c
_S = ExamSession.__table__.c
_R = ExamResponse.__table__.c
_UPSERT: dict[tuple, object] = {}


_C = ExamCandidate.__table__.c


@dataclass
class _Snap:
    """The attempt and session values a save or a heartbeat needs, read in one statement (plays both roles
    for :func:`state` and :func:`_refusal`)."""

    id: int
    session_id: int
    status: str
    deadline: _dt.datetime | None
    paused_at: _dt.datetime | None
    confirmed_at: _dt.datetime | None
    last_seen_at: _dt.datetime | None
    grace_seconds: int
    started_at: _dt.datetime | None
    starts_at: _dt.datetime
    ticket_no: str
    seed: int
    paper_form_id: int
    layout: dict | None = None  # (filled from :func:`_layout` when the caller needs it)
    autocommitted: bool = False  # read outside a transaction (PostgreSQL saves): the upsert takes the lock


_SNAP_COLS = (_A.id, _A.session_id, _A.status, _A.deadline, _A.paused_at, _A.confirmed_at, _A.last_seen_at,
              _S.grace_seconds, _S.started_at, _S.starts_at, _C.ticket_no, _A.seed, _A.paper_form_id)


def _snapshot_query(*, lock: bool, head=()):
    """``SELECT head…, <snapshot columns> FROM exam_attempt ⋈ exam_session ⋈ exam_candidate``, with
    ``FOR SHARE OF exam_attempt`` when ``lock`` (PostgreSQL: a finalisation waits for a save, and vice versa).
    The layout is not read here: :func:`_layout` keeps it per process."""
    q = (select(*head, *_SNAP_COLS)
         .join_from(ExamAttempt.__table__, ExamSession.__table__, _S.id == _A.session_id)
         .join(ExamCandidate.__table__, _C.id == _A.candidate_id))
    return q.with_for_update(read=True, of=ExamAttempt.__table__) if lock else q


# Hot-path statements are built once, from table columns and bound parameters: building a SQLAlchemy
# statement and executing one made of ORM attributes each cost more CPU than the database round trip
# (measured on the API's first statement: 1.06 ms built per call through the ORM path, 0.30 ms prebuilt).
_STATEMENTS: dict[object, object] = {}


def _prebuilt(key, build):
    stmt = _STATEMENTS.get(key)
    if stmt is None:
        stmt = _STATEMENTS[key] = build()
    return stmt


def _snapshot(attempt_id: int, *, lock: bool, layout: bool = True) -> _Snap | None:
    q = _prebuilt(("snapshot", lock), lambda: _snapshot_query(lock=lock)
                  .where(_A.id == bindparam("aid", type_=Integer)))
    row = db.session.execute(q, {"aid": attempt_id}).one_or_none()
    if row is None:
        return None
    snap = _Snap(*row)
    if layout:
        snap.layout = _layout(snap)
    return snap


_LAYOUTS_MAX = 4_000  # about 60 KB each as Python objects (100 items): up to ~240 MB per worker process


def _layout(snap: "_Snap") -> dict:
    """The attempt's layout (item order, option order and ids), kept per app in this process.

    A layout is written once, when the roster import creates the attempt, and never changes; it is about
    10 KB of JSON, which PostgreSQL would otherwise decompress and send, and the driver parse, on every save.
    At most ``_LAYOUTS_MAX`` are kept (a worker serving a 1,000-candidate sitting grows by about 60 MB).
    The key is (attempt id, seed, paper form id): the layout is a function of the form and the seed, so an
    attempt id reused after a deletion (SQLite) can only find its own layout. (After ``examsys restore`` into a
    database a server is using, restart the server, as for the frozen papers' item cache.)"""
    cache = current_app.extensions.setdefault("examsys.layouts", {})
    key = (snap.id, snap.seed, snap.paper_form_id)
    layout = cache.get(key)
    if layout is None:
        layout = db.session.execute(
            _prebuilt("layout", lambda: select(_A.layout).where(_A.id == bindparam("aid", type_=Integer))),
            {"aid": snap.id}).scalar_one()
        while len(cache) >= _LAYOUTS_MAX:
            del cache[next(iter(cache))]  # the oldest first: the attempts still saving are read again
        cache[key] = layout
    return layout


_AS = AuthSession.__table__.c


def _api_context_query(lock: bool):
    head = (_AS.id.label("sid"), _AS.kind, _AS.revoked_at, _AS.expires_at, _AS.last_seen)
    return (_snapshot_query(lock=lock, head=head)
            .join(AuthSession.__table__, _AS.subject_id == _A.id).where(_AS.id == bindparam("sid")))


def api_context(session_digest: str | None, *, lock: bool, autocommit: bool = False) -> _Snap | None:
    """The candidate API's first statement: the login session (by the cookie's digest) joined with its
    attempt's snapshot, so a save is two statements and a commit. ``None`` when the session is missing,
    revoked, expired or not a candidate's. ``lock`` (saves): ``FOR SHARE`` of the attempt row on PostgreSQL,
    and the layout from the per-process cache (:func:`_layout`; the other requests do not need it).
    ``autocommit`` (saves on PostgreSQL): read without the lock, outside a transaction
    (:func:`autocommit_connection`); the save's upsert then takes the lock itself (:func:`save_answer`). Falls
    back to the usual read when that finds nothing."""
    if session_digest is None:
        return None
    fast = _prebuilt("api_context_ac", lambda: _api_context_query(False)) if autocommit else None
    got = _live_session_row(_prebuilt(("api_context", lock), lambda: _api_context_query(lock)),
                            {"sid": session_digest}, fast_query=fast)
    if got is None:
        return None
    row, fast_read = got
    snap = _Snap(*row[5:], autocommitted=fast_read)
    if lock:  # a save: the layout too
        snap.layout = _layout(snap)
    return snap


def _upsert_statement(*, locking: bool = False):
    """The conditional upsert, built once per dialect (bound parameters: a_id, g_id, pi, iv, answer, flagged,
    seq, now, cutoff). ``locking`` (PostgreSQL, autocommitted saves): the guard reads the attempt row
    ``FOR SHARE``, so the statement holds the lock a save's transaction otherwise takes with its first read —
    a finalisation waits for the write, or the write sees the attempt handed in and writes nothing."""
    name = db.engine.dialect.name
    stmt = _UPSERT.get((name, locking))
    if stmt is not None:
        return stmt
    table = ExamResponse.__table__
    if name == "postgresql":
        ins = postgresql.insert(table)
    elif name == "sqlite":
        ins = sqlite.insert(table)
    else:  # pragma: no cover
        raise RuntimeError(f"unsupported database dialect {name!r}")
    guard = select(_A.id).where(_A.id == bindparam("g_id", type_=Integer), _A.status == IN_PROGRESS,
                                _A.paused_at.is_(None), _A.deadline >= bindparam("cutoff", type_=UTCDateTime))
    guard = (guard.with_for_update(read=True) if locking else guard).exists()
    src = select(bindparam("a_id", type_=Integer), bindparam("pi", type_=Integer), bindparam("iv", type_=Integer),
                 bindparam("answer", type_=_R.answer.type), bindparam("flagged", type_=Boolean),
                 bindparam("seq", type_=BigInteger), bindparam("now", type_=UTCDateTime)).where(guard)
    stmt = ins.from_select(["attempt_id", "paper_item_id", "item_version_id", "answer", "flagged", "seq", "saved_at"],
                           src)
    stmt = stmt.on_conflict_do_update(
        index_elements=["attempt_id", "paper_item_id"],
        set_={"answer": stmt.excluded.answer, "flagged": stmt.excluded.flagged, "seq": stmt.excluded.seq,
              "saved_at": stmt.excluded.saved_at},
        where=_R.seq < stmt.excluded.seq).returning(_R.seq, _R.saved_at)
    _UPSERT[(name, locking)] = stmt
    return stmt


def save_answer(attempt_id: int, item_id, seq, answer, flagged=False, *, snap: _Snap | None = None) -> dict:
    """Store one answer if ``seq`` is newer than the stored one (see the module docstring). Returns the
    acknowledgement; raises :class:`ExamError` (404 unknown attempt, 422 bad item/answer, 409 refused).

    The hot path is two statements and a commit (attempt + session read, upsert ``RETURNING``) built from
    cached Core constructs; nothing but the response row is written. The same ``seq`` again with the same
    answer is a retry (acknowledged); with a different answer it is refused (409 ``seq_conflict``)."""
    now = clock.now()
    if snap is None or snap.id != attempt_id or snap.layout is None:  # (the API passes its locked snapshot)
        snap = _snapshot(attempt_id, lock=True)
    if snap is None:
        db.session.rollback()
        raise ExamError(_("This answer sheet does not exist."), status=404, code="not_found")
    if isinstance(seq, bool) or not isinstance(seq, int) or not 0 < seq <= MAX_SEQ:
        db.session.rollback()
        raise ExamError(_("The request has no valid sequence number."), status=422, code="bad_seq")
    if not isinstance(flagged, bool):
        db.session.rollback()
        raise ExamError(_("The review mark must be true or false."), status=422, code="bad_flag")
    entry = _entry(snap, item_id)
    if entry is None:
        db.session.rollback()
        raise ExamError(_("This question is not part of your paper."), status=422, code="unknown_item")
    try:
        original = answer_to_original(entry, answer)
    except AnswerError as e:
        db.session.rollback()
        raise ExamError(_("The answer does not fit this question (%(reason)s).", reason=_answer_reason(e.code)),
                        status=422, code=e.code) from None
    refusal = _refusal(snap, snap, now)
    if refusal is None:
        params = {"a_id": snap.id, "g_id": snap.id, "pi": entry["pi"],
                  "iv": int(entry.get("iv") or _item_version_of(entry["pi"])), "answer": original,
                  "flagged": flagged, "seq": seq, "now": now, "cutoff": now - exams.grace(snap)}
        if snap.autocommitted:  # PostgreSQL: the upsert alone, autocommitted, holding the lock itself
            with autocommit_connection() as conn:
                stored = conn.execute(_upsert_statement(locking=True), params).first()
        else:
            stored = db.session.execute(_upsert_statement(), params).first()  # RETURNING: a row when written
        if stored is None:  # not written: an older or equal seq, or the attempt changed since the read
            stored = db.session.execute(select(_R.seq, _R.saved_at, _R.answer, _R.flagged).where(
                _R.attempt_id == snap.id, _R.paper_item_id == entry["pi"])).first()
            if stored is not None and stored.seq == seq and (stored.answer != original or stored.flagged != flagged):
                refusal = ("seq_conflict", _("This answer was sent with a sequence number already used for a "
                                             "different answer; reload the page (your saved answers are kept)."))
            elif stored is None or stored.seq < seq:
                stored = None
        if refusal is None and stored is not None:
            out = {"ok": True, "item": entry["pi"], "seq": stored.seq, "stale": stored.seq > seq,
                   "saved_at": _iso(stored.saved_at), "saved_at_local": local_hms(stored.saved_at)}
            out.update(state(snap, snap, now))
            if not snap.autocommitted:
                db.session.commit()
            return out
        if refusal is None:
            # the attempt changed between the check and the write (paused, handed in): re-read and refuse
            snap = _snapshot(attempt_id, lock=False)
            refusal = _refusal(snap, snap, now) or ("submitted", _("This paper has been handed in; answers can no "
                                                                   "longer be changed."))
    code, message = refusal
    _event(snap.session_id, snap.id, "save_refused", actor_label=f"candidate:{snap.ticket_no}",
           detail={"reason": code, "item": entry["pi"], "seq": seq})
    db.session.commit()
    att = get_attempt(snap.id, refresh=True)
    if code == "late":
        finalise_if_due(att, now)
        att = get_attempt(snap.id, refresh=True)
    err = ExamError(message, status=409, code=code)
    err.state = state(att, att.session, now)
    raise err


def _item_version_of(pi_id: int) -> int:
    return db.session.execute(select(PaperItem.item_version_id).where(PaperItem.id == pi_id)).scalar_one()


def _answer_reason(code: str) -> str:
    return {
        "wrong_shape": _("wrong kind of answer"),
        "unknown_option": _("unknown option"),
        "duplicate_option": _("an option chosen twice"),
        "too_long": _("too long"),
        "bad_text": _("characters that cannot be stored"),
        "not_answerable": _("not answered online"),
    }.get(code, code)


# -- heartbeat, integrity signals ------------------------------------------------------------------

def heartbeat(attempt_id: int, events=None, *, snap: _Snap | None = None) -> dict:
    """Record that the page is alive (at most every 10 s) and its integrity signals; return the state.
    Also starts a due session, enters the paper from the waiting room after the start, and finalises an
    attempt past its deadline + grace (lazy finalisation). The usual beat is one read and, every 10 s or
    with events, one short write. ``snap``: the API's snapshot of this attempt, when it has one."""
    if snap is None or snap.id != attempt_id:
        snap = _snapshot(attempt_id, lock=False, layout=False)
    if snap is None:
        raise ExamError(_("This answer sheet does not exist."), status=404, code="not_found")
    now = clock.now()
    due = snap.deadline is not None and snap.paused_at is None and snap.status not in FINAL_STATUSES \
        and now > snap.deadline + _dt.timedelta(seconds=snap.grace_seconds)
    if snap.started_at is None or snap.status == NOT_STARTED or due:
        att = get_attempt(attempt_id, refresh=True)  # the rare transitions go through the ORM services
        if att.session.started_at is None:
            exams.maybe_autostart(att.session)
        finalise_if_due(att, now)
        if att.status == NOT_STARTED and att.confirmed_at is not None:
            enter(att)
        snap = _snapshot(attempt_id, lock=False, layout=False)
    write = False
    label = f"candidate:{snap.ticket_no}"
    for ev in (events or [])[:MAX_EVENTS_PER_BEAT]:
        if not isinstance(ev, dict) or ev.get("kind") not in INTEGRITY_KINDS:
            continue
        detail = {}
        if isinstance(ev.get("item"), int) and not isinstance(ev.get("item"), bool):
            detail["item"] = ev["item"]
        ms = ev.get("ms")
        if isinstance(ms, (int, float)) and not isinstance(ms, bool) and math.isfinite(ms):
            detail["ms"] = int(max(0, min(ms, 24 * 3600 * 1000)))  # how long the page was left
        _event(snap.session_id, snap.id, ev["kind"], actor_label=label, detail=detail or None, at=now)
        write = True
    if snap.last_seen_at is None or now - snap.last_seen_at >= LAST_SEEN_EVERY:
        db.session.execute(update(ExamAttempt).where(ExamAttempt.id == snap.id).values(last_seen_at=now))
        write = True
    if write:
        db.session.commit()
    else:
        db.session.rollback()  # end the read transaction (nothing was written)
    return state(snap, snap, now)


# -- submit and finalisation -----------------------------------------------------------------------

def submit(attempt_id: int, *, time_up: bool = False, snap: _Snap | None = None) -> dict:
    """The candidate hands in (``time_up``: the page's timer ran out; accepted only near the deadline).
    Idempotent: a second submit answers with the submitted state. ``snap``: the API's snapshot, if any."""
    if snap is None or snap.id != attempt_id:
        snap = _snapshot(attempt_id, lock=False, layout=False)
    if snap is None:
        raise ExamError(_("This answer sheet does not exist."), status=404, code="not_found")
    now = clock.now()
    if snap.status in FINAL_STATUSES:
        db.session.rollback()
        return {"ok": True, "already": True, **state(snap, snap, now)}
    if snap.status != IN_PROGRESS or snap.deadline is None:
        raise ExamError(_("The exam has not started for you yet."), status=409, code="not_started")
    if snap.paused_at is not None:
        raise ExamError(_("The exam is paused by the proctor; hand in after it resumes."), status=409, code="paused")
    past_deadline = now >= snap.deadline - TIME_UP_TOLERANCE
    if time_up and not past_deadline:
        err = ExamError(_("Time is not up yet; the timer has been corrected."), status=409, code="not_time_up")
        err.state = state(snap, snap, now)
        raise err
    reason = "timeout" if time_up or now >= snap.deadline else "candidate"
    won = finalise(attempt_id, reason, actor_label=f"candidate:{snap.ticket_no}")
    if won:  # an attempt in progress becomes submitted; nothing else of the reply changed
        snap.status, snap.paused_at = SUBMITTED, None
    else:  # someone else (sweeper, proctor, the other click) finalised it first: read what they did
        snap = _snapshot(attempt_id, lock=False, layout=False)
        db.session.rollback()
    return {"ok": True, "already": not won, **state(snap, snap, now)}


# The hand-in of a deadline burst on PostgreSQL, in one statement and no transaction of its own (autocommit:
# the statement is atomic by itself): the login session is checked, the attempt finalised and its event added
# by one data-modifying CTE. BEGIN, the API's read and COMMIT were three of the four round trips of a hand-in.
_FAST_HAND_IN_SQL = """
WITH up AS (
    UPDATE exam_attempt AS a
       SET status = 'submitted',
           submitted_at = LEAST(a.deadline, :now),
           finalised_at = :now,
           submit_reason = CASE WHEN a.deadline <= :now THEN 'timeout' ELSE 'candidate' END,
           paused_at = NULL
      FROM auth_session AS s
     WHERE a.id = :aid AND s.id = :sid AND s.subject_id = a.id AND s.kind = 'candidate'
       AND s.revoked_at IS NULL AND s.expires_at > :now
       AND a.status = 'in_progress' AND a.entered_at IS NOT NULL AND a.paused_at IS NULL
       AND a.deadline IS NOT NULL
    RETURNING a.id, a.session_id, a.candidate_id, a.deadline, a.submit_reason
), ev AS (
    INSERT INTO exam_attempt_event (session_id, attempt_id, at, kind, actor_label, detail)
    SELECT up.session_id, up.id, :now, 'finalised', 'candidate:' || c.ticket_no,
           json_build_object('reason', up.submit_reason, 'status', 'submitted',
                             'audit', json_build_object('before', 'in_progress', 'actor_id', NULL,
                                                        'reason', up.submit_reason))
      FROM up JOIN exam_candidate AS c ON c.id = up.candidate_id
    RETURNING attempt_id
)
SELECT up.deadline, es.grace_seconds
  FROM up JOIN ev ON ev.attempt_id = up.id JOIN exam_session AS es ON es.id = up.session_id
"""


def fast_hand_in(session_digest: str | None, attempt_id) -> dict | None:
    """The candidate's confirmed hand-in (``{"confirm": true}``) of an attempt in progress, not paused, on
    PostgreSQL: one autocommitted statement that checks the login session, finalises the attempt exactly as
    :func:`submit` → :func:`finalise` do (reason ``timeout`` from the deadline on, finish time
    min(deadline, now), the same ``finalised`` event) and adds the event. Returns :func:`submit`'s reply,
    or ``None`` when it did not apply (another dialect, no such live session for this attempt, not in
    progress, paused, already handed in): the caller then goes the general way, which answers those cases."""
    if session_digest is None or isinstance(attempt_id, bool) or not isinstance(attempt_id, int):
        return None
    if db.engine.dialect.name != "postgresql":
        return None
    from sqlalchemy import text
    stmt = _prebuilt("fast_hand_in", lambda: text(_FAST_HAND_IN_SQL).bindparams(
        bindparam("now", type_=UTCDateTime()), bindparam("aid", type_=Integer), bindparam("sid"))
        .columns(deadline=UTCDateTime(), grace_seconds=Integer))
    now = clock.now()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        row = conn.execute(stmt, {"now": now, "aid": attempt_id, "sid": session_digest}).first()
    if row is None:
        return None
    run_finalised_hooks([attempt_id])
    return {"ok": True, "already": False, "status": SUBMITTED, "paused": False, "started": True,
            "deadline": _iso(row.deadline), "server_now": _iso(now),
            "remaining_ms": max(0, int((row.deadline - now).total_seconds() * 1000)),
            "grace_ms": row.grace_seconds * 1000}


def answered_counts(attempt_ids) -> dict[int, int]:
    ids = list(attempt_ids)
    if not ids:
        return {}
    return dict(db.session.execute(
        select(ExamResponse.attempt_id, func.count(ExamResponse.id))
        .where(ExamResponse.attempt_id.in_(ids), ExamResponse.answer.is_not(None))
        .group_by(ExamResponse.attempt_id)).all())

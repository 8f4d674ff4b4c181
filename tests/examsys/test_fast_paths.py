"""The autocommitted fast paths of a sitting's start and end on PostgreSQL — the confirmation (one read, one
statement: ``attempts.confirm_view``) and the plain hand-in (one statement: ``attempts.fast_hand_in``): the same
replies and the same rows (attempt, events, digest, audit entry) as the general path, on a database with real
commits (they run on their own connections, outside the per-test transaction of the other tests). On SQLite
the general path answers (the tests check that too)."""
from __future__ import annotations

import datetime as _dt

import pytest
from sqlalchemy import select

from examsys import clock
from examsys.extensions import db
from examsys.models import AttemptEvent, AuditLog, ExamAttempt
from examsys.services import attempts, post_finalise

from . import factories as f
from .concurrency import BACKENDS, statements, threaded_app

T0 = f.T0
DEADLINE = T0 + _dt.timedelta(minutes=60)


@pytest.fixture(params=BACKENDS)
def world(request, tmp_path):
    with threaded_app(request.param, tmp_path, "fasthandin") as app:
        # the post-finalisation is run by the test (not inline in the hand-in, not by a thread)
        app.config.update(EXAMS_POST_FINALISE_INLINE=False, EXAMS_POST_FINALISE_WORKER=False)
        clk = clock.FrozenClock(T0 - _dt.timedelta(minutes=10))
        clock.set_clock(clk)
        with app.app_context():
            info = f.make_session(n_candidates=5, duration_min=60, grace_seconds=30)
        info.update(app=app, clock=clk, backend=request.param)
        yield info


def confirm(world, k, *, fast: bool, monkeypatch):
    """Log in (the reply is the 核对信息 page) and confirm (the reply is the paper): (client, attempt id, page,
    statements of the confirmation)."""
    client = world["app"].test_client()
    ticket = world["tickets"][k]
    resp = f.candidate_login(client, ticket, world["ids"][ticket][-6:])
    assert f.logged_in(resp)
    if not fast:
        monkeypatch.setattr(attempts, "autocommit_connection", lambda: None)
    try:
        with world["app"].app_context(), statements() as seen:
            resp = client.post("/exam/confirm", data={"csrf_token": f.page_token(resp.get_data(as_text=True))})
    finally:
        monkeypatch.undo()
    assert resp.status_code == 200
    return client, world["attempts"][ticket], f.exam_data(resp.get_data(as_text=True)), seen


def entry_rows(world, aid):
    with world["app"].app_context():
        a = db.session.get(ExamAttempt, aid)
        ev = db.session.execute(select(AttemptEvent).where(AttemptEvent.attempt_id == aid)
                                .order_by(AttemptEvent.id)).scalars().all()
        out = (a.status, a.confirmed_at, a.entered_at, a.last_seen_at,
               [(e.kind, e.at, e.actor_label.split(":")[0], e.detail) for e in ev if e.kind != "login"])
        db.session.remove()
        return out


def test_the_confirmation_at_the_start_matches_the_general_path(world, monkeypatch):
    world["clock"].current = T0 + _dt.timedelta(seconds=1)
    confirm(world, 0, fast=True, monkeypatch=monkeypatch)  # (warms the per-process item cache)
    _c1, general_aid, general, _ = confirm(world, 1, fast=False, monkeypatch=monkeypatch)
    _c2, fast_aid, fast, seen = confirm(world, 2, fast=True, monkeypatch=monkeypatch)
    assert fast["mode"] == general["mode"] == "paper"
    assert {k: v for k, v in fast.items() if k not in ("attempt", "urls", "seq_base")} == \
        {k: v for k, v in general.items() if k not in ("attempt", "urls", "seq_base")}
    assert entry_rows(world, fast_aid) == entry_rows(world, general_aid)
    status, confirmed_at, entered_at, _seen, events = entry_rows(world, fast_aid)
    now = T0 + _dt.timedelta(seconds=1)
    assert status == "in_progress" and confirmed_at == entered_at == now
    assert [e[0] for e in events] == ["confirmed", "entered"]
    if world["backend"] == "postgresql":  # the read, then the UPDATE and its events in one statement
        assert len(seen) == 2 and "FROM exam_attempt JOIN" in seen[0] and seen[1].startswith("WITH up AS"), seen
    # a second confirmation (a reload that posts again) enters nothing twice
    client, aid, _page, _seen = _c2, fast_aid, fast, seen
    page = client.post("/exam/confirm", data={"csrf_token": f.open_paper(client)["token"]})
    assert page.status_code == 200 and [e[0] for e in entry_rows(world, aid)[4]] == ["confirmed", "entered"]


def enter(world, k):
    client = world["app"].test_client()
    ticket = world["tickets"][k]
    page = f.enter_exam(client, ticket, world["ids"][ticket])
    return client, world["attempts"][ticket], page["token"]


def hand_in(world, who, *, fast: bool, monkeypatch):
    client, aid, token = who
    if not fast:
        monkeypatch.setattr(attempts, "fast_hand_in", lambda *a, **k: None)
    try:
        with world["app"].app_context(), statements() as seen:
            resp = f.api(client, token, aid, "submit", {"confirm": True})
    finally:
        monkeypatch.undo()
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json(), seen


def rows(world, aid):
    with world["app"].app_context():
        a = db.session.get(ExamAttempt, aid)
        ev = db.session.execute(select(AttemptEvent).where(AttemptEvent.attempt_id == aid,
                                                           AttemptEvent.kind == "finalised")).scalars().all()
        audit = db.session.execute(select(AuditLog).where(AuditLog.action == "attempt.finalise",
                                                          AuditLog.object_id == str(aid))).scalars().all()
        assert a.final_digest == attempts.responses_digest(aid)[0]  # (each candidate's own answers)
        out = {"status": a.status, "reason": a.submit_reason, "submitted_at": a.submitted_at,
               "finalised_at": a.finalised_at, "answered": a.answered_count,
               "events": [(e.at, e.actor_label.split(":")[0], e.detail) for e in ev],
               "audit": [(x.actor_label.split(":")[0], x.after["status"], x.after["reason"]) for x in audit]}
        db.session.remove()
        return out


def test_plain_and_late_hand_ins_match_the_general_path(world, monkeypatch):
    clk = world["clock"]
    clk.current = T0 + _dt.timedelta(seconds=1)
    who = [enter(world, k) for k in range(5)]
    for client, aid, token in who[:2]:  # one answer each, so the digests are of something
        e = next(e for e in f.entries(f.layout_of(world["app"], aid)) if e["t"] == "single_choice")
        assert f.api(client, token, aid, "answers",
                     {"item": e["pi"], "seq": 10**15, "answer": e["ids"][0]}).status_code == 200

    clk.current = T0 + _dt.timedelta(minutes=30)  # a hand-in before the deadline
    general, _ = hand_in(world, who[0], fast=False, monkeypatch=monkeypatch)
    fast, seen = hand_in(world, who[1], fast=True, monkeypatch=monkeypatch)
    assert fast == general and fast["status"] == "submitted" and fast["already"] is False
    if world["backend"] == "postgresql":
        assert len(seen) == 1 and seen[0].startswith("WITH up AS ( UPDATE exam_attempt"), seen
    else:
        assert len(seen) >= 2  # the general path: the API's read, then the finalisation

    clk.current = DEADLINE + _dt.timedelta(seconds=10)  # late, within the grace: a timeout at the deadline
    late_general, _ = hand_in(world, who[2], fast=False, monkeypatch=monkeypatch)
    late_fast, _ = hand_in(world, who[3], fast=True, monkeypatch=monkeypatch)
    assert late_fast == late_general

    # a second click: answered by the general path, finalised once
    again, _ = hand_in(world, who[1], fast=True, monkeypatch=monkeypatch)
    assert again["already"] is True and again["status"] == "submitted"

    with world["app"].app_context():
        assert post_finalise.process_pending() == 4
        db.session.remove()
    a, b, c, d = (rows(world, who[k][1]) for k in range(4))
    for general_row, fast_row in ((a, b), (c, d)):
        assert general_row == fast_row and len(fast_row["events"]) == 1 and len(fast_row["audit"]) == 1
    assert b["reason"] == "candidate" and b["submitted_at"] == T0 + _dt.timedelta(minutes=30)
    assert d["reason"] == "timeout" and d["submitted_at"] == DEADLINE
    assert d["events"][0][2] == {"reason": "timeout", "status": "submitted",
                                 "audit": {"before": "in_progress", "actor_id": None, "reason": "timeout"}}


def test_the_fast_path_refuses_what_it_must_not_finalise(world, monkeypatch):
    clk = world["clock"]
    clk.current = T0 + _dt.timedelta(seconds=1)
    client, aid, token = enter(world, 0)
    other_client, other_aid, other_token = enter(world, 1)
    clk.current = T0 + _dt.timedelta(minutes=5)
    # another candidate's attempt id with my session: 404, and nothing finalised
    resp = f.api(client, token, other_aid, "submit", {"confirm": True})
    assert resp.status_code == 404
    # no login session at all: refused
    anon = world["app"].test_client()
    assert f.api(anon, None, aid, "submit", {"confirm": True}).status_code == 400  # (no CSRF token either)
    # paused by the proctor: refused (409), not finalised
    with world["app"].app_context():
        db.session.execute(ExamAttempt.__table__.update().where(ExamAttempt.id == aid)
                           .values(paused_at=clk.current))
        db.session.commit()
    resp = f.api(client, token, aid, "submit", {"confirm": True})
    assert resp.status_code == 409 and resp.get_json()["error"] == "paused"
    with world["app"].app_context():
        assert {a.status for a in db.session.execute(select(ExamAttempt).where(
            ExamAttempt.id.in_([aid, other_aid]))).scalars()} == {"in_progress"}
        db.session.remove()


def test_a_save_is_a_read_and_a_locking_upsert_and_stops_at_the_hand_in(world, monkeypatch):
    world["clock"].current = T0 + _dt.timedelta(seconds=1)
    client, aid, token = enter(world, 0)
    e = next(e for e in f.entries(f.layout_of(world["app"], aid)) if e["t"] == "single_choice")
    body = {"item": e["pi"], "seq": 10**15, "answer": e["ids"][1]}
    with world["app"].app_context(), statements() as seen:
        first = f.api(client, token, aid, "answers", body)
    assert first.status_code == 200 and first.get_json()["seq"] == 10**15
    if world["backend"] == "postgresql":  # no BEGIN/COMMIT: the read, then the upsert that takes the lock
        # (plus, on the attempt's first save in this process, the layout's read: attempts._layout)
        seen = [s for s in seen if not s.startswith("SELECT exam_attempt.layout")]
        assert len(seen) == 2 and "FOR SHARE" not in seen[0] and "FOR SHARE" in seen[1], seen
    retry = f.api(client, token, aid, "answers", body)  # the same request again: acknowledged, nothing changes
    assert retry.status_code == 200 and retry.get_json()["seq"] == 10**15
    older = f.api(client, token, aid, "answers", dict(body, seq=10**15 - 1, answer=e["ids"][0]))
    assert older.status_code == 200 and older.get_json()["stale"] is True
    assert f.api(client, token, aid, "submit", {"confirm": True}).status_code == 200
    late = f.api(client, token, aid, "answers", dict(body, seq=10**15 + 1, answer=e["ids"][0]))
    assert late.status_code == 409 and late.get_json()["error"] == "submitted"
    with world["app"].app_context():
        from examsys.models import ExamResponse
        stored = db.session.execute(select(ExamResponse.seq, ExamResponse.answer).where(
            ExamResponse.attempt_id == aid, ExamResponse.paper_item_id == e["pi"])).one()
        assert stored.seq == 10**15 and stored.answer == "ABCDEFGH"[e["order"][1]]
        db.session.remove()


def test_a_login_writes_its_counter_session_and_event_in_one_statement_on_postgresql(world):
    """After two wrong guesses, the right credentials: the ticket's counter is gone, one live login session of
    the attempt and one ``login`` event are written — on PostgreSQL by one statement after the counter's upsert
    and the read, on SQLite by three."""
    from examsys.models import AuthSession, LoginThrottle
    world["clock"].current = T0 - _dt.timedelta(minutes=5)
    client = world["app"].test_client()
    ticket = world["tickets"][3]
    aid = world["attempts"][ticket]
    for _ in range(2):
        assert f.candidate_login(client, ticket, "000000").status_code == 401
    token = f.page_token(client.get("/exam/login").get_data(as_text=True))
    with world["app"].app_context(), statements() as seen:
        resp = client.post("/exam/login", data={"ticket": ticket, "credential": world["ids"][ticket][-6:],
                                                "csrf_token": token})
    assert f.logged_in(resp)
    writes = [s for s in seen if not s.upper().startswith(("BEGIN", "COMMIT", "ROLLBACK"))]
    if world["backend"] == "postgresql":
        assert len(writes) == 3 and writes[2].startswith("WITH drop_counter AS"), writes
    else:
        assert len(writes) == 5, writes
    with world["app"].app_context():
        assert db.session.get(LoginThrottle, f"ticket:{ticket}") is None
        live = db.session.execute(select(AuthSession).where(AuthSession.subject_id == aid)).scalars().all()
        assert [(s.kind, s.revoked_at, s.created_at) for s in live] == [("candidate", None, world["clock"].current)]
        logins = db.session.execute(select(AttemptEvent).where(AttemptEvent.attempt_id == aid,
                                                               AttemptEvent.kind == "login")).scalars().all()
        assert [(e.at, e.actor_label, e.detail["with"]) for e in logins] == \
            [(world["clock"].current, f"candidate:{ticket}", "id")]
        db.session.remove()
    # the session works: the confirmation is accepted
    token = f.page_token(resp.get_data(as_text=True))
    assert client.post("/exam/confirm", data={"csrf_token": token}).status_code == 200

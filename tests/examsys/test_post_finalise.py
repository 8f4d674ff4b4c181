"""Post-finalisation (services/post_finalise.py): a hand-in commits only the finalisation; marking and the
``attempt.finalise`` audit entry follow exactly once — in a later :func:`process_pending`, the worker thread,
the sweeper or ``examsys exams finalise-due`` — with the finalisation's actor and time.

Checks: with inline processing off a hand-in replies ``ok`` and leaves the attempt unmarked and un-audited;
processing marks it and writes one audit entry (the candidate's label, the finalisation time, the same fields
as before); again, or from several threads/connections at once (SQLite file and PostgreSQL), nothing more
happens; a proctor's forced hand-in is audited with the proctor and the note; a never-entered attempt with
``not_started`` → ``absent``; a crash mid-way rolls back and the sweeper (or the CLI) picks it up; a marking
failure still audits; a station's keyless copy is audited, not marked; the worker thread processes a hand-in
on its own and does not wait past its maximum under a stream of hand-ins; the migration marks old attempts
processed."""
from __future__ import annotations

import collections
import datetime as _dt
import threading
import time

import pytest
from sqlalchemy import func, select, text

from examsys import clock, create_app
from examsys.config import TestConfig
from examsys.extensions import db
from examsys.models import AttemptEvent, AttemptMarking, AuditLog, ExamAttempt, ExamSession, Script
from examsys.services import audit, finalisation, marking, post_finalise, proctoring, station_package, sweeper

from . import factories as f
from .concurrency import BACKENDS, run_threads, statements, threaded_app
from .test_marking_helpers import answer, items_of, set_clock, sitting

T0 = f.T0
FINALISED_AT = T0 + _dt.timedelta(minutes=1)  # test_marking_helpers.sitting leaves the clock here
LATER = T0 + _dt.timedelta(minutes=7)


# -- helpers ------------------------------------------------------------------------------------------------

def all_handed_in(n: int) -> list[int]:
    """A sitting of ``n`` candidates who all handed in (inside an app context); their attempt ids, sorted."""
    aids = sorted(sitting(n=n)["attempts"].values())
    for aid in aids:
        finalisation.finalise(aid, "candidate")
    return aids


def audits(aid: int | None = None) -> list[AuditLog]:
    q = select(AuditLog).where(AuditLog.action == "attempt.finalise")
    if aid is not None:
        q = q.where(AuditLog.object_id == str(aid))
    return list(db.session.execute(q.order_by(AuditLog.id)).scalars())


def audits_per_attempt() -> dict[str, int]:
    return dict(db.session.execute(select(AuditLog.object_id, func.count(AuditLog.id))
                                   .where(AuditLog.action == "attempt.finalise").group_by(AuditLog.object_id)).all())


def marks() -> dict[int, tuple]:
    return {m.attempt_id: (m.auto_score, m.auto_max, dict(m.item_scores), m.marked_at)
            for m in db.session.execute(select(AttemptMarking)).scalars()}


def attempt(aid: int) -> ExamAttempt:
    return db.session.execute(select(ExamAttempt).where(ExamAttempt.id == aid)
                              .execution_options(populate_existing=True)).scalar_one()


def answer_right(s: dict, aid: int, t: str = "single_choice") -> int:
    """Answer the first item of type ``t`` correctly (original label space); returns its paper item id."""
    pi = next(pi for pi, tt, _d in items_of(s, aid) if tt == t)
    answer(aid, pi, {"single_choice": "B", "true_false": True}[t])
    return pi


@pytest.fixture
def deferred(app):
    """The test app with inline post-finalisation off (as in production)."""
    app.config["EXAMS_POST_FINALISE_INLINE"] = False
    return app


@pytest.fixture
def dctx(deferred):
    with deferred.app_context():
        yield deferred


# -- through the candidate API ------------------------------------------------------------------------------

def test_a_hand_in_replies_ok_and_leaves_marking_and_audit_for_later(deferred):
    app = deferred
    frozen = clock.FrozenClock(T0 - _dt.timedelta(minutes=10))
    clock.set_clock(frozen)
    with app.app_context():
        exam = f.make_session(n_candidates=2, duration_min=60, grace_seconds=30)
    client = app.test_client()
    frozen.current = T0 + _dt.timedelta(seconds=1)
    ticket = exam["tickets"][0]
    page = f.enter_exam(client, ticket, exam["ids"][ticket])
    aid = exam["attempts"][ticket]
    sc = next(e for e in f.entries(f.layout_of(app, aid)) if e["t"] == "single_choice")
    right = sc["ids"][sc["order"].index(1)]  # the key is B (original index 1) in any shuffled order
    r = f.api(client, page["token"], aid, "answers", {"item": sc["pi"], "seq": 1, "answer": right})
    assert r.status_code == 200
    frozen.current = handed_in = T0 + _dt.timedelta(minutes=3)
    r = f.api(client, page["token"], aid, "submit", {"confirm": True})
    assert r.status_code == 200 and r.get_json()["ok"] is True and r.get_json()["status"] == "submitted"
    with app.app_context():
        att = attempt(aid)
        assert att.status == "submitted" and att.finalised_at == handed_in and att.processed_at is None
        # the digest and the answered count are the post-finalisation's: not stored by the hand-in
        assert att.final_digest is None and att.answered_count is None and att.answered == 1
        assert db.session.get(AttemptMarking, aid) is None and audits(aid) == []
        ev = db.session.execute(select(AttemptEvent).where(AttemptEvent.attempt_id == aid,
                                                           AttemptEvent.kind == "finalised")).scalar_one()
        assert ev.actor_label == f"candidate:{ticket}" and ev.at == handed_in
        assert ev.detail == {"reason": "candidate", "status": "submitted",
                             "audit": {"before": "in_progress", "actor_id": None, "reason": "candidate"}}
        assert post_finalise.pending_count() == 1
        assert post_finalise.worker_for(app) is None  # never started in testing unless a test starts it
        # the proctor console does not show the audit bookkeeping of the event
        assert "audit" in ev.detail and "audit" not in proctoring._public_detail(ev.detail)
    # the hand-in page shows the live count meanwhile
    html = client.get("/exam/paper").get_data(as_text=True)
    assert '<dd id="answered-count">1</dd>' in html
    frozen.current = LATER
    with app.app_context():
        assert post_finalise.process_pending() == 1
        att = attempt(aid)
        assert att.final_digest == finalisation.responses_digest(aid)[0] and att.answered_count == 1
        m = db.session.get(AttemptMarking, aid)
        assert m is not None and m.item_scores[str(sc["pi"])] == 1.0 and m.marked_at == LATER
        (entry,) = audits(aid)
        att = attempt(aid)
        assert entry.actor_label == f"candidate:{ticket}" and entry.actor_id is None
        assert entry.at == handed_in and att.processed_at == LATER
        assert entry.before == {"status": "in_progress"}
        assert entry.after == {"status": "submitted", "reason": "candidate", "answered": 1,
                               "digest": att.final_digest, "submitted_at": handed_in.isoformat()}
        assert entry.reason == "candidate"
        assert audit.verify_chain() == (True, None)
        before = marks()
    frozen.current = LATER + _dt.timedelta(minutes=1)
    with app.app_context():
        assert post_finalise.process_pending() == 0
        assert len(audits(aid)) == 1 and marks() == before
    # a second hand-in request changes nothing either
    r = f.api(client, page["token"], aid, "submit", {"confirm": True})
    assert r.status_code == 200 and r.get_json()["already"] is True
    with app.app_context():
        assert post_finalise.process_pending() == 0 and len(audits(aid)) == 1


# -- services ----------------------------------------------------------------------------------------------

def test_process_pending_marks_audits_once_and_keeps_finalisation_times(dctx):
    s = sitting(n=3)
    a1, a2, a3 = sorted(s["attempts"].values())
    pi1 = answer_right(s, a1)
    for aid in (a1, a2, a3):
        assert finalisation.finalise(aid, "candidate", actor_label=f"candidate:{aid}")
    assert post_finalise.pending_count() == 3 and marks() == {} and audits() == []
    set_clock(LATER)
    assert post_finalise.process_pending(limit=2) == 3  # two batches
    got = marks()
    assert set(got) == {a1, a2, a3} and got[a1][2][str(pi1)] == 1.0 and got[a2][0] == 0.0
    assert audits_per_attempt() == {str(a1): 1, str(a2): 1, str(a3): 1}
    assert [e.at for e in audits()] == [FINALISED_AT] * 3
    assert [e.actor_label for e in audits()] == [f"candidate:{a}" for a in (a1, a2, a3)]
    assert post_finalise.pending_count() == 0
    set_clock(LATER + _dt.timedelta(minutes=1))
    assert post_finalise.process_pending() == 0 and post_finalise.process_pending(attempt_ids=[a1, a2]) == 0
    assert marks() == got and audits_per_attempt() == {str(a1): 1, str(a2): 1, str(a3): 1}
    assert audit.verify_chain() == (True, None)


def test_only_the_given_attempts_are_processed_when_ids_are_given(dctx):
    s = sitting(n=3)
    a1, a2, a3 = sorted(s["attempts"].values())
    for aid in (a1, a2, a3):
        finalisation.finalise(aid, "candidate")
    assert post_finalise.process_pending(attempt_ids=[a2]) == 1
    assert set(marks()) == {a2} and audits_per_attempt() == {str(a2): 1}
    assert post_finalise.pending_count() == 2


def test_proctor_force_submit_is_audited_with_the_proctor_and_the_note(dctx):
    s = sitting(n=2)
    a1, a2 = sorted(s["attempts"].values())
    proctor = f.manager(s["station_id"])  # a station user of this station
    sess = db.session.get(ExamSession, s["session_id"])
    proctoring.attempt_action(sess, a1, "force_submit", proctor, reason="违纪，强制收卷")
    assert attempt(a1).status == "submitted" and audits(a1) == []
    assert post_finalise.process_pending() == 1
    (entry,) = audits(a1)
    assert entry.actor_id == proctor.id and entry.actor_label == proctor.username
    assert entry.reason == "违纪，强制收卷" and entry.after["reason"] == "proctor"
    assert entry.before == {"status": "in_progress"} and entry.at == FINALISED_AT
    # the proctor's own action is audited in its request, as before
    assert db.session.execute(select(func.count(AuditLog.id)).where(
        AuditLog.action == "proctor.force_submit")).scalar_one() == 1


def test_a_never_entered_attempt_is_audited_as_absent_by_the_system(dctx):
    s = sitting(n=2)
    a1, a2 = sorted(s["attempts"].values())
    att = db.session.get(ExamAttempt, a2)
    att.status, att.entered_at = "not_started", None
    db.session.commit()
    set_clock(T0 + _dt.timedelta(hours=2))  # past deadline + grace
    assert finalisation.finalise_due() == 2
    assert post_finalise.process_pending() == 2
    (entry,) = audits(a2)
    assert entry.actor_label == "system" and entry.before == {"status": "not_started"}
    assert entry.after["status"] == "absent" and entry.after["reason"] == "timeout" and entry.reason == "timeout"
    deadline = attempt(a1).deadline
    assert audits(a1)[0].after["submitted_at"] == deadline.isoformat()  # a timeout finishes at the deadline


class _Killed(BaseException):
    """The process dies (not an error any handler catches)."""


def test_a_crash_mid_way_is_rolled_back_and_picked_up_by_the_sweeper(dctx, monkeypatch):
    app = dctx
    s = sitting(n=2)
    aids = sorted(s["attempts"].values())
    answer_right(s, aids[0])
    for aid in aids:
        finalisation.finalise(aid, "candidate", actor_label="candidate:x")
    calls = []

    def killed(*a, **kw):  # after the claim and the marking, at the first audit entry
        calls.append(a)
        raise _Killed()

    with monkeypatch.context() as mp:  # (not monkeypatch.undo(): the PostgreSQL fixture patches db.session)
        mp.setattr(audit, "record", killed)
        with pytest.raises(_Killed):
            post_finalise.process_pending()
        db.session.rollback()  # what the database does with a dead process's transaction
    assert calls and post_finalise.pending_count() == 2
    assert marks() == {} and audits() == []
    # the sweeper leaves fresh hand-ins to the worker threads (a deadline burst in progress) ...
    set_clock(FINALISED_AT + _dt.timedelta(seconds=post_finalise.CATCH_UP_AFTER - 1))
    assert sweeper.sweep_once(app) == 0 and post_finalise.pending_count() == 2
    # ... and catches up on those no process has done within CATCH_UP_AFTER
    set_clock(FINALISED_AT + _dt.timedelta(seconds=post_finalise.CATCH_UP_AFTER))
    assert sweeper.sweep_once(app) == 0  # nothing due to finalise; the catch-up runs
    assert post_finalise.pending_count() == 0
    assert set(marks()) == set(aids) and audits_per_attempt() == {str(a): 1 for a in aids}
    assert audit.verify_chain() == (True, None)


def test_the_finalise_due_command_catches_up(deferred):
    app = deferred
    with app.app_context():
        aids = all_handed_in(2)
    result = app.test_cli_runner().invoke(args=["exams", "finalise-due"])
    assert result.exit_code == 0, result.output
    assert "Finalised 0 attempt(s)." in result.output and "Marked and audited 2 finalised attempt(s)." in result.output
    with app.app_context():
        assert post_finalise.pending_count() == 0 and audits_per_attempt() == {str(a): 1 for a in aids}


def test_a_marking_failure_still_audits_and_marks_the_attempt_processed(dctx, monkeypatch):
    aids = all_handed_in(2)
    tried = []

    def broken(ids, **kw):
        tried.append(sorted(ids))
        raise RuntimeError("marking is broken")

    monkeypatch.setattr(marking, "mark_attempts", broken)
    assert post_finalise.process_pending() == 2
    assert tried == [aids, [aids[0]], [aids[1]]]  # the batch, then one at a time
    assert marks() == {} and audits_per_attempt() == {str(a): 1 for a in aids}
    assert post_finalise.pending_count() == 0
    assert audit.verify_chain() == (True, None)


def test_an_attempt_that_cannot_be_audited_stays_pending_without_looping(dctx, monkeypatch):
    s = sitting(n=1)
    (aid,) = s["attempts"].values()
    finalisation.finalise(aid, "candidate")

    def broken(*a, **kw):
        raise RuntimeError("audit log unavailable")

    with monkeypatch.context() as mp:
        mp.setattr(audit, "record", broken)
        assert post_finalise.process_pending() == 0
    assert post_finalise.pending_count() == 1 and marks() == {}
    assert post_finalise.process_pending() == 1 and len(audits(aid)) == 1


def test_a_station_copy_is_audited_but_not_marked(dctx, monkeypatch):
    s = sitting(n=1)
    (aid,) = s["attempts"].values()
    answer_right(s, aid)
    finalisation.finalise(aid, "candidate")
    monkeypatch.setattr(station_package, "is_station_copy", lambda session_id: True)
    assert post_finalise.process_pending() == 1
    assert marks() == {} and len(audits(aid)) == 1 and post_finalise.pending_count() == 0


def test_inline_processing_marks_and_audits_in_the_hand_in(ctx):
    assert ctx.config["EXAMS_POST_FINALISE_INLINE"] is True  # TestConfig
    s = sitting(n=1)
    (aid,) = s["attempts"].values()
    finalisation.finalise(aid, "candidate")
    assert attempt(aid).processed_at is not None and aid in marks() and len(audits(aid)) == 1


def test_the_worker_is_not_started_in_testing_or_when_disabled(app):
    assert post_finalise.start(app) is None
    app.testing = False
    app.config["EXAMS_POST_FINALISE_WORKER"] = False
    try:
        assert post_finalise.start(app) is None and post_finalise.worker_for(app) is None
    finally:
        app.testing = True


# -- the hand-in's statements; the digest and the answered count -------------------------------------------

def finalised_events(aid: int) -> list[AttemptEvent]:
    return list(db.session.execute(select(AttemptEvent).where(AttemptEvent.attempt_id == aid,
                                                              AttemptEvent.kind == "finalised")).scalars())


def test_a_hand_in_is_one_statement_on_postgresql_and_two_on_sqlite(dctx):
    s = sitting(n=1)
    (aid,) = s["attempts"].values()
    answer_right(s, aid)
    with statements() as seen:
        assert finalisation.finalise(aid, "candidate", actor_label="candidate:x", commit=False)
    if db.engine.dialect.name == "postgresql":
        assert len(seen) == 1, seen
        assert seen[0].startswith("WITH up AS (UPDATE exam_attempt SET") and "INSERT INTO exam_attempt_event" in seen[0]
    else:
        assert len(seen) == 2, seen
        assert seen[0].startswith("UPDATE exam_attempt SET") and "RETURNING" in seen[0]
        assert seen[1].startswith("INSERT INTO exam_attempt_event")
    assert not any("exam_response" in sql for sql in seen)  # the answers are not read by the hand-in
    db.session.commit()
    att = attempt(aid)
    assert (att.status, att.submit_reason, att.submitted_at, att.finalised_at) == (
        "submitted", "candidate", FINALISED_AT, FINALISED_AT)
    assert att.final_digest is None and att.answered_count is None and att.answered == 1
    (ev,) = finalised_events(aid)
    assert ev.actor_label == "candidate:x" and ev.at == FINALISED_AT
    assert ev.detail == {"reason": "candidate", "status": "submitted",
                         "audit": {"before": "in_progress", "actor_id": None, "reason": "candidate"}}
    # the loser changes nothing
    assert not finalisation.finalise(aid, "proctor") and len(finalised_events(aid)) == 1
    assert post_finalise.process_pending() == 1
    att = attempt(aid)
    assert (att.final_digest, att.answered_count) == finalisation.responses_digest(aid)
    assert att.answered == 1


def test_a_timeout_finishes_at_the_deadline_once_it_has_passed(dctx):
    s = sitting(n=3)
    a1, a2, a3 = sorted(s["attempts"].values())
    deadline = attempt(a1).deadline
    assert attempt(a2).deadline == attempt(a3).deadline == deadline
    set_clock(deadline - _dt.timedelta(seconds=5))  # the page's timer ran out a moment early
    assert finalisation.finalise(a1, "timeout")
    late = deadline + _dt.timedelta(seconds=20)
    set_clock(late)
    assert finalisation.finalise(a2, "timeout") and finalisation.finalise(a3, "proctor")
    got = {a: (attempt(a).submitted_at, attempt(a).finalised_at) for a in (a1, a2, a3)}
    assert got == {a1: (deadline - _dt.timedelta(seconds=5),) * 2, a2: (deadline, late), a3: (late, late)}


def test_each_attempt_of_a_batch_gets_its_own_digest_from_one_query(dctx):
    s = sitting(n=5)
    a1, a2, a3, a4, a5 = aids = sorted(s["attempts"].values())
    items = {a: [pi for pi, t, _d in items_of(s, a) if t in ("single_choice", "true_false")] for a in aids}
    answer(a1, items[a1][0], "B")
    answer(a1, items[a1][1], "A")
    answer(a2, items[a2][0], "B")
    answer(a3, items[a3][0], "C")
    answer(a3, items[a3][1], None)  # answered, then cleared: stored (NULL), not counted
    # a4: no response at all
    for aid, reason in zip(aids, ("candidate", "timeout", "proctor", "collect_all", "candidate")):
        assert finalisation.finalise(aid, reason)
    attempt(a5).final_digest = "f" * 64  # a digest already stored (a station's results import) is kept
    db.session.commit()
    assert [attempt(a).final_digest for a in aids] == [None] * 4 + ["f" * 64]
    set_clock(LATER)
    with statements() as seen:
        assert post_finalise.process_pending() == 5  # one batch
    reads = [sql for sql in seen if sql.startswith("SELECT") and "exam_response.flagged" in sql]
    assert len(reads) == 1, reads  # the batch's responses in one query
    digests = {a: (attempt(a).final_digest, attempt(a).answered_count) for a in aids}
    for aid in (a1, a2, a3, a4):
        assert digests[aid] == finalisation.responses_digest(aid)
    assert [digests[a][1] for a in (a1, a2, a3, a4)] == [2, 1, 1, 0]
    assert digests[a4][0] == finalisation.digest_rows([])[0]
    assert len({d for d, _n in digests.values()}) == 5
    assert digests[a5] == ("f" * 64, None)
    for aid in aids:  # the audit entries record what was stored
        (entry,) = audits(aid)
        assert (entry.after["digest"], entry.after["answered"]) == digests[aid]
    assert audit.verify_chain() == (True, None)


# -- real concurrency: threads with their own connections ------------------------------------------------

@pytest.fixture(params=BACKENDS)
def real_app(request, tmp_path):
    """An app on a SQLite file (WAL) or a throwaway PostgreSQL schema, inline post-finalisation off."""
    with threaded_app(request.param, tmp_path, "pf") as app:
        app.config["EXAMS_POST_FINALISE_INLINE"] = False
        try:
            yield app
        finally:
            post_finalise.stop(app)


def test_several_processors_at_once_process_each_attempt_exactly_once(real_app):
    app = real_app
    with app.app_context():
        s = sitting(n=16)
        aids = sorted(s["attempts"].values())
        for aid in aids[::2]:
            answer_right(s, aid)
        for aid in aids:
            assert finalisation.finalise(aid, "candidate", actor_label=f"candidate:{aid}")
        assert post_finalise.pending_count() == 16
    set_clock(LATER)
    done = []
    lock = threading.Lock()

    def processor(k):
        with app.app_context():
            n = post_finalise.process_pending(limit=3)
        with lock:
            done.append(n)

    assert run_threads(4, processor) == []
    assert sum(done) == 16
    with app.app_context():
        assert post_finalise.pending_count() == 0
        assert audits_per_attempt() == {str(a): 1 for a in aids}
        assert {e.at for e in audits()} == {FINALISED_AT}
        got = marks()
        assert set(got) == set(aids)
        assert all(got[a][0] == 1.0 for a in aids[::2]) and all(got[a][0] == 0.0 for a in aids[1::2])
        per_script = collections.Counter(db.session.execute(select(Script.attempt_id, Script.paper_item_id)).all())
        assert per_script and set(per_script.values()) == {1}  # each constructed item's script once
        assert audit.verify_chain() == (True, None)
    # and once more, from several threads: nothing changes
    done.clear()
    assert run_threads(3, processor) == []
    assert sum(done) == 0
    with app.app_context():
        assert audits_per_attempt() == {str(a): 1 for a in aids} and marks() == got


def test_a_row_held_for_a_moment_by_another_transaction_is_still_processed(real_app):
    """On PostgreSQL a late save holds ``FOR SHARE`` on the attempt row for a moment: the parallel pass skips
    the row, the last pass waits for it (on SQLite writers take turns anyway)."""
    app = real_app
    with app.app_context():
        aids = all_handed_in(2)
        held = db.engine.connect()
        if db.engine.dialect.name == "postgresql":
            held.execute(text("SELECT id FROM exam_attempt WHERE id = :id FOR SHARE"), {"id": aids[0]})
        release = threading.Timer(1.0, held.close)
        release.start()
        try:
            assert post_finalise.process_pending() == 2
        finally:
            release.join()
        assert post_finalise.pending_count() == 0 and audits_per_attempt() == {str(a): 1 for a in aids}


def test_concurrent_hand_ins_give_one_event_one_audit_entry_and_the_right_digest(real_app):
    """Several threads finalise the same attempts at once (candidate, timeout, proctor): one winner each, one
    ``finalised`` event, then one audit entry and the digest of the answers as they were."""
    app = real_app
    with app.app_context():
        s = sitting(n=4)
        aids = sorted(s["attempts"].values())
        answered = dict.fromkeys(aids, 0)
        for k, aid in enumerate(aids[:3]):  # 1, 2, 3 answers; the last candidate none
            for pi, t, _d in [e for e in items_of(s, aid) if e[1] in ("single_choice", "true_false")][:k + 1]:
                answer(aid, pi, "B" if t == "single_choice" else True)
                answered[aid] += 1
    wins: collections.Counter = collections.Counter()
    lock = threading.Lock()

    def finaliser(k):
        order = aids[k % len(aids):] + aids[:k % len(aids)]
        for aid in order:
            with app.app_context():
                won = finalisation.finalise(aid, ("candidate", "timeout", "proctor")[k % 3], actor_label=f"t{k}")
            if won:
                with lock:
                    wins[aid] += 1

    assert run_threads(8, finaliser) == []
    assert wins == {aid: 1 for aid in aids}
    with app.app_context():
        assert post_finalise.pending_count() == 4
        assert all(attempt(a).final_digest is None for a in aids)

    def processor(k):
        with app.app_context():
            post_finalise.process_pending(limit=2)

    assert run_threads(3, processor) == []
    with app.app_context():
        assert post_finalise.pending_count() == 0
        assert audits_per_attempt() == {str(a): 1 for a in aids}
        assert list(answered.values()) == [1, 2, 3, 0]
        for aid in aids:
            assert len(finalised_events(aid)) == 1
            att = attempt(aid)
            assert (att.final_digest, att.answered_count) == finalisation.responses_digest(aid)
            assert att.answered_count == answered[aid]
            (entry,) = audits(aid)
            assert entry.after["digest"] == att.final_digest and entry.after["answered"] == att.answered_count
        assert audit.verify_chain() == (True, None)


def _wait_until(predicate, timeout: float, *, tick=None) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        if tick is not None:
            tick()
        time.sleep(0.05)
    return predicate()


def _pending(app) -> int:
    with app.app_context():
        return post_finalise.pending_count()


def test_the_worker_thread_processes_a_hand_in_on_its_own(real_app):
    app = real_app
    with app.app_context():
        s = sitting(n=2)
        a1, a2 = sorted(s["attempts"].values())
        answer_right(s, a1)
    worker = post_finalise.start(app, delay=0.3, force=True)
    assert worker is not None and post_finalise.start(app, force=True) is worker  # one per process and app
    with app.app_context():
        assert finalisation.finalise(a1, "candidate", actor_label="candidate:one")  # commits, then enqueues
        assert post_finalise.pending_count() == 1  # not in the hand-in
    assert _wait_until(lambda: worker.processed == 1, 10), "the worker did not process the hand-in"
    assert _pending(app) == 0
    with app.app_context():
        assert set(marks()) == {a1} and marks()[a1][0] == 1.0
        (entry,) = audits(a1)
        assert entry.actor_label == "candidate:one" and entry.at == FINALISED_AT
    post_finalise.stop(app)
    assert not worker.is_alive() and post_finalise.worker_for(app) is None


def test_the_worker_does_not_wait_past_its_maximum_under_a_stream_of_hand_ins(real_app):
    app = real_app
    with app.app_context():
        s = sitting(n=1)
        (aid,) = s["attempts"].values()
    # never quiet for 60 s (notified every 50 ms), but at most 0.5 s after the first notification
    worker = post_finalise.start(app, delay=60, max_wait=0.5, force=True)
    with app.app_context():
        finalisation.finalise(aid, "candidate")
    assert _wait_until(lambda: worker.processed == 1, 10, tick=worker.notify), "the worker kept waiting"
    assert _pending(app) == 0


# -- the migration -----------------------------------------------------------------------------------------

def test_the_migration_marks_attempts_finalised_before_it_as_processed(tmp_path):
    from flask_migrate import upgrade
    app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'm.sqlite'}")
    t = _dt.datetime(2026, 5, 1, 8, 0)  # naive UTC, as stored
    with app.app_context():
        upgrade(revision="0005")
        with db.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")  # attempt rows without their session and paper
            for aid, fin in ((1, t), (2, None)):
                conn.execute(text(
                    "INSERT INTO exam_attempt (id, session_id, candidate_id, paper_form_id, seed, layout, status, "
                    "extra_seconds, paused_seconds, finalised_at) VALUES (:id, 1, :id, 1, 1, '{}', :st, 0, 0, :fin)"),
                    {"id": aid, "st": "submitted" if fin else "in_progress", "fin": fin})
            conn.commit()
        upgrade()
        rows = dict(db.session.execute(select(ExamAttempt.id, ExamAttempt.processed_at)).all())
        assert rows == {1: t.replace(tzinfo=_dt.timezone.utc), 2: None}
        assert post_finalise.pending_count() == 0
        db.session.remove()
        db.engine.dispose()

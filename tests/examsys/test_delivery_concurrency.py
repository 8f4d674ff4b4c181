"""Real concurrency on the save path: threads with their own connections and real commits, on a SQLite file
(WAL) and — when TEST_DATABASE_URL points at PostgreSQL — on a throwaway schema there.

Checks: no "database is locked" or other error under contention; an older sequence never wins; every
acknowledged save is in the stored (and finalised) answers; a finalisation racing with saves freezes exactly
what it digests; many concurrent finalisations of one attempt finalise it once."""
from __future__ import annotations

import datetime as _dt
import random
import threading

import pytest
from sqlalchemy import func, select

from examsys import clock
from examsys.extensions import db
from examsys.models import AuditLog, ExamAttempt, ExamResponse
from examsys.services import attempts, exams
from examsys.services.exams import ExamError

from . import factories as f
from .concurrency import BACKENDS, threaded_app
from .concurrency import run_threads as _run_threads



@pytest.fixture(params=BACKENDS)
def real_app(request, tmp_path):
    with threaded_app(request.param, tmp_path, "conc") as app:
        clk = clock.FrozenClock(f.T0 - _dt.timedelta(minutes=10))
        clock.set_clock(clk)
        with app.app_context():
            info = f.make_session(n_candidates=2, duration_min=60)
            clk.current = f.T0 + _dt.timedelta(seconds=1)
            exams.maybe_autostart(db.session.get(exams.ExamSession, info["session_id"]))
            for aid in info["attempts"].values():
                att = db.session.get(ExamAttempt, aid)
                attempts.confirm(att)
                attempts.enter(att)
        info["clock"] = clk
        yield app, info


def run_threads(n, target):
    return _run_threads(n, target, timeout=60, together=False)


def test_concurrent_saves_keep_the_newest_and_lose_no_ack(real_app):
    app, info = real_app
    aid = info["attempts"][info["tickets"][0]]
    layout = f.layout_of(app, aid)
    ents = [e for e in f.entries(layout) if e["t"] in ("fill_blank", "short_answer")]
    seqs = list(range(1, 241))
    random.Random(7).shuffle(seqs)
    acked: dict[int, int] = {}
    lock = threading.Lock()

    def worker(k):
        for seq in seqs[k::8]:
            e = ents[seq % len(ents)]
            with app.app_context():
                out = attempts.save_answer(aid, e["pi"], seq, f"answer {seq}", False)
            assert out["ok"] and out["seq"] >= seq
            with lock:
                acked[e["pi"]] = max(acked.get(e["pi"], 0), seq)

    assert run_threads(8, worker) == []
    with app.app_context():
        rows = {r.paper_item_id: r for r in db.session.execute(
            select(ExamResponse).where(ExamResponse.attempt_id == aid)).scalars()}
    for pi, seq in acked.items():
        assert rows[pi].seq == seq == max(s for s in seqs if ents[s % len(ents)]["pi"] == pi)
        assert rows[pi].answer == f"answer {seq}"


def test_finalisation_racing_with_saves_freezes_what_it_digests(real_app):
    app, info = real_app
    aid = info["attempts"][info["tickets"][1]]
    ents = [e for e in f.entries(f.layout_of(app, aid)) if e["t"] in ("fill_blank", "short_answer")]
    acked: list[tuple[int, int]] = []
    lock = threading.Lock()
    go = threading.Event()

    def saver(k):
        go.wait()
        for i in range(40):
            seq = 1 + k * 1000 + i
            e = ents[(k + i) % len(ents)]
            try:
                with app.app_context():
                    out = attempts.save_answer(aid, e["pi"], seq, f"s{seq}", False)
            except ExamError as err:
                assert err.status == 409 and err.code == "submitted"
                return
            with lock:
                acked.append((e["pi"], seq))

    def finaliser(k):
        go.wait()
        with app.app_context():
            attempts.finalise(aid, "proctor", actor_label="test")

    def target(k):
        (finaliser if k == 0 else saver)(k)

    threads_errors = []
    t = threading.Thread(target=lambda: threads_errors.extend(run_threads(7, target)))
    t.start()
    go.set()
    t.join(timeout=120)
    assert threads_errors == []
    with app.app_context():
        att = db.session.get(ExamAttempt, aid)
        assert att.status == "submitted"
        digest, _n = attempts.responses_digest(aid)
        assert digest == att.final_digest  # nothing was written after the finalisation
        stored = dict(db.session.execute(select(ExamResponse.paper_item_id, ExamResponse.seq)
                                         .where(ExamResponse.attempt_id == aid)).all())
    for pi, seq in acked:
        assert stored[pi] >= seq  # every acknowledged save is in the final answers


def test_concurrent_finalisations_finalise_once(real_app):
    app, info = real_app
    aid = info["attempts"][info["tickets"][0]]
    wins = []
    lock = threading.Lock()
    go = threading.Event()

    def worker(k):
        go.wait()
        with app.app_context():
            won = attempts.finalise(aid, "candidate" if k % 2 else "timeout", actor_label=f"t{k}")
        with lock:
            wins.append(won)

    out = []
    t = threading.Thread(target=lambda: out.extend(run_threads(6, worker)))
    t.start()
    go.set()
    t.join(timeout=60)
    assert out == [] and wins.count(True) == 1
    with app.app_context():
        n = db.session.execute(select(func.count(AuditLog.id)).where(AuditLog.action == "attempt.finalise")).scalar_one()
        assert n == 1

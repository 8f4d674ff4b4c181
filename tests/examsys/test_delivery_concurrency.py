"""Real concurrency on the save path: threads with their own connections and real commits, on a SQLite file
(WAL) and — when TEST_DATABASE_URL points at PostgreSQL — on a throwaway schema there.

Checks: no "database is locked" or other error under contention; an older sequence never wins; every
acknowledged save is in the stored (and finalised) answers; a finalisation racing with saves freezes exactly
what it digests; many concurrent finalisations of one attempt finalise it once."""
from __future__ import annotations

import datetime as _dt
import os
import random
import threading
import uuid

import pytest
from sqlalchemy import create_engine, func, select, text

from examsys import clock, create_app
from examsys.config import TestConfig, _normalise_db_url
from examsys.extensions import db
from examsys.models import AuditLog, ExamAttempt, ExamResponse
from examsys.services import attempts, exams
from examsys.services.exams import ExamError

from . import factories as f

BACKENDS = ["sqlite"] + (["postgresql"] if os.environ.get("TEST_DATABASE_URL", "").startswith("postgres") else [])


@pytest.fixture(params=BACKENDS)
def real_app(request, tmp_path):
    schema = None
    if request.param == "sqlite":
        app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'conc.sqlite'}",
                         INSTANCE_DIR=tmp_path, MEDIA_DIR=tmp_path / "media")
    else:
        url = _normalise_db_url(os.environ["TEST_DATABASE_URL"])
        schema = "conc_" + uuid.uuid4().hex[:10]
        admin = create_engine(url)
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=url, INSTANCE_DIR=tmp_path, MEDIA_DIR=tmp_path / "media",
                         SQLALCHEMY_ENGINE_OPTIONS={"connect_args": {"options": f"-csearch_path={schema}"},
                                                    "pool_size": 12, "max_overflow": 4})
    with app.app_context():
        db.create_all()
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
    clock.set_clock(None)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    if schema:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def run_threads(n, target):
    errors = []

    def wrap(k):
        try:
            target(k)
        except Exception as e:  # noqa: BLE001 - collected and asserted
            errors.append(repr(e))

    threads = [threading.Thread(target=wrap, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return errors


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

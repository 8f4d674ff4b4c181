"""Item statistics under real concurrency: threads with their own app context, connection and commits, on a
SQLite file (WAL) and — when TEST_DATABASE_URL points at PostgreSQL — on a throwaway schema there (the same
set-up as test_delivery_concurrency; the per-test rolled-back transaction of conftest cannot be shared by
threads).

Checks:
* several refreshes of one sitting at once (two gunicorn workers, a worker and the sweeper, post-finalisation
  threads) raise nothing, leave one score row per submitted attempt and one current run per form, and store
  exactly what a single refresh stores; only one of them does the work, the others find it done;
* the same for forced rebuilds, and after the marking state changed (rows rebuilt while others rebuild them);
* sittings of two stations on one paper refreshed at once: one current stations run per form (not none, not
  two) equal to a single analysis, flags raised once, pooled statistics over both sittings;
* SQLite: a refresh waiting for another one's write lock longer than the connection's busy timeout waits
  (no "database is locked");
* the marking hook called for every attempt of a burst (one after the other, or from several threads)
  analyses the sitting once, when its last attempt is marked, and the result is fresh.
"""
from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import delete, event, func, select

from examsys.extensions import db
from examsys.models import (AnalysisRun, AttemptMarking, AuditLog, ExamAttempt, ExamSession, Item, ItemFlag, ItemStat,
                            PaperForm, Station, StatRow)
from examsys.models.exams import SUBMITTED
from examsys.services import audit
from examsys.services import marking as marking_service
from examsys.services import stats as stats_service
from examsys.services import stats_loop

from .concurrency import BACKENDS, run_threads, threaded_app
from .test_stats_helpers import simulated_sitting

N_THREADS = 6


@pytest.fixture(params=BACKENDS)
def real_app(request, tmp_path):
    with threaded_app(request.param, tmp_path, "stconc") as app:
        yield app


def run_together(n, target, timeout=180):
    """Run ``target(k)`` in ``n`` threads released at once; return the exceptions (repr) they raised."""
    return run_threads(n, target, timeout=timeout)


# ---------------------------------------------------------------------------------------------------------
# the stored statistics, without ids and times
# ---------------------------------------------------------------------------------------------------------
_STAT_COLS = [c.name for c in ItemStat.__table__.columns if c.name not in ("id", "run_id")]


def _state() -> dict:
    """Everything the statistics store, keyed so that two equal analyses compare equal."""
    db.session.expire_all()
    rows = sorted((r.attempt_id, r.session_id, r.form_id, r.station_id, bytes(r.masks), bytes(r.scores), r.complete,
                   r.stamp) for r in db.session.execute(select(StatRow)).scalars())
    runs = {}
    for r in db.session.execute(select(AnalysisRun).order_by(AnalysisRun.id)).scalars():
        key = (r.scope, r.session_id, r.form_id)
        assert key not in runs, f"two runs of {key}"
        items = [tuple(getattr(st, c) for c in _STAT_COLS) for st in db.session.execute(
            select(ItemStat).where(ItemStat.run_id == r.id).order_by(ItemStat.position)).scalars()]
        runs[key] = {"current": r.is_current, "session_ids": sorted(r.session_ids), "n": r.n_candidates,
                     "n_items": r.n_items, "pending": r.n_pending, "test": r.test, "conventions": r.conventions,
                     "thresholds": r.thresholds, "irt": r.irt_model, "stamp": r.stamp, "notes": r.notes,
                     "items": items}
    flags = sorted((fl.item_version_id, fl.code, fl.status, fl.n)
                   for fl in db.session.execute(select(ItemFlag)).scalars())
    items = sorted((i.id, i.status, i.stat_n, i.stat_p, i.stat_r_rest)
                   for i in db.session.execute(select(Item)).scalars())
    audits = sorted(db.session.execute(select(AuditLog.action, AuditLog.object_id, func.count(AuditLog.id))
                                       .where(AuditLog.action.in_(("item.flag", "item.status")))
                                       .group_by(AuditLog.action, AuditLog.object_id)).all())
    return {"rows": rows, "runs": runs, "flags": flags, "items": items, "audits": [tuple(a) for a in audits]}


def _check_invariants(state: dict, session_ids) -> None:
    n_sub = db.session.execute(select(func.count(ExamAttempt.id)).where(
        ExamAttempt.session_id.in_(list(session_ids)), ExamAttempt.status == SUBMITTED)).scalar()
    assert len(state["rows"]) == n_sub  # one score row per submitted attempt (none missing, none twice)
    assert len({r[0] for r in state["rows"]}) == n_sub
    for sid in session_ids:
        forms = {r[2] for r in state["rows"] if r[1] == sid}
        sitting = {k[2] for k in state["runs"] if k[0] == "sitting" and k[1] == sid}
        assert sitting == forms  # one run per form of the sitting
    assert all(run["current"] for run in state["runs"].values())
    # each flag raised (and audited) once
    assert sum(a[2] for a in state["audits"] if a[0] == "item.flag") == len(state["flags"])
    assert audit.verify_chain() == (True, None)


def _single_refresh_state(session_id: int) -> dict:
    """The reference: one refresh alone, rebuilding every row and recomputing the analysis."""
    res = stats_service.refresh_session(session_id, trigger="reference", force=True, rebuild=True)
    assert res["changed"]
    return _state()


# ---------------------------------------------------------------------------------------------------------
def test_concurrent_refreshes_of_one_sitting_store_what_one_refresh_stores(real_app):
    app = real_app
    with app.app_context():
        s = simulated_sitting(n=150, miskey=3, labels=("A", "B"))
        sid = s["session_id"]
    results = []
    lock = threading.Lock()

    def refresher(**kw):
        def target(k):
            with app.app_context():
                if k % 3 == 2 and not kw:  # the sweeper / CLI path
                    out = stats_service.refresh_due(trigger=f"due{k}", session_ids=[sid])
                    changed = out[0][1]
                else:
                    changed = stats_service.refresh_session(sid, trigger=f"t{k}", **kw)["changed"]
            with lock:
                results.append(changed)
        return target

    # 1. the first analysis of a finished sitting: score rows inserted by every thread at once
    assert run_together(N_THREADS, refresher()) == []
    assert results.count(True) == 1  # one did the work; the others waited for it and found it done
    with app.app_context():
        got = _state()
        _check_invariants(got, [sid])
        assert any(fl[1] == "possible_miskey" for fl in got["flags"])
        assert got == _single_refresh_state(sid)

    # 2. the marking state changes (five attempts lose their machine marks): their rows are rebuilt
    with app.app_context():
        gone = sorted(s["attempts"].values())[:5]
        db.session.execute(delete(AttemptMarking).where(AttemptMarking.attempt_id.in_(gone)))
        db.session.commit()
    results.clear()
    assert run_together(N_THREADS, refresher()) == []
    assert results.count(True) == 1
    with app.app_context():
        got = _state()
        _check_invariants(got, [sid])
        assert sum(not r[6] for r in got["rows"]) == 5
        assert sum(run["pending"] for run in got["runs"].values()) == 5
        assert got == _single_refresh_state(sid)

    # 3. forced rebuilds at once (Recompute now twice, and the CLI's --force): every one rebuilds every row
    with app.app_context():
        marking_service.mark_attempts(gone)
    results.clear()
    assert run_together(N_THREADS, refresher(force=True, rebuild=True)) == []
    assert results.count(True) == N_THREADS
    with app.app_context():
        got = _state()
        _check_invariants(got, [sid])
        assert all(r[6] for r in got["rows"])
        assert got == _single_refresh_state(sid)
        assert stats_service.is_fresh(sid)


@pytest.mark.parametrize("n_threads", [2, N_THREADS])
def test_concurrent_refreshes_of_two_stations_on_one_paper(real_app, n_threads):
    """One refresh per sitting (each must see the other's committed rows, or no stations run is stored at
    all), and several per sitting."""
    app = real_app
    with app.app_context():
        a = simulated_sitting(n=120, miskey=3, seed=11)
        st2 = Station(code="F-002", name="第二鉴定站", region="测试")
        db.session.add(st2)
        db.session.commit()
        b = simulated_sitting(n=80, miskey=3, seed=12, paper_id=a["paper_id"], station_id=st2.id, prefix="2027")
    sids = [a["session_id"], b["session_id"]]

    def target(k):
        with app.app_context():
            stats_service.refresh_session(sids[k % 2], trigger=f"t{k}")

    assert run_together(n_threads, target) == []
    with app.app_context():
        got = _state()
        _check_invariants(got, sids)
        stations = [k for k in got["runs"] if k[0] == "stations"]
        assert len(stations) == 1  # one current stations run of the form, not one per racing refresh
        run = got["runs"][stations[0]]
        assert run["session_ids"] == sorted(sids) and run["n"] == 200
        # equal to a single analysis of both sittings by station
        form = db.session.get(PaperForm, stations[0][2])
        ref = stats_service.analyse_form(form, sids, groups_by_station=True,
                                         cut_fraction=stats_service._pass_cut_fraction(
                                             db.session.get(ExamSession, sids[0])))
        p_col, rr_col, codes_col = (_STAT_COLS.index(c) for c in ("p", "r_rest", "flag_codes"))
        assert ([(it[p_col], it[rr_col]) for it in run["items"]]
                == [(x["p"], x["r_rest"]) for x in ref["report"]["items"]])
        assert [it[codes_col].split() for it in run["items"]] == [[fl["code"] for fl in x["flags"]]
                                                                 for x in ref["report"]["items"]]
        # the miskeyed version is flagged once; pooled statistics cover both sittings
        assert len([fl for fl in got["flags"] if fl[1] == "possible_miskey"]) == 1
        vids = {it[_STAT_COLS.index("item_version_id")] for it in run["items"]}
        pooled = stats_loop.pooled_for_versions(vids)
        for item in db.session.execute(select(Item).where(Item.current_version_id.in_(vids))).scalars():
            assert item.stat_n == pooled[item.current_version_id]["n"] == 200
            assert item.stat_p == round(pooled[item.current_version_id]["p"], 4)


def test_sqlite_a_refresh_waits_longer_than_the_busy_timeout(real_app, monkeypatch):
    """The second refresh waits for the first one's write lock (here longer than the connection's busy
    timeout, lowered to 0.3 s) instead of failing with "database is locked", then finds the work done."""
    app = real_app
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("SQLite's write lock")
        s = simulated_sitting(n=60, miskey=None)
        sid = s["session_id"]

        def short_busy_timeout(dbapi_connection, _record, _proxy):
            dbapi_connection.execute("PRAGMA busy_timeout=300")

        event.listen(db.engine, "checkout", short_busy_timeout)
    holding = threading.Event()
    original = stats_service.analyse_form

    def slow_analysis(*args, **kw):
        if threading.current_thread().name == "first":
            holding.set()
            time.sleep(1.5)  # inside the first refresh's write transaction
        return original(*args, **kw)

    monkeypatch.setattr(stats_service, "analyse_form", slow_analysis)
    out, errors = {}, []

    def refresh(name):
        if name == "second":
            assert holding.wait(30)
        try:
            with app.app_context():
                out[name] = stats_service.refresh_session(sid, trigger=name)["changed"]
        except Exception as e:  # noqa: BLE001 - asserted below
            errors.append(repr(e))

    threads = [threading.Thread(target=refresh, args=(n,), name=n) for n in ("first", "second")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    with app.app_context():
        event.remove(db.engine, "checkout", short_busy_timeout)
    assert errors == []
    assert out == {"first": True, "second": False}


# ---------------------------------------------------------------------------------------------------------
# the marking hook in a burst
# ---------------------------------------------------------------------------------------------------------
def _unmarked_sitting(n: int) -> dict:
    """A finished sitting whose attempts are submitted but not machine-marked yet (the moment after a burst
    of hand-ins or the sweeper's time-out, before post-processing)."""
    s = simulated_sitting(n=n, miskey=None)
    db.session.execute(delete(AttemptMarking).where(AttemptMarking.session_id == s["session_id"]))
    db.session.commit()
    return s


def _counting_refreshes(monkeypatch) -> list:
    calls = []
    lock = threading.Lock()
    original = stats_service.refresh_session

    def counted(session_id, **kw):
        try:
            res = original(session_id, **kw)
        except Exception as e:  # the hook swallows (and logs) errors: record them for the test
            with lock:
                calls.append(repr(e))
            raise
        with lock:
            calls.append(res["changed"])
        return res

    monkeypatch.setattr(stats_service, "refresh_session", counted)
    return calls


def test_the_marking_hook_analyses_a_burst_once(real_app, monkeypatch):
    app = real_app
    with app.app_context():
        s = _unmarked_sitting(80)
        sid = s["session_id"]
    calls = _counting_refreshes(monkeypatch)
    with app.app_context():
        for aid in sorted(s["attempts"].values()):
            marking_service.mark_attempts([aid])
            stats_loop.on_attempt_finalised(aid)
        assert calls == [True]  # not once per attempt, and not a stale early analysis kept by a debounce
        runs = stats_service.current_runs(sid)
        assert len(runs) == 1 and runs[0].n_candidates == 80 and runs[0].trigger == "marking"
        assert stats_service.is_fresh(sid)


def test_the_marking_hook_from_several_threads(real_app, monkeypatch):
    """Post-finalisation in batches by several threads: each marks its attempts (one at a time here: marking
    concurrency is not what this test is about) and calls the hook; the sitting ends analysed once, fresh."""
    app = real_app
    with app.app_context():
        s = _unmarked_sitting(80)
        sid = s["session_id"]
    aids = sorted(s["attempts"].values())
    calls = _counting_refreshes(monkeypatch)
    marking_lock = threading.Lock()

    def worker(k):
        with app.app_context():
            for aid in aids[k::4]:
                with marking_lock:
                    marking_service.mark_attempts([aid])
                stats_loop.on_attempt_finalised(aid)

    assert run_together(4, worker) == []
    assert all(c in (True, False) for c in calls), calls  # no refresh failed
    assert calls.count(True) == 1 and len(calls) <= 4
    with app.app_context():
        runs = stats_service.current_runs(sid)
        assert len(runs) == 1 and runs[0].n_candidates == 80
        assert stats_service.is_fresh(sid)
        _check_invariants(_state(), [sid])

"""Benchmark: item statistics of a sitting from the database (target, issue 6: the full classical report at
100,000 candidates × 200 items in ≤ 10 s from the database).

Run:  .venv/bin/python bench/analysis_db.py [--n 100000] [--j 200] [--raw-n 5000] [--seed S] [--keep]

Builds a synthetic sitting in a SQLite file (bulk inserts through SQLAlchemy Core; not timed): a station, a
paper form of J items (70 % single choice with 4 options, 15 % multiple answer, 15 % true/false; one planted
mis-key), N candidates with submitted attempts, their machine marks (``attempt_marking`` with per-item scores,
as the marking service stores them) and the score rows the statistics pipeline reads (``stat_row``: one byte
per item for the chosen letters, float32 scores). Then it times, with the load average:

* ``examsys.services.stats.refresh_session`` end to end (force): the staleness check over the sitting's
  attempts and marks, the row sync (nothing to rebuild), loading the N score rows, building the score matrix,
  ``scoring.report.analyze`` (classical statistics, options, reliability, pass mark, flags), the option-by-score-
  group tables and curves, storing the run and its J item rows, pooling and raising flags, one commit;
* the same split into load (``load_rows``) and analysis (``analyse_form``);
* the no-change path (a page view when nothing was marked since).

Then, with ``--raw-n`` candidates (default 5,000), the path from the raw delivered responses: N × J
``exam_response`` rows are machine-marked by the marking service (not timed here, see bench/marking.py) and
``refresh_session`` builds the score rows from the responses and marks, then analyses (timed).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import shutil
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

T0 = _dt.datetime(2026, 6, 1, 1, 0, tzinfo=_dt.timezone.utc)


def load_avg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def layout(j: int) -> list[dict]:
    n_single = round(j * 0.70)
    n_multi = round(j * 0.15)
    out = []
    for k in range(j):
        if k < n_single:
            out.append({"type": "single_choice", "points": 1.0, "key": "ABCD"[k % 4], "options": list("甲乙丙丁")})
        elif k < n_single + n_multi:
            out.append({"type": "multiple_choice", "points": 2.0, "key": "ACD", "options": list("甲乙丙丁")})
        else:
            out.append({"type": "true_false", "points": 1.0, "key": bool(k % 2)})
    return out


def simulate(n: int, items: list[dict], seed: int, miskey: int = 5):
    """Masks (N, J) uint8 and scores (N, J) float32 of a 2PL-like sitting; item ``miskey`` is keyed wrong."""
    rng = np.random.default_rng(seed)
    j = len(items)
    theta = rng.normal(size=n).astype(np.float32)
    a = rng.uniform(0.8, 2.0, size=j).astype(np.float32)
    b = rng.normal(0, 0.8, size=j).astype(np.float32)
    masks = np.zeros((n, j), dtype=np.uint8)
    scores = np.zeros((n, j), dtype=np.float32)
    for k, it in enumerate(items):
        right = rng.random(n, dtype=np.float32) < 1 / (1 + np.exp(-a[k] * (theta - b[k])))
        omit = rng.random(n, dtype=np.float32) < 0.02
        if it["type"] == "single_choice":
            key = 1 << "ABCD".index(it["key"])
            true_key = key if k != miskey else (1 << (("ABCD".index(it["key"]) + 1) % 4))
            others = np.array([1 << t for t in range(4) if (1 << t) != true_key], dtype=np.uint8)
            col = np.where(right, true_key, others[rng.integers(0, 3, n)]).astype(np.uint8)
            col[omit] = 0
            masks[:, k] = col
            scores[:, k] = np.where(col == key, it["points"], 0.0)
        elif it["type"] == "multiple_choice":
            key = 0b1101  # ACD
            wrong = np.array([0b0101, 0b1001, 0b0001, 0b1111, 0b0010, 0b1100], dtype=np.uint8)
            col = np.where(right, key, wrong[rng.integers(0, wrong.size, n)]).astype(np.uint8)
            col[omit] = 0
            masks[:, k] = col
            scores[:, k] = np.where(col == key, it["points"], 0.0)
        else:
            key = 1 if it["key"] else 2
            col = np.where(right, key, 3 - key).astype(np.uint8)
            col[omit] = 0
            masks[:, k] = col
            scores[:, k] = np.where(col == key, it["points"], 0.0)
    return masks, scores


def build(app, n: int, items: list[dict], seed: int, *, raw: bool):
    """Insert the sitting (Core bulk inserts). ``raw``: exam_response rows (marked later by the marking service)
    instead of marks and score rows. Returns the session id."""
    from sqlalchemy import insert, select

    from examsys.extensions import db
    from examsys.models import (AttemptMarking, ExamAttempt, ExamCandidate, ExamResponse, ExamSession, Item,
                                ItemVersion, Occupation, Paper, PaperForm, PaperItem, Station, StatRow)
    from examsys.services import stats as stats_service
    from scoring.sitting import mask_label

    masks, scores = simulate(n, items, seed)
    st = Station(code=f"B-{seed}", name="基准站", region="")
    occ = db.session.execute(select(Occupation)).scalars().first()
    if occ is None:
        occ = Occupation(code="6-18-01-01", name="车工", work_type="数控车工", grades=[4])
    db.session.add_all([st, occ])
    db.session.flush()
    paper = Paper(occupation_id=occ.id, grade=4, part="theory", name="基准试卷", blueprint_hash="", duration_min=120,
                  total_points=sum(it["points"] for it in items), created_at=T0)
    db.session.add(paper)
    db.session.flush()
    form = PaperForm(paper_id=paper.id, label="A")
    db.session.add(form)
    db.session.flush()
    pis = []
    for k, it in enumerate(items, start=1):
        item = Item(occupation_id=occ.id, status="approved", type=it["type"], created_at=T0, updated_at=T0,
                    points=it["points"])
        db.session.add(item)
        db.session.flush()
        content = {key: v for key, v in it.items() if key not in ("type", "points")}
        iv = ItemVersion(item_id=item.id, number=1, type=it["type"], kp_code="A-A-001", grades=[4],
                         points=it["points"], stem=f"第{k}题", content=content, images=[], created_at=T0)
        db.session.add(iv)
        db.session.flush()
        item.current_version_id = iv.id
        pi = PaperItem(form_id=form.id, position=k, section=it["type"], item_version_id=iv.id, points=it["points"])
        db.session.add(pi)
        db.session.flush()
        pis.append((pi.id, iv.id))
    sess = ExamSession(station_id=st.id, occupation_id=occ.id, grade=4, paper_id=paper.id, name="基准场次",
                       form_labels=["A"], starts_at=T0, duration_min=120, seed=seed, status="finished",
                       started_at=T0, finished_at=T0, created_at=T0, updated_at=T0)
    db.session.add(sess)
    db.session.flush()
    chunk = 20_000
    base = db.session.execute(select(db.func.count(ExamCandidate.id))).scalar() or 0
    for s0 in range(0, n, chunk):
        db.session.execute(insert(ExamCandidate), [
            {"session_id": sess.id, "ticket_no": f"B{seed}{base + i:09d}", "name": f"考生{i}", "id_cipher": "-",
             "id_hmac": f"{seed}{base + i:060d}", "id_masked": "110101********1234", "seat": str(i), "form_label": "A",
             "row_number": i, "created_at": T0} for i in range(s0, min(n, s0 + chunk))])
    cids = list(db.session.execute(select(ExamCandidate.id).where(ExamCandidate.session_id == sess.id)
                                   .order_by(ExamCandidate.id)).scalars())
    for s0 in range(0, n, chunk):
        db.session.execute(insert(ExamAttempt), [
            {"session_id": sess.id, "candidate_id": c, "paper_form_id": form.id, "seed": i,
             "layout": {"v": 1, "sections": []}, "status": "submitted", "entered_at": T0, "submitted_at": T0,
             "finalised_at": T0, "extra_seconds": 0, "paused_seconds": 0}
            for i, c in enumerate(cids[s0:s0 + chunk], start=s0)])
    aids = list(db.session.execute(select(ExamAttempt.id).where(ExamAttempt.session_id == sess.id)
                                   .order_by(ExamAttempt.id)).scalars())
    kinds = ["single" if it["type"] == "single_choice" else ("multiple" if it["type"] == "multiple_choice"
                                                               else "true_false") for it in items]
    if raw:
        labels = [{m: mask_label(m, kd) for m in range(256)} for kd in kinds]
        rows = []
        for i, aid in enumerate(aids):
            for jj, (pi, iv) in enumerate(pis):
                m = int(masks[i, jj])
                if m:
                    lab = labels[jj][m]
                    val = (lab == "T") if kinds[jj] == "true_false" else lab
                    rows.append({"attempt_id": aid, "paper_item_id": pi, "item_version_id": iv, "answer": val,
                                 "flagged": False, "seq": 1, "saved_at": T0})
            if len(rows) >= 50_000:
                db.session.execute(insert(ExamResponse), rows)
                rows = []
        if rows:
            db.session.execute(insert(ExamResponse), rows)
        db.session.commit()
        return sess.id
    keys = [str(pi) for pi, _iv in pis]
    totals = scores.sum(axis=1, dtype=np.float64)
    for s0 in range(0, n, chunk):
        sl = range(s0, min(n, s0 + chunk))
        db.session.execute(insert(AttemptMarking), [
            {"attempt_id": aids[i], "session_id": sess.id, "auto_score": float(totals[i]),
             "auto_max": float(sum(it["points"] for it in items)),
             "item_scores": dict(zip(keys, scores[i].tolist())), "rule": "all_or_nothing", "marked_at": T0}
            for i in sl])
        db.session.execute(insert(StatRow), [
            {"attempt_id": aids[i], "session_id": sess.id, "form_id": form.id, "station_id": st.id,
             "masks": masks[i].tobytes(), "scores": scores[i].astype("<f4").tobytes(), "complete": True,
             "stamp": stats_service.row_stamp(True, 0, None), "built_at": T0}
            for i in sl])
    db.session.commit()
    return sess.id


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--j", type=int, default=200)
    ap.add_argument("--raw-n", type=int, default=5_000, help="candidates for the raw-response path (0 = skip)")
    ap.add_argument("--seed", type=int, default=6)
    ap.add_argument("--keep", action="store_true", help="keep the SQLite file")
    ap.add_argument("--db", help="use (and keep) this SQLite file; an existing one is reused without building")
    args = ap.parse_args(argv)

    from examsys import clock, create_app
    from examsys.config import TestConfig
    from examsys.extensions import db
    from examsys.services import marking as marking_service
    from examsys.services import stats as stats_service

    workdir = tempfile.mkdtemp(prefix="examsys-bench-stats-")
    path = os.path.abspath(args.db) if args.db else os.path.join(workdir, "bench.sqlite")
    reuse = bool(args.db) and os.path.exists(path)
    app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=f"sqlite:///{path}", INSTANCE_DIR=workdir,
                     STATS_AUTO_REFRESH=False)
    clock.set_clock(lambda: T0 + _dt.timedelta(hours=3))
    items = layout(args.j)
    print(f"== item statistics from the database (SQLite file), {os.cpu_count()} CPU(s), load {load_avg()}")
    try:
        with app.app_context():
            if reuse:
                from examsys.models import ExamSession
                sid = db.session.execute(db.select(ExamSession.id).order_by(ExamSession.id)).scalars().first()
                from examsys.models import StatRow
                args.n = db.session.execute(db.select(db.func.count(StatRow.attempt_id)).where(
                    StatRow.session_id == sid)).scalar()
                print(f"(reusing {path}: session {sid}, {args.n:,} score rows)")
            else:
                db.create_all()
                t = time.perf_counter()
                sid = build(app, args.n, items, args.seed, raw=False)
                size = os.path.getsize(path) / 1e6
                print(f"(setup: {args.n:,} attempts × {args.j} items: marks and score rows inserted in "
                      f"{time.perf_counter() - t:.1f} s, database {size:.0f} MB; not timed)")
            db.session.remove()
            t, c = time.perf_counter(), time.process_time()
            res = stats_service.refresh_session(sid, trigger="bench", force=True)
            wall, cpu = time.perf_counter() - t, time.process_time() - c
            run = res["runs"][0]
            st = {x.position: x for x, _i, _v in stats_service.item_rows(run)}
            flagged = sorted(p for p, x in st.items() if "possible_miskey" in (x.flag_codes or ""))
            print(f"refresh_session, {args.n:,} × {args.j} (end to end, one commit): {wall:.2f} s wall, "
                  f"{cpu:.2f} s CPU  [target ≤ 10 s]  alpha = {run.test['alpha']:.4f}, "
                  f"mis-key flagged at position(s) {flagged}, {res['loop']['raised']} flag(s) to review")
            db.session.remove()
            from examsys.models import PaperForm
            form = db.session.get(PaperForm, run.form_id)
            t = time.perf_counter()
            data = stats_service.load_rows(form.id, [sid])
            t_load = time.perf_counter() - t
            t = time.perf_counter()
            stats_service.analyse_form(form, [sid], data=data)
            t_an = time.perf_counter() - t
            print(f"  of which: load {args.n:,} score rows {t_load:.2f} s; matrix + analyze + curves {t_an:.2f} s")
            db.session.remove()
            t = time.perf_counter()
            again = stats_service.refresh_session(sid, trigger="bench")
            print(f"no-change check (a page view, nothing marked since): {time.perf_counter() - t:.3f} s "
                  f"(changed={again['changed']})")
            if args.raw_n and not reuse:
                t = time.perf_counter()
                rid = build(app, args.raw_n, items, args.seed + 1, raw=True)
                t_build = time.perf_counter() - t
                t = time.perf_counter()
                marking_service.mark_session(rid)
                t_mark = time.perf_counter() - t
                print(f"(setup: {args.raw_n:,} × {args.j} raw responses inserted in {t_build:.1f} s, machine-marked "
                      f"by the marking service in {t_mark:.1f} s; not timed)")
                db.session.remove()
                t, c = time.perf_counter(), time.process_time()
                res = stats_service.refresh_session(rid, trigger="bench")
                wall, cpu = time.perf_counter() - t, time.process_time() - c
                print(f"refresh_session from raw responses, {args.raw_n:,} × {args.j} "
                      f"({res['rows']['built']:,} score rows built from {args.raw_n * args.j:,} cells): "
                      f"{wall:.2f} s wall, {cpu:.2f} s CPU "
                      f"(≈ {args.raw_n * args.j / wall / 1e6:.2f} M responses/s)")
        print(f"load average after: {load_avg()}")
    finally:
        if args.keep or args.db:
            print(f"database kept: {path}")
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

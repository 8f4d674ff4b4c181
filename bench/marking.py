"""Benchmark: auto-marking a sitting of 10,000 attempts × 100 items, and the results export of 10,000 candidates.

Run:  .venv/bin/python bench/marking.py [--attempts N] [--items J] [--seed S] [--repeat R] [--no-db]

Paper: 60 single choice, 15 multiple choice (partial-credit rule), 15 true/false, 10 fill blank (numeric with a
tolerance and a unit) — scaled to ``--items``. Responses are drawn at random from realistic answer pools (right,
wrong, subsets, empty, full-width, with and without the unit); every form of an answer appears many times.

Prints the wall time of
* ``question_bank.sitting_marking.mark_sitting`` on the N × J matrix (the vectorised marker; best of
  ``--repeat``) — target (issue 5): ≤ 2 s for 10,000 × 100;
* the one-response marker on a 500-attempt sample, extrapolated, for comparison;
* with the database (SQLite file, unless ``--no-db``): ``examsys.services.marking.mark_session`` end to end — load
  N × J responses, mark, store N ``attempt_marking`` rows and refresh N draft results, one commit;
  then ``results.publish`` and ``results.export_xlsx`` of the N published results (openpyxl write-only) — target:
  export ≤ 10 s for 10,000 candidates.
The machine is shared: the load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from question_bank.marking import mark_response  # noqa: E402
from question_bank.sitting_marking import mark_sitting  # noqa: E402

POOLS = {
    "single_choice": ["A", "B", "C", "D", None, "B", "B"],
    "multiple_choice": ["ACD", "AC", "A", "CD", "ABCD", "B", None, "ACD", "DCA"],
    "true_false": [True, False, None, True],
    "fill_blank": ["12.5", "12.5mm", "１２．５ ｍｍ", "12.46", "12.6", "13", "", None, "12.55 mm", "abc"],
}


def make_items(j: int) -> list[dict]:
    counts = {"single_choice": round(j * 0.60), "multiple_choice": round(j * 0.15), "true_false": round(j * 0.15)}
    counts["fill_blank"] = j - sum(counts.values())
    items = []
    for t, n in counts.items():
        for k in range(n):
            if t == "single_choice":
                items.append({"type": t, "points": 1.0, "options": list("甲乙丙丁"), "key": "ABCD"[k % 4]})
            elif t == "multiple_choice":
                items.append({"type": t, "points": 2.0, "options": list("甲乙丙丁"), "key": "ACD"})
            elif t == "true_false":
                items.append({"type": t, "points": 1.0, "key": bool(k % 2)})
            else:
                items.append({"type": t, "points": 2.0, "answers": ["12.5"], "tolerance": 0.05, "unit": "mm"})
    return items


def make_responses(items, n: int, rng) -> np.ndarray:
    mat = np.empty((n, len(items)), dtype=object)
    for j, it in enumerate(items):
        pool = np.empty(len(POOLS[it["type"]]), dtype=object)
        pool[:] = POOLS[it["type"]]
        mat[:, j] = pool[rng.integers(0, len(pool), n)]
    return mat


def best(fn, repeat: int) -> tuple[float, object]:
    out, t_best = None, float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        t_best = min(t_best, time.perf_counter() - t)
    return t_best, out


def bench_pure(items, mat, repeat: int) -> None:
    n, j = mat.shape
    t, res = best(lambda: mark_sitting(items, mat, rule="partial"), repeat)
    print(f"mark_sitting (vectorised)   {n:>6} x {j:<4} {t:7.3f} s   (target <= 2 s)   mean total "
          f"{res.totals.mean():.2f} / {res.max_auto:g}")
    k = min(500, n)
    t0 = time.perf_counter()
    slow = np.array([[mark_response(it, mat[i, jj], rule="partial") for jj, it in enumerate(items)] for i in range(k)])
    t1 = time.perf_counter() - t0
    assert np.array_equal(slow, res.scores[:k]), "vectorised and one-response markers disagree"
    print(f"mark_response loop (sample) {k:>6} x {j:<4} {t1:7.3f} s   -> {t1 * n / k:7.2f} s extrapolated to {n} "
          f"(same scores: yes)")


def bench_db(items, mat, workdir: str) -> None:
    from sqlalchemy import insert

    from examsys import clock, create_app
    from examsys.config import TestConfig
    from examsys.extensions import db
    from examsys.models import (ExamAttempt, ExamCandidate, ExamResponse, ExamSession, Item, ItemVersion,
                                Occupation, Paper, PaperForm, PaperItem, Station, User)
    from examsys.services import marking as marking_service
    from examsys.services import results as results_service

    n, j = mat.shape
    path = os.path.join(workdir, "bench.sqlite")
    app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=f"sqlite:///{path}", INSTANCE_DIR=workdir)
    t0 = _dt.datetime(2026, 6, 1, 1, 0, tzinfo=_dt.timezone.utc)
    clock.set_clock(lambda: t0)
    with app.app_context():
        db.create_all()
        t = time.perf_counter()
        st = Station(code="B-001", name="基准站", region="")
        occ = Occupation(code="6-18-01-01", name="车工", work_type="数控车工", grades=[4])
        db.session.add_all([st, occ])
        db.session.flush()
        admin = User(username="bench-admin", display_name="bench", password_hash="x", role="admin", created_at=t0)
        db.session.add(admin)
        paper = Paper(occupation_id=occ.id, grade=4, part="theory", name="基准试卷", blueprint_hash="",
                      duration_min=120, total_points=sum(it["points"] for it in items),
                      multiple_choice_rule="partial", created_at=t0)
        db.session.add(paper)
        db.session.flush()
        form = PaperForm(paper_id=paper.id, label="A")
        db.session.add(form)
        db.session.flush()
        pis = []
        for k, it in enumerate(items, start=1):
            item = Item(occupation_id=occ.id, status="approved", type=it["type"], created_at=t0, updated_at=t0,
                        points=it["points"])
            db.session.add(item)
            db.session.flush()
            content = {key: v for key, v in it.items() if key not in ("type", "points")}
            iv = ItemVersion(item_id=item.id, number=1, type=it["type"], kp_code="A-A-001", grades=[4],
                             points=it["points"], stem=f"第{k}题", content=content, images=[], created_at=t0)
            db.session.add(iv)
            db.session.flush()
            pi = PaperItem(form_id=form.id, position=k, section=it["type"], item_version_id=iv.id, points=it["points"])
            db.session.add(pi)
            db.session.flush()
            pis.append((pi.id, iv.id))
        sess = ExamSession(station_id=st.id, occupation_id=occ.id, grade=4, paper_id=paper.id, name="基准场次",
                           form_labels=["A"], starts_at=t0, duration_min=120, seed=1, status="finished",
                           started_at=t0, finished_at=t0, created_at=t0, updated_at=t0)
        db.session.add(sess)
        db.session.flush()
        db.session.execute(insert(ExamCandidate), [
            {"session_id": sess.id, "ticket_no": f"B{i:09d}", "name": f"考生{i}", "id_cipher": "-", "id_hmac": f"{i:064d}",
             "id_masked": "110101********1234", "seat": str(i), "form_label": "A", "row_number": i, "created_at": t0}
            for i in range(n)])
        cids = [c for (c,) in db.session.execute(db.select(ExamCandidate.id).order_by(ExamCandidate.id))]
        db.session.execute(insert(ExamAttempt), [
            {"session_id": sess.id, "candidate_id": c, "paper_form_id": form.id, "seed": i, "layout": {"v": 1, "sections": []},
             "status": "submitted", "entered_at": t0, "submitted_at": t0, "finalised_at": t0, "extra_seconds": 0,
             "paused_seconds": 0} for i, c in enumerate(cids)])
        aids = [a for (a,) in db.session.execute(db.select(ExamAttempt.id).order_by(ExamAttempt.id))]
        rows = []
        for i, aid in enumerate(aids):
            for jj, (pi, iv) in enumerate(pis):
                v = mat[i, jj]
                if v is not None:
                    rows.append({"attempt_id": aid, "paper_item_id": pi, "item_version_id": iv, "answer": v,
                                 "flagged": False, "seq": 1, "saved_at": t0})
            if len(rows) >= 50_000:
                db.session.execute(insert(ExamResponse), rows)
                rows = []
        if rows:
            db.session.execute(insert(ExamResponse), rows)
        db.session.commit()
        n_resp = db.session.execute(db.select(db.func.count(ExamResponse.id))).scalar_one()
        print(f"(setup: {n} attempts, {n_resp:,} stored responses in {time.perf_counter() - t:.1f} s; not timed)")

        t = time.perf_counter()
        out = marking_service.mark_session(sess.id)
        t_mark = time.perf_counter() - t
        print(f"mark_session (DB, SQLite)   {n:>6} x {j:<4} {t_mark:7.3f} s   load + mark + store {out['marked']} "
              f"attempt_marking rows + refresh {n} results, one commit")
        db.session.expire_all()
        t = time.perf_counter()
        results_service.publish(db.session.get(ExamSession, sess.id), db.session.get(User, admin.id))
        print(f"results.publish             {n:>6}        {time.perf_counter() - t:7.3f} s")
        t = time.perf_counter()
        data = results_service.export_xlsx(db.session.get(User, admin.id), session_id=sess.id)
        t_exp = time.perf_counter() - t
        print(f"results.export_xlsx         {n:>6} rows  {t_exp:7.3f} s   (target <= 10 s), {len(data) / 1e6:.1f} MB")
        db.session.remove()
        db.engine.dispose()
    clock.set_clock(None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--attempts", type=int, default=10_000)
    ap.add_argument("--items", type=int, default=100)
    ap.add_argument("--seed", type=int, default=20260601)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-db", action="store_true", help="only the pure marker")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    items = make_items(args.items)
    mat = make_responses(items, args.attempts, rng)
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    bench_pure(items, mat, args.repeat)
    if not args.no_db:
        with tempfile.TemporaryDirectory() as d:
            bench_db(items, mat, d)


if __name__ == "__main__":
    main()

"""Benchmark: ``examsys backup`` and ``examsys restore`` of a database with 1,000 sittings of 100 candidates.

Run:  .venv/bin/python bench/backup.py [--backend sqlite|postgresql|both] [--sittings N] [--candidates M]
                                       [--responses R] [--items J] [--keep]

Builds, with bulk Core inserts (``conn.execute(insert(table), rows)`` in chunks), a database holding N exam
sessions (sittings) of M candidates each: per candidate an ExamCandidate (encrypted ID number), an
ExamAttempt with its seeded layout (J items on the form), R acknowledged answers, 3 attempt events (login,
entered, finalised), an AttemptMarking row and a CandidateResult row; plus 10 papers of 2 forms × J items
(item versions with their keys) and 20 images in MEDIA_DIR. SQLite goes to a file in a temporary directory,
PostgreSQL to scratch databases ``examsys_bench_backup`` / ``examsys_bench_restore`` on ``BENCH_PG_URL``
(default: the test server, role examsys) that are dropped at the end.

Then times ``create_backup`` (the archive) and ``restore_backup`` into a fresh, empty database and media
directory (a new machine), checks the row counts of every table, and prints sizes and times.
Target (issue 7): backup ≤ 60 s and restore ≤ 60 s each way (a missed target is reported; the exit status
stays 0). Without a reachable PostgreSQL only SQLite runs. The machine is shared: the load average is printed
with the figures.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from sqlalchemy import create_engine, func, insert, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

PG_URL = os.environ.get("BENCH_PG_URL", "postgresql://examsys:examsys@127.0.0.1:5432/postgres")
T0 = _dt.datetime(2026, 6, 1, 1, 0, tzinfo=_dt.timezone.utc)
TYPES = ("single_choice",) * 10 + ("multiple_choice",) * 6 + ("true_false",) * 8 + ("fill_blank",) * 4 + \
        ("short_answer",) * 2
CHUNK = 20_000


def make_app(url: str, root: Path):
    from examsys import create_app
    from examsys.config import Config
    root.mkdir(parents=True, exist_ok=True)
    return create_app(Config, SQLALCHEMY_DATABASE_URI=url, INSTANCE_DIR=root, MEDIA_DIR=root / "media",
                      PII_KEY="bench-pii-key-0123456789abcdef0123456789abcdef", SECRET_KEY="bench",
                      EXAMS_SWEEPER=False)


def pg_admin():
    return create_engine(make_url(PG_URL).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")


def pg_reachable() -> bool:
    try:
        eng = pg_admin()
        with eng.connect() as conn:
            conn.execute(text("SELECT 1"))
        eng.dispose()
        return True
    except Exception:  # noqa: BLE001 - any failure means: no PostgreSQL for this run
        return False


def pg_database(name: str) -> str:
    eng = pg_admin()
    with eng.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    eng.dispose()
    return make_url(PG_URL).set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)


def pg_drop(*names: str) -> None:
    eng = pg_admin()
    with eng.connect() as conn:
        for name in names:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    eng.dispose()


def create_schema(app) -> None:
    from flask_migrate import stamp

    from examsys.extensions import db
    with app.app_context():
        db.create_all()
        stamp()
        db.engine.dispose()


def _bulk(conn, table, rows) -> None:
    for k in range(0, len(rows), CHUNK):
        conn.execute(insert(table), rows[k:k + CHUNK])


def build(app, sittings: int, per: int, n_resp: int, n_items: int) -> dict:
    """Fill the database; returns counts and the seconds it took."""
    from PIL import Image
    import io

    from examsys.extensions import db
    from examsys.models import (AttemptEvent, AttemptMarking, CandidateResult, ExamAttempt, ExamCandidate,
                                ExamResponse, ExamSession, Item, ItemVersion, MediaFile, Occupation, Paper,
                                PaperForm, PaperItem, Station, User)
    from examsys.services import media as media_service, pii
    from question_bank.layout import build_layout

    t0 = time.perf_counter()
    rng = np.random.default_rng(7)
    T = {m: m.__table__ for m in (AttemptEvent, AttemptMarking, CandidateResult, ExamAttempt, ExamCandidate,
                                  ExamResponse, ExamSession, Item, ItemVersion, MediaFile, Occupation, Paper,
                                  PaperForm, PaperItem, Station, User)}
    types = [TYPES[j % len(TYPES)] for j in range(n_items)]
    with app.app_context():
        media = []
        for k in range(20):
            buf = io.BytesIO()
            Image.new("RGB", (64 + k, 48), (k * 11 % 256, 90, 200)).save(buf, format="PNG")
            data = buf.getvalue()
            import hashlib
            sha = hashlib.sha256(data).hexdigest()
            path = media_service.path_for(sha)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            media.append({"sha256": sha, "filename": f"图{k}.png", "mime": "image/png", "size": len(data),
                          "created_by": None, "created_at": T0})
        enc_id = pii.encrypt("110101199001010015")  # one ciphertext reused: encryption is not what is timed
        with db.engine.begin() as conn:
            _bulk(conn, T[MediaFile], media)
            conn.execute(insert(T[Station]).values(id=1, code="B-001", name="基准鉴定站", region="北京"))
            conn.execute(insert(T[Occupation]).values(id=1, code="6-18-01-01", name="车工", work_type="数控车工",
                                                      grades=[4, 3]))
            conn.execute(insert(T[User]).values(id=1, username="bench", display_name="Bench", password_hash="x",
                                                role="admin", is_chief=False, active=True, created_at=T0))
            items, versions, papers, forms, pitems = [], [], [], [], []
            slots_of_form: dict[int, list] = {}
            iid = 0
            for p in range(1, 11):
                papers.append({"id": p, "occupation_id": 1, "grade": 4, "part": "theory", "name": f"基准试卷{p}",
                               "blueprint_hash": "", "solver": "", "duration_min": 90, "total_points": 100.0,
                               "multiple_choice_rule": "all_or_nothing", "created_at": T0})
                for f_i, label in enumerate("AB"):
                    fid = p * 2 - 1 + f_i
                    forms.append({"id": fid, "paper_id": p, "label": label})
                    slots = []
                    for j, t in enumerate(types):
                        iid += 1
                        content = {"single_choice": {"options": ["甲", "乙", "丙", "丁"], "key": "B"},
                                   "multiple_choice": {"options": ["甲", "乙", "丙", "丁"], "key": "AC"},
                                   "true_false": {"key": True},
                                   "fill_blank": {"answers": ["答案"], "tolerance": None, "unit": None},
                                   "short_answer": {"reference_answer": "参考答案" * 10, "marking_points": [
                                       {"text": "要点", "points": 4.0}], "score_step": 0.5}}[t]
                        items.append({"id": iid, "occupation_id": 1, "status": "approved", "created_at": T0,
                                      "updated_at": T0, "type": t, "kp_code": "A-A-001", "grade_mask": 16,
                                      "points": 1.0, "search_text": "", "fingerprint": "", "stat_n": 0,
                                      "exposure_count": 1})
                        versions.append({"id": iid, "item_id": iid, "number": 1, "type": t, "kp_code": "A-A-001",
                                         "grades": [4], "points": 1.0, "source": "", "comment": "",
                                         "stem": f"第{iid}题：车床主轴的作用是什么？请选择正确答案。",
                                         "content": content, "created_at": T0,
                                         "images": [media[iid % 20]["sha256"]] if iid % 7 == 0 else []})
                        pitems.append({"id": iid, "form_id": fid, "position": j + 1, "section": t,
                                       "item_version_id": iid, "points": 1.0})
                        slots.append({"pi": iid, "section": t, "type": t, "iv": iid,
                                      "n_options": 4 if t in ("single_choice", "multiple_choice") else 0})
                    slots_of_form[fid] = slots
            _bulk(conn, T[Item], items)
            _bulk(conn, T[ItemVersion], versions)
            _bulk(conn, T[Paper], papers)
            _bulk(conn, T[PaperForm], forms)
            _bulk(conn, T[PaperItem], pitems)
            if conn.dialect.name == "postgresql":
                for table in ("item", "item_version", "paper", "paper_form", "paper_item", "station", "occupation",
                              "user_account"):
                    conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                      f"(SELECT max(id) FROM {table}))"))
        answers = {"single_choice": "B", "multiple_choice": "AC", "true_false": True, "fill_blank": "答案",
                   "short_answer": "主轴带动工件旋转，" * 5}
        cid = aid = 0
        n = {"sessions": 0, "candidates": 0, "responses": 0, "events": 0}
        for s0 in range(1, sittings + 1, 50):  # 50 sittings per transaction
            sess, cands, atts, resps, evs, marks, results = [], [], [], [], [], [], []
            for s in range(s0, min(s0 + 50, sittings + 1)):
                p = (s - 1) % 10 + 1
                start = T0 + _dt.timedelta(days=s // 5)
                sess.append({"id": s, "station_id": 1, "occupation_id": 1, "grade": 4, "paper_id": p,
                             "name": f"第{s}场", "form_labels": ["A", "B"], "form_assignment": "alternate",
                             "starts_at": start, "duration_min": 90, "late_entry_min": 15, "grace_seconds": 30,
                             "login_opens_min": 30, "auto_start": True, "seed": s, "status": "finished",
                             "started_at": start, "finished_at": start + _dt.timedelta(minutes=90),
                             "created_at": T0, "updated_at": T0})
                for k in range(per):
                    cid += 1
                    aid += 1
                    fid = p * 2 - 1 + (k % 2)
                    ticket = f"{s:05d}{k:04d}"
                    cands.append({"id": cid, "session_id": s, "ticket_no": ticket, "name": f"考生{cid}",
                                  "id_cipher": enc_id, "id_hmac": f"{cid:064x}", "id_masked": "110101********0015",
                                  "seat": f"{k + 1:03d}", "form_label": "AB"[k % 2], "row_number": k + 2,
                                  "created_at": T0})
                    layout = build_layout(slots_of_form[fid], np.random.default_rng(cid))  # each its own
                    entered = start + _dt.timedelta(seconds=int(rng.integers(0, 600)))
                    done = start + _dt.timedelta(minutes=int(rng.integers(40, 90)))
                    atts.append({"id": aid, "session_id": s, "candidate_id": cid, "paper_form_id": fid, "seed": cid,
                                 "layout": layout, "status": "submitted", "confirmed_at": entered,
                                 "entered_at": entered, "deadline": start + _dt.timedelta(minutes=90),
                                 "extra_seconds": 0, "paused_seconds": 0, "last_seen_at": done,
                                 "submitted_at": done, "finalised_at": done, "submit_reason": "candidate",
                                 "final_digest": f"{aid:064x}", "answered_count": n_resp})
                    for j, slot in enumerate(slots_of_form[fid][:n_resp]):
                        resps.append({"attempt_id": aid, "paper_item_id": slot["pi"], "item_version_id": slot["iv"],
                                      "answer": answers[slot["type"]], "flagged": False, "seq": 1000 + j,
                                      "saved_at": entered + _dt.timedelta(seconds=30 * (j + 1))})
                    for kind, at in (("login", entered), ("entered", entered), ("finalised", done)):
                        evs.append({"session_id": s, "attempt_id": aid, "at": at, "kind": kind,
                                    "actor_label": f"candidate:{ticket}", "detail": {"ip": "10.0.0.1"}})
                    marks.append({"attempt_id": aid, "session_id": s, "auto_score": 20.0, "auto_max": 28.0,
                                  "item_scores": {}, "rule": "all_or_nothing", "marked_at": done})
                    results.append({"session_id": s, "candidate_id": cid, "theory_score": 71.5,
                                    "theory_status": "marked", "practical_status": "not_in_session",
                                    "review_status": "not_in_session", "passed": True, "status": "draft",
                                    "version": 1, "computed_at": done})
            with db.engine.begin() as conn:
                _bulk(conn, T[ExamSession], sess)
                _bulk(conn, T[ExamCandidate], cands)
                _bulk(conn, T[ExamAttempt], atts)
                _bulk(conn, T[ExamResponse], resps)
                _bulk(conn, T[AttemptEvent], evs)
                _bulk(conn, T[AttemptMarking], marks)
                _bulk(conn, T[CandidateResult], results)
            n["sessions"] += len(sess)
            n["candidates"] += len(cands)
            n["responses"] += len(resps)
            n["events"] += len(evs)
            print(f"\r  built {n['sessions']}/{sittings} sittings", end="", flush=True)
        print()
        with db.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                for table in ("exam_session", "exam_candidate", "exam_attempt"):
                    conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                      f"(SELECT max(id) FROM {table}))"))
                conn.execute(text("ANALYZE"))
        db.engine.dispose()
    n["seconds"] = time.perf_counter() - t0
    return n


def db_size(app) -> int:
    from examsys.extensions import db
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            path = Path(db.engine.url.database)
            return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
        with db.engine.connect() as conn:
            size = conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
        db.engine.dispose()
        return int(size)


def counts(app) -> dict:
    from sqlalchemy import inspect

    from examsys.extensions import db
    with app.app_context():
        with db.engine.connect() as conn:
            out = {t: conn.execute(select(func.count()).select_from(text(f'"{t}"'))).scalar_one()
                   for t in inspect(conn).get_table_names()}
        db.engine.dispose()
    return out


def mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


def run(backend: str, args, tmp: Path) -> bool:
    from examsys.services import backup

    print(f"== {backend}: {args.sittings} sittings x {args.candidates} candidates, {args.responses} answers each, "
          f"{args.items} items per form")
    names = []
    if backend == "sqlite":
        src_url, dst_url = f"sqlite:///{tmp / 'src' / 'examsys.sqlite'}", f"sqlite:///{tmp / 'dst' / 'examsys.sqlite'}"
    else:
        names = ["examsys_bench_backup", "examsys_bench_restore"]
        src_url, dst_url = pg_database(names[0]), pg_database(names[1])
    try:
        src, dst = make_app(src_url, tmp / "src"), make_app(dst_url, tmp / "dst")
        create_schema(src)
        built = build(src, args.sittings, args.candidates, args.responses, args.items)
        before = counts(src)
        print(f"  database: {sum(before.values()):,} rows ({built['candidates']:,} candidates and attempts, "
              f"{built['responses']:,} answers, {built['events']:,} events), {mb(db_size(src))} "
              f"(built in {built['seconds']:.1f} s)")
        archive = tmp / f"backup-{backend}.tar"
        with src.app_context():
            t = time.perf_counter()
            rep = backup.create_backup(archive)
            t_backup = time.perf_counter() - t
        print(f"  backup:  {t_backup:6.1f} s  -> {archive.name} {mb(rep.size)} ({rep.media_files} media files)")
        with dst.app_context():
            t = time.perf_counter()
            backup.restore_backup(archive)
            t_restore = time.perf_counter() - t
        print(f"  restore: {t_restore:6.1f} s  into an empty database ({mb(db_size(dst))} after restore)")
        after = counts(dst)
        same = before == after
        print(f"  row counts of all {len(after)} tables identical after restore: {same}")
        ok = same and t_backup <= 60 and t_restore <= 60
        print(f"  target backup <= 60 s and restore <= 60 s: {'met' if ok else 'NOT met'}")
        from examsys.extensions import db
        for app in (src, dst):
            with app.app_context():
                db.engine.dispose()
        return ok
    finally:
        if names:
            pg_drop(*names)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    ap.add_argument("--sittings", type=int, default=1000)
    ap.add_argument("--candidates", type=int, default=100)
    ap.add_argument("--responses", type=int, default=10, help="answers per candidate")
    ap.add_argument("--items", type=int, default=30, help="items per paper form (layout size)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (SQLite files, archives)")
    args = ap.parse_args()
    args.responses = min(args.responses, args.items)
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}, cpus: {os.cpu_count()}")
    tmp = Path(tempfile.mkdtemp(prefix="examsys-bench-backup-"))
    ok = True
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    if "postgresql" in backends and not pg_reachable():
        print(f"== postgresql: skipped, {make_url(PG_URL).render_as_string(hide_password=True)} is not reachable "
              f"(BENCH_PG_URL)")
        backends = tuple(b for b in backends if b != "postgresql")
    try:
        for backend in backends:
            ok = run(backend, args, tmp / backend) and ok
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("all targets met" if ok else "a target was NOT met (see above)")
    return 0  # a missed target is reported, not an error (bench/README.md)


if __name__ == "__main__":
    sys.exit(main())

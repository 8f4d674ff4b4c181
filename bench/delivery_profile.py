"""Per-request cost of the candidate's requests, in process (no HTTP server, no load generator).

Complements delivery_load.py: that one measures latency under load; this one measures what each request
costs the app and the database, one at a time, so a change to the hot paths shows at once.

    .venv/bin/python bench/delivery_profile.py                      # PostgreSQL scratch database, 200 candidates
    .venv/bin/python bench/delivery_profile.py --sqlite             # SQLite file in a temporary folder
    .venv/bin/python bench/delivery_profile.py --cprofile paper     # plus cProfile of one step (top 30 by tottime)
    .venv/bin/python bench/delivery_profile.py --parts              # plus the CPU of named parts of each step

Steps per candidate, through Flask's test client (the full WSGI stack: sessions, CSRF, templates): login page,
login (answered by the 核对信息 page), confirm (answered by the paper), then ``--saves`` saves and ``--beats`` heartbeats, then hand-in. For each
step it prints the mean wall time and CPU time (ms per request) of this process; PostgreSQL's own CPU is not
included (delivery_load.py prints it).
"""
from __future__ import annotations

import argparse
import cProfile
import collections
import io
import json
import os
import pstats
import random
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from delivery_load import (DATA_RE, PII_KEY, SECRET_KEY, answer_for, drop_database, prepare,  # noqa: E402
                           scratch_database, token_of)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--candidates", type=int, default=200)
    ap.add_argument("--items", type=int, default=100)
    ap.add_argument("--saves", type=int, default=10)
    ap.add_argument("--beats", type=int, default=3)
    ap.add_argument("--sqlite", action="store_true")
    ap.add_argument("--cprofile", metavar="STEP", help="profile one step: login, paper, save, heartbeat, submit, ...")
    ap.add_argument("--parts", action="store_true",
                    help="also print the CPU of named parts of each request (attempts.paper, sessions.open_session, …)")
    ap.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL",
                                                       "postgresql://examsys:examsys@127.0.0.1:5432/postgres"))
    ap.add_argument("--db-name", default="examsys_profile")
    args = ap.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="delivery_profile_"))
    if args.sqlite:
        db_url = f"sqlite:///{workdir / 'examsys.db'}"
    else:
        db_url = scratch_database(args.pg_url, args.db_name)
    try:
        info = prepare(db_url, workdir, args.candidates, args.items)
        return run(args, info, db_url, workdir)
    finally:
        if not args.sqlite:
            drop_database(args.pg_url, args.db_name)


def run(args, info: dict, db_url: str, workdir: Path) -> int:
    os.environ.update(DATABASE_URL=db_url, SECRET_KEY=SECRET_KEY, EXAMSYS_INSECURE_COOKIES="1",
                      EXAMSYS_PII_KEY=PII_KEY, EXAMSYS_INSTANCE=str(workdir), MEDIA_DIR=str(workdir / "media"))
    from examsys import create_app
    from examsys.config import _normalise_db_url
    app = create_app(SQLALCHEMY_DATABASE_URI=_normalise_db_url(db_url), SECRET_KEY=SECRET_KEY, PII_KEY=PII_KEY,
                     INSTANCE_DIR=workdir, MEDIA_DIR=workdir / "media", SESSION_COOKIE_SECURE=False,
                     EXAMS_POST_FINALISE_INLINE=False, EXAMS_POST_FINALISE_WORKER=False)  # submit: the request only
    app.config["EXAMS_SWEEPER"] = False
    import gc
    gc.collect()
    gc.freeze()  # as deploy/gunicorn.conf.py does in the master after loading the app
    rng = random.Random(7)
    wall = collections.defaultdict(float)
    cpu = collections.defaultdict(float)
    count = collections.Counter()
    prof = cProfile.Profile(time.process_time) if args.cprofile else None  # CPU time, not wall (waits on the database excluded)

    current = [None]  # the step running (for --parts)
    parts = _instrument(app, current) if args.parts else None

    def step(name, fn, *a, **kw):
        current[0] = name
        if prof is not None and name == args.cprofile:
            prof.enable()
        w0, c0 = time.perf_counter(), time.process_time()
        resp = fn(*a, **kw)
        wall[name] += time.perf_counter() - w0
        cpu[name] += time.process_time() - c0
        count[name] += 1
        if prof is not None and name == args.cprofile:
            prof.disable()
        return resp

    clients = []
    for ticket, idno, aid, entries in info["candidates"]:
        c = app.test_client()
        r = step("login page", c.get, "/exam/login")
        tok = token_of(r.get_data(as_text=True))
        r = step("login", c.post, "/exam/login", data={"ticket": ticket, "credential": idno[-6:], "csrf_token": tok})
        assert r.status_code == 200 and b'id="confirm-btn"' in r.data, r.status_code  # the reply: 核对信息
        r = step("confirm", c.post, "/exam/confirm", data={"csrf_token": token_of(r.get_data(as_text=True))})
        assert r.status_code == 200, r.status_code  # the reply: the paper
        html = r.get_data(as_text=True)
        data = json.loads(DATA_RE.search(html).group(1))
        assert data["mode"] == "paper"
        clients.append((c, token_of(html), aid, entries, [int(data["seq_base"])]))
    for _round in range(args.saves):
        for c, tok, aid, entries, seq in clients:
            e = rng.choice(entries)
            seq[0] += 1
            r = step("save", c.post, f"/api/exam/attempts/{aid}/answers", headers={"X-CSRFToken": tok},
                     json={"item": e["pi"], "seq": seq[0], "answer": answer_for(rng, e), "flagged": False})
            assert r.status_code == 200, r.get_data(as_text=True)
    for _round in range(args.beats):
        for c, tok, aid, _e, _s in clients:
            r = step("heartbeat", c.post, f"/api/exam/attempts/{aid}/heartbeat", headers={"X-CSRFToken": tok},
                     json={})
            assert r.status_code == 200
        time.sleep(0.01)
    for c, tok, aid, _e, _s in clients:
        r = step("submit", c.post, f"/api/exam/attempts/{aid}/submit", headers={"X-CSRFToken": tok},
                 json={"confirm": True})
        assert r.status_code == 200, r.get_data(as_text=True)
    print(f"{'step':<14} {'n':>6} {'wall ms':>9} {'CPU ms':>8}   ({'SQLite' if args.sqlite else 'PostgreSQL'}, "
          f"{args.items}-item paper)")
    for name in count:
        print(f"{name:<14} {count[name]:>6} {wall[name] * 1000 / count[name]:>9.2f} {cpu[name] * 1000 / count[name]:>8.2f}")
    if parts is not None:
        print(f"\n{'step':<14} {'part':<40} {'CPU ms per request':>18}")
        for (step_name, part), seconds in sorted(parts.items()):
            print(f"{step_name:<14} {part:<40} {seconds * 1000 / count[step_name]:>18.2f}")
    if prof is not None:
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(30)
        print(out.getvalue())
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(45)
        print(out.getvalue())
        if os.environ.get("PROFILE_CALLERS"):  # e.g. PROFILE_CALLERS="local.py:310" (who calls the hot spots)
            out = io.StringIO()
            pstats.Stats(prof, stream=out).sort_stats("tottime").print_callers(os.environ["PROFILE_CALLERS"])
            print(out.getvalue())
    return 0


PARTS = (
    ("examsys.services.attempts", "page_context"), ("examsys.services.attempts", "api_context"),
    ("examsys.services.attempts", "candidate_login"), ("examsys.services.attempts", "_login_row"),
    ("examsys.services.attempts", "_credential_ok"), ("examsys.services.attempts", "insert_events"),
    ("examsys.services.attempts", "confirm_view"), ("examsys.services.attempts", "paper"),
    ("examsys.services.attempts", "save_answer"), ("examsys.services.attempts", "heartbeat"),
    ("examsys.services.throttle", "reserve_attempt"), ("examsys.services.throttle", "clear"),
    ("examsys.services.sessions", "open_session"), ("examsys.delivery.paper_html", "render"),
    ("examsys.delivery.slotted_pages", "render"), ("examsys.delivery.routes", "_plain_login_page"),
    ("examsys.delivery.routes", "read_json_object"),
)


def _instrument(app, current: list) -> dict:
    """Wrap the functions of :data:`PARTS` (and the session cookie's save, the CSRF check, the commit) with CPU
    timers; returns ``{(step, part): seconds}``, filled as the steps run (``current[0]``: the step running)."""
    import functools
    import importlib
    totals: dict = collections.defaultdict(float)

    def timed(label, fn):
        @functools.wraps(fn)
        def wrapper(*a, **kw):
            c0 = time.process_time()
            try:
                return fn(*a, **kw)
            finally:
                totals[(current[0], label)] += time.process_time() - c0
        return wrapper

    for module, name in PARTS:
        mod = importlib.import_module(module)
        setattr(mod, name, timed(f"{module.rsplit('.', 1)[-1]}.{name}", getattr(mod, name)))
    si = app.session_interface
    si.save_session = timed("flask session cookie", si.save_session)
    csrf = app.extensions["csrf"]
    csrf.protect = timed("csrf check", csrf.protect)
    from examsys.extensions import db
    with app.app_context():
        db.session.commit = timed("db.session.commit", db.session.commit)
    return totals


if __name__ == "__main__":
    raise SystemExit(main())

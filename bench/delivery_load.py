"""Load benchmark of exam delivery (issue 4): gunicorn + PostgreSQL on 127.0.0.1, asyncio load generator.

Run (from the repository root, PostgreSQL on 127.0.0.1:5432 with a CREATEDB role):

    .venv/bin/python bench/delivery_load.py --quick          # 60 s steady state, short capacity steps
    .venv/bin/python bench/delivery_load.py                  # 10 min steady state (the issue's figure)
    .venv/bin/python bench/delivery_load.py --duration 120 --profile 20   # py-spy the workers for 20 s

Phases, against one exam session with ``--candidates`` (1,000) candidates and a ``--items`` (100) item paper
in forms A/B, in a scratch database (``--db-name``, default ``examsys_load``, dropped at the end):

1. **start burst**: every candidate opens the login page, logs in (ticket + last 6 ID digits; the reply is
   the 核对信息 page) and confirms (the reply is the paper), as a browser does, at random moments within
   ``--burst-window`` (10 s). Target: p99 ≤ 2 s per request, 0 errors, exactly one
   attempt per candidate, all in progress.
2. **steady state** for ``--duration`` s: each candidate saves one answer every ``--save-every`` (10) s and
   sends a heartbeat every ``--heartbeat-every`` (30) s, with random phases. Target: save p99 ≤ 250 ms,
   0 errors, 0 acknowledged answers lost. A save without a 2xx is an error and is retried with the same seq.
3. **capacity**: open-loop save rate steps (×1.25) against examsys's save endpoint and then against the bare
   endpoint of bench/bare_app.py (no auth, no audit, same row shape, served the same way), from this same
   generator; capacity = highest achieved rate of a step with p99 ≤ 250 ms and no errors. Prints the ratio
   examsys / bare (aim ≥ 0.5).
4. **deadline burst**: every candidate hands in (``{"confirm": true}``) within ``--submit-window`` (3 s);
   10 % send it twice at once (double click). Target: p99 ≤ 1 s, 0 errors, every attempt finalised exactly once.
   The hand-in commits only the finalisation; machine marking and the ``attempt.finalise`` audit entry follow
   in the workers' background threads (services/post_finalise.py). The bench waits (at most 180 s) until no
   finalised attempt of the session is left unprocessed and prints how long that took after the burst.
5. **checks**: every finalised attempt has exactly one ``attempt.finalise`` audit entry and one machine
   marking; every acknowledged (attempt, item, seq) is in the database with a seq ≥ the acknowledged one.

Latencies are measured from the moment a request was due (open loop: no coordinated omission) to its reply.
Both servers: ``gunicorn -c deploy/gunicorn.conf.py APP`` (the deployment's settings: preload, GC freeze;
``WORKERS=--workers`` (2 × cores), ``THREADS=--threads`` (1 = sync workers), no access log, no
worker recycling). The generator runs on the same 2 cores as the servers and PostgreSQL; its CPU time is printed so its share is visible. Exit status 0 even when a target is missed (it is a benchmark);
1 when the run itself failed.
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import random
import re
import resource
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

SECRET_KEY = "delivery-load-bench-secret-key-0123456789"
PII_KEY = "delivery-load-bench-pii-key-0123456789abcdef"
META_RE = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
HIDDEN_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
DATA_RE = re.compile(r'<script type="application/json" id="exam-data">(.*?)</script>', re.S)
COOKIE = "examsys_session"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# -- figures ----------------------------------------------------------------------------------------

class Stats:
    """Latencies (ms) and outcomes of one kind of request."""

    def __init__(self, name: str):
        self.name = name
        self.ms: list[float] = []
        self.errors = collections.Counter()
        self.first = self.last = None

    def add(self, due: float, done: float, ok: bool, what: str = "") -> None:
        self.ms.append((done - due) * 1000)
        self.first = due if self.first is None else min(self.first, due)
        self.last = done if self.last is None else max(self.last, done)
        if not ok:
            self.errors[what or "error"] += 1

    def pct(self, q: float) -> float:
        return float(np.percentile(self.ms, q)) if self.ms else float("nan")

    @property
    def n(self) -> int:
        return len(self.ms)

    @property
    def n_errors(self) -> int:
        return sum(self.errors.values())

    def line(self) -> str:
        if not self.ms:
            return f"{self.name:<22} n=0"
        span = (self.last - self.first) if self.last and self.first else 0
        rate = self.n / span if span > 0 else float("nan")
        err = f" errors={self.n_errors} {dict(self.errors)}" if self.n_errors else " errors=0"
        return (f"{self.name:<22} n={self.n:<6} {rate:7.1f}/s  p50={self.pct(50):7.1f}  p90={self.pct(90):7.1f}  "
                f"p99={self.pct(99):7.1f}  max={max(self.ms):7.1f} ms{err}")


# -- servers ----------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                out.append(int(entry.name))
    return out


def proc_cpu(pid: int) -> float:
    """utime + stime of a process, seconds."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pg_cpu(dbname: str) -> float:
    """CPU seconds of the PostgreSQL backends connected to ``dbname`` (process titles name the database)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if title.startswith("postgres:") and f" {dbname} " in title:
                total += proc_cpu(int(entry.name))
    return total


def proc_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class Server:
    def __init__(self, name: str, app: str, db_url: str, workdir: Path, args):
        self.name = name
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, DATABASE_URL=db_url, SECRET_KEY=SECRET_KEY, EXAMSYS_INSECURE_COOKIES="1",
                   EXAMSYS_PII_KEY=PII_KEY, EXAMSYS_INSTANCE=str(workdir), MEDIA_DIR=str(workdir / "media"),
                   PYTHONDONTWRITEBYTECODE="1")
        # the deployment's own settings (deploy/gunicorn.conf.py: preload, GC freeze, fork hygiene), with the
        # worker count and threads of this run and without the access log, for both servers alike
        env.update(WORKERS=str(args.workers), THREADS=str(max(1, args.threads)), ACCESS_LOG="", MAX_REQUESTS="0",
                   BIND=f"127.0.0.1:{self.port}")
        cmd = [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "deploy" / "gunicorn.conf.py"),
               "--backlog", "4096"]
        if args.threads <= 1:
            cmd += ["-k", "sync"]
        cmd.append(app)
        self.cmd = " ".join(cmd[1:])
        self.log_path = workdir / f"{name}.log"
        self._log = open(self.log_path, "wb")
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        self.boot_s = None

    def wait_ready(self, path: str, method: str = "GET", timeout: float = 120) -> None:
        import urllib.error
        import urllib.request
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log_path.read_text()[-3000:]}")
            try:
                req = urllib.request.Request(self.base + path, method=method, data=b"{}" if method == "POST" else None,
                                             headers={"Content-Type": "application/json"})
                urllib.request.urlopen(req, timeout=5)
                ok = True
            except urllib.error.HTTPError:
                ok = True  # it answered
            except OSError:
                ok = False
            if ok and len(self.workers()) >= 1:
                self.boot_s = time.monotonic() - self.t0
                return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not start in {timeout} s")

    def workers(self) -> list[int]:
        return children(self.proc.pid)

    def cpu(self) -> float:
        return sum(proc_cpu(p) for p in self.workers())

    def rss(self) -> list[float]:
        return [round(proc_rss_mb(p), 1) for p in self.workers()]

    def stop(self) -> None:
        """Graceful stop (requests still running after a client timeout finish first), then kill -9 of the
        workers and the master, so nothing touches the database after the bench drops it."""
        if self.proc.poll() is None:
            workers = self.workers()
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=45)
            except subprocess.TimeoutExpired:
                for pid in workers + self.workers():
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                self.proc.kill()
                self.proc.wait()
        self._log.close()


# -- the exam -----------------------------------------------------------------------------------------

def scratch_database(admin_url: str, name: str) -> str:
    from examsys.config import _normalise_db_url
    base = make_url(_normalise_db_url(admin_url))
    engine = create_engine(base, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, name: str) -> None:
    from examsys.config import _normalise_db_url
    engine = create_engine(make_url(_normalise_db_url(admin_url)), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def per_type(n_items: int) -> dict:
    shares = {"single_choice": 0.4, "multiple_choice": 0.2, "true_false": 0.2, "fill_blank": 0.1,
              "short_answer": 0.1}
    counts = {t: int(n_items * s) for t, s in shares.items()}
    counts["single_choice"] += n_items - sum(counts.values())
    return counts


def prepare(db_url: str, workdir: Path, n_candidates: int, n_items: int) -> dict:
    """Schema, a paper with forms A/B of ``n_items`` items, a started session with its roster (attempts and
    seeded layouts pre-created by the roster import, as in production)."""
    from examsys import clock, create_app
    from examsys.config import TestConfig
    from examsys.extensions import db
    from examsys.models import ExamAttempt
    from examsys.services import exams as exams_service
    from examsys.services import roster as roster_service
    from tests.examsys import factories as f

    clock.set_clock(None)
    app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=db_url, SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True},
                     SECRET_KEY=SECRET_KEY, PII_KEY=PII_KEY, INSTANCE_DIR=workdir, MEDIA_DIR=workdir / "media")
    with app.app_context():
        db.create_all()
        now = clock.now()
        info = f.make_session(n_candidates=1, starts_at=now, duration_min=600, late_entry_min=240,
                              grace_seconds=30, per_type=per_type(n_items), prefix="9999")
        sess = exams_service.get_session(info["session_id"])
        rows = [(f"2026{k:06d}", f"考生{k}", f.id_number(k % 1000, birth=f"19{80 + k // 1000:02d}0101"), f"{k:04d}")
                for k in range(1, n_candidates + 1)]
        roster_service.import_roster(sess, "roster.csv", f.roster_csv(rows), f.manager(sess.station_id))
        assert exams_service.start_session(sess, at=now)
        cands = []
        for att in db.session.query(ExamAttempt).filter_by(session_id=sess.id):
            ticket = att.candidate.ticket_no
            idno = next(r[2] for r in rows if r[0] == ticket) if n_candidates <= 2000 else None
            cands.append((ticket, idno, att.id, f.entries(att.layout)))
        db.session.remove()
        db.engine.dispose()
    if cands and cands[0][1] is None:  # pragma: no cover - big rosters: map once
        ids = {r[0]: r[2] for r in rows}
        cands = [(t, ids[t], a, e) for t, _i, a, e in cands]
    return {"session_id": info["session_id"], "candidates": cands}


# -- the candidates -------------------------------------------------------------------------------------

@dataclass
class Candidate:
    ticket: str
    idno: str
    aid: int
    entries: list
    cookie: str = ""
    token: str = ""
    seq: int = 0
    ready: bool = False
    busy: bool = False
    acked: list = field(default_factory=list)  # (item, seq)
    submits: list = field(default_factory=list)


def answer_for(rng: random.Random, e: dict):
    t = e["t"]
    if t == "single_choice":
        return rng.choice(e["ids"])
    if t == "multiple_choice":
        return rng.sample(e["ids"], rng.randint(1, len(e["ids"])))
    if t == "true_false":
        return rng.random() < 0.5
    if t == "fill_blank":
        return f"{rng.uniform(0, 100):.2f} mm"
    return "切削速度、进给量和背吃刀量。" * rng.randint(1, 8)


class Client:
    def __init__(self, http: aiohttp.ClientSession, base: str):
        self.http = http
        self.base = base

    async def request(self, c: Candidate | None, method: str, path: str, *, data=None, body=None,
                      timeout: float = 60):
        headers = {}
        if c is not None and c.cookie:
            headers["Cookie"] = f"{COOKIE}={c.cookie}"
        if body is not None:
            headers["Content-Type"] = "application/json"
            if c is not None and c.token:
                headers["X-CSRFToken"] = c.token
            data = json.dumps(body)
        async with self.http.request(method, self.base + path, data=data, headers=headers, allow_redirects=False,
                                     timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
            text_ = await resp.text()
            if c is not None and COOKIE in resp.cookies:
                c.cookie = resp.cookies[COOKIE].value
            return resp.status, text_


def token_of(html: str) -> str:
    m = META_RE.search(html) or HIDDEN_RE.search(html)
    if not m:
        raise RuntimeError("no CSRF token on the page")
    return m.group(1)


async def start_one(cl: Client, c: Candidate, due: float, st: dict) -> None:
    """Login page, login (answered by the 核对信息 page), confirm (answered by the paper), as a browser does:
    each request timed; the whole flow too."""
    flow_due = due
    steps = [("login page", "GET", "/exam/login", None, 200), ("login", "POST", "/exam/login", "login", 200),
             ("confirm", "POST", "/exam/confirm", "confirm", 200)]
    html = ""
    for name, method, path, form, want in steps:
        data = None
        if form == "login":
            data = {"ticket": c.ticket, "credential": c.idno[-6:], "csrf_token": token_of(html)}
        elif form == "confirm":
            data = {"csrf_token": token_of(html)}
        try:
            status, html = await cl.request(c, method, path, data=data)
            ok = status == want
            what = str(status)
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            ok, what = False, type(exc).__name__
        now = time.monotonic()
        st["request"].add(due, now, ok, what)
        st[name].add(due, now, ok, what)
        due = now
        if not ok:
            st["flow"].add(flow_due, now, False, f"{name}:{what}")
            return
    data = json.loads(DATA_RE.search(html).group(1))
    if data.get("mode") != "paper":
        st["flow"].add(flow_due, time.monotonic(), False, "not the paper")
        return
    c.token = token_of(html)
    c.seq = int(data["seq_base"])
    c.ready = True
    st["flow"].add(flow_due, time.monotonic(), True)


async def start_burst(cl: Client, cands: list[Candidate], window: float, rng: random.Random) -> dict:
    st = {k: Stats(k) for k in ("request", "login page", "login", "confirm", "flow")}
    t0 = time.monotonic() + 0.5

    async def one(c: Candidate):
        due = t0 + rng.random() * window
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        await start_one(cl, c, due, st)

    await asyncio.gather(*(one(c) for c in cands))
    return st


async def save(cl: Client, c: Candidate, rng: random.Random, due: float, st: Stats, stop_at: float,
               path_base: str | None = None) -> None:
    """One save; retried with the same seq until it is acknowledged (each failed try counts as an error)."""
    e = rng.choice(c.entries)
    c.seq += 1
    body = {"item": e["pi"], "seq": c.seq, "answer": answer_for(rng, e), "flagged": rng.random() < 0.05}
    path = (path_base or "/api/exam/attempts/{aid}/answers").format(aid=c.aid)
    c.busy = True
    try:
        while True:
            try:
                status, reply = await cl.request(c if path_base is None else None, "POST", path, body=body)
                ok = 200 <= status < 300
                what = str(status)
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                ok, what, reply = False, type(exc).__name__, ""
            now = time.monotonic()
            st.add(due, now, ok, what)
            if ok:
                got = json.loads(reply)
                if got.get("seq", 0) < body["seq"]:
                    st.errors["ack with a lower seq"] += 1
                if path_base is None:
                    c.acked.append((e["pi"], body["seq"]))
                return
            if now > stop_at:
                st.errors["never acknowledged"] += 1
                return
            await asyncio.sleep(1.0)
            due = time.monotonic()
    finally:
        c.busy = False


async def steady(cl: Client, cands: list[Candidate], duration: float, save_every: float, beat_every: float,
                 rng: random.Random) -> dict:
    st = {"save": Stats("save"), "heartbeat": Stats("heartbeat")}
    t0 = time.monotonic() + 0.2
    end = t0 + duration

    async def saver(c: Candidate):
        k = 0
        phase = rng.random() * save_every
        while True:
            due = t0 + phase + k * save_every
            if due >= end or time.monotonic() >= end:  # an overloaded server: stop at the end all the same
                if due < end:
                    st["save"].errors["not sent by the end (server behind)"] += int((end - due) // save_every) + 1
                return
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            await save(cl, c, rng, due, st["save"], end + 30)
            k += 1

    async def beater(c: Candidate):
        k = 0
        phase = rng.random() * beat_every
        while True:
            due = t0 + phase + k * beat_every
            if due >= end or time.monotonic() >= end:
                return
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            try:
                status, _r = await cl.request(c, "POST", f"/api/exam/attempts/{c.aid}/heartbeat", body={})
                ok, what = status == 200, str(status)
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                ok, what = False, type(exc).__name__
            st["heartbeat"].add(due, time.monotonic(), ok, what)
            k += 1

    live = [c for c in cands if c.ready]
    await asyncio.gather(*(saver(c) for c in live), *(beater(c) for c in live))
    return st


FACTOR = 1.4


async def settle(server_cpu, most: float) -> None:
    """Wait (at most ``most`` s) until the server is idle: less than 5 % of a core over 0.5 s."""
    end = time.monotonic() + most
    while time.monotonic() < end:
        c0 = server_cpu()
        await asyncio.sleep(0.5)
        if server_cpu() - c0 < 0.025:
            return


async def save_step(cl: Client, cands: list[Candidate], path_base: str | None, rate: float, step_s: float,
                    rng: random.Random, label: str, server_cpu, db_cpu) -> tuple:
    """One open-loop step of ``rate`` saves/s for ``step_s`` s; returns
    (target, achieved, p50, p99, errors, server CPU ms per save, PostgreSQL CPU ms per save)."""
    st = Stats(f"{label} @{rate:.0f}/s")
    n = int(rate * step_s)
    t0 = time.monotonic() + 0.2
    free = collections.deque(c for c in cands if c.ready)
    cpu0, db0 = server_cpu(), db_cpu()

    async def one(k: int):
        due = t0 + k / rate
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        while not free:  # every candidate has a save in flight: wait (the wait counts as latency)
            await asyncio.sleep(0.005)
        c = free.popleft()
        try:
            await save(cl, c, rng, due, st, due + 30, path_base)
        finally:
            free.append(c)

    await asyncio.gather(*(one(k) for k in range(n)))
    span = st.last - t0
    achieved = st.n / span if span > 0 else 0.0
    await settle(server_cpu, 2.0)
    cpu_ms = (server_cpu() - cpu0) * 1000 / max(1, st.n)
    db_ms = (db_cpu() - db0) * 1000 / max(1, st.n)
    log(f"  {label:<8} target {rate:6.0f}/s achieved {achieved:6.1f}/s p50 {st.pct(50):7.1f} "
        f"p99 {st.pct(99):7.1f} ms errors {st.n_errors}; CPU per save: server {cpu_ms:.1f} ms, "
        f"PostgreSQL {db_ms:.1f} ms")
    return (rate, achieved, st.pct(50), st.pct(99), st.n_errors, cpu_ms, db_ms)


async def capacity(targets: dict, cands: list[Candidate], step_s: float, rng: random.Random, start_rate: float,
                   max_rate: float, db_cpu) -> dict:
    """Open-loop save-rate steps (×1.4, then one step halfway back after the first miss) for each target
    ``label -> (client, path_base, server_cpu)``, interleaved step by step so that a change of the machine's
    other load hits both alike. Returns ``label -> (capacity, rows)``."""
    state = {label: {"rate": start_rate, "best": 0.0, "refined": False, "done": False, "rows": []}
             for label in targets}
    while not all(v["done"] for v in state.values()):
        for label, (cl, path_base, server_cpu) in targets.items():
            v = state[label]
            if v["done"]:
                continue
            if v["rate"] > max_rate:
                v["done"] = True
                continue
            row = await save_step(cl, cands, path_base, v["rate"], step_s, rng, label, server_cpu, db_cpu)
            v["rows"].append(row)
            _rate, achieved, _p50, p99, errors = row[:5]
            if p99 > 250 or errors or achieved < 0.9 * v["rate"]:
                if v["refined"] or v["best"] == 0.0:
                    v["done"] = True
                else:
                    v["refined"] = True  # one step halfway between the last good rate and this one
                    v["rate"] = (v["rate"] / FACTOR + v["rate"]) / 2
                continue
            v["best"] = max(v["best"], achieved)
            if v["refined"]:
                v["done"] = True
            v["rate"] *= FACTOR
    return {label: (v["best"], v["rows"]) for label, v in state.items()}


async def deadline_burst(cl: Client, cands: list[Candidate], window: float, rng: random.Random) -> Stats:
    st = Stats("submit")
    t0 = time.monotonic() + 0.5

    async def one(c: Candidate, due: float):
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        try:
            status, reply = await cl.request(c, "POST", f"/api/exam/attempts/{c.aid}/submit", body={"confirm": True})
            ok, what = status == 200, str(status)
            if ok:
                c.submits.append(json.loads(reply))
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            ok, what = False, type(exc).__name__
        st.add(due, time.monotonic(), ok, what)

    jobs = []
    for c in cands:
        if not c.ready:
            continue
        due = t0 + rng.random() * window
        jobs.append(one(c, due))
        if rng.random() < 0.1:  # double click
            jobs.append(one(c, due + 0.001))
    await asyncio.gather(*jobs)
    return st


# -- checks ---------------------------------------------------------------------------------------------

def check_attempts(db_url: str, session_id: int) -> dict:
    from examsys.config import _normalise_db_url
    engine = create_engine(_normalise_db_url(db_url))
    with engine.connect() as conn:
        per_cand = conn.execute(text("SELECT count(*) FROM exam_candidate c LEFT JOIN exam_attempt a "
                                     "ON a.candidate_id = c.id WHERE c.session_id = :s GROUP BY c.id"),
                                {"s": session_id}).scalars().all()
        statuses = collections.Counter(conn.execute(text(
            "SELECT status FROM exam_attempt WHERE session_id = :s"), {"s": session_id}).scalars())
        finalised = conn.execute(text(
            "SELECT a.id, count(e.id) FROM exam_attempt a LEFT JOIN exam_attempt_event e "
            "ON e.attempt_id = a.id AND e.kind = 'finalised' WHERE a.session_id = :s GROUP BY a.id"),
            {"s": session_id}).all()
        audits = conn.execute(text("SELECT object_id, count(*) FROM audit_log WHERE action = 'attempt.finalise' "
                                   "GROUP BY object_id")).all()
        marked = conn.execute(text("SELECT count(*) FROM attempt_marking WHERE session_id = :s"),
                              {"s": session_id}).scalar_one()
    engine.dispose()
    return {"attempts_per_candidate": collections.Counter(per_cand), "statuses": statuses,
            "finalised_events": collections.Counter(n for _a, n in finalised),
            "finalise_audits": collections.Counter(n for _a, n in audits), "marked": marked}


async def wait_post_processed(db_url: str, session_id: int, most: float) -> tuple[float | None, int, int]:
    """Poll (every 0.2 s, at most ``most`` s) until no finalised attempt of the session waits for its
    post-finalisation (``processed_at IS NULL``). Returns (seconds waited, or ``None`` when it did not finish;
    finalised attempts; attempts still waiting)."""
    from examsys.config import _normalise_db_url
    engine = create_engine(_normalise_db_url(db_url))
    t0 = time.monotonic()
    try:
        while True:
            with engine.connect() as conn:
                n_fin, left = conn.execute(text(
                    "SELECT count(*), count(*) FILTER (WHERE processed_at IS NULL) FROM exam_attempt "
                    "WHERE session_id = :s AND finalised_at IS NOT NULL"), {"s": session_id}).one()
            waited = time.monotonic() - t0
            if left == 0:
                return waited, n_fin, 0
            if waited >= most:
                return None, n_fin, left
            await asyncio.sleep(0.2)
    finally:
        engine.dispose()


def check_acks(db_url: str, cands: list[Candidate]) -> tuple[int, int]:
    from examsys.config import _normalise_db_url
    engine = create_engine(_normalise_db_url(db_url))
    with engine.connect() as conn:
        stored = {(a, i): s for a, i, s in conn.execute(text(
            "SELECT attempt_id, paper_item_id, seq FROM exam_response"))}
        dupes = conn.execute(text("SELECT count(*) FROM (SELECT 1 FROM exam_response GROUP BY attempt_id, "
                                  "paper_item_id HAVING count(*) > 1) d")).scalar_one()
    engine.dispose()
    acks = [(c.aid, i, s) for c in cands for i, s in c.acked]
    lost = sum(1 for a, i, s in acks if stored.get((a, i), -1) < s)
    return len(acks), lost + dupes


# -- profiling -------------------------------------------------------------------------------------------

def start_profile(server: Server, seconds: int | None, out: Path) -> subprocess.Popen | None:
    """py-spy the server's workers for ``seconds`` (``None``: until :func:`stop_profile`), raw stacks to ``out``."""
    exe = Path(sys.executable).with_name("py-spy")
    if not exe.exists():
        log("py-spy not installed in the venv: no profile")
        return None
    cmd = [str(exe), "record", "-p", str(server.proc.pid), "--subprocesses", "--nonblocking", "-r", "100",
           "-f", "raw", "-o", str(out)]
    if seconds:
        cmd += ["-d", str(seconds)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # attach before the load starts
    return proc


def stop_profile(proc: subprocess.Popen | None, path: Path, title: str, wait: float = 60) -> None:
    if proc is None:
        return
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=wait)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    for line in summarise_profile(path):
        log(f"  profile {title}: {line}")


def summarise_profile(path: Path, top: int = 25) -> list[str]:
    if not path.exists():
        return ["(no profile written)"]
    self_t: collections.Counter = collections.Counter()
    incl: collections.Counter = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _sp, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        frames = stack.split(";")
        if any("gunicorn/workers" in fr and ("wait_for" in fr or "sleep" in fr or "select" in fr)
               for fr in frames[-3:]) or "idle" in frames[-1]:
            continue
        total += n
        self_t[frames[-1]] += n
        for fr in set(frames):
            if "examsys/" in fr or "question_bank/" in fr or "flask_wtf/" in fr or "flask_babel/" in fr \
                    or "jinja2/environment" in fr or "sqlalchemy/orm/session.py" in fr or "psycopg/cursor" in fr:
                incl[fr] += n
    if not total:
        return ["(no samples)"]
    out = [f"samples (workers, on CPU): {total}", "top self time:"]
    out += [f"  {n / total:6.1%}  {fr}" for fr, n in self_t.most_common(top)]
    out.append("inclusive (examsys, question_bank, sessions, templates, DB driver):")
    out += [f"  {n / total:6.1%}  {fr}" for fr, n in incl.most_common(top)]
    return out


# -- main -----------------------------------------------------------------------------------------------

def pct_line(st: Stats, target_ms: float) -> str:
    return f"{'PASS' if st.pct(99) <= target_ms and st.n_errors == 0 else 'MISS'} (p99 {st.pct(99):.0f} ms, " \
           f"target {target_ms:.0f} ms, errors {st.n_errors})"


async def run(args, info: dict, db_url: str, workdir: Path) -> int:
    rng = random.Random(args.seed)
    cands = [Candidate(t, i, a, e) for t, i, a, e in info["candidates"]]
    examsys = Server("examsys", "examsys:create_app()", db_url, workdir, args)
    bare = Server("bare", "bench.bare_app:create_app()", db_url, workdir, args)
    servers = [examsys, bare]
    report: list[str] = []
    try:
        examsys.wait_ready("/exam/login")
        bare.wait_ready("/bare/attempts/0/answers", method="POST")
        log(f"examsys up in {examsys.boot_s:.1f} s ({examsys.cmd}); bare up in {bare.boot_s:.1f} s")
        conn = aiohttp.TCPConnector(limit=0, force_close=args.threads <= 1)  # sync workers close every connection
        gen0 = os.times()
        async with aiohttp.ClientSession(connector=conn, cookie_jar=aiohttp.DummyCookieJar()) as http:
            cl = Client(http, examsys.base)
            # 1. start burst
            log(f"start burst: {len(cands)} candidates log in and open the paper within {args.burst_window} s")
            prof = start_profile(examsys, None, workdir / "profile-start.txt") if args.profile else None
            cpu0, db0, g0 = examsys.cpu(), pg_cpu(args.db_name), os.times()
            t = time.monotonic()
            st_start = await start_burst(cl, cands, args.burst_window, rng)
            n_req = st_start["request"].n
            g1 = os.times()
            log(f"  done in {time.monotonic() - t:.1f} s; CPU per request: server "
                f"{(examsys.cpu() - cpu0) * 1000 / n_req:.1f} ms, "
                f"PostgreSQL {(pg_cpu(args.db_name) - db0) * 1000 / n_req:.1f} ms, "
                f"this generator {(g1.user - g0.user + g1.system - g0.system) * 1000 / n_req:.1f} ms")
            stop_profile(prof, workdir / "profile-start.txt", "start burst")
            for s in st_start.values():
                log("  " + s.line())
            await settle(examsys.cpu, 120)
            chk = check_attempts(db_url, info["session_id"])
            report.append(f"start burst      {pct_line(st_start['request'], 2000)}; whole flow p99 "
                          f"{st_start['flow'].pct(99):.0f} ms; attempts per candidate "
                          f"{dict(chk['attempts_per_candidate'])}; "
                          f"statuses {dict(chk['statuses'])}")
            # 2. steady state
            log(f"steady state: {sum(c.ready for c in cands)} candidates, save every {args.save_every} s, "
                f"heartbeat every {args.heartbeat_every} s, for {args.duration} s")
            rss0 = examsys.rss()
            cpu0, db0 = examsys.cpu(), pg_cpu(args.db_name)
            prof_path = workdir / "profile-steady.txt"
            prof = start_profile(examsys, args.profile, prof_path) if args.profile else None
            t = time.monotonic()
            st_steady = await steady(cl, cands, args.duration, args.save_every, args.heartbeat_every, rng)
            wall = time.monotonic() - t
            cpu = examsys.cpu() - cpu0
            n_req = st_steady["save"].n + st_steady["heartbeat"].n
            log(f"  CPU per request (saves and heartbeats): server {cpu * 1000 / max(1, n_req):.1f} ms, "
                f"PostgreSQL {(pg_cpu(args.db_name) - db0) * 1000 / max(1, n_req):.1f} ms")
            log(f"  {st_steady['save'].line()}")
            log(f"  {st_steady['heartbeat'].line()}")
            log(f"  examsys workers CPU {cpu:.1f} s over {wall:.0f} s ({cpu / wall:.0%} of one core); "
                f"RSS {rss0} -> {examsys.rss()} MB; load average {os.getloadavg()[0]:.1f}")
            report.append(f"steady state     {pct_line(st_steady['save'], 250)}; save p50 "
                          f"{st_steady['save'].pct(50):.0f} ms; heartbeat p99 "
                          f"{st_steady['heartbeat'].pct(99):.0f} ms, errors "
                          f"{st_steady['heartbeat'].n_errors}; RSS {rss0} -> {examsys.rss()} MB")
            await settle(examsys.cpu, 120)
            stop_profile(prof, prof_path, "steady state", wait=args.profile + 60)
            # 3. capacity, examsys then bare
            if not args.skip_capacity:
                log(f"capacity: open-loop save steps of {args.step} s, x{FACTOR}, until p99 > 250 ms, "
                    "examsys and bare interleaved")
                def db_cpu():
                    return pg_cpu(args.db_name)
                caps = await capacity({"examsys": (cl, None, examsys.cpu),
                                       "bare": (Client(http, bare.base), "/bare/attempts/{aid}/answers", bare.cpu)},
                                      cands, args.step, rng, args.start_rate, args.max_rate, db_cpu)
                (cap_e, rows_e), (cap_b, rows_b) = caps["examsys"], caps["bare"]
                ratio = cap_e / cap_b if cap_b else float("nan")
                # CPU per save (median over the rates both servers were run at): robust to other load on the
                # machine, unlike latency
                common = {round(r[0], 3) for r in rows_e} & {round(r[0], 3) for r in rows_b} or \
                    {round(r[0], 3) for r in rows_e + rows_b}
                srv_e, db_e = (float(np.median([r[k] for r in rows_e if round(r[0], 3) in common])) for k in (5, 6))
                srv_b, db_b = (float(np.median([r[k] for r in rows_b if round(r[0], 3) in common])) for k in (5, 6))
                report.append(f"capacity         examsys {cap_e:.0f} saves/s, bare {cap_b:.0f} saves/s at p99 <= 250 "
                              f"ms: ratio {ratio:.2f} ({'PASS' if ratio >= 0.5 else 'MISS'}, aim >= 0.5)")
                report.append(f"CPU per save     examsys {srv_e:.1f} ms server + {db_e:.1f} ms PostgreSQL, bare "
                              f"{srv_b:.1f} + {db_b:.1f} ms: CPU ratio bare/examsys "
                              f"{(srv_b + db_b) / (srv_e + db_e):.2f}; 2 idle cores would allow about "
                              f"{2000 / (srv_e + db_e):.0f} vs {2000 / (srv_b + db_b):.0f} saves/s")
            # 4. deadline burst
            log(f"deadline burst: every candidate hands in within {args.submit_window} s (10% twice)")
            prof = start_profile(examsys, None, workdir / "profile-submit.txt") if args.profile else None
            cpu0, db0 = examsys.cpu(), pg_cpu(args.db_name)
            st_submit = await deadline_burst(cl, cands, args.submit_window, rng)
            cpu_req, db_req = examsys.cpu() - cpu0, pg_cpu(args.db_name) - db0  # the requests (and any early start)
            log(f"  {st_submit.line()}")
            post_s, n_fin, post_left = await wait_post_processed(db_url, info["session_id"], 180)
            if post_s is None:
                post_line = (f"MISS: {post_left} of {n_fin} finalised attempts not marked and audited 180 s "
                             "after the burst")
            else:
                post_line = f"{n_fin} attempts marked and audited {post_s:.1f} s after the burst"
            log(f"  post-processing: {post_line}")
            await settle(examsys.cpu, 120)
            n_sub = max(1, st_submit.n)
            log(f"  CPU per hand-in: server {cpu_req * 1000 / n_sub:.1f} ms in the burst, "
                f"{(examsys.cpu() - cpu0) * 1000 / n_sub:.1f} ms with the post-processing; PostgreSQL "
                f"{db_req * 1000 / n_sub:.1f} / {(pg_cpu(args.db_name) - db0) * 1000 / n_sub:.1f} ms")
            stop_profile(prof, workdir / "profile-submit.txt", "deadline burst")
            # the exactly-once check, after the post-processing (it writes the audit entries)
            chk = check_attempts(db_url, info["session_id"])
            acked = sum(1 for c in cands if c.submits)
            n_final = chk["finalised_events"].get(1, 0)
            once = set(chk["finalised_events"]) <= {0, 1} and set(chk["finalise_audits"]) <= {1} \
                and chk["statuses"].get("submitted", 0) == n_final >= acked \
                and chk["finalise_audits"].get(1, 0) == n_final == chk["marked"]
            report.append(f"deadline burst   {pct_line(st_submit, 1000)}; {acked} candidates got their hand-in "
                          f"acknowledged; statuses {dict(chk['statuses'])}; "
                          f"finalised events per attempt {dict(chk['finalised_events'])}, audit rows per attempt "
                          f"{dict(chk['finalise_audits'])}, machine-marked {chk['marked']} "
                          f"({'each at most once, every acknowledged one once' if once else 'NOT once'})")
            report.append(f"post-processing  {post_line}")
        gen1 = os.times()
        n_acks, lost = check_acks(db_url, cands)
        report.append(f"durability       {n_acks} acknowledged saves, {lost} lost or duplicated "
                      f"({'PASS' if lost == 0 else 'MISS'})")
        report.append(f"generator CPU    {gen1.user - gen0.user + gen1.system - gen0.system:.1f} s "
                      f"(user+system) over the run; load average {os.getloadavg()[0]:.1f}")
        report.append(f"servers          {examsys.cmd}; worker boot {examsys.boot_s:.1f} s")
        if not args.skip_capacity:
            report.append("capacity steps   target/s achieved/s p50 ms p99 ms errors  CPU ms/save: server  PostgreSQL")
            for label, rows in (("examsys", rows_e), ("bare", rows_b)):
                for r in rows:
                    report.append(f"  {label:<8} {r[0]:8.0f} {r[1]:10.1f} {r[2]:6.1f} {r[3]:7.1f} {r[4]:6d} "
                                  f"{r[5]:20.1f} {r[6]:11.1f}")
        print("\n== delivery_load summary " + "=" * 60)
        for line in report:
            print(line)
        return 0
    finally:
        for s in servers:
            s.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="60 s steady state and 5 s capacity steps")
    ap.add_argument("--duration", type=float, help="steady-state seconds (default 600, --quick 60)")
    ap.add_argument("--candidates", type=int, default=1000)
    ap.add_argument("--items", type=int, default=100)
    ap.add_argument("--save-every", type=float, default=10.0)
    ap.add_argument("--heartbeat-every", type=float, default=30.0)
    ap.add_argument("--burst-window", type=float, default=10.0)
    ap.add_argument("--submit-window", type=float, default=3.0)
    ap.add_argument("--step", type=float, help="capacity step seconds (default 15, --quick 5)")
    ap.add_argument("--start-rate", type=float, default=10.0)
    ap.add_argument("--max-rate", type=float, default=3000.0)
    ap.add_argument("--skip-capacity", action="store_true")
    ap.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1), help="default: 2 × cores, as deployed")
    ap.add_argument("--threads", type=int, default=1, help="1 = sync workers (as deployed); more = gthread")
    ap.add_argument("--profile", type=int, default=0, metavar="S",
                    help="py-spy the examsys workers during the bursts and for S s of the steady state")
    ap.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL",
                                                       "postgresql://examsys:examsys@127.0.0.1:5432/postgres"))
    ap.add_argument("--db-name", default="examsys_load")
    ap.add_argument("--keep-db", action="store_true")
    ap.add_argument("--seed", type=int, default=20260601)
    args = ap.parse_args()
    args.duration = args.duration if args.duration is not None else (60.0 if args.quick else 600.0)
    args.step = args.step if args.step is not None else (5.0 if args.quick else 15.0)
    host = make_url(args.pg_url).host
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("the benchmark only targets a database on 127.0.0.1")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 8192)), hard))

    import tempfile
    workdir = Path(tempfile.mkdtemp(prefix="delivery_load_"))
    log(f"delivery_load: {args.candidates} candidates, {args.items}-item paper, steady {args.duration:.0f} s; "
        f"2 cores shared with PostgreSQL and this generator; load average {os.getloadavg()[0]:.1f}; logs in {workdir}")
    db_url = scratch_database(args.pg_url, args.db_name)
    try:
        t = time.monotonic()
        info = prepare(db_url, workdir, args.candidates, args.items)
        from bench import bare_app
        bare_app.create_schema(db_url)
        log(f"prepared session {info['session_id']} with {len(info['candidates'])} candidates "
            f"in {time.monotonic() - t:.1f} s")
        return asyncio.run(run(args, info, db_url, workdir))
    finally:
        if not args.keep_db:
            drop_database(args.pg_url, args.db_name)


if __name__ == "__main__":
    sys.exit(main())

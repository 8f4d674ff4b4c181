"""Running at scale: the app keeps no state in the process. Two app instances (two ``create_app()`` on the same
database with the same SECRET_KEY — as two gunicorn workers or two servers behind a load balancer) share
staff logins, logouts, login-throttle counters and candidates' answers. Also: ProxyFix behind nginx, the
gunicorn configuration and ``make serve``'s refusals.

Runs on SQLite (a database file) and on PostgreSQL (a scratch database) when ``TEST_DATABASE_URL`` is set.
"""
from __future__ import annotations

import datetime as _dt
import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from examsys import clock
from examsys.config import ROOT
from examsys.extensions import db
from examsys.services import throttle

from . import factories as f
from .conftest import csrf_token, login
from .test_backup_support import dispose, init_schema, make_app, scratch  # noqa: F401

COOKIE = "examsys_session"


@pytest.fixture
def pair(scratch, tmp_path):
    """Two app instances on one database and one media directory (as two servers with shared storage)."""
    url = scratch.url("shared")
    media = tmp_path / "media"
    a = make_app(url, tmp_path / "a", MEDIA_DIR=media)
    b = make_app(url, tmp_path / "b", MEDIA_DIR=media)
    init_schema(a)
    with a.app_context():
        from examsys.services.auth import create_user
        create_user("admin", "pw-for-tests", "admin", "Admin")
        create_user("writer", "pw-for-tests", "writer", "Writer")
        db.session.commit()
        db.session.remove()
    yield a, b
    clock.set_clock(None)
    dispose(a, b)


def _move_cookie(src, dst) -> None:
    cookie = src.get_cookie(COOKIE)
    assert cookie is not None
    dst.set_cookie(COOKIE, cookie.value)


def test_a_login_made_through_one_instance_is_valid_on_the_other_and_logout_ends_it_everywhere(pair):
    a, b = pair
    ca, cb = a.test_client(), b.test_client()
    assert login(ca, "admin").status_code == 302
    assert ca.get("/admin/users").status_code == 200
    _move_cookie(ca, cb)  # the load balancer sends the next request to the other server
    resp = cb.get("/admin/users")
    assert resp.status_code == 200 and "admin" in resp.get_data(as_text=True)
    # log out through B (the CSRF token of a page served by B)
    token = csrf_token(cb, "/admin/users")
    assert cb.post("/logout", data={"csrf_token": token}).status_code == 302
    # the same cookie presented to A again: the server-side session is gone
    stale = a.test_client()
    stale.set_cookie(COOKIE, ca.get_cookie(COOKIE).value)
    resp = stale.get("/admin/users")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
    assert ca.get("/admin/users").status_code == 302


def test_login_throttle_counts_add_up_across_instances(pair):
    a, b = pair
    limit = a.config["LOGIN_MAX_FAILURES"]
    clients = [a.test_client(), b.test_client()]
    codes = []
    for k in range(limit):  # alternate between the instances
        codes.append(login(clients[k % 2], "writer", "wrong password").status_code)
    assert codes == [401] * limit
    with a.app_context():
        assert throttle.failures("user:writer") == limit
        db.session.remove()
    # the next try through either instance is locked — even with the right password
    assert login(clients[1], "writer").status_code == 429
    assert login(clients[0], "writer").status_code == 429
    # a success clears the counters for both (checked on the other instance)
    with b.app_context():
        from examsys.models import LoginThrottle
        db.session.query(LoginThrottle).delete()
        db.session.commit()
        db.session.remove()
    assert login(clients[0], "writer").status_code == 302
    with b.app_context():
        assert throttle.failures("user:writer") == 0
        db.session.remove()


def test_a_candidate_moves_between_instances_mid_exam(pair):
    """Autosave through one instance, resume through the other: same paper, same answers."""
    a, b = pair
    frozen = clock.FrozenClock(f.T0 - _dt.timedelta(minutes=10))
    clock.set_clock(frozen)
    with a.app_context():
        info = f.make_session(n_candidates=2)
        db.session.remove()
    ticket = info["tickets"][0]
    aid = info["attempts"][ticket]
    frozen.current = f.T0 + _dt.timedelta(seconds=5)
    ca = a.test_client()
    page = f.enter_exam(ca, ticket, info["ids"][ticket])
    entry = next(e for e in f.entries(f.layout_of(a, aid)) if e["t"] == "single_choice")
    cb = b.test_client()
    _move_cookie(ca, cb)
    resp = f.api(cb, page["token"], aid, "answers", {"item": entry["pi"], "seq": 10, "answer": entry["ids"][2]})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert f.open_paper(ca)["data"]["mode"] == "paper"  # back on A: still logged in, the paper opens
    with a.app_context():  # and A renders the answer acknowledged by B
        from examsys.services import attempts
        paper = attempts.paper(attempts.get_attempt(aid))
        shown = {q["id"]: q["answer"] for sec in paper["sections"] for q in sec["questions"]}
        db.session.remove()
    assert shown[entry["pi"]] == entry["ids"][2]


def test_proxy_fix_takes_the_client_address_from_nginx_headers(tmp_path):
    from flask import request

    seen = {}
    for n, expected in ((0, "127.0.0.1"), (1, "203.0.113.9")):
        app = make_app("sqlite://", tmp_path / f"p{n}", PROXY_FIX=n)

        @app.get("/_whoami")
        def whoami():
            seen["addr"], seen["scheme"] = request.remote_addr, request.scheme
            return "ok"
        app.test_client().get("/_whoami", headers={"X-Forwarded-For": "203.0.113.9",
                                                   "X-Forwarded-Proto": "https"},
                              environ_base={"REMOTE_ADDR": "127.0.0.1"})
        assert seen["addr"] == expected
        assert seen["scheme"] == ("https" if n else "http")


def test_gunicorn_config(monkeypatch):
    monkeypatch.setenv("WORKERS", "3")
    monkeypatch.delenv("THREADS", raising=False)
    conf = runpy.run_path(str(ROOT / "deploy" / "gunicorn.conf.py"))
    assert conf["workers"] == 3 and conf["worker_class"] == "sync" and conf["threads"] == 1
    assert conf["wsgi_app"] == "examsys:create_app()" and conf["timeout"] >= 30 and conf["preload_app"] is True
    monkeypatch.setenv("THREADS", "4")
    conf4 = runpy.run_path(str(ROOT / "deploy" / "gunicorn.conf.py"))
    assert conf4["worker_class"] == "gthread" and conf4["threads"] == 4
    monkeypatch.delenv("THREADS")
    monkeypatch.setenv("MAX_REQUESTS", "0")
    assert runpy.run_path(str(ROOT / "deploy" / "gunicorn.conf.py"))["max_requests"] == 0
    monkeypatch.delenv("MAX_REQUESTS")
    fmt = conf["access_log_format"]
    for pii in ("%(h)s", "%(q)s", "%(r)s", "%(u)s", "%(a)s", "%(f)s", "%({"):
        assert pii not in fmt, f"the access log format carries {pii}"
    monkeypatch.delenv("WORKERS")
    assert runpy.run_path(str(ROOT / "deploy" / "gunicorn.conf.py"))["workers"] == 2 * os.cpu_count()
    monkeypatch.setenv("WORKERS", "many")
    with pytest.raises(SystemExit):
        runpy.run_path(str(ROOT / "deploy" / "gunicorn.conf.py"))


@pytest.mark.parametrize("env,message", [
    ({}, "DATABASE_URL is not set"),
    ({"DATABASE_URL": "postgresql://u:p@127.0.0.1/x"}, "SECRET_KEY is not set"),
    ({"DATABASE_URL": "postgresql://u:p@127.0.0.1/x", "SECRET_KEY": "short"}, "SECRET_KEY is too short"),
    ({"DATABASE_URL": "mysql://u:p@h/x", "SECRET_KEY": "k" * 40}, "must be a postgresql:// URL"),
])
def test_serve_refuses_without_its_settings(env, message):
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SECRET_KEY")}
    res = subprocess.run(["bash", str(Path(ROOT) / "deploy" / "serve.sh")], env={**base, **env},
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 2 and message in res.stderr, res.stderr


def test_gunicorn_serves_with_the_deploy_config(tmp_path):
    """``gunicorn -c deploy/gunicorn.conf.py`` boots (preload, GC freeze in the master, engines disposed after
    fork) and its sync workers serve the app; a killed worker is replaced by a fork that serves at once."""
    import signal
    import socket
    import time
    import urllib.request

    from .test_durability import children

    db_file = tmp_path / "examsys.sqlite"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{db_file}", "SECRET_KEY": "k" * 40, "WORKERS": "2",
           "BIND": f"127.0.0.1:{port}", "ACCESS_LOG": "", "EXAMSYS_INSTANCE": str(tmp_path),
           "EXAMSYS_INSECURE_COOKIES": "1"}
    subprocess.run([sys.executable, "-m", "flask", "--app", "examsys", "db", "upgrade"], cwd=ROOT, env=env,
                   check=True, capture_output=True, timeout=120)
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", str(Path(ROOT) / "deploy" / "gunicorn.conf.py")],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def get(path: str) -> int:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status

    def ready(n_workers: int, timeout: float = 30.0) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                if len(children(proc.pid)) >= n_workers and get("/exam/login") == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError("gunicorn did not serve")

    try:
        ready(2)
        assert [get("/healthz") for _ in range(6)] == [200] * 6
        victim = min(children(proc.pid))
        os.kill(victim, signal.SIGKILL)
        time.sleep(0.5)
        ready(2)
        assert victim not in children(proc.pid)
        assert [get("/exam/login") for _ in range(6)] == [200] * 6
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    text = out.decode("utf-8", "replace")
    assert "Traceback" not in text and "Exception in worker" not in text, text[-3000:]

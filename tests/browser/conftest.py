"""Browser tests: Playwright driving Debian's Chromium (/usr/bin/chromium) against a live server.

``live_server`` serves a fresh app on 127.0.0.1 (random port, threaded werkzeug) with a SQLite file
database; ``users`` creates one user per staff role (password ``pw-for-tests``); ``page`` is a new
browser page per test; ``staff_login(page, role)`` logs a page in through the real login form.
"""
from __future__ import annotations

import os
import threading

import pytest
from werkzeug.serving import make_server

from examsys import create_app
from examsys.config import TestConfig
from examsys.extensions import db

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]

pytestmark = pytest.mark.browser


class LiveServer:
    def __init__(self, app):
        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self):
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.thread.join(timeout=5)
        self.server.server_close()


@pytest.fixture
def live_app(tmp_path):
    app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'live.sqlite'}",
                     MEDIA_DIR=tmp_path / "media", INSTANCE_DIR=tmp_path)
    with app.app_context():
        db.create_all()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def live_server(live_app):
    server = LiveServer(live_app)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def users(live_app):
    from examsys.models import Station
    from examsys.services.auth import create_user
    out = {}
    with live_app.app_context():
        st = Station(code="T-001", name="测试鉴定站", region="测试")
        db.session.add(st)
        db.session.flush()
        for role in ["admin", "writer", "reviewer", "station_manager", "proctor", "examiner"]:
            u = create_user(role, "pw-for-tests", role, f"Test {role}",
                            station_id=st.id if role in ("station_manager", "proctor", "examiner") else None)
            out[role] = u.id
        for extra, role, chief in (("examiner2", "examiner", False), ("chief", "examiner", True)):
            out[extra] = create_user(extra, "pw-for-tests", role, f"Test {extra}", station_id=st.id, is_chief=chief).id
        db.session.commit()
        out["station_id"] = st.id
    return out


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def context(browser):
    ctx = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    yield ctx
    ctx.close()


@pytest.fixture
def page(context):
    p = context.new_page()
    p.set_default_timeout(10_000)
    return p


def staff_login(page, server, username, password="pw-for-tests"):
    page.goto(server.url + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(server.url + "/")

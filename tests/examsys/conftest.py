"""Fixtures for the web app tests (flaskr style): ``app``, ``client``, ``runner``, users per role, login.

SQLite (default): a fresh in-memory database per test (create_all / drop_all).
PostgreSQL (``TEST_DATABASE_URL=postgresql://...``): the schema is created once per run, and each test runs
in an outer transaction on one connection that is rolled back at teardown; ``db.session`` is replaced by a
scoped session bound to that connection with ``join_transaction_mode="create_savepoint"``, so the
services' commits end savepoints only (TESTING.md).
"""
from __future__ import annotations

import os
import re

import pytest
from sqlalchemy.orm import scoped_session, sessionmaker

from examsys import clock, create_app
from examsys.config import TestConfig
from examsys.extensions import db

_pg_schema_ready = False
# PostgreSQL runs use their own schema per test process, so parallel runs on one database do not collide.
PG_SCHEMA = f"examsys_t{os.getpid()}"


def _engine_overrides() -> dict:
    if TestConfig.SQLALCHEMY_DATABASE_URI.startswith("postgresql"):
        return {"SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True,
                                              "connect_args": {"options": f"-csearch_path={PG_SCHEMA}"}}}
    return {}


@pytest.fixture(scope="session", autouse=True)
def _pg_schema():
    """Create (and finally drop) this process's PostgreSQL schema."""
    if not TestConfig.SQLALCHEMY_DATABASE_URI.startswith("postgresql"):
        yield
        return
    from sqlalchemy import create_engine, text
    engine = create_engine(TestConfig.SQLALCHEMY_DATABASE_URI)
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {PG_SCHEMA}"))
    yield
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
    engine.dispose()


@pytest.fixture
def app(tmp_path, monkeypatch):
    """The app with a fresh database. No application context stays pushed during the test (a held
    context would share ``g`` between test-client requests); use ``with app.app_context():`` or the
    ``ctx`` fixture for direct service/database work."""
    global _pg_schema_ready
    app = create_app(TestConfig, MEDIA_DIR=tmp_path / "media", INSTANCE_DIR=tmp_path, **_engine_overrides())
    with app.app_context():
        is_sqlite = db.engine.dialect.name == "sqlite"
        if is_sqlite:
            db.create_all()
        else:
            if not _pg_schema_ready:
                db.create_all()
                _pg_schema_ready = True
            connection = db.engine.connect()
            outer = connection.begin()
            session = scoped_session(sessionmaker(bind=connection, join_transaction_mode="create_savepoint"))
            monkeypatch.setattr(db, "session", session)
    try:
        yield app
    finally:
        with app.app_context():
            if is_sqlite:  # closing the only connection discards the in-memory database
                db.session.remove()
                db.engine.dispose()
            else:
                session.remove()
                outer.rollback()
                connection.close()
                db.engine.dispose()
        clock.set_clock(None)


@pytest.fixture
def ctx(app):
    """An application context for tests that call services directly (not with the test client)."""
    with app.app_context():
        yield app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


CSRF_RE = re.compile(r'name="csrf-token" content="([^"]+)"|name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')


def csrf_token(client, url: str = "/login") -> str:
    """Fetch a page and return the CSRF token it carries."""
    html = client.get(url).get_data(as_text=True)
    m = CSRF_RE.search(html)
    assert m, f"no CSRF token on {url}"
    return next(g for g in m.groups() if g)


def login(client, username: str, password: str = "pw-for-tests"):
    token = csrf_token(client, "/login")
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token})


@pytest.fixture
def make_user(app):
    """Create a staff user: ``make_user("writer", role="writer", station=None)``."""
    from examsys.models import Station
    from examsys.services.auth import create_user

    def make(username: str, role: str | None = None, *, station=None, is_chief=False, password="pw-for-tests"):
        with app.app_context():
            user = create_user(username, password, role or username, f"Test {username}",
                               station_id=station.id if isinstance(station, Station) else station,
                               is_chief=is_chief)
            db.session.commit()
            db.session.refresh(user)
            db.session.expunge(user)
        return user

    return make


@pytest.fixture
def station(app):
    from examsys.models import Station
    with app.app_context():
        st = Station(code="T-001", name="测试鉴定站", region="测试")
        db.session.add(st)
        db.session.commit()
        db.session.refresh(st)
        db.session.expunge(st)
    return st


@pytest.fixture
def users(make_user, station):
    """One user per staff role (username = role name), all at ``station``."""
    roles = ["admin", "writer", "reviewer", "station_manager", "proctor", "examiner"]
    return {r: make_user(r, r, station=station if r in ("station_manager", "proctor", "examiner") else None)
            for r in roles}


@pytest.fixture
def login_as(client, users):
    """``login_as("writer")`` logs the test client in as that role's user."""
    def do(role: str):
        resp = login(client, role)
        assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
        return users[role]
    return do

"""Shared tools of the real-concurrency tests: an app whose threads get their own connections and real commits,
on a SQLite file (WAL) or — when ``TEST_DATABASE_URL`` points at PostgreSQL — on a throwaway schema there, a
runner that starts threads together and collects what they raised, and a recorder of the SQL sent."""
from __future__ import annotations

import contextlib
import os
import threading
import uuid

from sqlalchemy import create_engine, event, text

from examsys import clock, create_app
from examsys.config import TestConfig, _normalise_db_url
from examsys.extensions import db

BACKENDS = ["sqlite"] + (["postgresql"] if os.environ.get("TEST_DATABASE_URL", "").startswith("postgres") else [])


@contextlib.contextmanager
def threaded_app(backend: str, tmp_path, prefix: str):
    """An app with its schema created on ``backend`` ("sqlite" | "postgresql"); afterwards the clock is reset,
    the connections closed and the PostgreSQL schema (``<prefix>_<random>``) dropped."""
    schema = admin = None
    if backend == "sqlite":
        app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / (prefix + '.sqlite')}",
                         INSTANCE_DIR=tmp_path, MEDIA_DIR=tmp_path / "media")
    else:
        url = _normalise_db_url(os.environ["TEST_DATABASE_URL"])
        schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
        admin = create_engine(url)
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=url, INSTANCE_DIR=tmp_path, MEDIA_DIR=tmp_path / "media",
                         SQLALCHEMY_ENGINE_OPTIONS={"connect_args": {"options": f"-csearch_path={schema}"},
                                                    "pool_size": 12, "max_overflow": 4})
    with app.app_context():
        db.create_all()
    try:
        yield app
    finally:
        clock.set_clock(None)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        if schema:
            with admin.begin() as conn:
                conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
            admin.dispose()


def run_threads(n: int, target, *, timeout: float = 120, together: bool = True) -> list[str]:
    """Run ``target(k)`` for k in 0..n-1, one thread each (``together``: released at once by a barrier);
    return the exceptions they raised (repr). Fails when a thread is still running after ``timeout`` s."""
    errors = []
    barrier = threading.Barrier(n) if together else None

    def wrap(k):
        try:
            if barrier is not None:
                barrier.wait(timeout=30)
            target(k)
        except Exception as e:  # noqa: BLE001 - collected and asserted
            errors.append(repr(e))

    threads = [threading.Thread(target=wrap, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=timeout)
    assert not any(t.is_alive() for t in threads), "a thread hangs"
    return errors


@contextlib.contextmanager
def statements():
    """The SQL statements the app's engine sends meanwhile (the PostgreSQL test fixture's savepoints left
    out), one line each. Needs an application context."""
    seen: list[str] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")):
            seen.append(" ".join(statement.split()))

    event.listen(db.engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", before)

"""Helpers for the operations tests (backup, station packages, several app instances): scratch databases
that commit for real (SQLite files, or PostgreSQL databases created on the test server and dropped
afterwards), apps bound to them, a populated exam, and table/media snapshots to compare.

The backend follows the suite: PostgreSQL when ``TEST_DATABASE_URL`` is a PostgreSQL URL, else SQLite.
No tests here.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import itertools
import os
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.engine import make_url

from examsys import clock, create_app
from examsys.config import TestConfig
from examsys.extensions import db

BACKEND = "postgresql" if TestConfig.SQLALCHEMY_DATABASE_URI.startswith("postgresql") else "sqlite"
_counter = itertools.count(1)


def _admin_engine():
    url = make_url(TestConfig.SQLALCHEMY_DATABASE_URI).set(database="postgres")
    return create_engine(url, isolation_level="AUTOCOMMIT")


class ScratchDatabases:
    """Creates databases on demand and drops them at the end."""

    def __init__(self, tmp_path: Path):
        self.tmp_path = tmp_path
        self.pg_names: list[str] = []

    def url(self, label: str = "db") -> str:
        n = next(_counter)
        if BACKEND == "sqlite":
            return f"sqlite:///{self.tmp_path / f'{label}{n}.sqlite'}"
        name = f"examsys_ops_{os.getpid()}_{n}"
        eng = _admin_engine()
        with eng.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        eng.dispose()
        self.pg_names.append(name)
        return make_url(TestConfig.SQLALCHEMY_DATABASE_URI).set(database=name).render_as_string(hide_password=False)

    def close(self) -> None:
        if not self.pg_names:
            return
        eng = _admin_engine()
        with eng.connect() as conn:
            for name in self.pg_names:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        eng.dispose()


@pytest.fixture
def scratch(tmp_path):
    s = ScratchDatabases(tmp_path)
    try:
        yield s
    finally:
        s.close()


def make_app(url: str, root: Path, **overrides):
    """An app on ``url`` with its own instance directory, media directory and station keys under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    cfg = dict(SQLALCHEMY_DATABASE_URI=url, SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True},
               INSTANCE_DIR=root, MEDIA_DIR=root / "media", STATION_KEYS_DIR=root / "keys")
    cfg.update(overrides)
    return create_app(TestConfig, **cfg)


def init_schema(app) -> None:
    """Create the tables and stamp the newest migration (what ``examsys db upgrade`` leaves behind)."""
    from flask_migrate import stamp
    with app.app_context():
        db.create_all()
        stamp()
        db.engine.dispose()


def dispose(*apps) -> None:
    for app in apps:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def table_rows(app) -> dict[str, list[tuple]]:
    """Every row of every table (sorted), as comparable tuples; timestamps and JSON compared as text."""
    out = {}
    with app.app_context():
        with db.engine.connect() as conn:
            names = sorted(inspect(conn).get_table_names())
            for name in names:
                rows = conn.execute(text(f'SELECT * FROM "{name}"')).all()
                out[name] = sorted((tuple(_norm(v) for v in r) for r in rows), key=repr)
        db.engine.dispose()
    return out


def _norm(v):
    if isinstance(v, _dt.datetime):
        return v.replace(tzinfo=None).isoformat()
    if isinstance(v, (dict, list)):
        import json
        return json.dumps(v, sort_keys=True, ensure_ascii=False)
    if isinstance(v, str) and v[:1] in "[{":
        import json
        try:
            return json.dumps(json.loads(v), sort_keys=True, ensure_ascii=False)
        except ValueError:
            return v
    if isinstance(v, memoryview):
        return bytes(v)
    return v


def media_snapshot(media_dir: Path) -> dict[str, str]:
    """``{relative path: sha256 of the content}`` of every file under ``media_dir``."""
    media_dir = Path(media_dir)
    if not media_dir.exists():
        return {}
    return {str(p.relative_to(media_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(media_dir.rglob("*")) if p.is_file()}


def png(seed: int) -> bytes:
    from PIL import Image
    import io
    buf = io.BytesIO()
    Image.new("RGB", (8 + seed % 5, 8), (seed * 37 % 256, seed * 91 % 256, 40)).save(buf, format="PNG")
    return buf.getvalue()


def populate(app, *, n_candidates: int = 4, answered: bool = True, prefix: str = "2026") -> dict:
    """A station, staff, a paper with an image, a session with its roster, answers and audit entries.
    Returns the plain values of :func:`tests.examsys.factories.make_session` plus ``images``."""
    from examsys.models import ExamAttempt, ExamResponse
    from examsys.services import media as media_service

    from . import factories as f
    clock.set_clock(clock.FrozenClock(f.T0 - _dt.timedelta(hours=2)))
    try:
        with app.app_context():
            sha = media_service.store(png(1), "figure.png", None).sha256
            media_service.store(png(2), "spare.png", None)
            info = f.make_session(n_candidates=n_candidates, images=[sha], prefix=prefix)
            if answered:
                now = clock.now()
                for k, (ticket, aid) in enumerate(sorted(info["attempts"].items())):
                    att = db.session.get(ExamAttempt, aid)
                    entries = [e for sec in att.layout["sections"] for e in sec["items"]]
                    for j, e in enumerate(entries[:3]):
                        ans = {"single_choice": "B", "multiple_choice": "AC", "true_false": bool(k % 2),
                               "fill_blank": f"答案{k}", "short_answer": f"简答{k}"}[e["t"]]
                        db.session.add(ExamResponse(attempt_id=aid, paper_item_id=e["pi"], item_version_id=e["iv"],
                                                    answer=ans, flagged=j == 0, seq=1000 + j, saved_at=now))
                db.session.commit()
            info["images"] = [sha]
            db.session.remove()
            db.engine.dispose()
    finally:
        clock.set_clock(None)
    return info


def count(app, model) -> int:
    from sqlalchemy import func
    with app.app_context():
        n = db.session.execute(select(func.count()).select_from(model)).scalar_one()
        db.session.remove()
    return n

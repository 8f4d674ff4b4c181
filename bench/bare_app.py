"""The bare baseline for bench/delivery_load.py: a tiny Flask app with one autosave endpoint.

``POST /bare/attempts/<attempt>/answers`` with ``{"item": int, "seq": int, "answer": ..., "flagged": bool}``
upserts the same row shape as examsys's ``exam_response`` (attempt, item, item version, JSON answer, flag,
seq, saved_at) into its own table ``bare_response`` with the same guard
(``ON CONFLICT (attempt_id, paper_item_id) DO UPDATE ... WHERE bare_response.seq < excluded.seq``), reads
the stored seq back, commits, and answers — and nothing else: no login, session, CSRF, ownership, paper
layout, answer validation, deadline check or audit. It is what examsys's save costs at the very least.

Served by delivery_load.py exactly as examsys is:
``DATABASE_URL=... gunicorn -w 2 -b 127.0.0.1:PORT 'bench.bare_app:create_app()'`` (run from the repository
root). :func:`create_schema` makes the table (the bench calls it once before starting the server).
Running this file directly only prints this help (``make bench`` runs every bench/*.py).
"""
from __future__ import annotations

import datetime as _dt
import os

from flask import Flask, jsonify, request
from sqlalchemy import (JSON, BigInteger, Boolean, Column, DateTime, Integer, MetaData, Table, UniqueConstraint,
                        create_engine, select)
from sqlalchemy.dialects import postgresql, sqlite

metadata = MetaData()
bare_response = Table(
    "bare_response", metadata,
    Column("id", Integer, primary_key=True),
    Column("attempt_id", Integer, nullable=False),
    Column("paper_item_id", Integer, nullable=False),
    Column("item_version_id", Integer, nullable=False),
    Column("answer", JSON(none_as_null=True)),
    Column("flagged", Boolean, nullable=False, default=False),
    Column("seq", BigInteger, nullable=False),
    Column("saved_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("attempt_id", "paper_item_id", name="uq_bare_response_attempt_item"),
)


def _url(url: str) -> str:
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def create_schema(url: str) -> None:
    engine = create_engine(_url(url))
    metadata.drop_all(engine)
    metadata.create_all(engine)
    engine.dispose()


def create_app() -> Flask:
    engine = create_engine(_url(os.environ["DATABASE_URL"]), pool_recycle=1800)  # as examsys (config.py)
    insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
    app = Flask(__name__)

    @app.post("/bare/attempts/<int:attempt_id>/answers")
    def save(attempt_id: int):
        data = request.get_json(silent=True)
        if not isinstance(data, dict) or type(data.get("item")) is not int or type(data.get("seq")) is not int:
            return jsonify(ok=False, message="bad request"), 400
        now = _dt.datetime.now(_dt.timezone.utc)
        stmt = insert(bare_response).values(attempt_id=attempt_id, paper_item_id=data["item"],
                                            item_version_id=data["item"], answer=data.get("answer"),
                                            flagged=data.get("flagged") is True, seq=data["seq"], saved_at=now)
        stmt = stmt.on_conflict_do_update(
            index_elements=["attempt_id", "paper_item_id"],
            set_={"answer": stmt.excluded.answer, "flagged": stmt.excluded.flagged, "seq": stmt.excluded.seq,
                  "saved_at": stmt.excluded.saved_at},
            where=bare_response.c.seq < stmt.excluded.seq)
        with engine.begin() as conn:
            conn.execute(stmt)
            seq = conn.execute(select(bare_response.c.seq).where(
                bare_response.c.attempt_id == attempt_id, bare_response.c.paper_item_id == data["item"])).scalar_one()
        return jsonify(ok=True, item=data["item"], seq=seq, stale=seq > data["seq"],
                       server_now=now.isoformat())

    return app


if __name__ == "__main__":
    print(__doc__.strip().splitlines()[0])
    print("Not a benchmark by itself: bench/delivery_load.py serves it with gunicorn.")

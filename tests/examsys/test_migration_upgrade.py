"""Upgrading a database made by the FIRST migration (0001), with data in it, to the newest revision loses
nothing: every row of every 0001 table keeps every 0001 column's value, and the app works on the result
(the old user logs in, the item's versions, the paper and the audit chain read back through the models).

Runs on SQLite, and on PostgreSQL (a scratch database) when ``TEST_DATABASE_URL`` is PostgreSQL. Data is
written with SQLAlchemy Core against the tables as 0001 made them (reflected), never through today's models.
"""
from __future__ import annotations

import datetime as _dt

from flask_migrate import upgrade
from sqlalchemy import MetaData, insert, select, update
from werkzeug.security import generate_password_hash

from examsys.extensions import db
from examsys.services import audit
from examsys.services.backup import head_revision

from .conftest import login
from .test_backup_support import _norm, dispose, make_app, scratch  # noqa: F401

T = _dt.datetime(2026, 3, 1, 8, 30)  # naive UTC, as stored


def _fill_0001(conn) -> dict:
    md = MetaData()
    md.reflect(conn)
    t = md.tables
    ids: dict[str, int] = {}

    def add(table, **values):
        return conn.execute(insert(t[table]).values(**values)).inserted_primary_key[0]

    ids["station"] = add("station", code="S-001", name="第一鉴定站", region="北京")
    ids["admin"] = add("user_account", username="old_admin", display_name="老管理员",
                       password_hash=generate_password_hash("old-password", method="pbkdf2:sha256:1000"),
                       role="admin", is_chief=False, station_id=None, active=True, created_at=T)
    ids["writer"] = add("user_account", username="old_writer", display_name="老命题员",
                        password_hash=generate_password_hash("x", method="pbkdf2:sha256:1000"), role="writer",
                        is_chief=False, station_id=ids["station"], active=True, created_at=T)
    ids["occ"] = add("occupation", code="6-18-01-01", name="车工", work_type="数控车工", grades=[4, 3])
    area = add("knowledge_node", occupation_id=ids["occ"], parent_id=None, code="A", name="基本要求", level=1,
               part="theory", importance=None, grades=[])
    unit = add("knowledge_node", occupation_id=ids["occ"], parent_id=area, code="A-A", name="职业道德", level=2,
               part="theory", importance=None, grades=[])
    ids["kp"] = add("knowledge_node", occupation_id=ids["occ"], parent_id=unit, code="A-A-001", name="职业守则",
                    level=3, part="theory", importance="X", grades=[4, 3])
    add("weight_entry", occupation_id=ids["occ"], grade=4, part="theory", area_code="A", weight=20.0)
    add("media_file", sha256="ab" * 32, filename="图1.png", mime="image/png", size=123, created_by=ids["writer"],
        created_at=T)
    ids["item"] = add("item", occupation_id=ids["occ"], status="approved", current_version_id=None,
                      created_by=ids["writer"], created_at=T, updated_at=T, type="single_choice", kp_id=ids["kp"],
                      kp_code="A-A-001", importance="X", grade_mask=(1 << 4) | (1 << 3), difficulty=0.6,
                      discrimination=0.3, points=1.0, search_text="车工 职业守则", fingerprint="f" * 64,
                      stat_n=120, stat_p=0.55, stat_r_rest=0.31, exposure_count=2)
    versions = []
    for n, key in ((1, "A"), (2, "B")):
        versions.append(add("item_version", item_id=ids["item"], number=n, type="single_choice", kp_code="A-A-001",
                            grades=[4], points=1.0, difficulty=0.6, discrimination=None, source="2025 题库",
                            stem=f"车工应遵守的职业守则是（第{n}版）", content={"options": ["甲", "乙", "丙", "丁"], "key": key},
                            images=["ab" * 32] if n == 2 else [], comment="改正答案" if n == 2 else "",
                            created_by=ids["writer"], created_at=T + _dt.timedelta(days=n)))
    ids["v2"] = versions[1]
    conn.execute(update(t["item"]).where(t["item"].c.id == ids["item"]).values(current_version_id=ids["v2"]))
    add("item_review", item_id=ids["item"], version_id=ids["v2"], reviewer_id=ids["admin"], decision="approve",
        comment="同意", at=T + _dt.timedelta(days=3))
    bp = add("blueprint", occupation_id=ids["occ"], grade=4, name="四级理论", spec={"sections": []},
             spec_hash="0" * 64, created_by=ids["admin"], created_at=T, updated_at=T)
    ids["paper"] = add("paper", occupation_id=ids["occ"], grade=4, part="theory", name="四级理论A卷", blueprint_id=bp,
                       blueprint_hash="0" * 64, seed=42, solver="highs", check_report={"ok": True}, duration_min=90,
                       total_points=100.0, multiple_choice_rule="all_or_nothing", station_id=None,
                       created_by=ids["admin"], created_at=T)
    for label in ("A", "B"):
        form = add("paper_form", paper_id=ids["paper"], label=label)
        add("paper_item", form_id=form, position=1, section="single_choice", item_version_id=ids["v2"], points=1.0,
            weight=None)
    # two audit entries, correctly chained
    prev = audit.GENESIS
    for k, action in enumerate(("item.create", "item.review")):
        at = T + _dt.timedelta(minutes=k)
        fields = {"at": at.replace(tzinfo=_dt.timezone.utc).isoformat(), "actor": "old_admin", "action": action,
                  "object_type": "item", "object_id": str(ids["item"]), "before": None, "after": {"k": k},
                  "reason": ""}
        h = audit.entry_hash(prev, fields)
        add("audit_log", at=at, actor_id=ids["admin"], actor_label="old_admin", action=action, object_type="item",
            object_id=str(ids["item"]), before=None, after={"k": k}, reason="", prev_hash=prev, hash=h)
        prev = h
    conn.execute(insert(t["audit_head"]).values(id=1, last_hash=prev, count=2))
    conn.execute(insert(t["login_throttle"]).values(key="ip:10.0.0.1", failures=2, window_start=T, locked_until=None))
    conn.execute(insert(t["auth_session"]).values(id="c" * 64, user_id=ids["admin"], kind="staff", subject_id=None,
                                                  created_at=T, last_seen=T, expires_at=T, revoked_at=None,
                                                  ip="10.0.0.1", user_agent="old browser"))
    return ids


def _snapshot(conn, columns: dict[str, list[str]] | None = None) -> tuple[dict, dict]:
    md = MetaData()
    md.reflect(conn)
    cols = columns or {name: [c.name for c in table.columns] for name, table in md.tables.items()
                       if name != "alembic_version"}
    rows = {}
    for name, names in cols.items():
        table = md.tables[name]
        rows[name] = sorted((tuple(_norm(v) for v in r) for r in
                             conn.execute(select(*[table.c[c] for c in names]))), key=repr)
    return cols, rows


def test_upgrade_from_the_first_migration_keeps_every_row(scratch, tmp_path):
    app = make_app(scratch.url("mig"), tmp_path / "mig")
    try:
        with app.app_context():
            upgrade(revision="0001")
            with db.engine.begin() as conn:
                ids = _fill_0001(conn)
            with db.engine.connect() as conn:
                cols, before = _snapshot(conn)
            assert sum(len(r) for r in before.values()) >= 20
            upgrade()
            with db.engine.connect() as conn:
                version = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar_one()
                _cols, after = _snapshot(conn, cols)  # the 0001 columns of the 0001 tables, read at head
            assert version == head_revision()
            for name in before:
                assert after[name] == before[name], f"table {name} changed during the upgrade"
            # the models read the old data
            from examsys.models import Item, Paper, User
            item = db.session.get(Item, ids["item"])
            assert [v.number for v in item.versions] == [1, 2] and item.current_version.content["key"] == "B"
            assert item.current_version.images == ["ab" * 32]
            paper = db.session.get(Paper, ids["paper"])
            assert [f.label for f in paper.forms] == ["A", "B"] and all(len(f.items) == 1 for f in paper.forms)
            assert db.session.get(User, ids["admin"]).station_id is None
            assert audit.verify_chain() == (True, None)
            db.session.remove()
        # and the app works on it: the 0001 user logs in (a new session row and audit entries are written)
        client = app.test_client()
        assert login(client, "old_admin", "old-password").status_code == 302
        assert client.get("/admin/users").status_code == 200
        with app.app_context():
            assert audit.verify_chain() == (True, None)
            db.session.remove()
    finally:
        dispose(app)

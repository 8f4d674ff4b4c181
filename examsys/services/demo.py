"""The demo: stations, one user per role, the demo occupations with their trees and items.

:func:`load_demo` is idempotent: it does nothing when the demo admin already exists.
"""
from __future__ import annotations

from pathlib import Path

import yaml
from sqlalchemy import select

from ..extensions import db
from ..models import Role, Station, User
from . import papers as papers_service
from . import taxonomy as taxonomy_service
from .auth import create_user

DATA_DIR = Path(__file__).resolve().parent.parent / "demo" / "data"
MEDIA_DIR = Path(__file__).resolve().parent.parent / "demo" / "media"
DEMO_PASSWORD = "examsys-demo"
DEMO_USERS = [
    # username, role, display name, chief examiner
    ("admin", Role.ADMIN, "系统管理员 王敏", False),
    ("writer", Role.WRITER, "命题员 李强", False),
    ("writer2", Role.WRITER, "命题员 陈静", False),
    ("reviewer", Role.REVIEWER, "审题员 张华", False),
    ("manager", Role.STATION_MANAGER, "鉴定站管理员 刘洋", False),
    ("proctor", Role.PROCTOR, "监考员 赵磊", False),
    ("examiner", Role.EXAMINER, "考评员 孙伟", False),
    ("examiner2", Role.EXAMINER, "考评员 周敏", False),
    ("chief", Role.EXAMINER, "考评组长 吴刚", True),
]
DEMO_STATIONS = [("GD-001", "广州市第一职业技能鉴定站", "广东"), ("GD-002", "佛山市机电职业技能鉴定所", "广东")]


def demo_logins() -> list[tuple[str, str, str]]:
    return [(u, DEMO_PASSWORD, r.value) for u, r, _, _ in DEMO_USERS]


def taxonomy_files() -> list[Path]:
    return sorted(p for p in DATA_DIR.glob("*.yaml") if not p.name.endswith("_items.yaml"))


def load_demo(progress=None) -> bool:
    """Load the demo once. Returns ``False`` when it was already loaded."""
    if db.session.execute(select(User.id).where(User.username == "admin")).first():
        return False
    stations = []
    for code, name, region in DEMO_STATIONS:
        st = Station(code=code, name=name, region=region)
        db.session.add(st)
        stations.append(st)
    db.session.flush()
    for username, role, name, chief in DEMO_USERS:
        station_id = stations[0].id if role in (Role.STATION_MANAGER, Role.PROCTOR, Role.EXAMINER) else None
        create_user(username, DEMO_PASSWORD, role.value, name, station_id=station_id, is_chief=chief)
    for path in taxonomy_files():
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        taxonomy_service.upsert_taxonomy(data)
    db.session.flush()
    load_demo_items(progress=progress)
    papers_service.load_demo_blueprints()  # examples/blueprints/<occupation>-<grade>-*.yaml
    db.session.commit()
    return True


def load_demo_items(progress=None) -> int:
    """Load the demo items (filled in by the bank service once it exists)."""
    try:
        from .bank_demo import load_items
    except ModuleNotFoundError:
        return 0
    return load_items(DATA_DIR, MEDIA_DIR, progress=progress)

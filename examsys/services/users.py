"""Users and stations (admin)."""
from __future__ import annotations

from sqlalchemy import func, select

from ..extensions import db
from ..models import Station, User
from . import audit
from .auth import create_user


class UserError(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def list_users() -> list[User]:
    return list(db.session.execute(select(User).order_by(User.role, User.username)).scalars())


def list_stations() -> list[Station]:
    return list(db.session.execute(select(Station).order_by(Station.code)).scalars())


def add_user(data: dict, actor) -> User:
    exists = db.session.execute(select(User.id).where(func.lower(User.username) == data["username"].lower())).first()
    if exists:
        raise UserError("username", "username already exists")
    user = create_user(data["username"], data["password"], data["role"], data["display_name"],
                       station_id=data.get("station_id") or None, is_chief=bool(data.get("is_chief")), actor=actor)
    db.session.commit()
    return user


def add_station(code: str, name: str, region: str, actor) -> Station:
    if db.session.execute(select(Station.id).where(Station.code == code)).first():
        raise UserError("code", "station code already exists")
    st = Station(code=code, name=name, region=region or "")
    db.session.add(st)
    db.session.flush()
    audit.record("station.create", "station", st.id, actor=actor, after={"code": code, "name": name})
    db.session.commit()
    return st


def set_active(user_id: int, active: bool, actor) -> User | None:
    user = db.session.get(User, user_id)
    if user is None:
        return None
    before = {"active": user.active}
    user.active = active
    audit.record("user.set_active", "user", user.id, actor=actor, before=before, after={"active": active})
    if not active:
        from .sessions import revoke_all
        revoke_all(kind="staff", user_id=user.id)
    db.session.commit()
    return user

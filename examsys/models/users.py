"""Staff users, stations, server-side login sessions and login throttling counters."""
from __future__ import annotations

import datetime as _dt
import enum

from flask_login import UserMixin
from sqlalchemy import ForeignKey, Integer, String, Boolean
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .types import UTCDateTime


class Role(str, enum.Enum):
    """Staff roles (DESIGN.md decision 8). Candidates are not users: they log in with a ticket."""

    ADMIN = "admin"  # 管理员
    WRITER = "writer"  # 命题员
    REVIEWER = "reviewer"  # 审题员
    STATION_MANAGER = "station_manager"  # 鉴定站管理员
    PROCTOR = "proctor"  # 监考员
    EXAMINER = "examiner"  # 考评员


class Station(db.Model):
    """An appraisal station (鉴定站/所)."""

    __tablename__ = "station"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    region: Mapped[str] = mapped_column(String(100), default="")


class User(UserMixin, db.Model):
    __tablename__ = "user_account"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(32), index=True)
    is_chief: Mapped[bool] = mapped_column(Boolean, default=False)  # chief examiner 主考 / 考评组长
    station_id: Mapped[int | None] = mapped_column(ForeignKey("station.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[_dt.datetime] = mapped_column(UTCDateTime)

    station: Mapped[Station | None] = relationship()

    @property
    def is_active(self) -> bool:  # Flask-Login
        return self.active

    def has_role(self, *roles: str | Role) -> bool:
        return self.role in {r.value if isinstance(r, Role) else r for r in roles}


class AuthSession(db.Model):
    """A server-side login session. The cookie carries only its random id, so logout and
    "end this session" (proctor unlock, admin) take effect on the server at once."""

    __tablename__ = "auth_session"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of the token in the cookie
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16), default="staff")  # staff | candidate
    subject_id: Mapped[int | None] = mapped_column(Integer, index=True)  # e.g. attempt id for candidates
    created_at: Mapped[_dt.datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[_dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[_dt.datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[_dt.datetime | None] = mapped_column(UTCDateTime)
    ip: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(300), default="")


class LoginThrottle(db.Model):
    """Failure counter per key (``user:<name>``, ``ip:<addr>``, ``ticket:<no>``), updated atomically."""

    __tablename__ = "login_throttle"
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_start: Mapped[_dt.datetime] = mapped_column(UTCDateTime)
    locked_until: Mapped[_dt.datetime | None] = mapped_column(UTCDateTime)

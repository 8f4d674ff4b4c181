"""Blueprints and frozen papers (DESIGN.md decision 2)."""
from __future__ import annotations

import datetime as _dt

from sqlalchemy import JSON, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .types import UTCDateTime


class Blueprint(db.Model):
    """A blueprint (组卷方案) for one occupation and grade; ``spec`` is the YAML/JSON document."""

    __tablename__ = "blueprint"
    id: Mapped[int] = mapped_column(primary_key=True)
    occupation_id: Mapped[int] = mapped_column(ForeignKey("occupation.id"), index=True)
    grade: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    spec: Mapped[dict] = mapped_column(JSON)
    spec_hash: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[_dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[_dt.datetime] = mapped_column(UTCDateTime)


class Paper(db.Model):
    """A frozen paper: one or more parallel forms (A/B …) of fixed item versions."""

    __tablename__ = "paper"
    id: Mapped[int] = mapped_column(primary_key=True)
    occupation_id: Mapped[int] = mapped_column(ForeignKey("occupation.id"), index=True)
    grade: Mapped[int] = mapped_column(Integer)
    part: Mapped[str] = mapped_column(String(16), default="theory")  # theory | practical
    name: Mapped[str] = mapped_column(String(200))
    blueprint_id: Mapped[int | None] = mapped_column(ForeignKey("blueprint.id"))
    blueprint_hash: Mapped[str] = mapped_column(String(64), default="")
    seed: Mapped[int | None] = mapped_column(Integer)
    solver: Mapped[str] = mapped_column(String(100), default="")
    check_report: Mapped[dict | None] = mapped_column(JSON)
    duration_min: Mapped[int] = mapped_column(Integer, default=120)
    total_points: Mapped[float] = mapped_column(Float, default=100.0)
    multiple_choice_rule: Mapped[str] = mapped_column(String(16), default="all_or_nothing")
    station_id: Mapped[int | None] = mapped_column(ForeignKey("station.id"))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[_dt.datetime] = mapped_column(UTCDateTime)

    forms: Mapped[list["PaperForm"]] = relationship(back_populates="paper", order_by="PaperForm.label")


class PaperForm(db.Model):
    __tablename__ = "paper_form"
    __table_args__ = (UniqueConstraint("paper_id", "label"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    paper_id: Mapped[int] = mapped_column(ForeignKey("paper.id"), index=True)
    label: Mapped[str] = mapped_column(String(4))  # A, B, ...
    paper: Mapped[Paper] = relationship(back_populates="forms")
    items: Mapped[list["PaperItem"]] = relationship(back_populates="form", order_by="PaperItem.position")


class PaperItem(db.Model):
    """One slot of a form: the item version, its section and position, and its points in this paper."""

    __tablename__ = "paper_item"
    __table_args__ = (UniqueConstraint("form_id", "position"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    form_id: Mapped[int] = mapped_column(ForeignKey("paper_form.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)  # 1-based within the form
    section: Mapped[str] = mapped_column(String(64))  # e.g. single_choice
    item_version_id: Mapped[int] = mapped_column(ForeignKey("item_version.id"), index=True)
    points: Mapped[float] = mapped_column(Float)
    weight: Mapped[float | None] = mapped_column(Float)  # practical task weight in the part, percent
    form: Mapped[PaperForm] = relationship(back_populates="items")
    item_version: Mapped["ItemVersion"] = relationship()  # noqa: F821


class ItemUsage(db.Model):
    """One use of an item in a frozen paper (exposure control): which version, which paper and form, which
    station, when. Assembly writes one row per item and paper and bumps ``Item.exposure_count``."""

    __tablename__ = "item_usage"
    __table_args__ = (UniqueConstraint("paper_id", "item_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"), index=True)
    item_version_id: Mapped[int] = mapped_column(ForeignKey("item_version.id"))
    paper_id: Mapped[int] = mapped_column(ForeignKey("paper.id"), index=True)
    form_label: Mapped[str] = mapped_column(String(4))
    station_id: Mapped[int | None] = mapped_column(ForeignKey("station.id"), index=True)
    occupation_id: Mapped[int] = mapped_column(ForeignKey("occupation.id"), index=True)
    grade: Mapped[int] = mapped_column(Integer)
    used_at: Mapped[_dt.datetime] = mapped_column(UTCDateTime)


from .bank import ItemVersion  # noqa: E402,F401  (relationship target)

"""The item bank: items, their immutable versions, reviews and media files."""
from __future__ import annotations

import datetime as _dt

from sqlalchemy import JSON, Float, ForeignKey, Integer, String, Text, UniqueConstraint, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .types import UTCDateTime


class Item(db.Model):
    """An item (试题). Its content lives in :class:`ItemVersion`; the columns here mirror the current
    version for fast filtering in the bank browser (type, knowledge point, grades, difficulty, text)."""

    __tablename__ = "item"
    id: Mapped[int] = mapped_column(primary_key=True)
    occupation_id: Mapped[int] = mapped_column(ForeignKey("occupation.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True, default="draft")
    current_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("item_version.id", use_alter=True, name="fk_item_current_version")
    )
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    created_at: Mapped[_dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[_dt.datetime] = mapped_column(UTCDateTime)
    # denormalised from the current version, for the bank browser
    type: Mapped[str] = mapped_column(String(32), index=True)
    kp_id: Mapped[int | None] = mapped_column(ForeignKey("knowledge_node.id"), index=True)
    kp_code: Mapped[str] = mapped_column(String(32), index=True, default="")
    importance: Mapped[str | None] = mapped_column(String(1), index=True)
    grade_mask: Mapped[int] = mapped_column(Integer, default=0)  # bit g set when grade g applies
    difficulty: Mapped[float | None] = mapped_column(Float, index=True)
    discrimination: Mapped[float | None] = mapped_column(Float)
    points: Mapped[float] = mapped_column(Float, default=1.0)
    search_text: Mapped[str] = mapped_column(Text, default="")  # normalised stem + options
    fingerprint: Mapped[str] = mapped_column(String(64), index=True, default="")  # near-duplicate hash
    # calibrated statistics pooled across sittings (written by item analysis)
    stat_n: Mapped[int] = mapped_column(Integer, default=0)
    stat_p: Mapped[float | None] = mapped_column(Float)
    stat_r_rest: Mapped[float | None] = mapped_column(Float)
    exposure_count: Mapped[int] = mapped_column(Integer, default=0)

    versions: Mapped[list["ItemVersion"]] = relationship(
        back_populates="item", order_by="ItemVersion.number", foreign_keys="ItemVersion.item_id"
    )
    current_version: Mapped["ItemVersion | None"] = relationship(foreign_keys=[current_version_id], post_update=True)


class ItemVersion(db.Model):
    """An immutable version of an item (decision 1). Papers, responses and statistics point here."""

    __tablename__ = "item_version"
    __table_args__ = (UniqueConstraint("item_id", "number"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(32))
    kp_code: Mapped[str] = mapped_column(String(32))
    grades: Mapped[list] = mapped_column(JSON)
    points: Mapped[float] = mapped_column(Float)
    difficulty: Mapped[float | None] = mapped_column(Float)
    discrimination: Mapped[float | None] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(200), default="")
    stem: Mapped[str] = mapped_column(Text)
    content: Mapped[dict] = mapped_column(JSON)  # type-specific fields of docs/items.md
    images: Mapped[list] = mapped_column(JSON, default=list)  # sha256 content hashes
    comment: Mapped[str] = mapped_column(Text, default="")  # why this version was made
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[_dt.datetime] = mapped_column(UTCDateTime)

    item: Mapped[Item] = relationship(back_populates="versions", foreign_keys=[item_id])

    def to_dict(self, occupation_code: str, status: str) -> dict:
        """The item dict of docs/items.md for this version."""
        d = {
            "id": self.item_id, "version": self.number, "type": self.type, "occupation": occupation_code,
            "grades": list(self.grades), "kp": self.kp_code, "points": self.points,
            "difficulty": self.difficulty, "discrimination": self.discrimination, "source": self.source,
            "status": status, "stem": self.stem, "images": list(self.images or []),
        }
        d.update(self.content or {})
        return d


@event.listens_for(ItemVersion, "before_update")
def _versions_are_immutable(mapper, connection, target):  # pragma: no cover - guard
    raise ValueError("item versions are immutable; save an edit as a new version")


class ItemReview(db.Model):
    """A reviewer's decision on a version (审题): approve or reject, with a comment."""

    __tablename__ = "item_review"
    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"), index=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("item_version.id"))
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    decision: Mapped[str] = mapped_column(String(16))  # approve | reject | retire | dismiss_flag
    comment: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[_dt.datetime] = mapped_column(UTCDateTime)


class MediaFile(db.Model):
    """An uploaded file stored on disk under its SHA-256 (content addressing: the same image once)."""

    __tablename__ = "media_file"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    filename: Mapped[str] = mapped_column(String(200))
    mime: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[_dt.datetime] = mapped_column(UTCDateTime)

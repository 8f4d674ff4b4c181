"""Occupations, the 鉴定要素细目表 tree and the weight tables (鉴定比重表)."""
from __future__ import annotations

from sqlalchemy import JSON, Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db


class Occupation(db.Model):
    """An occupation (职业/工种), e.g. code ``6-18-01-01`` 车工, work type 数控车工."""

    __tablename__ = "occupation"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    work_type: Mapped[str] = mapped_column(String(100), default="")
    grades: Mapped[list] = mapped_column(JSON, default=list)  # grades offered, e.g. [4, 3]

    nodes: Mapped[list["KnowledgeNode"]] = relationship(
        back_populates="occupation", cascade="all, delete-orphan", order_by="KnowledgeNode.code"
    )


class KnowledgeNode(db.Model):
    """A node of the tree: level 1 area 鉴定范围, 2 unit 鉴定内容, 3 point 鉴定点.

    Codes are hierarchical (``B``, ``B-C``, ``B-C-003``), so a subtree is ``code = c OR code LIKE c || '-%'``.
    ``importance`` (X/Y/Z) and ``grades`` apply to points; ``part`` (theory/practical) is set on every level.
    """

    __tablename__ = "knowledge_node"
    __table_args__ = (UniqueConstraint("occupation_id", "code"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    occupation_id: Mapped[int] = mapped_column(ForeignKey("occupation.id"), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("knowledge_node.id"))
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    level: Mapped[int] = mapped_column(Integer)  # 1 area, 2 unit, 3 point
    part: Mapped[str] = mapped_column(String(16), default="theory")  # theory | practical
    importance: Mapped[str | None] = mapped_column(String(1))  # X | Y | Z (points only)
    grades: Mapped[list] = mapped_column(JSON, default=list)

    occupation: Mapped[Occupation] = relationship(back_populates="nodes")
    parent: Mapped["KnowledgeNode | None"] = relationship(remote_side="KnowledgeNode.id")


class WeightEntry(db.Model):
    """One cell of the weight table: share (percent) of an area in a part for a grade."""

    __tablename__ = "weight_entry"
    __table_args__ = (UniqueConstraint("occupation_id", "grade", "part", "area_code"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    occupation_id: Mapped[int] = mapped_column(ForeignKey("occupation.id"), index=True)
    grade: Mapped[int] = mapped_column(Integer)
    part: Mapped[str] = mapped_column(String(16))
    area_code: Mapped[str] = mapped_column(String(32))
    weight: Mapped[float] = mapped_column(Float)

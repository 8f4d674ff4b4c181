"""Marking and results: session marking settings, examiner assignments, auto-marking per attempt, scripts
(markable units: attempt × item) with their marks, candidate results, result changes, pass rules and key
corrections.

Script statuses (``Script.status``)::

    pending ──(enough marks, within the threshold)──► marked        (final = the mark, or the mean of two)
       │  └──(two marks differ by more than the threshold)──► adjudication ──(chief)──► adjudicated
       └──(the candidate did not attend the task)──► absent          (final = 0)

A constructed-response script whose answer is blank is ``marked`` with ``final_method = "blank"`` (0 points)
without an examiner. Candidate results are ``draft`` until the station publishes them; a published result is
changed only through an approved :class:`ResultChange`.
"""
from __future__ import annotations

import datetime as _dt

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .types import UTCDateTime

# script statuses
PENDING = "pending"
ADJUDICATION = "adjudication"
MARKED = "marked"
ADJUDICATED = "adjudicated"
ABSENT = "absent"
FINAL_SCRIPT_STATUSES = (MARKED, ADJUDICATED, ABSENT)

# result statuses
DRAFT = "draft"
PUBLISHED = "published"

# mark kinds
MARK = "mark"
ADJUDICATION_MARK = "adjudication"


class SessionMarking(db.Model):
    """Per-session marking settings (practical paper, double marking) and the publication of its results."""

    __tablename__ = "session_marking"
    session_id: Mapped[int] = mapped_column(ForeignKey("exam_session.id"), primary_key=True)
    practical_paper_id: Mapped[int | None] = mapped_column(ForeignKey("paper.id"))
    practical_form_label: Mapped[str | None] = mapped_column(String(4))
    double_marking: Mapped[bool] = mapped_column(Boolean, default=False)
    threshold_fraction: Mapped[float] = mapped_column(Float, default=0.10)
    results_status: Mapped[str] = mapped_column(String(16), default=DRAFT)
    published_at: Mapped[_dt.datetime | None] = mapped_column(UTCDateTime)
    published_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    updated_at: Mapped[_dt.datetime | None] = mapped_column(UTCDateTime)
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))


class ItemMarkingRule(db.Model):
    """A per-item override of the session's double-marking settings (``None`` = use the session's)."""

    __tablename__ = "item_marking_rule"
    __table_args__ = (UniqueConstraint("session_id", "paper_item_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("exam_session.id"), index=True)
    paper_item_id: Mapped[int] = mapped_column(ForeignKey("paper_item.id"))
    double_marking: Mapped[bool | None] = mapped_column(Boolean)
    threshold_fraction: Mapped[float | None] = mapped_column(Float)


class MarkerAssignment(db.Model):
    """An examiner assigned to mark one item (or practical task) of a session."""

    __tablename__ = "marker_assignment"
    __table_args__ = (UniqueConstraint("session_id", "paper_item_id", "examiner_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("exam_session.id"), index=True)
    paper_item_id: Mapped[int] = mapped_column(ForeignKey("paper_item.id"))
    examiner_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)


class AttemptMarking(db.Model):
    """Machine marking of one attempt's auto-marked items. ``item_scores``: ``{"<paper_item_id>": points}``."""

    __tablename__ = "attempt_marking"
    attempt_id: Mapped[int] = mapped_column(ForeignKey("exam_attempt.id"), primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("exam_session.id"), index=True)
    auto_score: Mapped[float] = mapped_column(Float)
    auto_max: Mapped[float] = mapped_column(Float)
    item_scores: Mapped[dict] = mapped_column(JSON)
    rule: Mapped[str] = mapped_column(String(16))
    marked_at: Mapped[_dt.datetime] = mapped_column(UTCDateTime)


class Script(db.Model):
    """A markable unit: one attempt's answer to a constructed-response item, or one candidate's practical
    task. ``code`` is the opaque code examiners see instead of the candidate's name or ticket."""

    __tablename__ = "script"
    __table_args__ = (UniqueConstraint("attempt_id", "paper_item_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("exam_session.id"), index=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("exam_attempt.id"), index=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("exam_candidate.id"), index=True)
    paper_item_id: Mapped[int] = mapped_column(ForeignKey("paper_item.id"), index=True)
    item_version_id: Mapped[int] = mapped_column(ForeignKey("item_version.id"))
    kind: Mapped[str] = mapped_column(String(16))  # constructed | practical
    max_points: Mapped[float] = mapped_column(Float)
    marks_required: Mapped[int] = mapped_column(Integer, default=1)
    threshold_fraction: Mapped[float] = mapped_column(Float, default=0.10)
    status: Mapped[str] = mapped_column(String(16), default=PENDING, index=True)
    final_score: Mapped[float | None] = mapped_column(Float)
    final_method: Mapped[str | None] = mapped_column(String(16))  # single | mean | adjudicated | blank | absent
    finalised_at: Mapped[_dt.datetime | None] = mapped_column(UTCDateTime)
    absent_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[_dt.datetime] = mapped_column(UTCDateTime)

    marks: Mapped[list["Mark"]] = relationship(back_populates="script", order_by="Mark.id")


class Mark(db.Model):
    """One examiner's mark of a script (``kind="mark"``) or a chief examiner's adjudication.
    ``detail`` is the breakdown (marking-point scores, or the scoring sheet: criteria, veto, notes)."""

    __tablename__ = "mark"
    __table_args__ = (UniqueConstraint("script_id", "examiner_id", "kind"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    script_id: Mapped[int] = mapped_column(ForeignKey("script.id"), index=True)
    examiner_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16), default=MARK)
    score: Mapped[float] = mapped_column(Float)
    detail: Mapped[dict | None] = mapped_column(JSON)
    comment: Mapped[str] = mapped_column(Text, default="")
    opened_at: Mapped[_dt.datetime | None] = mapped_column(UTCDateTime)
    submitted_at: Mapped[_dt.datetime] = mapped_column(UTCDateTime)
    seconds: Mapped[float | None] = mapped_column(Float)
    revised_at: Mapped[_dt.datetime | None] = mapped_column(UTCDateTime)

    script: Mapped[Script] = relationship(back_populates="marks")


class CandidateResult(db.Model):
    """A candidate's result in a session: part scores out of 100, their statuses, the pass decision.
    Part statuses: ``absent``, ``pending`` (marking), ``marked``, ``adjudicated``, ``not_in_session``."""

    __tablename__ = "candidate_result"
    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("exam_session.id"), index=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("exam_candidate.id"), unique=True)
    theory_score: Mapped[float | None] = mapped_column(Float)
    theory_status: Mapped[str] = mapped_column(String(16), default="pending")
    practical_score: Mapped[float | None] = mapped_column(Float)
    practical_status: Mapped[str] = mapped_column(String(16), default="pending")
    review_score: Mapped[float | None] = mapped_column(Float)  # 综合评审, entered by the station
    review_status: Mapped[str] = mapped_column(String(16), default="pending")
    passed: Mapped[bool | None] = mapped_column(Boolean)  # None = undecided (pending or incomplete)
    detail: Mapped[dict | None] = mapped_column(JSON)  # raw points, maxima, task scores, the rule applied
    status: Mapped[str] = mapped_column(String(16), default=DRAFT, index=True)
    published_at: Mapped[_dt.datetime | None] = mapped_column(UTCDateTime)
    published_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    computed_at: Mapped[_dt.datetime | None] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)


class ResultChange(db.Model):
    """A requested change of a published result: needs a reason and a second person's approval."""

    __tablename__ = "result_change"
    id: Mapped[int] = mapped_column(primary_key=True)
    result_id: Mapped[int] = mapped_column(ForeignKey("candidate_result.id"), index=True)
    requested_by: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    requested_at: Mapped[_dt.datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(Text)
    before: Mapped[dict] = mapped_column(JSON)
    proposed: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)  # pending|approved|rejected
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    decided_at: Mapped[_dt.datetime | None] = mapped_column(UTCDateTime)
    decision_note: Mapped[str] = mapped_column(Text, default="")


class PassRule(db.Model):
    """Which parts a grade must pass and the pass mark (out of 100). Grades without a row use the default
    (theory + practical for grades 5–3; theory + practical + 综合评审 for grades 2–1; pass mark 60)."""

    __tablename__ = "pass_rule"
    grade: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    parts: Mapped[list] = mapped_column(JSON)
    pass_mark: Mapped[float] = mapped_column(Float, default=60.0)
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    updated_at: Mapped[_dt.datetime | None] = mapped_column(UTCDateTime)


class KeyCorrection(db.Model):
    """A corrected key for an item version used in marking (the newest wins). ``content`` holds the replaced
    fields: ``{"key": "B"}``, ``{"key": false}``, ``{"answers": [...], "tolerance": ..., "unit": ...}``."""

    __tablename__ = "key_correction"
    id: Mapped[int] = mapped_column(primary_key=True)
    item_version_id: Mapped[int] = mapped_column(ForeignKey("item_version.id"), index=True)
    content: Mapped[dict] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[_dt.datetime] = mapped_column(UTCDateTime)

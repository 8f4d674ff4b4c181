"""Item statistics (试题分析): the per-sitting score-row cache, analysis runs, statistics per item version
and run, and the flags that send items back to review.

* :class:`StatRow` — one row per finalised attempt: the candidate's packed responses (one byte per item of the
  form, :func:`scoring.sitting.response_mask`) and awarded item scores (float32), in form position order.
  Built incrementally from the delivered responses and the marks (``stamp`` tells when marks changed), so an
  analysis reads N small rows instead of N × J responses.
* :class:`AnalysisRun` — one analysis of one paper form: of a sitting (``scope = "sitting"``, one exam session)
  or of every sitting of the form across stations (``scope = "stations"``, groups = stations: DIF and
  station_leak). The newest run per (scope, session, form) is ``is_current``; older runs are kept as history.
* :class:`ItemStat` — the statistics of one item version in one run (the report's item dict, split into
  columns for sorting and JSON for the rest, plus the option-by-score-group table and curves).
* :class:`ItemFlag` — an ``error`` flag raised on an item version that went to the review queue, with its
  evidence, and the reviewer's decision (dismissed flags are not raised again for the same version).
"""
from __future__ import annotations

import datetime as _dt

from sqlalchemy import (JSON, Boolean, Float, ForeignKey, Index, Integer, LargeBinary, String, Text,
                        UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import UTCDateTime

SCOPE_SITTING = "sitting"
SCOPE_STATIONS = "stations"

FLAG_OPEN = "open"
FLAG_DISMISSED = "dismissed"
FLAG_RESOLVED = "resolved"


class StatRow(db.Model):
    """Cached score-matrix row of one finalised attempt (see the module docstring)."""

    __tablename__ = "stat_row"
    __table_args__ = (Index("ix_stat_row_session_form", "session_id", "form_id"),)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("exam_attempt.id"), primary_key=True, autoincrement=False)
    session_id: Mapped[int] = mapped_column(ForeignKey("exam_session.id"))
    form_id: Mapped[int] = mapped_column(ForeignKey("paper_form.id"))
    station_id: Mapped[int] = mapped_column(ForeignKey("station.id"))
    masks: Mapped[bytes] = mapped_column(LargeBinary)  # uint8 per item, form position order
    scores: Mapped[bytes] = mapped_column(LargeBinary)  # float32 little-endian per item
    complete: Mapped[bool] = mapped_column(Boolean, default=True)  # every item has its final score
    stamp: Mapped[str] = mapped_column(String(80))  # marking state the row was built from
    built_at: Mapped[_dt.datetime] = mapped_column(UTCDateTime)


class AnalysisRun(db.Model):
    """One analysis of one paper form (a sitting, or all sittings of the form by station)."""

    __tablename__ = "analysis_run"
    __table_args__ = (Index("ix_analysis_run_current", "scope", "form_id", "session_id", "is_current"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(16), default=SCOPE_SITTING)
    session_id: Mapped[int | None] = mapped_column(ForeignKey("exam_session.id"), index=True)
    session_ids: Mapped[list] = mapped_column(JSON)  # every session analysed
    paper_id: Mapped[int] = mapped_column(ForeignKey("paper.id"), index=True)
    form_id: Mapped[int] = mapped_column(ForeignKey("paper_form.id"))
    form_label: Mapped[str] = mapped_column(String(4))
    created_at: Mapped[_dt.datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    trigger: Mapped[str] = mapped_column(String(32), default="")  # view | marking | cli | ...
    n_candidates: Mapped[int] = mapped_column(Integer, default=0)
    n_items: Mapped[int] = mapped_column(Integer, default=0)
    n_pending: Mapped[int] = mapped_column(Integer, default=0)  # attempts left out: marking not finished
    conventions: Mapped[dict | None] = mapped_column(JSON)
    test: Mapped[dict | None] = mapped_column(JSON)  # the report's test summary
    thresholds: Mapped[dict | None] = mapped_column(JSON)
    irt_model: Mapped[str | None] = mapped_column(String(8))
    stamp: Mapped[str] = mapped_column(String(80), default="")  # fingerprint of the input rows
    seconds: Mapped[float | None] = mapped_column(Float)  # load + analysis time
    notes: Mapped[list | None] = mapped_column(JSON)
    is_current: Mapped[bool] = mapped_column(Boolean, default=True)


class ItemStat(db.Model):
    """Statistics of one item version in one analysis run."""

    __tablename__ = "item_stat"
    __table_args__ = (UniqueConstraint("run_id", "item_version_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("analysis_run.id"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"), index=True)
    item_version_id: Mapped[int] = mapped_column(ForeignKey("item_version.id"), index=True)
    paper_item_id: Mapped[int] = mapped_column(ForeignKey("paper_item.id"))
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))  # single | multiple | true_false | marked
    key: Mapped[str | None] = mapped_column(String(16))
    max_points: Mapped[float] = mapped_column(Float)
    n: Mapped[int] = mapped_column(Integer)
    n_omitted: Mapped[int] = mapped_column(Integer, default=0)
    mean: Mapped[float | None] = mapped_column(Float)
    p: Mapped[float | None] = mapped_column(Float)
    sd: Mapped[float | None] = mapped_column(Float)
    r_pbis: Mapped[float | None] = mapped_column(Float)
    r_rest: Mapped[float | None] = mapped_column(Float)
    alpha_if_deleted: Mapped[float | None] = mapped_column(Float)
    d_ul27: Mapped[float | None] = mapped_column(Float)
    disc_efficiency: Mapped[float | None] = mapped_column(Float)
    severity: Mapped[str | None] = mapped_column(String(8))  # worst flag: error | warning | info
    flag_codes: Mapped[str] = mapped_column(String(250), default="")  # " code1 code2 " for filtering
    options: Mapped[dict | None] = mapped_column(JSON)
    omit: Mapped[dict | None] = mapped_column(JSON)
    irt: Mapped[dict | None] = mapped_column(JSON)
    dif: Mapped[dict | None] = mapped_column(JSON)
    flags: Mapped[list | None] = mapped_column(JSON)
    curves: Mapped[dict | None] = mapped_column(JSON)  # option-by-score-group table, empirical and fitted ICC
    detail: Mapped[dict | None] = mapped_column(JSON)  # p_ci, r_rest_ci, p_upper, p_lower, notes


class ItemFlag(db.Model):
    """An ``error`` flag on an item version in the review loop (one row per version and code)."""

    __tablename__ = "item_flag"
    __table_args__ = (UniqueConstraint("item_version_id", "code"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"), index=True)
    item_version_id: Mapped[int] = mapped_column(ForeignKey("item_version.id"))
    code: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16), default=FLAG_OPEN, index=True)  # open | dismissed | resolved
    resolution: Mapped[str | None] = mapped_column(String(16))  # dismissed | retired | revised | key_corrected
    run_id: Mapped[int | None] = mapped_column(ForeignKey("analysis_run.id"))  # newest evidence
    session_id: Mapped[int | None] = mapped_column(ForeignKey("exam_session.id"))
    n: Mapped[int] = mapped_column(Integer, default=0)
    reason_en: Mapped[str] = mapped_column(Text, default="")
    reason_zh: Mapped[str] = mapped_column(Text, default="")
    evidence: Mapped[dict | None] = mapped_column(JSON)
    raised_at: Mapped[_dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[_dt.datetime] = mapped_column(UTCDateTime)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    decided_at: Mapped[_dt.datetime | None] = mapped_column(UTCDateTime)
    decision_reason: Mapped[str] = mapped_column(Text, default="")

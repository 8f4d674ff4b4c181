"""Exam delivery: sessions (考试场次), rosters, attempts (答卷), responses and attempt events.

State machine of an attempt (``ExamAttempt.status``)::

    not_started ──(candidate enters the paper after the start)──► in_progress ──► submitted
         │                                                                          ▲
         └──────────────(deadline + grace passes, never entered)──────────► absent  │
                                                          (candidate / timeout / proctor / collect_all)

``paused_at`` is orthogonal (a paused attempt keeps its status; time is frozen). ``deadline`` is stored
per attempt and set when the session starts: ``started_at + duration + extra time``; a resume after a pause
moves it by the paused time (DESIGN.md decision 3). Responses hold answers in the item's *original* label
space (``"B"``, ``"AC"``, ``true``, text), ready for :func:`question_bank.marking.mark_response`.
"""
from __future__ import annotations

import datetime as _dt

from sqlalchemy import (JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, func,
                        select, text)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .types import UTCDateTime

# Attempt statuses
NOT_STARTED = "not_started"
IN_PROGRESS = "in_progress"
SUBMITTED = "submitted"
ABSENT = "absent"
OPEN_STATUSES = (NOT_STARTED, IN_PROGRESS)
FINAL_STATUSES = (SUBMITTED, ABSENT)

# Session statuses
SCHEDULED = "scheduled"
RUNNING = "running"
FINISHED = "finished"


class ExamSession(db.Model):
    """An exam session (考试场次): one sitting of one frozen paper at one station."""

    __tablename__ = "exam_session"
    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("station.id"), index=True)
    occupation_id: Mapped[int] = mapped_column(ForeignKey("occupation.id"))
    grade: Mapped[int] = mapped_column(Integer)
    paper_id: Mapped[int] = mapped_column(ForeignKey("paper.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    form_labels: Mapped[list] = mapped_column(JSON)  # forms in use, e.g. ["A", "B"]
    form_assignment: Mapped[str] = mapped_column(String(16), default="alternate")  # alternate | random
    starts_at: Mapped[_dt.datetime] = mapped_column(UTCDateTime)  # scheduled start
    duration_min: Mapped[int] = mapped_column(Integer)
    late_entry_min: Mapped[int] = mapped_column(Integer, default=30)  # first entry allowed until start + this
    grace_seconds: Mapped[int] = mapped_column(Integer, default=30)  # saves accepted until deadline + grace
    login_opens_min: Mapped[int] = mapped_column(Integer, default=30)  # login opens this long before the start
    auto_start: Mapped[bool] = mapped_column(Boolean, default=True)  # start by itself at starts_at
    seed: Mapped[int] = mapped_column(BigInteger)  # form assignment and attempt seeds derive from it
    status: Mapped[str] = mapped_column(String(16), default=SCHEDULED, index=True)  # scheduled|running|finished
    started_at: Mapped[_dt.datetime | None] = mapped_column(UTCDateTime)  # actual start
    paused_at: Mapped[_dt.datetime | None] = mapped_column(UTCDateTime)  # whole room paused since
    finished_at: Mapped[_dt.datetime | None] = mapped_column(UTCDateTime)  # collect-all (统一收卷)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[_dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[_dt.datetime] = mapped_column(UTCDateTime)

    station: Mapped["Station"] = relationship()  # noqa: F821
    paper: Mapped["Paper"] = relationship()  # noqa: F821
    occupation: Mapped["Occupation"] = relationship()  # noqa: F821


class ExamCandidate(db.Model):
    """A roster row: 准考证号 (unique), name, ID number (encrypted, HMAC for lookup, masked for display), seat."""

    __tablename__ = "exam_candidate"
    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("exam_session.id"), index=True)
    ticket_no: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    id_cipher: Mapped[str] = mapped_column(Text)  # AES-GCM, see services.pii
    id_hmac: Mapped[str] = mapped_column(String(64), index=True)
    id_masked: Mapped[str] = mapped_column(String(24))  # 110101********1234
    seat: Mapped[str] = mapped_column(String(16), default="")
    form_label: Mapped[str] = mapped_column(String(4))
    login_code_cipher: Mapped[str | None] = mapped_column(Text)  # printed one-time code, encrypted
    login_code_used_at: Mapped[_dt.datetime | None] = mapped_column(UTCDateTime)
    row_number: Mapped[int] = mapped_column(Integer, default=0)  # row in the imported roster file
    created_at: Mapped[_dt.datetime] = mapped_column(UTCDateTime)


_UNPROCESSED = "finalised_at IS NOT NULL AND processed_at IS NULL"


class ExamAttempt(db.Model):
    """One candidate's sitting of one paper form, created with its seeded layout before the start."""

    __tablename__ = "exam_attempt"
    __table_args__ = (Index("ix_exam_attempt_status_deadline", "status", "deadline"),
                      # the post-finalisation queue: only attempts finalised and not yet processed are in it
                      Index("ix_exam_attempt_unprocessed", "id", postgresql_where=text(_UNPROCESSED),
                            sqlite_where=text(_UNPROCESSED)))
    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("exam_session.id"), index=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("exam_candidate.id"), unique=True)
    paper_form_id: Mapped[int] = mapped_column(ForeignKey("paper_form.id"))
    seed: Mapped[int] = mapped_column(BigInteger)
    layout: Mapped[dict] = mapped_column(JSON)  # question_bank.layout: sections, item order, option order/ids
    status: Mapped[str] = mapped_column(String(16), default=NOT_STARTED)
    confirmed_at: Mapped[_dt.datetime | None] = mapped_column(UTCDateTime)  # 核对信息 confirmed
    entered_at: Mapped[_dt.datetime | None] = mapped_column(UTCDateTime)  # first time in the paper
    deadline: Mapped[_dt.datetime | None] = mapped_column(UTCDateTime)  # set at the session start
    extra_seconds: Mapped[int] = mapped_column(Integer, default=0)  # extra time granted (all grants)
    paused_at: Mapped[_dt.datetime | None] = mapped_column(UTCDateTime)
    paused_seconds: Mapped[int] = mapped_column(Integer, default=0)  # total time spent paused
    last_seen_at: Mapped[_dt.datetime | None] = mapped_column(UTCDateTime)  # last heartbeat
    submitted_at: Mapped[_dt.datetime | None] = mapped_column(UTCDateTime)  # finish time (deadline on timeout)
    finalised_at: Mapped[_dt.datetime | None] = mapped_column(UTCDateTime)  # when the server finalised it
    submit_reason: Mapped[str | None] = mapped_column(String(16))  # candidate|timeout|proctor|collect_all
    # the final answers' sha256 digest and answered count: stored by the post-finalisation
    # (services/post_finalise.py), NULL until then (see ``answered`` for a count to show at once)
    final_digest: Mapped[str | None] = mapped_column(String(64))
    answered_count: Mapped[int | None] = mapped_column(Integer)
    # when the post-finalisation (machine marking, the attempt.finalise audit entry) was done; NULL while a
    # finalised attempt waits for it (services/post_finalise.py)
    processed_at: Mapped[_dt.datetime | None] = mapped_column(UTCDateTime)

    session: Mapped[ExamSession] = relationship()
    candidate: Mapped[ExamCandidate] = relationship()
    form: Mapped["PaperForm"] = relationship()  # noqa: F821

    @property
    def answered(self) -> int:
        """Questions answered: ``answered_count`` once the post-finalisation has stored it, else counted
        from the stored responses now (the hand-in page, shown before the post-finalisation may have run;
        the responses no longer change once the attempt is final)."""
        if self.answered_count is not None:
            return self.answered_count
        if self.id is None:
            return 0
        r = ExamResponse.__table__
        return db.session.execute(select(func.count()).select_from(r).where(
            r.c.attempt_id == self.id, r.c.answer.is_not(None))).scalar_one()


class ExamResponse(db.Model):
    """The latest acknowledged answer to one item of one attempt (DESIGN.md decision 4).

    ``seq`` is the attempt's client sequence number: a save only overwrites a row with a smaller ``seq``.
    ``answer`` is in the item's original label space (``"B"``, ``"AC"``, ``true``/``false``, text) or null.
    """

    __tablename__ = "exam_response"
    __table_args__ = (UniqueConstraint("attempt_id", "paper_item_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("exam_attempt.id"))
    paper_item_id: Mapped[int] = mapped_column(ForeignKey("paper_item.id"))
    item_version_id: Mapped[int] = mapped_column(ForeignKey("item_version.id"))
    answer: Mapped[object | None] = mapped_column(JSON(none_as_null=True))  # SQL NULL = no answer
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)  # marked for review by the candidate
    seq: Mapped[int] = mapped_column(BigInteger)
    saved_at: Mapped[_dt.datetime] = mapped_column(UTCDateTime)


class AttemptEvent(db.Model):
    """An event in an attempt's log: login, second login, focus loss, paste, refused save, proctor action …
    Integrity signals are evidence for the proctor, never automatic penalties."""

    __tablename__ = "exam_attempt_event"
    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("exam_session.id"), index=True)
    attempt_id: Mapped[int | None] = mapped_column(ForeignKey("exam_attempt.id"), index=True)
    at: Mapped[_dt.datetime] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(32))
    actor_label: Mapped[str] = mapped_column(String(100), default="")
    detail: Mapped[dict | None] = mapped_column(JSON)

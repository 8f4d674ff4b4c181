"""Helpers for the marking and results tests (no tests here): a sitting with answers, a practical paper
attached to a session, examiners, and a few shortcuts. Built on the delivery factories.

Everything runs inside an application context; the clock is set to the factory start time ``T0``.
"""
from __future__ import annotations

import datetime as _dt

from sqlalchemy import select

from examsys import clock
from examsys.extensions import db
from examsys.models import (ExamAttempt, ExamResponse, Item, ItemVersion, Occupation, Paper, PaperForm, PaperItem,
                            Script, User)
from examsys.services import attempts as attempts_service
from examsys.services import exams as exams_service
from examsys.services import marking as marking_service
from examsys.services.auth import create_user

from . import factories
from .factories import T0

PT_CONTENT = {
    "time_limit_min": 60, "materials": ["毛坯"], "equipment": ["车床"],
    "criteria": [{"content": "外圆", "element": "Φ40", "points": 10.0, "standard": "超差扣分", "mode": "deduction"},
                 {"content": "粗糙度", "element": "Ra1.6", "points": 5.0, "standard": "A–E", "mode": "level"},
                 {"content": "安全", "element": "文明生产", "points": 5.0, "standard": "A–E", "mode": "level"}],
    "veto": ["发生安全事故", "严重违纪"],
}


def set_clock(at: _dt.datetime) -> None:
    clock.set_clock(lambda: at)


def make_practical_paper(occupation_id: int, *, grade: int = 4, station_id=None, weights=(60.0, 40.0),
                         points=(20.0, 20.0), labels=("A",)) -> Paper:
    now = clock.now()
    paper = Paper(occupation_id=occupation_id, grade=grade, part="practical", name="操作技能试卷",
                  blueprint_hash="", duration_min=120, total_points=100.0, station_id=station_id, created_at=now)
    db.session.add(paper)
    db.session.flush()
    for label in labels:
        form = PaperForm(paper_id=paper.id, label=label)
        db.session.add(form)
        db.session.flush()
        for k, (w, p) in enumerate(zip(weights, points), start=1):
            item = Item(occupation_id=occupation_id, status="approved", type="practical_task", created_at=now,
                        updated_at=now, points=p)
            db.session.add(item)
            db.session.flush()
            iv = ItemVersion(item_id=item.id, number=1, type="practical_task", kp_code=f"P-A-00{k}", grades=[grade],
                             points=p, stem=f"试题名称：操作任务{k}\n按图加工", content=dict(PT_CONTENT), images=[],
                             created_at=now)
            db.session.add(iv)
            db.session.flush()
            db.session.add(PaperItem(form_id=form.id, position=k, section="practical_task", item_version_id=iv.id,
                                     points=p, weight=w))
    db.session.commit()
    return paper


def sitting(*, n: int = 3, per_type=None, labels=("A",), rule: str = "all_or_nothing", grade: int = 4,
            prefix: str = "2026", station_id=None) -> dict:
    """A started session with ``n`` candidates (attempts in progress), returning the factory dict plus
    ``forms`` = {label: [(paper_item_id, type, item dict)]}."""
    set_clock(T0 - _dt.timedelta(hours=1))
    per_type = per_type or {"single_choice": 2, "multiple_choice": 1, "true_false": 1, "fill_blank": 1,
                            "short_answer": 1}
    s = factories.make_session(n_candidates=n, labels=labels, per_type=per_type, prefix=prefix, station_id=station_id)
    paper = db.session.get(Paper, s["paper_id"])
    paper.multiple_choice_rule = rule
    paper.grade = grade
    sess = exams_service.get_session(s["session_id"])
    sess.grade = grade
    db.session.commit()
    set_clock(T0)
    exams_service.start_session(sess, at=T0)
    set_clock(T0 + _dt.timedelta(minutes=1))
    now = clock.now()
    for aid in s["attempts"].values():
        att = db.session.get(ExamAttempt, aid)
        att.status, att.entered_at, att.confirmed_at = "in_progress", now, now
    db.session.commit()
    forms = {}
    for f in paper.forms:
        forms[f.label] = [(pi.id, pi.item_version.type, dict(pi.item_version.content, type=pi.item_version.type,
                                                              points=pi.points)) for pi in f.items]
    s["forms"] = forms
    s["occupation_id"] = paper.occupation_id
    return s


def answer(attempt_id: int, paper_item_id: int, value) -> None:
    """Store an answer directly (original label space), as delivery's autosave does."""
    pi = db.session.get(PaperItem, paper_item_id)
    row = db.session.execute(select(ExamResponse).where(ExamResponse.attempt_id == attempt_id,
                                                        ExamResponse.paper_item_id == paper_item_id)).scalar_one_or_none()
    if row is None:
        row = ExamResponse(attempt_id=attempt_id, paper_item_id=paper_item_id, item_version_id=pi.item_version_id,
                           seq=1, saved_at=clock.now())
        db.session.add(row)
    row.answer = value
    row.seq += 1
    db.session.commit()


def items_of(s: dict, attempt_id: int) -> list[tuple[int, str, dict]]:
    att = db.session.get(ExamAttempt, attempt_id)
    label = db.session.get(PaperForm, att.paper_form_id).label
    return s["forms"][label]


def finalise(attempt_id: int, reason: str = "candidate") -> None:
    attempts_service.finalise(attempt_id, reason)


def examiner(username: str, station_id: int, *, chief: bool = False) -> User:
    u = db.session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if u is None:
        u = create_user(username, "pw-for-tests", "examiner", f"考评员 {username}", station_id=station_id,
                        is_chief=chief)
        db.session.commit()
    return u


def manager(username: str, station_id: int) -> User:
    u = db.session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if u is None:
        u = create_user(username, "pw-for-tests", "station_manager", f"站长 {username}", station_id=station_id)
        db.session.commit()
    return u


def scripts(session_id: int, **where) -> list[Script]:
    q = select(Script).where(Script.session_id == session_id)
    for k, v in where.items():
        q = q.where(getattr(Script, k) == v)
    return list(db.session.execute(q.order_by(Script.id)).scalars())


def sheet(entries, veto=(), comment="", notes=""):
    return marking_service.SheetInput(criteria=list(entries), veto=list(veto), comment=comment, notes=notes)


def full_sheet():
    return [{"deduction": "0"}, {"level": "A"}, {"level": "A"}]


def occupation_id() -> int:
    return db.session.execute(select(Occupation.id).where(Occupation.code == "6-18-01-01")).scalar_one()

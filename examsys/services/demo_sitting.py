"""A demo sitting (演示场次) so a person can try the candidate side right after ``make run``.

:func:`ensure_demo_sitting` assembles the 数控车工 grade-4 theory paper from its demo blueprint (A/B forms)
when none exists, and creates a session at the demo station that opens for login now and starts a few
minutes later, with ten candidates (valid 18-digit ID numbers). It does nothing while an earlier demo
sitting is still ahead or running, so repeated ``make run`` does not pile sittings up.
"""
from __future__ import annotations

import datetime as _dt

from sqlalchemy import select

from .. import clock
from ..extensions import db
from ..models import Blueprint, Occupation, Paper, Station, User
from . import exams as exams_service
from . import roster as roster_service

DEMO_OCCUPATION = "6-18-01-01"
DEMO_GRADE = 4
NAME_PREFIX = "演示场次"
CANDIDATES = ["张伟", "王芳", "李娜", "刘强", "陈杰", "杨敏", "赵磊", "黄丽", "周涛", "吴静"]


def id_number(area: str, birth: str, seq: int, sex_odd: bool) -> str:
    """A valid 18-digit 身份证号 (GB 11643 check digit) for demo data: area (6 digits), birth date YYYYMMDD,
    sequence (the 17th digit is odd for men)."""
    from .pii import check_digit
    body = f"{area}{birth}{(seq * 10 + (1 if sex_odd else 0)) % 1000:03d}"
    return body + check_digit(body)


def demo_roster_csv(prefix: str) -> tuple[bytes, list[tuple[str, str, str]]]:
    """CSV bytes of the demo roster and (ticket, name, id number) of each candidate."""
    rows = []
    for i, name in enumerate(CANDIDATES, start=1):
        rows.append((f"{prefix}{i:02d}", name, id_number("440106", f"199{i % 10}0{(i % 9) + 1}1{i % 10}", i,
                                                           i % 2 == 1), f"{i:02d}"))
    text = "准考证号,姓名,身份证号,座位号\n" + "".join(f"{t},{n},{id_},{seat}\n" for t, n, id_, seat in rows)
    return text.encode("utf-8-sig"), [(t, n, id_) for t, n, id_, _ in rows]


def _demo_paper(manager: User) -> Paper | None:
    occ = db.session.execute(select(Occupation).where(Occupation.code == DEMO_OCCUPATION)).scalar_one_or_none()
    if occ is None:
        return None
    paper = db.session.execute(select(Paper).where(Paper.occupation_id == occ.id, Paper.grade == DEMO_GRADE,
                                                   Paper.part == "theory").order_by(Paper.id)).scalars().first()
    if paper is not None:
        return paper
    from . import papers as papers_service
    bp = db.session.execute(select(Blueprint).where(Blueprint.occupation_id == occ.id, Blueprint.grade == DEMO_GRADE)
                            .order_by(Blueprint.id)).scalars().all()
    bp = next((b for b in bp if "theory" in papers_service.blueprint_parts(b)), None)
    if bp is None:
        return None
    req = papers_service.AssemblyRequest(blueprint_id=bp.id, part="theory", forms=2, seed=2026,
                                         station_id=manager.station_id, name="数控车工四级理论 演示卷", time_limit=30)
    return papers_service.assemble_paper(req, manager)


def ensure_demo_sitting(start_in_min: int = 3, duration_min: int = 60) -> tuple[object | None, list]:
    """Return ``(session, [(ticket, name, last6, one-time code)])``; creates the sitting when none is ahead."""
    now = clock.now()
    manager = db.session.execute(select(User).where(User.username == "manager")).scalar_one_or_none()
    if manager is None or manager.station_id is None:
        return None, []
    from ..models import ExamSession
    for sess in db.session.execute(select(ExamSession).where(ExamSession.name.like(NAME_PREFIX + "%"),
                                                             ExamSession.status != "finished")).scalars():
        ends = sess.starts_at + _dt.timedelta(minutes=sess.duration_min + sess.late_entry_min)
        if ends > now:
            return sess, _logins(sess)
    paper = _demo_paper(manager)
    if paper is None:
        return None, []
    stamp = now.astimezone(_dt.timezone(_dt.timedelta(hours=8))).strftime("%m%d%H%M")
    spec = exams_service.SessionSpec(
        name=f"{NAME_PREFIX} {stamp}", station_id=manager.station_id, paper_id=paper.id,
        form_labels=[f.label for f in paper.forms], form_assignment="alternate",
        starts_at=now + _dt.timedelta(minutes=start_in_min), duration_min=duration_min, late_entry_min=30,
        grace_seconds=30, login_opens_min=max(start_in_min, 5), auto_start=True, seed=int(stamp))
    sess = exams_service.create_session(spec, manager)
    data, _ = demo_roster_csv(f"D{stamp}")
    roster_service.import_roster(sess, "demo-roster.csv", data, manager)
    return sess, _logins(sess)


def _logins(sess) -> list[tuple[str, str, str, str]]:
    out = []
    for cand, _att in roster_service.roster(sess.id):
        from . import pii
        out.append((cand.ticket_no, cand.name, pii.decrypt(cand.id_cipher)[-6:], roster_service.login_code(cand)))
    return out

"""Test data for exam delivery: a frozen paper (Paper/PaperForm/PaperItem) built directly from ItemVersion
rows, valid ID numbers, roster files and a ready exam session with candidates.

Every key, accepted answer, reference answer and marking point holds a marker string (``SECRET``) or a
known letter, so tests can search candidate payloads for them.
"""
from __future__ import annotations

import csv
import datetime as _dt
import io

from examsys import clock
from examsys.extensions import db
from examsys.models import (ExamAttempt, ExamCandidate, Item, ItemVersion, Occupation, Paper, PaperForm,
                            PaperItem, Station, User)
from examsys.services import exams as exams_service
from examsys.services import pii, roster as roster_service

T0 = _dt.datetime(2026, 6, 1, 1, 0, tzinfo=_dt.timezone.utc)  # 09:00 in Beijing

SECTION_ORDER = ("single_choice", "multiple_choice", "true_false", "fill_blank", "short_answer")


def id_number(n: int, birth: str = "19900101", region: str = "110101") -> str:
    """A valid 18-character ID number (correct check digit), distinct for each ``n`` < 1000."""
    first17 = f"{region}{birth}{n % 1000:03d}"
    return first17 + pii.check_digit(first17)


def item_content(t: str, i: int) -> dict:
    if t == "single_choice":
        return {"options": [f"单选{i}-甲", f"单选{i}-乙", f"单选{i}-丙", f"单选{i}-丁"], "key": "B"}
    if t == "multiple_choice":
        return {"options": [f"多选{i}-甲", f"多选{i}-乙", f"多选{i}-丙", f"多选{i}-丁"], "key": "AC"}
    if t == "true_false":
        return {"key": True}
    if t == "fill_blank":
        return {"answers": [f"FB-SECRET-{i}"], "tolerance": None, "unit": None}
    if t == "short_answer":
        return {"reference_answer": f"SA-REFERENCE-SECRET-{i}",
                "marking_points": [{"text": f"SA-POINT-SECRET-{i}", "points": 4.0}], "score_step": 0.5}
    raise ValueError(t)


POINTS = {"single_choice": 1.0, "multiple_choice": 2.0, "true_false": 1.0, "fill_blank": 2.0, "short_answer": 4.0}


def make_item_version(occupation: Occupation, t: str, i: int, images=None) -> ItemVersion:
    now = clock.now()
    item = Item(occupation_id=occupation.id, status="approved", type=t, created_at=now, updated_at=now,
                points=POINTS[t])
    db.session.add(item)
    db.session.flush()
    stem = f"第{i}题（{t}）题干" + ("：____" if t == "fill_blank" else "")
    iv = ItemVersion(item_id=item.id, number=1, type=t, kp_code="A-A-001", grades=[4], points=POINTS[t],
                     stem=stem, content=item_content(t, i), images=list(images or []), created_at=now)
    db.session.add(iv)
    db.session.flush()
    item.current_version_id = iv.id
    return iv


def make_paper(*, labels=("A", "B"), per_type=None, station_id=None, images=None) -> Paper:
    """A frozen theory paper with one form per label; ``per_type`` = items per type per form."""
    per_type = per_type or {"single_choice": 2, "multiple_choice": 2, "true_false": 2, "fill_blank": 1,
                            "short_answer": 1}
    occ = db.session.query(Occupation).filter_by(code="6-18-01-01").one_or_none()
    if occ is None:
        occ = Occupation(code="6-18-01-01", name="车工", work_type="数控车工", grades=[4, 3])
        db.session.add(occ)
        db.session.flush()
    paper = Paper(occupation_id=occ.id, grade=4, part="theory", name="数控车工四级理论试卷", blueprint_hash="",
                  duration_min=60, total_points=100.0, station_id=station_id, created_at=clock.now())
    db.session.add(paper)
    db.session.flush()
    counter = db.session.query(ItemVersion).count()
    for label in labels:
        form = PaperForm(paper_id=paper.id, label=label)
        db.session.add(form)
        db.session.flush()
        pos = 0
        for t in SECTION_ORDER:
            for _ in range(per_type.get(t, 0)):
                counter += 1
                pos += 1
                iv = make_item_version(occ, t, counter, images=images if (images and pos == 1) else None)
                db.session.add(PaperItem(form_id=form.id, position=pos, section=t, item_version_id=iv.id,
                                         points=POINTS[t]))
    db.session.flush()
    return paper


def roster_csv(rows) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["准考证号", "姓名", "身份证号", "座位号"])
    for r in rows:
        w.writerow(r)
    return buf.getvalue().encode("utf-8")


def candidate_rows(n: int, start: int = 1, prefix: str = "2026") -> list[tuple[str, str, str, str]]:
    return [(f"{prefix}{k:06d}", f"考生{k}", id_number(k), f"{k:02d}") for k in range(start, start + n)]


def manager(station_id: int) -> User:
    user = db.session.query(User).filter_by(username="factory_manager").one_or_none()
    if user is None:
        from examsys.services.auth import create_user
        user = create_user("factory_manager", "pw-for-tests", "station_manager", "Factory manager",
                           station_id=station_id)
        db.session.flush()
    return user


def make_session(*, n_candidates: int = 3, starts_at=T0, duration_min: int = 60, grace_seconds: int = 30,
                 late_entry_min: int = 15, labels=("A", "B"), assignment: str = "alternate", station_id=None,
                 auto_start: bool = True, per_type=None, images=None, prefix: str = "2026", seed: int = 12345):
    """Create a paper, a session and its roster (attempts pre-created). Must run in an app context with
    the clock set before ``starts_at``. Returns a dict of plain values."""
    if station_id is None:
        st = db.session.query(Station).filter_by(code="F-001").one_or_none()
        if st is None:
            st = Station(code="F-001", name="工厂鉴定站", region="测试")
            db.session.add(st)
            db.session.flush()
        station_id = st.id
    actor = manager(station_id)
    paper = make_paper(labels=labels, per_type=per_type, images=images)
    db.session.commit()
    spec = exams_service.SessionSpec(
        name="测试场次", station_id=station_id, paper_id=paper.id, form_labels=list(labels),
        form_assignment=assignment, starts_at=starts_at, duration_min=duration_min, late_entry_min=late_entry_min,
        grace_seconds=grace_seconds, login_opens_min=30, auto_start=auto_start, seed=seed)
    sess = exams_service.create_session(spec, actor)
    rows = candidate_rows(n_candidates, prefix=prefix)
    roster_service.import_roster(sess, "roster.csv", roster_csv(rows), actor)
    attempts = {c.ticket_no: a.id for c, a in db.session.query(ExamCandidate, ExamAttempt)
                .join(ExamAttempt, ExamAttempt.candidate_id == ExamCandidate.id)
                .filter(ExamCandidate.session_id == sess.id)}
    return {"session_id": sess.id, "paper_id": paper.id, "station_id": station_id, "rows": rows,
            "tickets": [r[0] for r in rows], "ids": {r[0]: r[2] for r in rows}, "attempts": attempts,
            "starts_at": starts_at, "duration_min": duration_min, "grace_seconds": grace_seconds}


def session_on_frozen_clock(app, **kwargs) -> dict:
    """A session made by :func:`make_session` (``kwargs``) with the clock frozen 10 minutes before its start;
    the returned dict's ``clock`` moves it."""
    frozen = clock.FrozenClock(kwargs.get("starts_at", T0) - _dt.timedelta(minutes=10))
    clock.set_clock(frozen)
    with app.app_context():
        info = make_session(**kwargs)
    info["clock"] = frozen
    return info


# -- test-client helpers -----------------------------------------------------------------------------

import json as _json  # noqa: E402
import re as _re  # noqa: E402

_META = _re.compile(r'<meta name="csrf-token" content="([^"]+)"')
_HIDDEN = _re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
_DATA = _re.compile(r'<script type="application/json" id="exam-data">(.*?)</script>', _re.S)


def page_token(html: str) -> str:
    m = _META.search(html) or _HIDDEN.search(html)
    assert m, "no CSRF token on the page"
    return m.group(1)


def exam_data(html: str) -> dict:
    m = _DATA.search(html)
    assert m, "no exam-data blob on the page"
    return _json.loads(m.group(1))


def candidate_login(client, ticket: str, credential: str):
    token = page_token(client.get("/exam/login").get_data(as_text=True))
    return client.post("/exam/login", data={"ticket": ticket, "credential": credential, "csrf_token": token})


def logged_in(resp) -> bool:
    """A successful candidate login answers with the 核对信息 page itself (200), which replaces its URL
    with /exam/confirm."""
    html = resp.get_data(as_text=True) if hasattr(resp, "get_data") else resp.text
    return resp.status_code == 200 and 'id="confirm-btn"' in html \
        and 'history.replaceState(null, "", "/exam/confirm")' in html


def enter_exam(client, ticket: str, idno: str) -> dict:
    """Log in, confirm the details — the reply is the paper (or the waiting room) — as a browser does;
    returns ``{"html", "data", "token"}``."""
    resp = candidate_login(client, ticket, idno[-6:])
    assert logged_in(resp), (resp.status_code, resp.get_data(as_text=True)[:2000])
    resp = client.post("/exam/confirm", data={"csrf_token": page_token(resp.get_data(as_text=True))})
    assert resp.status_code == 200, resp.status_code
    return _page(resp)


def open_paper(client) -> dict:
    resp = client.get("/exam/paper")
    assert resp.status_code == 200, resp.status_code
    return _page(resp)


def _page(resp) -> dict:
    html = resp.get_data(as_text=True)
    return {"html": html, "data": exam_data(html) if 'id="exam-data"' in html else None, "token": page_token(html)}


def api(client, token: str, attempt_id: int, what: str, body, *, headers=None):
    h = {"X-CSRFToken": token} if token is not None else {}
    h.update(headers or {})
    data = body if isinstance(body, (bytes, str)) else _json.dumps(body)
    return client.post(f"/api/exam/attempts/{attempt_id}/{what}", data=data, headers=h,
                       content_type="application/json")


def layout_of(app, attempt_id: int) -> dict:
    with app.app_context():
        return db.session.get(ExamAttempt, attempt_id).layout


def entries(layout: dict) -> list[dict]:
    return [e for sec in layout["sections"] for e in sec["items"]]

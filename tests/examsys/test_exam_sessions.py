"""Station manager pages: create a session (validation, audit), ownership per station, admission tickets."""
from __future__ import annotations

import datetime as _dt

import pytest
from sqlalchemy import func, select

from examsys import clock
from examsys.extensions import db
from examsys.models import AuditLog, ExamCandidate, ExamSession
from examsys.services import pii

from . import factories as f
from .conftest import csrf_token, login

T0 = f.T0


@pytest.fixture
def paper_id(app, station):
    clock.set_clock(clock.FrozenClock(T0 - _dt.timedelta(days=1)))
    with app.app_context():
        p = f.make_paper()
        db.session.commit()
        return p.id


def form_data(token, station, paper, **over):
    data = {"csrf_token": token, "name": "2026年6月数控车工四级理论", "station_id": station, "paper_id": paper,
            "form_labels": ["A", "B"], "form_assignment": "alternate", "starts_at": "2026-06-01T09:00",
            "duration_min": "90", "late_entry_min": "20", "grace_seconds": "30", "login_opens_min": "30",
            "auto_start": "y"}
    data.update(over)
    return data


def session_count(app):
    with app.app_context():
        return db.session.execute(select(func.count(ExamSession.id))).scalar_one()


def test_create_a_session(app, users, station, paper_id, client):
    login(client, "station_manager")
    assert "新建考试场次" in client.get("/exams/new").get_data(as_text=True)
    token = csrf_token(client, "/exams/new")
    r = client.post("/exams/new", data=form_data(token, station.id, paper_id))
    assert r.status_code == 302
    with app.app_context():
        s = db.session.execute(select(ExamSession)).scalar_one()
        assert s.starts_at == T0 and s.duration_min == 90 and s.form_labels == ["A", "B"] and s.late_entry_min == 20
        assert s.occupation_id and s.grade == 4
        row = db.session.execute(select(AuditLog).where(AuditLog.action == "exam.session_create")).scalar_one()
        assert row.after["duration_min"] == 90 and row.actor_label == "station_manager"
    listing = client.get("/exams/").get_data(as_text=True)
    assert "2026年6月数控车工四级理论" in listing and "2026-06-01 09:00" in listing


@pytest.mark.parametrize("over,message", [
    ({"form_labels": ["C"]}, "请选择试卷的一套或多套"),
    ({"starts_at": "2020-01-01T09:00"}, "开考时间已过"),
    ({"name": "   "}, "请填写场次名称"),
])
def test_invalid_sessions_are_refused(app, users, station, paper_id, client, over, message):
    login(client, "station_manager")
    token = csrf_token(client, "/exams/new")
    r = client.post("/exams/new", data=form_data(token, station.id, paper_id, **over))
    assert r.status_code in (400, 422)
    if r.status_code == 422:
        assert message in r.get_data(as_text=True)
    assert session_count(app) == 0


def test_form_errors_never_500(app, users, station, paper_id, client):
    login(client, "station_manager")
    token = csrf_token(client, "/exams/new")
    for over in ({"duration_min": "abc"}, {"paper_id": "999"}, {"station_id": "x"}, {"starts_at": "tomorrow"},
                 {"grace_seconds": "-1"}, {"form_assignment": "lottery"}):
        r = client.post("/exams/new", data=form_data(token, station.id, paper_id, **over))
        assert r.status_code == 400, over
    assert session_count(app) == 0


def test_station_ownership_and_admin(app, users, station, make_user, client):
    clock.set_clock(clock.FrozenClock(T0 - _dt.timedelta(minutes=40)))
    with app.app_context():
        info = f.make_session(n_candidates=2)  # at another station (F-001)
    sid = info["session_id"]
    login(client, "station_manager")
    assert client.get(f"/exams/{sid}").status_code == 404
    assert client.get(f"/exams/{sid}/tickets").status_code == 404
    assert client.get(f"/exams/{sid}/roster.csv").status_code == 404
    assert "测试场次" not in client.get("/exams/").get_data(as_text=True)
    admin = app.test_client()
    login(admin, "admin")
    assert admin.get(f"/exams/{sid}").status_code == 200
    for role in ("proctor", "examiner", "writer"):
        c = app.test_client()
        login(c, role)
        assert c.get(f"/exams/{sid}").status_code == 403


def test_admission_tickets_show_masked_ids_and_codes(app, users, client):
    clock.set_clock(clock.FrozenClock(T0 - _dt.timedelta(minutes=40)))
    with app.app_context():
        info = f.make_session(n_candidates=3)
    login(client, "admin")
    html = client.get(f"/exams/{info['session_id']}/tickets").get_data(as_text=True)
    from examsys.services.roster import login_code
    with app.app_context():
        for c in db.session.execute(select(ExamCandidate)).scalars():
            assert c.ticket_no in html and c.id_masked in html and login_code(c) in html
            assert pii.decrypt(c.id_cipher) not in html
    assert "window.print()" in html and "/exam/login" in html


def test_csv_export_neutralises_formulas(app, users, station, client):
    clock.set_clock(clock.FrozenClock(T0 - _dt.timedelta(minutes=40)))
    with app.app_context():
        info = f.make_session(n_candidates=1, station_id=station.id)
        c = db.session.execute(select(ExamCandidate)).scalar_one()
        c.name = "=HYPERLINK(1)"
        db.session.commit()
    login(client, "station_manager")
    out = client.get(f"/exams/{info['session_id']}/roster.csv").get_data(as_text=True)
    assert "'=HYPERLINK(1)" in out


def test_roster_export_names_statuses_in_chinese_with_their_codes(app, users, station, client):
    import csv
    import io
    from examsys.models import ExamAttempt
    clock.set_clock(clock.FrozenClock(T0 - _dt.timedelta(minutes=40)))
    with app.app_context():
        info = f.make_session(n_candidates=3, station_id=station.id)
        atts = db.session.execute(select(ExamAttempt).order_by(ExamAttempt.id)).scalars().all()
        atts[1].status, atts[2].status = "submitted", "absent"
        db.session.commit()
    login(client, "station_manager")
    resp = client.get(f"/exams/{info['session_id']}/roster.csv")
    assert resp.headers["Content-Type"] == "text/csv; charset=utf-8"  # one charset, not two
    rows = list(csv.reader(io.StringIO(resp.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][-2:] == ["状态", "状态代码"]
    assert sorted((r[-2], r[-1]) for r in rows[1:]) == [("已交卷", "submitted"), ("未开始", "not_started"),
                                                        ("缺考", "absent")]

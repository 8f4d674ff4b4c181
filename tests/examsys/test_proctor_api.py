"""Proctor operations through the JSON API: each applied at once, visible in the candidate's next reply,
audited with a reason; ownership per station; the live table."""
from __future__ import annotations

import datetime as _dt

import pytest
from sqlalchemy import select

from examsys import clock
from examsys.extensions import db
from examsys.models import AttemptEvent, AuditLog, ExamAttempt, Station

from . import factories as f
from .conftest import csrf_token, login
from .test_delivery_api import T0, by_type, sitting, status_of

DEADLINE = T0 + _dt.timedelta(minutes=60)


@pytest.fixture
def exam(app, users, station):
    c = clock.FrozenClock(T0 - _dt.timedelta(minutes=10))
    clock.set_clock(c)
    with app.app_context():
        info = f.make_session(n_candidates=3, station_id=station.id)
    info["clock"] = c
    return info


@pytest.fixture
def proctor(app, users):
    client = app.test_client()
    assert login(client, "proctor").status_code == 302
    token = csrf_token(client, "/")
    return client, token


def act(proctor, session_id, **body):
    client, token = proctor
    return client.post(f"/api/proctor/sessions/{session_id}/actions", json=body, headers={"X-CSRFToken": token})


def audit_rows(app, action):
    with app.app_context():
        return list(db.session.execute(select(AuditLog).where(AuditLog.action == action)).scalars())


def test_console_and_live_table(app, exam, proctor):
    client, _ = proctor
    sid = exam["session_id"]
    assert client.get("/proctor/").status_code == 200
    html = client.get(f"/proctor/sessions/{sid}").get_data(as_text=True)
    assert "监考台" in html and "proctor.js" in html
    cand, aid, token, ents = sitting(app, exam)
    f.api(cand, token, aid, "heartbeat", {"events": [{"kind": "focus_loss"}, {"kind": "paste"}]})
    sc = by_type(ents, "single_choice")[0]
    f.api(cand, token, aid, "answers", {"item": sc["pi"], "seq": 1, "answer": sc["ids"][0]})
    data = client.get(f"/api/proctor/sessions/{sid}/state").get_json()
    row = next(r for r in data["rows"] if r["id"] == aid)
    assert row["status"] == "in_progress" and row["answered"] == 1 and row["total"] == 8
    assert row["online"] is True and row["logged_in"] is True and row["focus_loss"] == 1 and row["paste"] == 1
    assert row["id_masked"].count("*") == 8 and row["remaining_ms"] == 3600000 - 1000
    assert data["counts"]["in_progress"] == 1 and data["counts"]["not_started"] == 2
    exam["clock"].advance(seconds=20)
    row = next(r for r in client.get(f"/api/proctor/sessions/{sid}/state").get_json()["rows"] if r["id"] == aid)
    assert row["online"] is False


def test_start_by_proctor(app, users, station, proctor):
    c = clock.FrozenClock(T0 - _dt.timedelta(minutes=20))
    clock.set_clock(c)
    with app.app_context():
        info = f.make_session(n_candidates=2, station_id=station.id, auto_start=False)
    sid = info["session_id"]
    assert act(proctor, sid, action="start", reason="").status_code == 200  # 10 min early, within the login window
    assert act(proctor, sid, action="start").status_code == 409
    with app.app_context():
        att = db.session.get(ExamAttempt, info["attempts"][info["tickets"][0]])
        assert att.deadline == c() + _dt.timedelta(minutes=60)
    assert len(audit_rows(app, "exam.start")) == 1


def test_pause_freezes_time_and_resume_moves_the_deadline(app, exam, proctor):
    cand, aid, token, ents = sitting(app, exam)
    sid = exam["session_id"]
    assert act(proctor, sid, action="pause", attempt_id=aid).status_code == 422  # reason required
    assert act(proctor, sid, action="pause", attempt_id=aid, reason="设备故障").status_code == 200
    st = f.api(cand, token, aid, "heartbeat", {}).get_json()
    assert st["paused"] is True and st["remaining_ms"] == 3600000 - 1000
    exam["clock"].advance(minutes=5)
    assert f.api(cand, token, aid, "heartbeat", {}).get_json()["remaining_ms"] == 3600000 - 1000
    # a paused attempt is not timed out, even past its old deadline + grace
    exam["clock"].current = DEADLINE + _dt.timedelta(minutes=1)
    assert f.api(cand, token, aid, "heartbeat", {}).get_json()["status"] == "in_progress"
    assert act(proctor, sid, action="resume", attempt_id=aid, reason="已修复").status_code == 200
    st = f.api(cand, token, aid, "heartbeat", {}).get_json()
    assert st["paused"] is False and st["remaining_ms"] == 3600000 - 1000
    assert st["deadline"] == "2026-06-01T03:00:59Z"  # paused from 09:00:01 to 10:01:00, 59:59 left
    rows = audit_rows(app, "proctor.pause") + audit_rows(app, "proctor.resume")
    assert [r.reason for r in rows] == ["设备故障", "已修复"] and all(r.actor_label == "proctor" for r in rows)


def test_room_pause_resume_and_extend(app, exam, proctor):
    cand, aid, token, _ = sitting(app, exam)
    sid = exam["session_id"]
    assert act(proctor, sid, action="pause", reason="停电").status_code == 200
    assert f.api(cand, token, aid, "heartbeat", {}).get_json()["paused"] is True
    assert act(proctor, sid, action="resume", attempt_id=aid, reason="x").status_code == 409  # room paused
    exam["clock"].advance(minutes=2)
    assert act(proctor, sid, action="resume", reason="来电").status_code == 200
    assert act(proctor, sid, action="extend", minutes=0, reason="x").status_code == 422
    assert act(proctor, sid, action="extend", minutes=True, reason="x").status_code == 422
    assert act(proctor, sid, action="extend", minutes=10, reason="补时").status_code == 200
    st = f.api(cand, token, aid, "heartbeat", {}).get_json()
    assert st["deadline"] == "2026-06-01T02:12:00Z"  # 60 + 2 paused + 10 extra
    with app.app_context():
        others = [db.session.get(ExamAttempt, exam["attempts"][t]) for t in exam["tickets"][1:]]
        assert all(a.deadline == DEADLINE + _dt.timedelta(minutes=12) for a in others)
    assert audit_rows(app, "proctor.extend")[0].after["minutes"] == 10


def test_extend_one_candidate_with_reason(app, exam, proctor):
    cand, aid, token, _ = sitting(app, exam)
    assert act(proctor, exam["session_id"], action="extend", attempt_id=aid, minutes=15, reason="视力障碍").status_code == 200
    assert f.api(cand, token, aid, "heartbeat", {}).get_json()["remaining_ms"] == 75 * 60000 - 1000
    row = audit_rows(app, "proctor.extend")[0]
    assert row.before["deadline"].startswith("2026-06-01T02:00") and row.after["extra_seconds"] == 900


def test_force_submit_irregularity_unlock_and_collect_all(app, exam, proctor):
    cand, aid, token, ents = sitting(app, exam)
    cand2, aid2, token2, _ = sitting(app, exam, 1)
    sid = exam["session_id"]
    assert act(proctor, sid, action="irregularity", attempt_id=aid, reason="违纪", note="").status_code == 422
    assert act(proctor, sid, action="irregularity", attempt_id=aid, reason="违纪", note="夹带纸条").status_code == 200
    assert status_of(app, aid) == "in_progress"  # evidence, not a penalty
    assert act(proctor, sid, action="force_submit", attempt_id=aid, reason="严重违纪").status_code == 200
    assert f.api(cand, token, aid, "heartbeat", {}).get_json()["status"] == "submitted"
    assert act(proctor, sid, action="force_submit", attempt_id=aid, reason="again").status_code == 409
    assert act(proctor, sid, action="unlock", attempt_id=aid2, reason="换机").status_code == 200
    assert f.api(cand2, token2, aid2, "heartbeat", {}).status_code == 401
    assert act(proctor, sid, action="collect_all", reason="").status_code == 200
    assert status_of(app, aid2) == "submitted"
    assert {status_of(app, exam["attempts"][t]) for t in exam["tickets"][2:]} == {"absent"}
    with app.app_context():
        reasons = {a.submit_reason for a in db.session.execute(select(ExamAttempt)).scalars()}
        assert reasons == {"proctor", "collect_all"}
        kinds = [e.kind for e in db.session.execute(select(AttemptEvent).where(AttemptEvent.attempt_id == aid)).scalars()]
        assert "irregularity" in kinds and "proctor_force_submit" in kinds
    assert audit_rows(app, "proctor.collect_all")[0].reason == "统一收卷"
    assert act(proctor, sid, action="pause", reason="x").status_code == 409  # finished
    from examsys.services.audit import verify_chain
    with app.app_context():
        assert verify_chain() == (True, None)


def test_bad_actions_and_foreign_sessions(app, exam, proctor, make_user):
    sid = exam["session_id"]
    assert act(proctor, sid, action="explode", reason="x").status_code == 422
    assert act(proctor, sid, action="pause", attempt_id="1", reason="x").status_code == 404
    assert act(proctor, sid, action="pause", attempt_id=99999, reason="x").status_code == 404
    client, token = proctor
    r = client.post(f"/api/proctor/sessions/{sid}/actions", data="nope", headers={"X-CSRFToken": token},
                    content_type="application/json")
    assert r.status_code == 400
    r = client.post(f"/api/proctor/sessions/{sid}/actions", json={"action": "pause", "reason": "x"})
    assert r.status_code == 400  # no CSRF token
    # a proctor of another station sees nothing
    with app.app_context():
        st = Station(code="T-999", name="别的站", region="")
        db.session.add(st)
        db.session.commit()
        other_station = st.id
    make_user("proctor2", "proctor", station=other_station)
    other = app.test_client()
    login(other, "proctor2")
    assert other.get(f"/proctor/sessions/{sid}").status_code == 404
    assert other.get(f"/api/proctor/sessions/{sid}/state").status_code == 404
    r = other.post(f"/api/proctor/sessions/{sid}/actions", json={"action": "pause", "reason": "x"},
                   headers={"X-CSRFToken": csrf_token(other, "/")})
    assert r.status_code == 404
    # an examiner is refused
    ex = app.test_client()
    login(ex, "examiner")
    assert ex.get(f"/api/proctor/sessions/{sid}/state").status_code == 403


def test_candidate_cannot_call_the_proctor_api(app, exam):
    cand, aid, token, _ = sitting(app, exam)
    r = cand.post(f"/api/proctor/sessions/{exam['session_id']}/actions", json={"action": "extend", "minutes": 60,
                                                                              "attempt_id": aid, "reason": "x"},
                  headers={"X-CSRFToken": token})
    assert r.status_code == 401


def test_event_details_in_chinese_and_one_event_per_irregularity(app, exam, proctor):
    client, _ = proctor
    cand, aid, token, ents = sitting(app, exam)
    sid = exam["session_id"]
    assert act(proctor, sid, action="irregularity", attempt_id=aid, reason="巡视发现", note="夹带纸条").status_code == 200
    with app.app_context():
        kinds = [e.kind for e in db.session.execute(select(AttemptEvent).where(AttemptEvent.attempt_id == aid)).scalars()]
        assert kinds.count("irregularity") == 1 and "proctor_irregularity" not in kinds
    assert len(audit_rows(app, "proctor.irregularity")) == 1
    assert act(proctor, sid, action="collect_all", reason="").status_code == 200
    data = client.get(f"/api/proctor/sessions/{sid}/state").get_json()
    row = next(r for r in data["rows"] if r["id"] == aid)
    assert row["irregularity"] == 1
    texts = {(e["kind"], e["attempt"]): e["text"] for e in data["events"]}
    assert texts[("irregularity", aid)] == "原因：巡视发现，说明：夹带纸条"
    assert texts[("finalised", aid)] == "原因：统一收卷，状态：已交卷"
    assert texts[("proctor_collect_all", None)] == "原因：统一收卷，状态：已结束，交卷：3"
    absent = next(e["text"] for e in data["events"] if e["kind"] == "finalised" and e["attempt"] != aid)
    assert absent == "原因：统一收卷，状态：缺考"
    assert not any(code in e["text"] for e in data["events"] for code in ("collect_all", "absent", "finished"))
    client.get("/lang/en")
    data = client.get(f"/api/proctor/sessions/{sid}/state").get_json()
    texts = {(e["kind"], e["attempt"]): e["text"] for e in data["events"]}
    assert texts[("finalised", aid)] == "reason: all papers collected, status: Handed in"

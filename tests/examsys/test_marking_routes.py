"""Marking and results through the web: anonymised script pages, bad input (above the maximum, below zero,
off the step), marking what is not yours or after publication, adjudication without two marks, setup,
results pages, exports, the two-person change, re-marking and CSRF — clear messages, no 500, nothing changed."""
from __future__ import annotations

import io
import re

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from examsys.extensions import db
from examsys.models import CandidateResult, Mark, PaperItem, ResultChange, Script, User
from examsys.services import marking as marking_service
from examsys.services import results as results_service

from .conftest import csrf_token, login
from .test_marking_helpers import answer, finalise, items_of, make_practical_paper, scripts, sitting


@pytest.fixture
def world(app, users, station, make_user):
    """A finished sitting at the users' station: 2 candidates answered the short answer; a practical paper
    attached; ``examiner`` and ``examiner2`` assigned to every markable item; ``chief`` a chief examiner."""
    return make_world(app, users, station, make_user)


def make_world(app, users, station, make_user, **practical):
    make_user("examiner2", "examiner", station=station)
    make_user("chief", "examiner", station=station, is_chief=True)
    make_user("mgr2", "station_manager", station=station)
    make_user("lonely", "examiner", station=station)
    with app.app_context():
        s = sitting(n=2, station_id=station.id)
        for aid in s["attempts"].values():
            for pi, t, d in items_of(s, aid):
                answer(aid, pi, {"single_choice": "B", "multiple_choice": "AC", "true_false": True,
                                 "fill_blank": (d.get("answers") or [""])[0], "short_answer": "学生的答案"}[t])
            finalise(aid)
        mgr = db.session.get(User, users["station_manager"].id)
        paper = make_practical_paper(s["occupation_id"], station_id=station.id, **practical)
        sess = marking_service.get_session(s["session_id"])
        marking_service.save_settings(sess, mgr, double_marking=False, threshold_percent=10,
                                      practical_paper_id=paper.id, practical_form_label="A")
        ex = [db.session.execute(select(User).where(User.username == n)).scalar_one().id for n in ("examiner", "examiner2")]
        for it in marking_service.markable_items(sess):
            marking_service.set_assignments(sess, mgr, it["pi"], ex)
        s["constructed"] = [x.id for x in scripts(s["session_id"], kind="constructed")]
        s["practical"] = [x.id for x in scripts(s["session_id"], kind="practical")]
        s["candidate_names"] = ["考生1", "考生2"]
    return s


def _post(client, url, data, page=None):
    data = dict(data)
    data["csrf_token"] = csrf_token(client, page or url)
    return client.post(url, data=data)


def _marks(app):
    with app.app_context():
        return db.session.execute(select(func.count(Mark.id))).scalar_one()


def test_examiner_queue_and_anonymised_script_page(app, client, world):
    login(client, "examiner")
    html = client.get("/marking/").get_data(as_text=True)
    assert "分配给我的试题" in html and "评下一份" in html and "评分记录表" in html
    resp = client.get(f"/marking/next/{world['session_id']}/0")
    assert resp.status_code == 403
    sid = world["constructed"][0]
    html = client.get(f"/marking/script/{sid}").get_data(as_text=True)
    assert "学生的答案" in html and "SA-REFERENCE-SECRET" in html and "SA-POINT-SECRET" in html
    for t in world["tickets"]:
        assert t not in html
    for n in world["candidate_names"]:
        assert n not in html


@pytest.mark.parametrize("value, message", [
    ("4.5", "评分要点 1：4.5 超过了满分 4。"), ("-0.5", "评分要点 1：分数不能小于 0。"),
    ("1.2", "评分要点 1：1.2 不是 0.5 的整数倍。"), ("", "评分要点 1：请填写。"), ("abc", "评分要点 1：“abc”不是数字。"),
])
def test_bad_scores_answer_422_with_the_field_and_change_nothing(app, client, world, value, message):
    login(client, "examiner")
    sid = world["constructed"][0]
    resp = _post(client, f"/marking/script/{sid}", {"p0": value, "comment": ""})
    assert resp.status_code == 422
    assert message in resp.get_data(as_text=True)
    assert _marks(app) == 0


def test_good_mark_then_next_script(app, client, world):
    login(client, "examiner")
    sid = world["constructed"][0]
    page = client.get(f"/marking/script/{sid}").get_data(as_text=True)
    opened = re.search(r'name="opened" value="([^"]+)"', page).group(1)
    resp = _post(client, f"/marking/script/{sid}", {"p0": "3.5", "comment": "要点齐全", "opened": opened})
    assert resp.status_code == 302 and "/marking/next/" in resp.headers["Location"]
    resp = client.get(resp.headers["Location"])
    assert resp.status_code == 302 and f"/marking/script/{world['constructed'][1]}" in resp.headers["Location"]
    with app.app_context():
        m = db.session.execute(select(Mark)).scalar_one()
        assert m.score == 3.5 and m.seconds is not None and 0 <= m.seconds < 60


def test_marking_not_assigned_to_you(app, client, world):
    login(client, "lonely")
    sid = world["constructed"][0]
    assert client.get(f"/marking/script/{sid}").status_code == 403
    resp = _post(client, f"/marking/script/{sid}", {"p0": "1"}, page="/marking/")
    assert resp.status_code == 403
    assert client.get("/marking/script/999999").status_code == 404
    assert _marks(app) == 0


def test_practical_sheet_via_the_web(app, client, world):
    login(client, "examiner")
    with app.app_context():
        sc = db.session.get(Script, world["practical"][0])
        pi, sess_id = sc.paper_item_id, sc.session_id
    html = client.get(f"/marking/task/{sess_id}/{pi}").get_data(as_text=True)
    assert "01 号工位" in html and "02 号工位" in html
    page = client.get(f"/marking/script/{world['practical'][0]}").get_data(as_text=True)
    assert "否决项" in page and "发生安全事故" in page and 'name="c1" value="A"' in page
    resp = _post(client, f"/marking/script/{world['practical'][0]}", {"c0": "11", "c1": "A", "c2": "B"})
    assert resp.status_code == 422 and "评分项 1：11 超过了满分 10。" in resp.get_data(as_text=True)
    resp = _post(client, f"/marking/script/{world['practical'][0]}", {"c0": "1", "c1": "Q", "c2": "B"})
    assert resp.status_code == 422 and "评分项 2：请选择 A–E 等级。" in resp.get_data(as_text=True)
    resp = _post(client, f"/marking/script/{world['practical'][0]}",
                 {"c0": "1.5", "c1": "A", "c2": "B", "notes": "粗糙度稍差"})
    assert resp.status_code == 302
    with app.app_context():
        sc = db.session.get(Script, world["practical"][0])
        assert (sc.status, sc.final_score) == ("marked", 8.5 + 5 + 4)
    # veto zeroes the task
    resp = _post(client, f"/marking/script/{world['practical'][1]}", {"c0": "0", "c1": "A", "c2": "A", "veto": "0"})
    assert resp.status_code == 302
    with app.app_context():
        assert db.session.get(Script, world["practical"][1]).final_score == 0.0


def test_weighted_practical_sheet_shows_sheet_score_and_weighted_points(app, client, users, station, make_user):
    """The criteria are on the sheet's own scale (here 20 points) while the task counts 6 points (weight 30%):
    the page says both and the stored score is the weighted one."""
    world = make_world(app, users, station, make_user, points=(6.0, 4.0), weights=(30.0, 20.0))
    login(client, "examiner")
    sid = world["practical"][0]
    with app.app_context():
        pi = db.session.get(PaperItem, db.session.get(Script, sid).paper_item_id)
        assert pi.points == 6.0 and pi.weight == 30.0
    page = client.get(f"/marking/script/{sid}").get_data(as_text=True)
    assert "计入成绩 6 分（评分表满分 20，权重 30%）" in page and "满分 6" not in page
    assert ('评分 <strong id="live-raw">—</strong> / 20 → 按权重 30% 计 <strong id="live-total">—</strong> 分'
            in page)
    assert _post(client, f"/marking/script/{sid}", {"c0": "1.5", "c1": "A", "c2": "B"}).status_code == 302
    with app.app_context():
        assert db.session.get(Script, sid).final_score == pytest.approx((8.5 + 5 + 4) * 6 / 20)
    page = client.get(f"/marking/script/{sid}").get_data(as_text=True)
    assert "已保存：5.25" in page
    client.get("/lang/en")
    page = client.get(f"/marking/script/{sid}").get_data(as_text=True)
    assert "Counts for 6 points (scoring sheet out of 20, weight 30%)" in page
    assert "→ at a weight of 30% it counts" in page


def test_absent_button(app, client, world):
    login(client, "examiner")
    sid = world["practical"][0]
    resp = _post(client, f"/marking/script/{sid}/absent", {}, page=f"/marking/script/{sid}")
    assert resp.status_code == 302
    with app.app_context():
        assert db.session.get(Script, sid).status == "absent"
    resp = _post(client, f"/marking/script/{sid}/absent", {"undo": "1"}, page=f"/marking/script/{sid}")
    assert resp.status_code == 302
    with app.app_context():
        assert db.session.get(Script, sid).status == "pending"


def test_adjudication_routes(app, client, world):
    login(client, "chief")
    sid = world["constructed"][0]
    resp = _post(client, f"/marking/adjudicate/{sid}", {"p0": "2", "comment": "x"}, page="/marking/")
    assert resp.status_code == 409
    assert "仲裁需要两次独立评分，该答卷只有 0 次。" in resp.get_data(as_text=True)
    client2 = app.test_client()
    login(client2, "examiner")
    assert client2.get(f"/marking/adjudicate/{sid}").status_code == 403
    assert client.get("/marking/").status_code == 200


def test_marking_after_publication_is_refused(app, client, world, users):
    with app.app_context():
        # finish all marks and publish
        ex = db.session.execute(select(User).where(User.username == "examiner")).scalar_one()
        for sid in world["constructed"]:
            marking_service.submit_mark(ex, sid, marking_service.SheetInput(point_scores=["2"]))
        for sid in world["practical"]:
            marking_service.submit_mark(ex, sid, marking_service.SheetInput(
                criteria=[{"deduction": "0"}, {"level": "A"}, {"level": "A"}]))
        results_service.publish(marking_service.get_session(world["session_id"]),
                                db.session.get(User, users["station_manager"].id))
        n = db.session.execute(select(func.count(Mark.id))).scalar_one()
    login(client, "examiner2")
    resp = _post(client, f"/marking/script/{world['practical'][0]}", {"c0": "0", "c1": "A", "c2": "A"},
                 page="/marking/")
    assert resp.status_code == 409
    assert "本场次成绩已发布" in resp.get_data(as_text=True)
    assert _marks(app) == n


def test_setup_page_and_bad_settings(app, client, world):
    login(client, "station_manager")
    url = f"/marking/setup/{world['session_id']}"
    html = client.get(url).get_data(as_text=True)
    assert "评分设置" in html and "操作技能试卷（现场评分）" in html
    resp = _post(client, url, {"threshold_percent": "150", "practical_paper_id": ""})
    assert resp.status_code == 422 and "阈值（占满分的百分比） 必须是 0 至 100 之间的数。" in resp.get_data(as_text=True)
    resp = _post(client, url, {"threshold_percent": "10", "practical_paper_id": "999:A"})
    assert resp.status_code == 422 and "操作技能试卷" in resp.get_data(as_text=True)
    with app.app_context():
        pi = db.session.get(Script, world["practical"][0]).paper_item_id
    resp = _post(client, f"{url}/item/{pi}", {"double": "double", "threshold_percent": "abc"}, page=url)
    assert resp.status_code == 422
    resp = _post(client, f"{url}/item/{pi}", {"double": "double", "threshold_percent": "5", "examiners": ["x"]}, page=url)
    assert resp.status_code == 422 and "考评员" in resp.get_data(as_text=True)
    resp = _post(client, f"{url}/mark", {}, page=url)
    assert resp.status_code == 302


def test_other_stations_manager_sees_nothing(app, client, world, make_user):
    from examsys.models import Station
    with app.app_context():
        st = Station(code="Z-1", name="远方站", region="")
        db.session.add(st)
        db.session.commit()
        st_id = st.id
    make_user("farmgr", "station_manager", station=st_id)
    login(client, "farmgr")
    for url in (f"/marking/setup/{world['session_id']}", f"/results/session/{world['session_id']}",
                f"/results/session/{world['session_id']}/export.xlsx", f"/results/examiners/{world['session_id']}"):
        assert client.get(url).status_code == 404, url
    assert client.get(f"/results/export.xlsx?station_id={world['station_id']}").status_code == 403
    html = client.get("/results/").get_data(as_text=True)
    assert "测试场次" not in html


def _finish(app, world, users):
    with app.app_context():
        ex = db.session.execute(select(User).where(User.username == "examiner")).scalar_one()
        for sid in world["constructed"]:
            marking_service.submit_mark(ex, sid, marking_service.SheetInput(point_scores=["4"]))
        for sid in world["practical"]:
            marking_service.submit_mark(ex, sid, marking_service.SheetInput(
                criteria=[{"deduction": "0"}, {"level": "A"}, {"level": "A"}]))


def test_results_publish_export_report_and_change(app, client, world, users):
    _finish(app, world, users)
    login(client, "station_manager")
    url = f"/results/session/{world['session_id']}"
    html = client.get(url).get_data(as_text=True)
    assert world["tickets"][0] in html and "合格" in html and "发布成绩" in html
    resp = _post(client, f"{url}/publish", {}, page=url)
    assert resp.status_code == 302
    resp = client.get(f"{url}/export.xlsx")
    assert resp.status_code == 200 and resp.mimetype.endswith("spreadsheetml.sheet")
    rows = list(load_workbook(io.BytesIO(resp.data), read_only=True).worksheets[0].iter_rows(values_only=True))
    assert len(rows) == 3 and {r[6] for r in rows[1:]} == set(world["tickets"])
    for full in world["ids"].values():
        assert full not in repr(rows)
    assert client.get("/results/export.xlsx?grade=9").status_code == 400
    assert client.get("/results/export.xlsx?grade=x").status_code == 400
    assert client.get("/results/export.xlsx?grade=4").status_code == 200
    with app.app_context():
        rid = db.session.execute(select(CandidateResult.id).order_by(CandidateResult.id)).scalars().first()
    html = client.get(f"/results/report/{rid}").get_data(as_text=True)
    assert "职业技能鉴定成绩单" in html and "********" in html
    for full in world["ids"].values():
        assert full not in html
    # request a change: no reason -> 422; then a good request; the same person cannot approve
    resp = _post(client, f"/results/result/{rid}/change", {"theory_score": "90", "reason": ""})
    assert resp.status_code == 422 and "原因：请说明更改的原因。" in resp.get_data(as_text=True)
    resp = _post(client, f"/results/result/{rid}/change", {"theory_score": "90", "reason": "复核"})
    assert resp.status_code == 302
    with app.app_context():
        ch_id = db.session.execute(select(ResultChange.id)).scalar_one()
    resp = _post(client, f"/results/changes/{ch_id}/decide", {"decision": "approve"}, page="/results/changes")
    assert resp.status_code == 403 and "须由另一人审批" in resp.get_data(as_text=True)
    client2 = app.test_client()
    login(client2, "mgr2")
    html = client2.get("/results/changes").get_data(as_text=True)
    assert "复核" in html and ">通过<" in html
    resp = _post(client2, f"/results/changes/{ch_id}/decide", {"decision": "approve", "note": "同意"},
                 page="/results/changes")
    assert resp.status_code == 302
    with app.app_context():
        assert db.session.get(CandidateResult, rid).theory_score == 90.0


def test_examiner_stats_rules_and_remark_pages(app, client, world, users):
    _finish(app, world, users)
    login(client, "station_manager")
    html = client.get(f"/results/examiners/{world['session_id']}").get_data(as_text=True)
    assert "考评员统计" in html and "ICC(2,1)" in html
    assert "合格规则" in client.get("/results/rules").get_data(as_text=True)
    resp = _post(client, "/results/rules", {"grade": "4", "parts": ["theory"], "pass_mark": "60"}, page="/results/rules")
    assert resp.status_code == 403
    with app.app_context():
        from examsys.models import PaperItem
        aid = next(iter(world["attempts"].values()))
        pi = [p for p, t, _d in items_of(world, aid) if t == "single_choice"][0]
        iv = db.session.get(PaperItem, pi).item_version_id
    url = f"/results/remark/{iv}"
    resp = _post(client, url, {"new_key": "Z", "action": "preview"})
    assert resp.status_code == 422 and "新答案" in resp.get_data(as_text=True)
    resp = _post(client, url, {"new_key": "C", "action": "preview"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "涉及 2 份答卷" in html
    digest = re.search(r'name="digest" value="([0-9a-f]{64})"', html).group(1)
    resp = _post(client, url, {"new_key": "C", "action": "apply", "digest": digest, "reason": ""})
    assert resp.status_code == 422 and "原因" in resp.get_data(as_text=True)
    resp = _post(client, url, {"new_key": "C", "action": "apply", "digest": digest, "reason": "答案更正"})
    assert resp.status_code == 302


def test_review_entry_via_the_web_for_grade_2(app, client, users, station):
    with app.app_context():
        s = sitting(n=1, station_id=station.id, grade=2)
        for aid in s["attempts"].values():
            finalise(aid)
        cid = db.session.execute(select(CandidateResult.candidate_id)).scalar_one()
    login(client, "station_manager")
    url = f"/results/session/{s['session_id']}"
    html = client.get(url).get_data(as_text=True)
    assert f'name="review_{cid}"' in html
    resp = _post(client, f"{url}/review", {f"review_{cid}": "abc"}, page=url)
    assert resp.status_code == 422 and "综合评审成绩" in resp.get_data(as_text=True)
    resp = _post(client, f"{url}/review", {f"review_{cid}": "88.5"}, page=url)
    assert resp.status_code == 302
    with app.app_context():
        assert db.session.execute(select(CandidateResult.review_score)).scalar_one() == 88.5


def test_posts_need_the_csrf_token(app, client, world):
    login(client, "examiner")
    resp = client.post(f"/marking/script/{world['constructed'][0]}", data={"p0": "1"})
    assert resp.status_code == 400
    assert _marks(app) == 0

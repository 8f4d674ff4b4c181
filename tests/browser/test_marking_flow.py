"""Two examiners mark a practical task on the tablet page, disagree beyond the threshold, the chief examiner
adjudicates, the station manager publishes, and the adjudicated result appears in the published export."""
from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook

from examsys import clock
from examsys.extensions import db

from .conftest import staff_login

pytestmark = pytest.mark.browser


@pytest.fixture
def practical_session(live_app, users):
    from examsys.models import User
    from examsys.services import marking as marking_service
    from tests.examsys.test_marking_helpers import answer, finalise, items_of, make_practical_paper, sitting

    try:
        with live_app.app_context():
            s = sitting(n=1, station_id=users["station_id"],
                        per_type={"single_choice": 2, "true_false": 1})  # theory fully machine-marked
            (aid,) = s["attempts"].values()
            for pi, t, _d in items_of(s, aid):
                answer(aid, pi, "B" if t == "single_choice" else True)
            finalise(aid)
            paper = make_practical_paper(s["occupation_id"], station_id=users["station_id"], weights=(100.0,),
                                         points=(20.0,))
            mgr = db.session.get(User, users["station_manager"])
            sess = marking_service.get_session(s["session_id"])
            marking_service.save_settings(sess, mgr, double_marking=True, threshold_percent=10,
                                          practical_paper_id=paper.id, practical_form_label="A")
            (task,) = [it for it in marking_service.markable_items(sess) if it["part"] == "practical"]
            marking_service.set_assignments(sess, mgr, task["pi"], [users["examiner"], users["examiner2"]])
        yield s
    finally:
        clock.set_clock(None)


def _mark(page, server, username, deduction, levels):
    staff_login(page, server, username)
    page.click("nav.mainnav a:has-text('评分')")
    page.click("text=评分记录表")
    page.click(".tile.candidate")
    page.fill("input[name=c0]", deduction)
    for i, lv in levels.items():
        page.click(f"label.level:has(input[name=c{i}][value={lv}])")
    assert page.locator("#live-total").inner_text() != "—"
    page.click("#save-mark")
    page.wait_for_selector(".flash-success")
    page.click("text=退出登录")


def test_double_marking_adjudication_and_published_export(browser, live_server, practical_session):
    ctx = browser.new_context(locale="zh-CN", viewport={"width": 1024, "height": 768}, accept_downloads=True)
    page = ctx.new_page()
    page.set_default_timeout(10_000)
    try:
        # examiner 1: 20 of 20; examiner 2: 10 - 4 + 5 + 4 = 15 -> 5 points apart > 10 % of 20
        _mark(page, live_server, "examiner", "0", {1: "A", 2: "A"})
        _mark(page, live_server, "examiner2", "4", {1: "A", 2: "B"})

        # the chief examiner sees both marks and decides
        staff_login(page, live_server, "chief")
        page.click("nav.mainnav a:has-text('评分')")
        page.click("#adjudication-queue a.button")
        marks = page.locator("#marks-to-adjudicate td.score").all_inner_texts()
        assert sorted(marks) == ["15", "20"]
        page.fill("input[name=c0]", "2")
        page.click("label.level:has(input[name=c1][value=A])")
        page.click("label.level:has(input[name=c2][value=A])")
        page.click("#save-mark")  # without a reason: refused, nothing saved
        assert "评语：请说明仲裁分的理由。" in page.locator(".problems").inner_text()
        page.click("label.level:has(input[name=c1][value=A])")
        page.click("label.level:has(input[name=c2][value=A])")
        page.fill("textarea[name=comment]", "复测 Φ40，超差 0.01，扣 2 分")
        page.click("#save-mark")
        page.wait_for_selector(".flash-success")
        page.click("text=退出登录")

        # the station manager publishes and exports
        staff_login(page, live_server, "station_manager")
        page.goto(live_server.url + "/results/")
        page.click("#result-sessions a:has-text('测试场次')")
        row = page.locator("#results-table tbody tr").first
        assert "90.0" in row.inner_text() and "已仲裁" in row.inner_text()
        page.once("dialog", lambda d: d.accept())
        page.click("#publish")
        page.wait_for_selector("#published-badge")
        with page.expect_download() as dl:
            page.click("#export-session")
        with open(dl.value.path(), "rb") as f:
            data = f.read()
        wb = load_workbook(io.BytesIO(data), read_only=True)
        rows = list(wb.worksheets[0].iter_rows(values_only=True))
        wb.close()
        assert len(rows) == 2
        r = rows[1]
        assert r[6] == practical_session["tickets"][0] and "********" in r[8]
        assert (r[9], r[11], r[12], r[15], r[16]) == (100.0, 90.0, "已仲裁", "合格", "是")
    finally:
        ctx.close()


@pytest.fixture
def weighted_practical_session(live_app, users):
    """A practical task whose sheet is scored of 20 but counts 6 points (weight 30 %)."""
    from examsys.models import User
    from examsys.services import marking as marking_service
    from tests.examsys.test_marking_helpers import finalise, make_practical_paper, sitting

    try:
        with live_app.app_context():
            s = sitting(n=1, station_id=users["station_id"], per_type={"single_choice": 1})
            finalise(next(iter(s["attempts"].values())))
            paper = make_practical_paper(s["occupation_id"], station_id=users["station_id"], weights=(30.0,),
                                         points=(6.0,))
            mgr = db.session.get(User, users["station_manager"])
            sess = marking_service.get_session(s["session_id"])
            marking_service.save_settings(sess, mgr, double_marking=False, threshold_percent=10,
                                          practical_paper_id=paper.id, practical_form_label="A")
            (task,) = [it for it in marking_service.markable_items(sess) if it["part"] == "practical"]
            marking_service.set_assignments(sess, mgr, task["pi"], [users["examiner"]])
        yield s
    finally:
        clock.set_clock(None)


def test_weighted_sheet_shows_the_sheet_score_and_the_weighted_points_live(page, live_server,
                                                                           weighted_practical_session):
    staff_login(page, live_server, "examiner")
    page.click("nav.mainnav a:has-text('评分')")
    page.click("text=评分记录表")
    page.click(".tile.candidate")
    assert page.locator("#sheet-maximum").inner_text() == "计入成绩 6 分（评分表满分 20，权重 30%）"
    page.fill("input[name=c0]", "1.5")
    page.click("label.level:has(input[name=c1][value=A])")
    page.click("label.level:has(input[name=c2][value=B])")
    assert page.locator("#sheet-total").inner_text().startswith("评分 17.5 / 20 → 按权重 30% 计 5.25 分")
    page.check("input[name=veto][value='0']")
    assert page.locator("#live-raw").inner_text() == "0" and page.locator("#live-total").inner_text() == "0"

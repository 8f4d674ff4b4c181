"""A full sitting in a real browser: ticket login, 核对信息, answering (mouse and keyboard), reload (same order,
same answers), a network cut (answers queued and flushed in order, loud warning meanwhile), time running out
(page.clock), server finalisation and the handed-in page."""
from __future__ import annotations

import datetime as _dt
import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from examsys import clock
from examsys.extensions import db
from examsys.models import ExamAttempt, ExamResponse

from tests.examsys import factories as f

pytestmark = pytest.mark.browser

T0 = f.T0
DEADLINE = T0 + _dt.timedelta(minutes=60)


@pytest.fixture
def exam(live_app):
    clk = clock.FrozenClock(T0 - _dt.timedelta(minutes=5))
    clock.set_clock(clk)
    with live_app.app_context():
        info = f.make_session(n_candidates=2, duration_min=60, grace_seconds=30)
    clk.current = T0 + _dt.timedelta(seconds=1)
    info["clock"] = clk
    yield info
    clock.set_clock(None)


def candidate_login(page, server, exam, k=0):
    ticket = exam["tickets"][k]
    page.goto(server.url + "/exam/login")
    page.fill("input[name=ticket]", ticket)
    page.fill("input[name=credential]", exam["ids"][ticket][-6:])
    page.click("button[type=submit]")
    expect(page.locator("#cand-name")).to_have_text(f"考生{k + 1}")
    expect(page.locator("#cand-id")).to_have_text(re.compile(r"^\d{6}\*{8}\d{3}[\dX]$"))
    page.click("#confirm-btn")
    page.wait_for_url(server.url + "/exam/paper")
    expect(page.locator("#timer")).to_have_text(re.compile(r"00:59:\d\d"))
    return exam["attempts"][ticket]


def layout_snapshot(page):
    return page.eval_on_selector_all(
        "#answers .question",
        "els => els.map(e => [e.dataset.item, Array.from(e.querySelectorAll('.answer input')).map(i => i.value)])")


def current(page):
    return page.locator("#answers .question.current")


def saved(page, pi):
    expect(page.locator(f"#q-{pi} .save-state")).to_have_text(re.compile(r"已保存 \d\d:\d\d:\d\d"), timeout=10_000)


def stored(app, aid):
    with app.app_context():
        return {r.paper_item_id: (r.answer, r.seq, r.flagged) for r in db.session.execute(
            select(ExamResponse).where(ExamResponse.attempt_id == aid)).scalars()}


def test_full_sitting(page, context, live_server, live_app, exam):
    page.clock.install()
    aid = candidate_login(page, live_server, exam)
    order = layout_snapshot(page)
    types = page.eval_on_selector_all("#answers .question", "els => els.map(e => e.dataset.type)")
    items = [int(i) for i, _ in order]
    assert len(items) == 8 and page.locator("#answers .question.current").count() == 1
    assert "SECRET" not in page.content()

    # answer half of the paper: mouse for the first, keyboard for the next ones
    q = current(page)
    q.locator("label.option").nth(1).click()                              # 1: single choice, option B
    saved(page, items[0])
    page.locator("#q-%d .next" % items[0]).click()
    page.keyboard.press("A")                                              # 2: single choice, option A
    page.keyboard.press("M")                                              #    marked for review
    saved(page, items[1])
    expect(page.locator(f'#qnav .qbtn[data-item="{items[1]}"]')).to_have_class(re.compile("flagged"))
    page.keyboard.press("ArrowRight")
    page.keyboard.press("A")                                              # 3: multiple choice A + C
    page.keyboard.press("C")
    saved(page, items[2])
    page.locator(f'#qnav .qbtn[data-item="{items[5]}"]').click()          # 6: true/false via the panel
    assert types[5] == "true_false"
    page.keyboard.press("F")
    saved(page, items[5])
    expect(page.locator(f'#qnav .qbtn[data-item="{items[0]}"]')).to_have_class(re.compile("answered"))
    expect(page.locator(f'#qnav .qbtn[data-item="{items[3]}"]')).not_to_have_class(re.compile("answered"))
    s = stored(live_app, aid)
    assert set(s) == {items[0], items[1], items[2], items[5]} and s[items[1]][2] is True
    assert s[items[5]][0] is False and len(s[items[2]][0]) == 2

    page.click("#font-toggle")
    expect(page.locator("body")).to_have_class(re.compile("large-font"))

    # reload: same order, same options, every acknowledged answer shown. The paper came as the reply to the
    # confirmation's POST; its history entry was replaced with /exam/paper, so the reload is a GET of that
    with page.expect_request(lambda r: r.is_navigation_request()) as nav:
        page.reload()
    assert (nav.value.method, nav.value.url) == ("GET", live_server.url + "/exam/paper")
    assert layout_snapshot(page) == order
    expect(page.locator(f"#q-{items[0]} .answer input").nth(1)).to_be_checked()
    expect(page.locator(f"#q-{items[2]} .answer input").nth(0)).to_be_checked()
    expect(page.locator(f"#q-{items[2]} .answer input").nth(2)).to_be_checked()
    expect(page.locator(f'#q-{items[5]} input[value="false"]')).to_be_checked()
    expect(page.locator(f"#q-{items[1]} .flag-box")).to_be_checked()

    # the network goes away: answers are queued, nothing is shown as saved, the warning is loud
    assert types[6] == "fill_blank" and types[7] == "short_answer"
    context.set_offline(True)
    page.locator(f'#qnav .qbtn[data-item="{items[6]}"]').click()
    page.fill(f"#q-{items[6]} input[type=text]", "12.5")
    page.locator(f'#qnav .qbtn[data-item="{items[7]}"]').click()
    page.fill(f"#q-{items[7]} textarea", "切削速度、进给量、背吃刀量")
    page.locator(f'#qnav .qbtn[data-item="{items[4]}"]').click()         # blur: the text answer is queued at once
    page.keyboard.press("T")
    expect(page.locator("#save-alert")).to_be_visible(timeout=10_000)
    expect(page.locator("#save-alert")).to_contain_text("尚未保存")
    expect(page.locator(f"#q-{items[6]} .save-state")).not_to_have_text(re.compile("已保存"))
    expect(page.locator("#conn")).to_contain_text("中断", timeout=10_000)
    assert set(stored(live_app, aid)) == {items[0], items[1], items[2], items[5]}
    page.clock.run_for(5_000)  # retries while offline fail and keep the queue
    context.set_offline(False)
    page.clock.run_for(11_000)
    for pi in (items[6], items[7], items[4]):
        saved(page, pi)
    expect(page.locator("#save-alert")).to_be_hidden()
    s = stored(live_app, aid)
    assert s[items[6]][0] == "12.5" and s[items[7]][0] == "切削速度、进给量、背吃刀量" and s[items[4]][0] is True
    assert s[items[6]][1] < s[items[7]][1] < s[items[4]][1]  # flushed in the order given

    # time runs out: the server's time passes the deadline, the page's countdown reaches zero
    exam["clock"].current = DEADLINE + _dt.timedelta(seconds=1)
    page.clock.fast_forward("01:00:00")
    page.wait_for_url(live_server.url + "/exam/paper", timeout=10_000)
    expect(page.locator("#done h1")).to_have_text("您的答卷已提交", timeout=10_000)
    expect(page.locator("#answered-count")).to_have_text("7")
    with live_app.app_context():
        att = db.session.get(ExamAttempt, aid)
        assert att.status == "submitted" and att.submit_reason == "timeout" and att.answered_count == 7


def test_server_finalises_when_the_browser_is_silent(page, live_server, live_app, exam):
    """The page was closed; at deadline + grace the server hands in from the last saved answers and a
    returning page shows the handed-in state."""
    page.clock.install()
    aid = candidate_login(page, live_server, exam)
    q = current(page)
    q.locator("label.option").nth(0).click()
    pi = int(q.get_attribute("data-item"))
    saved(page, pi)
    page.goto("about:blank")
    exam["clock"].current = DEADLINE + _dt.timedelta(seconds=31)
    from examsys.services import sweeper
    assert sweeper.sweep_once(live_app) == 2  # this attempt (submitted) and the absent candidate
    page.goto(live_server.url + "/exam/paper")
    expect(page.locator("#done h1")).to_have_text("您的答卷已提交")
    expect(page.locator("#done")).to_contain_text("考试时间已到")


def test_submit_lists_unanswered_and_confirms(page, live_server, live_app, exam):
    page.clock.install()
    aid = candidate_login(page, live_server, exam, k=1)
    current(page).locator("label.option").nth(2).click()
    saved(page, int(current(page).get_attribute("data-item")))
    page.click("#submit-btn")
    expect(page.locator("#confirm-unanswered")).to_have_text("未作答的题目：2, 3, 4, 5, 6, 7, 8")
    page.click("#confirm-cancel")
    with live_app.app_context():
        assert db.session.get(ExamAttempt, aid).status == "in_progress"
    page.click("#submit-btn")
    page.click("#confirm-ok")
    expect(page.locator("#done h1")).to_have_text("您的答卷已提交", timeout=10_000)
    with live_app.app_context():
        att = db.session.get(ExamAttempt, aid)
        assert att.status == "submitted" and att.submit_reason == "candidate" and att.answered_count == 1


def test_waiting_room_opens_the_paper_at_the_start(page, live_server, live_app, exam):
    exam["clock"].current = T0 - _dt.timedelta(minutes=2)
    ticket = exam["tickets"][0]
    page.goto(live_server.url + "/exam/login")
    page.fill("input[name=ticket]", ticket)
    page.fill("input[name=credential]", exam["ids"][ticket][-6:])
    page.click("button[type=submit]")
    page.click("#confirm-btn")
    expect(page.locator("#waiting h1")).to_have_text("等待开考")
    expect(page.locator("#start-timer")).to_have_text(re.compile(r"00:0[12]:\d\d"))
    exam["clock"].current = T0 + _dt.timedelta(seconds=3)
    expect(page.locator("#timer")).to_have_text(re.compile(r"00:59:5\d"), timeout=8_000)
    with live_app.app_context():
        assert db.session.get(ExamAttempt, exam["attempts"][ticket]).status == "in_progress"

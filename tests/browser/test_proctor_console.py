"""The proctor console against an open candidate page: extra time and a pause reach the candidate's page
within 5 s without a reload; the live table shows the candidate and their focus-loss signals."""
from __future__ import annotations

import datetime as _dt
import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from examsys import clock
from examsys.extensions import db
from examsys.models import AuditLog

from tests.examsys import factories as f

from .conftest import staff_login
from .test_sitting import T0, candidate_login

pytestmark = pytest.mark.browser


@pytest.fixture
def exam(live_app, users):
    clk = clock.FrozenClock(T0 - _dt.timedelta(minutes=5))
    clock.set_clock(clk)
    with live_app.app_context():
        info = f.make_session(n_candidates=2, duration_min=60, station_id=users["station_id"])
    clk.current = T0 + _dt.timedelta(seconds=1)
    info["clock"] = clk
    yield info
    clock.set_clock(None)


def proctor_action(console, row, action, reason, minutes=None):
    row.locator(f'button[data-action="{action}"]').click()
    if minutes is not None:
        console.fill("#action-minutes", str(minutes))
    console.fill("#action-reason", reason)
    console.click("#action-ok")
    expect(console.locator("#console-msg")).to_have_text("已完成。")


def test_extra_time_and_pause_reach_the_candidate_within_5_s(page, browser, live_server, live_app, exam):
    live_app.config["PROCTOR_POLL_MS"] = 1000  # the console's own refresh; the candidate side is unchanged
    candidate_login(page, live_server, exam)
    page.evaluate("window.dispatchEvent(new Event('blur'))")  # a focus loss, reported with the next heartbeat
    proctor_ctx = browser.new_context(locale="zh-CN", viewport={"width": 1400, "height": 900})
    try:
        console = proctor_ctx.new_page()
        console.set_default_timeout(10_000)
        staff_login(console, live_server, "proctor")
        console.goto(live_server.url + f"/proctor/sessions/{exam['session_id']}")
        row = console.locator("#live tbody tr", has_text="考生1")
        expect(row.locator("td.status")).to_have_text("答题中")
        expect(row).to_contain_text("在线")
        expect(row.locator("td").nth(10)).to_have_text("1", timeout=10_000)  # focus lost once

        proctor_action(console, row, "extend", "考场停电补时", minutes=10)
        expect(page.locator("#timer")).to_have_text(re.compile(r"01:09:\d\d"), timeout=5_000)

        row = console.locator("#live tbody tr", has_text="考生1")
        proctor_action(console, row, "pause", "设备故障")
        expect(page.locator("#overlay")).to_be_visible(timeout=5_000)
        expect(page.locator("#overlay-text")).to_have_text("监考员已暂停考试，请等待。")
        row = console.locator("#live tbody tr", has_text="考生1")
        proctor_action(console, row, "resume", "已修复")
        expect(page.locator("#overlay")).to_be_hidden(timeout=5_000)

        row = console.locator("#live tbody tr", has_text="考生1")
        proctor_action(console, row, "force_submit", "违纪")
        expect(page.locator("#done h1")).to_have_text("您的答卷已提交", timeout=8_000)
        expect(page.locator("#done")).to_contain_text("监考员已为您交卷")
    finally:
        proctor_ctx.close()
    with live_app.app_context():
        actions = [a.action for a in db.session.execute(select(AuditLog).where(
            AuditLog.action.like("proctor.%")).order_by(AuditLog.id)).scalars()]
    assert actions == ["proctor.extend", "proctor.pause", "proctor.resume", "proctor.force_submit"]

"""Blueprints and papers in the browser: derive from the weight tables, a bad blueprint named by field,
save, assemble A/B forms, the constraint report, an infeasible request explained, the print view and PDF."""
from __future__ import annotations

import re

import pytest
import yaml

from tests.examsys import papers_support as S

from .conftest import staff_login

pytestmark = pytest.mark.browser


def test_blueprint_to_paper(live_server, live_app, users, page):
    S.seed_bank(live_app)
    staff_login(page, live_server, "admin")
    page.click("text=组卷方案与试卷")
    page.click("#new-blueprint")
    page.select_option("select[name=occupation_id]", label="9-99-01-01 数控测试工")
    page.select_option("select[name=grade]", "4")
    page.select_option("select[name=preset]", "standard-100")
    page.click("#derive")
    spec = yaml.safe_load(page.input_value("textarea[name=spec]"))
    assert spec["theory"]["areas"]["weights"] == {"A": 40, "B": 60}

    bad = S.blueprint()
    bad["theory"]["areas"]["weights"] = {"A": 40, "Q": 60}
    page.fill("textarea[name=spec]", yaml.safe_dump(bad, allow_unicode=True))
    page.fill("input[name=name]", "浏览器方案")
    page.click("#save")
    problems = page.locator(".problems li").all_inner_texts()
    assert any("theory.areas.weights.Q" in p for p in problems), problems

    page.fill("textarea[name=spec]", yaml.safe_dump(S.blueprint(), allow_unicode=True))
    page.click("#save")
    page.wait_for_selector("#spec-hash")
    assert "组卷方案已保存" in page.inner_text(".flash-success")

    # infeasible: too many forms for the bank — explained, nothing stored
    page.fill("input[name=forms]", "9")
    page.fill("input[name=seed]", "3")
    page.click("#assemble-button")
    assert "X 鉴定点 A-A-001 只有 7 道可用试题" in page.inner_text("#infeasible")

    page.fill("input[name=forms]", "2")
    page.click("#assemble-button")
    page.wait_for_selector("#report-A")
    assert "全部" in page.inner_text("#report-status")
    assert page.locator("#report-A tr.bad").count() == 0 and page.locator("#report-B tr.ok").count() > 5
    paper_url = page.url

    with page.context.expect_page() as popup:
        page.locator("#form-A a", has_text="HTML").first.click()
    sheet = popup.value
    sheet.wait_for_load_state()
    assert "答题卡" in sheet.inner_text("body") and "单项选择题" in sheet.inner_text("body")
    sheet.close()

    pdf_href = page.locator("#form-A a.pdf-link[data-kind=candidate]").get_attribute("href")
    resp = page.request.get(live_server.url + pdf_href)
    assert resp.status == 200 and resp.headers["content-type"] == "application/pdf" and resp.body()[:4] == b"%PDF"

    page.goto(live_server.url + "/papers/")
    assert re.search(r"/papers/\d+", paper_url)
    assert page.locator("#paper-list tbody tr").count() == 1

""""Done means" for the item bank, in a real browser: a writer creates a single-choice item with an image
and submits it; a reviewer rejects it with a comment; the writer edits it (a new version) and resubmits;
the reviewer approves. The history shows two versions and the status 已通过."""
from __future__ import annotations

import copy
import re

import pytest

from examsys.extensions import db
from examsys.services import taxonomy

from ..examsys.test_items_support import OCC, TAXONOMY, png_bytes
from .conftest import staff_login

pytestmark = pytest.mark.browser


@pytest.fixture
def bank_taxonomy(live_app):
    with live_app.app_context():
        taxonomy.upsert_taxonomy(copy.deepcopy(TAXONOMY))
        db.session.commit()


def _image_width(page) -> int:
    """Natural width of the item's image once the browser has loaded it (0 = refused or broken)."""
    page.wait_for_function("() => { const i = document.querySelector('.item-images img'); return i && i.complete; }")
    return page.evaluate("document.querySelector('.item-images img').naturalWidth")


def test_write_reject_revise_approve(browser, page, live_server, users, bank_taxonomy, tmp_path):
    image = tmp_path / "三视图.png"
    image.write_bytes(png_bytes(size=(120, 80)))
    url = live_server.url

    # the writer creates a single-choice item with an image
    staff_login(page, live_server, "writer")
    page.goto(url + "/bank/items/new")
    assert page.locator("fieldset[data-types='true_false']").is_hidden()  # the editor shows one type's fields
    page.select_option("#f-occupation", OCC)
    page.select_option("#f-kp", "A-A-001")
    page.check("input[name=grades][value='4']")
    page.check("input[name=grades][value='3']")
    page.fill("#f-points", "1")
    page.fill("#f-stem", "如图所示零件的主视图反映物体的（　）。")
    for letter, text in zip("ABCD", ["长和高", "长和宽", "宽和高", "长、宽和高"]):
        page.fill(f"input[name=option_{letter}]", text)
    page.check("input[name=key][value='A']")
    page.set_input_files("#f-image-files", str(image))
    page.fill("#f-comment", "初稿")
    page.click("#save-draft")
    page.wait_for_url(re.compile(r".*/bank/items/\d+$"))
    item_url = page.url
    assert page.locator("#item-status").inner_text() == "草稿"
    img = page.locator(".item-images img")
    assert img.count() == 1
    assert _image_width(page) == 120
    page.click("#submit-review")
    page.wait_for_load_state()
    assert page.locator("#item-status").inner_text() == "待审"

    # the reviewer rejects it with a comment (an empty comment is refused first)
    reviewer_ctx = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    rpage = reviewer_ctx.new_page()
    rpage.set_default_timeout(10_000)
    try:
        staff_login(rpage, live_server, "reviewer")
        rpage.goto(url + "/bank/review")
        rpage.click(f"#queue a[href='{item_url[len(url):]}']")
        rpage.wait_for_url(item_url)
        assert _image_width(rpage) == 120  # the reviewer may see the image too
        rpage.click("#reject")
        assert "驳回时必须填写意见" in rpage.locator(".flash-error").inner_text()
        assert rpage.locator("#item-status").inner_text() == "待审"
        rpage.fill("#review-comment", "选项 D 也包含长和高，请修改。")
        rpage.click("#reject")
        rpage.wait_for_load_state()
        assert rpage.locator("#item-status").inner_text() == "草稿"

        # the writer sees the comment, edits (a new version) and resubmits
        page.goto(item_url)
        assert "选项 D 也包含长和高，请修改。" in page.locator("#history").inner_text()
        page.click("#edit-item")
        page.wait_for_url(item_url + "/edit")
        assert page.locator(".image-thumb img").count() == 1  # the image is kept
        page.fill("input[name=option_D]", "宽和长")
        page.fill("#f-comment", "修改选项 D")
        page.click("#save-submit")
        page.wait_for_url(item_url)
        assert page.locator("#item-status").inner_text() == "待审"

        # the reviewer approves
        rpage.goto(item_url)
        rpage.fill("#review-comment", "通过")
        rpage.click("#approve")
        rpage.wait_for_load_state()
        assert rpage.locator("#item-status").inner_text() == "已通过"
        assert rpage.locator("#versions .version-row").count() == 2
        history = rpage.locator("#history .history-row")
        assert [history.nth(i).get_attribute("data-action") for i in range(history.count())] == [
            "item.create", "item.submit", "item.review", "item.edit", "item.submit", "item.review"]
        # the diff between the versions shows the changed option
        rpage.goto(item_url + "?a=1&b=2")
        cells = rpage.locator("#diff tr[data-field='options[3]'] td")
        assert [cells.nth(i).inner_text() for i in range(3)] == ["选项D", "长、宽和高", "宽和长"]
        assert cells.nth(1).locator("del").count() > 0 and cells.nth(2).locator("ins").count() > 0
    finally:
        reviewer_ctx.close()

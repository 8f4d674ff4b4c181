"""The item editor and item pages through the test client: every type, good and bad input, access."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from examsys.extensions import db
from examsys.models import AuditLog, Item, ItemVersion
from examsys.services import items as S

from .conftest import csrf_token, login
from .test_items_support import OCC, TYPES, bank, field_errors, form_data, get_user, item  # noqa: F401


def _counts(app):
    with app.app_context():
        return tuple(db.session.scalar(select(func.count(m.id))) for m in (Item, ItemVersion, AuditLog))


def _create(app, username="writer", type_="single_choice", status="draft", **changes) -> int:
    with app.app_context():
        return S.create_item(item(type_, **changes), get_user(username), status=status).id


@pytest.mark.parametrize("type_", TYPES)
def test_writer_creates_and_edits_every_type_through_the_form(app, client, bank, type_):
    login(client, "writer")
    token = csrf_token(client, "/bank/items/new")
    resp = client.post("/bank/items/new", data=form_data(item(type_), token, comment="new"))
    assert resp.status_code == 302, field_errors(resp.get_data(as_text=True))
    item_id = int(resp.headers["Location"].rsplit("/", 1)[1])
    with app.app_context():
        stored = S.item_dict(S.get_item(item_id))
    for k, v in item(type_).items():
        assert stored[k] == v, k
    # the edit page shows the stored values; posting it back with a change makes version 2
    page = client.get(f"/bank/items/{item_id}/edit").get_data(as_text=True)
    assert item(type_)["stem"] in page
    changed = item(type_, stem=item(type_)["stem"] + "（修订）")
    resp = client.post(f"/bank/items/{item_id}/edit", data=form_data(changed, token, comment="typo"))
    assert resp.status_code == 302
    with app.app_context():
        it = S.get_item(item_id)
        assert it.current_version.number == 2 and S.item_dict(it)["stem"].endswith("（修订）")
        assert S.item_dict(S.get_version(it, 1))["stem"] == item(type_)["stem"]
    detail = client.get(f"/bank/items/{item_id}?a=1&b=2").get_data(as_text=True)
    assert 'data-field="stem"' in detail and "<ins>（修订）</ins>" in detail


BAD = [
    ("single_choice", {"key": []}, {"key"}),
    ("single_choice", {"option_B": "长和高"}, {"options[1]"}),
    ("single_choice", {"key": ["A", "B"]}, {"key"}),
    ("multiple_choice", {"key": ["A"]}, {"key"}),
    ("multiple_choice", {"option_C": "", "key": ["A", "B", "D"]}, {"options[2]"}),
    ("true_false", {"tf_key": ""}, {"key"}),
    ("fill_blank", {"answer": [""]}, {"answers"}),
    ("fill_blank", {"tolerance": "abc"}, {"tolerance"}),
    ("short_answer", {"mp_points": ["2", "1.5", "1"]}, {"marking_points"}),
    ("calculation", {"mp_points": ["x", "6"]}, {"marking_points[0].points"}),
    ("essay", {"reference_answer": ""}, {"reference_answer"}),
    ("practical_task", {"cr_points": ["60", "30"]}, {"criteria"}),
    ("practical_task", {"time_limit_min": "两小时"}, {"time_limit_min"}),
    ("practical_task", {"cr_standard": ["", "按规范"]}, {"criteria[0].standard"}),
    ("single_choice", {"points": "abc", "stem": "", "grades": []}, {"points", "stem", "grades"}),
    ("single_choice", {"kp": "A-A-002"}, {"grades"}),
    ("single_choice", {"kp": "Z-Z-999"}, {"kp"}),
    ("single_choice", {"difficulty": "1.5"}, {"difficulty"}),
    ("single_choice", {"type": "riddle"}, {"type"}),
]


@pytest.mark.parametrize("type_,changes,fields", BAD)
def test_bad_input_shows_messages_next_to_the_field_and_changes_nothing(app, client, bank, type_, changes, fields):
    login(client, "writer")
    token = csrf_token(client, "/bank/items/new")
    before = _counts(app)
    data = {**form_data(item(type_), token), **changes}
    resp = client.post("/bank/items/new", data=data)
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    errors = field_errors(html)
    assert set(errors) == fields
    assert 'class="problems"' in html  # the summary too
    assert _counts(app) == before
    # what was typed is kept
    if data.get("stem"):
        assert data["stem"] in html


def test_bad_edit_keeps_the_version_and_names_the_field(app, client, bank):
    item_id = _create(app)
    login(client, "writer")
    token = csrf_token(client, "/bank/items/new")
    before = _counts(app)
    resp = client.post(f"/bank/items/{item_id}/edit", data={**form_data(item(), token), "option_A": ""})
    assert resp.status_code == 400
    assert set(field_errors(resp.get_data(as_text=True))) == {"options[0]"}
    resp = client.post(f"/bank/items/{item_id}/edit", data=form_data(item(occupation="0-00-00-00"), token))
    assert resp.status_code == 400 and "occupation" in field_errors(resp.get_data(as_text=True))
    resp = client.post(f"/bank/items/{item_id}/edit", data=form_data(item(), token))  # nothing changed
    assert resp.status_code == 400 and "未保存新版本" in resp.get_data(as_text=True)
    assert _counts(app) == before


def test_messages_follow_the_ui_language(app, client, bank):
    login(client, "writer")
    token = csrf_token(client, "/bank/items/new")
    zh = client.post("/bank/items/new", data={**form_data(item(), token), "points": "abc"}).get_data(as_text=True)
    assert field_errors(zh)["points"] == ["分值：应为数字，实为“abc”"]
    with client.session_transaction() as s:
        s["lang"] = "en"
    en = client.post("/bank/items/new", data={**form_data(item(), token), "points": "abc"}).get_data(as_text=True)
    assert field_errors(en)["points"] == ["points: must be a number, got 'abc'"]


def test_save_and_submit_puts_the_item_in_review(app, client, bank):
    login(client, "writer")
    token = csrf_token(client, "/bank/items/new")
    resp = client.post("/bank/items/new", data=form_data(item(), token, action="submit"))
    item_id = int(resp.headers["Location"].rsplit("/", 1)[1])
    with app.app_context():
        assert S.get_item(item_id).status == "in_review"


def test_new_item_page_lists_the_knowledge_points_of_each_occupation(client, bank):
    login(client, "writer")
    html = client.get("/bank/items/new?type=practical_task").get_data(as_text=True)
    assert f'data-occupation="{OCC}"' in html
    assert re.search(r'<option value="P-A-001"[^>]*>P-A-001 轴类零件加工 \[X\]', html)
    assert '<option value="practical_task" selected' in html
    for name in ("option_A", "tf_key", "answer", "mp_text", "cr_content", "image_files"):
        assert f'name="{name}"' in html


def test_writers_see_only_their_own_items_and_station_managers_only_approved_ones(app, bank, make_user):
    make_user("writer2", "writer")
    draft = _create(app)
    approved = _create(app, status="in_review")
    with app.app_context():
        S.review(approved, "approve", "", get_user("reviewer"))
    expect = {
        "writer": {draft: 200, approved: 200}, "writer2": {draft: 404, approved: 200},
        "reviewer": {draft: 200, approved: 200}, "admin": {draft: 200, approved: 200},
        "station_manager": {draft: 404, approved: 200}, "proctor": {draft: 403, approved: 403},
        "examiner": {draft: 403, approved: 403},
    }
    for username, codes in expect.items():
        c = app.test_client()
        login(c, username)
        for item_id, code in codes.items():
            assert c.get(f"/bank/items/{item_id}").status_code == code, (username, item_id)
    for username in ("station_manager", "writer2"):
        c = app.test_client()
        login(c, username)
        html = c.get(f"/bank/items/{approved}").get_data(as_text=True)
        assert 'id="actions"' not in html and 'id="audit"' not in html  # read-only
        assert c.get(f"/bank/items/{approved}/edit").status_code == 403


def test_other_writer_cannot_edit_or_submit(app, bank, make_user):
    make_user("writer2", "writer")
    item_id = _create(app)
    c = app.test_client()
    login(c, "writer2")
    token = csrf_token(c, "/bank/items/new")
    before = _counts(app)
    assert c.get(f"/bank/items/{item_id}/edit").status_code == 404
    assert c.post(f"/bank/items/{item_id}/edit", data=form_data(item(stem="x"), token)).status_code == 404
    assert c.post(f"/bank/items/{item_id}/submit", data={"csrf_token": token}).status_code == 404
    assert _counts(app) == before


def test_reviewer_cannot_edit_a_draft_but_may_revise_an_approved_item(app, client, bank):
    item_id = _create(app, status="in_review")
    login(client, "reviewer")
    token = csrf_token(client, "/bank/review")
    assert client.get(f"/bank/items/{item_id}/edit").status_code == 403
    client.post(f"/bank/items/{item_id}/review", data={"csrf_token": token, "decision": "approve"})
    assert client.get(f"/bank/items/{item_id}/edit").status_code == 200
    resp = client.post(f"/bank/items/{item_id}/edit", data=form_data(item(stem="审题员修订"), token, comment="修订"))
    assert resp.status_code == 302
    with app.app_context():
        it = S.get_item(item_id)
        assert it.status == "draft" and it.current_version.number == 2


def test_detail_page_shows_versions_history_audit_and_a_version(app, client, bank):
    item_id = _create(app)
    with app.app_context():
        S.save_new_version(item_id, item(stem="第二版题干"), get_user("writer"), "第二版")
    login(client, "writer")
    html = client.get(f"/bank/items/{item_id}").get_data(as_text=True)
    assert html.count('class="version-row"') == 2 and "第二版题干" in html
    assert html.count('class="history-row"') == 2 and 'id="audit"' in html
    v1 = client.get(f"/bank/items/{item_id}?v=1").get_data(as_text=True)
    assert item()["stem"] in v1 and "不是当前版本" in v1
    assert client.get(f"/bank/items/{item_id}?v=7").status_code == 404
    assert client.get(f"/bank/items/{item_id}?a=1&b=9").status_code == 404
    same = client.get(f"/bank/items/{item_id}?a=2&b=2").get_data(as_text=True)
    assert "两个版本的内容相同" in same


def test_unknown_item_is_404(client, bank):
    login(client, "admin")
    assert client.get("/bank/items/4242").status_code == 404
    assert client.get("/bank/items/4242/edit").status_code == 404

"""Review through the web: submit, the review queue, approve/reject with comment, retire; who may do what."""
from __future__ import annotations

import re

from sqlalchemy import func, select

from examsys.extensions import db
from examsys.models import AuditLog, ItemReview
from examsys.services import items as S

from .conftest import csrf_token, login
from .test_items_support import bank, get_user, item  # noqa: F401


def _create(app, username="writer", status="draft", **changes) -> int:
    with app.app_context():
        return S.create_item(item(**changes), get_user(username), status=status).id


def _status(app, item_id):
    with app.app_context():
        return S.get_item(item_id).status


def _client(app, username):
    c = app.test_client()
    login(c, username)
    return c, csrf_token(c, "/")


def _reviews(app):
    with app.app_context():
        return db.session.scalar(select(func.count(ItemReview.id)))


def test_full_review_cycle(app, bank):
    item_id = _create(app)
    writer, wt = _client(app, "writer")
    reviewer, rt = _client(app, "reviewer")
    assert 'id="submit-review"' in writer.get(f"/bank/items/{item_id}").get_data(as_text=True)
    assert 'id="queue-empty"' in reviewer.get("/bank/review").get_data(as_text=True)
    assert writer.post(f"/bank/items/{item_id}/submit", data={"csrf_token": wt}).status_code == 302
    assert _status(app, item_id) == "in_review"
    queue = reviewer.get("/bank/review").get_data(as_text=True)
    assert f'data-item="{item_id}"' in queue and item()["stem"][:10] in queue

    # a rejection without a comment is refused with a message, nothing changes
    before = _reviews(app)
    resp = reviewer.post(f"/bank/items/{item_id}/review", data={"csrf_token": rt, "decision": "reject", "comment": " "})
    assert resp.status_code == 400 and "驳回时必须填写意见" in resp.get_data(as_text=True)
    assert _status(app, item_id) == "in_review" and _reviews(app) == before

    resp = reviewer.post(f"/bank/items/{item_id}/review",
                         data={"csrf_token": rt, "decision": "reject", "comment": "选项 D 有歧义"})
    assert resp.status_code == 302 and _status(app, item_id) == "draft"
    page = writer.get(f"/bank/items/{item_id}").get_data(as_text=True)
    assert "选项 D 有歧义" in page and 'data-action="item.review"' in page

    resp = reviewer.post(f"/bank/items/{item_id}/review", data={"csrf_token": rt, "decision": "approve"})
    assert resp.status_code == 409 and _status(app, item_id) == "draft"  # not in review any more

    with app.app_context():
        S.save_new_version(item_id, item(options=["长和高", "长和宽", "宽和高", "宽和长"]), get_user("writer"), "D",
                           submit=True)
    resp = reviewer.post(f"/bank/items/{item_id}/review", data={"csrf_token": rt, "decision": "approve"})
    assert resp.status_code == 302 and _status(app, item_id) == "approved"
    page = reviewer.get(f"/bank/items/{item_id}").get_data(as_text=True)
    assert 'data-status="approved">已通过' in page and page.count('class="version-row"') == 2


def test_writer_cannot_review_and_reviewer_who_wrote_cannot_approve(app, bank):
    item_id = _create(app, status="in_review")
    writer, wt = _client(app, "writer")
    assert writer.post(f"/bank/items/{item_id}/review", data={"csrf_token": wt, "decision": "approve"}).status_code == 403
    assert writer.get("/bank/review").status_code == 403
    own = _create(app, "admin", status="in_review")
    admin, at = _client(app, "admin")
    page = admin.get(f"/bank/items/{own}").get_data(as_text=True)
    assert 'id="review-form"' not in page and "须由其他审题员审核" in page
    resp = admin.post(f"/bank/items/{own}/review", data={"csrf_token": at, "decision": "approve"})
    assert resp.status_code == 403 and _status(app, own) == "in_review"
    queue = admin.get("/bank/review").get_data(as_text=True)
    assert queue.count('class="queue-row"') == 2 and "您编写的" in queue


def test_bad_decision_and_unknown_item(app, bank):
    item_id = _create(app, status="in_review")
    reviewer, rt = _client(app, "reviewer")
    with app.app_context():
        n_audit = db.session.scalar(select(func.count(AuditLog.id)))
    resp = reviewer.post(f"/bank/items/{item_id}/review", data={"csrf_token": rt, "decision": "maybe"})
    assert resp.status_code == 400 and _status(app, item_id) == "in_review"
    assert reviewer.post("/bank/items/999/review", data={"csrf_token": rt, "decision": "approve"}).status_code == 404
    with app.app_context():
        assert db.session.scalar(select(func.count(AuditLog.id))) == n_audit


def test_retire(app, bank):
    item_id = _create(app, status="in_review")
    reviewer, rt = _client(app, "reviewer")
    resp = reviewer.post(f"/bank/items/{item_id}/retire", data={"csrf_token": rt, "comment": "过时"})
    assert resp.status_code == 409 and _status(app, item_id) == "in_review"
    reviewer.post(f"/bank/items/{item_id}/review", data={"csrf_token": rt, "decision": "approve"})
    writer, wt = _client(app, "writer")
    assert writer.post(f"/bank/items/{item_id}/retire", data={"csrf_token": wt}).status_code == 403
    page = reviewer.get(f"/bank/items/{item_id}").get_data(as_text=True)
    assert re.search(r'<input type="text" name="comment" id="retire-comment" required', page)
    resp = reviewer.post(f"/bank/items/{item_id}/retire", data={"csrf_token": rt, "comment": "  "})
    assert resp.status_code == 400 and "停用时必须填写原因" in resp.get_data(as_text=True)
    assert _status(app, item_id) == "approved"
    resp = reviewer.post(f"/bank/items/{item_id}/retire", data={"csrf_token": rt, "comment": "过时"})
    assert resp.status_code == 302 and _status(app, item_id) == "retired"
    with app.app_context():
        e = [e for e in S.history(item_id)][-1]
        assert (e["action"], e["actor"], e["comment"], e["status_after"]) == ("item.retire", "reviewer", "过时", "retired")


def test_csrf_is_required(app, bank):
    item_id = _create(app, status="in_review")
    reviewer, _ = _client(app, "reviewer")
    resp = reviewer.post(f"/bank/items/{item_id}/review", data={"decision": "approve"})
    assert resp.status_code == 400 and _status(app, item_id) == "in_review"


def test_rejection_without_comment_message_is_all_chinese(app, bank):
    item_id = _create(app, status="in_review")
    reviewer, rt = _client(app, "reviewer")
    resp = reviewer.post(f"/bank/items/{item_id}/review", data={"csrf_token": rt, "decision": "reject", "comment": ""})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400 and "驳回时必须填写意见" in html
    assert "comment：" not in html

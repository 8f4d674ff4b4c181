"""The item bank service (examsys.services.items): create, immutable versions, diff, history, audit."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from examsys import clock
from examsys.extensions import db
from examsys.models import AuditLog, Item, ItemVersion
from examsys.services import audit
from examsys.services import items as S

from .test_items_support import OCC, TYPES, bank, get_user, item  # noqa: F401  (bank is a fixture)


def _counts():
    return (db.session.scalar(select(func.count(Item.id))), db.session.scalar(select(func.count(ItemVersion.id))),
            db.session.scalar(select(func.count(AuditLog.id))))


@pytest.mark.parametrize("type_", TYPES)
def test_create_every_type_stores_version_1_and_denormalised_columns(app, bank, type_):
    with app.app_context():
        writer = get_user("writer")
        it = S.create_item(item(type_), writer, comment="first")
        it = db.session.get(Item, it.id)
        v = it.current_version
        assert (it.status, it.type, v.number, v.comment, it.created_by) == ("draft", type_, 1, "first", writer.id)
        expected_kp = "P-A-001" if type_ == "practical_task" else "A-A-001"
        assert it.kp_code == expected_kp and it.kp_id is not None and it.importance == "X"
        assert it.grade_mask == (1 << 4) | (1 << 3)
        assert it.points == item(type_)["points"]
        assert it.fingerprint and len(it.fingerprint) == 32
        assert S.search_key(item(type_)["stem"][:4]) in it.search_text
        d = S.item_dict(it)
        want = item(type_)
        for k, val in want.items():
            assert d[k] == val, k
        assert d["id"] == str(it.id) and d["version"] == 1 and d["status"] == "draft"
        [entry] = audit.entries_for("item", it.id)
        assert (entry.action, entry.actor_label, entry.actor_id) == ("item.create", "writer", writer.id)
        assert entry.before is None and entry.after["stem"] == want["stem"] and entry.after["version"] == 1


def test_search_text_holds_normalised_stem_and_options(app, bank):
    with app.app_context():
        it = S.create_item(item("single_choice", stem="ＡＢＣ 题干，（　）。", options=["甲 乙", "丙", "丁"], key="A"),
                           get_user("writer"))
        assert it.search_text == "abc题干 甲乙 丙 丁"


@pytest.mark.parametrize("type_,changes,fields", [
    ("single_choice", {"key": "E"}, {"key"}),
    ("single_choice", {"options": ["a", "a", "b"], "key": "A"}, {"options[1]"}),
    ("multiple_choice", {"key": "A"}, {"key"}),
    ("true_false", {"key": None}, {"key"}),
    ("fill_blank", {"answers": []}, {"answers"}),
    ("fill_blank", {"answers": ["abc"], "tolerance": 0.1}, {"answers[0]"}),
    ("short_answer", {"marking_points": [{"text": "x", "points": 1.0}]}, {"marking_points"}),
    ("calculation", {"reference_answer": ""}, {"reference_answer"}),
    ("essay", {"marking_points": [{"text": "", "points": 20.0}]}, {"marking_points[0].text"}),
    ("practical_task", {"criteria": [{"content": "c", "element": "e", "points": 100.0, "standard": "s",
                                      "mode": "oops"}]}, {"criteria[0].mode"}),
    ("practical_task", {"time_limit_min": 0}, {"time_limit_min"}),
    ("single_choice", {"kp": "A-A-002"}, {"grades"}),          # the point applies to grade 3 only
    ("single_choice", {"kp": "A-A"}, {"kp"}),                  # a unit, not a point
    ("single_choice", {"occupation": "0-00-00-00"}, {"occupation"}),
    ("single_choice", {"points": 0.3, "stem": ""}, {"points", "stem"}),
    ("single_choice", {"images": ["f" * 64]}, {"images[0]"}),
])
def test_bad_items_report_every_problem_by_field_and_change_nothing(app, bank, type_, changes, fields):
    with app.app_context():
        before = _counts()
        with pytest.raises(S.ItemValidationError) as e:
            S.create_item(item(type_, **changes), get_user("writer"))
        assert {p.field for p in e.value.problems} == fields
        for p in e.value.problems:
            assert p.message_zh and p.message_en.startswith(p.field)
        assert _counts() == before


def test_only_writers_and_admins_create_and_reviewed_status_needs_a_reviewer(app, bank):
    with app.app_context():
        for role in ("reviewer", "station_manager", "proctor", "examiner"):
            with pytest.raises(S.ItemPermissionError):
                S.create_item(item(), get_user(role))
        with pytest.raises(S.ItemPermissionError):
            S.create_item(item(), get_user("writer"), status="approved")
        assert S.create_item(item(), get_user("admin"), status="approved").status == "approved"
        assert S.create_item(item(), None, status="approved").status == "approved"  # the system (CLI import)
        assert S.create_item(item(), get_user("writer"), status="in_review").status == "in_review"


def test_edit_creates_new_immutable_version_and_diff_shows_the_change(app, bank):
    with app.app_context():
        writer = get_user("writer")
        it = S.create_item(item("single_choice"), writer)
        v1_before = S.item_dict(it.current_version)
        v2 = S.save_new_version(it.id, item("single_choice", stem="主视图反映物体的哪两个方向？", key="B",
                                            options=["长和高", "长和宽", "宽和高", "高和宽"]), writer, "clearer stem")
        assert v2.number == 2 and v2.comment == "clearer stem"
        it = db.session.get(Item, it.id)
        assert it.current_version_id == v2.id and len(it.versions) == 2
        v1 = S.get_version(it, 1)
        assert S.item_dict(v1) == v1_before  # version 1 is untouched
        diff = S.version_diff(v1, v2)
        assert diff == [("stem", "主视图反映物体的（\u3000）。", "主视图反映物体的哪两个方向？"),
                        ("options[3]", "长、宽和高", "高和宽"), ("key", "A", "B")]
        assert S.version_diff(v1, v1) == []
        ops = S.text_diff("主视图反映物体的（　）。", "主视图反映物体的哪两个方向？")
        assert ops[0] == ("equal", "主视图反映物体的")
        assert "".join(t for op, t in ops if op != "insert") == "主视图反映物体的（　）。"
        assert "".join(t for op, t in ops if op != "delete") == "主视图反映物体的哪两个方向？"
        # the denormalised columns follow the current version
        assert it.search_text.startswith("主视图反映物体的哪两个方向")
        edit = [e for e in audit.entries_for("item", it.id) if e.action == "item.edit"][0]
        assert edit.before["version"] == 1 and edit.after["version"] == 2
        assert edit.before["key"] == "A" and edit.after["key"] == "B" and edit.reason == "clearer stem"


def test_versions_cannot_be_updated_in_place(app, bank):
    with app.app_context():
        it = S.create_item(item(), get_user("writer"))
        v = it.current_version
        v.stem = "changed behind the service's back"
        with pytest.raises(ValueError, match="immutable"):
            db.session.flush()
        db.session.rollback()


def test_edit_rules_no_change_other_occupation_and_permissions(app, bank, make_user):
    with app.app_context():
        writer = get_user("writer")
        it = S.create_item(item(), writer)
        with pytest.raises(S.ItemError, match="未保存新版本"):
            S.save_new_version(it.id, item(), writer)
        with pytest.raises(S.ItemValidationError) as e:
            S.save_new_version(it.id, item(occupation="0-00-00-00"), writer)
        assert [p.field for p in e.value.problems] == ["occupation"]
    other = make_user("writer2", "writer")
    with app.app_context():
        for username in ("writer2", "reviewer", "station_manager"):
            with pytest.raises(S.ItemPermissionError):
                S.save_new_version(it.id, item(stem="新题干"), get_user(username))
        assert S.save_new_version(it.id, item(stem="管理员改过"), get_user("admin")).number == 2
        assert db.session.get(Item, it.id).current_version.created_by != other.id


def test_state_machine_submit_review_reject_resubmit_approve(app, bank):
    with app.app_context():
        writer, reviewer = get_user("writer"), get_user("reviewer")
        it = S.create_item(item(), writer)
        with pytest.raises(S.ItemStateError):
            S.review(it.id, "approve", "", reviewer)  # not submitted yet
        S.submit_for_review(it.id, writer)
        with pytest.raises(S.ItemStateError):
            S.submit_for_review(it.id, writer)
        with pytest.raises(S.ItemValidationError) as e:
            S.review(it.id, "reject", "   ", reviewer)
        assert e.value.problems[0].field == "comment"
        assert db.session.get(Item, it.id).status == "in_review"
        r = S.review(it.id, "reject", "选项 D 也包含长和高", reviewer)
        assert (r.decision, r.comment, r.reviewer_id) == ("reject", "选项 D 也包含长和高", reviewer.id)
        assert db.session.get(Item, it.id).status == "draft"
        S.save_new_version(it.id, item(options=["长和高", "长和宽", "宽和高", "宽和长"]), writer, "fixed D",
                           submit=True)
        assert db.session.get(Item, it.id).status == "in_review"
        r2 = S.review(it.id, "approve", "", reviewer)
        it = db.session.get(Item, it.id)
        assert it.status == "approved" and r2.version_id == it.current_version_id
        actions = [(h["action"], h["status_after"], h["version"]) for h in S.history(it.id)]
        assert actions == [("item.create", "draft", 1), ("item.submit", "in_review", 1), ("item.review", "draft", 1),
                           ("item.edit", "draft", 2), ("item.submit", "in_review", 2),
                           ("item.review", "approved", 2)]
        assert [h["decision"] for h in S.history(it.id) if h["action"] == "item.review"] == ["reject", "approve"]


def test_a_writer_cannot_approve_their_own_item_even_as_reviewer_or_admin(app, bank, make_user):
    make_user("rev_writer", "reviewer")
    with app.app_context():
        admin = get_user("admin")
        it = S.create_item(item(), admin)
        S.submit_for_review(it.id, admin)
        with pytest.raises(S.ItemPermissionError):
            S.review(it.id, "approve", "", admin)
        with pytest.raises(S.ItemPermissionError):
            S.review(it.id, "approve", "", get_user("writer"))  # writers never review
        # a reviewer who wrote the current version cannot approve it either
        S.review(it.id, "reject", "需修改", get_user("reviewer"))
        S.set_status(it.id, "in_review", admin)  # draft -> in_review through the generic transition
        assert not S.can_review(db.session.get(Item, it.id), admin)
        S.review(it.id, "approve", "好", get_user("rev_writer"))
        approved = db.session.get(Item, it.id)
        assert approved.status == "approved"
        rev = get_user("rev_writer")
        S.save_new_version(it.id, item(stem="审题员修订后的题干"), rev, "revision")
        S.set_status(it.id, "in_review", admin)
        with pytest.raises(S.ItemPermissionError):
            S.review(it.id, "approve", "", rev)
        assert db.session.get(Item, it.id).status == "in_review"


def test_editing_an_approved_item_goes_back_to_draft_via_the_state_machine(app, bank):
    with app.app_context():
        writer, reviewer = get_user("writer"), get_user("reviewer")
        it = S.create_item(item(), writer, status="in_review")
        S.review(it.id, "approve", "", reviewer)
        S.save_new_version(it.id, item(stem="修订"), reviewer, "typo")  # reviewers may revise approved items
        it = db.session.get(Item, it.id)
        assert it.status == "draft" and it.current_version.number == 2
        edit = [e for e in audit.entries_for("item", it.id) if e.action == "item.edit"][0]
        assert (edit.before["status"], edit.after["status"]) == ("approved", "draft")
        with pytest.raises(S.ItemPermissionError):  # but not drafts
            S.save_new_version(it.id, item(stem="再修订"), reviewer, "typo")


def test_retire_flag_and_illegal_transitions(app, bank):
    with app.app_context():
        writer, reviewer = get_user("writer"), get_user("reviewer")
        it = S.create_item(item(), writer, status="in_review")
        with pytest.raises(S.ItemPermissionError):
            S.retire(it.id, writer)
        with pytest.raises(S.ItemStateError):
            S.retire(it.id, reviewer)  # in_review -> retired is not a transition
        with pytest.raises(S.ItemStateError):
            S.set_status(it.id, "flagged", None)
        S.review(it.id, "approve", "", reviewer)
        S.set_status(it.id, "flagged", None, "p = 0.05")  # item analysis (the system)
        flagged = db.session.get(Item, it.id)
        assert flagged.status == "flagged" and [i.id for i in S.review_queue(reviewer)] == [it.id]
        S.review(it.id, "approve", "题目没有问题", reviewer)
        for reason in ("", "   "):  # like a rejection, retiring needs a reason
            with pytest.raises(S.ItemValidationError) as e:
                S.retire(it.id, reviewer, reason)
            assert e.value.problems[0].field == "comment" and "停用时必须填写原因" in e.value.problems[0].message_zh
        assert db.session.get(Item, it.id).status == "approved"
        S.retire(it.id, reviewer, "教材已更新")
        it = db.session.get(Item, it.id)
        assert it.status == "retired"
        e = audit.entries_for("item", it.id)[-1]
        assert (e.action, e.actor_label, e.before["status"], e.after["status"], e.reason) == (
            "item.retire", "reviewer", "approved", "retired", "教材已更新")
        assert [r.decision for r in S.reviews(it)] == ["approve", "approve", "retire"]
        with pytest.raises(S.ItemError):
            S.set_status(it.id, "nonsense", reviewer)


def test_audit_entries_record_who_when_before_after(app, bank):
    t0 = dt.datetime(2025, 3, 1, 8, 0, tzinfo=dt.timezone.utc)
    clock.set_clock(clock.FrozenClock(t0))
    with app.app_context():
        writer = get_user("writer")
        it = S.create_item(item(), writer)
        clock.set_clock(clock.FrozenClock(t0 + dt.timedelta(hours=1)))
        S.save_new_version(it.id, item(stem="新题干"), writer, "why")
        entries = audit.entries_for("item", it.id)
        assert [(e.action, e.at, e.actor_id) for e in entries] == [
            ("item.create", t0, writer.id), ("item.edit", t0 + dt.timedelta(hours=1), writer.id)]
        assert entries[1].before["stem"] == item()["stem"] and entries[1].after["stem"] == "新题干"
        assert audit.verify_chain() == (True, None)
        v2 = db.session.get(Item, it.id).current_version
        assert v2.created_at == t0 + dt.timedelta(hours=1)


def test_view_rules(app, bank, make_user):
    make_user("writer2", "writer")
    with app.app_context():
        it = S.create_item(item(), get_user("writer"))
        it = db.session.get(Item, it.id)
        seen = {u: S.can_view(it, get_user(u)) for u in
                ("admin", "reviewer", "writer", "writer2", "station_manager", "proctor", "examiner")}
        assert seen == {"admin": True, "reviewer": True, "writer": True, "writer2": False,
                        "station_manager": False, "proctor": False, "examiner": False}
        it.status = "in_review"  # out of draft: other writers may read it (as in the bank browser)
        assert S.can_view(it, get_user("writer2")) and not S.can_edit(it, get_user("writer2"))
        assert not S.can_view(it, get_user("station_manager"))
        it.status = "approved"
        assert S.can_view(it, get_user("station_manager")) and not S.can_edit(it, get_user("station_manager"))
        db.session.rollback()


def test_not_found(app, bank):
    with app.app_context():
        with pytest.raises(S.ItemNotFound):
            S.get_item(999)
        with pytest.raises(S.ItemNotFound):
            S.submit_for_review("abc", get_user("writer"))

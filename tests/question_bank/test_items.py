"""Item schema: enums, labels, review transitions, item dict <-> Item round trip."""

import dataclasses
import json

import pytest

from question_bank.item_types.examples import example_item, example_items
from question_bank.items import (
    COMMON_FIELDS, Importance, InvalidItemError, Item, ItemType, Status, TRANSITIONS, allowed_transitions,
    can_transition, canonical_item_dict, content_fields, item_from_dict, item_to_dict,
)


def test_item_type_values_and_chinese_labels():
    assert [t.value for t in ItemType] == [
        "single_choice", "multiple_choice", "true_false", "fill_blank", "short_answer", "calculation",
        "essay", "practical_task"]
    assert [t.label_zh for t in ItemType] == ["单选", "多选", "判断", "填空", "简答", "计算", "论述", "操作技能"]
    assert ItemType("essay") is ItemType.ESSAY
    assert ItemType.PRACTICAL_TASK.part == "practical" and ItemType.ESSAY.part == "theory"


@pytest.mark.parametrize("text, expected", [
    ("单选", ItemType.SINGLE_CHOICE), ("单选题", ItemType.SINGLE_CHOICE), ("single_choice", ItemType.SINGLE_CHOICE),
    ("多选 multiple_choice", ItemType.MULTIPLE_CHOICE), ("  判断 ", ItemType.TRUE_FALSE),
    ("TRUE_FALSE", ItemType.TRUE_FALSE), ("实操题", ItemType.PRACTICAL_TASK), ("论述题", ItemType.ESSAY),
])
def test_item_type_parse(text, expected):
    assert ItemType.parse(text) is expected


@pytest.mark.parametrize("bad", ["", "选择", "choice", None, 3])
def test_item_type_parse_rejects(bad):
    with pytest.raises(ValueError):
        ItemType.parse(bad)


def test_importance_and_status_labels():
    assert [i.value for i in Importance] == ["X", "Y", "Z"]
    assert Importance.parse("x") is Importance.X and Importance.parse("了解") is Importance.Z
    assert [s.value for s in Status] == ["draft", "in_review", "approved", "retired", "flagged"]
    assert Status.parse("已通过") is Status.APPROVED and Status.parse("in_review") is Status.IN_REVIEW


@pytest.mark.parametrize("a, b", [
    ("draft", "in_review"), ("in_review", "approved"), ("in_review", "draft"), ("approved", "retired"),
    ("approved", "flagged"), ("flagged", "approved"), ("flagged", "retired"), ("flagged", "draft"),
    ("retired", "draft"), ("draft", "retired"),
])
def test_allowed_transitions(a, b):
    assert can_transition(a, b)
    assert can_transition(Status(a), Status(b))


@pytest.mark.parametrize("a, b", [
    ("draft", "approved"), ("draft", "draft"), ("in_review", "retired"), ("approved", "draft"),
    ("approved", "in_review"), ("retired", "approved"), ("flagged", "in_review"),
])
def test_forbidden_transitions(a, b):
    assert not can_transition(a, b)


def test_transition_table_is_complete_and_unknown_status_raises():
    assert set(TRANSITIONS) == set(Status)
    assert allowed_transitions("in_review") == {Status.APPROVED, Status.DRAFT}
    with pytest.raises(ValueError):
        can_transition("draft", "published")


@pytest.mark.parametrize("item_type", list(ItemType))
def test_round_trip_every_type(item_type):
    d = example_item(item_type, id=17, version=2, difficulty=0.5)
    item = item_from_dict(d)
    assert isinstance(item, Item) and item.type is item_type
    out = item_to_dict(item)
    assert out == canonical_item_dict(d)
    assert out["id"] == "17" and out["version"] == 2  # ids are strings in the canonical dict
    assert item_to_dict(item_from_dict(out)) == out
    json.dumps(out)  # JSON-able
    assert list(out) == list(COMMON_FIELDS) + list(content_fields(item_type))


def test_item_is_frozen_and_content_read_only():
    item = item_from_dict(example_item("single_choice"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        item.points = 3.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        item.content["key"] = "A"  # type: ignore[index]
    assert item.content["options"] == ("低温回火", "中温回火", "高温回火", "正火")
    hash(item)  # usable in sets


def test_defaults_are_filled():
    d = example_item("true_false")
    for k in ("difficulty", "discrimination", "source", "status", "images", "id", "version"):
        del d[k]
    out = item_to_dict(item_from_dict(d))
    assert out["status"] == "draft" and out["source"] == "" and out["images"] == []
    assert out["difficulty"] is None and out["id"] is None


def test_type_specific_defaults():
    d = example_item("short_answer")
    del d["score_step"]
    assert item_from_dict(d).content["score_step"] == 0.5
    d = example_item("fill_blank", tolerance=None, unit=None, answers=["淬火"])
    assert item_to_dict(item_from_dict(d))["tolerance"] is None


def test_content_fields_per_type():
    assert content_fields("single_choice") == ("options", "key")
    assert content_fields(ItemType.FILL_BLANK) == ("answers", "tolerance", "unit")
    assert content_fields("essay") == ("reference_answer", "marking_points", "score_step")
    assert content_fields("practical_task") == ("time_limit_min", "materials", "equipment", "criteria", "veto")
    with pytest.raises(ValueError):
        content_fields("matching")


def test_invalid_dict_raises_with_problems():
    d = example_item("single_choice", key="E", points=0)
    with pytest.raises(InvalidItemError) as exc:
        item_from_dict(d)
    assert {(p.field, p.code) for p in exc.value.problems} == {("key", "key_not_in_options"),
                                                              ("points", "not_positive")}
    assert isinstance(exc.value, ValueError)


def test_auto_markable_property():
    flags = {d["type"]: item_from_dict(d).auto_markable for d in example_items()}
    assert flags == {"single_choice": True, "multiple_choice": True, "true_false": True, "fill_blank": True,
                     "short_answer": False, "calculation": False, "essay": False, "practical_task": False}

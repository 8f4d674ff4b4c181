"""The item-type registry: one spec per type; candidate views never carry keys; shuffling; key column."""

import json

import numpy as np
import pytest

from question_bank import item_types
from question_bank.item_types.base import ItemTypeSpec
from question_bank.item_types.constructed import decode_marking_points, encode_marking_points
from question_bank.item_types.examples import example_item
from question_bank.items import ItemType


def test_registry_has_every_type():
    assert item_types.all_types() == tuple(ItemType)
    for t in ItemType:
        spec = item_types.get(t)
        assert spec.type is t
        assert item_types.get(t.value) is spec
    with pytest.raises(ValueError):
        item_types.get("matching")


def test_register_refuses_a_second_spec_unless_replace():
    spec = item_types.get("essay")
    with pytest.raises(ValueError):
        item_types.register(spec)
    assert item_types.register(spec, replace=True) is spec


def test_base_spec_defaults():
    class Dummy(ItemTypeSpec):
        type = ItemType.ESSAY
    d = Dummy()
    assert d.validate({}) == [] and d.mark({}, "x", 1.0) is None and d.encode_key({}) == ""


SECRET_FIELDS = {"key", "answers", "tolerance", "reference_answer", "marking_points", "criteria", "veto"}


@pytest.mark.parametrize("item_type", list(ItemType))
def test_candidate_view_has_no_key(item_type):
    d = example_item(item_type)
    spec = item_types.get(item_type)
    for rng in (None, np.random.default_rng(3)):
        view = spec.candidate_view(d, rng)
        assert not SECRET_FIELDS & set(view)
        assert set(view) <= {"options", "unit", "time_limit_min", "materials", "equipment"}
        text = json.dumps(view, ensure_ascii=False)
        if item_type.is_constructed:
            assert d["reference_answer"] not in text
            assert all(mp["text"] not in text for mp in d["marking_points"])
        if item_type is ItemType.PRACTICAL_TASK:
            assert all(c["standard"] not in text for c in d["criteria"])


def test_candidate_view_contents():
    assert item_types.get("single_choice").candidate_view(example_item("single_choice")) == {
        "options": ["低温回火", "中温回火", "高温回火", "正火"]}
    assert item_types.get("true_false").candidate_view(example_item("true_false")) == {}
    assert item_types.get("fill_blank").candidate_view(example_item("fill_blank")) == {"unit": "mm"}
    view = item_types.get("practical_task").candidate_view(example_item("practical_task"))
    assert view == {"time_limit_min": 120, "materials": ["45 钢 φ50×100"], "equipment": ["CK6140 数控车床", "游标卡尺"]}


def test_shuffle_relabels_the_key_and_is_reproducible():
    spec = item_types.get("multiple_choice")
    d = example_item("multiple_choice", options=["退火", "正火", "淬火", "电镀", "发蓝"], key="ACE")
    s1 = spec.shuffle_options(d, np.random.default_rng(42))
    s2 = spec.shuffle_options(d, np.random.default_rng(42))
    assert s1 == s2
    assert sorted(s1.order) == [0, 1, 2, 3, 4]
    shown = list(s1.content["options"])
    assert shown == [d["options"][i] for i in s1.order]
    # the shuffled key names the same texts
    assert {shown["ABCDE".index(c)] for c in s1.content["key"]} == {"退火", "淬火", "发蓝"}
    assert s1.content["key"] == "".join(sorted(s1.content["key"]))
    # candidate view with the same seed shows the same order
    assert spec.candidate_view(d, np.random.default_rng(42))["options"] == shown
    # a response on the shuffled display maps back to the original letters
    assert spec.unshuffle_response(s1.content["key"], s1.order) == "ACE"
    assert spec.mark(d, spec.unshuffle_response(s1.content["key"], s1.order), 2.0) == 2.0
    # the original content is untouched
    assert d["key"] == "ACE"


def test_shuffle_permutes_across_seeds():
    spec = item_types.get("single_choice")
    d = example_item("single_choice")
    orders = {spec.shuffle_options(d, np.random.default_rng(s)).order for s in range(30)}
    assert len(orders) > 5


def test_shuffle_is_identity_for_types_without_options():
    spec = item_types.get("true_false")
    s = spec.shuffle_options(example_item("true_false"), np.random.default_rng(1))
    assert s.order == () and s.content["key"] is True


@pytest.mark.parametrize("item_type, text, fields", [
    ("single_choice", "ｂ", {"key": "B"}),
    ("multiple_choice", "C, a；D", {"key": "ACD"}),
    ("true_false", "√", {"key": True}),
    ("true_false", "F", {"key": False}),
    ("true_false", "错", {"key": False}),
    ("fill_blank", "淬火|淬 火", {"answers": ["淬火", "淬 火"], "tolerance": None, "unit": None}),
    ("fill_blank", "12.5±0.05", {"answers": ["12.5"], "tolerance": 0.05, "unit": None}),
    ("fill_blank", "12.5|12.50 +- 0.1 mm", {"answers": ["12.5", "12.50"], "tolerance": 0.1, "unit": "mm"}),
    ("fill_blank", "１２．５±０．０５ｍｍ", {"answers": ["12.5"], "tolerance": 0.05, "unit": "mm"}),
    ("fill_blank", r"a\|b|φ20\±0.1", {"answers": ["a|b", "φ20±0.1"], "tolerance": None, "unit": None}),
    ("fill_blank", "20±公差", {"answers": ["20±公差"], "tolerance": None, "unit": None}),
    ("short_answer", "参考答案", {"reference_answer": "参考答案"}),
])
def test_decode_key(item_type, text, fields):
    got, problems = item_types.get(item_type).decode_key(text)
    assert problems == []
    assert got == fields


def test_decode_key_problems():
    _, probs = item_types.get("true_false").decode_key("可能")
    assert [(p.field, p.code) for p in probs] == [("key", "bad_key")]
    assert "对" in probs[0].message_zh and "key" in probs[0].message_en


@pytest.mark.parametrize("item_type", ["single_choice", "multiple_choice", "true_false", "fill_blank", "essay"])
def test_encode_decode_key_round_trip(item_type):
    spec = item_types.get(item_type)
    d = example_item(item_type)
    fields, probs = spec.decode_key(spec.encode_key(d))
    assert probs == []
    assert {k: d[k] for k in fields} == fields


def test_fill_blank_key_escapes_round_trip():
    spec = item_types.get("fill_blank")
    d = example_item("fill_blank", answers=["a|b", "c\\d", "±5", "x+-y", "m+/-n"], tolerance=None, unit=None)
    text = spec.encode_key(d)
    assert spec.decode_key(text)[0]["answers"] == d["answers"]
    d = example_item("fill_blank", answers=["12.5", "12.50"], tolerance=0.0, unit="mm")
    assert spec.encode_key(d) == "12.5|12.50±0mm"
    assert spec.decode_key(spec.encode_key(d))[0] == {"answers": ["12.5", "12.50"], "tolerance": 0.0, "unit": "mm"}


def test_marking_points_column():
    mps = [{"text": "写出公式", "points": 2.0}, {"text": "代入\n计算", "points": 1.5}]
    text = encode_marking_points(mps)
    assert text == "写出公式（2分）\n代入\n计算（1.5分）"
    assert decode_marking_points(text) == (mps, [])
    assert decode_marking_points("要点一(2分)\n要点二 【3】") == (
        [{"text": "要点一", "points": 2.0}, {"text": "要点二", "points": 3.0}], [])
    assert decode_marking_points("  ") == (None, [])
    got, probs = decode_marking_points("要点一（2分）\n没有分值的一行")
    assert got == [{"text": "要点一", "points": 2.0}]
    assert [(p.code, p.params["line"]) for p in probs] == [("bad_marking_point", 2)]

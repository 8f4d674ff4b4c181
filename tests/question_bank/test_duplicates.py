"""Normalisation and near-duplicate detection."""

import time

from question_bank.duplicates import find_near_duplicates, fingerprint, fingerprint_index
from question_bank.item_types.examples import example_item
from question_bank.items import item_from_dict
from question_bank.normalize import normalize_answer, normalize_text, parse_number, split_number_unit


def test_normalize_text():
    assert normalize_text("45钢调质处理是指淬火后再进行（　）。") == normalize_text("45 钢调质处理是指淬火后再进行(   ).")
    assert normalize_text("ＡＢｃ，ｄ！") == "abcd"
    assert normalize_text("填空 ____ 处") == "填空处"
    assert normalize_text("φ20±0.1") == "φ20±01"  # symbols stay, the point goes
    assert normalize_text("12×3") != normalize_text("123")


def test_normalize_answer_and_numbers():
    assert normalize_answer(" Ａｂ c ") == "abc"
    assert normalize_answer("1：10") == normalize_answer("1:10")
    assert parse_number("１２．５") == 12.5 and parse_number(" -3 ") == -3.0 and parse_number("−2") == -2.0
    assert parse_number("1e3") == 1000.0 and parse_number(".5") == 0.5
    assert parse_number("12.5mm") is None and parse_number("") is None and parse_number(True) is None
    assert parse_number("nan") is None and parse_number(float("inf")) is None
    assert split_number_unit("１２．５ ｍｍ") == (12.5, "mm") and split_number_unit("mm") is None


def test_fingerprint_ignores_punctuation_width_case_spacing_and_option_order():
    a = example_item("single_choice", stem="45钢调质处理是指淬火后再进行（　）。",
                     options=["低温回火", "中温回火", "高温回火", "正火"])
    b = example_item("single_choice", stem=" 45 钢调质处理是指淬火后再进行 ( ) ",
                     options=["正火", "高温回火", "中温回火", "低温回火"], key="B")
    c = example_item("single_choice", stem="45钢调质处理是指淬火后再进行（　）。",
                     options=["低温回火", "中温回火", "高温回火", "退火"])
    assert fingerprint(a) == fingerprint(b) == fingerprint(item_from_dict(a))
    assert fingerprint(a) != fingerprint(c)
    assert len(fingerprint(a)) == 32
    assert fingerprint({"stem": "？？"}) is None


def test_find_near_duplicates_within_batch_and_against_existing():
    items = [
        example_item("true_false", stem="淬火后钢的硬度提高。"),
        example_item("true_false", stem="回火可以消除内应力。"),
        example_item("true_false", stem="淬火后，钢的硬度提高", key=False),
        example_item("true_false", stem="正火冷却速度比退火快。"),
        example_item("true_false", stem="淬火后钢的硬度提高！"),
    ]
    existing = fingerprint_index([{**example_item("true_false", stem="正火冷却速度比退火快"), "id": "Q9"}])
    groups = find_near_duplicates(items, existing=existing)
    assert [(g.members, g.existing) for g in groups] == [((0, 2, 4), ()), ((3,), ("Q9",))]
    assert find_near_duplicates(items[:2]) == []


def test_find_near_duplicates_is_fast():
    items = [example_item("true_false", stem=f"第{i}题：淬火后钢的硬度提高。") for i in range(20000)]
    items.append(example_item("true_false", stem="第 7 题 淬火后钢的硬度提高"))
    t0 = time.perf_counter()
    groups = find_near_duplicates(items)
    assert time.perf_counter() - t0 < 2.0
    assert [g.members for g in groups] == [(7, 20000)]

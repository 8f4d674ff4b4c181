"""validate_item: common fields, every type's rules, taxonomy checks, bilingual messages naming the field."""

import pytest

from question_bank.item_types.examples import example_item, example_items, example_taxonomy
from question_bank.messages import CATALOG, Problem, field_label_zh, make_problem
from question_bank.taxonomy import Taxonomy
from question_bank.validation import MAX_STEM_CHARS, errors_only, validate_item


def codes(problems):
    return sorted((p.field, p.code) for p in problems)


@pytest.fixture(scope="module")
def taxonomy():
    return Taxonomy.from_dict(example_taxonomy())


def test_examples_are_valid(taxonomy):
    for d in example_items():
        assert validate_item(d) == []
        assert validate_item(d, taxonomy=taxonomy) == []
        assert validate_item(d, taxonomy={"6-18-01-01": taxonomy}) == []
        assert validate_item(d, taxonomy=[taxonomy]) == []


def test_not_a_mapping():
    assert codes(validate_item(["single_choice"])) == [("", "not_a_mapping")]


@pytest.mark.parametrize("changes, expected", [
    ({"type": "matching"}, [("type", "unknown_type")]),
    ({"type": None}, [("type", "required")]),
    ({"occupation": " "}, [("occupation", "required")]),
    ({"kp": 12}, [("kp", "not_a_string")]),
    ({"grades": []}, [("grades", "empty_list")]),
    ({"grades": 4}, [("grades", "not_a_list")]),
    ({"grades": [4, 6]}, [("grades[1]", "bad_grade")]),
    ({"grades": [0]}, [("grades[0]", "bad_grade")]),
    ({"grades": [4, 4]}, [("grades[1]", "duplicate_grade")]),
    ({"grades": [True]}, [("grades[0]", "bad_grade")]),
    ({"points": 0}, [("points", "not_positive")]),
    ({"points": -1}, [("points", "not_positive")]),
    ({"points": 1.25}, [("points", "not_half_multiple")]),
    ({"points": "1"}, [("points", "not_a_number")]),
    ({"points": float("nan")}, [("points", "not_finite")]),
    ({"points": None}, [("points", "required")]),
    ({"difficulty": 1.2}, [("difficulty", "out_of_range")]),
    ({"difficulty": -0.1}, [("difficulty", "out_of_range")]),
    ({"discrimination": -1.5}, [("discrimination", "out_of_range")]),
    ({"stem": ""}, [("stem", "required")]),
    ({"stem": "x" * (MAX_STEM_CHARS + 1)}, [("stem", "stem_too_long")]),
    ({"stem": "bad\x07char"}, [("stem", "control_character")]),
    ({"status": "published"}, [("status", "unknown_status")]),
    ({"source": 5}, [("source", "not_a_string")]),
    ({"images": ["", "a.png"]}, [("images[0]", "required")]),
    ({"version": 0, "id": "Q1"}, [("version", "bad_version")]),
    ({"version": 2}, [("version", "version_without_id")]),
    ({"colour": "red"}, [("colour", "unknown_field")]),
    ({"answers": ["x"]}, [("answers", "unknown_field")]),
])
def test_common_field_rules(changes, expected):
    d = example_item("single_choice", **changes)
    assert codes(validate_item(d)) == sorted(expected)


def test_stem_at_the_limit_is_fine():
    assert validate_item(example_item("true_false", stem="x" * MAX_STEM_CHARS)) == []


@pytest.mark.parametrize("changes, expected", [
    ({"options": ["a"], "key": "A"}, [("options", "too_few_options")]),
    ({"options": list("abcdefghi"), "key": "A"}, [("options", "too_many_options")]),
    ({"options": ["a", " ", "c"]}, [("options[1]", "empty_option")]),
    ({"options": ["a", "b", "Ａ"]}, [("options[2]", "duplicate_option")]),
    ({"options": "abc"}, [("options", "not_a_list")]),
    ({"key": "E"}, [("key", "key_not_in_options")]),
    ({"key": "AB"}, [("key", "single_key_expected")]),
    ({"key": "b"}, [("key", "bad_key")]),
    ({"key": ""}, [("key", "required")]),
    ({"key": 1}, [("key", "not_a_string")]),
])
def test_single_choice_rules(changes, expected):
    assert codes(validate_item(example_item("single_choice", **changes))) == sorted(expected)


@pytest.mark.parametrize("changes, expected", [
    ({"key": "A"}, [("key", "too_few_keys")]),
    ({"key": "AE"}, [("key", "key_not_in_options")]),
    ({"key": "CA"}, [("key", "key_not_sorted")]),
    ({"key": "AAC"}, [("key", "duplicate_key")]),
    ({"options": ["a", "b"], "key": "AB"}, [("options", "too_few_options")]),
])
def test_multiple_choice_rules(changes, expected):
    assert codes(validate_item(example_item("multiple_choice", **changes))) == sorted(expected)


@pytest.mark.parametrize("key, expected", [
    ("对", [("key", "not_a_bool")]), (1, [("key", "not_a_bool")]), (None, [("key", "required")]),
])
def test_true_false_rules(key, expected):
    assert codes(validate_item(example_item("true_false", key=key))) == expected


@pytest.mark.parametrize("changes, expected", [
    ({"answers": []}, [("answers", "empty_list")]),
    ({"answers": None}, [("answers", "required")]),
    ({"answers": ["12.5", ""]}, [("answers[1]", "empty_answer")]),
    ({"answers": ["12.5", "abc"]}, [("answers[1]", "answer_not_numeric")]),
    ({"tolerance": -0.1}, [("tolerance", "negative")]),
    ({"tolerance": "0.1"}, [("tolerance", "not_a_number")]),
    ({"tolerance": None, "unit": "mm", "answers": ["淬火"]}, [("unit", "unit_without_tolerance")]),
])
def test_fill_blank_rules(changes, expected):
    assert codes(validate_item(example_item("fill_blank", **changes))) == sorted(expected)


def test_fill_blank_duplicate_answer_is_a_warning():
    probs = validate_item(example_item("fill_blank", answers=["1:10", "1：10"], tolerance=None, unit=None))
    assert codes(probs) == [("answers[1]", "duplicate_answer")]
    assert probs[0].severity == "warning" and errors_only(probs) == []


@pytest.mark.parametrize("changes, expected", [
    ({"reference_answer": ""}, [("reference_answer", "required")]),
    ({"marking_points": []}, [("marking_points", "empty_list")]),
    ({"marking_points": [{"text": "a", "points": 2.0}, {"text": "b", "points": 2.0}]},
     [("marking_points", "points_sum_mismatch")]),
    ({"marking_points": [{"text": "a", "points": 2.0}, {"text": "b", "points": 0}]},
     [("marking_points[1].points", "not_positive")]),
    ({"marking_points": [{"text": "", "points": 2.0}, {"text": "b", "points": 3.0}]},
     [("marking_points[0].text", "required")]),
    ({"marking_points": [{"text": "a", "points": 2.25}, {"text": "b", "points": 2.75}]},
     [("marking_points[0].points", "step_not_dividing"), ("marking_points[1].points", "step_not_dividing")]),
    ({"marking_points": [{"text": "a", "points": 5.0, "weight": 1}]}, [("marking_points[0]", "unknown_field")]),
    ({"score_step": 0}, [("score_step", "not_positive")]),
    ({"score_step": 2.0, "marking_points": [{"text": "a", "points": 5.0}]},
     [("marking_points[0].points", "step_not_dividing"), ("score_step", "step_not_dividing")]),
])
def test_constructed_rules(changes, expected):
    assert codes(validate_item(example_item("short_answer", **changes))) == sorted(expected)


def test_constructed_types_share_rules():
    for t in ("calculation", "essay"):
        assert codes(validate_item(example_item(t, reference_answer=None))) == [("reference_answer", "required")]


@pytest.mark.parametrize("changes, expected", [
    ({"time_limit_min": 0}, [("time_limit_min", "not_positive")]),
    ({"time_limit_min": 90.5}, [("time_limit_min", "not_an_integer")]),
    ({"criteria": []}, [("criteria", "empty_list")]),
    ({"veto": [""]}, [("veto[0]", "required")]),
    ({"materials": "钢"}, [("materials", "not_a_list")]),
])
def test_practical_rules(changes, expected):
    assert codes(validate_item(example_item("practical_task", **changes))) == sorted(expected)


def test_practical_criteria_rules():
    d = example_item("practical_task")
    d["criteria"][1]["mode"] = "bonus"
    d["criteria"][2]["element"] = ""
    d["criteria"][0]["points"] = 9.0
    assert codes(validate_item(d)) == [("criteria", "points_sum_mismatch"), ("criteria[1].mode", "bad_mode"),
                                       ("criteria[2].element", "required")]


def test_taxonomy_checks(taxonomy):
    assert codes(validate_item(example_item("true_false", occupation="6-18-01-02"), taxonomy)) == [
        ("occupation", "unknown_occupation")]
    assert codes(validate_item(example_item("true_false", kp="B-C-999"), taxonomy)) == [("kp", "unknown_kp")]
    assert codes(validate_item(example_item("true_false", kp="B-C"), taxonomy)) == [("kp", "kp_not_a_point")]
    probs = validate_item(example_item("true_false", kp="B-C-004"), taxonomy)  # B-C-004 applies to grade 3 only
    assert codes(probs) == [("grades", "kp_grade_mismatch")]
    assert probs[0].params["grades"] == [4] and probs[0].params["kp_grades"] == [3]
    assert validate_item(example_item("true_false", kp="B-C-004", grades=[3]), taxonomy) == []


def test_messages_name_the_field_in_both_languages():
    d = example_item("short_answer")
    d["marking_points"][1]["points"] = -3.0
    (p,) = validate_item(d)
    assert isinstance(p, Problem) and p.field == "marking_points[1].points" and p.code == "not_positive"
    assert p.message_zh.startswith("评分要点第2项的分值：")
    assert p.message_en.startswith("marking_points[1].points: ")
    assert p.params == {"value": -3.0}
    (p,) = validate_item(example_item("single_choice", options=["a", "", "c", "d"]))
    assert p.message_zh.startswith("选项B：") and p.message_en.startswith("options[1]: ")


def test_field_labels():
    assert field_label_zh("options[2]") == "选项C"
    assert field_label_zh("criteria[0].mode") == "评分项第1项的评分方式"
    assert field_label_zh("tree[1].units[0].points[2].code") == "鉴定范围第2项的鉴定内容第1项的鉴定点第3项的代码"
    assert field_label_zh("") == ""


def test_catalog_messages_format():
    # every catalog entry formats with the params its callers pass (spot check: all placeholders named)
    import string
    for code, (zh, en) in CATALOG.items():
        names = {f for t in (zh, en) for _, f, _, _ in string.Formatter().parse(t) if f}
        p = make_problem("key", code, **{n.split("!")[0]: "X" for n in names if n != "field"})
        assert p.message_zh.startswith("答案：") and p.message_en.startswith("key: ")


def test_problem_location_and_dict():
    p = make_problem("stem", "required").located(sheet="items", row=12, column="F")
    assert p.location == "items!F12"
    assert p.to_dict()["row"] == 12 and p.is_error

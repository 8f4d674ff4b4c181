"""mark_response: exact types, multiple-choice rules, fill blank normalisation and numeric tolerance."""

import pytest

from question_bank import item_types
from question_bank.item_types.examples import example_item
from question_bank.items import item_from_dict
from question_bank.marking import NotAutoMarkableError, is_auto_markable, mark_response

SC = example_item("single_choice", points=2.0)  # key C
MC = example_item("multiple_choice", points=2.0, options=["退火", "正火", "淬火", "电镀", "发蓝"], key="ACD")
TF = example_item("true_false")  # key True
FB_NUM = example_item("fill_blank", points=3.0, answers=["12.5"], tolerance=0.05, unit="mm")
FB_TEXT = example_item("fill_blank", answers=["调质", "淬火加高温回火"], tolerance=None, unit=None)


@pytest.mark.parametrize("response, score", [
    ("C", 2.0), ("c", 2.0), ("Ｃ", 2.0), (" C ", 2.0), (["C"], 2.0),
    ("B", 0.0), ("AC", 0.0), ("", 0.0), (None, 0.0), ("   ", 0.0), ([], 0.0), ("Z", 0.0),
])
def test_single_choice(response, score):
    assert mark_response(SC, response) == score


@pytest.mark.parametrize("response, all_or_nothing, partial", [
    ("ACD", 2.0, 2.0), ("DCA", 2.0, 2.0), ("a,c,d", 2.0, 2.0), (["A", "C", "D"], 2.0, 2.0), ("ACDA", 2.0, 2.0),
    ("AC", 0.0, 1.0), ("D", 0.0, 1.0),                     # proper non-empty subsets of the key
    ("ACDE", 0.0, 0.0), ("AB", 0.0, 0.0), ("B", 0.0, 0.0),  # any wrong option
    ("ACZ", 0.0, 0.0), ("", 0.0, 0.0), (None, 0.0, 0.0),
])
def test_multiple_choice_rules(response, all_or_nothing, partial):
    assert mark_response(MC, response) == all_or_nothing
    assert mark_response(MC, response, rule="all_or_nothing") == all_or_nothing
    assert mark_response(MC, response, rule="partial") == partial


def test_multiple_choice_partial_fraction_is_configurable():
    assert mark_response(MC, "AC", rule="partial", partial_fraction=0.25) == 0.5
    assert mark_response(MC, "AC", rule="partial", partial_fraction=0.0) == 0.0
    with pytest.raises(ValueError):
        mark_response(MC, "AC", rule="partial", partial_fraction=1.5)


def test_unknown_rule_raises():
    with pytest.raises(ValueError):
        mark_response(SC, "C", rule="generous")


@pytest.mark.parametrize("response, score", [
    (True, 1.0), ("对", 1.0), ("√", 1.0), ("T", 1.0), ("true", 1.0), ("正确", 1.0), ("Ｔ", 1.0),
    (False, 0.0), ("错", 0.0), ("×", 0.0), ("", 0.0), (None, 0.0), ("maybe", 0.0),
])
def test_true_false(response, score):
    assert mark_response(TF, response) == score


def test_true_false_false_key():
    d = example_item("true_false", key=False)
    assert mark_response(d, "错") == 1.0 and mark_response(d, "对") == 0.0 and mark_response(d, None) == 0.0


@pytest.mark.parametrize("response, score", [
    ("12.5", 3.0), ("12.5mm", 3.0), ("12.5 mm", 3.0), ("１２．５ ｍｍ", 3.0), ("１２．５ mm", 3.0), ("12.5MM", 3.0),
    ("12.55", 3.0), ("12.45", 3.0), ("12.50", 3.0), (12.5, 3.0), ("+12.5", 3.0),
    ("12.56", 0.0), ("12.44", 0.0), ("12.5cm", 0.0), ("12.5 m", 0.0), ("mm", 0.0), ("十二点五", 0.0),
    ("", 0.0), (None, 0.0), ("  ", 0.0),
])
def test_fill_blank_numeric_tolerance_and_unit(response, score):
    assert mark_response(FB_NUM, response) == score


def test_fill_blank_numeric_without_unit_refuses_units():
    d = example_item("fill_blank", answers=["0.5"], tolerance=0.0, unit=None)
    assert mark_response(d, ".5") == 1.0
    assert mark_response(d, "0.5mm") == 0.0


@pytest.mark.parametrize("response, score", [
    ("调质", 1.0), (" 调 质 ", 1.0), ("淬火加高温回火", 1.0), ("回火", 0.0), ("", 0.0),
])
def test_fill_blank_text_alternatives(response, score):
    assert mark_response(FB_TEXT, response) == score


def test_fill_blank_case_and_width():
    d = example_item("fill_blank", answers=["HRC"], tolerance=None, unit=None)
    assert mark_response(d, "hrc") == 1.0 and mark_response(d, "ＨＲＣ") == 1.0 and mark_response(d, "H R C") == 1.0


def test_fill_blank_numeric_text_answer_without_tolerance_compares_numbers():
    d = example_item("fill_blank", answers=["45"], tolerance=None, unit=None)
    assert mark_response(d, "45.0") == 1.0 and mark_response(d, "４５") == 1.0 and mark_response(d, "46") == 0.0


def test_accepts_item_objects():
    assert mark_response(item_from_dict(SC), "C") == 2.0


@pytest.mark.parametrize("t", ["short_answer", "calculation", "essay", "practical_task"])
def test_examiner_marked_types(t):
    assert not is_auto_markable(t)
    with pytest.raises(NotAutoMarkableError):
        mark_response(example_item(t), "some answer")
    assert item_types.get(t).mark(example_item(t), "x", 5.0) is None


def test_spec_mark_matches_mark_response():
    spec = item_types.get("multiple_choice")
    assert spec.mark(MC, "AC", 2.0, rule="partial") == 1.0
    assert spec.normalise_response(MC, "d, c") == "CD"
    assert item_types.get("fill_blank").normalise_response(FB_NUM, " １２．５ ＭＭ ") == "12.5mm"
    assert item_types.get("true_false").normalise_response(TF, "×") is False

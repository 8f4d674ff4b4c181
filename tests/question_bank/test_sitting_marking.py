"""question_bank.sitting_marking: the vectorised sitting marker agrees with the one-response marker cell by
cell; the partial-credit rule at its edges; empty answers; normalisation; examiners' sheets."""
from __future__ import annotations

import math

import numpy as np
import pytest

from question_bank.marking import mark_response
from question_bank.sitting_marking import (INVALID, LEVELS, SEVERAL, SheetError, encode_choice, key_mask, mark_sitting,
                                           score_constructed, score_practical)

SC = {"type": "single_choice", "points": 1.0, "options": ["a", "b", "c", "d"], "key": "B"}
MC = {"type": "multiple_choice", "points": 2.0, "options": ["a", "b", "c", "d", "e"], "key": "ACD"}
TF = {"type": "true_false", "points": 1.0, "key": False}
FB = {"type": "fill_blank", "points": 2.0, "answers": ["调质", "淬火加高温回火"], "tolerance": None, "unit": None}
FBN = {"type": "fill_blank", "points": 3.0, "answers": ["12.5"], "tolerance": 0.05, "unit": "mm"}
SA = {"type": "short_answer", "points": 4.0, "reference_answer": "r",
      "marking_points": [{"text": "p1", "points": 1.5}, {"text": "p2", "points": 2.5}], "score_step": 0.5}
ITEMS = [SC, MC, TF, FB, FBN, SA]


def test_encoding():
    several = SEVERAL
    assert encode_choice("B") == 0b10
    assert encode_choice("AC") == 0b101 | several == encode_choice(["c", "a"]) == encode_choice("ａ，ｃ")
    assert encode_choice(None) == 0 and encode_choice("") == 0 and encode_choice([]) == 0
    assert encode_choice("A1") & INVALID
    assert key_mask("ACD") == 0b1101
    with pytest.raises(ValueError):
        key_mask("A1")


@pytest.mark.parametrize("response, aon, partial", [
    ("ACD", 2.0, 2.0), ("DCA", 2.0, 2.0), ("ACDA", 2.0, 2.0),   # the key, in any order / repeated
    ("AC", 0.0, 1.0), ("D", 0.0, 1.0), ("CD", 0.0, 1.0),        # proper non-empty subsets: 少选得部分分
    ("ACDE", 0.0, 0.0), ("AB", 0.0, 0.0), ("B", 0.0, 0.0),      # any wrong option (superset too): 0
    ("ABCDE", 0.0, 0.0), ("AZ", 0.0, 0.0), ("A1", 0.0, 0.0),
    ("", 0.0, 0.0), (None, 0.0, 0.0), ([], 0.0, 0.0),           # empty: 0
])
def test_multiple_choice_rules_at_the_edges(response, aon, partial):
    for rule, expected in (("all_or_nothing", aon), ("partial", partial)):
        m = mark_sitting([MC], [[response]], rule=rule)
        assert m.scores[0, 0] == expected == mark_response(MC, response, rule=rule)


def test_partial_fraction_and_rule_validation():
    m = mark_sitting([MC], [["AC"]], rule="partial", partial_fraction=0.25)
    assert m.scores[0, 0] == 0.5
    with pytest.raises(ValueError):
        mark_sitting([MC], [["AC"]], rule="generous")
    with pytest.raises(ValueError):
        mark_sitting([MC], [["AC"]], rule="partial", partial_fraction=2)


def test_single_choice_several_letters_and_normalisation():
    m = mark_sitting([SC] * 7, [["B", "b", "Ｂ", " B ", "BB", "AB", None]])
    assert m.scores[0].tolist() == [1, 1, 1, 1, 0, 0, 0]
    assert m.answered[0].tolist() == [True] * 6 + [False]


def test_true_false_words_and_empty():
    m = mark_sitting([TF] * 6, [[False, "错", "×", True, None, "maybe"]])
    assert m.scores[0].tolist() == [1, 1, 1, 0, 0, 0]
    assert m.answered[0].tolist() == [True, True, True, True, False, False]


def test_fill_blank_normalisation_tolerance_and_unit():
    rows = [["调质", " 调 质 "], ["淬火加高温回火", "回火"], ["", None]]
    m = mark_sitting([FB, FB], rows)
    assert m.scores.tolist() == [[2, 2], [2, 0], [0, 0]]
    assert m.answered.tolist() == [[True, True], [True, True], [False, False]]
    rows = [["12.5"], ["12.55mm"], ["１２．４６ ｍｍ"], ["12.56"], ["12.5cm"], ["abc"], [12.5]]
    m = mark_sitting([FBN], rows)
    assert m.scores[:, 0].tolist() == [3, 3, 3, 0, 0, 0, 3]


def test_constructed_items_are_nan_and_totals_add_auto_items_only():
    rows = [["B", "ACD", False, "调质", "12.5mm", "some text"], [None, "AC", True, "x", None, "   "]]
    m = mark_sitting(ITEMS, rows, rule="partial")
    assert math.isnan(m.scores[0, 5]) and math.isnan(m.scores[1, 5])
    assert m.auto.tolist() == [True] * 5 + [False]
    assert m.totals.tolist() == [9.0, 1.0]
    assert m.max_auto == 9.0
    assert m.answered[:, 5].tolist() == [True, False]


def test_shape_errors():
    with pytest.raises(ValueError):
        mark_sitting([SC, MC], [["B"]])
    with pytest.raises(ValueError):
        mark_sitting([{"type": "nonsense", "points": 1}], [["B"]])


def test_empty_sitting():
    m = mark_sitting(ITEMS, [])
    assert m.scores.shape == (0, 6) and m.totals.shape == (0,)


@pytest.mark.parametrize("rule", ["all_or_nothing", "partial"])
def test_random_sitting_equals_one_response_marker_cell_by_cell(rule):
    rng = np.random.default_rng(7)
    pool = {
        "single_choice": ["A", "B", "C", "D", "b", "BB", "AB", "", None, "Z", "B1"],
        "multiple_choice": ["ACD", "AC", "A", "D", "ACDE", "B", "", None, "DCA", "a,c", "ABCDE", "AA"],
        "true_false": [True, False, None, "对", "错", "T", "x", "?"],
        "fill_blank": ["调质", "调 质", "淬火加高温回火", "回火", "", None, "ＴＩＡＯ"],
    }
    items = [SC, MC, TF, FB] * 5
    n = 300
    rows = [[pool[it["type"]][rng.integers(len(pool[it["type"]]))] for it in items] for _ in range(n)]
    m = mark_sitting(items, rows, rule=rule)
    for i in range(n):
        for j, it in enumerate(items):
            assert m.scores[i, j] == mark_response(it, rows[i][j], rule=rule), (i, j, rows[i][j])
    assert np.allclose(m.totals, m.scores.sum(axis=1))


# -- examiners' sheets ---------------------------------------------------------------------------

def test_constructed_per_point_and_total():
    assert score_constructed(SA, 4.0, point_scores=[1.5, 2])["score"] == 3.5
    assert score_constructed(SA, 4.0, total="3.5")["score"] == 3.5
    assert score_constructed(SA, 4.0, total=0)["score"] == 0.0
    assert score_constructed(SA, 4.0, total=4)["score"] == 4.0


@pytest.mark.parametrize("kwargs, code", [
    ({"total": 4.5}, "above_maximum"), ({"total": -0.5}, "negative"), ({"total": 1.2}, "off_step"),
    ({"total": ""}, "required"), ({"total": "abc"}, "not_a_number"), ({"total": float("inf")}, "not_a_number"),
    ({"point_scores": [2.0, 1.0]}, "above_maximum"), ({"point_scores": [1.0]}, "wrong_count"),
    ({"point_scores": [0.25, 1.0]}, "off_step"),
])
def test_constructed_bad_scores(kwargs, code):
    with pytest.raises(SheetError) as e:
        score_constructed(SA, 4.0, **kwargs)
    assert e.value.problems[0][1] == code


PT = {"type": "practical_task", "points": 20.0, "time_limit_min": 60,
      "criteria": [{"content": "a", "element": "e1", "points": 10.0, "standard": "s", "mode": "deduction"},
                   {"content": "b", "element": "e2", "points": 5.0, "standard": "s", "mode": "level"},
                   {"content": "c", "element": "e3", "points": 5.0, "standard": "s", "mode": "level"}],
      "veto": ["安全事故", "违纪"]}


def test_practical_sheet_levels_deductions_and_veto():
    r = score_practical(PT, 20.0, [{"deduction": "1.5"}, {"level": "B"}, {"level": "d"}])
    assert r["score"] == pytest.approx(10 - 1.5 + 4.0 + 1.0) and not r["vetoed"]
    assert [c["score"] for c in r["criteria"]] == [8.5, 4.0, 1.0]
    for lv, f in LEVELS.items():
        assert score_practical(PT, 20.0, [{}, {"level": lv}, {"level": "A"}])["score"] == pytest.approx(10 + 5 * f + 5)
    r = score_practical(PT, 20.0, [{"deduction": 0}, {"level": "A"}, {"level": "A"}], veto=[1])
    assert r["score"] == 0.0 and r["vetoed"] and r["subtotal"] == 20.0 and r["veto"] == [1]
    # the task's points in the paper differ from the rubric total: scaled
    assert score_practical(PT, 100.0, [{"deduction": 0}, {"level": "A"}, {"level": "C"}])["score"] == pytest.approx(90.0)


@pytest.mark.parametrize("entries, veto, code", [
    ([{"deduction": 10.5}, {"level": "A"}, {"level": "A"}], [], "above_maximum"),
    ([{"deduction": -1}, {"level": "A"}, {"level": "A"}], [], "negative"),
    ([{"deduction": 0.3}, {"level": "A"}, {"level": "A"}], [], "off_step"),
    ([{"deduction": 0}, {"level": "F"}, {"level": "A"}], [], "bad_level"),
    ([{"deduction": 0}, {}, {"level": "A"}], [], "required"),
    ([{"deduction": 0}, {"level": "A"}, {"level": "A"}], [2], "bad_veto"),
    ([{"deduction": 0}, {"level": "A"}], [], "wrong_count"),
])
def test_practical_sheet_bad_entries(entries, veto, code):
    with pytest.raises(SheetError) as e:
        score_practical(PT, 20.0, entries, veto)
    assert e.value.problems[0][1] == code

"""Raw responses -> score matrix: key parsing, normalisation, scoring rules, located errors."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from scoring.errors import ScoringInputError
from scoring.matrix import (ItemKey, build_score_matrix, parse_key, rescore_item, score_matrix_from_choices,
                            score_matrix_from_scores)
from scoring.results import ScoreMatrix

KEYS = {"q1": ("B", 1), "q2": ("AC", 2), "q3": ("T", 1), "q4": ("", 3)}


def build(rows, keys=KEYS, **kw):
    return build_score_matrix([f"c{i}" for i in range(len(rows))], list(keys), rows, keys, **kw)


class TestParseKey:
    @pytest.mark.parametrize("raw,kind,key", [
        ("B", "single", "B"), (" b ", "single", "B"), ("ＡＣＤ", "multiple", "ACD"), ("D,A", "multiple", "AD"),
        ("对", "true_false", "T"), ("×", "true_false", "F"), ("F", "true_false", "F"), ("true", "true_false", "T"),
        ("", "marked", None), (None, "marked", None),
    ])
    def test_kinds(self, raw, kind, key):
        k = parse_key("q", raw, 2)
        assert (k.kind, k.key, k.max_points) == (kind, key, 2.0)

    def test_f_with_n_options_is_option_f(self):
        k = parse_key("q", "F", 1, 6)
        assert (k.kind, k.key, k.n_options) == ("single", "F", 6)

    @pytest.mark.parametrize("key,points,nopt,msg", [
        ("B", 0, None, "max_points must be a number > 0"),
        ("B", "x", None, "is not a number"),
        ("Z", 1, None, "not option letters"),
        ("E", 1, 4, "uses letter E but the item has 4 options"),
        ("B", 1, 9, "n_options must be a whole number from 2 to 8"),
        ("", 1, 4, "n_options given for a marked item"),
    ])
    def test_errors(self, key, points, nopt, msg):
        with pytest.raises(ValueError, match=msg):
            parse_key("q", key, points, nopt)


class TestBuild:
    def test_scores_choices_and_omissions(self):
        m = build([["B", "AC", "对", "2"], ["a", "CA", "F", ""], ["", "B", "√", 1.5]])
        assert_allclose(m.scores, [[1, 2, 1, 2], [0, 2, 0, 0], [0, 0, 1, 1.5]])
        assert m.kinds == ("single", "multiple", "true_false", "marked")
        assert m.option_labels[0] == ("A", "B") and m.key_index[0] == 1
        assert m.option_labels[1] == ("AC", "B") and m.key_index[1] == 0  # observed patterns + key
        assert m.option_labels[2] == ("T", "F")
        assert_array_equal(m.choices[:, 0], [1, 0, -1])
        assert_array_equal(m.choices[:, 3], [-2, -2, -2])
        assert_array_equal(m.omitted, [[0, 0, 0, 0], [0, 0, 0, 1], [1, 0, 0, 0]])

    def test_never_chosen_options_are_listed_with_n_options(self):
        keys = {"q1": ItemKey("q1", "single", "B", 1.0, 5)}
        m = build([["B"], ["A"]], keys)
        assert m.option_labels[0] == ("A", "B", "C", "D", "E")

    def test_multiple_partial_policy(self):
        keys = {"q": ("ACD", 3)}
        m = build([["ACD"], ["AC"], ["A"], ["AB"], [""], ["ABCD"]], keys, multiple_policy="partial")
        assert_allclose(m.scores[:, 0], [3, 2, 1, 0, 0, 0])
        exact = build([["ACD"], ["AC"], ["A"], ["AB"], [""], ["ABCD"]], keys)
        assert_allclose(exact.scores[:, 0], [3, 0, 0, 0, 0, 0])

    def test_numpy_object_input(self):
        arr = np.array([["B", "AC", "T", "1"], ["C", "", "F", "0"]], dtype=object)
        m = build_score_matrix(["x", "y"], list(KEYS), arr, KEYS)
        assert_allclose(m.scores, [[1, 2, 1, 1], [0, 0, 0, 0]])

    def test_all_problems_are_reported_with_row_and_column(self):
        keys = {"q1": ("B", 1, 4), "q3": ("T", 1), "q4": ("", 2)}
        rows = [["E", "maybe", "3"], ["AB", "T", "x"], ["Z", "F", "1"]]
        with pytest.raises(ScoringInputError) as ei:
            build_score_matrix(["a", "a", "b"], ["q1", "q3", "q4"], rows, keys)
        found = {(p.row, p.column, p.message.split(" ")[0]) for p in ei.value.problems}
        assert (1, "candidate_id", "duplicate") in found
        msgs = {(p.row, p.column): p.message for p in ei.value.problems if p.column != "candidate_id"}
        assert "outside the item's options A-D" in msgs[(0, "q1")]
        assert "several letters" in msgs[(1, "q1")]
        assert "not option letters" in msgs[(2, "q1")]
        assert "not T/F" in msgs[(0, "q3")]
        assert "outside 0-2 points" in msgs[(0, "q4")]
        assert "not a number" in msgs[(1, "q4")]
        assert len(ei.value.problems) == 7

    def test_missing_key_and_ragged_rows(self):
        with pytest.raises(ScoringInputError, match="has no key"):
            build_score_matrix(["a", "b"], ["q1", "zz"], [["B", "1"], ["A", "0"]], {"q1": ("B", 1)})
        with pytest.raises(ScoringInputError, match="row has 1 responses, expected 2"):
            build_score_matrix(["a", "b"], ["q1", "q3"], [["B", "T"], ["A"]], KEYS)

    def test_bad_key_type(self):
        with pytest.raises(TypeError, match="must be an ItemKey"):
            build_score_matrix(["a"], ["q"], [["B"]], {"q": "B"})


class TestFastPaths:
    def test_from_choices(self):
        m = score_matrix_from_choices(np.array([[0, 2], [1, -1], [3, 2]]), [1, 2], [4, 3], [1.0, 2.0])
        assert_allclose(m.scores, [[0, 2], [1, 0], [0, 2]])
        assert m.keys == ("B", "C") and m.option_labels[1] == ("A", "B", "C")
        assert m.candidate_ids == ("C1", "C2", "C3") and m.item_ids == ("Q1", "Q2")
        assert_array_equal(m.omitted, [[0, 0], [0, 1], [0, 0]])

    @pytest.mark.parametrize("choices,msg", [
        (np.array([[0, 3]]), "choices must be -1"), (np.array([[0.0, 1.0]]), "must be integers"),
    ])
    def test_from_choices_errors(self, choices, msg):
        with pytest.raises((ValueError, TypeError), match=msg):
            score_matrix_from_choices(choices, [0, 0], [4, 3])

    def test_from_scores_and_validation(self):
        m = score_matrix_from_scores([[1, 0.5], [0, 2]], [1, 2])
        assert m.kinds == ("marked", "marked") and m.max_total == 3.0
        with pytest.raises(ValueError, match="outside \\[0, 1\\]"):
            score_matrix_from_scores([[1.5, 0]], [1, 2])
        with pytest.raises(ValueError, match="not-presented cells are not supported"):
            score_matrix_from_scores([[np.nan, 0]], [1, 2])

    def test_scores_must_match_choices(self):
        m = score_matrix_from_choices(np.array([[0], [1]]), [0], [2])
        with pytest.raises(ValueError, match="does not match the score of its choice"):
            ScoreMatrix(m.candidate_ids, m.item_ids, np.array([[1.0], [1.0]]), m.max_points, m.kinds, m.keys,
                        m.omitted, m.choices, m.option_labels, m.option_scores, m.key_index)


def test_rescore_item_never_mutates():
    m = build([["B", "AC", "T", "1"], ["A", "C", "F", "0"], ["A", "AC", "T", "0"]])
    before = m.scores.copy()
    assert_allclose(rescore_item(m, "q1", "A"), [0, 1, 1])
    assert_allclose(rescore_item(m, 1, "C"), [0, 2, 0])
    assert_allclose(m.scores, before)
    with pytest.raises(ValueError, match="not an option"):
        rescore_item(m, "q1", "D")
    with pytest.raises(ValueError, match="marked item"):
        rescore_item(m, "q4", "A")

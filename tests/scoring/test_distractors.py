"""Option analysis against hand counts and direct correlations."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from scoring.distractors import distractor_analysis
from scoring.item_analysis import item_statistics
from scoring.matrix import build_score_matrix, score_matrix_from_choices, score_matrix_from_scores


def test_hand_example():
    # 6 candidates, item q1 key B (options A-D, D never chosen), item q2 key T, item q3 marked
    rows = [["B", "T", "2"], ["B", "T", "1"], ["A", "F", "2"], ["C", "T", "0"], ["", "F", "0"], ["A", "F", "1"]]
    keys = {"q1": ("B", 1, 4), "q2": ("T", 1), "q3": ("", 2)}
    m = build_score_matrix([f"c{i}" for i in range(6)], ["q1", "q2", "q3"], rows, keys)
    d = distractor_analysis(m)
    o = d.items[0]
    assert d.items[2] is None
    assert o.labels == ("A", "B", "C", "D") and o.key_index == 1
    assert_array_equal(o.count, [2, 2, 1, 0])
    assert_allclose(o.prop, [2 / 6, 2 / 6, 1 / 6, 0])
    assert o.omit_count == 1 and o.omit_prop == pytest.approx(1 / 6)
    totals = m.scores.sum(1)  # 4, 3, 2, 1, 0, 1
    assert_allclose(totals, [4, 3, 2, 1, 0, 1])
    assert_allclose(o.mean_total[:3], [(2 + 1) / 2, (4 + 3) / 2, 1.0])
    assert np.isnan(o.mean_total[3]) and np.isnan(o.r_rest[3])
    rest = totals - m.scores[:, 0]
    for k, lab in enumerate("ABC"):
        ind = (m.choices[:, 0] == k).astype(float)
        assert_allclose(o.r_rest[k], np.corrcoef(ind, rest)[0, 1], rtol=1e-12)
    assert_allclose(o.omit_r_rest, np.corrcoef(m.omitted[:, 0].astype(float), rest)[0, 1], rtol=1e-12)
    # n_g = floor(.27*6 + .5) = 2: upper = rows 0, 1 (totals 4, 3); lower = rows 4, 3 (totals 0, 1 - row 3 first)
    assert_allclose(o.prop_upper, [0, 1, 0, 0])
    assert_allclose(o.prop_lower, [0, 0, 0.5, 0])
    assert o.omit_prop_upper == 0 and o.omit_prop_lower == 0.5


def test_key_option_r_equals_item_r_rest_and_props_sum_to_one():
    rng = np.random.default_rng(5)
    ch = rng.integers(-1, 5, size=(300, 12))
    m = score_matrix_from_choices(ch, rng.integers(0, 5, 12), 5)
    d = distractor_analysis(m)
    s = item_statistics(m)
    for j, o in enumerate(d.items):
        assert_allclose(o.r_rest[o.key_index], s.r_rest[j], rtol=1e-10)
        assert_allclose(o.prop.sum() + o.omit_prop, 1.0, rtol=1e-12)
        assert_allclose(o.prop_upper.sum() + o.omit_prop_upper, 1.0, rtol=1e-12)
        totals = m.scores.sum(1)
        for k in range(5):
            sel = m.choices[:, j] == k
            assert_allclose(o.mean_total[k], totals[sel].mean(), rtol=1e-12)


def test_multiple_answer_patterns_are_options():
    rows = [["AC"], ["AC"], ["A"], ["ABC"], ["CA"], [""]]
    m = build_score_matrix(list("abcdef"), ["q"], rows, {"q": ("AC", 2)})
    o = distractor_analysis(m).items[0]
    assert o.labels == ("A", "ABC", "AC")
    assert_array_equal(o.count, [1, 1, 3])
    assert o.labels[o.key_index] == "AC"


def test_marked_only_matrix_has_no_options_and_wrong_type_is_rejected():
    m = score_matrix_from_scores([[1, 0], [0, 1], [1, 1]])
    assert distractor_analysis(m).items == (None, None)
    with pytest.raises(TypeError, match="needs a ScoreMatrix"):
        distractor_analysis(np.zeros((3, 2)))

"""analyze(): the JSON shape, nan -> null, consistency with the component functions, IRT hook."""

import json

import numpy as np
import pytest
from numpy.testing import assert_allclose

from scoring.item_analysis import item_statistics
from scoring.matrix import build_score_matrix, score_matrix_from_choices, score_matrix_from_scores
from scoring.reliability import cronbach_alpha
from scoring.report import analyze, to_jsonable

ITEM_KEYS = {"item_id", "n", "p", "sd", "r_pbis", "r_rest", "alpha_if_deleted", "d_ul27", "options", "irt", "dif",
             "flags"}
TEST_KEYS = {"n_candidates", "n_items", "mean", "sd", "median", "skewness", "kurtosis", "alpha", "sem"}


def test_shape_and_json(sitting, sitting_report):
    r = sitting_report
    assert set(r) == {"conventions", "test", "items", "copying"}
    assert TEST_KEYS <= set(r["test"])
    assert len(r["items"]) == sitting.choices.shape[1]
    for it in r["items"]:
        assert ITEM_KEYS <= set(it)
        for opt in it["options"].values():
            assert {"prop", "prop_upper", "prop_lower", "r_rest"} <= set(opt)
        for f in it["flags"]:
            assert set(f) == {"code", "reason", "evidence"} and set(f["reason"]) == {"en", "zh"}
        if it["dif"] is not None:
            assert {"group", "mh_d_dif", "se", "ets_class"} <= set(it["dif"])
    for c in r["copying"]:
        assert {"candidate_a", "candidate_b", "identical", "identical_wrong", "p_value"} <= set(c)
    text = json.dumps(r, allow_nan=False, ensure_ascii=False)
    assert json.loads(text) == r


def test_values_agree_with_component_functions(sitting, sitting_report):
    m = sitting.matrix()
    s = item_statistics(m)
    r = sitting_report
    assert_allclose([it["p"] for it in r["items"]], s.p, rtol=1e-12)
    assert_allclose([it["r_rest"] for it in r["items"]], s.r_rest, rtol=1e-12)
    assert_allclose(r["test"]["alpha"], cronbach_alpha(m).alpha, rtol=1e-12)
    assert r["test"]["n_candidates"] == m.n_candidates and r["test"]["max_total"] == m.max_total
    assert r["test"]["pass_mark"]["cut"] == 0.6 * m.max_total
    assert r["test"]["pass_mark"]["pass_count"] == int((m.scores.sum(1) >= 0.6 * m.max_total).sum())
    assert r["conventions"]["ul_groups"]["size"] == round(0.27 * m.n_candidates)


def test_nan_becomes_null_with_a_reason():
    rows = [["B", "T", "1"], ["A", "T", "0"], ["B", "T", "2"], ["C", "T", "1"], ["B", "T", "2"]]
    m = build_score_matrix(list("abcde"), ["q1", "q2", "q3"], rows, {"q1": ("B", 1), "q2": ("T", 1), "q3": ("", 2)})
    r = analyze(m)
    q2 = r["items"][1]
    assert q2["r_rest"] is None and q2["r_pbis"] is None and q2["p"] == 1.0
    assert any("zero variance" in n for n in q2["notes"])
    assert r["items"][2]["options"] == {} and r["items"][2]["omit"] is None
    json.dumps(r, allow_nan=False)


def test_cut_and_groups_validation():
    m = score_matrix_from_scores(np.eye(4)[[0, 1, 2, 3, 0, 1]], 1)
    r = analyze(m, cut=1)
    assert r["test"]["pass_mark"]["cut"] == 1 and r["test"]["pass_mark"]["pass_count"] == 6
    with pytest.raises(ValueError, match="groups has 2 labels"):
        analyze(m, groups=["a", "b"])
    with pytest.raises(ValueError, match="reference_group needs groups"):
        analyze(m, reference_group="a")
    with pytest.raises(ValueError, match="irt must be"):
        analyze(m, irt="3pl")
    with pytest.raises(TypeError, match="ScoreMatrix"):
        analyze(np.eye(3))
    one_group = analyze(m, groups=["a"] * 6)
    assert any("two groups" in n for n in one_group["test"]["notes"])


def test_to_jsonable():
    out = to_jsonable({"a": np.float64("nan"), "b": np.array([1.0, np.inf]), "c": (np.int64(2), np.bool_(True)),
                       "d": np.str_("x")})
    assert out == {"a": None, "b": [1.0, None], "c": [2, True], "d": "x"}
    with pytest.raises(TypeError):
        to_jsonable({"x": object()})


def test_irt_results_are_attached():
    irt = pytest.importorskip("scoring.irt")
    rng = np.random.default_rng(12)
    theta = rng.normal(size=600)
    b = np.linspace(-1.5, 1.5, 8)
    right = rng.random((600, 8)) < 1 / (1 + np.exp(-(theta[:, None] - b)))
    key = np.zeros(8, dtype=int)
    ch = np.where(right, 0, 1 + rng.integers(0, 3, (600, 8)))
    m = score_matrix_from_choices(ch, key, 4)
    r = analyze(m, irt="rasch")
    direct = irt.fit_rasch(m.scores)
    assert_allclose([it["irt"]["b"] for it in r["items"]], direct.b, rtol=1e-8)
    assert all(it["irt"]["a"] == 1.0 for it in r["items"])
    assert r["test"]["irt"]["model"] == "rasch" and r["test"]["irt"]["converged"] is True
    # b increases with the simulated difficulty
    assert np.all(np.diff([it["irt"]["b"] for it in r["items"]]) > 0)


def test_irt_on_degenerate_data_never_breaks_the_report():
    pytest.importorskip("scoring.irt")
    m = score_matrix_from_choices(np.array([[0, 1, 2], [1, 1, -1], [2, 0, 0]]), [0, 1, 2], 3)
    r = analyze(m, irt="rasch")  # pytest turns any escaping warning into an error
    assert r["test"]["irt"]["model"] == "rasch"
    json.dumps(r, allow_nan=False)
    r = analyze(score_matrix_from_scores(np.eye(2)), irt="2pl")
    assert "at least 3 dichotomous items" in r["test"]["irt"]["error"]
    assert all(it["irt"] is None for it in r["items"])

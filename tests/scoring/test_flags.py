"""Flags: planted faults in a simulated sitting are found and explained; thresholds and CI gating."""

import re
from types import SimpleNamespace

import numpy as np
import pytest
from numpy.testing import assert_allclose

from scoring._core import summarize
from scoring.distractors import distractor_analysis
from scoring.flags import FLAG_CODES, FlagThresholds, flag_items
from scoring.item_analysis import item_statistics
from scoring.matrix import score_matrix_from_choices, score_matrix_from_scores
from scoring.report import analyze

LETTERS = "ABCD"


def codes(report, j):
    return [f["code"] for f in report["items"][j]["flags"]]


def flag(report, j, code):
    return next(f for f in report["items"][j]["flags"] if f["code"] == code)


def items_with(report, code):
    return {j for j, it in enumerate(report["items"]) if any(f["code"] == code for f in it["flags"])}


def alpha_of(x):
    c = np.cov(x, rowvar=False)
    j = x.shape[1]
    return j / (j - 1) * (1 - np.trace(c) / c.sum())


def test_miskey_is_found_with_the_right_proposal_and_what_if(sitting, sitting_report):
    j = sitting.miskey_item
    assert items_with(sitting_report, "possible_miskey") == {j}
    assert "negative_discrimination" in codes(sitting_report, j)
    f = flag(sitting_report, j, "possible_miskey")
    ev = f["evidence"]
    assert ev["current_key"] == LETTERS[sitting.key[j]]
    assert ev["proposed_key"] == LETTERS[sitting.true_key[j]]
    assert ev["r_rest_proposed"] > 0.3 > ev["r_rest_key"]
    # what-if against an independent re-analysis with the corrected key
    old = sitting.matrix().scores
    fixed_key = sitting.key.copy()
    fixed_key[j] = sitting.true_key[j]
    new = score_matrix_from_choices(sitting.choices, fixed_key, 4).scores
    w = ev["what_if"]
    assert_allclose(w["alpha_before"], alpha_of(old), atol=1e-4)
    assert_allclose(w["alpha_after"], alpha_of(new), atol=1e-4)
    assert w["alpha_after"] > w["alpha_before"]
    cut = 0.6 * old.shape[1]
    p_old, p_new = old.sum(1) >= cut, new.sum(1) >= cut
    assert w["pass_count_before"] == p_old.sum() and w["pass_count_after"] == p_new.sum()
    ids = np.array(sitting.matrix().candidate_ids)
    assert w["n_fail_to_pass"] == np.sum(~p_old & p_new) and w["n_pass_to_fail"] == np.sum(p_old & ~p_new)
    assert w["fail_to_pass"] == list(ids[~p_old & p_new][:100])
    assert w["pass_to_fail"] == list(ids[p_old & ~p_new][:100])
    # explained in both languages, with the numbers
    assert f"consider {ev['proposed_key']}" in f["reason"]["en"]
    assert f"建议核对是否应为 {ev['proposed_key']}" in f["reason"]["zh"]
    assert str(w["pass_count_after"]) in f["reason"]["en"] and str(w["pass_count_after"]) in f["reason"]["zh"]


def test_dead_distractor(sitting, sitting_report):
    j = sitting.dead_item
    f = flag(sitting_report, j, "nonfunctioning_distractor")
    dead = LETTERS[sitting.dead_option]
    assert f["evidence"]["options"][dead]["prop"] == 0.0
    assert dead in f["reason"]["en"] and "干扰项" in f["reason"]["zh"]
    # every flagged distractor really is rare
    for jj in items_with(sitting_report, "nonfunctioning_distractor"):
        for lab in flag(sitting_report, jj, "nonfunctioning_distractor")["evidence"]["options"]:
            assert sitting_report["items"][jj]["options"][lab]["prop"] < 0.05


def test_dif_item(sitting, sitting_report):
    j = sitting.dif_item
    f = flag(sitting_report, j, "dif_c")
    comp = f["evidence"]["comparisons"][0]
    assert comp["group"] == "S2" and comp["reference"] == "rest" and comp["favours"] == "reference"
    assert comp["mh_d_dif"] <= -1.5
    assert "S2" in f["reason"]["en"] and "项目功能差异" in f["reason"]["zh"]
    item = sitting_report["items"][j]
    assert item["dif"]["ets_class"] == "C" and item["dif"]["group"] == "S2"


def test_ambiguous_item(sitting, sitting_report):
    j = sitting.ambiguous_item
    assert items_with(sitting_report, "ambiguous") == {j}
    f = flag(sitting_report, j, "ambiguous")
    assert f["evidence"]["option"] == LETTERS[sitting.ambiguous_option]
    assert f["evidence"]["key"] == LETTERS[sitting.true_key[j]]
    assert f["evidence"]["prop_upper_ci_low"] >= 0.20 and "歧义" in f["reason"]["zh"]


def test_station_leak(sitting, sitting_report):
    assert items_with(sitting_report, "station_leak") == {sitting.leak_item}
    f = flag(sitting_report, sitting.leak_item, "station_leak")
    assert f["evidence"]["group"] == "S3"
    assert f["evidence"]["p_group"] > max(f["evidence"]["p_others"].values()) + 0.15
    assert "泄露" in f["reason"]["zh"]


def test_copying_pair_is_reported(sitting, sitting_report):
    ids = sitting.matrix().candidate_ids
    assert len(sitting_report["copying"]) == 1
    c = sitting_report["copying"][0]
    assert {c["candidate_a"], c["candidate_b"]} == {ids[sitting.source], ids[sitting.copier]}
    assert c["group"] == "S1" and c["p_adjusted"] <= 0.05


def test_every_flag_is_well_formed(sitting_report):
    for it in sitting_report["items"]:
        for f in it["flags"]:
            assert f["code"] in FLAG_CODES
            assert f["reason"]["en"] and re.search(r"[\u4e00-\u9fff]", f["reason"]["zh"])
            assert isinstance(f["evidence"], dict) and f["evidence"]


def _easy_matrix(n, seed=0):
    """Item 0: 95% right; items 1..9: informative items."""
    rng = np.random.default_rng(seed)
    theta = rng.normal(size=n)
    x = (rng.random((n, 10)) < 1 / (1 + np.exp(-(theta[:, None] - rng.normal(size=10))))).astype(float)
    x[:, 0] = 0.0
    x[: round(0.95 * n), 0] = 1.0
    return score_matrix_from_scores(x)


def test_flag_needs_the_interval_to_clear_the_threshold():
    small = analyze(_easy_matrix(40))
    assert "too_easy" not in codes(small, 0)  # p = .95 but Wilson lower bound ~.83
    large = analyze(_easy_matrix(400))
    f = flag(large, 0, "too_easy")
    assert f["evidence"]["ci"][0] > 0.9
    stricter = analyze(_easy_matrix(400), thresholds=FlagThresholds(too_easy_p=0.97))
    assert "too_easy" not in codes(stricter, 0)


def test_no_flags_below_min_n(sitting):
    m = score_matrix_from_choices(sitting.choices[:25], sitting.key, 4)
    r = analyze(m)
    assert all(not it["flags"] for it in r["items"])
    assert any("fewer than 30 candidates" in n for n in r["test"]["notes"])
    r = analyze(m, thresholds=FlagThresholds(min_n=10))
    assert any(it["flags"] for it in r["items"])


def test_irt_fit_flags():
    m = _easy_matrix(500)
    s = summarize(m)
    items = item_statistics(m, summary=s)
    nan = np.full(10, np.nan)
    rasch = SimpleNamespace(model="rasch", a=np.ones(10), se_a=nan, infit=np.r_[1.6, np.ones(9)],
                            outfit=np.r_[1.0, 0.5, np.ones(8)])
    flags = flag_items(m, items, distractor_analysis(m, summary=s), s, irt=rasch)
    assert [f.code for f in flags[0]].count("poor_irt_fit") == 1 and "infit" in flags[0][-1].reason_en
    assert any(f.code == "poor_irt_fit" and "outfit" in f.reason_en for f in flags[1])
    assert not any(f.code == "poor_irt_fit" for fl in flags[2:] for f in fl)
    twopl = SimpleNamespace(model="2pl", a=np.r_[-0.8, np.ones(9)], se_a=np.full(10, 0.2), infit=nan, outfit=nan)
    flags = flag_items(m, items, None, s, irt=twopl)
    assert any(f.code == "poor_irt_fit" and "negative" in f.reason_en for f in flags[0])
    assert not any(f.code == "poor_irt_fit" for fl in flags[1:] for f in fl)


@pytest.mark.parametrize("kw,msg", [
    (dict(min_n=-1), "min_n"), (dict(too_easy_p=1.5), "too_easy_p"), (dict(confidence=1.0), "confidence"),
    (dict(low_discrimination_r=2), "low_discrimination_r"), (dict(irt_mnsq_low=1.2), "irt_mnsq_low"),
    (dict(pass_fraction=0), "pass_fraction"),
])
def test_threshold_validation(kw, msg):
    with pytest.raises(ValueError, match=msg):
        FlagThresholds(**kw)

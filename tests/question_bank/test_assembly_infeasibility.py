"""Infeasibility explained in the domain's words: the four cases of the assembly notes.

A thin bank (an X point with fewer items than the forms need), B a joint coverage-vs-difficulty conflict
(each rule alone satisfiable: the elastic re-solve names both), C granularity (an area window holding no
multiple of its items' points), D an area cap below what its X points need.
"""

from __future__ import annotations

import time

import pytest

from question_bank.assembly import Candidate, assemble, explain
from question_bank.blueprint import KpInfo
from question_bank.infeasibility import supply_checks
from question_bank.synthetic import synthetic_bank, synthetic_blueprint

SECTIONS = (("single_choice", 20, 0.5), ("multiple_choice", 4, 1.0), ("true_false", 12, 0.5))


def items(kp, area, imp, n, *, p, disc=0.3, type_="single_choice", points=1.0, prefix=None):
    return [Candidate(f"{prefix or kp}-{j}", 1, type_, points, kp, area, imp, p=p, disc=disc) for j in range(n)]


def test_case_a_thin_bank_names_the_point_and_the_forms():
    bank = synthetic_bank(400, seed=3, points_per_weight=0.3)
    bp = synthetic_blueprint(sections=SECTIONS, duration_min=30, forms=5)
    x_kp = sorted(k for k, v in bank.kp_index.items() if v.importance == "X")[3]
    of_kp = [c for c in bank.candidates if c.kp == x_kp]
    cands = [c for c in bank.candidates if c.kp != x_kp] + of_kp[:4]
    t = time.perf_counter()
    fnd = supply_checks(cands, bp, kp_index=bank.kp_index)
    assert time.perf_counter() - t < 1.0
    f = next(f for f in fnd if f.code == "x_point_supply" and f.subject == x_kp)
    assert (f.need, f.have) == (5, 4)
    assert x_kp in f.message_en and "4 eligible items" in f.message_en and "needs 5 across forms A–E" in f.message_en
    assert x_kp in f.message_zh and "A–E" in f.message_zh
    r = assemble(cands, bp, seed=1, kp_index=bank.kp_index)
    assert r.status == "infeasible" and not r.forms and r.check is None
    assert any(x.subject == x_kp for x in r.findings)
    assert x_kp in r.message_en
    e = explain(cands, bp, kp_index=bank.kp_index)
    assert e.feasible is False and e.stage == "supply" and e.time_s < 1.0
    # an X point of the taxonomy with no items at all is named too
    cands2 = [c for c in bank.candidates if c.kp != x_kp]
    f2 = next(f for f in supply_checks(cands2, bp, forms=1, kp_index=bank.kp_index) if f.subject == x_kp)
    assert "no eligible items" in f2.message_en and "没有可用试题" in f2.message_zh


def case_b():
    cands, kp_index = [], {}
    for a in ("A", "B"):
        for k in range(1, 4):                      # X points: only hard items
            kp = f"{a}-A-{k:03d}"
            kp_index[kp] = KpInfo(a, "X", "theory")
            cands += items(kp, a, "X", 3, p=0.4)
        kp = f"{a}-A-004"                          # Y point: easy items
        kp_index[kp] = KpInfo(a, "Y", "theory")
        cands += items(kp, a, "Y", 8, p=0.9, disc=0.2)
    bp = {"grade": 4,
          "theory": {"total_points": 10, "duration_min": 20,
                     "sections": [{"type": "single_choice", "count": 10, "points": 1}],
                     "areas": {"weights": {"A": 50, "B": 50}, "tolerance": 5},
                     "coverage": {"max_per_point": None},
                     "difficulty": {"mean_p": [0.65, 0.75]}}}
    return cands, kp_index, bp


def test_case_b_joint_conflict_elastic_names_coverage_and_difficulty():
    cands, kp_index, bp = case_b()
    assert supply_checks(cands, bp, kp_index=kp_index) == []          # each rule alone can be met
    e = explain(cands, bp, kp_index=kp_index, time_limit=10)
    assert e.feasible is False and e.stage == "elastic"
    head = e.findings[0]
    assert head.code == "rules_must_give_way"
    assert "冲突：X 鉴定点覆盖 ↔ 平均难度下限" in head.message_zh
    assert "conflict: X point coverage <-> mean-p minimum" in head.message_en
    opt1 = [f for f in e.findings if f.option == 1]
    opt2 = [f for f in e.findings if f.option == 2]
    # cheapest: leave one X point uncovered (one hard item swapped for an easy one lifts mean p by 0.05)
    assert [f.code for f in opt1] == ["relax_x_coverage"] and opt1[0].relax == pytest.approx(1.0)
    assert opt1[0].subject in kp_index and "cannot cover X point" in opt1[0].message_en
    # or keep coverage and lower the mean-p floor by 0.05 (6 × 0.4 + 4 × 0.9 = 6.0 → 0.60)
    assert [f.code for f in opt2] == ["relax_mean_p_min"] and opt2[0].relax == pytest.approx(0.05, abs=1e-6)
    assert "0.65" in opt2[0].message_zh and "0.05" in opt2[0].message_zh
    r = assemble(cands, bp, seed=0, kp_index=kp_index, time_limit=10)
    assert r.status == "infeasible"
    assert {f.code for f in r.findings} >= {"rules_must_give_way", "relax_x_coverage", "relax_mean_p_min",
                                            "solver_infeasible"}


def test_case_b_two_forms_name_the_forms():
    cands, kp_index, bp = case_b()
    bp["forms"] = {"count": 2, "mean_p_spread": None, "objective_spread": None}
    cands = cands + [Candidate(f"extra-{c.item_id}", 1, c.type, c.points, c.kp, c.area, c.importance, c.p, c.disc)
                     for c in cands]
    e = explain(cands, bp, kp_index=kp_index, time_limit=10)
    assert e.feasible is False
    opt1 = [f for f in e.findings if f.option == 1]
    assert {f.forms for f in opt1} == {("A",), ("B",)}
    assert any("form A" in f.message_en for f in opt1) and any("B 卷" in f.message_zh for f in opt1)


def test_case_c_granularity():
    cands, kp_index = [], {}
    for k in range(1, 4):
        kp = f"A-A-{k:03d}"
        kp_index[kp] = KpInfo("A", "Y", "theory")
        cands += items(kp, "A", "Y", 4, p=0.65, type_="multiple_choice", points=1.0)   # area A: 1-point items only
        kp = f"B-A-{k:03d}"
        kp_index[kp] = KpInfo("B", "Y", "theory")
        cands += items(kp, "B", "Y", 6, p=0.65, type_="single_choice", points=0.5)
    bp = {"grade": 4,
          "theory": {"total_points": 7, "duration_min": 20,
                     "sections": [{"type": "single_choice", "count": 8, "points": 0.5},
                                  {"type": "multiple_choice", "count": 3, "points": 1}],
                     "areas": {"weights": {"A": 50, "B": 50}, "windows": {"A": [2.5, 2.5], "B": [4.5, 4.5]}},
                     "coverage": {"max_per_point": None}}}
    fnd = supply_checks(cands, bp, kp_index=kp_index)
    g = [f for f in fnd if f.code == "area_granularity"]
    assert len(g) == 1 and g[0].subject == "A"
    assert "area A's window [2.5, 2.5] holds no multiple of 1 points" in g[0].message_en
    assert "不含 1 分的整数倍" in g[0].message_zh
    r = assemble(cands, bp, kp_index=kp_index)
    assert r.status == "infeasible" and r.findings[0].code == "area_granularity"


def test_case_d_area_cap_below_its_x_points():
    cands, kp_index = [], {}
    for k in range(1, 9):
        kp = f"A-A-{k:03d}"
        kp_index[kp] = KpInfo("A", "X", "theory")
        cands += items(kp, "A", "X", 4, p=0.65, points=0.5)
    for k in range(1, 21):
        kp = f"B-A-{k:03d}"
        kp_index[kp] = KpInfo("B", "X", "theory")
        cands += items(kp, "B", "X", 6, p=0.65, points=0.5)
    bp = {"grade": 4,
          "theory": {"total_points": 40, "duration_min": 60,
                     "sections": [{"type": "single_choice", "count": 80, "points": 0.5}],
                     "areas": {"weights": {"A": 5, "B": 95}, "tolerance": 1},
                     "coverage": {"max_per_point": 6}}}
    fnd = supply_checks(cands, bp, kp_index=kp_index)
    d = [f for f in fnd if f.code == "area_x_overflow"]
    assert len(d) == 1 and d[0].subject == "A" and (d[0].need, d[0].have) == (4.0, 3.0)
    assert "area A has 8 X points needing at least 4 points, but its window allows at most 3" in d[0].message_en
    assert "鉴定范围 A 有 8 个必考 X 鉴定点" in d[0].message_zh
    e = explain(cands, bp, kp_index=kp_index)
    assert e.feasible is False and e.stage == "supply"


def test_yz_cap_against_x_supply():
    cands, kp_index = [], {}
    for k in range(1, 5):
        kp = f"A-A-{k:03d}"
        kp_index[kp] = KpInfo("A", "X", "theory")
        cands += items(kp, "A", "X", 3, p=0.65, points=1.0)
    for k in range(1, 11):
        kp = f"B-A-{k:03d}"
        kp_index[kp] = KpInfo("B", "Y", "theory")
        cands += items(kp, "B", "Y", 3, p=0.65, points=1.0)
    bp = {"grade": 4,
          "theory": {"total_points": 10, "duration_min": 20,
                     "sections": [{"type": "single_choice", "count": 10, "points": 1}],
                     "areas": {"weights": {"A": 50, "B": 50}, "tolerance": 0},
                     "importance": {"yz_max": 0.3},
                     "coverage": {"max_per_point": 1}}}
    # yz cap 30 % → ≥ 7 X items, but area A (the only X) holds 5 points, and one item per point → ≤ 4
    fnd = supply_checks(cands, bp, kp_index=kp_index)
    assert [f.code for f in fnd] == ["yz_cap_vs_x_supply"]
    assert "at least 7 X items" in fnd[0].message_en and "only 4 can be used" in fnd[0].message_en


def test_feasible_blueprint_is_reported_feasible():
    bank = synthetic_bank(400, seed=3, points_per_weight=0.3)
    bp = synthetic_blueprint(sections=SECTIONS, duration_min=30)
    e = explain(bank.candidates, bp, kp_index=bank.kp_index)
    assert e.feasible is True and e.findings == []
    assert e.to_dict()["feasible"] is True


def test_section_supply_and_anchor_findings():
    bank = synthetic_bank(400, seed=3, points_per_weight=0.3)
    bp = synthetic_blueprint(sections=SECTIONS, duration_min=30, forms=5)
    cands = [c for c in bank.candidates if c.type != "multiple_choice"][:] + \
        [c for c in bank.candidates if c.type == "multiple_choice"][:15]
    bp["eligibility"] = {"anchors": ["NOPE"]}
    fnd = supply_checks(cands, bp, kp_index=bank.kp_index)
    sec = next(f for f in fnd if f.code == "section_supply")
    assert sec.subject == "multiple_choice" and (sec.need, sec.have) == (20, 15)
    assert "15 eligible 多选 items, the blueprint needs 20 across forms A–E (4 per form)" == sec.message_en
    anc = next(f for f in fnd if f.code == "anchor_not_eligible")
    assert anc.subject == "NOPE" and "锚题 NOPE" in anc.message_zh
    assert all(f.to_dict()["message_en"] for f in fnd)

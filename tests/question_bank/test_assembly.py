"""Paper assembly on small synthetic banks: every rule met (independent checker), seeds, parallel forms,
enemies, item sets, anchors, practical modules, paper.json, the greedy baseline and the fallback."""

from __future__ import annotations

import json

import numpy as np
import pytest

from question_bank import assembly as asm
from question_bank.assembly import Candidate, assemble, candidates_from_items, greedy_assemble, screen_items
from question_bank.assembly_check import check_forms
from question_bank.blueprint import BlueprintError, KpInfo, parse_blueprint
from question_bank.synthetic import synthetic_bank, synthetic_blueprint

SECTIONS = (("single_choice", 20, 0.5), ("multiple_choice", 4, 1.0), ("true_false", 12, 0.5))  # 20 points


def small_blueprint(**kw):
    kw.setdefault("sections", SECTIONS)
    kw.setdefault("duration_min", 30)
    kw.setdefault("mip_rel_gap", 0.01)
    return synthetic_blueprint(**kw)


@pytest.fixture(scope="module")
def bank():
    return synthetic_bank(400, seed=3, points_per_weight=0.3)


def ids(form):
    return [(e.item_id, e.version) for e in form.entries]


def test_single_form_meets_every_rule(bank):
    r = assemble(bank.candidates, small_blueprint(), seed=1, kp_index=bank.kp_index, time_limit=20)
    assert r.status == "optimal"
    assert r.ok, r.check.summary()
    form = r.forms[0]
    assert len(form.entries) == 36
    assert [e.position for e in form.entries] == list(range(1, 37))
    assert sum(e.points for e in form.entries) == pytest.approx(20.0)
    # sections in blueprint order, with the section's paper points
    assert [e.section for e in form.entries] == ["single_choice"] * 20 + ["multiple_choice"] * 4 + ["true_false"] * 12
    assert {e.points for e in form.entries if e.section == "multiple_choice"} == {1.0}
    # the checker saw every rule: counts, areas, X coverage, cap, Y/Z, mean p, time
    rules = {c.rule for c in r.check.checks}
    assert {"section_count", "area_points", "x_coverage", "point_cap", "z_share", "yz_share", "mean_p",
            "time", "enemies", "item_sets"} <= rules
    # re-check independently from the returned candidates
    chosen = r.selected[0]
    x_points = [k for k, v in bank.kp_index.items() if v.importance == "X"]
    assert check_forms([chosen], small_blueprint(), x_points=x_points).passed
    covered = {c.kp for c in chosen}
    assert set(x_points) <= covered
    mean_p = np.mean([c.p for c in chosen])
    assert 0.63 - 1e-9 <= mean_p <= 0.69 + 1e-9
    assert r.objective == pytest.approx(sum(c.disc for c in chosen))
    assert r.gap is not None and r.gap <= 0.01


def test_same_seed_same_paper_different_seed_different_paper(bank):
    bp = small_blueprint()
    a = assemble(bank.candidates, bp, seed=11, kp_index=bank.kp_index, time_limit=20)
    b = assemble(list(reversed(bank.candidates)), bp, seed=11, kp_index=bank.kp_index, time_limit=20)
    c = assemble(bank.candidates, bp, seed=12, kp_index=bank.kp_index, time_limit=20)
    assert a.ok and b.ok and c.ok
    assert ids(a.forms[0]) == ids(b.forms[0])          # candidate order does not matter
    assert set(ids(a.forms[0])) != set(ids(c.forms[0]))
    assert a.seed == 11 and c.seed == 12


def test_parallel_forms_are_disjoint_and_close(bank):
    r = assemble(bank.candidates, small_blueprint(forms=3), seed=5, kp_index=bank.kp_index, time_limit=20)
    assert r.ok, r.check.summary()
    assert [f.label for f in r.forms] == ["A", "B", "C"]
    sets = [set(e.item_id for e in f.entries) for f in r.forms]
    assert not (sets[0] & sets[1]) and not (sets[0] & sets[2]) and not (sets[1] & sets[2])
    means = [f.mean_p for f in r.forms]
    assert max(means) - min(means) <= 0.02 + 1e-9
    objs = [f.objective for f in r.forms]
    assert max(objs) <= 1.02 * min(objs) + 1e-9
    assert r.check.by_rule("max_uses")[0].passed


def small_custom_bank():
    """Two areas, 6 X points, 6 single_choice items per point (p ~ 0.65)."""
    cands = []
    kp_index = {}
    rng = np.random.default_rng(0)
    for a in ("A", "B"):
        for k in range(3):
            kp = f"{a}-A-{k + 1:03d}"
            kp_index[kp] = KpInfo(a, "X", "theory")
            for j in range(6):
                cands.append(Candidate(f"{kp}-{j}", 1, "single_choice", 1.0, kp, a, "X",
                                       p=round(float(rng.uniform(0.55, 0.75)), 3),
                                       disc=round(float(rng.uniform(0.2, 0.6)), 3)))
    return cands, kp_index


def custom_bp(**extra):
    bp = {"grade": 4,
          "theory": {"total_points": 10, "duration_min": 20,
                     "sections": [{"type": "single_choice", "count": 10, "points": 1}],
                     "areas": {"weights": {"A": 50, "B": 50}, "tolerance": 0},
                     "coverage": {"max_per_point": 2},
                     "difficulty": {"mean_p": [0.6, 0.7]}},
          "solver": {"mip_rel_gap": 0.01}}
    for k, v in extra.items():
        bp[k] = v
    return bp


def test_enemies_sets_and_anchors_are_honoured():
    cands, kp_index = small_custom_bank()
    by_kp = {}
    for c in cands:
        by_kp.setdefault(c.kp, []).append(c)
    # the two best items of A-A-001 are enemies; the three best of B-A-002 form an item set (so the
    # objective wants them, but a point cap of 2 would split them); one item of A-A-003 is an anchor
    best = sorted(by_kp["A-A-001"], key=lambda c: -c.disc)[:2]
    set_ids = [c.item_id for c in by_kp["B-A-002"][:3]]
    cands = [Candidate(**{**c.__dict__, "disc": 0.9, "p": 0.65}) if c.item_id in set_ids else c for c in cands]
    anchor = sorted(by_kp["A-A-003"], key=lambda c: c.disc)[0].item_id   # the worst item: only forced in
    bp = custom_bp(eligibility={"enemies": [[best[0].item_id, best[1].item_id]],
                                "item_sets": {"CASE-1": set_ids}, "anchors": [anchor]})
    bp["theory"]["coverage"]["max_per_point"] = 3
    set_counts = []
    for seed in range(4):
        r = assemble(cands, bp, seed=seed, kp_index=kp_index, time_limit=20)
        assert r.ok, r.check.summary()
        chosen = [e.item_id for e in r.forms[0].entries]
        assert not {best[0].item_id, best[1].item_id} <= set(chosen)
        assert len(set(chosen) & {best[0].item_id, best[1].item_id}) == 1   # one of the pair is worth taking
        set_counts.append(len(set(chosen) & set(set_ids)))
        assert anchor in chosen
        pos = [e.position for e in r.forms[0].entries if e.item_id in set_ids]
        if pos:                                  # set members stay together in the paper
            assert pos == list(range(pos[0], pos[0] + 3))
    assert set_counts == [3, 3, 3, 3]
    # with the cap at 2 per point the set cannot be used whole, so none of it is
    bp["theory"]["coverage"]["max_per_point"] = 2
    r = assemble(cands, bp, seed=0, kp_index=kp_index, time_limit=20)
    assert r.ok and not set(set_ids) & {e.item_id for e in r.forms[0].entries}
    # a set with an ineligible member is left out entirely, with the reason recorded
    short = [c for c in cands if c.item_id != set_ids[0]]
    r = assemble(short, bp, seed=0, kp_index=kp_index, time_limit=20)
    assert r.ok and not set(set_ids) & {e.item_id for e in r.forms[0].entries}
    assert r.model["excluded"].get("item_set_incomplete") == 2


def test_anchor_is_on_every_form_and_exempt_from_overlap(bank):
    anchor = next(c for c in bank.candidates if c.type == "single_choice" and c.importance == "X")
    bp = small_blueprint(forms=2, eligibility={"anchors": [anchor.item_id]})
    r = assemble(bank.candidates, bp, seed=3, kp_index=bank.kp_index, time_limit=20)
    assert r.ok, r.check.summary()
    for f in r.forms:
        assert anchor.item_id in {e.item_id for e in f.entries}
    shared = {e.item_id for e in r.forms[0].entries} & {e.item_id for e in r.forms[1].entries}
    assert shared == {anchor.item_id}


def practical_blueprint(groups=False, equipment=None):
    bp = small_blueprint(practical={"P": 30, "Q": 30, "R": 20, "S": 20})
    if groups:
        bp["practical"]["modules"] = [
            {"area": "P", "weight": 30}, {"area": "Q", "weight": 30},
            {"area": "R", "weight": 40, "group": "G1"}, {"area": "S", "weight": 40, "group": "G1"}]
        bp["practical"]["groups"] = {"G1": 1}
    if equipment is not None:
        bp["practical"]["station_equipment"] = equipment
    return bp


def test_practical_part_modules_groups_and_equipment():
    bank = synthetic_bank(400, seed=3, points_per_weight=0.3, practical={"P": 30, "Q": 30, "R": 20, "S": 20},
                          tasks_per_module=6)
    r = assemble(bank.candidates, practical_blueprint(), seed=2, kp_index=bank.kp_index, time_limit=20)
    assert r.ok, r.check.summary()
    prac = [e for e in r.forms[0].entries if e.part == "practical"]
    assert [e.section for e in prac] == ["P", "Q", "R", "S"]
    assert [e.points for e in prac] == [30, 30, 20, 20]
    assert [e.position for e in prac] == [1, 2, 3, 4]
    # optional group: one of R/S, weights 30 + 30 + 40
    r = assemble(bank.candidates, practical_blueprint(groups=True), seed=2, kp_index=bank.kp_index, time_limit=20)
    assert r.ok, r.check.summary()
    prac = [e for e in r.forms[0].entries if e.part == "practical"]
    assert len(prac) == 3 and sorted(e.points for e in prac) == [30, 30, 40]
    assert prac[2].section in ("R", "S")
    # equipment: only tasks the station can run
    station = ["车床", "千分尺", "游标卡尺"]
    r = assemble(bank.candidates, practical_blueprint(), seed=2, kp_index=bank.kp_index, time_limit=20,
                 station_equipment=station)
    assert r.ok, r.check.summary()
    by_id = {c.item_id: c for c in bank.candidates}
    assert all(by_id[e.item_id].equipment <= set(station) for e in r.forms[0].entries if e.part == "practical")
    assert r.check.by_rule("equipment")[0].passed
    # a station with none of the tools: every module is short, said per module
    r = assemble(bank.candidates, practical_blueprint(equipment=["卷尺"]), seed=2, kp_index=bank.kp_index)
    assert r.status == "infeasible"
    assert {f.subject for f in r.findings if f.code == "module_supply"} == {"P", "Q", "R", "S"}
    assert "操作题" in r.findings[0].message_zh and "eligible tasks" in r.findings[0].message_en


def test_paper_json_contract(bank):
    r = assemble(bank.candidates, small_blueprint(forms=2), seed=7, kp_index=bank.kp_index, time_limit=20)
    d = json.loads(r.to_json())
    assert d["schema"] == "examsys.paper/1"
    assert d["status"] == r.status and d["ok"] is True
    assert d["seed"] == 7
    assert len(d["blueprint_hash"]) == 64
    assert d["blueprint_hash"] == parse_blueprint(small_blueprint(forms=2)).hash
    assert d["solver"]["scipy"] and "highs" in d["solver"]
    assert d["check"]["passed"] is True and d["check"]["n_violations"] == 0
    assert {"objective", "gap", "solve_time_s", "total_time_s", "model", "findings"} <= set(d)
    assert [f["label"] for f in d["forms"]] == ["A", "B"]
    item = d["forms"][0]["items"][0]
    assert set(item) == {"item_id", "version", "part", "section", "position", "points"}


def test_candidates_from_item_dicts_screen_eligibility():
    bank = synthetic_bank(300, seed=4, points_per_weight=0.3, recent_share=0.1)
    items = bank.item_dicts(grade=4)
    items[0]["status"] = "draft"
    items[1]["grades"] = [3]
    items[2]["id"] = items[3]["id"]           # two versions of one item: the newest is kept
    items[2]["version"] = 2
    items[4]["difficulty"] = None
    exposure = {items[5]["id"]: 0.5}
    scr = screen_items(items, bank.kp_index, 4, recent_papers=[bank.recent_ids[:10]], exclude_recent=1,
                       exposure=exposure, max_exposure=0.3, default_p=0.6)
    ex = scr.excluded
    assert ex[items[0]["id"]].startswith("status")
    assert ex[items[1]["id"]] == "grade"
    assert ex[f"{items[3]['id']}@1"] == "older_version"
    assert ex[items[5]["id"]] == "exposure"
    assert sum(1 for v in ex.values() if v == "recently_used") == 10
    by_id = {c.item_id: c for c in scr.candidates}
    assert by_id[items[3]["id"]].version == 2
    assert by_id[items[4]["id"]].p == 0.6
    assert candidates_from_items(items, bank.kp_index, 4) == sorted(
        candidates_from_items(items, bank.kp_index, 4), key=lambda c: c.item_id)
    with pytest.raises(ValueError, match=r"items\[0\]\.version"):
        screen_items([{"id": "x", "version": 0}], bank.kp_index, 4)


def test_greedy_baseline_and_fallback(bank, monkeypatch):
    bp = small_blueprint()
    g = greedy_assemble(bank.candidates, bp, seed=1, kp_index=bank.kp_index)
    assert g.status == "greedy" and len(g.forms[0].entries) == 36
    assert g.check is not None          # violations, if any, are reported, not hidden
    r = assemble(bank.candidates, bp, seed=1, kp_index=bank.kp_index, time_limit=20)
    assert r.objective >= g.objective - 1e-9

    # HiGHS returning no incumbent (time limit) → steered greedy, clearly marked, checked
    def no_solution(model, deadline, gap, strategy="lp"):
        return asm._Solve(None, "no_solution", None, None, None, 0.01, [], "Time limit reached")
    monkeypatch.setattr(asm, "_solve_pipeline", no_solution)
    r = assemble(bank.candidates, bp, seed=1, kp_index=bank.kp_index, time_limit=5)
    assert r.status == "greedy_fallback"
    assert "greedy" in r.message_en and r.check is not None
    assert ids(r.forms[0]) == ids(g.forms[0])
    r = assemble(bank.candidates, bp, seed=1, kp_index=bank.kp_index, time_limit=5, fallback=False)
    assert r.status == "no_solution" and not r.forms and not r.ok


def test_time_limit_is_respected(bank):
    r = assemble(bank.candidates, small_blueprint(forms=3), seed=2, kp_index=bank.kp_index, time_limit=0.5)
    assert r.total_time_s < 2.0
    assert r.status in ("optimal", "feasible", "greedy_fallback")


def test_exact_and_milp_paths_agree_on_rules(bank):
    bp = small_blueprint()
    a = assemble(bank.candidates, bp, seed=4, kp_index=bank.kp_index, prune=False, strategy="milp", time_limit=20)
    b = assemble(bank.candidates, bp, seed=4, kp_index=bank.kp_index, prune=True, time_limit=20)
    assert a.ok and b.ok
    assert b.objective >= a.objective * (1 - 0.02)


def test_tif_target_objective():
    cands, kp_index = small_custom_bank()
    rng = np.random.default_rng(1)
    cands = [Candidate(**{**c.__dict__, "irt_a": float(rng.uniform(0.5, 2.0)), "irt_b": float(rng.normal())})
             for c in cands]
    bp = custom_bp(objective={"kind": "tif_target", "theta": [-1, 0, 1], "target_information": [2.0, 3.0, 2.0]})
    r = assemble(cands, bp, seed=0, kp_index=kp_index, time_limit=20)
    assert r.ok, r.check.summary()
    chosen = r.selected[0]
    a = np.array([c.irt_a for c in chosen])
    b = np.array([c.irt_b for c in chosen])
    info = []
    for t in (-1, 0, 1):
        P = 1 / (1 + np.exp(-a * (t - b)))
        info.append(float((a ** 2 * P * (1 - P)).sum()))
    # the best 10-item subsets reach the targets closely
    assert np.allclose(info, [2.0, 3.0, 2.0], atol=0.35)


def test_bad_arguments_raise_value_errors(bank):
    bp = small_blueprint()
    with pytest.raises(ValueError, match="forms"):
        assemble(bank.candidates, bp, forms=0)
    with pytest.raises(ValueError, match="seed"):
        assemble(bank.candidates, bp, seed=-1)
    with pytest.raises(ValueError, match="time_limit"):
        assemble(bank.candidates, bp, time_limit=0)
    with pytest.raises(BlueprintError, match="theory.sections"):
        assemble(bank.candidates, {"grade": 4, "theory": {"total_points": 10, "duration_min": 5,
                                                          "areas": {"weights": {"A": 100}}}})
    with pytest.raises(ValueError, match="p \\(facility\\)"):
        Candidate("x", 1, "single_choice", 1.0, "A-A-001", "A", "X", p=1.5, disc=0.2)
    with pytest.raises(ValueError, match="importance"):
        Candidate("x", 1, "single_choice", 1.0, "A-A-001", "A", "W", p=0.5, disc=0.2)


def test_guarded_solver_process(bank):
    # the child-process solve (used for very large models) gives the in-process answer ...
    m = asm._build_model(*_pool_and_weights(bank, small_blueprint()))
    opts = {"time_limit": 20.0, "mip_rel_gap": 0.01}
    res = asm._milp_guarded(m.c, m.integrality, m.col_lb, m.col_ub, m.A, m.lb, m.ub, opts, hard_limit=30)
    ref = asm.milp(m.c, integrality=m.integrality, bounds=asm.Bounds(m.col_lb, m.col_ub),
                   constraints=[asm.LinearConstraint(m.A, m.lb, m.ub)], options=opts)
    assert res.status == ref.status == 0
    assert res.fun == pytest.approx(ref.fun)
    # ... and a child that cannot finish in time is stopped and reads as "time limit, no solution"
    res = asm._milp_guarded(m.c, m.integrality, m.col_lb, m.col_ub, m.A, m.lb, m.ub, opts, hard_limit=0.01)
    assert res.status == 1 and res.x is None and "stopped" in res.message


def _pool_and_weights(bank, bp_dict):
    bp = parse_blueprint(bp_dict)
    pool = asm._build_pool(bank.candidates, bp, kp_index=bank.kp_index)
    return pool, bp, 1, asm._perturbed_weights(pool, 1, 0, 0.05)


def test_bands_points_basis_and_overlap_allowance(bank):
    bp = small_blueprint(forms=2)
    bp["theory"]["difficulty"]["bands"] = [{"p": [0.0, 0.55], "min": 6}, {"p": [0.8, 1.0], "max": 4}]
    bp["theory"]["importance"]["basis"] = "points"
    bp["forms"]["max_uses"] = 2
    r = assemble(bank.candidates, bp, seed=9, kp_index=bank.kp_index, time_limit=20)
    assert r.ok, r.check.summary()
    for chosen in r.selected:
        assert sum(c.p < 0.55 for c in chosen) >= 6
        assert sum(c.p >= 0.8 for c in chosen) <= 4
    assert len(r.check.by_rule("band")) == 4
    assert r.check.by_rule("yz_share")[0].target.endswith("points")


def test_one_click_blueprint_from_the_taxonomy():
    from question_bank.blueprint import derive_blueprint

    bank = synthetic_bank(2000, seed=5)
    bp = derive_blueprint(bank.taxonomy, 4, "mixed-180")
    r = assemble(bank.candidates, bp, seed=1, kp_index=bank.kp_index, time_limit=20)
    assert r.ok, r.check.summary()
    assert len(r.forms[0].entries) == 180 and r.status == "optimal"

"""Blueprint spec: parsing, validation messages with field paths, hashing, derive_blueprint, examples."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from question_bank.blueprint import (
    LAYOUT_PRESETS,
    Blueprint,
    BlueprintError,
    KpInfo,
    blueprint_hash,
    derive_blueprint,
    dump_blueprint,
    kp_index_from_taxonomy,
    load_blueprint,
    parse_blueprint,
    validate_blueprint,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples" / "blueprints").glob("*.yaml"))

TAXONOMY = {
    "occupation": {"code": "6-18-01-01", "name": "车工", "work_type": "数控车工"},
    "grades": [4, 3],
    "weights": {"theory": {4: {"A": 5, "B": 30, "C": 65}, 3: {"A": 5, "B": 25, "C": 70}},
                "practical": {4: {"D": 30, "E": 30, "F": 20, "G": 20}}},
    "tree": [
        {"code": "A", "name": "职业道德", "part": "theory", "units": [
            {"code": "A-A", "name": "职业道德基本知识", "points": [
                {"code": "A-A-001", "name": "职业道德的概念", "importance": "X", "grades": [4, 3]},
                {"code": "A-A-002", "name": "职业守则", "importance": "Y", "grades": [3]}]}]},
        {"code": "B", "name": "基础知识", "part": "theory", "units": [
            {"code": "B-A", "name": "识图", "points": [
                {"code": "B-A-001", "name": "三视图", "importance": "X"}]}]},
        {"code": "C", "name": "专业知识", "part": "theory", "points": [
            {"code": "C-001", "name": "切削", "importance": "Z", "grades": [4]}]},
        {"code": "D", "name": "工件加工", "part": "practical", "points": [
            {"code": "D-001", "name": "外圆", "importance": "X", "grades": [4]}]},
        *({"code": a, "name": f"模块 {a}", "part": "practical", "points": [
            {"code": f"{a}-001", "name": "操作", "importance": "X"}]} for a in ("E", "F", "G")),
    ],
}


def base():
    return {
        "grade": 4,
        "theory": {
            "total_points": 100, "duration_min": 120,
            "sections": [{"type": "single_choice", "count": 160, "points": 0.5},
                         {"type": "true_false", "count": 40, "points": 0.5}],
            "areas": {"weights": {"A": 5, "B": 30, "C": 65}, "tolerance": 1},
            "difficulty": {"mean_p": [0.63, 0.69]},
        },
    }


def problems(d, **kw):
    return {(p.field, p.code) for p in validate_blueprint(d, **kw) if p.severity == "error"}


def test_minimal_blueprint_parses_with_defaults():
    bp = parse_blueprint(base())
    assert isinstance(bp, Blueprint)
    th = bp.theory
    assert th.n_items == 200
    assert th.area_windows == {"A": (4.0, 6.0), "B": (29.0, 31.0), "C": (64.0, 66.0)}
    assert (th.max_per_point, th.min_per_x_point, th.x_points) == (2, 1, "all")
    assert th.seconds_for("single_choice") == 30 and th.seconds_for("true_false") == 20
    assert bp.forms.count == 1 and bp.forms.max_uses == 1
    assert bp.eligibility.statuses == ("approved",)
    assert bp.objective.kind == "discrimination" and bp.mip_rel_gap == pytest.approx(1e-3)
    assert validate_blueprint(base()) == []


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_files_are_valid(path):
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert validate_blueprint(data) == []
    bp = load_blueprint(path)
    assert bp.hash == blueprint_hash(data)


def test_examples_exist():
    names = {p.name for p in EXAMPLES}
    assert "example-theory-grade4.yaml" in names and len(names) >= 2


def test_points_total_mismatch_names_sections():
    d = base()
    d["theory"]["sections"][1]["count"] = 30
    ps = validate_blueprint(d)
    p = next(p for p in ps if p.code == "points_total_mismatch")
    assert p.field == "theory.sections"
    assert "160×0.5 + 30×0.5 = 95" in p.message_en and "100" in p.message_en
    assert "不等于" in p.message_zh


@pytest.mark.parametrize("mutate, field, code", [
    (lambda d: d["theory"]["sections"][1].update(count=-3), "theory.sections[1].count", "out_of_range"),
    (lambda d: d["theory"]["sections"][1].update(count="forty"), "theory.sections[1].count", "not_a_number"),
    (lambda d: d["theory"]["sections"][0].update(count=12.5), "theory.sections[0].count", "not_an_integer"),
    (lambda d: d["theory"]["sections"][0].update(points=0.3), "theory.sections[0].points", "not_half_multiple"),
    (lambda d: d["theory"]["sections"][0].update(type="multiple_choise"), "theory.sections[0].type", "unknown_type"),
    (lambda d: d["theory"]["sections"][1].update(type="single_choice"), "theory.sections[1].type", "duplicate_type"),
    (lambda d: d["theory"].update(duration_min=0), "theory.duration_min", "out_of_range"),
    (lambda d: d["theory"].pop("total_points"), "theory.total_points", "missing"),
    (lambda d: d["theory"]["areas"]["weights"].update(C=60), "theory.areas.weights", "weights_sum"),
    (lambda d: d["theory"]["areas"].update(tolerance=-1), "theory.areas.tolerance", "negative"),
    (lambda d: d["theory"]["difficulty"].update(mean_p=[0.6, 1.2]), "theory.difficulty.mean_p", "window_out_of_range"),
    (lambda d: d["theory"]["difficulty"].update(mean_p=[0.7, 0.6]), "theory.difficulty.mean_p", "window_reversed"),
    (lambda d: d["theory"]["difficulty"].update(mean_p=0.65), "theory.difficulty.mean_p", "not_a_window"),
    (lambda d: d["theory"].update(importance={"z_max": 1.5}), "theory.importance.z_max", "out_of_range"),
    (lambda d: d["theory"].update(coverage={"max_per_point": 0}), "theory.coverage.max_per_point", "out_of_range"),
    (lambda d: d["theory"]["difficulty"].update(bands=[{"p": [0, 0.4], "min": 300}]),
     "theory.difficulty.bands[0].min", "band_exceeds_items"),
    (lambda d: d.update(grade=7), "grade", "out_of_range"),
    (lambda d: d.update(forms={"count": 0}), "forms.count", "out_of_range"),
    (lambda d: d.update(eligibility={"enemies": [["only-one"]]}), "eligibility.enemies[0]", "enemy_group_too_small"),
    (lambda d: d.update(objective={"kind": "tif_target", "theta": [0, 1], "target_information": [1]}),
     "objective.target_information", "tif_shape"),
    (lambda d: d.update(schema="examsys.blueprint/9"), "schema", "unknown_schema"),
])
def test_problems_name_the_field(mutate, field, code):
    d = base()
    mutate(d)
    assert (field, code) in problems(d)
    with pytest.raises(BlueprintError) as exc:
        parse_blueprint(d)
    assert isinstance(exc.value, ValueError)
    assert any(p.field == field and p.code == code for p in exc.value.problems)
    assert field in str(exc.value)


def test_every_problem_has_both_languages():
    d = base()
    d["theory"]["sections"][0]["count"] = "x"
    d["theory"]["difficulty"]["mean_p"] = [0.5, 1.5]
    for p in validate_blueprint(d):
        assert p.message_zh and p.message_en and p.field and p.code
        assert p.to_dict()["field"] == p.field


def test_window_granularity():
    d = base()
    d["theory"]["areas"]["windows"] = {"B": [20.05, 20.45]}
    d["theory"]["areas"]["tolerance"] = 10        # keep the total consistent
    p = next(p for p in validate_blueprint(d) if p.code == "window_granularity")
    assert p.field == "theory.areas.windows.B"
    assert p.message_en == "area B's window [20.05, 20.45] holds no multiple of 0.5 points"
    assert "不含 0.5 分的整数倍" in p.message_zh
    # tolerance 0 with a weight that is not a multiple of the item points: named on the tolerance
    d = base()
    d["theory"]["areas"] = {"weights": {"A": 5.3, "B": 30, "C": 64.7}, "tolerance": 0}
    assert ("theory.areas.tolerance", "window_granularity") in problems(d)


def test_area_windows_must_admit_the_total():
    d = base()
    d["theory"]["areas"]["windows"] = {"C": [50, 55]}
    assert ("theory.areas", "windows_total") in problems(d)


def test_yaml_boolean_area_code_is_explained():
    text = "grade: 4\ntheory:\n  total_points: 10\n  duration_min: 10\n  sections: [{type: true_false, count: 10, points: 1}]\n" \
           "  areas: {weights: {A: 50, on: 30, NO: 20}}\n"
    d = yaml.safe_load(text)
    ps = [p for p in validate_blueprint(d) if p.code == "boolean_key"]
    assert len(ps) == 2 and "quote" in ps[0].message_en and "引号" in ps[0].message_zh


def test_codes_checked_against_the_taxonomy():
    idx = kp_index_from_taxonomy(TAXONOMY, 4)
    d = base()
    d["theory"]["areas"]["weights"] = {"A": 5, "B": 30, "Q": 65}
    d["theory"]["coverage"] = {"x_points": ["A-A-001", "Z-Z-999"]}
    got = problems(d, kp_index=idx)
    assert ("theory.areas.weights.Q", "unknown_area") in got
    assert ("theory.coverage.x_points[1]", "unknown_point") in got
    assert ("theory.coverage.x_points[0]", "unknown_point") not in got
    d = base()
    d["practical"] = {"duration_min": 120, "modules": [{"area": "D", "weight": 50}, {"area": "X9", "weight": 50}]}
    assert ("practical.modules[1].area", "unknown_area") in problems(d, kp_index=idx)


def test_practical_validation():
    d = base()
    d["practical"] = {"duration_min": 240, "modules": [
        {"area": "D", "weight": 30}, {"area": "E", "weight": 30},
        {"area": "F", "weight": 40, "group": "G1"}, {"area": "G", "weight": 30, "group": "G1"}],
        "groups": {"G1": 1}}
    assert ("practical.groups.G1", "group_weights_differ") in problems(d)
    d["practical"]["modules"][3]["weight"] = 40
    assert problems(d) == set()
    bp = parse_blueprint(d)
    assert bp.practical.task_points(bp.practical.modules[2]) == 40
    assert [m.compulsory for m in bp.practical.modules] == [True, True, False, False]
    d["practical"]["groups"] = {"G1": 2}
    assert ("practical.modules", "weights_sum") in problems(d)
    d["practical"]["groups"] = {"G1": 3}
    assert ("practical.groups.G1", "group_too_small") in problems(d)
    d["practical"]["groups"] = {}
    assert ("practical.modules[2].group", "unknown_group") in problems(d)


def test_time_warning_is_a_warning():
    d = base()
    d["theory"]["duration_min"] = 60
    ps = [p for p in validate_blueprint(d) if p.code == "time_exceeds_duration"]
    assert ps and ps[0].severity == "warning" and "93.3 min" in ps[0].message_en
    parse_blueprint(d)                          # warnings do not stop parsing


def test_hash_is_canonical():
    a = base()
    b = copy.deepcopy(a)
    b["theory"] = dict(reversed(list(b["theory"].items())))
    b["forms"] = {"count": 1, "max_uses": 1}    # spelled-out defaults
    b["theory"]["coverage"] = {"x_points": "all", "max_per_point": 2}
    assert blueprint_hash(a) == blueprint_hash(b) == parse_blueprint(a).hash
    c = copy.deepcopy(a)
    c["theory"]["difficulty"]["mean_p"] = [0.62, 0.69]
    assert blueprint_hash(c) != blueprint_hash(a)
    assert len(blueprint_hash(a)) == 64


def test_dump_round_trip(tmp_path):
    bp = parse_blueprint(base())
    text = dump_blueprint(bp)
    path = tmp_path / "bp.yaml"
    path.write_text(text, encoding="utf-8")
    assert load_blueprint(path).hash == bp.hash
    (tmp_path / "bad.yaml").write_text("theory: [unclosed", encoding="utf-8")
    with pytest.raises(BlueprintError) as exc:
        load_blueprint(tmp_path / "bad.yaml")
    assert exc.value.problems[0].code == "yaml_error"


def test_kp_index_from_taxonomy():
    idx = kp_index_from_taxonomy(TAXONOMY, 4)
    assert idx["A-A-001"] == KpInfo("A", "X", "theory")
    assert "A-A-002" not in idx                     # grade 3 only
    assert idx["B-A-001"] == ("B", "X", "theory")   # no grades: every grade
    assert idx["D-001"].part == "practical"
    assert set(kp_index_from_taxonomy(TAXONOMY)) == {"A-A-001", "A-A-002", "B-A-001", "C-001", "D-001", "E-001",
                                                     "F-001", "G-001"}
    with pytest.raises(ValueError, match="importance"):
        kp_index_from_taxonomy({"tree": [{"code": "A", "points": [{"code": "A-1", "importance": "W"}]}]})


@pytest.mark.parametrize("preset", sorted(LAYOUT_PRESETS))
def test_derive_blueprint_presets(preset):
    d = derive_blueprint(TAXONOMY, 4, preset)
    assert [p for p in validate_blueprint(d, kp_index=kp_index_from_taxonomy(TAXONOMY, 4))
            if p.severity == "error"] == []
    bp = parse_blueprint(d)
    assert bp.theory.total_points == 100
    assert bp.theory.area_weights == {"A": 5, "B": 30, "C": 65}
    assert [m.area for m in bp.practical.modules] == ["D", "E", "F", "G"]
    assert [m.weight for m in bp.practical.modules] == [30, 30, 20, 20]
    assert bp.occupation == "6-18-01-01"


def test_derive_blueprint_classic_layout_and_adjust():
    d = derive_blueprint(TAXONOMY, 3, "classic-200", tolerance=0.5, forms=2)
    bp = parse_blueprint(d)
    assert [(s.type, s.count, s.points) for s in bp.theory.sections] == [("single_choice", 160, 0.5),
                                                                         ("true_false", 40, 0.5)]
    assert bp.theory.duration_min == 120 and bp.forms.count == 2 and bp.practical is None
    assert bp.theory.area_windows["B"] == (24.5, 25.5)
    d["theory"]["difficulty"]["mean_p"] = [0.6, 0.7]          # adjustable afterwards
    assert parse_blueprint(d).theory.mean_p == (0.6, 0.7)
    with pytest.raises(ValueError, match="preset"):
        derive_blueprint(TAXONOMY, 4, "nope")
    with pytest.raises(ValueError, match="grade 1"):
        derive_blueprint(TAXONOMY, 1)
    with pytest.raises(ValueError, match="weights"):
        derive_blueprint({"tree": []}, 4)
    # weights alone are enough, grade keys may be strings
    d = derive_blueprint({"weights": {"theory": {"4": {"A": 40, "B": 60}}}}, 4, "standard-100")
    assert parse_blueprint(d).theory.n_items == 100

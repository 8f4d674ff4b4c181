"""Taxonomy (鉴定要素细目表): loading, index look-ups, located validation problems."""

import pytest

from question_bank.item_types.examples import example_taxonomy
from question_bank.items import Importance
from question_bank.taxonomy import (Area, Point, Taxonomy, TaxonomyError, Unit, load_taxonomy_yaml,
                                    resolve_taxonomy, validate_taxonomy)


def codes(problems):
    return sorted((p.field, p.code) for p in problems if p.is_error)


@pytest.fixture
def d():
    return example_taxonomy()


def test_from_dict_builds_dataclasses(d):
    t = Taxonomy.from_dict(d)
    assert t.occupation.code == "6-18-01-01" and t.occupation.work_type == "数控车工"
    assert t.grades == (4, 3)
    assert [a.code for a in t.areas] == ["A", "B", "P-A"]
    p = t.index.node("B-C-004")
    assert isinstance(p, Point) and p.importance is Importance.Z and p.grades == (3,) and p.part == "theory"
    assert isinstance(t.index.node("B-C"), Unit) and isinstance(t.index.node("P-A"), Area)
    assert t.index.node("P-A-A-001").part == "practical"


def test_index_lookups(d):
    ix = Taxonomy.from_dict(d).index
    assert ix.kind("B") == "area" and ix.kind("B-C") == "unit" and ix.kind("B-C-001") == "point"
    assert ix.kind("nope") is None and "B-C-003" in ix and "Q" not in ix
    assert ix.subtree("B") == {"B", "B-C", "B-C-001", "B-C-003", "B-C-004"}
    assert ix.subtree("B-C-001") == {"B-C-001"}
    with pytest.raises(KeyError):
        ix.subtree("Q")
    assert ix.parent("B-C-003") == "B-C" and ix.parent("B") is None
    assert ix.area_of("B-C-003").code == "B"
    assert [p.code for p in ix.points_of_grade(4)] == ["A-A-001", "B-C-001", "B-C-003", "P-A-A-001"]
    assert [p.code for p in ix.points_of_grade(3, part="theory")] == ["A-A-001", "B-C-001", "B-C-003", "B-C-004"]
    assert [p.code for p in ix.points_under("B-C")] == ["B-C-001", "B-C-003", "B-C-004"]
    assert ix.weights("theory", 4) == {"A": 20.0, "B": 80.0}
    assert ix.weights("practical", 5) == {}
    assert ix.weights_table["practical"][3] == {"P-A": 100.0}
    assert ix.point("B-C") is None


def test_to_dict_round_trip(d):
    t = Taxonomy.from_dict(d)
    assert t.to_dict() == d
    assert Taxonomy.from_dict(t.to_dict()) == t


def test_yaml_loading(tmp_path, d):
    import yaml
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(d, allow_unicode=True), encoding="utf-8")
    assert Taxonomy.from_yaml(path) == Taxonomy.from_dict(d)
    assert load_taxonomy_yaml(path.read_text(encoding="utf-8")) == d
    # string grade keys (as from JSON) are accepted
    d2 = example_taxonomy()
    d2["weights"] = {"theory": {"4": {"A": 20, "B": 80}, "3": {"A": 10, "B": 90}},
                     "practical": {"4": {"P-A": 100}, "3": {"P-A": 100}}}
    assert Taxonomy.from_dict(d2).index.weights("theory", 3) == {"A": 10.0, "B": 90.0}


def test_resolve_taxonomy(d):
    t = Taxonomy.from_dict(d)
    assert resolve_taxonomy(t, "6-18-01-01") is t
    assert resolve_taxonomy(t, "x") is None
    assert resolve_taxonomy({"6-18-01-01": t}, "6-18-01-01") is t
    assert resolve_taxonomy([t], "6-18-01-01") is t
    assert resolve_taxonomy(None, "6-18-01-01") is None


def test_weights_must_sum_to_100(d):
    d["weights"]["theory"][4]["B"] = 70
    assert codes(validate_taxonomy(d)) == [("weights.theory.4", "weights_sum")]
    with pytest.raises(TaxonomyError) as exc:
        Taxonomy.from_dict(d)
    assert exc.value.problems[0].params["total"] == 90


def test_weights_unknown_area_wrong_part_and_missing_grade(d):
    d["weights"]["theory"][4] = {"A": 20, "P-A": 80}
    del d["weights"]["practical"][3]
    assert codes(validate_taxonomy(d)) == [("weights.practical", "missing_weights"),
                                          ("weights.theory.4.P-A", "weight_unknown_area")]


def test_weights_bad_values(d):
    d["weights"]["theory"][4] = {"A": "20", "B": 80}
    d["weights"]["theory"][9] = {"A": 100}
    d["weights"]["extra"] = {}
    assert codes(validate_taxonomy(d)) == [("weights.extra", "bad_part"), ("weights.theory.4.A", "not_a_number"),
                                          ("weights.theory.9", "bad_grade")]


def test_duplicate_and_non_hierarchical_codes(d):
    d["tree"][1]["units"][0]["points"][1]["code"] = "B-C-001"
    d["tree"][0]["units"][0]["code"] = "X-A"
    probs = validate_taxonomy(d)
    assert codes(probs) == [
        ("tree[0].units[0].code", "code_not_hierarchical"),
        ("tree[0].units[0].points[0].code", "code_not_hierarchical"),
        ("tree[1].units[0].points[1].code", "duplicate_code"),
    ]
    dup = next(p for p in probs if p.code == "duplicate_code")
    assert dup.params["first"] == "tree[1].units[0].points[0].code"
    assert "代码“B-C-001”重复" in dup.message_zh


def test_node_field_problems(d):
    pt = d["tree"][1]["units"][0]["points"][0]
    pt["importance"] = "W"
    pt["grades"] = [4, 5]
    d["tree"][2]["part"] = "skills"
    del d["tree"][0]["name"]
    assert codes(validate_taxonomy(d)) == [
        ("tree[0].name", "required"), ("tree[1].units[0].points[0].grades[1]", "grade_not_in_taxonomy"),
        ("tree[1].units[0].points[0].importance", "unknown_importance"), ("tree[2].part", "bad_part")]


def test_top_level_problems():
    assert codes(validate_taxonomy([])) == [("", "not_a_mapping")]
    assert codes(validate_taxonomy({})) == [("grades", "required"), ("occupation", "required"),
                                           ("tree", "required"), ("weights", "required")]


def test_unknown_keys_are_warnings(d):
    d["tree"][0]["colour"] = "red"
    probs = validate_taxonomy(d)
    assert [(p.field, p.code, p.severity) for p in probs] == [("tree[0]", "unknown_field", "warning")]
    Taxonomy.from_dict(d)  # warnings do not block


def test_demo_taxonomy_loads():
    from pathlib import Path
    path = Path(__file__).resolve().parents[2] / "examsys" / "demo" / "data" / "cnc_lathe.yaml"
    if not path.exists():
        pytest.skip("demo data not present")
    t = Taxonomy.from_yaml(path)
    assert t.index.kind("P-A-A-001") == "point"
    for part in ("theory", "practical"):
        for g in t.grades:
            assert sum(t.index.weights(part, g).values()) == pytest.approx(100)

"""Structure checks for the demo bank (examsys/demo/data, examsys/demo/media).

Pure: reads the YAML files with PyYAML only, imports nothing from examsys or flask, so it runs
without a database and fails with a message that names the file and the item.
The formats are those of docs/items.md.
"""

from __future__ import annotations

import functools
import re
from collections import Counter, defaultdict
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "examsys" / "demo" / "data"
MEDIA = ROOT / "examsys" / "demo" / "media"

# (taxonomy file, items file, expected occupation code, point count range, type minimums)
OCCUPATIONS = {
    "cnc_lathe": dict(
        taxonomy="cnc_lathe.yaml", items="cnc_lathe_items.yaml", code="6-18-01-01",
        points=(80, 110),
        minimums={"single_choice": 170, "true_false": 70, "multiple_choice": 35, "fill_blank": 25,
                  "short_answer": 6, "calculation": 4, "essay": 2, "practical_task": 6},
        total=320,
    ),
    "electrician": dict(
        taxonomy="electrician.yaml", items="electrician_items.yaml", code="6-31-01-03",
        points=(25, 35),
        minimums={"single_choice": 40, "true_false": 10, "multiple_choice": 3, "fill_blank": 3,
                  "practical_task": 1},
        total=60,
    ),
}

TYPES = {"single_choice", "multiple_choice", "true_false", "fill_blank", "short_answer",
         "calculation", "essay", "practical_task"}
# the demo bank's points convention (README of the data: one value per type)
POINTS = {"single_choice": 1.0, "true_false": 1.0, "multiple_choice": 2.0, "fill_blank": 1.0,
          "short_answer": 5.0, "calculation": 10.0, "essay": 20.0, "practical_task": 100.0}
STATUSES = {"draft", "in_review", "approved", "retired", "flagged"}
LETTERS = "ABCDEFGH"
# theory paper the assembler must be able to fill from approved items of one grade: type -> count
THEORY_PAPER = {"single_choice": 80, "true_false": 20}


_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@functools.lru_cache(maxsize=None)
def _load(name: str):
    """Parse one data file once per test session (callers must not mutate the result)."""
    with open(DATA / name, encoding="utf-8") as fh:
        return yaml.load(fh, Loader=_Loader)


@pytest.fixture(scope="module", params=sorted(OCCUPATIONS))
def occ(request):
    spec = OCCUPATIONS[request.param]
    tax = _load(spec["taxonomy"])
    items = _load(spec["items"])
    points = {}
    for area in tax["tree"]:
        for unit in area["units"]:
            for p in unit["points"]:
                points[p["code"]] = dict(p, area=area["code"], unit=unit["code"],
                                         part=area["part"])
    return dict(spec, name=request.param, tax=tax, items=items, points=points)


def _where(occ, i, item):
    return f"{occ['items']} item #{i} ({item.get('type')}, {item.get('kp')}): {str(item.get('stem'))[:40]!r}"


# ---------------------------------------------------------------- taxonomy


def test_taxonomy_header(occ):
    tax = occ["tax"]
    assert tax["occupation"]["code"] == occ["code"]
    assert tax["occupation"]["name"] and tax["occupation"]["work_type"]
    assert tax["grades"] and set(tax["grades"]) <= {1, 2, 3, 4, 5}


def test_weights_sum_to_100_per_part_and_grade(occ):
    tax = occ["tax"]
    areas = {part: {a["code"] for a in tax["tree"] if a["part"] == part}
             for part in ("theory", "practical")}
    for part in ("theory", "practical"):
        by_grade = tax["weights"][part]
        assert set(by_grade) == set(tax["grades"]), f"{part}: weights for grades {set(by_grade)}"
        for grade, weights in by_grade.items():
            assert sum(weights.values()) == 100, f"{part} grade {grade}: {sum(weights.values())}"
            assert set(weights) == areas[part], f"{part} grade {grade}: areas {set(weights)}"
            assert all(w > 0 for w in weights.values())


def test_codes_unique_and_hierarchical(occ):
    tax = occ["tax"]
    seen = set()
    for area in tax["tree"]:
        assert area["part"] in ("theory", "practical")
        assert re.fullmatch(r"[A-Z](-[A-Z])?", area["code"]), area["code"]
        assert area["name"]
        codes = [area["code"]]
        for unit in area["units"]:
            assert re.fullmatch(re.escape(area["code"]) + r"-[A-Z]", unit["code"]), unit["code"]
            assert unit["name"]
            codes.append(unit["code"])
            for p in unit["points"]:
                assert re.fullmatch(re.escape(unit["code"]) + r"-\d{3}", p["code"]), p["code"]
                assert p["name"]
                assert p["importance"] in ("X", "Y", "Z"), p["code"]
                assert p["grades"] and set(p["grades"]) <= set(tax["grades"]), p["code"]
                codes.append(p["code"])
        for c in codes:
            assert c not in seen, f"duplicate code {c}"
            seen.add(c)


def test_point_count_and_importance_mix(occ):
    pts = occ["points"]
    lo, hi = OCCUPATIONS[occ["name"]]["points"]
    assert lo <= len(pts) <= hi, len(pts)
    mix = Counter(p["importance"] for p in pts.values())
    n = len(pts)
    assert 0.70 <= mix["X"] / n <= 0.85, mix
    assert mix["Z"] / n <= 0.05, mix
    assert any(p["part"] == "practical" for p in pts.values())


# ---------------------------------------------------------------- items: common fields


def test_item_common_fields(occ):
    for i, it in enumerate(occ["items"]):
        where = _where(occ, i, it)
        assert it["type"] in TYPES, where
        assert it["occupation"] == occ["code"], where
        assert it.get("id") is None and it.get("version") is None, where
        kp = occ["points"].get(it["kp"])
        assert kp is not None, f"{where}: unknown kp"
        assert it["grades"] and set(it["grades"]) <= set(kp["grades"]), f"{where}: grades vs kp"
        assert len(set(it["grades"])) == len(it["grades"]), where
        # practical tasks sit on practical points, everything else on theory points
        assert (kp["part"] == "practical") == (it["type"] == "practical_task"), where
        assert it["points"] == POINTS[it["type"]], where
        assert (it["points"] * 2) == int(it["points"] * 2) and it["points"] > 0, where
        assert isinstance(it["difficulty"], float) and 0.4 <= it["difficulty"] <= 0.95, where
        d = it.get("discrimination")
        assert d is None or -1 <= d <= 1, where
        assert it["status"] in STATUSES, where
        assert it["source"] == "examsys demo", where
        assert isinstance(it["stem"], str) and it["stem"].strip(), where
        assert isinstance(it.get("images", []), list), where


def test_status_mix(occ):
    statuses = Counter(it["status"] for it in occ["items"])
    assert statuses["approved"] >= 0.9 * len(occ["items"]), statuses
    assert statuses["draft"] + statuses["in_review"] >= 1, statuses


def test_type_counts(occ):
    counts = Counter(it["type"] for it in occ["items"])
    spec = OCCUPATIONS[occ["name"]]
    for typ, minimum in spec["minimums"].items():
        assert counts[typ] >= minimum, f"{typ}: {counts[typ]} < {minimum}"
    assert len(occ["items"]) >= spec["total"]


def test_no_duplicate_stems():
    seen = {}
    for spec in OCCUPATIONS.values():
        for i, it in enumerate(_load(spec["items"])):
            key = re.sub(r"\s+", "", it["stem"])
            assert key not in seen, f"{spec['items']} #{i} repeats {seen.get(key)}: {it['stem'][:40]!r}"
            seen[key] = f"{spec['items']} #{i}"


# ---------------------------------------------------------------- items: type-specific parts


def _options_ok(where, options, lo, hi):
    assert isinstance(options, list) and lo <= len(options) <= hi, where
    assert all(isinstance(o, str) and o.strip() for o in options), where
    assert len(set(options)) == len(options), f"{where}: repeated option"


def test_keys_and_type_fields(occ):
    for i, it in enumerate(occ["items"]):
        where = _where(occ, i, it)
        typ = it["type"]
        if typ == "single_choice":
            _options_ok(where, it["options"], 2, 8)
            assert len(it["options"]) == 4, where
            assert isinstance(it["key"], str) and len(it["key"]) == 1, where
            assert it["key"] in LETTERS[: len(it["options"])], where
        elif typ == "multiple_choice":
            _options_ok(where, it["options"], 3, 8)
            assert 4 <= len(it["options"]) <= 5, where
            key = it["key"]
            assert isinstance(key, str) and len(key) >= 2 and len(set(key)) == len(key), where
            assert all(k in LETTERS[: len(it["options"])] for k in key), where
            assert list(key) == sorted(key), f"{where}: key letters not in order"
        elif typ == "true_false":
            assert isinstance(it["key"], bool), where
        elif typ == "fill_blank":
            assert "____" in it["stem"], where
            answers = it["answers"]
            assert answers and all(isinstance(a, str) and a.strip() for a in answers), where
            tol = it.get("tolerance")
            if tol is not None:
                assert isinstance(tol, float) and tol >= 0, where
                for a in answers:
                    float(a)  # every answer numeric when a tolerance is set
            assert it.get("unit") is None or isinstance(it["unit"], str), where
        elif typ in ("short_answer", "calculation", "essay"):
            assert isinstance(it["reference_answer"], str) and it["reference_answer"].strip(), where
            mps = it["marking_points"]
            assert mps and all(m["text"] and m["points"] > 0 for m in mps), where
            assert all(set(m) == {"text", "points"} for m in mps), f"{where}: marking point keys"
            assert sum(m["points"] for m in mps) == pytest.approx(it["points"]), where
            assert it.get("score_step", 0.5) > 0, where
        elif typ == "practical_task":
            assert isinstance(it["time_limit_min"], int) and it["time_limit_min"] > 0, where
            assert it["materials"] and all(isinstance(m, str) for m in it["materials"]), where
            assert it["equipment"] and all(isinstance(e, str) for e in it["equipment"]), where
            crit = it["criteria"]
            for c in crit:
                assert set(c) == {"content", "element", "points", "standard", "mode"}, where
                assert c["content"] and c["element"] and c["standard"], where
                assert c["mode"] in ("deduction", "level"), where
                assert c["points"] > 0 and c["points"] * 2 == int(c["points"] * 2), where
            assert sum(c["points"] for c in crit) == pytest.approx(100.0), where
            assert sum(c["points"] for c in crit) == pytest.approx(it["points"]), where
            assert it["veto"] and all(isinstance(v, str) and v for v in it["veto"]), where


def test_choice_keys_are_spread(occ):
    """Answer letters of 4-option single choice items are not concentrated on one letter."""
    keys = Counter(it["key"] for it in occ["items"] if it["type"] == "single_choice")
    total = sum(keys.values())
    for letter in "ABCD":
        assert 0.12 <= keys[letter] / total <= 0.40, keys


# ---------------------------------------------------------------- supply for the paper assembler


def _approved(occ, typ, grade):
    return [it for it in occ["items"]
            if it["type"] == typ and it["status"] == "approved" and grade in it["grades"]]


def test_every_x_point_has_single_choice_supply(occ):
    by_kp_all = Counter(it["kp"] for it in occ["items"] if it["type"] == "single_choice")
    for code, p in occ["points"].items():
        if p["part"] != "theory" or p["importance"] != "X":
            continue
        assert by_kp_all[code] >= 3, f"X point {code} has {by_kp_all[code]} single choice items"
        for grade in p["grades"]:
            n = sum(1 for it in _approved(occ, "single_choice", grade) if it["kp"] == code)
            assert n >= 2, f"X point {code}, grade {grade}: {n} approved single choice items"


def test_most_points_have_true_false(occ):
    theory = [c for c, p in occ["points"].items() if p["part"] == "theory"]
    with_tf = {it["kp"] for it in occ["items"] if it["type"] == "true_false"}
    share = sum(1 for c in theory if c in with_tf) / len(theory)
    assert share >= 0.8, share


def test_theory_paper_is_assemblable(occ):
    """单选 80 + 判断 20 (1 point each) per grade, points per area = weight, every X point covered.

    With one-point items the area constraint fixes the item count per area; X points are covered by
    single choice items (each has >= 2 approved ones), so the paper exists iff the true/false counts
    per area can be chosen within [w - sc supply, min(tf supply, w - X points)] and sum to 20.
    """
    tax = occ["tax"]
    for grade in tax["grades"]:
        weights = tax["weights"]["theory"][grade]
        sc = Counter(occ["points"][it["kp"]]["area"] for it in _approved(occ, "single_choice", grade))
        tf = Counter(occ["points"][it["kp"]]["area"] for it in _approved(occ, "true_false", grade))
        xs = Counter(p["area"] for p in occ["points"].values()
                     if p["part"] == "theory" and p["importance"] == "X" and grade in p["grades"])
        lo = hi = 0
        for area, w in weights.items():
            assert xs[area] <= w, f"grade {grade} area {area}: {xs[area]} X points > weight {w}"
            a_lo = max(0, w - sc[area])
            a_hi = min(tf[area], w - xs[area])
            assert a_lo <= a_hi, f"grade {grade} area {area}: supply sc={sc[area]} tf={tf[area]} w={w}"
            lo, hi = lo + a_lo, hi + a_hi
        n_tf = THEORY_PAPER["true_false"]
        assert lo <= n_tf <= hi, f"grade {grade}: true/false per area range [{lo}, {hi}]"
        assert sum(weights.values()) == sum(THEORY_PAPER.values())


def test_practical_tasks_per_grade(occ):
    for grade in occ["tax"]["grades"]:
        tasks = _approved(occ, "practical_task", grade)
        assert tasks, f"no approved practical task for grade {grade}"


# ---------------------------------------------------------------- images


def test_images_exist_and_are_small():
    used = set()
    n_items = 0
    for spec in OCCUPATIONS.values():
        for it in _load(spec["items"]):
            if it.get("images"):
                n_items += 1
            for name in it.get("images", []):
                path = MEDIA / name
                assert path.is_file(), f"missing image {name}"
                used.add(name)
    assert n_items >= 4
    for png in MEDIA.glob("*.png"):
        assert png.stat().st_size < 100_000, png.name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png.name
        assert png.name in used, f"{png.name} is not used by any item"


def test_stem_mentions_figure_when_it_has_images():
    for spec in OCCUPATIONS.values():
        for i, it in enumerate(_load(spec["items"])):
            if it.get("images") and it["type"] != "practical_task":
                assert "如图" in it["stem"], f"{spec['items']} #{i}"


def test_per_kp_map_is_well_formed():
    """Every occupation's items only reference its own taxonomy."""
    codes = defaultdict(set)
    for name, spec in OCCUPATIONS.items():
        tax = _load(spec["taxonomy"])
        for a in tax["tree"]:
            for u in a["units"]:
                codes[spec["code"]] |= {p["code"] for p in u["points"]}
        for it in _load(spec["items"]):
            assert it["kp"] in codes[it["occupation"]], (name, it["kp"])

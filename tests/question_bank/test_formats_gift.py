"""GIFT: a real-shaped Chinese file, escapes, categories, refusals with line numbers, encodings, and exact
export → import round trips (examsys fields in ``// examsys:`` comments)."""

from __future__ import annotations

from pathlib import Path

import pytest

from question_bank.formats.gift import check_gift_export, read_gift, scan_categories, write_gift
from question_bank.formats.interchange import CannotCarryError, categories_in
from question_bank.item_types.examples import example_item
from question_bank.items import ItemType, canonical_item_dict

DATA = Path(__file__).parent / "data"
FILE = DATA / "gift_electrician.gift"
CAT_A = "$course$/top/电工四级/电工基础"
CAT_B = "$course$/top/电工四级/电工计算"
DEFAULTS = {"occupation": "6-29-01-01", "grades": [4]}
CMAP = {CAT_A: "A-B-001", CAT_B: "A-C-002"}


def test_categories():
    scan = scan_categories(FILE.read_bytes())
    assert scan.categories == (CAT_A, CAT_B) and dict(scan.counts) == {CAT_A: 5, CAT_B: 5}
    assert categories_in(FILE.read_text(encoding="utf-8")).needs_mapping == (CAT_A, CAT_B)


def test_real_shaped_file_is_imported():
    res = read_gift(FILE.read_bytes(), category_map=CMAP, defaults=DEFAULTS, name="electrician.gift")
    assert res.ok, [p.message_en for p in res.problems]
    ohm, series, safe, earth, tester, power, rho, symbol, essay, escaped = res.items
    assert ohm["type"] == "single_choice" and ohm["stem"] == "在纯电阻电路中，电流与电压成正比、与电阻成____。"
    assert ohm["options"] == ["正比", "反比", "平方关系"] and ohm["key"] == "B" and ohm["kp"] == "A-B-001"
    assert series["key"] == "B" and series["options"][3] == "100 Ω"
    assert safe["type"] == "multiple_choice" and safe["key"] == "AB"
    assert earth["key"] is True and tester["key"] is False
    assert power["answers"] == ["0.18"] and power["tolerance"] == 0.01 and power["kp"] == "A-C-002"
    assert rho["answers"] == ["0.0175"] and rho["tolerance"] == pytest.approx(0.0003)
    assert rho["stem"] == "铜导线的电阻率约为 ____ Ω·mm²/m。"
    assert symbol["answers"] == ["FU", "fu"] and symbol["tolerance"] is None
    assert essay["type"] == "essay" and essay["marking_points"][0]["points"] == 1.0
    assert escaped["stem"] == "电压表示为 U=IR，其中 {I} 为电流: 单位 A。"
    assert res.names[:2] == ("欧姆定律", "串联电路")
    assert res.locations[0] == ("electrician.gift", 6)
    assert all(it["points"] == 1.0 and it["occupation"] == "6-29-01-01" for it in res.items)
    assert {w.code for w in res.warnings} >= {"placeholder_reference", "ignored_on_import"}


def test_points_default_and_constructed_type():
    res = read_gift(FILE.read_bytes(), category_map=CMAP,
                    defaults={**DEFAULTS, "points": 2.0, "constructed_type": "short_answer"})
    assert res.items[0]["points"] == 2.0 and res.items[8]["type"] == "short_answer"


def test_unmapped_category_is_located():
    res = read_gift(FILE.read_bytes(), category_map={CAT_A: "A-B-001"}, defaults=DEFAULTS, name="e.gift")
    [p] = res.problems
    assert (p.code, p.sheet, p.row, p.field) == ("unmapped_category", "e.gift", 27, "kp")
    assert res.items == () and res.categories == (CAT_A, CAT_B)


def test_questions_without_category_use_the_default_kp():
    res = read_gift("::q::1 + 1 = 2{T}", defaults={**DEFAULTS, "kp": "A-A-001"})
    assert res.ok and res.items[0]["kp"] == "A-A-001" and res.categories == ("",)
    res = read_gift("::q::1 + 1 = 2{T}", defaults=DEFAULTS)
    assert [(p.field, p.code) for p in res.problems] == [("kp", "required")]


def test_matching_is_refused_with_its_line():
    text = FILE.read_text(encoding="utf-8") + "\n\n::匹配::将元件与符号对应。{\n=熔断器 -> FU\n=接触器 -> KM\n}\n"
    res = read_gift(text, category_map=CMAP, defaults=DEFAULTS)
    [p] = res.problems
    assert (p.code, p.row, p.field) == ("unsupported_question_type", 40, "type")
    assert "matching" in p.message_en and "匹配" in p.message_zh and res.items == ()


def test_syntax_error_is_located():
    text = "::a::第一题{T}\n\n::b::没有结束的答案 {=甲 ~乙\n\n::c::第三题{F}"
    res = read_gift(text, defaults={**DEFAULTS, "kp": "A-A-001"}, name="bad.gift")
    [p] = res.problems
    assert (p.code, p.sheet, p.row) == ("gift_syntax", "bad.gift", 3)
    assert p.params["question"] == "b" and p.params["index"] == 2


def test_bad_numbers_and_no_right_answer():
    res = read_gift("数值{#abc}\n\n单选{~甲 ~%0%乙}", defaults={**DEFAULTS, "kp": "A-A-001"})
    assert [(p.code, p.row) for p in res.problems] == [("gift_syntax", 1), ("no_right_answer", 3)]


def test_description_is_skipped_with_a_warning_and_html_images_refused():
    res = read_gift("只是说明文字。\n\n[html]<p>看图<img src=\"@@PLUGINFILE@@/a.png\"></p>{T}",
                    defaults={**DEFAULTS, "kp": "A-A-001"})
    assert [w.code for w in res.warnings] == ["skipped_question"]
    assert [(p.code, p.field) for p in res.problems] == [("cannot_carry", "images")]


def test_gb18030_file(tmp_path):
    path = tmp_path / "gbk.gift"
    path.write_bytes("::题::电流的单位是安培。{TRUE}".encode("gb18030"))
    res = read_gift(path, defaults={**DEFAULTS, "kp": "A-A-001"})
    assert res.ok and res.items[0]["stem"] == "电流的单位是安培。"
    assert [p.code for p in read_gift(b"\xff\xfe\x00\xd8", defaults=DEFAULTS).problems] == ["not_text"]


def test_size_limit():
    assert [p.code for p in read_gift("x{T}" * 100, max_bytes=10).problems] == ["file_too_large"]


# ----------------------------------------------------------------------------------------- export

def _bank() -> list[dict]:
    items = [example_item(t) for t in ItemType if t is not ItemType.PRACTICAL_TASK]
    items[0].update(stem="  特殊字符: a=b {x} ~y #z \\ //不是注释\n\n第三行 ", id="G-1", version=2,
                    difficulty=0.35, discrimination=-0.12, status="approved", source="国家题库 2019")
    items.append(example_item("multiple_choice", options=[f"选项{c}=~#" for c in "ABCDEFGH"], key="ACEH", points=4.5))
    items.append(example_item("fill_blank", answers=["a|b", "φ20±0.1", "x=y:z"], tolerance=None, unit=None,
                              stem="____ 在开头"))
    items.append(example_item("fill_blank", answers=["12.5", "12.50"], tolerance=0.0, unit=None, stem="末尾 ____"))
    items.append(example_item("essay", reference_answer="第一段\n\n  第二段 ", score_step=2.5, points=5.0,
                              marking_points=[{"text": "要点", "points": 2.5}, {"text": "多行\n要点", "points": 2.5}]))
    return items


def test_round_trip_is_exact():
    items = _bank()
    text = write_gift(items)
    res = read_gift(text)
    assert res.ok, [p.message_en for p in res.problems]
    assert list(res.items) == [canonical_item_dict(d) for d in items]
    assert res.categories == ("$course$/top/6-18-01-01/B-C-003",)
    assert res.names[0] == "G-1"


def test_export_losses_and_warnings():
    items = [example_item("practical_task"), example_item("true_false", images=["x.png"]),
             example_item("single_choice", options=[" 前有空格", "乙", "丙"]), example_item("fill_blank"),
             example_item("short_answer", stem="回车\r\n换行")]
    probs = check_gift_export(items)
    errors = [(p.row, p.field) for p in probs if p.is_error]
    warnings = [(p.row, p.field) for p in probs if not p.is_error]
    assert errors == [(1, "type"), (2, "images[0]"), (3, "options[0]")]
    assert warnings == [(4, "unit"), (5, "marking_points"), (5, "stem")]
    with pytest.raises(CannotCarryError) as exc:
        write_gift(items)
    assert len(exc.value.problems) == 3
    res = read_gift(write_gift(items, accept_losses=True))
    assert res.ok and [it["type"] for it in res.items] == ["true_false", "single_choice", "fill_blank", "short_answer"]
    assert res.items[0]["images"] == [] and res.items[3]["stem"] == "回车\n换行"
    assert res.items[2]["unit"] == "mm"

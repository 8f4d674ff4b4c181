"""Moodle XML: a real-shaped Chinese question file, category → knowledge point mapping, refusals, entity
attacks, and exact export → import round trips."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import pytest

from question_bank.formats.interchange import CannotCarryError, categories_in
from question_bank.formats.moodle_xml import check_moodle_export, read_moodle_xml, scan_categories, write_moodle_xml
from question_bank.item_types.examples import example_item
from question_bank.items import ItemType, canonical_item_dict

DATA = Path(__file__).parent / "data"
FILE = DATA / "moodle_cnc_lathe.xml"
PNG = (DATA / "qti_foreign" / "images" / "shaft.png").read_bytes()
CAT_A = "$course$/top/数控车工四级/金属材料与热处理"
CAT_B = "$course$/top/数控车工四级/切削加工"
DEFAULTS = {"occupation": "6-18-01-01", "grades": [4]}
CMAP = {CAT_A: "B-C-003", CAT_B: "B-D-001"}


def test_scan_categories_for_the_confirm_step():
    scan = scan_categories(FILE.read_bytes())
    assert scan.categories == (CAT_A, CAT_B)
    assert dict(scan.counts) == {CAT_A: 3, CAT_B: 3} and scan.needs_mapping == (CAT_A, CAT_B)
    assert categories_in(FILE.read_bytes(), name="bank.xml").categories == (CAT_A, CAT_B)


def test_real_shaped_file_is_imported():
    res = read_moodle_xml(FILE.read_bytes(), category_map=CMAP, defaults=DEFAULTS, name="moodle_cnc_lathe.xml")
    assert res.ok, [p.message_en for p in res.problems]
    assert res.categories == (CAT_A, CAT_B)
    sc, mc, tf, sa, num, essay = res.items
    assert sc["type"] == "single_choice" and sc["key"] == "C" and sc["options"][2] == "高温回火"
    assert sc["stem"] == "45 钢调质处理是指淬火后再进行（ ）。" and sc["kp"] == "B-C-003"
    assert mc["type"] == "multiple_choice" and mc["key"] == "ABC" and mc["points"] == 2.0
    assert tf["type"] == "true_false" and tf["key"] is True
    assert sa["type"] == "fill_blank" and sa["answers"] == ["背吃刀量", "切削深度"] and sa["tolerance"] is None
    assert sa["kp"] == "B-D-001"
    assert num["answers"] == ["12.5"] and num["tolerance"] == 0.05 and num["unit"] == "mm"
    assert num["images"] == ["轴段.png"] and res.media == {"轴段.png": base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVR4nGM8ISfHwMDAxMDAwMDAAAANBAEIfXHKZgAAAABJRU5ErkJggg==")}
    assert essay["type"] == "essay" and essay["points"] == 10.0
    assert essay["reference_answer"].startswith("v = πdn/1000")
    assert essay["marking_points"] == [{"text": "公式正确", "points": 4.0}, {"text": "代入与计算", "points": 4.0},
                                       {"text": "单位", "points": 2.0}]
    assert res.names[0] == "调质处理"
    assert res.locations[0] == ("moodle_cnc_lathe.xml", 16)
    warned = {(w.code, w.row) for w in res.warnings}
    assert ("skipped_question", 236) in warned          # the description
    assert ("ignored_on_import", 192) in warned         # the cm unit
    assert all(it["occupation"] == "6-18-01-01" and it["grades"] == [4] for it in res.items)


def test_category_map_may_give_occupation_and_grades():
    cmap = {CAT_A: {"kp": "B-C-003", "occupation": "6-18-01-02", "grades": [3]}, CAT_B: "B-D-001"}
    res = read_moodle_xml(FILE.read_bytes(), category_map=cmap, defaults=DEFAULTS)
    assert res.ok
    assert res.items[0]["occupation"] == "6-18-01-02" and res.items[0]["grades"] == [3]
    assert res.items[3]["occupation"] == "6-18-01-01"


def test_unmapped_categories_are_located_problems():
    res = read_moodle_xml(FILE.read_bytes(), category_map={CAT_A: "B-C-003"}, defaults=DEFAULTS, name="m.xml")
    assert not res.ok and res.items == ()
    [p] = res.problems
    assert (p.code, p.sheet, p.row, p.field) == ("unmapped_category", "m.xml", 134, "kp")
    assert CAT_B in p.message_en and CAT_B in p.message_zh and p.params["questions"] == 3
    assert res.categories == (CAT_A, CAT_B)


def _quiz(body: str) -> bytes:
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<quiz>\n{body}\n</quiz>\n'.encode()


@pytest.mark.parametrize("qtype,word", [("multianswer", "blanks"), ("match", "matching"),
                                        ("ddwtos", "not an examsys item type")])
def test_unknown_question_types_are_refused(qtype, word):
    body = f'<question type="{qtype}"><name><text>第二题</text></name><questiontext><text>x</text></questiontext></question>'
    ok = ('<question type="truefalse"><name><text>第一题</text></name><questiontext><text>判断</text></questiontext>'
          '<answer fraction="100"><text>true</text></answer><answer fraction="0"><text>false</text></answer></question>')
    res = read_moodle_xml(_quiz(ok + "\n" + body), defaults={**DEFAULTS, "kp": "A-A-001"}, name="q.xml")
    [p] = res.problems
    assert (p.code, p.row, p.field) == ("unsupported_question_type", 4, "type")
    assert qtype in p.message_en and word in p.message_en and "第二题" in p.message_zh
    assert res.items == ()


def test_missing_image_and_external_image():
    q = ('<question type="truefalse"><name><text>图</text></name><questiontext format="html"><text>'
         '&lt;p&gt;看图&lt;img src="@@PLUGINFILE@@/a.png"&gt;&lt;img src="http://127.0.0.1:9/b.png"&gt;&lt;/p&gt;'
         '</text></questiontext><answer fraction="100"><text>true</text></answer>'
         '<answer fraction="0"><text>false</text></answer></question>')
    res = read_moodle_xml(_quiz(q), defaults={**DEFAULTS, "kp": "A-A-001"})
    assert [(p.code, p.field) for p in res.problems] == [("missing_media", "images[0]"), ("external_media", "images[0]")]


def test_key_problems():
    q = ('<question type="multichoice"><name><text>无正确答案</text></name><questiontext><text>题</text></questiontext>'
         '<single>true</single><answer fraction="0"><text>甲</text></answer><answer fraction="0"><text>乙</text>'
         '</answer></question>')
    res = read_moodle_xml(_quiz(q), defaults={**DEFAULTS, "kp": "A-A-001"})
    assert [(p.code, p.field, p.row) for p in res.problems] == [("no_right_answer", "key", 3)]


def test_numerical_with_different_tolerances_is_refused():
    q = ('<question type="numerical"><name><text>n</text></name><questiontext><text>值</text></questiontext>'
         '<answer fraction="100"><text>1</text><tolerance>0.1</tolerance></answer>'
         '<answer fraction="100"><text>2</text><tolerance>0.2</tolerance></answer></question>')
    res = read_moodle_xml(_quiz(q), defaults={**DEFAULTS, "kp": "A-A-001"})
    assert [p.code for p in res.problems] == ["tolerance_differs"]


def test_malformed_xml_is_located():
    res = read_moodle_xml((DATA / "malformed.xml").read_bytes(), name="malformed.xml")
    [p] = res.problems
    assert (p.code, p.sheet, p.row) == ("xml_malformed", "malformed.xml", 5)


def test_billion_laughs_is_refused_fast_without_expansion():
    t0 = time.perf_counter()
    res = read_moodle_xml((DATA / "billion_laughs.xml").read_bytes(), name="bl.xml")
    assert time.perf_counter() - t0 < 1
    assert [(p.code, p.sheet) for p in res.problems] == [("xml_entities", "bl.xml")]
    assert "lollol" not in repr(res)
    assert scan_categories((DATA / "billion_laughs.xml").read_bytes()).problems[0].code == "xml_entities"


@pytest.mark.parametrize("name,code", [("xxe_file.xml", "xml_entities"), ("xxe_parameter.xml", "xml_entities"),
                                       ("external_dtd.xml", "xml_external_dtd")])
def test_xxe_is_refused(name, code):
    res = read_moodle_xml((DATA / name).read_bytes(), defaults={**DEFAULTS, "kp": "A-A-001"})
    assert [p.code for p in res.problems] == [code] and res.items == ()
    hostname = Path("/etc/hostname")
    if hostname.exists() and hostname.read_text().strip():
        assert hostname.read_text().strip() not in repr(res)


def test_wrong_root():
    res = read_moodle_xml(b"<questions/>")
    assert [p.code for p in res.problems] == ["xml_wrong_root"]


# ----------------------------------------------------------------------------------------- export

def _bank() -> list[dict]:
    items = [example_item(t) for t in ItemType if t is not ItemType.PRACTICAL_TASK]
    items[0].update(images=["f3a1c2"], stem="  读图：<零件> & “尺寸”  \n\n第三行\r\n末尾 ", id="Q-1", version=2,
                    difficulty=0.35, discrimination=-0.12, status="approved", source="国家题库 2019, 第2版")
    items.append(example_item("multiple_choice", options=[f"选项{c}" for c in "ABCDEFGH"], key="ACEH", points=4.5))
    items.append(example_item("fill_blank", answers=["a*b", "φ20±0.1"], tolerance=None, unit=None, stem="填 ____"))
    items.append(example_item("essay", reference_answer="第一段\n\n  第二段 ", score_step=2.5, points=5.0,
                              marking_points=[{"text": "要点（1分）", "points": 2.5}, {"text": "多行\n要点", "points": 2.5}]))
    items.append(example_item("single_choice", kp="A-A-001", stem="另一个鉴定点"))
    return items


def test_round_trip_is_exact():
    items = _bank()
    data = write_moodle_xml(items, {"f3a1c2": PNG})
    res = read_moodle_xml(data)
    assert res.ok, [p.message_en for p in res.problems]
    assert list(res.items) == [canonical_item_dict(d) for d in items]
    assert res.media == {"f3a1c2": PNG}
    assert res.categories == ("$course$/top/6-18-01-01/B-C-003", "$course$/top/6-18-01-01/A-A-001")
    assert scan_categories(data).needs_mapping == ()


def test_export_shape():
    text = write_moodle_xml(_bank(), {"f3a1c2": PNG}).decode("utf-8")
    assert '<question type="numerical">' in text and "<unit_name>mm</unit_name>" in text
    assert '<question type="shortanswer">' in text and "a\\*b" in text
    assert "<graderinfo format=\"html\">" in text and "examsys-marking-points" in text
    assert '<file name="f3a1c2.png" path="/" encoding="base64">' in text
    assert "<text>examsys:kp=B-C-003</text>" in text and "<defaultgrade>4.5</defaultgrade>" in text
    assert 'fraction="-100"' in text and 'fraction="25"' in text


def test_export_losses():
    items = [example_item("practical_task"), example_item("true_false", images=["x"])]
    assert [(p.row, p.field) for p in check_moodle_export(items)] == [(1, "type"), (2, "images[0]")]
    with pytest.raises(CannotCarryError) as exc:
        write_moodle_xml(items)
    assert "item 1" in str(exc.value) and "practical" in str(exc.value)
    res = read_moodle_xml(write_moodle_xml(items, accept_losses=True))
    assert res.ok and [it["type"] for it in res.items] == ["true_false"] and res.items[0]["images"] == []

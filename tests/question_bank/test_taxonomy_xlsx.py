"""鉴定要素细目表 workbook import/export."""

import io

import openpyxl
import pytest

from question_bank.formats.taxonomy_xlsx import read_taxonomy_xlsx, write_taxonomy_xlsx
from question_bank.item_types.examples import example_taxonomy
from question_bank.taxonomy import Taxonomy


def wb_bytes(wb):
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def exported():
    buf = io.BytesIO()
    write_taxonomy_xlsx(example_taxonomy(), buf)
    return buf.getvalue()


def tamper(data, edits):
    wb = openpyxl.load_workbook(io.BytesIO(data))
    for (sheet, coord), v in edits.items():
        wb[sheet][coord] = v
    return wb_bytes(wb)


def located(r):
    return sorted(((p.sheet, p.row, p.column, p.field, p.code) for p in r.problems), key=str)


def test_round_trip(tmp_path):
    path = tmp_path / "t.xlsx"
    write_taxonomy_xlsx(Taxonomy.from_dict(example_taxonomy()), path)
    r = read_taxonomy_xlsx(path)
    assert r.ok and r.taxonomy == example_taxonomy()


def test_export_layout():
    wb = openpyxl.load_workbook(io.BytesIO(exported()))
    assert wb.sheetnames == ["occupation", "taxonomy"]
    ws = wb["taxonomy"]
    assert [c.value for c in ws[1]] == ["代码 code", "名称 name", "层级 level", "重要程度 importance",
                                        "适用等级 grades", "类别 part", "比重（4级） weight_4", "比重（3级） weight_3"]
    assert [c.value for c in ws[2]] == ["A", "职业道德", 1, None, None, "理论知识", 20, 10]
    assert [c.value for c in ws[4]][:5] == ["A-A-001", "职业道德的基本概念", 3, "X", "4,3"]


def test_demo_taxonomy_round_trip():
    from pathlib import Path
    path = Path(__file__).resolve().parents[2] / "examsys" / "demo" / "data" / "cnc_lathe.yaml"
    if not path.exists():
        pytest.skip("demo data not present")
    t = Taxonomy.from_yaml(path)
    buf = io.BytesIO()
    write_taxonomy_xlsx(t, buf)
    assert read_taxonomy_xlsx(buf.getvalue()).taxonomy == t.to_dict()


def test_levels_inferred_from_codes_and_chinese_headers():
    wb = openpyxl.Workbook()
    occ = wb.active
    occ.title = "职业"
    occ.append(["职业代码", "6-18-01-01"])
    occ.append(["职业名称", "车工"])
    ws = wb.create_sheet("鉴定要素细目表")
    ws.append(["代码", "名称", "重要程度", "适用等级", "类别", "四级比重", "三级比重"])
    ws.append(["A", "职业道德", None, None, "理论知识", 100, 100])
    ws.append(["A-A", "基本知识"])
    ws.append(["A-A-001", "概念", "X", "4,3"])
    ws.append(["P-A", "零件加工", None, None, "操作技能", 100, 100])
    ws.append(["P-A-A", "外轮廓"])
    ws.append(["P-A-A-001", "轮廓加工", "Y", "四级"])
    r = read_taxonomy_xlsx(wb_bytes(wb))
    assert r.ok, r.problems
    t = Taxonomy.from_dict(r.taxonomy)
    assert t.grades == (4, 3) and t.index.kind("P-A") == "area" and t.index.kind("P-A-A-001") == "point"
    assert t.index.point("P-A-A-001").grades == (4,)
    assert t.index.weights("practical", 3) == {"P-A": 100.0}


@pytest.mark.parametrize("edits, expected", [
    ({("taxonomy", "G2"): 30}, [("taxonomy", 2, "G", "weights.theory.4", "weights_sum")]),
    ({("taxonomy", "G2"): "heavy"}, [("taxonomy", 2, "G", "weights.theory.4.A", "wrong_cell_type")]),
    ({("taxonomy", "D4"): "W"}, [("taxonomy", 4, "D", "tree[0].units[0].points[0].importance", "unknown_importance")]),
    ({("taxonomy", "E4"): "4,5"}, [("taxonomy", 4, "E", "tree[0].units[0].points[0].grades[1]", "grade_not_in_taxonomy")]),
    ({("taxonomy", "A8"): "B-C-001"}, [("taxonomy", 8, "A", "tree[1].units[0].points[1].code", "duplicate_code")]),
    ({("taxonomy", "F2"): "技巧"}, [("taxonomy", 2, "F", "tree[0].part", "bad_part")]),
    ({("taxonomy", "C3"): "9"}, [("taxonomy", 3, "C", "level", "bad_level")]),
    ({("taxonomy", "B4"): None}, [("taxonomy", 4, "B", "tree[0].units[0].points[0].name", "required")]),
    ({("occupation", "B2"): None}, [("occupation", 2, "B", "occupation.code", "required")]),
    ({("taxonomy", "B4"): "=A1"}, [("taxonomy", 4, "B", "name", "formula_cell")]),
])
def test_problems_are_located(edits, expected):
    r = read_taxonomy_xlsx(tamper(exported(), edits))
    assert r.taxonomy is None
    assert located(r) == expected


def test_missing_sheet_and_column_and_bad_file():
    wb = openpyxl.load_workbook(io.BytesIO(exported()))
    del wb["occupation"]
    assert [p.code for p in read_taxonomy_xlsx(wb_bytes(wb)).problems] == ["missing_sheet"]
    r = read_taxonomy_xlsx(tamper(exported(), {("taxonomy", "B1"): None}))
    assert located(r) == [("taxonomy", 1, None, "header", "missing_column")]
    assert [p.code for p in read_taxonomy_xlsx(b"not a workbook").problems] == ["not_xlsx"]
    assert [p.code for p in read_taxonomy_xlsx(exported(), max_bytes=10).problems] == ["file_too_large"]

"""Bank workbook import/export: exact round trip, and every bad input located (sheet, row, column, field)."""

import datetime as dt
import io
import zipfile

import openpyxl
import pytest

from question_bank.duplicates import fingerprint_index
from question_bank.formats.common import ITEM_COLUMNS, PRACTICAL_COLUMNS, column_letter
from question_bank.formats.xlsx import read_bank_xlsx, write_bank_xlsx
from question_bank.item_types.examples import example_item, example_items, example_taxonomy
from question_bank.items import canonical_item_dict, item_from_dict
from question_bank.taxonomy import Taxonomy

COL = {c.key: column_letter(i) for i, c in enumerate(ITEM_COLUMNS)}
PCOL = {c.key: column_letter(i) for i, c in enumerate(PRACTICAL_COLUMNS)}


def test_contract_column_order():
    # DESIGN.md "Bank spreadsheet": the first 21 columns, in this order
    assert [c.key for c in ITEM_COLUMNS[:21]] == [
        "occupation", "grades", "kp", "importance", "type", "stem", *(f"option_{c}" for c in "ABCDEFGH"),
        "key", "points", "difficulty", "source", "status", "id", "version"]
    assert ITEM_COLUMNS[0].header == "职业代码 occupation"
    assert (COL["stem"], COL["key"], COL["points"], COL["id"]) == ("F", "O", "P", "T")


@pytest.fixture(scope="module")
def taxonomy():
    return Taxonomy.from_dict(example_taxonomy())


def all_types_items():
    items = example_items()
    items[0].update(id="Q-0001", version=3, difficulty=0.725, discrimination=0.31, status="approved",
                    images=["fig1.png", "fig2.png"])
    items.append(example_item("single_choice", stem="=SUM(A1) 不是公式", options=["=1", "+2", "-3", "@4"],
                              key="D", grades=[4]))
    items.append(example_item("fill_blank", stem="另一填空 ____", answers=["a|b", "φ20±0.1"], tolerance=None,
                              unit=None, source="来源 A"))
    items.append(example_item("practical_task", id="P-7", version=1, stem="第二个实操题", materials=[], veto=[]))
    return items


def xlsx_bytes(items, **kw):
    buf = io.BytesIO()
    write_bank_xlsx(items, buf, **kw)
    return buf.getvalue()


def tamper(data, edits, *, delete_rows=()):
    """Apply {(sheet, "F2"): value} edits to a workbook (normal mode) and return the new bytes."""
    wb = openpyxl.load_workbook(io.BytesIO(data))
    for (sheet, coord), value in edits.items():
        wb[sheet][coord] = value
    for sheet, row in delete_rows:
        wb[sheet].delete_rows(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def located(result):
    return sorted(((p.sheet, p.row, p.column, p.field, p.code) for p in result.problems), key=str)


# ------------------------------------------------------------------------------------------ round trip

def test_round_trip_every_type_exactly(tmp_path):
    items = all_types_items()
    path = tmp_path / "bank.xlsx"
    write_bank_xlsx(items, path)
    r = read_bank_xlsx(path)
    assert r.problems == () and r.ok
    expected = [canonical_item_dict(d) for d in items]
    # the items sheet comes first, practical tasks after (in their order)
    expected = ([d for d in expected if d["type"] != "practical_task"]
                + [d for d in expected if d["type"] == "practical_task"])
    assert list(r.items) == expected
    assert {d["type"] for d in r.items} == {"single_choice", "multiple_choice", "true_false", "fill_blank",
                                           "short_answer", "calculation", "essay", "practical_task"}
    for d in r.items:
        item_from_dict(d)  # valid
    # and again: export of the import is the same workbook content
    r2 = read_bank_xlsx(xlsx_bytes(r.items))
    assert r2.items == r.items


def test_round_trip_from_items_and_file_objects():
    items = [item_from_dict(d) for d in example_items()]
    data = xlsx_bytes(items)
    assert read_bank_xlsx(io.BytesIO(data)).items == read_bank_xlsx(data).items
    assert len(read_bank_xlsx(data).items) == 8


def test_export_layout(taxonomy):
    data = xlsx_bytes(example_items(), taxonomy=taxonomy)
    wb = openpyxl.load_workbook(io.BytesIO(data))
    assert wb.sheetnames == ["items", "practical_tasks"]
    ws = wb["items"]
    assert [c.value for c in ws[1]][:6] == ["职业代码 occupation", "等级 grades", "鉴定点代码 kp",
                                            "重要程度 importance", "题型 type", "题干 stem"]
    row2 = {k: ws[f"{COL[k]}2"].value for k in COL}
    assert row2["grades"] == "4,3" and row2["importance"] == "X" and row2["type"] == "单选"
    assert row2["key"] == "C" and row2["points"] == 1 and row2["status"] == "草稿"
    assert ws[f"{COL['key']}4"].value == "对"  # true/false
    assert ws[f"{COL['key']}5"].value == "12.5±0.05mm"
    assert ws[f"{COL['marking_points']}6"].value == "综合力学性能（2分）\n强度与塑性、韧性的配合（3分）"
    ps = wb["practical_tasks"]
    assert [ps[f"{PCOL['task']}{r}"].value for r in (2, 3, 4)] == ["T1"] * 3
    assert [ps[f"{PCOL['mode']}{r}"].value for r in (2, 3, 4)] == ["扣分", "扣分", "分级"]
    assert ps[f"{PCOL['stem']}3"].value is None  # task-level cells only on the first row
    assert read_bank_xlsx(data, taxonomy=taxonomy).ok


def test_cells_are_stripped():
    d = example_item("true_false", stem="  题干\r\n第二行  ", source="   ")
    r = read_bank_xlsx(xlsx_bytes([d]))
    assert r.items[0]["stem"] == "题干\n第二行" and r.items[0]["source"] == ""


def test_text_starting_with_equals_is_text_not_formula():
    d = example_item("true_false", stem="=A1+1 是公式吗")
    r = read_bank_xlsx(xlsx_bytes([d]))
    assert r.ok and r.items[0]["stem"] == "=A1+1 是公式吗"


# ------------------------------------------------------------------------------------------ file-level

def test_not_a_zip():
    r = read_bank_xlsx(b"occupation,grades\n1,2\n")
    assert [(p.field, p.code) for p in r.problems] == [("file", "not_xlsx")]
    assert r.items == () and "xlsx" in r.problems[0].message_en and ".xlsx" in r.problems[0].message_zh


def test_zip_that_is_not_a_workbook():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("hello.txt", "hi")
    r = read_bank_xlsx(buf.getvalue())
    assert [(p.code, p.params["reason"]) for p in r.problems] == [("not_xlsx", "the archive holds no Excel workbook")]


def test_broken_workbook_part():
    data = xlsx_bytes(example_items())
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(buf, "w") as dst:
        for info in src.infolist():
            content = src.read(info)
            if info.filename == "xl/workbook.xml":
                content = b"<not xml"
            dst.writestr(info, content)
    r = read_bank_xlsx(buf.getvalue())
    assert [p.code for p in r.problems] == ["not_xlsx"]


def test_size_limit():
    data = xlsx_bytes(example_items())
    r = read_bank_xlsx(data, max_bytes=1000)
    assert [(p.field, p.code, p.params["max"]) for p in r.problems] == [("file", "file_too_large", 1000)]
    r = read_bank_xlsx(io.BytesIO(data), max_bytes=1000)  # file objects are read only up to the limit
    assert r.problems[0].code == "file_too_large"


def test_size_limit_on_a_path(tmp_path):
    path = tmp_path / "b.xlsx"
    path.write_bytes(xlsx_bytes(example_items()))
    assert read_bank_xlsx(path, max_bytes=1000).problems[0].code == "file_too_large"


def test_unpacked_size_limit():
    r = read_bank_xlsx(xlsx_bytes(example_items()), max_uncompressed_bytes=2000)
    assert [p.code for p in r.problems] == ["uncompressed_too_large"]


def test_missing_sheet():
    wb = openpyxl.Workbook()
    wb.active.title = "foo"
    wb.create_sheet("bar")
    buf = io.BytesIO()
    wb.save(buf)
    r = read_bank_xlsx(buf.getvalue())
    assert [(p.code, p.params["name"]) for p in r.problems] == [("missing_sheet", "items")]


def test_single_sheet_of_any_name_is_the_items_sheet():
    data = xlsx_bytes([example_item("single_choice")])
    wb = openpyxl.load_workbook(io.BytesIO(data))
    del wb["practical_tasks"]
    wb["items"].title = "Sheet1"
    buf = io.BytesIO()
    wb.save(buf)
    r = read_bank_xlsx(buf.getvalue())
    assert r.ok and len(r.items) == 1


def test_header_only_has_no_items():
    r = read_bank_xlsx(xlsx_bytes([]))
    assert [(p.field, p.code) for p in r.problems] == [("file", "no_items")]


def test_too_many_rows():
    r = read_bank_xlsx(xlsx_bytes([example_item("true_false", stem=f"题{i}") for i in range(5)]), max_rows=3)
    assert ("items", 5, None, "file", "too_many_rows") in located(r)


# ------------------------------------------------------------------------------------------ header

def test_missing_column():
    data = tamper(xlsx_bytes(example_items()), {("items", f"{COL['stem']}1"): None})
    r = read_bank_xlsx(data)
    assert located(r) == [("items", 1, None, "header", "missing_column")]
    assert r.problems[0].params["name"] == "题干 stem"


def test_unknown_column_and_data_without_header():
    data = tamper(xlsx_bytes(example_items()), {("items", "Z1"): "备注 remark", ("items", "AB3"): "stray"})
    assert located(read_bank_xlsx(data)) == [("items", 1, "Z", "header", "unknown_column"),
                                            ("items", 3, "AB", "header", "data_without_header")]


def test_duplicate_column():
    data = tamper(xlsx_bytes(example_items()), {("items", "Z1"): "题干"})
    assert located(read_bank_xlsx(data)) == [("items", 1, "Z", "header", "duplicate_column")]


def test_headers_may_be_chinese_or_english_only_and_reordered():
    buf = io.BytesIO()
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "题目"
    ws.append(["题型", "stem", "Occupation", "等级", "鉴定点", "答案", "分值", "选项A", "选项B"])
    ws.append(["判断", "淬火后硬度提高。", "6-18-01-01", "4", "B-C-003", "√", 1])
    wb.save(buf)
    r = read_bank_xlsx(buf.getvalue())
    assert r.ok and r.items[0]["key"] is True and r.items[0]["grades"] == [4]


# ------------------------------------------------------------------------------------------ cells and rows

def test_unknown_occupation_and_kp_codes(taxonomy):
    items = [example_item("single_choice"), example_item("true_false")]
    data = tamper(xlsx_bytes(items), {("items", "A2"): "6-99-99-99", ("items", "C3"): "B-C-999"})
    r = read_bank_xlsx(data, taxonomy=taxonomy)
    assert located(r) == [("items", 2, "A", "occupation", "unknown_occupation"),
                          ("items", 3, "C", "kp", "unknown_kp")]
    assert r.items == ()
    assert read_bank_xlsx(data).ok  # without a taxonomy, codes are not checked


def test_kp_not_for_grade(taxonomy):
    d = example_item("true_false", kp="B-C-004")  # grade 3 only
    assert located(read_bank_xlsx(xlsx_bytes([d]), taxonomy=taxonomy)) == [
        ("items", 2, "B", "grades", "kp_grade_mismatch")]


def test_importance_column(taxonomy):
    data = tamper(xlsx_bytes([example_item("single_choice"), example_item("true_false")]),
                  {("items", "D2"): "Z", ("items", "D3"): "Q"})
    assert located(read_bank_xlsx(data, taxonomy=taxonomy)) == [
        ("items", 2, "D", "importance", "importance_mismatch"), ("items", 3, "D", "importance", "unknown_importance")]


def test_key_not_among_options():
    data = tamper(xlsx_bytes(example_items()), {("items", "O2"): "E"})
    r = read_bank_xlsx(data)
    assert located(r) == [("items", 2, "O", "key", "key_not_in_options")]
    p = r.problems[0]
    assert p.location == "items!O2"
    assert "答案" in p.message_zh and "key" in p.message_en


def test_points_not_a_number():
    data = tamper(xlsx_bytes(example_items()), {("items", "P3"): "abc"})
    r = read_bank_xlsx(data)
    assert located(r) == [("items", 3, "P", "points", "wrong_cell_type")]
    assert r.problems[0].params["value"] == "abc"


@pytest.mark.parametrize("coord, value, expected", [
    ("B2", "4,9", ("items", 2, "B", "grades[1]", "bad_grade")),
    ("B2", "四级", None),
    ("B2", dt.datetime(2024, 4, 3), ("items", 2, "B", "grades", "wrong_cell_type")),
    ("E2", "选择", ("items", 2, "E", "type", "unknown_type")),
    ("E2", None, ("items", 2, "E", "type", "required")),
    ("F2", None, ("items", 2, "F", "stem", "required")),
    ("Q2", "1.5", ("items", 2, "Q", "difficulty", "out_of_range")),
    ("Q2", "hard", ("items", 2, "Q", "difficulty", "wrong_cell_type")),
    ("S2", "published", ("items", 2, "S", "status", "unknown_status")),
    ("U2", 1.5, ("items", 2, "U", "version", "wrong_cell_type")),
    ("P2", 1.25, ("items", 2, "P", "points", "not_half_multiple")),
    ("P2", 0, ("items", 2, "P", "points", "not_positive")),
    ("P2", None, ("items", 2, "P", "points", "required")),
    ("H2", None, ("items", 2, "H", "options[1]", "empty_option")),
    ("I2", "低温回火", ("items", 2, "I", "options[2]", "duplicate_option")),
    ("O3", "A", ("items", 3, "O", "key", "too_few_keys")),
    ("O4", "也许", ("items", 4, "O", "key", "bad_key")),
    ("G4", "对", ("items", 4, "G", "options[0]", "not_applicable")),
    ("O5", "abc±0.1", ("items", 5, "O", "answers[0]", "answer_not_numeric")),
    ("O5", None, ("items", 5, "O", "key", "required")),
    ("X6", "要点一（2分）\n要点二（2分）", ("items", 6, "X", "marking_points", "points_sum_mismatch")),
    ("X6", "要点一 两分", ("items", 6, "X", "marking_points", "bad_marking_point")),
    ("X6", None, ("items", 6, "X", "marking_points", "required")),
    ("W6", 3, [("items", 6, "W", "score_step", "step_not_dividing"),
                ("items", 6, "X", "marking_points[0].points", "step_not_dividing")]),
    ("O6", None, ("items", 6, "O", "reference_answer", "required")),
    ("X2", "要点（1分）", ("items", 2, "X", "marking_points", "not_applicable")),
    ("E2", "操作技能", ("items", 2, "E", "type", "practical_in_items_sheet")),
])
def test_bad_cells_are_located(coord, value, expected):
    data = tamper(xlsx_bytes(example_items()), {("items", coord): value})
    r = read_bank_xlsx(data)
    if expected is None:
        assert r.ok
    else:
        assert located(r) == (expected if isinstance(expected, list) else [expected])
        assert r.items == ()


def test_formula_cells_are_refused():
    data = tamper(xlsx_bytes(example_items()), {("items", "P2"): "=1+1", ("items", "F3"): '=CONCAT("a","b")'})
    r = read_bank_xlsx(data)
    assert located(r) == [("items", 2, "P", "points", "formula_cell"), ("items", 3, "F", "stem", "formula_cell")]
    assert r.problems[0].params["value"] == "=1+1"


def test_array_formula_is_refused():
    from openpyxl.worksheet.formula import ArrayFormula
    data = tamper(xlsx_bytes(example_items()), {("items", "P2"): ArrayFormula("P2", "=SUM(1,1)")})
    assert located(read_bank_xlsx(data)) == [("items", 2, "P", "points", "formula_cell")]


def test_duplicate_ids_across_sheets():
    items = [example_item("true_false", id="Q1"), example_item("single_choice", id="Q2"),
             example_item("true_false", stem="另一题", id="Q1"), example_item("practical_task", id="Q2")]
    r = read_bank_xlsx(xlsx_bytes(items))
    assert located(r) == [("items", 4, "T", "id", "duplicate_id"),
                          ("practical_tasks", 2, "T", "id", "duplicate_id")]
    first = {p.row: (p.params["first_sheet"], p.params["first_row"]) for p in r.problems}
    assert first == {4: ("items", 2), 2: ("items", 3)}


def test_all_or_nothing():
    items = [example_item("true_false", stem=f"第{i}题") for i in range(10)]
    data = tamper(xlsx_bytes(items), {("items", "P9"): "x"})
    r = read_bank_xlsx(data)
    assert r.items == () and located(r) == [("items", 9, "P", "points", "wrong_cell_type")]


def test_every_problem_is_reported_not_just_the_first():
    data = tamper(xlsx_bytes(example_items()), {("items", "P2"): "x", ("items", "O3"): "ABZ", ("items", "A4"): None})
    assert located(read_bank_xlsx(data)) == [("items", 2, "P", "points", "wrong_cell_type"),
                                            ("items", 3, "O", "key", "key_not_in_options"),
                                            ("items", 4, "A", "occupation", "required")]


def test_blank_rows_are_skipped_and_numbers_as_text_are_read():
    items = [example_item("single_choice", options=["0.5", "1", "1.5", "2"], key="A")]
    data = tamper(xlsx_bytes(items), {("items", "G2"): 0.5, ("items", "H2"): 1, ("items", "P2"): "1"})
    wb = openpyxl.load_workbook(io.BytesIO(data))
    wb["items"].insert_rows(2, amount=2)
    buf = io.BytesIO()
    wb.save(buf)
    r = read_bank_xlsx(buf.getvalue())
    assert r.ok and r.items[0]["options"] == ["0.5", "1", "1.5", "2"] and r.locations == (("items", 4),)


# ------------------------------------------------------------------------------------------ near-duplicates

def test_near_duplicates_are_warnings_with_rows():
    items = [example_item("true_false", stem="淬火后钢的硬度提高。"), example_item("single_choice"),
             example_item("true_false", stem="淬火后， 钢的硬度提高")]
    existing = fingerprint_index([{**example_item("single_choice"), "id": "Q77"}])
    r = read_bank_xlsx(xlsx_bytes(items), existing=existing)
    assert r.ok and len(r.items) == 3  # reported, not blocked
    w = sorted((p.sheet, p.row, p.column, p.code, p.severity) for p in r.warnings)
    assert w == [("items", 2, "F", "near_duplicate", "warning"), ("items", 3, "F", "near_duplicate", "warning"),
                 ("items", 4, "F", "near_duplicate", "warning")]
    by_row = {p.row: p for p in r.warnings}
    assert by_row[2].params["rows"] == [["items", 4]] and by_row[3].params["existing"] == ["Q77"]
    assert "items row 4" in by_row[2].message_en and "第 4 行" in by_row[2].message_zh


# ------------------------------------------------------------------------------------------ practical sheet

def practical_data(**edits):
    return tamper(xlsx_bytes([example_item("practical_task"), example_item("practical_task", stem="第二题")]),
                  {("practical_tasks", k): v for k, v in edits.items()})


def test_practical_rows_group_by_task():
    r = read_bank_xlsx(practical_data())
    assert r.ok and [len(d["criteria"]) for d in r.items] == [3, 3]
    assert r.locations == (("practical_tasks", 2), ("practical_tasks", 5))


@pytest.mark.parametrize("edits, expected", [
    ({"N3": 5}, [("practical_tasks", 2, "N", "criteria", "points_sum_mismatch")]),
    ({"P4": "加分"}, [("practical_tasks", 4, "P", "criteria[2].mode", "bad_mode")]),
    ({"M3": None}, [("practical_tasks", 3, "M", "criteria[1].element", "required")]),
    ({"N3": "四分"}, [("practical_tasks", 3, "N", "criteria[1].points", "wrong_cell_type")]),
    ({"G2": 0}, [("practical_tasks", 2, "G", "time_limit_min", "not_positive")]),
    ({"G2": None}, [("practical_tasks", 2, "G", "time_limit_min", "required")]),
    ({"B3": "6-18-01-02"}, [("practical_tasks", 3, "B", "occupation", "inconsistent_task_value")]),
    ({"A7": "T1"}, [("practical_tasks", 5, "N", "criteria", "points_sum_mismatch"),  # T2 lost a row
                    ("practical_tasks", 7, "A", "task", "duplicate_task")]),
    ({"A2": None}, [("practical_tasks", 2, "A", "task", "required")]),
    ({"K2": 30}, [("practical_tasks", 2, "N", "criteria", "points_sum_mismatch")]),
    ({"N2": "=5*2"}, [("practical_tasks", 2, "N", "criteria[0].points", "formula_cell")]),
])
def test_practical_problems_are_located(edits, expected):
    r = read_bank_xlsx(practical_data(**edits))
    assert located(r) == expected


def test_practical_merged_style_continuation_rows():
    # task id, content and mode left empty below the first row (as with merged cells)
    data = practical_data(A3=None, A4=None, L3=None, P3=None, K2=None)
    r = read_bank_xlsx(data)
    assert r.ok
    crit = r.items[0]["criteria"]
    assert [c["content"] for c in crit] == ["外圆", "外圆", "安全文明生产"]
    assert [c["mode"] for c in crit] == ["deduction", "deduction", "level"]
    assert r.items[0]["points"] == 20.0  # total derived from the criteria when empty


def test_practical_lists_accumulate_over_rows():
    data = practical_data(H3="切削液", I4="千分尺\n游标卡尺")
    r = read_bank_xlsx(data)
    assert r.ok
    assert r.items[0]["materials"] == ["45 钢 φ50×100", "切削液"]
    assert r.items[0]["equipment"] == ["CK6140 数控车床", "游标卡尺", "千分尺"]

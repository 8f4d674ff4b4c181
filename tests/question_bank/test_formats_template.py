"""The downloadable import template."""

import io

import openpyxl

from question_bank.formats.common import ITEM_COLUMNS, PRACTICAL_COLUMNS
from question_bank.formats.template import write_template
from question_bank.formats.xlsx import read_bank_xlsx


def template_bytes():
    buf = io.BytesIO()
    write_template(buf)
    return buf.getvalue()


def test_template_sheets_headers_and_dropdowns(tmp_path):
    path = tmp_path / "template.xlsx"
    write_template(path)
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["items", "practical_tasks", "instructions"]
    assert [c.value for c in wb["items"][1]] == [c.header for c in ITEM_COLUMNS]
    assert [c.value for c in wb["practical_tasks"][1]] == [c.header for c in PRACTICAL_COLUMNS]
    dv = {str(v.sqref).split(":")[0]: v.formula1 for v in wb["items"].data_validations.dataValidation}
    assert dv == {"B2": '"5,4,3,2,1"', "D2": '"X,Y,Z"', "E2": '"单选,多选,判断,填空,简答,计算,论述"',
                  "S2": '"草稿,待审,已通过,已停用,已标记"'}
    pdv = {v.formula1 for v in wb["practical_tasks"].data_validations.dataValidation}
    assert '"扣分,分级"' in pdv
    assert wb["items"]["F1"].comment is not None  # every header explains itself
    notes = [r[2] for r in wb["instructions"].iter_rows(min_row=8, values_only=True)]
    assert any("12.5±0.05mm" in (n or "") for n in notes)


def test_empty_template_imports_as_no_items():
    r = read_bank_xlsx(template_bytes())
    assert [(p.field, p.code) for p in r.problems] == [("file", "no_items")]


def test_filled_template_imports():
    wb = openpyxl.load_workbook(io.BytesIO(template_bytes()))
    ws = wb["items"]
    values = {"occupation": "6-18-01-01", "grades": "4,3", "kp": "B-C-003", "type": "多选", "stem": "下列属于热处理的是（　）。",
              "option_A": "退火", "option_B": "正火", "option_C": "电镀", "key": "A,B", "points": 2}
    for i, c in enumerate(ITEM_COLUMNS, start=1):
        if c.key in values:
            ws.cell(row=2, column=i, value=values[c.key])
    buf = io.BytesIO()
    wb.save(buf)
    r = read_bank_xlsx(buf.getvalue())
    assert r.ok, r.problems
    assert r.items[0]["key"] == "AB" and r.items[0]["grades"] == [4, 3] and r.items[0]["status"] == "draft"

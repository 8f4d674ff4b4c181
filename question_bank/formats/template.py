"""A blank bank workbook for writers to fill in: the import's headers, dropdowns, and instructions.

``write_template(path)`` writes sheets ``items`` (题目), ``practical_tasks`` (实操题) — headers exactly as
the export writes them, text-formatted code columns (so Excel does not turn ``4,3`` or ``4-3`` into a
number or a date), dropdowns (data validation) for type, grade, importance, status and scoring mode — and
an ``instructions`` (填写说明) sheet the importer ignores.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO

from question_bank.items import Importance, ItemType, Status

from .common import ITEM_COLUMNS, PRACTICAL_COLUMNS, Column

__all__ = ["write_template", "INSTRUCTIONS_SHEET"]

INSTRUCTIONS_SHEET = "instructions"
_LAST_ROW = 5000  # validations cover rows 2.._LAST_ROW

_NOTES: dict[str, tuple[str, str]] = {
    # key: (说明, example)
    "occupation": ("必填。职业（工种）代码，与鉴定要素细目表一致", "6-18-01-01"),
    "grades": ("必填。适用等级 1–5（5=五级/初级工 … 1=一级/高级技师），多个用逗号分隔", "4,3"),
    "kp": ("必填。鉴定点代码（细目表第三层）", "B-C-003"),
    "importance": ("可选。X 核心 / Y 一般 / Z 了解；填写时须与细目表一致", "X"),
    "type": ("必填。单选、多选、判断、填空、简答、计算、论述（操作技能题填在 practical_tasks 表）", "单选"),
    "stem": ("必填。题干，不超过 5000 字；填空处用 ____ 表示", "45 钢调质处理是指淬火后再进行（　）。"),
    "option_A": ("选择题选项 A–H（单选 2–8 个，多选 3–8 个），依次填写不留空", "低温回火"),
    "key": ("必填。单选 B；多选 ACD；判断 对/错；填空 多个可接受答案用 | 分隔，数值题可加 ±允许误差和单位，"
            "如 12.5±0.05mm；简答/计算/论述填参考答案", "C"),
    "points": ("必填。分值，大于 0，0.5 的整数倍", "1"),
    "difficulty": ("可选。预估难度（通过率）0–1", "0.7"),
    "source": ("可选。来源", "国家题库 2019"),
    "status": ("可选。草稿（默认）、待审、已通过、已停用、已标记", "草稿"),
    "id": ("新题留空；修改已有试题时保留导出的编号", ""),
    "version": ("新题留空；导出时填写", ""),
    "discrimination": ("可选。预估区分度 −1–1", ""),
    "score_step": ("简答/计算/论述：评分步长，默认 0.5", "0.5"),
    "marking_points": ("简答/计算/论述：评分要点，每行一条，行末写分值，如“写出三要素（3分）”，合计等于分值",
                       "切削速度（1分）"),
    "images": ("可选。图片文件名，每行一个", "fig1.png"),
    "task": ("必填。任务号：同一实操题的各评分行填写相同任务号（合并单元格亦可）", "T1"),
    "time_limit_min": ("必填。考核时间（分钟），整数", "120"),
    "materials": ("可选。材料，每行一项", "45 钢 φ50×100"),
    "equipment": ("可选。设备、工具、量具，每行一项", "CK6140 数控车床"),
    "veto": ("可选。否决项，每行一项；出现任一项该题记零分", "发生撞刀等安全事故"),
    "content": ("必填。考核内容（与上一行相同时可留空）", "外圆加工"),
    "element": ("必填。评分要素", "φ48-0.025 Ra1.6"),
    "criterion_points": ("必填。本评分行配分；各行合计等于总分", "6"),
    "standard": ("必填。评分标准", "超差不得分"),
    "mode": ("必填。扣分 或 分级（与上一行相同时可留空）", "扣分"),
}
_TEXT_COLUMNS = {"occupation", "grades", "kp", "key", "id", "task"}


def _sheet(wb, title: str, columns: tuple[Column, ...], dropdowns: dict[str, tuple[list[str], str]]) -> None:
    from openpyxl.comments import Comment
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    ws = wb.create_sheet(title)
    required = PatternFill("solid", fgColor="FCE4D6")
    optional = PatternFill("solid", fgColor="DDEBF7")
    for i, c in enumerate(columns, start=1):
        cell = ws.cell(row=1, column=i, value=c.header)
        cell.font = Font(bold=True)
        cell.fill = required if c.required else optional
        cell.alignment = Alignment(wrap_text=True, vertical="center")
        note = _NOTES.get(c.key) or (_NOTES["option_A"] if c.key.startswith("option_") else None)
        if note:
            cell.comment = Comment(note[0], "examsys")
        letter = get_column_letter(i)
        ws.column_dimensions[letter].width = 40 if c.key in ("stem", "standard", "key", "marking_points") else 14
        if c.key in _TEXT_COLUMNS:
            ws.column_dimensions[letter].number_format = "@"
        if c.key in dropdowns:
            values, prompt = dropdowns[c.key]
            dv = DataValidation(type="list", formula1='"' + ",".join(values) + '"', allow_blank=True,
                                showDropDown=False, showInputMessage=True, promptTitle=c.zh, prompt=prompt)
            if c.key == "grades":  # several grades ("4,3") are allowed: suggest, do not enforce
                dv.showErrorMessage = False
            else:
                dv.showErrorMessage = True
                dv.errorTitle = c.zh
                dv.error = "请从下拉列表中选择 / choose a value from the list"
            dv.add(f"{letter}2:{letter}{_LAST_ROW}")
            ws.add_data_validation(dv)
    ws.freeze_panes = "A2"
    ws.row_dimensions[1].height = 32


def write_template(path: str | Path | IO[bytes]) -> None:
    """Write the bank import template (.xlsx) to ``path`` (a path or a binary file object)."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    wb = Workbook()
    wb.remove(wb.active)
    grades = (["5", "4", "3", "2", "1"], "选择一个等级；多个等级用逗号分隔，如 4,3")
    imp = ([i.value for i in Importance], "X 核心 / Y 一般 / Z 了解")
    status = ([s.label_zh for s in Status], "新题一般为草稿")
    types = [t.label_zh for t in ItemType if t is not ItemType.PRACTICAL_TASK]
    _sheet(wb, "items", ITEM_COLUMNS, {"type": (types, "选择题型"), "grades": grades, "importance": imp,
                                       "status": status})
    _sheet(wb, "practical_tasks", PRACTICAL_COLUMNS, {"grades": grades, "importance": imp, "status": status,
                                                      "mode": (["扣分", "分级"], "扣分：从配分中扣减；分级：按等级给分")})
    ws = wb.create_sheet(INSTRUCTIONS_SHEET)
    ws.append(["填写说明 instructions"])
    ws["A1"].font = Font(bold=True, size=14)
    ws.append(["1. 每行一道试题（items 表）；操作技能题每个评分项一行，同一题的行填写相同任务号（practical_tasks 表）。"])
    ws.append(["2. 第一行为列标题，请勿修改或删除；橙色为必填列，蓝色为选填列。不要使用公式。"])
    ws.append(["3. 导入为全有或全无：任何一处有错误时不导入任何试题，并列出每个错误的工作表、行、列。"])
    ws.append(["4. 本表（instructions）不会被导入。"])
    ws.append([])
    ws.append(["工作表 sheet", "列标题 column", "说明 notes", "示例 example"])
    for c in ws[ws.max_row]:
        c.font = Font(bold=True)
    for sheet, columns in (("items", ITEM_COLUMNS), ("practical_tasks", PRACTICAL_COLUMNS)):
        for c in columns:
            if c.key.startswith("option_") and c.key != "option_A":
                continue
            note, example = _NOTES.get(c.key, ("", ""))
            header = "选项A–H A–H" if c.key == "option_A" else c.header
            ws.append([sheet, header, ("必填。" if c.required and not note.startswith("必填") else "") + note,
                       example])
    for letter, width in zip("ABCD", (16, 26, 90, 36)):
        ws.column_dimensions[letter].width = width
    for row in ws.iter_rows(min_row=8):
        for c in row:
            c.alignment = Alignment(wrap_text=True, vertical="top")
    wb.save(path)

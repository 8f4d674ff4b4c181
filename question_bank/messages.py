"""Problems (validation and import findings) and their bilingual messages.

A :class:`Problem` names *where* something is wrong (``field``: a path into the item dict such as
``options[2]``, ``key`` or ``marking_points[1].points``; for file imports also ``sheet``, ``row`` (1-based,
as Excel shows it) and ``column`` (a letter such as ``"F"``)), *what* is wrong (``code``: a stable
machine-readable identifier, see :data:`CATALOG`), and says it in Chinese and English. Codes and
params are the contract for programs; the messages are for people and may be reworded.

Every message names the field: the Chinese one with a Chinese label (``选项C``, ``评分要点第2项的分值``),
the English one with the field path (``options[2]``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field as dc_field, replace
from collections.abc import Mapping
from typing import Any

__all__ = ["Problem", "CATALOG", "make_problem", "field_label_zh", "ERROR", "WARNING"]

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class Problem:
    """One finding about an item, a taxonomy or an imported file.

    Attributes
    ----------
    field : str
        Path into the checked structure (``""`` = the whole thing), e.g. ``"options[2]"`` (third option,
        label C), ``"marking_points[1].points"``; for file-level problems ``"file"`` or ``"header"``.
    code : str
        Stable identifier from :data:`CATALOG` (e.g. ``"required"``, ``"key_not_in_options"``).
    message_zh, message_en : str
        Human-readable message naming the field, in Chinese and in English.
    params : mapping
        Values used in the message (limits, offending values, related rows), JSON-able.
    severity : {"error", "warning"}
        Errors block an import or a save; warnings (e.g. near-duplicates) are reported only.
    sheet, row, column : str, int, str or None
        Location in a spreadsheet import: sheet name, 1-based row number, column letter (``"F"``).
    """

    field: str
    code: str
    message_zh: str
    message_en: str
    params: Mapping[str, Any] = dc_field(default_factory=dict, hash=False)
    severity: str = ERROR
    sheet: str | None = None
    row: int | None = None
    column: str | None = None

    @property
    def is_error(self) -> bool:
        """True for problems that block (severity ``"error"``)."""
        return self.severity == ERROR

    def located(self, sheet: str | None = None, row: int | None = None,
                column: str | None = None) -> "Problem":
        """Return a copy carrying a spreadsheet location (``None`` keeps the current value)."""
        return replace(
            self,
            sheet=self.sheet if sheet is None else sheet,
            row=self.row if row is None else row,
            column=self.column if column is None else column,
        )

    @property
    def location(self) -> str:
        """``"items!F12"``-style location (empty when not from a file)."""
        cell = f"{self.column or ''}{self.row or ''}"
        if self.sheet and cell:
            return f"{self.sheet}!{cell}"
        return self.sheet or cell

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict of all attributes."""
        return {
            "field": self.field, "code": self.code, "message_zh": self.message_zh,
            "message_en": self.message_en, "params": dict(self.params), "severity": self.severity,
            "sheet": self.sheet, "row": self.row, "column": self.column,
        }

    def __str__(self) -> str:  # pragma: no cover - convenience
        loc = self.location
        return f"{loc + ': ' if loc else ''}{self.message_en}"


# code -> (Chinese template, English template). Templates are formatted with the params.
CATALOG: dict[str, tuple[str, str]] = {
    # generic values
    "required": ("必填，不能为空", "is required"),
    "not_a_mapping": ("应为一个字典（键值对）", "must be a mapping (dict)"),
    "not_a_list": ("应为列表", "must be a list"),
    "not_a_string": ("应为文本", "must be text"),
    "not_a_number": ("应为数字，实为“{value}”", "must be a number, got {value!r}"),
    "not_an_integer": ("应为整数，实为“{value}”", "must be an integer, got {value!r}"),
    "not_a_bool": ("应为对或错（true/false）", "must be true or false"),
    "empty_list": ("至少需要一项", "must have at least one entry"),
    "unknown_field": ("未知字段“{name}”", "unknown field {name!r}"),
    "too_long": ("长度 {length} 超过上限 {max} 个字符", "is {length} characters long, the limit is {max}"),
    "out_of_range": ("取值 {value} 超出范围 [{min}, {max}]", "value {value} is outside [{min}, {max}]"),
    "not_positive": ("应大于 0，实为 {value}", "must be greater than 0, got {value}"),
    "negative": ("不能为负数，实为 {value}", "must not be negative, got {value}"),
    "not_half_multiple": ("应为 0.5 的整数倍，实为 {value}", "must be a multiple of 0.5, got {value}"),
    "not_finite": ("应为有限数值", "must be a finite number"),
    "control_character": ("含有不可见控制字符", "contains a control character"),
    # common item fields
    "unknown_type": ("未知题型“{value}”", "unknown item type {value!r}"),
    "unknown_status": ("未知状态“{value}”", "unknown status {value!r}"),
    "unknown_importance": ("重要程度应为 X、Y 或 Z，实为“{value}”", "importance must be X, Y or Z, got {value!r}"),
    "bad_grade": ("等级应为 1 到 5 的整数，实为“{value}”", "grade must be an integer 1..5, got {value!r}"),
    "duplicate_grade": ("等级 {value} 重复", "grade {value} is listed twice"),
    "unknown_occupation": ("职业代码“{value}”不在鉴定要素细目表中", "occupation {value!r} is not in the taxonomy"),
    "unknown_kp": ("鉴定点“{value}”不在职业 {occupation} 的细目表中",
                   "knowledge point {value!r} is not in the taxonomy of occupation {occupation}"),
    "kp_not_a_point": ("代码“{value}”不是鉴定点（是{kind_zh}）",
                       "code {value!r} is a {kind}, not a knowledge point"),
    "kp_grade_mismatch": ("鉴定点 {kp} 不适用于等级 {grades}（适用等级 {kp_grades}）",
                          "knowledge point {kp} does not apply to grade(s) {grades} (it applies to {kp_grades})"),
    "importance_mismatch": ("重要程度“{value}”与细目表中鉴定点 {kp} 的“{expected}”不一致",
                            "importance {value!r} differs from {expected!r} of knowledge point {kp} in the taxonomy"),
    "bad_version": ("版本号应为不小于 1 的整数，实为“{value}”", "version must be an integer >= 1, got {value!r}"),
    "version_without_id": ("有版本号时必须有试题编号", "a version needs an item id"),
    # choice items
    "too_few_options": ("至少需要 {min} 个选项，实有 {count} 个", "needs at least {min} options, has {count}"),
    "too_many_options": ("最多 {max} 个选项，实有 {count} 个", "allows at most {max} options, has {count}"),
    "empty_option": ("选项不能为空", "option text is empty"),
    "duplicate_option": ("与选项{other_label}相同", "is the same as option {other_label}"),
    "gap_in_options": ("选项{label}为空但其后还有选项", "option {label} is empty but later options are filled"),
    "bad_key": ("答案“{value}”格式不正确：{hint_zh}", "key {value!r} is malformed: {hint_en}"),
    "key_not_in_options": ("答案“{value}”不在选项中（共 {count} 个选项：{labels}）",
                           "key {value!r} is not among the options (there are {count}: {labels})"),
    "single_key_expected": ("单选题只能有一个答案，实为“{value}”", "a single-choice item has exactly one key letter, got {value!r}"),
    "too_few_keys": ("多选题至少需要 2 个正确选项，实为“{value}”", "a multiple-choice item needs at least 2 key letters, got {value!r}"),
    "duplicate_key": ("答案字母 {letter} 重复", "key letter {letter} appears twice"),
    "key_not_sorted": ("答案字母应按顺序书写（{expected}），实为“{value}”", "key letters must be in order ({expected}), got {value!r}"),
    # fill blank
    "empty_answer": ("答案不能为空", "answer is empty"),
    "answer_not_numeric": ("设置了允许误差时答案必须是数字，实为“{value}”",
                           "answers must be numbers when a tolerance is set, got {value!r}"),
    "unit_without_tolerance": ("设置单位时必须同时设置允许误差（数值答案）", "a unit needs a tolerance (numeric answers)"),
    "duplicate_answer": ("与第 {other} 个答案相同", "is the same as answer {other}"),
    # constructed / practical
    "points_sum_mismatch": ("各项分值之和 {total} 与题目分值 {points} 不一致",
                            "the parts add up to {total} but the item is worth {points}"),
    "step_not_dividing": ("分值 {value} 不是评分步长 {step} 的整数倍", "{value} is not a multiple of the score step {step}"),
    "bad_mode": ("评分方式应为扣分（deduction）或分级（level），实为“{value}”",
                 "mode must be deduction or level, got {value!r}"),
    # stems
    "stem_too_long": ("题干 {length} 个字符，超过上限 {max}", "is {length} characters long, the limit is {max}"),
    # taxonomy
    "duplicate_code": ("代码“{value}”重复（首次出现于 {first}）", "code {value!r} is used twice (first at {first})"),
    "code_not_hierarchical": ("代码“{value}”应以上级代码“{parent}-”开头",
                              "code {value!r} must start with its parent's code {parent!r} followed by '-'"),
    "bad_part": ("类别应为理论知识（theory）或操作技能（practical），实为“{value}”",
                 "part must be theory or practical, got {value!r}"),
    "weights_sum": ("{part_zh}等级 {grade} 的比重之和为 {total}，应为 100",
                    "the {part} weights of grade {grade} add up to {total}, not 100"),
    "weight_unknown_area": ("比重表中的“{value}”不是{part_zh}部分的鉴定范围",
                            "{value!r} in the weight table is not a {part} area"),
    "missing_weights": ("缺少{part_zh}等级 {grade} 的比重", "the {part} weights of grade {grade} are missing"),
    "grade_not_in_taxonomy": ("等级 {value} 不在细目表的等级 {grades} 中", "grade {value} is not one of the taxonomy grades {grades}"),
    "empty_taxonomy_part": ("没有任何鉴定范围", "has no areas"),
    "bad_level": ("层级应为 1（鉴定范围）、2（鉴定内容）或 3（鉴定点），实为“{value}”",
                  "level must be 1 (area), 2 (unit) or 3 (point), got {value!r}"),
    "orphan_node": ("找不到上级代码“{parent}”", "its parent {parent!r} is not listed (above it)"),
    # files
    "file_too_large": ("文件大小 {size} 字节超过上限 {max} 字节", "the file is {size} bytes, the limit is {max}"),
    "not_xlsx": ("不是有效的 Excel .xlsx 文件（{reason_zh}）", "is not a valid Excel .xlsx file ({reason})"),
    "uncompressed_too_large": ("文件解压后 {size} 字节，超过上限 {max} 字节",
                               "the file unpacks to {size} bytes, the limit is {max}"),
    "too_many_rows": ("行数超过上限 {max}", "has more than {max} rows"),
    "not_csv": ("不是有效的 UTF-8 CSV 文件（{reason_zh}）", "is not a valid UTF-8 CSV file ({reason})"),
    "missing_sheet": ("缺少工作表“{name}”", "the sheet {name!r} is missing"),
    "no_items": ("文件中没有任何试题", "the file contains no items"),
    "missing_column": ("缺少必需的列“{name}”", "the required column {name!r} is missing"),
    "unknown_column": ("无法识别的列标题“{value}”", "unknown column header {value!r}"),
    "duplicate_column": ("列“{name}”重复（已在 {first} 列）", "column {name!r} appears twice (first in column {first})"),
    "data_without_header": ("该列没有列标题但有内容", "this column has data but no header"),
    "formula_cell": ("单元格含有公式“{value}”，请改为直接填写数值或文本",
                     "the cell holds a formula {value!r}; type the value instead"),
    "wrong_cell_type": ("单元格应为{expected_zh}，实为“{value}”", "the cell must hold {expected_en}, got {value!r}"),
    "duplicate_id": ("试题编号“{value}”重复（首次出现于工作表 {first_sheet} 第 {first_row} 行）",
                     "item id {value!r} is used twice (first in sheet {first_sheet}, row {first_row})"),
    "not_applicable": ("{type_zh}不使用此列，请留空", "this column is not used by {type} items; leave it empty"),
    "duplicate_task": ("任务号“{value}”的各行不连续（首次出现于第 {first_row} 行）",
                       "the rows of task {value!r} are not contiguous (it starts in row {first_row})"),
    "inconsistent_task_value": ("同一实操题各行的取值应一致：第 {first_row} 行为“{first}”，此处为“{value}”",
                                "all rows of one task must agree: row {first_row} has {first!r}, this row {value!r}"),
    "practical_in_items_sheet": ("操作技能题请填写在“practical_tasks”工作表中",
                                 "practical tasks belong on the 'practical_tasks' sheet"),
    "bad_marking_point": ("评分要点第 {line} 行应以“（N分）”结尾：“{value}”",
                          "marking point line {line} must end with '(N分)': {value!r}"),
    "near_duplicate": ("疑似重复题：与 {others_zh} 的题干和选项相同（规范化后）",
                       "possible duplicate: same stem and options (after normalisation) as {others}"),
}

_LABELS_ZH: dict[str, str] = {
    "type": "题型", "occupation": "职业代码", "grades": "等级", "kp": "鉴定点", "points": "分值",
    "difficulty": "难度", "discrimination": "区分度", "source": "来源", "status": "状态", "stem": "题干",
    "images": "图片", "id": "试题编号", "version": "版本", "options": "选项", "key": "答案",
    "answers": "答案", "tolerance": "允许误差", "unit": "单位", "reference_answer": "参考答案",
    "marking_points": "评分要点", "score_step": "评分步长", "time_limit_min": "考核时间（分钟）",
    "materials": "材料", "equipment": "设备工具", "veto": "否决项", "criteria": "评分项",
    "content": "考核内容", "element": "评分要素", "standard": "评分标准", "mode": "评分方式", "text": "内容",
    "importance": "重要程度", "task": "任务号", "criterion_points": "配分", "file": "文件",
    "header": "列标题", "tree": "鉴定范围", "units": "鉴定内容", "code": "代码", "name": "名称",
    "part": "类别", "weights": "比重表", "work_type": "工种", "level": "层级", "weight": "比重",
    "theory": "理论知识", "practical": "操作技能", "sheet": "工作表", "row": "行",
}

_SEGMENT = re.compile(r"([^.\[\]]+)((?:\[\d+\])*)")


def field_label_zh(field: str) -> str:
    """Chinese label for a field path.

    ``"options[2]"`` → ``"选项C"``; ``"marking_points[1].points"`` → ``"评分要点第2项的分值"``;
    ``"weights.theory.4"`` → ``"比重表的理论知识的4"``; an indexed ``points[i]`` (in a taxonomy unit) is
    a knowledge point (``鉴定点第i+1项``); unknown names are kept as they are.
    """
    if not field:
        return ""
    parts = []
    for name, idx in _SEGMENT.findall(field):
        label = "鉴定点" if (name == "points" and idx) else _LABELS_ZH.get(name, name)
        for i in re.findall(r"\[(\d+)\]", idx):
            n = int(i)
            if name == "options" and n < 26:
                label += chr(ord("A") + n)
            else:
                label += f"第{n + 1}项"
        parts.append(label)
    return "的".join(parts)


def make_problem(field: str, code: str, *, severity: str = ERROR, sheet: str | None = None,
                 row: int | None = None, column: str | None = None, **params: Any) -> Problem:
    """Build a :class:`Problem` from the catalog, formatting both messages with ``params``.

    Unknown codes raise ``KeyError`` (the catalog is the list of codes); missing params raise ``KeyError``.
    """
    zh_t, en_t = CATALOG[code]
    fmt = {"field": field, **params}
    text_zh = zh_t.format(**fmt)
    text_en = en_t.format(**fmt)
    label = field_label_zh(field)
    message_zh = f"{label}：{text_zh}" if label else text_zh
    message_en = f"{field}: {text_en}" if field else text_en
    return Problem(field=field, code=code, message_zh=message_zh, message_en=message_en,
                   params=params, severity=severity, sheet=sheet, row=row, column=column)

"""The bank spreadsheet layout shared by the .xlsx and .csv formats: columns, cell parsing, row ↔ item.

See docs/items.md, "Bank spreadsheet", for the user-facing description. In short:

* sheet ``items`` (题目): one row per item of every type except practical tasks; columns
  :data:`ITEM_COLUMNS` (the DESIGN.md contract order, then optional extension columns);
* sheet ``practical_tasks`` (实操题): one row per rubric criterion, rows of one task grouped by the
  ``task`` column; columns :data:`PRACTICAL_COLUMNS`;
* CSV: a single table with :data:`CSV_COLUMNS` (the items columns, then the practical-task columns);
  rows with a ``task`` value are practical-task rows.

Headers are ``"中文 english"`` (e.g. ``职业代码 occupation``); on import either word, or both, identify a
column (case-insensitive, full-width tolerated), so columns may be in any order; unknown headers are
problems. Readers (xlsx/csv) turn a file into rows of :class:`RawCell`; :class:`BankParser` turns rows into
item dicts and located problems; :func:`finish_import` applies the file-wide checks (duplicate ids,
near-duplicates) and the all-or-nothing rule.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass, field
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from question_bank import item_types
from question_bank.duplicates import find_near_duplicates
from question_bank.item_types.base import fmt_number
from question_bank.item_types.constructed import decode_marking_points, encode_marking_points
from question_bank.item_types.practical_task import mode_label_zh, parse_mode
from question_bank.items import Importance, Item, ItemType, Status, canonical_item_dict, item_to_dict
from question_bank.messages import WARNING, Problem, make_problem
from question_bank.normalize import nfkc, parse_number
from question_bank.taxonomy import resolve_taxonomy
from question_bank.validation import validate_item

__all__ = [
    "Column", "ITEM_COLUMNS", "PRACTICAL_COLUMNS", "CSV_COLUMNS", "ITEMS_SHEET", "PRACTICAL_SHEET",
    "RawCell", "ImportResult", "BankParser", "finish_import", "item_row", "practical_rows", "csv_rows",
    "column_letter", "DEFAULT_MAX_BYTES", "DEFAULT_MAX_ROWS", "OPTION_LETTERS", "sheet_kind",
]

ITEMS_SHEET = "items"
PRACTICAL_SHEET = "practical_tasks"
#: Default size limit of an uploaded file (bytes).
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
#: Default limit of data rows per sheet (or CSV file).
DEFAULT_MAX_ROWS = 100_000
OPTION_LETTERS = "ABCDEFGH"


@dataclass(frozen=True)
class Column:
    """A spreadsheet column: internal ``key``, header words ``zh`` and ``en``, extra ``aliases``;
    ``required`` columns must be present in the header row."""

    key: str
    zh: str
    en: str
    required: bool = False
    aliases: tuple[str, ...] = ()

    @property
    def header(self) -> str:
        """Header text written on export: ``"职业代码 occupation"``."""
        return f"{self.zh} {self.en}"

    def names(self) -> set[str]:
        """Normalised words that identify the column on import."""
        return {_norm_header(x) for x in (self.zh, self.en, self.key, self.header, *self.aliases)}


_COMMON_HEAD = (
    Column("occupation", "职业代码", "occupation", True, ("职业", "工种代码", "occupation_code")),
    Column("grades", "等级", "grades", True, ("grade", "适用等级", "级别")),
    Column("kp", "鉴定点代码", "kp", True, ("鉴定点", "knowledge_point", "kp_code")),
    Column("importance", "重要程度", "importance", False, ("重要性",)),
)
_OPTIONS = tuple(Column(f"option_{c}", f"选项{c}", c, c in "AB", (f"option_{c}", f"option {c}"))
                 for c in OPTION_LETTERS)
_TAIL = (
    Column("difficulty", "难度", "difficulty", False, ("难度系数",)),
    Column("source", "来源", "source", False, ("出处",)),
    Column("status", "状态", "status", False, ("审核状态",)),
    Column("id", "试题编号", "id", False, ("item_id", "编号", "题号")),
    Column("version", "版本", "version", False, ("版本号",)),
)
_EXTENSIONS = (
    Column("discrimination", "区分度", "discrimination"),
    Column("score_step", "评分步长", "score_step"),
    Column("marking_points", "评分要点", "marking_points", False, ("评分点",)),
    Column("images", "图片", "images", False, ("image",)),
)
_TYPE = Column("type", "题型", "type", True, ("题目类型", "item_type"))
_STEM = Column("stem", "题干", "stem", True, ("题目", "试题内容", "question"))
_KEY = Column("key", "答案", "key", True, ("正确答案", "参考答案", "answer"))
_POINTS = Column("points", "分值", "points", True, ("分数", "总分", "score"))

#: Columns of the ``items`` sheet, in export order (the first 21 are the DESIGN.md contract).
ITEM_COLUMNS: tuple[Column, ...] = (*_COMMON_HEAD, _TYPE, _STEM, *_OPTIONS, _KEY, _POINTS, *_TAIL, *_EXTENSIONS)

_TASK = Column("task", "任务号", "task", True, ("任务编号", "task_id", "实操题号"))
_PRACTICAL_TASK_LEVEL = (
    Column("time_limit_min", "考核时间（分钟）", "time_limit_min", True, ("考核时间", "时间", "time_limit")),
    Column("materials", "材料", "materials", False, ("材料准备",)),
    Column("equipment", "设备工具", "equipment", False, ("设备", "工具", "设备工具量具")),
    Column("veto", "否决项", "veto", False, ("否决",)),
)
_CRITERION = (
    Column("content", "考核内容", "content", True, ()),
    Column("element", "评分要素", "element", True, ()),
    Column("criterion_points", "配分", "criterion_points", True, ()),
    Column("standard", "评分标准", "standard", True, ()),
    Column("mode", "评分方式", "mode", True, ("评分方法",)),
)
#: Columns of the ``practical_tasks`` sheet, in export order.
PRACTICAL_COLUMNS: tuple[Column, ...] = (
    _TASK, *_COMMON_HEAD, Column("stem", "题干", "stem", True, ("试题内容", "任务内容", "试题名称")),
    *_PRACTICAL_TASK_LEVEL,
    Column("points", "总分", "points", False, ("分值", "score")),
    *_CRITERION, *_TAIL, _EXTENSIONS[0], _EXTENSIONS[3],
)
#: Columns of the one-table CSV layout: the items sheet's columns, then the practical-task ones.
CSV_COLUMNS: tuple[Column, ...] = (
    *ITEM_COLUMNS, Column("task", "任务号", "task", False, _TASK.aliases), *(
        Column(c.key, c.zh, c.en, False, c.aliases) for c in (*_PRACTICAL_TASK_LEVEL, *_CRITERION)),
)
# In the CSV table the A/B option columns are not required (true/false-only banks need none).
CSV_COLUMNS = tuple(Column(c.key, c.zh, c.en, c.required and not c.key.startswith("option_"), c.aliases)
                    for c in CSV_COLUMNS)

_SHEET_NAMES = {
    ITEMS_SHEET: {"items", "题目", "试题", "题库", "题目 items"},
    PRACTICAL_SHEET: {"practical_tasks", "practical tasks", "实操题", "操作技能", "操作技能题", "实操题 practical_tasks"},
}


def sheet_kind(name: str) -> str | None:
    """``ITEMS_SHEET``/``PRACTICAL_SHEET`` when ``name`` is one of their accepted names, else ``None``."""
    n = nfkc(name).strip().casefold()
    for kind, names in _SHEET_NAMES.items():
        if n in names:
            return kind
    return None


def _norm_header(text: str) -> str:
    return re.sub(r"\s+", " ", nfkc(text).strip().casefold())


def column_letter(index: int) -> str:
    """0-based column index → Excel letters (0 → ``"A"``, 26 → ``"AA"``)."""
    s = ""
    n = index + 1
    while n:
        n, r = divmod(n - 1, 26)
        s = chr(65 + r) + s
    return s


@dataclass(frozen=True)
class RawCell:
    """A cell as read: its ``value`` (str, int, float, bool, datetime or None) and whether it holds a
    formula (then ``value`` is the formula text)."""

    value: Any
    formula: bool = False


@dataclass(frozen=True)
class ImportResult:
    """Outcome of an import.

    ``items``: canonical item dicts (empty when there is any error: imports are all-or-nothing);
    ``problems``: errors, each located (sheet, row, column letter, field); ``warnings``: non-blocking
    findings (near-duplicates); ``locations``: ``(sheet, row)`` of each returned item (same order).
    """

    items: tuple[dict[str, Any], ...] = ()
    problems: tuple[Problem, ...] = ()
    warnings: tuple[Problem, ...] = ()
    locations: tuple[tuple[str, int], ...] = ()

    @property
    def ok(self) -> bool:
        """True when there are no errors (warnings allowed)."""
        return not self.problems


# ------------------------------------------------------------------------------------------ header

def parse_header(sheet: str, cells: Sequence[RawCell], columns: Sequence[Column]
                 ) -> tuple[dict[str, int], list[Problem]]:
    """Map column keys to 0-based indices from the header row (row 1).

    Problems: ``unknown_column`` (header not recognised), ``duplicate_column``, ``formula_cell`` in the
    header, ``missing_column`` for required columns (located at the sheet, row 1, no column).
    """
    lookup: dict[str, Column] = {}
    for c in columns:
        for n in c.names():
            lookup.setdefault(n, c)
    colmap: dict[str, int] = {}
    problems: list[Problem] = []
    for i, cell in enumerate(cells):
        letter = column_letter(i)
        if cell.value is None or (isinstance(cell.value, str) and not cell.value.strip()):
            continue
        if cell.formula:
            problems.append(make_problem("header", "formula_cell", value=str(cell.value), sheet=sheet, row=1,
                                         column=letter))
            continue
        text = _norm_header(str(cell.value))
        col = lookup.get(text)
        if col is None:
            for tok in re.split(r"[\s()（）/]+", text):
                if tok and tok in lookup:
                    col = lookup[tok]
                    break
        if col is None:
            problems.append(make_problem("header", "unknown_column", value=str(cell.value), sheet=sheet, row=1,
                                         column=letter))
            continue
        if col.key in colmap:
            problems.append(make_problem("header", "duplicate_column", name=col.header,
                                         first=column_letter(colmap[col.key]), sheet=sheet, row=1, column=letter))
            continue
        colmap[col.key] = i
    for c in columns:
        if c.required and c.key not in colmap:
            problems.append(make_problem("header", "missing_column", name=c.header, sheet=sheet, row=1))
    return colmap, problems


# ---------------------------------------------------------------------------------------- cells

_GRADE_WORDS = {"五": 5, "四": 4, "三": 3, "二": 2, "一": 1}
_LIST_SPLIT = re.compile(r"[,，、;；/\s]+")


def _cell_text(v: Any) -> str:
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, float):
        return fmt_number(v)
    if isinstance(v, int):
        return str(v)
    s = str(v).replace("\r\n", "\n").replace("\r", "\n")
    return s.strip()


def parse_grades(v: Any) -> list[int] | None:
    """``4`` / ``"4,3"`` / ``"4、3"`` / ``"四级 三级"`` → ``[4, 3]``; ``None`` if unparseable.
    (Range checks are left to validation; ``"7"`` gives ``[7]``.)"""
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return [int(v)] if float(v).is_integer() else None
    if not isinstance(v, str):
        return None
    out = []
    for tok in _LIST_SPLIT.split(nfkc(v).strip()):
        if not tok:
            continue
        tok = tok.removesuffix("级")
        if tok.isdigit():
            out.append(int(tok))
        elif tok in _GRADE_WORDS:
            out.append(_GRADE_WORDS[tok])
        else:
            return None
    return out or None


def _split_lines(text: str) -> list[str]:
    return [x.strip() for x in text.split("\n") if x.strip()]


class _Row:
    """Typed access to one row's cells; records located problems and which fields failed."""

    def __init__(self, parser: "BankParser", rowno: int, cells: Sequence[RawCell]):
        self.p = parser
        self.rowno = rowno
        self.cells = cells
        self.failed: set[str] = set()

    def letter(self, key: str) -> str | None:
        i = self.p.colmap.get(key)
        return None if i is None else column_letter(i)

    def raw(self, key: str) -> RawCell | None:
        i = self.p.colmap.get(key)
        if i is None or i >= len(self.cells):
            return None
        return self.cells[i]

    def is_blank(self, key: str) -> bool:
        c = self.raw(key)
        return c is None or c.value is None or (isinstance(c.value, str) and not c.value.strip())

    def problem(self, key: str, field: str, code: str, **params: Any) -> None:
        self.failed.add(field)
        self.p.problems.append(make_problem(field, code, sheet=self.p.sheet, row=self.rowno,
                                            column=self.letter(key), **params))

    def _value(self, key: str, field: str) -> Any:
        c = self.raw(key)
        if c is None:
            return None
        if c.formula:
            self.problem(key, field, "formula_cell", value=str(c.value))
            return None
        v = c.value
        if v is None or (isinstance(v, str) and not v.strip()):
            return None
        return v

    def text(self, key: str, field: str | None = None) -> str | None:
        field = field or key
        v = self._value(key, field)
        if v is None:
            return None
        if isinstance(v, (_dt.datetime, _dt.date, _dt.time, _dt.timedelta)):
            self.problem(key, field, "wrong_cell_type", value=str(v), expected_zh="文本（请将单元格设为文本格式）",
                         expected_en="text (format the cell as text)")
            return None
        return _cell_text(v) or None

    def number(self, key: str, field: str | None = None, *, integer: bool = False) -> float | int | None:
        field = field or key
        v = self._value(key, field)
        if v is None:
            return None
        n = None if isinstance(v, (bool, _dt.datetime, _dt.date, _dt.time, _dt.timedelta)) else parse_number(v)
        if n is None or (integer and not float(n).is_integer()):
            zh, en = ("整数", "an integer") if integer else ("数字", "a number")
            self.problem(key, field, "wrong_cell_type", value=_cell_text(v) if not isinstance(v, _dt.date)
                         else str(v), expected_zh=zh, expected_en=en)
            return None
        return int(n) if integer else n

    def grades(self, key: str = "grades") -> list[int] | None:
        v = self._value(key, "grades")
        if v is None:
            return None
        g = None if isinstance(v, (_dt.date, _dt.time, _dt.timedelta)) else parse_grades(v)
        if g is None:
            self.problem(key, "grades", "wrong_cell_type", value=str(v), expected_zh="等级，如 4 或 4,3",
                         expected_en="grades such as 4 or 4,3")
        return g

    def lines(self, key: str, field: str | None = None) -> list[str]:
        t = self.text(key, field)
        return _split_lines(t) if t else []


# ---------------------------------------------------------------------------------------- parsing

@dataclass
class _Parsed:
    item: dict[str, Any]
    sheet: str
    row: int
    locate: Any  # callable field -> (row, column letter)
    failed: set[str] = field(default_factory=set)


_ROOT = re.compile(r"^([A-Za-z_]+)(?:\[(\d+)\])?(?:\.([A-Za-z_]+))?")
_KEY_FIELDS = {"key", "answers", "tolerance", "unit", "reference_answer"}


def _root(field: str) -> str:
    m = _ROOT.match(field)
    return m.group(1) if m else field


class BankParser:
    """Parses the rows of one sheet (or the CSV table) into item dicts with located problems.

    Use :meth:`item_row` for a row of the items layout and :meth:`practical_group` for the rows of one
    practical task. ``taxonomy`` (optional) is passed to :func:`validate_item` and used to check the
    ``importance`` column.
    """

    def __init__(self, sheet: str, colmap: Mapping[str, int], taxonomy: Any = None):
        self.sheet = sheet
        self.colmap = dict(colmap)
        self.taxonomy = taxonomy
        self.problems: list[Problem] = []
        self.parsed: list[_Parsed] = []

    # common fields (present on both layouts) --------------------------------------------------
    def _common(self, r: _Row, itype: ItemType | None) -> dict[str, Any]:
        d: dict[str, Any] = {}
        d["occupation"] = r.text("occupation")
        d["grades"] = r.grades()
        d["kp"] = r.text("kp")
        d["stem"] = r.text("stem")
        d["difficulty"] = r.number("difficulty")
        d["discrimination"] = r.number("discrimination")
        d["source"] = r.text("source") or ""
        status = r.text("status")
        d["status"] = "draft"
        if status is not None:
            try:
                d["status"] = Status.parse(status).value
            except ValueError:
                r.problem("status", "status", "unknown_status", value=status)
        d["images"] = r.lines("images")
        d["id"] = r.text("id")
        d["version"] = r.number("version", integer=True)
        return d

    def _importance(self, r: _Row, d: Mapping[str, Any]) -> None:
        imp = r.text("importance")
        if imp is None:
            return
        try:
            value = Importance.parse(imp)
        except ValueError:
            r.problem("importance", "importance", "unknown_importance", value=imp)
            return
        tax = resolve_taxonomy(self.taxonomy, d.get("occupation") or "")
        point = tax.index.point(d.get("kp") or "") if tax is not None else None
        if point is not None and point.importance != value:
            r.problem("importance", "importance", "importance_mismatch", value=value.value,
                      expected=point.importance.value, kp=point.code)

    def _type(self, r: _Row) -> ItemType | None:
        t = r.text("type")
        if t is None:
            if "type" not in r.failed:
                r.problem("type", "type", "required")
            return None
        try:
            return ItemType.parse(t)
        except ValueError:
            r.problem("type", "type", "unknown_type", value=t)
            return None

    def _not_applicable(self, r: _Row, key: str, field: str, itype: ItemType) -> None:
        if not r.is_blank(key):
            r.problem(key, field, "not_applicable", type=itype.value, type_zh=itype.label_zh + "题")

    def item_row(self, rowno: int, cells: Sequence[RawCell], *, csv: bool = False) -> None:
        """Parse one row of the items layout (``csv``: of the one-table CSV layout)."""
        r = _Row(self, rowno, cells)
        itype = self._type(r)
        d = self._common(r, itype)
        if itype is not None:
            d["type"] = itype.value
            if itype is ItemType.PRACTICAL_TASK:
                if csv:  # practical rows are recognised by their task id
                    r.problem("task", "task", "required")
                else:
                    r.problem("type", "type", "practical_in_items_sheet")
                return
        d["points"] = r.number("points")
        self._importance(r, d)
        spec = item_types.get(itype) if itype is not None else None
        # options
        opts = [r.text(f"option_{c}", f"options[{i}]") for i, c in enumerate(OPTION_LETTERS)]
        if itype is not None and itype.is_choice:
            while opts and opts[-1] is None:
                opts.pop()
            d["options"] = [o if o is not None else "" for o in opts]
        elif itype is not None:
            for i, c in enumerate(OPTION_LETTERS):
                self._not_applicable(r, f"option_{c}", f"options[{i}]", itype)
        # key
        key_text = r.text("key")
        if spec is not None:
            if key_text is None and "key" not in r.failed:
                fields, probs = spec.decode_key("")
            elif key_text is None:
                fields, probs = {}, []
            else:
                fields, probs = spec.decode_key(key_text)
            d.update(fields)
            for p in probs:
                r.problem("key", "key", p.code, **dict(p.params))
        # constructed extras
        if itype is not None and itype.is_constructed:
            mps, probs = decode_marking_points(r.text("marking_points"))
            if mps is not None:
                d["marking_points"] = mps
            for p in probs:
                r.problem("marking_points", "marking_points", p.code, **dict(p.params))
            step = r.number("score_step")
            if step is not None:
                d["score_step"] = step
        elif itype is not None:
            self._not_applicable(r, "marking_points", "marking_points", itype)
            self._not_applicable(r, "score_step", "score_step", itype)
        d = {k: v for k, v in d.items() if v is not None}

        def locate(f: str, _row: int = rowno) -> tuple[int, str | None]:
            m = _ROOT.match(f)
            root, idx = (m.group(1), m.group(2)) if m else (f, None)
            if root == "options":
                key = f"option_{OPTION_LETTERS[int(idx)]}" if idx is not None and int(idx) < 8 else "option_A"
            elif root in _KEY_FIELDS:
                key = "key"
            else:
                key = root
            return _row, r.letter(key)

        self._finish_item(d, rowno, locate, r.failed)

    def practical_group(self, rows: Sequence[tuple[int, Sequence[RawCell]]]) -> None:
        """Parse the rows of one practical task (``rows``: ``(row number, cells)``, first row first)."""
        first_no, first_cells = rows[0]
        r0 = _Row(self, first_no, first_cells)
        if not r0.is_blank("type"):
            t = self._type(r0)
            if t is not None and t is not ItemType.PRACTICAL_TASK:
                r0.problem("type", "type", "unknown_type", value=t.value)
        d = self._common(r0, ItemType.PRACTICAL_TASK)
        d["type"] = ItemType.PRACTICAL_TASK.value
        self._importance(r0, d)
        total = r0.number("points")
        d["time_limit_min"] = r0.number("time_limit_min", integer=True)
        failed = set(r0.failed)
        list_rows: dict[str, list[int]] = {"materials": [], "equipment": [], "veto": []}
        lists: dict[str, list[str]] = {"materials": [], "equipment": [], "veto": []}
        criteria: list[dict[str, Any]] = []
        crit_rows: list[int] = []
        prev_content = prev_mode = None
        single_keys = ("occupation", "grades", "kp", "importance", "stem", "points", "time_limit_min",
                       "difficulty", "discrimination", "source", "status", "id", "version", "images")
        for n, (rowno, cells) in enumerate(rows):
            r = r0 if n == 0 else _Row(self, rowno, cells)
            if n > 0:
                for key in single_keys:  # other rows repeat task-level values or leave them empty
                    if r.is_blank(key):
                        continue
                    mine, first = r.raw(key), r0.raw(key)
                    if first is None or first.value is None or _cell_text(mine.value) != _cell_text(first.value):
                        r.problem(key, key, "inconsistent_task_value", value=_cell_text(mine.value),
                                  first="" if first is None or first.value is None else _cell_text(first.value),
                                  first_row=first_no)
            for key in lists:
                for entry in r.lines(key, key):
                    if entry not in lists[key]:
                        lists[key].append(entry)
                        list_rows[key].append(rowno)
            crit_keys = ("content", "element", "criterion_points", "standard", "mode")
            if all(r.is_blank(k) for k in crit_keys):
                failed |= r.failed
                continue
            i = len(criteria)
            f = f"criteria[{i}]"
            content = r.text("content", f + ".content") or prev_content
            mode_text = r.text("mode", f + ".mode")
            mode = prev_mode if mode_text is None else parse_mode(mode_text)
            if mode_text is not None and mode is None:
                r.problem("mode", f + ".mode", "bad_mode", value=mode_text)
                mode = mode_text
            c = {"content": content, "element": r.text("element", f + ".element"),
                 "points": r.number("criterion_points", f + ".points"),
                 "standard": r.text("standard", f + ".standard"), "mode": mode}
            criteria.append({k: v for k, v in c.items() if v is not None})
            crit_rows.append(rowno)
            prev_content, prev_mode = content, mode
            failed |= r.failed
        d.update(lists)
        d["criteria"] = criteria
        if total is None and "points" not in failed:
            pts = [c.get("points") for c in criteria]
            if criteria and all(isinstance(p, (int, float)) for p in pts):
                total = sum(pts)
        d["points"] = total
        d = {k: v for k, v in d.items() if v is not None}
        letter = r0.letter

        def locate(f: str) -> tuple[int, str | None]:
            m = _ROOT.match(f)
            root, idx, sub = (m.group(1), m.group(2), m.group(3)) if m else (f, None, None)
            if root == "criteria":
                if idx is not None and int(idx) < len(crit_rows):
                    col = {"points": "criterion_points"}.get(sub or "content", sub or "content")
                    return crit_rows[int(idx)], letter(col)
                return first_no, letter("criterion_points")
            if root in lists and idx is not None and int(idx) < len(list_rows[root]):
                return list_rows[root][int(idx)], letter(root)
            return first_no, letter(root)

        self._finish_item(d, first_no, locate, failed)

    def _finish_item(self, d: dict[str, Any], rowno: int, locate: Any, failed: set[str]) -> None:
        """Validate ``d``, locate its problems (skipping fields whose cells already failed), keep it."""
        failed_roots = {_root(f) for f in failed}
        if "key" in failed_roots:
            failed_roots |= _KEY_FIELDS
        for p in validate_item(d, taxonomy=self.taxonomy):
            if _root(p.field) in failed_roots or p.field in failed:
                continue
            row, col = locate(p.field)
            self.problems.append(p.located(sheet=self.sheet, row=row, column=col))
        self.parsed.append(_Parsed(item=d, sheet=self.sheet, row=rowno, locate=locate, failed=failed))


def group_practical_rows(sheet: str, rows: Iterable[tuple[int, Sequence[RawCell]]], colmap: Mapping[str, int],
                         problems: list[Problem], *, inherit_task: bool = True,
                         seen: dict[str, int] | None = None) -> Iterator[list[tuple[int, Sequence[RawCell]]]]:
    """Group practical-task rows by the ``task`` column.

    An empty task cell continues the task above when ``inherit_task`` (this covers merged cells). A first
    row without a task id is a ``required`` problem; its group still collects the rows below (adopting the
    first task id met) so that one missing id gives one problem. Reusing a task id after another task is a
    ``duplicate_task`` problem and those rows are skipped. ``seen`` (task id → first row) may be shared
    between calls.
    """
    ti = colmap.get("task")
    letter = None if ti is None else column_letter(ti)
    seen = {} if seen is None else seen
    cur_id: str | None = None
    group: list[tuple[int, Sequence[RawCell]]] = []
    anonymous = skipping = False
    for rowno, cells in rows:
        cell = cells[ti] if ti is not None and ti < len(cells) else None
        tid = None
        reported = False
        if cell is not None and cell.formula:
            problems.append(make_problem("task", "formula_cell", value=str(cell.value), sheet=sheet, row=rowno,
                                         column=letter))
            reported = True
        elif cell is not None and cell.value is not None:
            tid = _cell_text(cell.value) or None
        if tid is None:
            if skipping or (group and inherit_task):
                if not skipping:
                    group.append((rowno, cells))
                continue
            if not reported:
                problems.append(make_problem("task", "required", sheet=sheet, row=rowno, column=letter))
            if not inherit_task:
                continue
            if group:
                yield group
            cur_id, group, anonymous, skipping = None, [(rowno, cells)], True, False
            continue
        if anonymous and group and tid not in seen:
            seen[tid] = group[0][0]
            cur_id, anonymous = tid, False
            group.append((rowno, cells))
            continue
        if tid == cur_id:
            if not skipping:
                group.append((rowno, cells))
            continue
        if group:
            yield group
        group, anonymous = [], False
        cur_id = tid
        if tid in seen:
            problems.append(make_problem("task", "duplicate_task", value=tid, first_row=seen[tid], sheet=sheet,
                                         row=rowno, column=letter))
            skipping = True
            continue
        seen[tid] = rowno
        skipping = False
        group = [(rowno, cells)]
    if group:
        yield group


def _row_is_blank(cells: Sequence[RawCell]) -> bool:
    return all(c.value is None or (isinstance(c.value, str) and not c.value.strip()) for c in cells)


def data_without_header(sheet: str, rowno: int, cells: Sequence[RawCell], colmap: Mapping[str, int],
                        header_len: int, reported: set[int], problems: list[Problem]) -> None:
    """Report (once per column) a value in a column that has no recognised header."""
    used = set(colmap.values())
    for i, c in enumerate(cells):
        if i in used or i in reported:
            continue
        if c.value is None or (isinstance(c.value, str) and not c.value.strip()):
            continue
        reported.add(i)
        if i < header_len:
            continue  # its header was already reported as unknown
        problems.append(make_problem("header", "data_without_header", sheet=sheet, row=rowno,
                                     column=column_letter(i)))


def problem_order(p: Problem) -> tuple[str, int, int, str]:
    """Sort key: sheet, row, column (``B`` before ``AA``)."""
    col = p.column or ""
    return (p.sheet or "", p.row or 0, len(col), col)


def finish_import(parsers: Sequence[BankParser], problems: list[Problem], *,
                  existing: Mapping[str, Any] | None = None) -> ImportResult:
    """File-wide checks and the all-or-nothing rule.

    Adds ``duplicate_id`` problems (an id used twice in the file, any sheet) and ``near_duplicate``
    warnings (stem + options equal after normalisation, within the file or against ``existing``
    fingerprints, see :func:`question_bank.duplicates.fingerprint_index`).
    """
    parsed = [p for ps in parsers for p in ps.parsed]
    found = list(problems) + [p for ps in parsers for p in ps.problems]
    all_problems = [p for p in found if p.is_error]
    warnings: list[Problem] = [p for p in found if not p.is_error]
    first_id: dict[str, _Parsed] = {}
    for p in parsed:
        iid = p.item.get("id")
        if not iid:
            continue
        if iid in first_id:
            f = first_id[iid]
            row, col = p.locate("id")
            all_problems.append(make_problem("id", "duplicate_id", value=iid, first_row=f.row,
                                             first_sheet=f.sheet, sheet=p.sheet, row=row, column=col))
        else:
            first_id[iid] = p
    for g in find_near_duplicates([p.item for p in parsed], existing=existing):
        for m in g.members:
            p = parsed[m]
            others = [parsed[o] for o in g.members if o != m]
            en = [f"{o.sheet} row {o.row}" for o in others] + [f"existing item {x}" for x in g.existing]
            zh = [f"{o.sheet} 第 {o.row} 行" for o in others] + [f"已有试题 {x}" for x in g.existing]
            row, col = p.locate("stem")
            warnings.append(make_problem("stem", "near_duplicate", severity=WARNING, sheet=p.sheet, row=row,
                                         column=col, others=", ".join(en), others_zh="、".join(zh),
                                         rows=[[o.sheet, o.row] for o in others], existing=list(g.existing)))
    all_problems.sort(key=problem_order)
    warnings.sort(key=problem_order)
    if all_problems:
        return ImportResult(items=(), problems=tuple(all_problems), warnings=tuple(warnings))
    items = tuple(canonical_item_dict(p.item) for p in parsed)
    return ImportResult(items=items, problems=(), warnings=tuple(warnings),
                        locations=tuple((p.sheet, p.row) for p in parsed))


def parse_items_table(sheet: str, rows: Iterable[tuple[int, Sequence[RawCell]]], columns: Sequence[Column],
                      taxonomy: Any, problems: list[Problem], *, layout: str, max_rows: int) -> BankParser | None:
    """Parse a whole sheet/table (``layout``: ``"items"``, ``"practical"`` or ``"csv"``).

    ``rows`` yields ``(row number, cells)`` starting with the header row. Returns the parser holding the
    parsed items, or ``None`` when the header was unusable (problems recorded).
    """
    it = iter(rows)
    header = next(it, None)
    if header is None:
        problems.append(make_problem("header", "missing_column", name=columns[0].header, sheet=sheet, row=1))
        return None
    colmap, hprobs = parse_header(sheet, header[1], columns)
    problems += hprobs
    if any(p.code == "missing_column" for p in hprobs):
        return None
    parser = BankParser(sheet, colmap, taxonomy)
    reported: set[int] = set()
    header_len = len(header[1])

    def data_rows() -> Iterator[tuple[int, Sequence[RawCell]]]:
        count = 0
        for rowno, cells in it:
            if _row_is_blank(cells):
                continue
            count += 1
            if count > max_rows:
                problems.append(make_problem("file", "too_many_rows", max=max_rows, sheet=sheet, row=rowno))
                return
            data_without_header(sheet, rowno, cells, colmap, header_len, reported, problems)
            yield rowno, cells

    if layout == "items":
        for rowno, cells in data_rows():
            parser.item_row(rowno, cells)
    elif layout == "practical":
        for group in group_practical_rows(sheet, data_rows(), colmap, problems):
            parser.practical_group(group)
    else:  # csv: rows with a task id (or of type practical_task) are practical-task rows
        ti, tyi = colmap.get("task"), colmap.get("type")
        pending: list[tuple[int, Sequence[RawCell]]] = []
        seen: dict[str, int] = {}

        def is_practical(cells: Sequence[RawCell]) -> bool:
            if ti is not None and ti < len(cells) and cells[ti].value not in (None, ""):
                return True
            if tyi is not None and tyi < len(cells) and isinstance(cells[tyi].value, str):
                try:
                    return ItemType.parse(cells[tyi].value) is ItemType.PRACTICAL_TASK
                except ValueError:
                    return False
            return False

        def flush() -> None:
            if pending:
                for group in group_practical_rows(sheet, list(pending), colmap, problems, seen=seen):
                    parser.practical_group(group)
                pending.clear()

        for rowno, cells in data_rows():
            if is_practical(cells):
                pending.append((rowno, cells))
            else:
                flush()
                parser.item_row(rowno, cells, csv=True)
        flush()
    return parser


# ---------------------------------------------------------------------------------------- writing

def _as_canonical(item: Mapping[str, Any] | Item) -> dict[str, Any]:
    return canonical_item_dict(item_to_dict(item) if isinstance(item, Item) else item)


def _importance_of(d: Mapping[str, Any], taxonomy: Any) -> str | None:
    tax = resolve_taxonomy(taxonomy, d["occupation"])
    point = tax.index.point(d["kp"]) if tax is not None else None
    return point.importance.value if point is not None else None


def _grades_out(grades: Sequence[int]) -> int | str:
    return grades[0] if len(grades) == 1 else ",".join(str(g) for g in grades)


def _num_out(v: float | None) -> int | float | None:
    if v is None:
        return None
    return int(v) if float(v).is_integer() and abs(v) < 1e15 else v


def item_row(item: Mapping[str, Any] | Item, taxonomy: Any = None) -> dict[str, Any]:
    """Cell values of one item on the items layout, by column key (``None`` = empty cell)."""
    d = _as_canonical(item)
    t = ItemType(d["type"])
    spec = item_types.get(t)
    row: dict[str, Any] = {
        "occupation": d["occupation"], "grades": _grades_out(d["grades"]), "kp": d["kp"],
        "importance": _importance_of(d, taxonomy), "type": t.label_zh, "stem": d["stem"],
        "key": spec.encode_key(d), "points": _num_out(d["points"]), "difficulty": d["difficulty"],
        "source": d["source"] or None, "status": Status(d["status"]).label_zh, "id": d["id"],
        "version": d["version"], "discrimination": d["discrimination"],
        "images": "\n".join(d["images"]) or None,
    }
    for i, opt in enumerate(d.get("options") or ()):
        row[f"option_{OPTION_LETTERS[i]}"] = opt
    if t.is_constructed:
        row["marking_points"] = encode_marking_points(d["marking_points"])
        row["score_step"] = _num_out(d["score_step"])
    return row


def practical_rows(item: Mapping[str, Any] | Item, task_id: str, taxonomy: Any = None) -> list[dict[str, Any]]:
    """Cell values (by column key) of the rows of one practical task: task-level values on the first
    row, the task id and one criterion on every row."""
    d = _as_canonical(item)
    first: dict[str, Any] = {
        "task": task_id, "type": ItemType.PRACTICAL_TASK.label_zh, "occupation": d["occupation"],
        "grades": _grades_out(d["grades"]), "kp": d["kp"], "importance": _importance_of(d, taxonomy),
        "stem": d["stem"], "time_limit_min": d["time_limit_min"],
        "materials": "\n".join(d["materials"]) or None, "equipment": "\n".join(d["equipment"]) or None,
        "veto": "\n".join(d["veto"]) or None, "points": _num_out(d["points"]), "difficulty": d["difficulty"],
        "source": d["source"] or None, "status": Status(d["status"]).label_zh, "id": d["id"],
        "version": d["version"], "discrimination": d["discrimination"],
        "images": "\n".join(d["images"]) or None,
    }
    rows = []
    for n, c in enumerate(d["criteria"]):
        row = dict(first) if n == 0 else {"task": task_id}
        row.update({"content": c["content"], "element": c["element"], "criterion_points": _num_out(c["points"]),
                    "standard": c["standard"], "mode": mode_label_zh(c["mode"])})
        rows.append(row)
    return rows


def task_ids(items: Sequence[Mapping[str, Any]]) -> list[str]:
    """Task ids for practical tasks on export: the item id when present and unique, else ``T1``, ``T2`` …"""
    used = {str(d.get("id")) for d in items if d.get("id")}
    out, n = [], 0
    for d in items:
        if d.get("id"):
            out.append(str(d["id"]))
            continue
        n += 1
        while f"T{n}" in used:
            n += 1
        used.add(f"T{n}")
        out.append(f"T{n}")
    return out


def csv_rows(items: Sequence[Mapping[str, Any] | Item], taxonomy: Any = None) -> Iterator[dict[str, Any]]:
    """Rows (by column key) of the one-table CSV layout, in item order."""
    canon = [_as_canonical(it) for it in items]
    practical = [d for d in canon if d["type"] == ItemType.PRACTICAL_TASK.value]
    ids = iter(task_ids(practical))
    for d in canon:
        if d["type"] == ItemType.PRACTICAL_TASK.value:
            yield from practical_rows(d, next(ids), taxonomy)
        else:
            yield item_row(d, taxonomy)

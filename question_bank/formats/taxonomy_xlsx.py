"""The appraisal-element table (鉴定要素细目表) as an Excel workbook ⇄ taxonomy dict (docs/items.md).

Workbook layout (the export writes it; the import reads it):

* sheet ``occupation`` (职业): two columns, field and value; rows ``职业代码 code``, ``职业名称 name``,
  ``工种 work_type`` (optional), ``等级 grades`` (e.g. ``4,3``; optional — defaults to the grades of the
  weight columns);
* sheet ``taxonomy`` (细目表), one row per node, header row 1:
  ``代码 code`` | ``名称 name`` | ``层级 level`` (1 鉴定范围 / 2 鉴定内容 / 3 鉴定点; optional) |
  ``重要程度 importance`` (points) | ``适用等级 grades`` (points) | ``类别 part`` (areas: 理论知识 theory /
  操作技能 practical) | one ``比重 weight_<grade>`` column per grade (areas: percent of the part).

Without a level, a row's level is inferred from its code: a code whose prefix (cut at a ``-``) is a known
code is that node's child (``P-A-A`` under area ``P-A``), otherwise it is an area. With a level, the parent
is the nearest row above of the level above (outline order). ``part`` is read on area rows; units and
points belong to their area's part. Problems are located by sheet, row, column letter and the taxonomy
field path (``tree[1].units[0].points[2].grades``), via :func:`question_bank.taxonomy.validate_taxonomy`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Mapping
from typing import IO, Any

from question_bank.messages import Problem, make_problem
from question_bank.normalize import nfkc
from question_bank.taxonomy import Taxonomy, validate_taxonomy

from ._source import load_source
from .common import (DEFAULT_MAX_BYTES, Column, RawCell, _Row, column_letter, parse_grades, parse_header,
                     problem_order)
from .xlsx import DEFAULT_MAX_UNCOMPRESSED_BYTES, check_ooxml, open_workbook, sheet_rows

__all__ = ["read_taxonomy_xlsx", "write_taxonomy_xlsx", "TaxonomyImportResult", "TAXONOMY_SHEET",
           "OCCUPATION_SHEET"]

TAXONOMY_SHEET = "taxonomy"
OCCUPATION_SHEET = "occupation"
_TAX_NAMES = {"taxonomy", "细目表", "鉴定要素细目表", "细目表 taxonomy"}
_OCC_NAMES = {"occupation", "职业", "职业信息", "职业 occupation"}
_PART_WORDS = {"theory": "theory", "理论": "theory", "理论知识": "theory",
               "practical": "practical", "操作技能": "practical", "技能": "practical", "实操": "practical",
               "技能操作": "practical"}
_LEVEL_WORDS = {"1": 1, "2": 2, "3": 3, "area": 1, "unit": 2, "point": 3, "鉴定范围": 1, "鉴定内容": 2,
                "鉴定点": 3, "一": 1, "二": 2, "三": 3}
_PART_ZH = {"theory": "理论知识", "practical": "操作技能"}
_GRADE_ZH = {"五": 5, "四": 4, "三": 3, "二": 2, "一": 1}

_COLUMNS = (
    Column("code", "代码", "code", True, ("编码", "鉴定点代码")),
    Column("name", "名称", "name", True, ("内容",)),
    Column("level", "层级", "level", False, ("级次",)),
    Column("importance", "重要程度", "importance", False, ("重要性",)),
    Column("grades", "适用等级", "grades", False, ("等级", "grade")),
    Column("part", "类别", "part", False, ("部分", "理论/技能")),
)
_OCC_FIELDS = {"code": ("职业代码", "code", "occupation code", "代码"), "name": ("职业名称", "name", "名称", "职业"),
               "work_type": ("工种", "work_type", "work type"), "grades": ("等级", "grades", "适用等级")}
_WEIGHT_HEADER = re.compile(r"(?:比重|weight)\D*?([1-5一二三四五])|([1-5一二三四五])\s*级\s*比重")


@dataclass(frozen=True)
class TaxonomyImportResult:
    """``taxonomy``: the taxonomy dict (docs/items.md shape) or ``None`` when there are errors;
    ``problems``: errors; ``warnings``: non-blocking findings."""

    taxonomy: dict[str, Any] | None
    problems: tuple[Problem, ...] = ()
    warnings: tuple[Problem, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems


def _weight_grade(header: Any) -> int | None:
    if not isinstance(header, str):
        return None
    m = _WEIGHT_HEADER.search(nfkc(header).casefold())
    if not m:
        return None
    g = m.group(1) or m.group(2)
    return int(g) if g.isdigit() else _GRADE_ZH[g]


class _Parser:
    def __init__(self, sheet: str, colmap: dict[str, int]):
        self.sheet = sheet
        self.colmap = colmap
        self.problems: list[Problem] = []


def read_taxonomy_xlsx(source: str | Path | bytes | IO[bytes], *, max_bytes: int = DEFAULT_MAX_BYTES,
                       max_uncompressed_bytes: int = DEFAULT_MAX_UNCOMPRESSED_BYTES) -> TaxonomyImportResult:
    """Read a 鉴定要素细目表 workbook (layout: module docstring) into a taxonomy dict; all-or-nothing."""
    src, problems = load_source(source, max_bytes)
    if src is None:
        return TaxonomyImportResult(None, tuple(problems))
    problems = check_ooxml(src, max_uncompressed_bytes)
    if problems:
        return TaxonomyImportResult(None, tuple(problems))
    try:
        wb = open_workbook(src)
    except Exception as exc:  # openpyxl raises many types for broken parts
        return TaxonomyImportResult(None, (make_problem("file", "not_xlsx", reason=f"{type(exc).__name__}",
                                                        reason_zh=f"无法读取工作簿（{type(exc).__name__}）"),))
    try:
        return _read(wb)
    finally:
        wb.close()


def _read(wb) -> TaxonomyImportResult:
    problems: list[Problem] = []
    tax_ws = occ_ws = None
    for ws in wb.worksheets:
        n = nfkc(ws.title).strip().casefold()
        if n in _TAX_NAMES and tax_ws is None:
            tax_ws = ws
        elif n in _OCC_NAMES and occ_ws is None:
            occ_ws = ws
    if tax_ws is None:
        return TaxonomyImportResult(None, (make_problem("file", "missing_sheet", name=TAXONOMY_SHEET),))
    if occ_ws is None:
        return TaxonomyImportResult(None, (make_problem("file", "missing_sheet", name=OCCUPATION_SHEET),))

    # occupation sheet ------------------------------------------------------------------------
    occ: dict[str, Any] = {}
    occ_rows: dict[str, int] = {}
    grades: list[int] | None = None
    lookup = {nfkc(a).casefold(): k for k, names in _OCC_FIELDS.items() for a in names}
    for rowno, cells in sheet_rows(occ_ws):
        if not cells or cells[0].value is None:
            continue
        label = nfkc(str(cells[0].value)).strip().casefold()
        key = lookup.get(label) or next((lookup[t] for t in label.split() if t in lookup), None)
        if key is None:
            continue  # a title or note row
        value = cells[1] if len(cells) > 1 else RawCell(None)
        occ_rows[key] = rowno
        if value.formula:
            problems.append(make_problem(f"occupation.{key}", "formula_cell", value=str(value.value),
                                         sheet=occ_ws.title, row=rowno, column="B"))
            continue
        if value.value is None or str(value.value).strip() == "":
            continue
        if key == "grades":
            grades = parse_grades(value.value)
            if grades is None:
                problems.append(make_problem("grades", "wrong_cell_type", value=str(value.value),
                                             expected_zh="等级，如 4,3", expected_en="grades such as 4,3",
                                             sheet=occ_ws.title, row=rowno, column="B"))
        else:
            occ[key] = str(value.value).strip() if not isinstance(value.value, float) else \
                str(int(value.value)) if value.value.is_integer() else str(value.value)

    # taxonomy sheet ---------------------------------------------------------------------------
    rows = sheet_rows(tax_ws)
    header = next(rows, None)
    if header is None:
        return TaxonomyImportResult(None, (make_problem("header", "missing_column", name="代码 code",
                                                        sheet=tax_ws.title, row=1),))
    weight_cols: dict[int, int] = {}  # grade -> column index
    plain_header = []
    for i, c in enumerate(header[1]):
        g = _weight_grade(c.value) if not c.formula else None
        if g is not None:
            if g in weight_cols:
                problems.append(make_problem("header", "duplicate_column", name=str(c.value),
                                             first=column_letter(weight_cols[g]), sheet=tax_ws.title, row=1,
                                             column=column_letter(i)))
            else:
                weight_cols[g] = i
            plain_header.append(RawCell(None))
        else:
            plain_header.append(c)
    colmap, hprobs = parse_header(tax_ws.title, plain_header, _COLUMNS)
    problems += hprobs
    if any(p.code == "missing_column" for p in hprobs):
        return TaxonomyImportResult(None, tuple(problems))
    for g, i in weight_cols.items():
        colmap[f"weight_{g}"] = i
    if grades is None and weight_cols:
        grades = sorted(weight_cols, reverse=True)
    p = _Parser(tax_ws.title, colmap)
    tree: list[dict[str, Any]] = []
    weights: dict[str, dict[int, dict[str, float]]] = {}
    where: dict[str, tuple[int, str]] = {}  # field-path prefix -> (row, kind)
    nodes: dict[str, tuple[str, dict[str, Any], str]] = {}  # code -> (kind, node dict, path)
    last: dict[int, tuple[dict[str, Any], str] | None] = {1: None, 2: None}
    first_area_row: dict[str, int] = {}
    parts_unknown = False  # an area without a valid part: weight sums cannot be judged
    for rowno, cells in rows:
        if all(c.value is None or (isinstance(c.value, str) and not c.value.strip()) for c in cells):
            continue
        r = _Row(p, rowno, cells)  # type: ignore[arg-type]
        code = r.text("code", "code")
        name = r.text("name", "name")
        level_text = r.text("level", "level")
        level = None
        if level_text is not None:
            level = _LEVEL_WORDS.get(nfkc(level_text).strip().casefold())
            if level is None:  # reported; the level is then inferred from the code
                r.problem("level", "level", "bad_level", value=level_text)
        if code is None:
            if "code" not in r.failed:
                r.problem("code", "code", "required")
            continue
        parent: tuple[dict[str, Any], str] | None = None
        if level is None:
            prefix = code
            while "-" in prefix:
                prefix = prefix.rsplit("-", 1)[0]
                if prefix in nodes and nodes[prefix][0] != "point":
                    kind, node, path = nodes[prefix]
                    level = 2 if kind == "area" else 3
                    parent = (node, path)
                    break
            if level is None:
                level = 1
        elif level > 1:
            parent = last[level - 1]
            if parent is None:
                r.problem("code", "code", "orphan_node", parent="(鉴定范围)" if level == 2 else "(鉴定内容)")
                continue
        if level == 1:
            part_text = r.text("part", "part")
            part = _PART_WORDS.get(nfkc(part_text).strip().casefold()) if part_text else None
            if part is None:
                parts_unknown = True
            path = f"tree[{len(tree)}]"
            node = {"code": code, "name": name, "part": part if part else part_text, "units": []}
            tree.append(node)
            last[1], last[2] = (node, path), None
            if part:
                first_area_row.setdefault(part, rowno)
                for g, i in weight_cols.items():
                    w = r.number(f"weight_{g}", f"weights.{part}.{g}.{code}")
                    if w is not None:
                        weights.setdefault(part, {}).setdefault(g, {})[code] = w
        elif level == 2:
            pnode, ppath = parent  # type: ignore[misc]
            path = f"{ppath}.units[{len(pnode['units'])}]"
            node = {"code": code, "name": name, "points": []}
            pnode["units"].append(node)
            last[2] = (node, path)
        else:
            pnode, ppath = parent  # type: ignore[misc]
            if "points" not in pnode:
                r.problem("code", "code", "orphan_node", parent=pnode.get("code", ""))
                continue
            path = f"{ppath}.points[{len(pnode['points'])}]"
            imp = r.text("importance", "importance")
            node = {"code": code, "name": name, "importance": imp, "grades": r.grades("grades")}
            pnode["points"].append(node)
        nodes.setdefault(code, ("area" if level == 1 else "unit" if level == 2 else "point", node, path))
        where[path] = (rowno, "node")
    problems += p.problems
    failed_cells = {(q.sheet, q.row, q.column) for q in p.problems}
    for part in weights:  # complete the grade tables so a missing area weight counts as 0
        for g in weights[part]:
            weights[part][g] = dict(weights[part][g])
    d: dict[str, Any] = {"occupation": occ, "grades": grades, "weights": weights, "tree": tree}
    found = [q for q in validate_taxonomy(d) if not (parts_unknown and q.code == "weights_sum")]
    occ_ws_title = occ_ws.title
    located: list[Problem] = []
    for q in found:
        f = q.field
        if f.startswith("occupation.") or f == "occupation":
            key = f.split(".", 1)[1] if "." in f else "code"
            located.append(q.located(sheet=occ_ws_title, row=occ_rows.get(key), column="B"))
            continue
        if f.startswith("grades"):
            located.append(q.located(sheet=occ_ws_title, row=occ_rows.get("grades"), column="B"))
            continue
        if f.startswith("weights"):
            parts = f.split(".")
            part = parts[1] if len(parts) > 1 else None
            grade = parts[2] if len(parts) > 2 else None
            area = ".".join(parts[3:]) if len(parts) > 3 else None
            col = weight_cols.get(int(grade)) if grade and grade.isdigit() else None
            row = None
            if area and area in nodes:
                row = where.get(nodes[area][2], (None,))[0]
            elif part:
                row = first_area_row.get(part)
            if q.code == "missing_weights":
                row, col = 1, None
            located.append(q.located(sheet=tax_ws.title, row=row or 1,
                                      column=column_letter(col) if col is not None else None))
            continue
        m = re.match(r"^(tree\[\d+\](?:\.units\[\d+\](?:\.points\[\d+\])?)?)(?:\.([a-z_]+))?", f)
        if m and m.group(1) in where:
            row = where[m.group(1)][0]
            sub = m.group(2) or "code"
            col_key = {"units": "code", "points": "code"}.get(sub, sub)
            i = colmap.get(col_key)
            located.append(q.located(sheet=tax_ws.title, row=row,
                                      column=column_letter(i) if i is not None else None))
        else:
            located.append(q.located(sheet=tax_ws.title))
    problems += [q for q in located if (q.sheet, q.row, q.column) not in failed_cells]
    errors = [q for q in problems if q.is_error]
    warnings = [q for q in problems if not q.is_error]
    errors.sort(key=problem_order)
    if errors:
        return TaxonomyImportResult(None, tuple(errors), tuple(warnings))
    return TaxonomyImportResult(Taxonomy.from_dict(d).to_dict(), (), tuple(warnings))


def write_taxonomy_xlsx(taxonomy: Taxonomy | Mapping[str, Any], path: str | Path | IO[bytes]) -> None:
    """Write a taxonomy (a :class:`Taxonomy` or its dict; validated) as a 鉴定要素细目表 workbook."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    tax = taxonomy if isinstance(taxonomy, Taxonomy) else Taxonomy.from_dict(taxonomy)
    wb = Workbook()
    wb.remove(wb.active)
    ws = wb.create_sheet(OCCUPATION_SHEET)
    ws.append(["项目 field", "值 value"])
    ws.append(["职业代码 code", tax.occupation.code])
    ws.append(["职业名称 name", tax.occupation.name])
    ws.append(["工种 work_type", tax.occupation.work_type or None])
    ws.append(["等级 grades", ",".join(str(g) for g in tax.grades)])
    for c in ws[1]:
        c.font = Font(bold=True)
    ws.column_dimensions["A"].width = 18
    ws.column_dimensions["B"].width = 24
    ws["B2"].number_format = ws["B5"].number_format = "@"

    ws = wb.create_sheet(TAXONOMY_SHEET)
    header = [c.header for c in _COLUMNS] + [f"比重（{g}级） weight_{g}" for g in tax.grades]
    ws.append(header)
    for c in ws[1]:
        c.font = Font(bold=True)
    for letter, width in zip("ABCDEF", (14, 36, 8, 10, 10, 10)):
        ws.column_dimensions[letter].width = width
    ws.freeze_panes = "A2"
    for a in tax.areas:
        w = [tax.weights.get(a.part, {}).get(g, {}).get(a.code) for g in tax.grades]
        ws.append([a.code, a.name, 1, None, None, _PART_ZH[a.part], *[_num(x) for x in w]])
        ws.cell(row=ws.max_row, column=1).font = Font(bold=True)
        for u in a.units:
            ws.append([u.code, u.name, 2])
            for p in u.points:
                ws.append([p.code, p.name, 3, p.importance.value, ",".join(str(g) for g in p.grades)])
    for row in ws.iter_rows(min_row=2, max_col=5):
        row[0].number_format = row[4].number_format = "@"
    wb.save(path)


def _num(v: float | None) -> int | float | None:
    if v is None:
        return None
    return int(v) if float(v).is_integer() else v

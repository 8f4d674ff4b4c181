"""The bank spreadsheet as an Excel .xlsx workbook (sheets ``items`` and ``practical_tasks``).

Reading streams the workbook with openpyxl in read-only mode (memory bounded by a row, not the file),
with ``data_only=False`` so that formula cells are seen and refused (a formula's cached value may be stale
or absent). Before openpyxl sees the file: the size limit, a zip/OOXML check and a limit on the unpacked
size (zip-bomb guard). Layout and parsing rules: :mod:`question_bank.formats.common` and docs/items.md.
"""

from __future__ import annotations

import warnings
import zipfile
from pathlib import Path
from collections.abc import Iterator, Mapping, Sequence
from typing import IO, Any

from question_bank.items import Item, ItemType
from question_bank.messages import Problem, make_problem

from ._source import as_binary_file, load_source
from .common import (DEFAULT_MAX_BYTES, DEFAULT_MAX_ROWS, ITEM_COLUMNS, ITEMS_SHEET, PRACTICAL_COLUMNS,
                     PRACTICAL_SHEET, Column, ImportResult, RawCell, _as_canonical, finish_import, item_row,
                     parse_items_table, practical_rows, sheet_kind, task_ids)

__all__ = ["read_bank_xlsx", "write_bank_xlsx", "DEFAULT_MAX_BYTES", "DEFAULT_MAX_UNCOMPRESSED_BYTES",
           "check_ooxml", "open_workbook", "sheet_rows", "write_sheet"]

#: Default limit of the total unpacked size of the workbook's parts (bytes).
DEFAULT_MAX_UNCOMPRESSED_BYTES = 400 * 1024 * 1024


def check_ooxml(src: bytes | Path, max_uncompressed_bytes: int) -> list[Problem]:
    """Problems if ``src`` is not a zip holding an OOXML workbook, or unpacks to more than the limit."""
    try:
        with zipfile.ZipFile(as_binary_file(src)) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        return [make_problem("file", "not_xlsx", reason="not a zip archive (an old .xls or another file type?)",
                             reason_zh="不是 zip 压缩包，可能是旧版 .xls 或其他类型的文件")]
    names = {i.filename for i in infos}
    if "[Content_Types].xml" not in names or "xl/workbook.xml" not in names:
        return [make_problem("file", "not_xlsx", reason="the archive holds no Excel workbook",
                             reason_zh="压缩包中没有 Excel 工作簿")]
    total = sum(i.file_size for i in infos)
    if total > max_uncompressed_bytes:
        return [make_problem("file", "uncompressed_too_large", size=total, max=max_uncompressed_bytes)]
    return []


def open_workbook(src: bytes | Path):
    """openpyxl read-only workbook (formulas kept as formulas); warnings from openpyxl suppressed.
    Raises whatever openpyxl raises for a broken file."""
    from openpyxl import load_workbook
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_workbook(as_binary_file(src), read_only=True, data_only=False, keep_links=False)


def sheet_rows(ws) -> Iterator[tuple[int, list[RawCell]]]:
    """``(row number, cells)`` of a read-only worksheet, streaming; empty rows included."""
    ws.reset_dimensions()  # do not trust the stored dimension: read every cell there is
    it = ws.iter_rows()
    rowno = 0
    while True:
        with warnings.catch_warnings():  # only around openpyxl's own work, not the consumer's
            warnings.simplefilter("ignore")
            row = next(it, None)
        if row is None:
            return
        rowno += 1
        cells = []
        for c in row:
            v = c.value
            if c.data_type == "f" or (v is not None and not isinstance(v, (str, int, float, bool))
                                     and hasattr(v, "text")):  # ArrayFormula / DataTableFormula
                cells.append(RawCell(v if isinstance(v, str) else getattr(v, "text", str(v)), True))
            else:
                cells.append(RawCell(v))
        yield rowno, cells


def read_bank_xlsx(source: str | Path | bytes | IO[bytes], *, max_bytes: int = DEFAULT_MAX_BYTES,
                   taxonomy: Any = None, existing: Mapping[str, Any] | None = None,
                   max_uncompressed_bytes: int = DEFAULT_MAX_UNCOMPRESSED_BYTES,
                   max_rows: int = DEFAULT_MAX_ROWS) -> ImportResult:
    """Read a bank workbook; all-or-nothing.

    Parameters
    ----------
    source : path, bytes or binary file object
    max_bytes : int
        Largest accepted file size in bytes (default 20 MiB); larger → ``file_too_large``.
    taxonomy : Taxonomy, mapping occupation code → Taxonomy, iterable of Taxonomy, optional
        When given, occupation and kp codes, the kp's grades and the importance column are checked.
    existing : mapping fingerprint → item id(s), optional
        Fingerprints of the bank (:func:`question_bank.duplicates.fingerprint_index`) for near-duplicate
        warnings against stored items.
    max_uncompressed_bytes, max_rows : int
        Zip-bomb guard (total unpacked size) and data rows per sheet.

    Returns
    -------
    ImportResult
        ``items`` (canonical item dicts) only when ``problems`` is empty; every problem carries
        ``sheet``, ``row``, ``column`` (letter) and ``field`` where they apply; near-duplicates are
        ``warnings``.
    """
    src, problems = load_source(source, max_bytes)
    if src is None:
        return ImportResult(problems=tuple(problems))
    problems = check_ooxml(src, max_uncompressed_bytes)
    if problems:
        return ImportResult(problems=tuple(problems))
    try:
        wb = open_workbook(src)
    except Exception as exc:  # openpyxl raises many types for broken parts
        return ImportResult(problems=(make_problem(
            "file", "not_xlsx", reason=f"{type(exc).__name__}: {str(exc)[:200]}",
            reason_zh=f"无法读取工作簿（{type(exc).__name__}）"),))
    try:
        return _read(wb, taxonomy, existing, max_rows)
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError, OSError, EOFError) as exc:
        return ImportResult(problems=(make_problem(
            "file", "not_xlsx", reason=f"{type(exc).__name__}: {str(exc)[:200]}",
            reason_zh=f"工作表内容损坏（{type(exc).__name__}）"),))
    finally:
        wb.close()


def _read(wb, taxonomy: Any, existing: Mapping[str, Any] | None, max_rows: int) -> ImportResult:
    problems: list[Problem] = []
    kinds: dict[str, Any] = {}
    for ws in wb.worksheets:
        k = sheet_kind(ws.title)
        if k is not None and k not in kinds:
            kinds[k] = ws
    if not kinds and len(wb.worksheets) == 1:
        kinds[ITEMS_SHEET] = wb.worksheets[0]
    if not kinds:
        return ImportResult(problems=(make_problem("file", "missing_sheet", name=ITEMS_SHEET),))
    parsers = []
    for kind, columns, layout in ((ITEMS_SHEET, ITEM_COLUMNS, "items"),
                                  (PRACTICAL_SHEET, PRACTICAL_COLUMNS, "practical")):
        ws = kinds.get(kind)
        if ws is None:
            continue
        p = parse_items_table(ws.title, sheet_rows(ws), columns, taxonomy, problems, layout=layout,
                              max_rows=max_rows)
        if p is not None:
            parsers.append(p)
    result = finish_import(parsers, problems, existing=existing)
    if result.ok and not result.items:
        return ImportResult(problems=(make_problem("file", "no_items"),))
    return result


def write_sheet(ws, columns: Sequence[Column], rows: Sequence[Mapping[str, Any]]) -> None:
    """Write a header row (bold, frozen) and ``rows`` (dicts by column key) to a write-only sheet.

    Text beginning with ``=`` is stored as text, never as a formula. The sheet's ``<dimension>`` is written
    (openpyxl's write-only mode omits it, and its read-only reader then scans the whole sheet once more)."""
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    dimension = f"A1:{get_column_letter(len(columns))}{len(rows) + 1}"
    ws.calculate_dimension = lambda: dimension  # read by openpyxl's writer before the first row
    bold = Font(bold=True)
    for i, c in enumerate(columns, start=1):
        ws.column_dimensions[get_column_letter(i)].width = 40 if c.key in ("stem", "standard") else 14
    ws.freeze_panes = "A2"
    header = []
    for c in columns:
        cell = WriteOnlyCell(ws, value=c.header)
        cell.font = bold
        header.append(cell)
    ws.append(header)
    keys = [c.key for c in columns]
    for row in rows:
        out = []
        for k in keys:
            v = row.get(k)
            if isinstance(v, str) and v.startswith("="):
                cell = WriteOnlyCell(ws, value=v)
                cell.data_type = "s"
                v = cell
            out.append(v)
        ws.append(out)


def write_bank_xlsx(items: Sequence[Mapping[str, Any] | Item], path: str | Path | IO[bytes], *,
                    taxonomy: Any = None) -> None:
    """Write items to a bank workbook (openpyxl write-only mode: memory bounded).

    Non-practical items go to sheet ``items`` in the given order, practical tasks to
    ``practical_tasks`` (task id = item id, or ``T1``, ``T2`` … for new items). With ``taxonomy`` the
    importance column is filled from the knowledge points. Items are not validated here; invalid text
    (control characters) makes openpyxl raise.
    """
    from openpyxl import Workbook

    canon = [_as_canonical(it) for it in items]
    practical = [d for d in canon if d["type"] == ItemType.PRACTICAL_TASK.value]
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(ITEMS_SHEET)
    write_sheet(ws, ITEM_COLUMNS, [item_row(d, taxonomy) for d in canon
                                   if d["type"] != ItemType.PRACTICAL_TASK.value])
    ws2 = wb.create_sheet(PRACTICAL_SHEET)
    ids = task_ids(practical)
    write_sheet(ws2, PRACTICAL_COLUMNS, [row for d, tid in zip(practical, ids)
                                         for row in practical_rows(d, tid, taxonomy)])
    wb.save(path)

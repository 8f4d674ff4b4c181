"""The bank spreadsheet as one CSV table (UTF-8 with BOM, so Excel opens it with the right encoding).

Columns: :data:`~question_bank.formats.common.CSV_COLUMNS` — the ``items`` sheet columns followed by the
practical-task columns (``task``, time limit, materials, equipment, veto, criterion columns). A row with a
``task`` value belongs to a practical task; its consecutive rows with the same task id are its criteria.

Reading accepts UTF-8 with or without BOM and, failing that, GB18030 (what Chinese Excel writes for
"CSV (逗号分隔)"). Row numbers in problems are record numbers as Excel shows them (row 1 = header).
Formula injection guard: on export a text starting with ``=``, ``@``, or ``+``/``-`` (and not a number)
gets a leading apostrophe, which the reader removes again, so the round trip is exact.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from collections.abc import Iterator, Mapping, Sequence
from typing import IO, Any

from question_bank.items import Item
from question_bank.messages import make_problem
from question_bank.normalize import parse_number

from ._source import load_source
from .common import (CSV_COLUMNS, DEFAULT_MAX_BYTES, DEFAULT_MAX_ROWS, ImportResult, RawCell, csv_rows,
                     finish_import, parse_items_table)
from question_bank.item_types.base import fmt_number

__all__ = ["read_bank_csv", "write_bank_csv", "CSV_SHEET", "guard", "unguard"]

#: Name used as ``sheet`` in the problems of a CSV import.
CSV_SHEET = "csv"
_TRIGGER = re.compile(r"^'*[=@+\-\t\r]")


def guard(text: str) -> str:
    """Prefix ``'`` to text Excel would run as a formula (``=…``, ``@…``, ``+…``/``-…`` not a number)."""
    if _TRIGGER.match(text) and not (text[:1] in "+-" and parse_number(text) is not None):
        return "'" + text
    return text


def unguard(text: str) -> str:
    """Inverse of :func:`guard`."""
    if text.startswith("'") and _TRIGGER.match(text[1:]) and not (
            text[1:2] in "+-" and parse_number(text[1:]) is not None):
        return text[1:]
    return text


def _decode(data: bytes) -> tuple[str | None, str]:
    if b"\x00" in data[:65536]:
        return None, "binary"
    for enc in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(enc), enc
        except UnicodeDecodeError:
            continue
    return None, "encoding"


def read_bank_csv(source: str | Path | bytes | IO[bytes], *, max_bytes: int = DEFAULT_MAX_BYTES,
                  taxonomy: Any = None, existing: Mapping[str, Any] | None = None,
                  max_rows: int = DEFAULT_MAX_ROWS) -> ImportResult:
    """Read a bank CSV; all-or-nothing. Parameters and result as
    :func:`question_bank.formats.xlsx.read_bank_xlsx` (problems use sheet ``"csv"``)."""
    src, problems = load_source(source, max_bytes)
    if src is None:
        return ImportResult(problems=tuple(problems))
    data = src.read_bytes() if isinstance(src, Path) else src
    text, why = _decode(data)
    if text is None:
        reason = ("binary data (an .xlsx file?)", "二进制数据，可能是 .xlsx 文件") if why == "binary" else (
            "neither UTF-8 nor GB18030 text", "既不是 UTF-8 也不是 GB18030 文本")
        return ImportResult(problems=(make_problem("file", "not_csv", reason=reason[0], reason_zh=reason[1]),))
    try:
        records = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        return ImportResult(problems=(make_problem("file", "not_csv", reason=str(exc), reason_zh=str(exc)),))

    def rows() -> Iterator[tuple[int, list[RawCell]]]:
        for n, rec in enumerate(records, start=1):
            yield n, [RawCell(unguard(v) if v.strip() else None) for v in rec]

    problems = []
    parser = parse_items_table(CSV_SHEET, rows(), CSV_COLUMNS, taxonomy, problems, layout="csv",
                               max_rows=max_rows)
    result = finish_import([parser] if parser is not None else [], problems, existing=existing)
    if result.ok and not result.items:
        return ImportResult(problems=(make_problem("file", "no_items"),))
    return result


def _cell_out(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, (int, float)):
        return fmt_number(v)
    return guard(str(v))


def write_bank_csv(items: Sequence[Mapping[str, Any] | Item], path: str | Path | IO[bytes], *,
                   taxonomy: Any = None) -> None:
    """Write items as one CSV table (UTF-8 with BOM, CRLF rows, items in the given order).

    ``path``: a file path or a binary file object."""
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow([c.header for c in CSV_COLUMNS])
    keys = [c.key for c in CSV_COLUMNS]
    for row in csv_rows(items, taxonomy):
        w.writerow([_cell_out(row.get(k)) for k in keys])
    data = buf.getvalue().encode("utf-8-sig")
    if hasattr(path, "write"):
        path.write(data)
    else:
        Path(path).write_bytes(data)

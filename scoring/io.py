"""Read analysis inputs (RESPONSES.csv, KEY.csv, GROUPS.csv) and write reports (json, text, xlsx).

Input files (paths or file objects, e.g. web uploads; UTF-8 with or without BOM, or GB18030 as saved
by Chinese Excel):

* ``RESPONSES.csv``: header ``candidate_id,<item id>,<item id>,...``; one row per candidate; cells
  hold the raw response (``B``, ``ACD``, ``T``/``F``/``对``/``错``, or a numeric score for marked
  items); an empty cell is an omitted response (scores 0). Blank lines are skipped; empty cells
  beyond the header's last column are ignored.
* ``KEY.csv``: header ``item_id,key,max_points`` and optionally ``n_options``; key empty for marked
  items. Every item of RESPONSES.csv needs exactly one key row and vice versa.
* ``GROUPS.csv``: header ``candidate_id,group``; every candidate of RESPONSES.csv needs a group;
  rows for candidates who are not in RESPONSES.csv (absentees on a roster) are ignored.

Every problem is collected and raised together as `ScoringInputError` with file, row (line number,
header = 1) and column. A constant item (every candidate scored the same) is not an error: a
`ScoringWarning` is emitted and the item's correlations are reported as null with a reason.
"""

from __future__ import annotations

import csv
import io as _io
import json
import math
import os
import warnings
from dataclasses import dataclass

import numpy as np

from .errors import InputProblem, ScoringInputError, ScoringWarning
from .matrix import ItemKey, build_score_matrix, parse_key
from .results import ScoreMatrix

__all__ = [
    "ScoringInputError",
    "ScoringWarning",
    "ResponsesTable",
    "read_responses",
    "read_key",
    "read_groups",
    "read_inputs",
    "write_json",
    "format_text",
    "write_text",
    "write_xlsx",
]


def _name(path) -> str:
    if hasattr(path, "read"):
        return os.path.basename(str(getattr(path, "name", "") or "<upload>"))
    return os.path.basename(os.fspath(path))


def _open_text(path) -> tuple[str, str]:
    """Return (text, display name) of a path or a binary/text file object; UTF-8 (BOM allowed) or GB18030."""
    name = _name(path)
    if hasattr(path, "read"):
        raw = path.read()
        if isinstance(raw, str):
            return raw.lstrip("\ufeff"), name
        raw = bytes(raw)
    else:
        raw = None
    try:
        if raw is None:
            with open(path, "rb") as fh:
                raw = fh.read()
    except FileNotFoundError:
        raise ScoringInputError([InputProblem("file not found", file=name)]) from None
    except IsADirectoryError:
        raise ScoringInputError([InputProblem("is a directory, not a file", file=name)]) from None
    except OSError as exc:
        raise ScoringInputError([InputProblem(f"cannot read: {exc.strerror}", file=name)]) from None
    for enc in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(enc), name
        except UnicodeDecodeError:
            continue
    raise ScoringInputError([InputProblem("not UTF-8 or GB18030 text", file=name)])


def _rows(text: str):
    """Yield (line number, cells) for non-blank CSV records."""
    reader = csv.reader(_io.StringIO(text, newline=""))
    start = 1
    for cells in reader:
        line = start
        start = reader.line_num + 1
        if not "".join(cells).strip():
            continue
        yield line, cells


def _col(name: str, index: int) -> str:
    return f"{name} (column {index + 1})"


def _header(rows_iter, name: str, required: tuple, optional: tuple = ()):
    try:
        line, head = next(rows_iter)
    except StopIteration:
        raise ScoringInputError([InputProblem("file is empty (no header row)", file=name)]) from None
    cols = [h.strip() for h in head]
    lower = [c.lower() for c in cols]
    problems = []
    index = {}
    for req in required:
        if req not in lower:
            problems.append(InputProblem(f"missing column {req!r} in the header (found: {', '.join(cols)})",
                                         file=name, row=line))
        else:
            index[req] = lower.index(req)
    for opt in optional:
        if opt in lower:
            index[opt] = lower.index(opt)
    return line, cols, index, problems


@dataclass(frozen=True)
class ResponsesTable:
    """Raw content of RESPONSES.csv.

    Attributes
    ----------
    file : str
    candidate_ids : tuple of str
    item_ids : tuple of str
    rows : list of list of str
        N rows of J raw cells.
    lines : tuple of int
        Line number of each candidate's row.
    item_columns : tuple of int
        0-based column of each item in the file.
    """

    file: str
    candidate_ids: tuple
    item_ids: tuple
    rows: list
    lines: tuple
    item_columns: tuple


def read_responses(path) -> ResponsesTable:
    """Read RESPONSES.csv (see the module docstring).

    Raises
    ------
    ScoringInputError
        Missing/empty header cells, duplicate item ids, ragged rows, empty or duplicate candidate ids,
        fewer than 2 candidates.
    """
    text, name = _open_text(path)
    it = _rows(text)
    try:
        hline, head = next(it)
    except StopIteration:
        raise ScoringInputError([InputProblem("file is empty (no header row)", file=name)]) from None
    head = [h.strip() for h in head]
    while head and head[-1] == "":
        head.pop()
    problems = []
    if not head or head[0].lower() != "candidate_id":
        problems.append(InputProblem(f"the first column must be 'candidate_id', found {head[0] if head else ''!r}",
                                     file=name, row=hline, column=_col(head[0] if head else "", 0)))
    items = head[1:]
    seen: dict[str, int] = {}
    for k, iid in enumerate(items, start=1):
        if iid == "":
            problems.append(InputProblem("empty item id in the header", file=name, row=hline, column=f"column {k + 1}"))
        elif iid in seen:
            problems.append(InputProblem(f"duplicate item id {iid!r} (also column {seen[iid] + 1})", file=name,
                                         row=hline, column=_col(iid, k)))
        else:
            seen[iid] = k
    if not items:
        problems.append(InputProblem("no item columns after candidate_id", file=name, row=hline))
    width = len(head)
    cids, rows, lines = [], [], []
    first: dict[str, int] = {}
    for line, cells in it:
        if len(cells) > width and all(c.strip() == "" for c in cells[width:]):
            cells = cells[:width]
        if len(cells) != width:
            problems.append(InputProblem(f"row has {len(cells)} cells, the header has {width}", file=name, row=line))
            continue
        cid = cells[0].strip()
        if cid == "":
            problems.append(InputProblem("empty candidate id", file=name, row=line, column=_col("candidate_id", 0)))
        elif cid in first:
            problems.append(InputProblem(f"duplicate candidate id {cid!r} (first at row {first[cid]})", file=name,
                                         row=line, column=_col("candidate_id", 0)))
        else:
            first[cid] = line
        cids.append(cid)
        rows.append(cells[1:])
        lines.append(line)
    if len(rows) < 2 and not problems:
        problems.append(InputProblem(f"at least 2 candidates are needed, found {len(rows)}", file=name))
    if problems:
        raise ScoringInputError(problems)
    return ResponsesTable(file=name, candidate_ids=tuple(cids), item_ids=tuple(items), rows=rows,
                          lines=tuple(lines), item_columns=tuple(range(1, len(items) + 1)))


def read_key(path) -> tuple[dict, dict]:
    """Read KEY.csv.

    Returns
    -------
    keys : dict item_id -> ItemKey
    lines : dict item_id -> line number in the file

    Raises
    ------
    ScoringInputError
        Missing columns, empty or duplicate item ids, invalid keys, max_points or n_options.
    """
    text, name = _open_text(path)
    it = _rows(text)
    hline, cols, idx, problems = _header(it, name, ("item_id", "key", "max_points"), ("n_options",))
    if problems:
        raise ScoringInputError(problems)
    keys: dict[str, ItemKey] = {}
    lines: dict[str, int] = {}
    width = len(cols)
    for line, cells in it:
        if len(cells) > width and all(c.strip() == "" for c in cells[width:]):
            cells = cells[:width]
        if len(cells) != width:
            problems.append(InputProblem(f"row has {len(cells)} cells, the header has {width}", file=name, row=line))
            continue
        iid = cells[idx["item_id"]].strip()
        if iid == "":
            problems.append(InputProblem("empty item id", file=name, row=line, column=_col("item_id", idx["item_id"])))
            continue
        if iid in lines:
            problems.append(InputProblem(f"duplicate key row for item {iid!r} (first at row {lines[iid]})", file=name,
                                         row=line, column=_col("item_id", idx["item_id"])))
            continue
        lines[iid] = line
        n_opt = cells[idx["n_options"]].strip() if "n_options" in idx else ""
        try:
            keys[iid] = parse_key(iid, cells[idx["key"]], cells[idx["max_points"]].strip(), n_opt or None)
        except ValueError as exc:
            msg = str(exc)
            if "max_points" in msg:
                column = "max_points"
            elif "n_options" in msg and "n_options" in idx:
                column = "n_options"
            else:
                column = "key"
            problems.append(InputProblem(msg, file=name, row=line, column=_col(column, idx[column])))
    if problems:
        raise ScoringInputError(problems)
    if not keys:
        raise ScoringInputError([InputProblem("no key rows", file=name)])
    return keys, lines


def read_groups(path) -> tuple[dict, dict]:
    """Read GROUPS.csv.

    Returns
    -------
    groups : dict candidate_id -> group label
    lines : dict candidate_id -> line number

    Raises
    ------
    ScoringInputError
        Missing columns, empty or duplicate candidate ids, empty group labels.
    """
    text, name = _open_text(path)
    it = _rows(text)
    hline, cols, idx, problems = _header(it, name, ("candidate_id", "group"))
    if problems:
        raise ScoringInputError(problems)
    groups: dict[str, str] = {}
    lines: dict[str, int] = {}
    for line, cells in it:
        if max(idx.values()) >= len(cells):
            problems.append(InputProblem(f"row has {len(cells)} cells, expected {len(cols)}", file=name, row=line))
            continue
        cid = cells[idx["candidate_id"]].strip()
        grp = cells[idx["group"]].strip()
        if cid == "":
            problems.append(InputProblem("empty candidate id", file=name, row=line,
                                         column=_col("candidate_id", idx["candidate_id"])))
            continue
        if cid in lines:
            problems.append(InputProblem(f"duplicate candidate id {cid!r} (first at row {lines[cid]})", file=name,
                                         row=line, column=_col("candidate_id", idx["candidate_id"])))
            continue
        lines[cid] = line
        if grp == "":
            problems.append(InputProblem(f"empty group for candidate {cid!r}", file=name, row=line,
                                         column=_col("group", idx["group"])))
            continue
        groups[cid] = grp
    if problems:
        raise ScoringInputError(problems)
    return groups, lines


def read_inputs(responses_path, key_path, groups_path=None, *, multiple_policy: str = "exact"):
    """Read and cross-check the input files and score the responses.

    Returns
    -------
    matrix : ScoreMatrix
    groups : ndarray of str (N,) or None

    Raises
    ------
    ScoringInputError
        Every problem of every file, located: unknown item ids (in RESPONSES.csv but not KEY.csv),
        keys for items not in RESPONSES.csv, responses that are not valid for their item (e.g. a
        letter outside the item's options), candidates without a group, and the file-level errors
        of `read_responses`, `read_key` and `read_groups`.

    Warns
    -----
    ScoringWarning
        For each constant item (every candidate has the same score).
    """
    problems: list[InputProblem] = []
    table = keys = key_lines = groups = None
    for reader, arg in ((read_responses, responses_path), (read_key, key_path)):
        try:
            res = reader(arg)
        except ScoringInputError as exc:
            problems.extend(exc.problems)
            continue
        if reader is read_responses:
            table = res
        else:
            keys, key_lines = res
    if groups_path is not None:
        try:
            groups, _ = read_groups(groups_path)
        except ScoringInputError as exc:
            problems.extend(exc.problems)
    if table is not None and keys is not None:
        key_name = _name(key_path)
        in_resp = set(table.item_ids)
        for k, iid in enumerate(table.item_ids):
            if iid not in keys:
                problems.append(InputProblem(f"unknown item id {iid!r}: not in {key_name}", file=table.file, row=1,
                                             column=_col(iid, k + 1)))
        for iid, line in key_lines.items():
            if iid not in in_resp:
                problems.append(InputProblem(f"key for item {iid!r} which is not a column of {table.file}",
                                             file=key_name, row=line, column="item_id"))
    if table is not None and groups is not None:
        gname = _name(groups_path)
        for cid, line in zip(table.candidate_ids, table.lines):
            if cid not in groups:
                problems.append(InputProblem(f"candidate {cid!r} has no group in {gname}", file=table.file, row=line,
                                             column=_col("candidate_id", 0)))
    if problems:
        raise ScoringInputError(problems)
    try:
        matrix = build_score_matrix(table.candidate_ids, table.item_ids, table.rows, keys,
                                    multiple_policy=multiple_policy)
    except ScoringInputError as exc:
        col_of = {iid: k + 1 for k, iid in enumerate(table.item_ids)}
        located = []
        for p in exc.problems:
            row = table.lines[p.row] if p.row is not None and 0 <= p.row < len(table.lines) else None
            column = _col(p.column, col_of[p.column]) if p.column in col_of else p.column
            located.append(InputProblem(p.message, file=table.file, row=row, column=column))
        raise ScoringInputError(located) from None
    sd = matrix.scores.std(axis=0)
    for j in np.flatnonzero(sd == 0):
        warnings.warn(
            f"{table.file}, column {_col(matrix.item_ids[j], j + 1)}: every candidate has the same score "
            f"({matrix.scores[0, j]:g}); its correlations and discrimination are undefined (null)",
            ScoringWarning, stacklevel=2,
        )
    g = None if groups is None else np.array([groups[c] for c in matrix.candidate_ids], dtype=object).astype(str)
    return matrix, g


# ----------------------------------------------------------------------------- writers


def write_json(report: dict, path_or_file) -> None:
    """Write the report as UTF-8 JSON (indent 2, no NaN: undefined values are null)."""
    text = json.dumps(report, ensure_ascii=False, indent=2, allow_nan=False)
    if hasattr(path_or_file, "write"):
        path_or_file.write(text + "\n")
    else:
        with open(path_or_file, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")


def _fmt(x, spec=".2f", width=0):
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        s = "-"
    elif isinstance(x, (int, float)):
        s = format(x, spec)
    else:
        s = str(x)
    return s.rjust(width) if width else s


def format_text(report: dict) -> str:
    """A readable plain-text report: test summary, item table, flags, DIF and copying pairs."""
    t = report["test"]
    pm = t["pass_mark"]
    dc = pm["decision_consistency"]
    out = []
    out.append("Item analysis report / 试题分析报告")
    out.append("=" * 72)
    out.append(f"Candidates {t['n_candidates']}   items {t['n_items']}   max total {_fmt(t['max_total'], 'g')}")
    out.append(f"Mean {_fmt(t['mean'])}   SD {_fmt(t['sd'])}   median {_fmt(t['median'], 'g')}   "
               f"min {_fmt(t['min'], 'g')}   max {_fmt(t['max'], 'g')}")
    out.append(f"Skewness {_fmt(t['skewness'], '.3f')}   kurtosis {_fmt(t['kurtosis'], '.3f')}   "
               f"mean p {_fmt(t['mean_p'], '.3f')}")
    out.append(f"Alpha (KR-20) {_fmt(t['alpha'], '.3f')}   SEM {_fmt(t['sem'])}")
    out.append(f"Pass mark {_fmt(pm['cut'], 'g')} ({_fmt(pm['fraction'] * 100, '.0f')}%): {pm['pass_count']} pass "
               f"({_fmt(pm['pass_rate'] * 100, '.1f')}%)   CSEM at cut {_fmt(pm['csem_lord'])} (Lord), "
               f"{_fmt(pm['csem_keats'])} (Keats)")
    out.append(f"Decision consistency p0 {_fmt(dc['p0'], '.3f')}, kappa {_fmt(dc['kappa'], '.3f')} (normal approx.)")
    for note in t.get("notes", []):
        out.append(f"  note: {note}")
    out.append("")
    head = (f"{'item':<12}{'kind':<11}{'key':<6}{'p':>6}{'sd':>6}{'r_pbis':>8}{'r_rest':>8}{'a-del':>7}"
            f"{'D27':>7}{'DE':>7}  flags")
    out.append(head)
    out.append("-" * len(head))
    for it in report["items"]:
        codes = ",".join(f["code"] for f in it["flags"])
        out.append(f"{str(it['item_id'])[:11]:<12}{it['kind']:<11}{str(it['key'] or '')[:5]:<6}"
                   f"{_fmt(it['p'], width=6)}{_fmt(it['sd'], width=6)}{_fmt(it['r_pbis'], width=8)}"
                   f"{_fmt(it['r_rest'], width=8)}{_fmt(it['alpha_if_deleted'], '.3f', 7)}"
                   f"{_fmt(it['d_ul27'], width=7)}{_fmt(it['disc_efficiency'], width=7)}  {codes}")
    flagged = [it for it in report["items"] if it["flags"]]
    if flagged:
        out.append("")
        out.append("Flags / 预警")
        out.append("-" * 72)
        for it in flagged:
            for f in it["flags"]:
                out.append(f"{it['item_id']} [{f['code']}] {f['reason']['en']}")
                out.append(f"{' ' * len(str(it['item_id']))} {f['reason']['zh']}")
    opt_items = [it for it in report["items"] if it["options"]]
    if opt_items:
        out.append("")
        out.append("Options: prop (upper / lower) r_rest; * = key")
        out.append("-" * 72)
        for it in opt_items:
            parts = []
            for lab, o in it["options"].items():
                star = "*" if o["is_key"] else ""
                parts.append(f"{lab}{star} {_fmt(o['prop'])} ({_fmt(o['prop_upper'])}/{_fmt(o['prop_lower'])}) "
                             f"{_fmt(o['r_rest'])}")
            if it["omit"] and it["omit"]["count"]:
                parts.append(f"omit {_fmt(it['omit']['prop'])}")
            out.append(f"{it['item_id']}: " + "; ".join(parts))
    if t.get("irt"):
        irt = t["irt"]
        out.append("")
        status = irt["error"] if irt.get("error") else \
            f"converged {irt.get('converged')}, {irt.get('n_iter')} iterations"
        out.append(f"IRT ({irt.get('model')}): {status}")
    if t.get("copying_screen"):
        cs = t["copying_screen"]
        out.append("")
        out.append(f"Copying screen: {cs['n_pairs']} pairs, {cs['n_flagged']} flagged "
                   f"({cs['correction']}, alpha {cs['alpha']})")
        for c in report["copying"]:
            grp = f" [{c['group']}]" if c.get("group") else ""
            out.append(f"  {c['candidate_a']} - {c['candidate_b']}{grp}: identical {c['identical']}, identical wrong "
                       f"{c['identical_wrong']}, p = {c['p_value']:.2e}, adjusted {c['p_adjusted']:.2e}")
    return "\n".join(out) + "\n"


def write_text(report: dict, path_or_file) -> None:
    """Write `format_text(report)` to a path or an open text file."""
    text = format_text(report)
    if hasattr(path_or_file, "write"):
        path_or_file.write(text)
    else:
        with open(path_or_file, "w", encoding="utf-8") as fh:
            fh.write(text)


def _cell(x):
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, (list, dict)):
        return json.dumps(x, ensure_ascii=False)
    return x


def write_xlsx(report: dict, path) -> None:
    """Write the report as an .xlsx workbook (openpyxl write-only mode).

    Sheets: Test, Items, Options, Flags, Copying, Conventions.
    """
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Test")
    ws.append(["statistic", "value"])
    t = report["test"]
    for k, v in t.items():
        if k in ("pass_mark", "histogram", "irt", "dif", "copying_screen", "notes"):
            continue
        ws.append([k, _cell(v)])
    for k, v in t["pass_mark"].items():
        if isinstance(v, dict):
            for k2, v2 in v.items():
                ws.append([f"pass_mark.{k}.{k2}", _cell(v2)])
        else:
            ws.append([f"pass_mark.{k}", _cell(v)])
    for note in t.get("notes", []):
        ws.append(["note", note])
    cols = ["item_id", "kind", "key", "max_points", "n", "n_omitted", "mean", "p", "p_ci_low", "p_ci_high", "sd",
            "r_pbis", "r_rest", "r_rest_ci_low", "r_rest_ci_high", "alpha_if_deleted", "d_ul27", "p_upper",
            "p_lower", "disc_efficiency", "irt_a", "irt_b", "irt_se_a", "irt_se_b", "irt_infit", "irt_outfit",
            "dif_group", "dif_mh_d_dif", "dif_se", "dif_ets_class", "flags"]
    ws = wb.create_sheet("Items")
    ws.append(cols)
    for it in report["items"]:
        irt = it["irt"] or {}
        dif = it["dif"] or {}
        row = [it["item_id"], it["kind"], it["key"], it["max_points"], it["n"], it["n_omitted"], it["mean"], it["p"],
               it["p_ci"][0], it["p_ci"][1], it["sd"], it["r_pbis"], it["r_rest"], it["r_rest_ci"][0],
               it["r_rest_ci"][1], it["alpha_if_deleted"], it["d_ul27"], it["p_upper"], it["p_lower"],
               it["disc_efficiency"], irt.get("a"), irt.get("b"), irt.get("se_a"), irt.get("se_b"), irt.get("infit"),
               irt.get("outfit"), dif.get("group"), dif.get("mh_d_dif"), dif.get("se"), dif.get("ets_class"),
               ", ".join(f["code"] for f in it["flags"])]
        ws.append([_cell(v) for v in row])
    ws = wb.create_sheet("Options")
    ws.append(["item_id", "option", "is_key", "count", "prop", "prop_upper", "prop_lower", "mean_total", "r_rest"])
    for it in report["items"]:
        for lab, o in it["options"].items():
            ws.append([_cell(v) for v in (it["item_id"], lab, o["is_key"], o["count"], o["prop"], o["prop_upper"],
                                          o["prop_lower"], o["mean_total"], o["r_rest"])])
        if it["omit"]:
            o = it["omit"]
            ws.append([_cell(v) for v in (it["item_id"], "(omit)", False, o["count"], o["prop"], o["prop_upper"],
                                          o["prop_lower"], o["mean_total"], o["r_rest"])])
    ws = wb.create_sheet("Flags")
    ws.append(["item_id", "code", "reason_en", "reason_zh", "evidence"])
    for it in report["items"]:
        for f in it["flags"]:
            ws.append([it["item_id"], f["code"], f["reason"]["en"], f["reason"]["zh"], _cell(f["evidence"])])
    ws = wb.create_sheet("Copying")
    ccols = ["candidate_a", "candidate_b", "group", "identical", "identical_wrong", "n_wrong_a", "n_wrong_b",
             "k_a_to_b", "k_b_to_a", "p_value", "p_adjusted"]
    ws.append(ccols)
    for c in report["copying"]:
        ws.append([_cell(c.get(k)) for k in ccols])
    ws = wb.create_sheet("Conventions")
    ws.append(["convention", "value"])
    for k, v in report["conventions"].items():
        ws.append([k, _cell(v)])
    wb.save(path)

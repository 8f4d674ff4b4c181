"""``examsys assemble``: assemble parallel forms from a bank file (no database) or from the database.

    examsys assemble --bank bank.xlsx --blueprint bp.yaml --forms 2 --seed 7 -o paper.json
    examsys assemble --blueprint bp.yaml --occupation 6-18-01-01 --grade 4 --station GD-001 -o paper.json
    examsys assemble --blueprint-id 3 --part practical --dry-run

With ``--bank`` it works on files alone: the bank spreadsheet (.xlsx or .csv, the import format) and the
blueprint (YAML/JSON); the knowledge points' areas come from ``--taxonomy`` (the 细目表 YAML) or, without
it, from the blueprint's area codes (the longest area code that prefixes the kp code) and the bank's
importance column. Without ``--bank`` it uses the database (approved current versions, exposure control)
and stores the frozen paper unless ``--dry-run``.

paper.json is the assembler's ``examsys.paper/1`` document (forms with item ids, versions, sections,
positions and points; the constraint report under ``check``; seed, blueprint hash, solver versions) plus
a ``source`` block. Status lines go to stderr. Exit status: 0 a checked paper, 1 the blueprint cannot be
met (the explanation on stderr), 2 bad input (bank file errors with sheet/row/column, blueprint errors).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

EXIT_INFEASIBLE = 1
EXIT_BAD_INPUT = 2


def _status(msg: str) -> None:
    click.echo(msg, err=True)


def _fail(lines: list[str], code: int) -> None:
    for line in lines:
        click.echo(line, err=True)
    sys.exit(code)


def _problem_line(p) -> str:
    where = []
    if getattr(p, "sheet", None):
        where.append(f"sheet {p.sheet}")
    if getattr(p, "row", None):
        where.append(f"row {p.row}")
    if getattr(p, "column", None):
        where.append(f"column {p.column}")
    loc = ", ".join(where)
    field = f" [{p.field}]" if getattr(p, "field", "") else ""
    return f"  {loc}{field}: {p.message_zh} / {p.message_en}" if loc else f"  {p.field}: {p.message_zh} / {p.message_en}"


def load_blueprint_file(path: Path) -> dict:
    """The blueprint dict of a YAML/JSON file; exits 2 with the problem on a syntax error."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        _fail([f"error: cannot read the blueprint {path}: {e}"], EXIT_BAD_INPUT)
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as e:
        _fail([f"error: the blueprint {path} is not valid YAML/JSON:", f"  {e}"], EXIT_BAD_INPUT)
    if not isinstance(data, dict):
        _fail([f"error: the blueprint {path} must be a mapping (YAML/JSON object)"], EXIT_BAD_INPUT)
    return data


def _check_blueprint(data: dict, kp_index, path) -> Any:
    from question_bank.blueprint import validate_blueprint, parse_blueprint

    problems = validate_blueprint(data, kp_index=kp_index or None)
    errors = [p for p in problems if p.severity == "error"]
    for w in (p for p in problems if p.severity != "error"):
        _status(f"warning: {w.field}: {w.message_zh} / {w.message_en}")
    if errors:
        _fail([f"error: the blueprint {path} has {len(errors)} problem(s):"]
              + [f"  {p.field}: {p.message_zh} / {p.message_en}" for p in errors], EXIT_BAD_INPUT)
    return parse_blueprint(data, kp_index=kp_index or None)


# ----------------------------------------------------------------------------------------------
# files
# ----------------------------------------------------------------------------------------------
def read_bank(path: Path) -> tuple[list[dict], list[tuple[str, int]]]:
    """Items and their (sheet, row) of a bank file; exits 2 with every located problem."""
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        from question_bank.formats.xlsx import read_bank_xlsx as reader
    elif suffix == ".csv":
        from question_bank.formats.csv_format import read_bank_csv as reader
    else:
        _fail([f"error: {path}: the bank must be an .xlsx or .csv file (the bank spreadsheet format)"], EXIT_BAD_INPUT)
    if not path.is_file():
        _fail([f"error: {path}: no such file"], EXIT_BAD_INPUT)
    result = reader(path)
    if result.problems:
        _fail([f"error: the bank file {path} has {len(result.problems)} problem(s); nothing was assembled:"]
              + [_problem_line(p) for p in result.problems], EXIT_BAD_INPUT)
    return [dict(d) for d in result.items], list(result.locations)


def importance_column(path: Path, locations: list[tuple[str, int]]) -> list[str | None]:
    """The importance (重要程度) cell of each item's row, read from the file (the importer checks the
    column against a taxonomy but does not return it). None where empty or absent."""
    from question_bank.formats.common import CSV_COLUMNS, ITEM_COLUMNS, PRACTICAL_COLUMNS, RawCell, parse_header, sheet_kind

    cells: dict[tuple[str, int], str] = {}
    if path.suffix.lower() == ".xlsx":
        from openpyxl import load_workbook

        wb = load_workbook(path, read_only=True, data_only=False)
        try:
            for ws in wb.worksheets:
                kind = sheet_kind(ws.title)
                if kind is None:
                    continue
                columns = ITEM_COLUMNS if kind == "items" else PRACTICAL_COLUMNS
                col = None
                for r, row in enumerate(ws.iter_rows(values_only=True), start=1):
                    if r == 1:
                        colmap, _ = parse_header(ws.title, [RawCell(v) for v in row], columns)
                        col = colmap.get("importance")
                        if col is None:
                            break
                        continue
                    if col is not None and col < len(row) and row[col] not in (None, ""):
                        cells[(ws.title, r)] = str(row[col]).strip()
        finally:
            wb.close()
    else:
        import csv
        import io

        from question_bank.formats.csv_format import unguard

        raw = path.read_bytes().decode("utf-8-sig", errors="replace")
        rows = list(csv.reader(io.StringIO(raw)))
        if rows:
            colmap, _ = parse_header("csv", [RawCell(v) for v in rows[0]], CSV_COLUMNS)
            col = colmap.get("importance")
            if col is not None:
                for r, row in enumerate(rows[1:], start=2):
                    if col < len(row) and row[col].strip():
                        cells[(None, r)] = unguard(row[col]).strip()
    out = []
    for sheet, row in locations:
        v = cells.get((sheet, row)) or cells.get((None, row))
        out.append(v.upper()[:1] if v and v.upper()[:1] in "XYZ" else _importance_word(v))
    return out


def _importance_word(v: str | None) -> str | None:
    if not v:
        return None
    from question_bank.items import Importance

    try:
        return Importance.parse(v).value
    except ValueError:
        return None


def kp_index_from_bank(items: list[dict], importances: list[str | None], blueprint: dict, grade: int) -> tuple[dict, int]:
    """kp code → KpInfo(area, importance, part) from the bank itself: the area is the longest of the
    blueprint's area codes that prefixes the kp code (``C`` for ``C-B-007``, ``P-A`` for ``P-A-A-001``);
    the importance is the row's 重要程度 (Y when empty). Returns the index and the number of points
    without an importance."""
    from question_bank.blueprint import KpInfo

    theory_areas = list(((blueprint.get("theory") or {}).get("areas") or {}).get("weights") or {})
    practical_areas = [m.get("area") for m in ((blueprint.get("practical") or {}).get("modules") or [])
                       if isinstance(m, dict)]

    def area_of(kp: str, areas: list) -> str | None:
        best = None
        for a in areas:
            a = str(a)
            if (kp == a or kp.startswith(a + "-")) and (best is None or len(a) > len(best)):
                best = a
        return best

    index: dict[str, KpInfo] = {}
    unknown = set()
    for d, imp in zip(items, importances):
        kp = str(d.get("kp") or "")
        if not kp or grade not in (d.get("grades") or []):
            continue
        part = "practical" if d.get("type") == "practical_task" else "theory"
        area = area_of(kp, practical_areas if part == "practical" else theory_areas)
        if area is None:
            continue
        old = index.get(kp)
        if imp is None:
            unknown.add(kp)
        importance = imp or (old.importance if old else "Y")
        if old is None or (imp is not None and old.importance != imp):
            index[kp] = KpInfo(area, importance, part)
    return index, len(unknown - {k for k, v in index.items() if v.importance in "XZ"})


def run_files(bank: Path, blueprint_path: Path, taxonomy_path: Path | None, forms: int | None, seed: int,
              time_limit: float) -> tuple[dict, bool, list[str]]:
    from question_bank.blueprint import kp_index_from_taxonomy

    from ..services import papers_assembly

    data = load_blueprint_file(blueprint_path)
    grade = data.get("grade")
    if isinstance(grade, bool) or not isinstance(grade, int):
        _fail([f"error: the blueprint {blueprint_path}: grade: must be a whole number 1..5, got {grade!r}"],
              EXIT_BAD_INPUT)
    _status(f"reading the bank {bank} …")
    items, locations = read_bank(bank)
    _status(f"  {len(items)} items")
    missing_ids = 0
    for k, (d, (sheet, row)) in enumerate(zip(items, locations)):
        if d.get("id") in (None, ""):
            d["id"] = f"{sheet}:{row}"
            missing_ids += 1
        if d.get("version") in (None, ""):
            d["version"] = 1
    if missing_ids:
        _status(f"warning: {missing_ids} item(s) have no item id; they are named sheet:row (version 1) in paper.json")
    if taxonomy_path is not None:
        import yaml

        try:
            tax = yaml.safe_load(taxonomy_path.read_text(encoding="utf-8"))
            kp_index = kp_index_from_taxonomy(tax, grade)
        except (OSError, ValueError, yaml.YAMLError, AttributeError) as e:
            _fail([f"error: the taxonomy {taxonomy_path}: {e}"], EXIT_BAD_INPUT)
        source = "taxonomy"
    else:
        kp_index, unknown = kp_index_from_bank(items, importance_column(bank, locations), data, grade)
        source = "bank"
        if unknown:
            _status(f"warning: {unknown} knowledge point(s) have no importance (重要程度) in the bank; "
                    "treated as Y (not required to be covered). Give --taxonomy to use the 细目表.")
    bp = _check_blueprint(data, kp_index if taxonomy_path is not None else None, blueprint_path)
    k = forms if forms is not None else bp.forms.count
    _status(f"assembling {k} form(s), seed {seed}, time limit {time_limit:g} s …")
    occupation = str(data["occupation"]) if data.get("occupation") else None
    outcome = papers_assembly.run(items, data, kp_index, grade, forms=k, seed=seed, time_limit=time_limit,
                                  occupation=occupation)
    doc = dict(outcome.paper or {"schema": "examsys.paper/1", "status": outcome.status, "ok": False,
                                 "forms": [], "check": None, "findings": outcome.findings})
    doc["findings"] = outcome.findings
    doc["source"] = {"bank": str(bank), "blueprint": str(blueprint_path), "taxonomy": str(taxonomy_path) if taxonomy_path else None,
                     "kp_index": source, "items": len(items), "eligible": outcome.eligible, "excluded": outcome.excluded}
    return doc, outcome.ok, _explain_lines(outcome)


def _explain_lines(outcome) -> list[str]:
    if outcome.ok:
        return []
    lines = ["the blueprint cannot be met / 无法按组卷方案组卷:"]
    for f in outcome.findings:
        lines.append(f"  - {f.get('message_zh', '')}")
        lines.append(f"    {f.get('message_en', '')}")
    return lines


# ----------------------------------------------------------------------------------------------
# database
# ----------------------------------------------------------------------------------------------
def run_database(blueprint_path: Path | None, blueprint_id: int | None, occupation: str | None, grade: int | None,
                 station: str | None, part: str | None, forms: int | None, seed: int, time_limit: float,
                 exclude_recent: int | None, max_exposure: float | None, dry_run: bool) -> tuple[dict, bool, list[str]]:
    from sqlalchemy import select

    from ..extensions import db
    from ..models import Station
    from ..services import papers as papers_service
    from ..services import taxonomy as taxonomy_service

    row = None
    if blueprint_id is not None:
        row = papers_service.get_blueprint(blueprint_id)
        if row is None:
            _fail([f"error: --blueprint-id {blueprint_id}: no such blueprint in the database"], EXIT_BAD_INPUT)
        occ, g, spec = papers_service.occupation_of(row), row.grade, row.spec
    else:
        data = load_blueprint_file(blueprint_path)
        code = occupation or data.get("occupation")
        occ = taxonomy_service.get_occupation_by_code(str(code or ""))
        if occ is None:
            _fail([f"error: --occupation: unknown occupation {code!r} (give --occupation or put occupation: in the blueprint)"],
                  EXIT_BAD_INPUT)
        g = grade if grade is not None else data.get("grade")
        try:
            occ, g = papers_service.occupation_and_grade(occ.id, g)
            parsed, msgs = papers_service.validate_spec(occ, g, data)
        except papers_service.PaperServiceError as e:
            _fail(["error: " + m.field + ": " + m.message_zh + " / " + m.message_en for m in e.messages], EXIT_BAD_INPUT)
        errors = [m for m in msgs if m.severity == "error"]
        if errors:
            _fail([f"error: the blueprint {blueprint_path} has {len(errors)} problem(s):"]
                  + [f"  {m.field}: {m.message_zh} / {m.message_en}" for m in errors], EXIT_BAD_INPUT)
        spec = parsed.to_dict()
    parts = [p for p in ("theory", "practical") if spec.get(p)]
    part = part or parts[0]
    station_id = None
    if station:
        st = db.session.execute(select(Station).where(Station.code == station)).scalar_one_or_none()
        if st is None:
            _fail([f"error: --station: unknown station code {station!r}"], EXIT_BAD_INPUT)
        station_id = st.id
    k = forms if forms is not None else int((spec.get("forms") or {}).get("count") or 1)
    req = papers_service.AssemblyRequest(blueprint_id=row.id if row else 0, part=part, forms=k, seed=seed,
                                         time_limit=time_limit, station_id=station_id,
                                         exclude_recent=exclude_recent, max_exposure=max_exposure)
    msgs = [m for m in papers_service.check_request(req, row) if m.field != "blueprint_id"] if row else \
        [m for m in papers_service.check_request(req, _FakeRow(spec)) if m.field != "blueprint_id"]
    if msgs:
        _fail(["error: " + m.field + ": " + m.message_zh + " / " + m.message_en for m in msgs], EXIT_BAD_INPUT)
    _status(f"assembling {occ.code} grade {g} {part}: {k} form(s), seed {seed}, time limit {time_limit:g} s …")
    try:
        paper, outcome = papers_service.assemble_spec(occ, g, spec, req, None, row=row, store=not dry_run)
    except papers_service.Infeasible as e:
        lines = ["the blueprint cannot be met / 无法按组卷方案组卷 (nothing was stored):"]
        for f in e.findings:
            lines += [f"  - {f.get('message_zh', '')}", f"    {f.get('message_en', '')}"]
        return {"schema": "examsys.paper/1", "ok": False, "status": "infeasible", "forms": [], "check": None,
                "findings": e.findings}, False, lines
    except papers_service.PaperServiceError as e:
        _fail(["error: " + m.field + ": " + m.message_zh + " / " + m.message_en for m in e.messages], EXIT_BAD_INPUT)
    doc = dict(outcome.paper)
    doc["source"] = {"database": True, "occupation": occ.code, "grade": g, "part": part, "station": station,
                     "blueprint_id": row.id if row else None, "eligible": outcome.eligible, "excluded": outcome.excluded,
                     "paper_id": paper.id if paper is not None else None, "stored": paper is not None}
    return doc, True, []


class _FakeRow:
    def __init__(self, spec):
        self.spec = spec


# ----------------------------------------------------------------------------------------------
# the command
# ----------------------------------------------------------------------------------------------
def register(cli) -> None:
    @cli.command("assemble")
    @click.option("--bank", type=click.Path(path_type=Path), help="Bank spreadsheet (.xlsx or .csv); without it the database is used.")
    @click.option("--blueprint", "blueprint_path", type=click.Path(path_type=Path), help="Blueprint file (YAML or JSON).")
    @click.option("--blueprint-id", type=int, help="A blueprint stored in the database (database mode).")
    @click.option("--taxonomy", type=click.Path(path_type=Path), help="Taxonomy (细目表) YAML for the knowledge points (file mode).")
    @click.option("--forms", type=click.IntRange(1, 26), help="Number of parallel forms K (default: the blueprint's).")
    @click.option("--seed", type=click.IntRange(0, 2 ** 31 - 1), default=0, show_default=True, help="Random seed: same seed, same paper.")
    @click.option("--time-limit", type=click.FloatRange(0.1, 3600), default=60.0, show_default=True, help="Solver time limit in seconds.")
    @click.option("--occupation", help="Occupation code (database mode; default: the blueprint's).")
    @click.option("--grade", type=click.IntRange(1, 5), help="Grade 5..1 (database mode; default: the blueprint's).")
    @click.option("--station", help="Station code: exposure control and ownership of the stored paper (database mode).")
    @click.option("--part", type=click.Choice(["theory", "practical"]), help="Part to assemble in database mode (default: the first).")
    @click.option("--exclude-recent", type=click.IntRange(0, 1000), help="Exclude items of the station's last N papers (database mode).")
    @click.option("--max-exposure", type=click.FloatRange(0, 1), help="Exclude items above this exposure rate (database mode).")
    @click.option("--dry-run", is_flag=True, help="Database mode: assemble but store nothing.")
    @click.option("-o", "--output", type=click.Path(path_type=Path), help="Write paper.json here (default: standard output).")
    def assemble_command(bank, blueprint_path, blueprint_id, taxonomy, forms, seed, time_limit, occupation, grade, station,
                         part, exclude_recent, max_exposure, dry_run, output):
        """Assemble parallel forms to a blueprint; writes paper.json (see DESIGN.md)."""
        if bank is not None:
            if blueprint_path is None:
                _fail(["error: --blueprint FILE is required with --bank"], EXIT_BAD_INPUT)
            if not blueprint_path.is_file():
                _fail([f"error: {blueprint_path}: no such file"], EXIT_BAD_INPUT)
            doc, ok, lines = run_files(bank, blueprint_path, taxonomy, forms, seed, time_limit)
        else:
            if blueprint_path is None and blueprint_id is None:
                _fail(["error: give --bank FILE --blueprint FILE (files), or --blueprint FILE / --blueprint-id N (database)"],
                      EXIT_BAD_INPUT)
            if blueprint_path is not None and not blueprint_path.is_file():
                _fail([f"error: {blueprint_path}: no such file"], EXIT_BAD_INPUT)
            doc, ok, lines = run_database(blueprint_path, blueprint_id, occupation, grade, station, part, forms, seed,
                                          time_limit, exclude_recent, max_exposure, dry_run)
        text = json.dumps(doc, ensure_ascii=False, indent=2, allow_nan=False)
        if output is not None:
            output.write_text(text + "\n", encoding="utf-8")
        elif ok:
            click.echo(text)
        if not ok:
            _fail(lines, EXIT_INFEASIBLE)
        check = doc.get("check") or {}
        _status(f"done: {doc.get('status')}, {len(doc.get('forms') or [])} form(s), "
                f"{check.get('n_checks', 0)} checks, {check.get('n_violations', 0)} failed"
                + (f"; paper id {doc['source'].get('paper_id')}" if doc.get("source", {}).get("paper_id") else "")
                + (f"; written to {output}" if output else ""))

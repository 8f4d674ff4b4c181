"""Import and export of the bank as .xlsx / .csv (DESIGN.md "Bank spreadsheet"), all-or-nothing.

:func:`import_bank` parses the file with :mod:`question_bank.formats` (every problem located by sheet, row,
column and field), then stores everything in ONE transaction: rows without an item id become new items,
rows with an id become a new version of that item when their content differs (unchanged rows are left
alone, so exporting and importing again changes nothing). Any error — in the file or while storing —
rolls everything back. Near-duplicates (same stem and options after normalisation) are reported and
block the import unless the user confirms them.

The ``status`` column is honoured for new items only (and only a reviewer, an admin or the system may
import items as approved); the status of existing items is changed through review, never by a file.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from sqlalchemy import select

from question_bank.formats.csv_format import read_bank_csv, write_bank_csv
from question_bank.formats.gift import read_gift, write_gift
from question_bank.formats.interchange import CannotCarryError, categories_in
from question_bank.formats.moodle_xml import read_moodle_xml, write_moodle_xml
from question_bank.formats.qti import export_qti_package, read_qti_package
from question_bank.formats.template import write_template
from question_bank.formats.xlsx import read_bank_xlsx, write_bank_xlsx
from question_bank.messages import Problem
from question_bank.taxonomy import Taxonomy

from ..extensions import db
from ..models import Item, Occupation
from . import audit
from . import items as item_service
from . import taxonomy as taxonomy_service

FORMATS = ("xlsx", "csv", "zip", "xml", "gift")  # .zip = QTI 2.1 content package, .xml = Moodle XML
SPREADSHEETS = ("xlsx", "csv")
NO_IMAGES = ("gift",)  # formats that cannot carry images: an updated item keeps the images it has
FORMAT_NAMES = {"xlsx": "Excel (.xlsx)", "csv": "CSV", "zip": "QTI 2.1 (.zip)", "xml": "Moodle XML", "gift": "GIFT"}


@dataclass
class ImportOutcome:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _format_of(filename: str) -> str | None:
    suffix = Path(filename or "").suffix.lower().lstrip(".")
    if suffix == "txt":
        return "gift"
    return suffix if suffix in FORMATS else None


def _problem(field_: str, code: str, zh: str, en: str, **loc) -> Problem:
    return Problem(field=field_, code=code, message_zh=zh, message_en=en, **loc)


def _taxonomies() -> dict[str, Taxonomy]:
    return {occ.code: Taxonomy.from_dict(taxonomy_service.taxonomy_dict(occ), validate=False)
            for occ in taxonomy_service.list_occupations()}


def _existing_fingerprints() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for item_id, fp in db.session.execute(select(Item.id, Item.fingerprint).where(Item.fingerprint != "")):
        out.setdefault(fp, []).append(str(item_id))
    return out


def parse_bank_file(data: bytes, filename: str, *, max_bytes: int, category_map: dict | None = None,
                    defaults: dict | None = None):
    """Parse an import file by its extension: .xlsx/.csv (the examsys sheet), .zip (QTI 2.1), .xml (Moodle
    XML), .gift/.txt (GIFT). ``category_map`` (Moodle/GIFT category path → kp code) and ``defaults``
    (occupation, grades, kp … for items whose file carries no examsys metadata) apply to the
    interchange formats."""
    fmt = _format_of(filename)
    if fmt is None:
        return None, [_problem("file", "unsupported_format",
                               f"不支持的文件类型“{filename}”，请上传 .xlsx、.csv、QTI .zip、Moodle .xml 或 .gift",
                               f"unsupported file type {filename!r}; upload .xlsx, .csv, a QTI .zip, Moodle .xml or "
                               f".gift", sheet=None)]
    common = dict(max_bytes=max_bytes, taxonomy=_taxonomies(), existing=_existing_fingerprints())
    if fmt in SPREADSHEETS:
        result = (read_bank_xlsx if fmt == "xlsx" else read_bank_csv)(data, **common)
    elif fmt == "zip":
        result = read_qti_package(data, defaults=defaults or None, **common)
    else:
        reader = read_moodle_xml if fmt == "xml" else read_gift
        result = reader(data, category_map=category_map or None, defaults=defaults or None, name=filename, **common)
    return result, list(result.problems)


def categories(data: bytes, filename: str):
    """Categories of a Moodle XML / GIFT file for the confirm step of the category → kp mapping."""
    return categories_in(data, name=filename)


def _store_media(result, actor, out: "ImportOutcome") -> dict[str, str]:
    """Store the images an interchange file carries; returns name → sha256 (problems added to ``out``)."""
    from . import media as media_service
    names: dict[str, str] = {}
    for name, blob in (getattr(result, "media", None) or {}).items():
        try:
            names[name] = media_service.store(blob, name, actor, commit=False).sha256
        except media_service.MediaError as e:
            out.problems.append(_problem("images", "bad_image", f"图片“{name}”无法使用：{e}",
                                         f"image {name!r} cannot be used: {e}", sheet=name))
    return names


def import_bank(data: bytes, filename: str, actor, *, max_bytes: int = 20 * 1024 * 1024,
                allow_near_duplicates: bool = False, progress: Callable[[int], None] | None = None,
                category_map: dict | None = None, defaults: dict | None = None) -> ImportOutcome:
    """Import a bank file; returns what was done, or the problems (and nothing changed)."""
    out = ImportOutcome()
    result, problems = parse_bank_file(data, filename, max_bytes=max_bytes, category_map=category_map,
                                       defaults=defaults)
    if problems:
        out.problems = problems
        return out
    out.warnings = _without_self_matches(result)
    if out.warnings and not allow_near_duplicates:
        out.problems = [_problem("file", "near_duplicates_unconfirmed",
                                 "文件中有疑似重复的试题（见下方警告）；确认后才能导入",
                                 "the file holds near-duplicate items (see the warnings); confirm to import them")]
        return out
    ctx = item_service.Context()
    try:
        media_names = _store_media(result, actor, out)
        for n, (d, (sheet, row)) in enumerate(zip(result.items, result.locations), start=1):
            if d.get("images") and media_names:
                d = {**d, "images": [media_names.get(x, x) for x in d["images"]]}
            try:
                _store_row(d, actor, ctx, out, keep_images=_format_of(filename) in NO_IMAGES)
            except item_service.ItemValidationError as e:
                out.problems += [p.located(sheet=sheet, row=row) for p in e.problems]
            except item_service.ItemError as e:
                out.problems.append(_problem("id", "not_stored", f"无法保存：{e}", f"cannot be stored: {e}",
                                             sheet=sheet, row=row))
            if progress:
                progress(n)
        if out.problems:
            db.session.rollback()
            out.created = out.updated = out.unchanged = 0
            return out
        audit.record("bank.import", "bank", filename, actor=actor,
                     after={"created": out.created, "updated": out.updated, "unchanged": out.unchanged})
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return out


def _without_self_matches(result) -> list[Problem]:
    """Drop near-duplicate warnings whose only match is the stored item the row itself updates
    (re-importing an export must not look like doubling the bank)."""
    own = {loc: str(d.get("id") or "") for d, loc in zip(result.items, result.locations)}
    kept = []
    for w in result.warnings:
        params = w.params or {}
        existing = {str(x) for x in params.get("existing") or []}
        if w.code == "near_duplicate" and not params.get("rows") and existing and \
                existing <= {own.get((w.sheet, w.row), "")}:
            continue
        kept.append(w)
    return kept


def _store_row(d: dict, actor, ctx, out: ImportOutcome, *, keep_images: bool = False) -> None:
    """Create an item (no id) or a new version of item ``id`` when its content differs. ``keep_images``: the
    file's format cannot carry images, so an existing item keeps its own (not: loses them)."""
    item_id = d.get("id")
    if item_id in (None, ""):
        status = d.get("status") or "draft"
        item_service.create_item(d, actor, status=status, comment="import", commit=False, _ctx=ctx)
        out.created += 1
        return
    try:
        item = item_service.get_item(item_id)
    except item_service.ItemNotFound:
        raise item_service.ItemError(f"item {item_id} does not exist (leave the id empty for a new item)") from None
    current = item_service.item_dict(item)
    if keep_images and not d.get("images"):
        d = {**d, "images": list(current.get("images") or [])}
    if item_service.same_content(current, {**d, "id": current["id"]}):
        out.unchanged += 1
        return
    item_service.save_new_version(item.id, d, actor, comment="import", commit=False)
    out.updated += 1


def export_items(occupation_code: str | None = None, status: str | None = None, viewer=None) -> list[dict]:
    """Current versions of the items (that ``viewer`` may see), as item dicts in id order."""
    q = select(Item).order_by(Item.id)
    if occupation_code:
        q = q.join(Occupation, Occupation.id == Item.occupation_id).where(Occupation.code == occupation_code)
    if status:
        q = q.where(Item.status == status)
    codes = {o.id: o.code for o in taxonomy_service.list_occupations()}
    out = []
    for item in db.session.execute(q).scalars():
        if viewer is not None and not item_service.can_view(item, viewer):
            continue
        out.append(item_service.item_dict(item, occupation=codes[item.occupation_id]))
    return out


def _media_of(items: list[dict]) -> dict[str, bytes]:
    from . import media as media_service
    out: dict[str, bytes] = {}
    for d in items:
        for sha in d.get("images") or []:
            path = media_service.path_for(sha)
            if sha not in out and path.is_file():
                out[sha] = path.read_bytes()
    return out


def export_bank(fmt: str, occupation_code: str | None = None, status: str | None = None, viewer=None, *,
                accept_losses: bool = False) -> bytes:
    """The bank as a file of format ``fmt`` (see :data:`FORMATS`). For QTI, Moodle XML and GIFT, content
    the format cannot carry raises :class:`CannotCarryError` (with every loss located) unless
    ``accept_losses``."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}")
    items = export_items(occupation_code, status, viewer)
    if fmt == "zip":
        return export_qti_package(items, _media_of(items), accept_losses=accept_losses)
    if fmt == "xml":
        return write_moodle_xml(items, _media_of(items), accept_losses=accept_losses)
    if fmt == "gift":
        return write_gift(items, accept_losses=accept_losses).encode("utf-8")
    buf = io.BytesIO()
    taxonomy = _taxonomies()
    (write_bank_xlsx if fmt == "xlsx" else write_bank_csv)(items, buf, taxonomy=taxonomy)
    return buf.getvalue()


__all__ = ["CannotCarryError", "FORMATS", "ImportOutcome", "import_bank", "export_bank", "categories",
           "template_bytes", "describe"]


def template_bytes() -> bytes:
    buf = io.BytesIO()
    write_template(buf)
    return buf.getvalue()


def problem_text(p: Problem, lang: str = "zh") -> str:
    """'sheet items, row 7, column F (key): message' — where, then what."""
    from question_bank.messages import field_label_zh
    msg = p.message_zh if lang == "zh" else p.message_en
    where = []
    if p.sheet:
        is_file = Path(str(p.sheet)).suffix.lower().lstrip(".") in FORMATS + ("txt",)  # GIFT/XML/QTI: no sheets
        where.append(("文件 " if is_file else "工作表 ") if lang == "zh" else ("file " if is_file else "sheet "))
        where[-1] += str(p.sheet)
    if p.row:
        where.append((f"第 {p.row} 行" if lang == "zh" else f"row {p.row}"))
    if p.column:
        where.append((f"{p.column} 列" if lang == "zh" else f"column {p.column}"))
    if p.field:
        if lang != "zh":
            where.append(f"({p.field})")
        else:  # a Chinese label, and only when the message does not name the field already
            label = field_label_zh(p.field)
            if label != p.field and label not in msg:
                where.append(f"（{label}）")
    return (" ".join(where) + ": " if where else "") + msg


def describe(problems: list[Problem], lang: str = "zh") -> list[str]:
    return [problem_text(p, lang) for p in problems]


def import_kwargs_from_config(config: Any) -> dict:
    return {"max_bytes": int(config.get("MAX_IMPORT_BYTES", 20 * 1024 * 1024))}

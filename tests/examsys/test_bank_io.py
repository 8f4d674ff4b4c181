"""Bank import/export through the service, the pages and the CLI: round trip, all-or-nothing, located errors."""
from __future__ import annotations

import io

from openpyxl import load_workbook
from sqlalchemy import func, select

from examsys.extensions import db
from examsys.models import AuditLog, Item, ItemVersion
from examsys.services import bank_io
from examsys.services import items as item_service
from examsys.services import taxonomy as taxonomy_service

from .conftest import csrf_token

TAXONOMY = {
    "occupation": {"code": "6-18-01-01", "name": "车工", "work_type": "数控车工"},
    "grades": [4, 3],
    "weights": {"theory": {4: {"A": 40, "B": 60}, 3: {"A": 40, "B": 60}}},
    "tree": [
        {"code": "A", "name": "基础知识", "part": "theory", "units": [
            {"code": "A-A", "name": "机械制图", "points": [
                {"code": "A-A-001", "name": "三视图", "importance": "X", "grades": [4, 3]}]}]},
        {"code": "B", "name": "数控编程", "part": "theory", "units": [
            {"code": "B-A", "name": "G代码", "points": [
                {"code": "B-A-001", "name": "G71", "importance": "X", "grades": [4, 3]},
                {"code": "B-A-002", "name": "G92", "importance": "Y", "grades": [3]}]}]},
    ],
}

ITEMS = [
    {"type": "single_choice", "occupation": "6-18-01-01", "grades": [4, 3], "kp": "B-A-001", "points": 1.0,
     "difficulty": 0.7, "discrimination": None, "source": "test", "stem": "G71 指令是（  ）。",
     "options": ["外圆粗车复合循环", "螺纹切削循环", "精车循环", "端面粗车循环"], "key": "A", "images": []},
    {"type": "true_false", "occupation": "6-18-01-01", "grades": [4], "kp": "A-A-001", "points": 1.0,
     "difficulty": None, "discrimination": None, "source": "test", "stem": "主视图反映物体的长和高。", "key": True,
     "images": []},
    {"type": "fill_blank", "occupation": "6-18-01-01", "grades": [3], "kp": "B-A-002", "points": 1.0,
     "difficulty": 0.5, "discrimination": None, "source": "test", "stem": "M30×2 的螺距是____mm。",
     "answers": ["2"], "tolerance": 0.01, "unit": "mm", "images": []},
]


def _setup(app):
    with app.app_context():
        taxonomy_service.upsert_taxonomy(TAXONOMY)
        db.session.commit()
        for d in ITEMS:
            item_service.create_item(d, None, status="approved")


def _col(header, en: str) -> int:
    """1-based column of the header cell whose English part (after the Chinese) is ``en``."""
    return next(i for i, h in enumerate(header) if h and str(h).split()[-1] == en) + 1


def _counts():
    return (db.session.execute(select(func.count()).select_from(Item)).scalar_one(),
            db.session.execute(select(func.count()).select_from(ItemVersion)).scalar_one())


def test_export_then_import_changes_nothing(app):
    _setup(app)
    with app.app_context():
        for fmt in ("xlsx", "csv"):
            body = bank_io.export_bank(fmt)
            before = _counts()
            out = bank_io.import_bank(body, f"bank.{fmt}", None)
            assert out.ok, bank_io.describe(out.problems, "en")
            assert (out.created, out.updated, out.unchanged) == (0, 0, 3)
            assert _counts() == before


def test_edited_row_becomes_a_new_version_and_new_row_a_new_item(app):
    _setup(app)
    with app.app_context():
        wb = load_workbook(io.BytesIO(bank_io.export_bank("xlsx")))
        ws = wb["items"] if "items" in wb.sheetnames else wb.worksheets[0]
        header = [c.value for c in ws[1]]
        stem_col, id_col, version_col = _col(header, "stem"), _col(header, "id"), _col(header, "version")
        row2 = [c.value for c in ws[2]]
        ws.cell(row=2, column=stem_col, value="G71 指令的含义是（  ）。")
        new_row = list(row2)
        new_row[stem_col - 1] = "G70 指令用于（  ）。"
        new_row[id_col - 1] = None
        new_row[version_col - 1] = None
        ws.append(new_row)
        buf = io.BytesIO()
        wb.save(buf)
        out = bank_io.import_bank(buf.getvalue(), "bank.xlsx", None)
        assert out.ok, bank_io.describe(out.problems, "en")
        assert (out.created, out.updated, out.unchanged) == (1, 1, 2)
        edited = item_service.get_item(int(row2[id_col - 1]))
        assert edited.current_version.number == 2 and edited.current_version.stem == "G71 指令的含义是（  ）。"
        assert edited.versions[0].stem == "G71 指令是（  ）。"  # version 1 untouched
        assert db.session.execute(select(AuditLog).where(AuditLog.action == "bank.import")).scalar_one()


def test_bad_file_is_all_or_nothing_with_locations(app):
    _setup(app)
    with app.app_context():
        wb = load_workbook(io.BytesIO(bank_io.export_bank("xlsx")))
        ws = wb.worksheets[0]
        header = [c.value for c in ws[1]]
        key_col, id_col, stem_col = _col(header, "key"), _col(header, "id"), _col(header, "stem")
        good = [c.value for c in ws[2]]
        good[id_col - 1] = good[_col(header, "version") - 1] = None
        good[stem_col - 1] = "另一道全新的题目（  ）。"  # a fresh item that alone would import
        ws.append(good)
        ws.cell(row=2, column=key_col, value="Z")  # key not among the options
        buf = io.BytesIO()
        wb.save(buf)
        before = _counts()
        out = bank_io.import_bank(buf.getvalue(), "bank.xlsx", None)
        assert not out.ok
        p = next(p for p in out.problems if p.field == "key")
        assert p.row == 2 and p.column and p.sheet
        assert _counts() == before


def test_not_really_xlsx_and_unknown_extension(app):
    _setup(app)
    with app.app_context():
        out = bank_io.import_bank(b"this is not a zip", "bank.xlsx", None)
        assert not out.ok and out.problems[0].field in ("file", "")
        out = bank_io.import_bank(b"x", "bank.docx", None)
        assert out.problems[0].code == "unsupported_format"


def test_import_page_lists_problems_and_changes_nothing(app, client, login_as):
    _setup(app)
    login_as("writer")
    token = csrf_token(client, "/bank/import")
    resp = client.post("/bank/import", data={"csrf_token": token,
                                             "file": (io.BytesIO(b"garbage"), "bank.xlsx")},
                       content_type="multipart/form-data")
    assert resp.status_code == 400
    assert 'id="import-problems"' in resp.get_data(as_text=True)
    with app.app_context():
        assert _counts() == (3, 3)


def test_export_and_template_downloads(app, client, login_as):
    _setup(app)
    login_as("reviewer")
    resp = client.get("/bank/export?format=xlsx")
    assert resp.status_code == 200 and resp.mimetype.endswith("sheet")
    wb = load_workbook(io.BytesIO(resp.data), read_only=True)
    assert sum(1 for _ in wb.worksheets[0].iter_rows(min_row=2)) >= 3
    resp = client.get("/bank/template.xlsx")
    assert resp.status_code == 200 and load_workbook(io.BytesIO(resp.data)).sheetnames


def test_cli_round_trip_and_errors(app, runner, tmp_path):
    _setup(app)
    out_file = tmp_path / "bank.xlsx"
    result = runner.invoke(args=["bank", "export", str(out_file)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["bank", "import", str(out_file)])
    assert result.exit_code == 0, result.output
    assert "0 new items, 0 new versions, 3 unchanged" in result.output
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(b"not a workbook")
    result = runner.invoke(args=["bank", "import", str(bad)])
    assert result.exit_code == 1
    assert "bad.xlsx" in result.output and "nothing imported" in result.output


def test_qti_moodle_gift_round_trips_through_the_bank(app, runner, tmp_path):
    _setup(app)
    for fmt in ("zip", "xml", "gift"):
        out_file = tmp_path / f"bank.{fmt}"
        result = runner.invoke(args=["bank", "export", str(out_file)])
        assert result.exit_code == 0, result.output
        result = runner.invoke(args=["bank", "import", str(out_file)])
        assert result.exit_code == 0, result.output
        assert "0 new items, 0 new versions, 3 unchanged" in result.output, (fmt, result.output)


def test_gift_from_another_system_needs_metadata_or_mapping(app, client, login_as):
    _setup(app)
    gift = "$CATEGORY: 数控编程\n\n::q1:: G92 是（  ）。 {=螺纹切削循环 ~外圆粗车循环 ~精车循环}\n".encode()
    login_as("admin")
    token = csrf_token(client, "/bank/import")
    resp = client.post("/bank/import", data={"csrf_token": token, "file": (io.BytesIO(gift), "other.gift")},
                       content_type="multipart/form-data")
    assert resp.status_code == 400
    assert "数控编程" in resp.get_data(as_text=True)  # the category is offered for mapping
    resp = client.post("/bank/import", data={
        "csrf_token": token, "file": (io.BytesIO(gift), "other.gift"), "default_occupation": "6-18-01-01",
        "default_grades": "4,3", "category_map": "数控编程 = B-A-001"}, content_type="multipart/form-data")
    assert resp.status_code == 302, resp.get_data(as_text=True)[-3000:]
    with app.app_context():
        assert _counts() == (4, 4)
        new = db.session.execute(select(Item).order_by(Item.id.desc())).scalars().first()
        assert new.kp_code == "B-A-001" and new.status == "draft"


def test_round_trip_keeps_approved_items_whose_text_ends_in_a_newline(app):
    # The demo bank (YAML block text) stores stems and reference answers ending in "\n"; spreadsheet cells
    # are stripped on import. Re-importing an unchanged export must not make new versions (which would
    # also send the approved items back to draft).
    _setup(app)
    with app.app_context():
        a = item_service.create_item({**ITEMS[0], "stem": "G70 指令用于（  ）。\n"}, None, status="approved")
        b = item_service.create_item(
            {"type": "short_answer", "occupation": "6-18-01-01", "grades": [4], "kp": "A-A-001", "points": 5.0,
             "stem": "简述三视图的投影规律。\n", "reference_answer": "长对正、高平齐、宽相等。\n",
             "marking_points": [{"text": "长对正", "points": 2.0}, {"text": "高平齐、宽相等", "points": 3.0}],
             "score_step": 0.5, "images": []}, None, status="approved")
        ids = (a.id, b.id)
        for fmt in ("xlsx", "csv"):
            before = _counts()
            out = bank_io.import_bank(bank_io.export_bank(fmt), f"bank.{fmt}", None)
            assert out.ok, bank_io.describe(out.problems, "en")
            assert (out.created, out.updated, out.unchanged) == (0, 0, 5), fmt
            assert _counts() == before
        for item_id in ids:
            item = item_service.get_item(item_id)
            assert (item.status, item.current_version.number) == ("approved", 1)


def test_gift_round_trip_keeps_the_images_gift_cannot_carry(app):
    # GIFT has no images: exported "without what cannot be carried" and imported back, an item must keep
    # its image (and stay approved), not become a new draft version without it.
    from PIL import Image

    from examsys.services import media as media_service
    _setup(app)
    with app.app_context():
        buf = io.BytesIO()
        Image.new("RGB", (12, 8), (200, 30, 40)).save(buf, format="PNG")
        sha = media_service.store(buf.getvalue(), "figure.png", None).sha256
        item = item_service.create_item({**ITEMS[0], "stem": "如图所示，G70 指令用于（  ）。", "images": [sha]},
                                        None, status="approved")
        body = bank_io.export_bank("gift", accept_losses=True)
        out = bank_io.import_bank(body, "bank.gift", None)
        assert out.ok, bank_io.describe(out.problems, "en")
        assert (out.created, out.updated, out.unchanged) == (0, 0, 4)
        item = item_service.get_item(item.id)
        assert (item.status, item.current_version.number, item.current_version.images) == ("approved", 1, [sha])


def test_text_exports_name_their_charset_once(app, client, login_as):
    _setup(app)
    login_as("writer")
    for fmt, mime in (("csv", "text/csv"), ("gift", "text/plain"), ("xml", "application/xml")):
        resp = client.get(f"/bank/export?format={fmt}&accept_losses=1")
        assert resp.status_code == 200
        assert resp.headers["Content-Type"] == f"{mime}; charset=utf-8", fmt

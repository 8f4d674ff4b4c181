"""Readable Chinese and working links on the finished pages (admin, bank, papers): regressions found by
walking the README tour in a browser."""
from __future__ import annotations

import io
import re
from pathlib import Path

from examsys.services import audit
from examsys.services import items as item_service
from examsys.extensions import db

from . import papers_support as S
from .conftest import csrf_token
from .test_bank_io import ITEMS, _setup
from .test_papers import assemble, save_blueprint

ROOT = Path(__file__).resolve().parents[2]


def test_audit_log_shows_chinese_values_not_unicode_escapes(app, client, login_as):
    with app.app_context():
        audit.record("station.create", "station", 9, actor_label="admin", after={"name": "质检鉴定站", "n": 2,
                                                                                 "ok": True, "x": None})
        db.session.commit()
    login_as("admin")
    html = client.get("/admin/audit").get_data(as_text=True)
    assert "质检鉴定站" in html and "\\u8d28" not in html
    assert '{"n": 2, "name": "质检鉴定站", "ok": true, "x": null}' in html
    assert 'class="grid audit-log"' in html


def test_item_page_audit_entries_show_chinese_not_unicode_escapes(app, client, login_as):
    _setup(app)
    login_as("admin")
    with app.app_context():  # ids are not 1-based on PostgreSQL (sequences survive rolled-back tests)
        from sqlalchemy import select

        from examsys.models import Item
        first = db.session.execute(select(Item.id).order_by(Item.id)).scalars().first()
    html = client.get(f"/bank/items/{first}").get_data(as_text=True)
    audit_block = html.split('id="audit"', 1)[1]
    assert ITEMS[0]["options"][0] in audit_block and "\\u" not in audit_block


def test_bank_io_links_only_for_roles_that_may_use_them(app, client, login_as):
    _setup(app)
    login_as("station_manager")
    html = client.get("/bank/").get_data(as_text=True)
    assert 'href="/bank/import"' not in html and 'href="/bank/template.xlsx"' not in html
    assert client.get("/bank/import").status_code == 403
    client.post("/logout", data={"csrf_token": csrf_token(client, "/bank/")})
    login_as("writer")
    assert 'href="/bank/import"' in client.get("/bank/").get_data(as_text=True)


def test_constraint_report_names_item_types_in_chinese(app, client, login_as, users):
    occ_id = S.seed_bank(app)
    login_as("admin")
    bid = save_blueprint(app, occ_id)
    resp = assemble(client, bid, station_id=users["station_manager"].station_id)
    assert resp.status_code == 302
    html = client.get(resp.headers["Location"]).get_data(as_text=True)
    cells = re.findall(r"<td>([^<]*)</td>", html.split('id="report-A"', 1)[1].split("</table>", 1)[0])
    assert "single_choice" not in cells and "true_false" not in cells
    assert "单选" in cells


def test_blueprint_page_actions_are_not_a_form_inside_a_paragraph(app, client, login_as):
    occ_id = S.seed_bank(app)
    login_as("admin")
    html = client.get(f"/papers/blueprints/{save_blueprint(app, occ_id)}").get_data(as_text=True)
    assert not re.search(r"<p[^>]*>(?:(?!</p>).)*<form", html, re.S)


def test_field_rows_and_range_inputs_have_their_styles():
    css = (ROOT / "static" / "css" / "app.css").read_text(encoding="utf-8")
    assert ".row-fields" in css and ".filters .range" in css and "table.audit-log code" in css


def test_blueprint_coverage_all_is_translated(app, client, login_as):
    occ_id = S.seed_bank(app)
    spec = S.blueprint()
    spec["theory"]["coverage"] = {**spec["theory"].get("coverage", {}), "x_points": "all"}
    login_as("admin")
    html = client.get(f"/papers/blueprints/{save_blueprint(app, occ_id, spec)}").get_data(as_text=True)
    summary = html.split('id="theory-summary"', 1)[1].split("</section>", 1)[0]
    assert "= 全部" in summary and "= all" not in summary


def test_import_problems_read_as_chinese(app, client, login_as):
    _setup(app)
    login_as("writer")
    gift = "$CATEGORY: $course$/top/数控编程\n\n::q1:: 数控车床上 G00 指令表示（ ）。{=快速定位 ~直线插补 ~圆弧插补}\n"
    resp = client.post("/bank/import", data={"csrf_token": csrf_token(client, "/bank/import"),
                                             "file": (io.BytesIO(gift.encode("utf-8")), "other.gift")},
                       content_type="multipart/form-data")
    assert resp.status_code == 400
    block = resp.get_data(as_text=True).split('id="import-problems"', 1)[1].split("</div>", 1)[0]
    problems = re.findall(r"<li>(.*?)</li>", block, re.S)
    assert problems and all(p.startswith("文件 other.gift") for p in problems), problems
    assert not any(re.search(r"\((kp|occupation|grades)\)", p) for p in problems), problems


def test_num_filter_writes_numbers_as_people_do(app):
    from decimal import Decimal
    from examsys.template_helpers import num
    assert [num(v) for v in (0.5, 100.0, 29.400000000000002, 12, -0.0, Decimal("2.50"), None, "1.0")] == [
        "0.5", "100", "29.4", "12", "0", "2.5", "—", "1.0"]
    with app.app_context():
        assert app.jinja_env.from_string("{{ 100.0|num }} {{ 0.25|num }}").render() == "100 0.25"


def test_points_are_shown_without_a_trailing_point_zero(app, client, login_as, users):
    _setup(app)
    login_as("admin")
    with app.app_context():  # ids are not 1-based on PostgreSQL (sequences survive rolled-back tests)
        from sqlalchemy import select

        from examsys.models import Item
        first = db.session.execute(select(Item.id).order_by(Item.id)).scalars().first()
    html = client.get(f"/bank/items/{first}").get_data(as_text=True)
    points = html.split("<dt>分值</dt>", 1)[1].split("</dd>", 1)[0]
    assert points == "<dd>1"
    occ_id = S.seed_bank(app)
    bid = save_blueprint(app, occ_id)
    summary = client.get(f"/papers/blueprints/{bid}").get_data(as_text=True).split('id="theory-summary"', 1)[1]
    summary = summary.split("</section>", 1)[0]
    resp = assemble(client, bid, station_id=users["station_manager"].station_id)
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    facts = page.split('id="paper-facts"', 1)[1].split("</p>", 1)[0]  # occupation, grade, points, minutes
    items = page.split('class="grid items"', 1)[1].split("</table>", 1)[0]
    for text in (summary, facts, items, page.split('id="form-A"', 1)[1].split("</h2>", 1)[0]):
        assert not re.search(r"\d\.0\b", text), text
    assert "20 分" in facts


def test_favicon_is_linked_and_served(app, client, login_as):
    html = client.get("/login").get_data(as_text=True)
    assert '<link rel="icon" type="image/svg+xml" href="/static/favicon.svg">' in html
    for url in ("/static/favicon.svg", "/favicon.ico"):  # browsers ask for /favicon.ico on their own too
        resp = client.get(url)
        assert resp.status_code == 200 and resp.mimetype == "image/svg+xml", url
        assert resp.get_data(as_text=True).startswith("<svg")
        resp.close()

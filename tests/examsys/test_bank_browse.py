"""The bank browser: filters, subtree, Chinese free text (full-width folded), facet counts, paging, visibility."""
from __future__ import annotations

import re

from sqlalchemy import func, select

from examsys.devtools.synthetic_bank import ensure_occupation, insert_items
from examsys.extensions import db
from examsys.models import Item
from examsys.services.bank_search import BankQuery, search
from question_bank.normalize import normalize_text


def _bank(app, n=300):
    with app.app_context():
        occ = ensure_occupation(n_points=60)
        insert_items(occ, n, seed=3)
        return occ.id


def test_counts_and_filters_agree_with_sql(app, ctx):
    occ_id = _bank(app)
    page = search(BankQuery(occupation_id=occ_id))
    assert page.total == 300
    assert sum(page.counts["type"].values()) == 300
    # the count shown for a facet value equals the total when that value is selected
    for t, n in page.counts["type"].items():
        assert search(BankQuery(occupation_id=occ_id, type=t)).total == n
    # facet counts ignore their own filter but apply the others
    sel = search(BankQuery(occupation_id=occ_id, type="single_choice", status="approved"))
    expected = db.session.execute(select(func.count()).select_from(Item).where(
        Item.type == "single_choice", Item.status == "approved")).scalar_one()
    assert sel.total == expected
    assert sel.counts["type"]["single_choice"] == expected
    assert sum(sel.counts["status"].values()) == search(BankQuery(occupation_id=occ_id, type="single_choice")).total


def test_grade_subtree_difficulty_and_text(app, ctx):
    occ_id = _bank(app)
    g4 = search(BankQuery(occupation_id=occ_id, grade=4), page_size=1000)
    assert g4.rows and all(4 in r["grades"] for r in g4.rows)
    sub = search(BankQuery(occupation_id=occ_id, kp="C-B"), page_size=1000)
    assert sub.rows and all(r["kp"].startswith("C-B-") for r in sub.rows)
    assert search(BankQuery(occupation_id=occ_id, kp="C-B-0"), page_size=1000).total == 0  # not a code prefix match
    mid = search(BankQuery(occupation_id=occ_id, difficulty_min=0.6, difficulty_max=0.7), page_size=1000)
    assert mid.rows and all(0.6 <= r["difficulty"] <= 0.7 for r in mid.rows)
    hits = search(BankQuery(occupation_id=occ_id, text="Ｇ７１ 外圆粗车"), page_size=1000)  # full-width + space
    assert hits.total > 0
    for r in hits.rows:
        v = db.session.get(Item, r["id"]).current_version
        assert "g71外圆粗车" in normalize_text(v.stem + "".join(v.content.get("options", [])))
    assert search(BankQuery(occupation_id=occ_id, text="不存在的词语组合"), page_size=1000).total == 0


def test_paging(app, ctx):
    occ_id = _bank(app, n=120)
    p1 = search(BankQuery(occupation_id=occ_id, page=1))
    p3 = search(BankQuery(occupation_id=occ_id, page=3))
    assert p1.pages == 3 and len(p1.rows) == 50 and len(p3.rows) == 20
    assert not {r["id"] for r in p1.rows} & {r["id"] for r in p3.rows}
    assert search(BankQuery(occupation_id=occ_id, page=99)).page == 3


def test_browse_page_renders_and_rejects_bad_numbers(app, client, login_as):
    _bank(app, n=60)
    login_as("reviewer")
    html = client.get("/bank/?q=%E4%B8%BB%E5%81%8F%E8%A7%92").get_data(as_text=True)
    assert 'id="bank-table"' in html
    resp = client.get("/bank/?dmin=abc&grade=9&dmax=2&page=x")
    assert resp.status_code == 200
    body = resp.get_data(as_text=True)
    problems = re.findall(r"<li>(.*?)</li>", body.split('class="problems"', 1)[1].split("</ul>", 1)[0])
    # the messages name the fields by their labels, not by the URL parameters
    assert problems == ["等级必须在 1 与 5 之间。", "难度下限必须是 0 到 1 之间的数。", "难度上限必须是 0 到 1 之间的数。",
                        "页码必须是整数。"]
    client.get("/lang/en")
    body = client.get("/bank/?dmin=abc").get_data(as_text=True)
    assert "Minimum difficulty must be a number between 0 and 1." in body


def test_writer_does_not_see_other_writers_drafts(app, client, users, login_as):
    with app.app_context():
        occ = ensure_occupation(n_points=30)
        insert_items(occ, 50, seed=5, author_id=users["admin"].id)
        drafts = db.session.execute(select(func.count()).select_from(Item).where(Item.status == "draft")).scalar_one()
        writer = db.session.get(type(users["writer"]), users["writer"].id)
        assert drafts > 0
        assert search(BankQuery(status="draft"), viewer=writer).total == 0

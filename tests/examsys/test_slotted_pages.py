"""The candidate pages rendered once per process with slots (examsys/delivery/slotted_pages.py): each candidate
sees only their own values, escaped; the CSRF token is the request's own; language, path and flashed messages
are not mixed up between requests."""
from __future__ import annotations

import datetime as _dt
import re

import pytest

from examsys.extensions import db
from examsys.models import ExamCandidate

from . import factories as f

T0 = f.T0


@pytest.fixture
def exam(app):
    return f.session_on_frozen_clock(app, n_candidates=3, duration_min=60)


def login(app, exam, k):
    client = app.test_client()
    ticket = exam["tickets"][k]
    resp = f.candidate_login(client, ticket, exam["ids"][ticket][-6:])
    assert f.logged_in(resp)
    return client, resp.get_data(as_text=True)


def enter(client, waiting_html):
    """The waiting page's first heartbeat after the start enters the paper."""
    resp = f.api(client, f.page_token(waiting_html), f.exam_data(waiting_html)["attempt"], "heartbeat", {})
    assert resp.status_code == 200 and resp.get_json()["status"] == "in_progress"


def session_token(client) -> str:
    """The CSRF token Flask-WTF accepts for this client's session (from a fresh page of it)."""
    return f.page_token(client.get("/exam/confirm").get_data(as_text=True))


def rename(app, exam, k, name, seat="keep"):
    with app.app_context():
        cand = db.session.query(ExamCandidate).filter_by(ticket_no=exam["tickets"][k]).one()
        cand.name = name
        if seat != "keep":
            cand.seat = seat
        db.session.commit()


def test_each_candidate_sees_only_their_own_values(app, exam):
    pages = {}
    for k in range(3):
        client, confirm_html = login(app, exam, k)
        waiting = client.post("/exam/confirm", data={"csrf_token": f.page_token(confirm_html)})
        waiting_html = waiting.get_data(as_text=True)
        pages[k] = (client, confirm_html, waiting_html)
    exam["clock"].current = T0 + _dt.timedelta(seconds=5)
    for k, (client, confirm_html, waiting_html) in pages.items():
        ticket = exam["tickets"][k]
        name = exam["rows"][k][1]
        masked = exam["ids"][ticket][:6] + "********" + exam["ids"][ticket][-4:]
        enter(client, waiting_html)
        paper_html = client.get("/exam/paper").get_data(as_text=True)
        assert 'id="answers"' in paper_html
        for html in (confirm_html, waiting_html, paper_html):
            assert name in html and ticket in html
            for other in set(range(3)) - {k}:
                assert exam["tickets"][other] not in html and exam["rows"][other][1] not in html
        assert masked in confirm_html
        assert f.exam_data(waiting_html)["attempt"] == exam["attempts"][ticket]
        data = f.exam_data(paper_html)
        assert data["attempt"] == exam["attempts"][ticket]
        assert data["urls"]["save"] == f"/api/exam/attempts/{exam['attempts'][ticket]}/answers"
        assert f'data-attempt="{exam["attempts"][ticket]}"' in paper_html
        # the token on each page is this session's, and the same one the session accepts
        # (a signed token carries its time after the first dot; the raw token is before it)
        raw = {f.page_token(html).split(".")[0] for html in (confirm_html, waiting_html, paper_html)}
        assert raw == {session_token(client).split(".")[0]}
        assert "@@slot" not in confirm_html + waiting_html + paper_html
    tokens = {f.page_token(client.get("/exam/paper").get_data(as_text=True)).split(".")[0]
              for client, *_ in pages.values()}
    assert len(tokens) == 3


def test_values_are_escaped_on_every_page(app, exam):
    rename(app, exam, 0, """<b>"Li" & 'Wang'</b>""", seat="")
    client, confirm_html = login(app, exam, 0)
    waiting_html = client.post("/exam/confirm", data={"csrf_token": f.page_token(confirm_html)}).get_data(as_text=True)
    exam["clock"].current = T0 + _dt.timedelta(seconds=5)
    enter(client, waiting_html)
    paper_html = client.get("/exam/paper").get_data(as_text=True)
    for html in (confirm_html, waiting_html, paper_html):
        assert "&lt;b&gt;&#34;Li&#34; &amp; &#39;Wang&#39;&lt;/b&gt;" in html
        assert "<b>" not in html
    assert "<dd>—</dd>" in confirm_html  # no seat
    who = re.search(r'<div class="exam-who">([^<]*)</div>', paper_html).group(1)
    assert who.startswith("&lt;b&gt;&#34;Li") and who.endswith(" —"), who


def test_details_that_vary_by_session_are_filled_in(app, exam):
    client, confirm_html = login(app, exam, 1)
    assert "60 分钟" in confirm_html or "60 minutes" in confirm_html
    with app.app_context():
        from examsys.template_helpers import local_time
        assert f"<dd>{local_time(T0, '%Y-%m-%d %H:%M')}</dd>" in confirm_html
    assert "测试场次" in confirm_html


def test_language_and_path_are_part_of_the_page_key(app, exam):
    client, zh_html = login(app, exam, 0)
    assert '<html lang="zh-CN">' in zh_html
    assert "next=/exam/login" in zh_html  # the login's reply: its language link names the login URL
    again = client.get("/exam/confirm").get_data(as_text=True)
    assert "next=/exam/confirm" in again
    client.get("/lang/en?next=/exam/confirm")
    en_html = client.get("/exam/confirm").get_data(as_text=True)
    assert '<html lang="en">' in en_html and "Check your details" in en_html
    # another candidate in Chinese still gets the Chinese page
    _other, zh_again = login(app, exam, 1)
    assert '<html lang="zh-CN">' in zh_again and "Check your details" not in zh_again


def test_a_flashed_message_is_shown_once_and_never_kept(app, exam):
    client, _ = login(app, exam, 0)
    with client.session_transaction() as s:
        s["_flashes"] = [("error", "flash-note-4711")]
    first = client.get("/exam/confirm").get_data(as_text=True)
    assert "flash-note-4711" in first
    assert "flash-note-4711" not in client.get("/exam/confirm").get_data(as_text=True)
    other, _ = login(app, exam, 1)
    assert "flash-note-4711" not in other.get("/exam/confirm").get_data(as_text=True)


def test_page_parts_are_rendered_once_per_key(app, exam, monkeypatch):
    from examsys.delivery import slotted_pages
    calls = []
    real = slotted_pages._parts
    monkeypatch.setattr(slotted_pages, "_parts", lambda *a: calls.append(a[0]) or real(*a))
    for k in range(3):
        client, _ = login(app, exam, k)
    assert calls.count("delivery/confirm.html") == 1
    parts = app.extensions["examsys.slotted_pages"][
        ("delivery/confirm.html", "zh", "/exam/login", (("replace_url", "/exam/confirm"),))]
    assert parts[1::2] == ["csrf", "name", "id_masked", "ticket_no", "seat", "session", "occupation",
                           "start", "duration", "csrf", "csrf"]

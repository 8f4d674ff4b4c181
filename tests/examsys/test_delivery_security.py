"""Security and bad input on the candidate API: ownership (IDOR), CSRF, wrong shapes, oversized payloads,
unknown items, images of other papers, and a hypothesis fuzz of the save endpoint (never a 500, nothing
changed by a refused request)."""
from __future__ import annotations

import datetime as _dt
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from examsys import clock
from examsys.extensions import db
from examsys.models import ExamResponse

from . import factories as f
from .test_delivery_api import T0, by_type, sitting, stored


@pytest.fixture
def exam(app):
    c = clock.FrozenClock(T0 - _dt.timedelta(minutes=10))
    clock.set_clock(c)
    with app.app_context():
        info = f.make_session(n_candidates=2, duration_min=60, grace_seconds=30)
    info["clock"] = c
    return info


def count_responses(app):
    with app.app_context():
        return db.session.execute(select(func.count(ExamResponse.id))).scalar_one()


def test_a_candidate_cannot_read_or_write_another_attempt(app, exam):
    client_a, aid_a, token_a, ents_a = sitting(app, exam, 0)
    client_b, aid_b, token_b, ents_b = sitting(app, exam, 1)
    sc_b = by_type(ents_b, "single_choice")[0]
    for what, body in (("answers", {"item": sc_b["pi"], "seq": 1, "answer": sc_b["ids"][0]}), ("heartbeat", {}),
                       ("submit", {"confirm": True})):
        r = f.api(client_a, token_a, aid_b, what, body)
        assert r.status_code == 404 and r.get_json()["error"] == "not_found"
    # the id in the body must match the URL's
    r = f.api(client_a, token_a, aid_a, "answers", {"attempt": aid_b, "item": sc_b["pi"], "seq": 1,
                                                     "answer": sc_b["ids"][0]})
    assert r.status_code == 404
    # an item of B's paper (another form) is not part of A's
    r = f.api(client_a, token_a, aid_a, "answers", {"item": sc_b["pi"], "seq": 1, "answer": sc_b["ids"][0]})
    assert r.status_code == 422 and r.get_json()["error"] == "unknown_item"
    assert f.api(client_a, token_a, 999999, "heartbeat", {}).status_code == 404
    assert count_responses(app) == 0
    assert stored(app, aid_b) == {}


def test_staff_and_anonymous_cannot_use_the_candidate_api(app, exam, login_as):
    anon = app.test_client()
    aid = exam["attempts"][exam["tickets"][0]]
    token = f.page_token(anon.get("/exam/login").get_data(as_text=True))
    assert f.api(anon, token, aid, "heartbeat", {}).status_code == 401
    assert anon.get("/exam/paper").status_code == 302


def test_csrf_missing_or_wrong_is_refused(app, exam):
    client, aid, token, ents = sitting(app, exam)
    sc = by_type(ents, "single_choice")[0]
    body = {"item": sc["pi"], "seq": 1, "answer": sc["ids"][0]}
    r = f.api(client, None, aid, "answers", body)
    assert r.status_code == 400 and r.get_json()["error"] == "csrf"
    r = f.api(client, "not-the-token", aid, "answers", body)
    assert r.status_code == 400 and r.get_json()["error"] == "csrf"
    assert f.api(client, None, aid, "submit", {"confirm": True}).status_code == 400
    assert count_responses(app) == 0
    assert client.post("/exam/logout").status_code == 400


@pytest.mark.parametrize("kind,answer,code", [
    ("single_choice", "A", "unknown_option"),
    ("single_choice", ["x"], "wrong_shape"),
    ("single_choice", 1, "wrong_shape"),
    ("multiple_choice", "ab", "wrong_shape"),
    ("multiple_choice", [1, 2], "wrong_shape"),
    ("multiple_choice", ["zz"], "unknown_option"),
    ("true_false", "true", "wrong_shape"),
    ("true_false", 1, "wrong_shape"),
    ("fill_blank", 12.5, "wrong_shape"),
    ("fill_blank", "x" * 201, "too_long"),
    ("short_answer", {"text": "x"}, "wrong_shape"),
    ("short_answer", "长" * 10001, "too_long"),
])
def test_answers_of_the_wrong_shape_are_refused(app, exam, kind, answer, code):
    client, aid, token, ents = sitting(app, exam)
    e = by_type(ents, kind)[0]
    r = f.api(client, token, aid, "answers", {"item": e["pi"], "seq": 1, "answer": answer})
    assert r.status_code == 422 and r.get_json()["error"] == code and r.get_json()["message"]
    assert count_responses(app) == 0


def test_duplicate_multiple_choice_options_are_refused(app, exam):
    client, aid, token, ents = sitting(app, exam)
    e = by_type(ents, "multiple_choice")[0]
    r = f.api(client, token, aid, "answers", {"item": e["pi"], "seq": 1, "answer": [e["ids"][0], e["ids"][0]]})
    assert r.status_code == 422 and r.get_json()["error"] == "duplicate_option"


@pytest.mark.parametrize("body,status,code", [
    (b"not json", 400, "bad_json"),
    (b"[1, 2]", 400, "bad_json"),
    ({"item": "1", "seq": 1, "answer": None}, 422, "unknown_item"),
    ({"item": True, "seq": 1, "answer": None}, 422, "unknown_item"),
    ({"seq": 1, "answer": None}, 422, "unknown_item"),
    ({"item": "SC", "seq": 0, "answer": None}, 422, "bad_seq"),
    ({"item": "SC", "seq": -5, "answer": None}, 422, "bad_seq"),
    ({"item": "SC", "seq": "7", "answer": None}, 422, "bad_seq"),
    ({"item": "SC", "seq": 2 ** 60, "answer": None}, 422, "bad_seq"),
    ({"item": "SC", "seq": 1.5, "answer": None}, 422, "bad_seq"),
    ({"item": "SC", "seq": 1, "answer": None, "flagged": "yes"}, 422, "bad_flag"),
])
def test_malformed_save_requests(app, exam, body, status, code):
    client, aid, token, ents = sitting(app, exam)
    sc = by_type(ents, "single_choice")[0]
    if isinstance(body, dict) and body.get("item") == "SC":
        body = dict(body, item=sc["pi"])
    r = f.api(client, token, aid, "answers", body)
    assert r.status_code == status and r.get_json()["error"] == code
    assert count_responses(app) == 0


def test_oversized_payload_is_refused_clearly(app, exam):
    client, aid, token, ents = sitting(app, exam)
    e = by_type(ents, "short_answer")[0]
    r = f.api(client, token, aid, "answers", {"item": e["pi"], "seq": 1, "answer": "长" * 30000})
    assert r.status_code == 413 and r.get_json()["message"]
    assert count_responses(app) == 0


def test_saves_before_entering_or_while_paused_are_refused(app, exam):
    from examsys.models import ExamAttempt
    client, aid, token, ents = sitting(app, exam)
    sc = by_type(ents, "single_choice")[0]
    with app.app_context():
        att = db.session.get(ExamAttempt, aid)
        att.paused_at = clock.now()
        db.session.commit()
    r = f.api(client, token, aid, "answers", {"item": sc["pi"], "seq": 1, "answer": sc["ids"][0]})
    assert r.status_code == 409 and r.get_json()["error"] == "paused" and r.get_json()["paused"] is True
    assert count_responses(app) == 0


def test_control_characters_are_dropped_not_stored(app, exam):
    client, aid, token, ents = sitting(app, exam)
    e = by_type(ents, "short_answer")[0]
    r = f.api(client, token, aid, "answers", {"item": e["pi"], "seq": 1, "answer": "a\x00b\x07c\nd"})
    assert r.status_code == 200
    assert stored(app, aid)[e["pi"]][0] == "abc\nd"
    r = f.api(client, token, aid, "answers", b'{"item": %d, "seq": 2, "answer": "\\ud800"}' % e["pi"])
    assert r.status_code == 422 and r.get_json()["error"] == "bad_text"


def test_images_only_of_the_candidates_own_paper(app, tmp_path):
    import hashlib
    from examsys.models import MediaFile
    from examsys.services import media
    c = clock.FrozenClock(T0 - _dt.timedelta(minutes=10))
    clock.set_clock(c)
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 64
    sha = hashlib.sha256(png).hexdigest()
    other = hashlib.sha256(b"other").hexdigest()
    with app.app_context():
        db.session.add(MediaFile(sha256=sha, filename="fig.png", mime="image/png", size=len(png), created_at=c()))
        db.session.add(MediaFile(sha256=other, filename="o.png", mime="image/png", size=5, created_at=c()))
        db.session.commit()
        for h, data in ((sha, png), (other, b"other")):
            path = media.path_for(h)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        info = f.make_session(n_candidates=1, labels=("A",), images=[sha])
    info["clock"] = c
    client, aid, token, ents = sitting(app, info)
    assert f"/exam/media/{sha}" in client.get("/exam/paper").get_data(as_text=True)
    with client.get(f"/exam/media/{sha}") as r:
        assert r.status_code == 200 and r.data == png and r.headers["Cache-Control"] == "no-store"
    assert client.get(f"/exam/media/{other}").status_code == 404
    assert client.get("/exam/media/../../etc/passwd").status_code == 404
    assert app.test_client().get(f"/exam/media/{sha}").status_code == 302  # not logged in


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2 ** 70), max_value=2 ** 70)
    | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12)


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=st.dictionaries(st.sampled_from(["item", "seq", "answer", "flagged", "attempt", "x"]), JSON_VALUES,
                            max_size=5),
       use_real_item=st.booleans(), pick=st.integers(min_value=0, max_value=7))
def test_fuzz_the_save_endpoint(app, fuzz_sitting, body, use_real_item, pick):
    client, aid, token, ents = fuzz_sitting
    if use_real_item:
        body = dict(body, item=ents[pick % len(ents)]["pi"])
    before = stored(app, aid)
    r = f.api(client, token, aid, "answers", json.dumps(body))
    assert r.status_code < 500
    payload = r.get_json()
    assert isinstance(payload, dict) and (payload.get("ok") is True or payload.get("message"))
    if r.status_code != 200:
        assert stored(app, aid) == before
    else:
        s = stored(app, aid)[body["item"]]
        assert s[1] >= body["seq"]


@pytest.fixture
def fuzz_sitting(app, exam):
    return sitting(app, exam)

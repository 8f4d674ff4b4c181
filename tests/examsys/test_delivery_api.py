"""The candidate API: login rules, the paper, acknowledged autosave at the time boundaries (injected clock),
ordering and retries, submit, lazy and CLI finalisation, and the marking hook."""
from __future__ import annotations

import datetime as _dt

import pytest
from sqlalchemy import func, select

from examsys import clock
from examsys.extensions import db
from examsys.models import AttemptEvent, AuditLog, ExamAttempt, ExamResponse

from . import factories as f

T0 = f.T0
GRACE = 30
DURATION = 60
DEADLINE = T0 + _dt.timedelta(minutes=DURATION)


@pytest.fixture
def frozen():
    c = clock.FrozenClock(T0 - _dt.timedelta(minutes=10))
    clock.set_clock(c)
    return c


@pytest.fixture
def exam(app, frozen):
    with app.app_context():
        info = f.make_session(n_candidates=3, duration_min=DURATION, grace_seconds=GRACE)
    info["clock"] = frozen
    return info


def sitting(app, exam, k=0, *, at=T0 + _dt.timedelta(seconds=1)):
    """A logged-in candidate with the paper open at time ``at``: (client, attempt id, token, entries)."""
    client = app.test_client()
    exam["clock"].current = at
    ticket = exam["tickets"][k]
    page = f.enter_exam(client, ticket, exam["ids"][ticket])
    aid = exam["attempts"][ticket]
    return client, aid, page["token"], f.entries(f.layout_of(app, aid))


def by_type(entries, t):
    return [e for e in entries if e["t"] == t]


def stored(app, aid):
    with app.app_context():
        return {r.paper_item_id: (r.answer, r.seq, r.flagged) for r in
                db.session.execute(select(ExamResponse).where(ExamResponse.attempt_id == aid)).scalars()}


def status_of(app, aid):
    with app.app_context():
        return db.session.get(ExamAttempt, aid).status


# -- login ------------------------------------------------------------------------------------------

def test_login_with_ticket_and_last_six_then_confirm_shows_masked_id(app, exam):
    client = app.test_client()
    ticket = exam["tickets"][0]
    idno = exam["ids"][ticket]
    resp = f.candidate_login(client, ticket, idno[-6:])
    assert f.logged_in(resp)  # the reply is the 核对信息 page, its URL replaced with /exam/confirm
    assert resp.headers["Cache-Control"] == "no-store"
    again = client.get("/exam/confirm").get_data(as_text=True)  # what a reload shows: the same page, by GET
    assert "replaceState" not in again and "考生1" in again
    html = resp.get_data(as_text=True)
    assert "考生1" in html and idno[:6] + "********" + idno[-4:] in html
    assert idno not in html
    assert client.get("/exam/confirm").headers["Cache-Control"] == "no-store"


def test_login_page_rendered_once_carries_each_browsers_own_token(app, exam):
    """The plain login page is rendered once per language and process; each browser still gets its own
    CSRF token in both places (meta and form), and only its own token works."""
    a, b = app.test_client(), app.test_client()
    pa, pb = (c.get("/exam/login").get_data(as_text=True) for c in (a, b))
    ta, tb = f.page_token(pa), f.page_token(pb)
    assert ta != tb and pa.count(ta) == 2 and pb.count(tb) == 2 and "@@slot" not in pa + pb
    assert pa.replace(ta, "") == pb.replace(tb, "") and "考生登录" in pa
    t = exam["tickets"][0]
    wrong = b.post("/exam/login", data={"ticket": t, "credential": exam["ids"][t][-6:], "csrf_token": ta})
    assert wrong.status_code == 400  # a's token in b's session
    ok = b.post("/exam/login", data={"ticket": t, "credential": exam["ids"][t][-6:], "csrf_token": tb})
    assert f.logged_in(ok)
    en = app.test_client()
    en.get("/lang/en")
    page = en.get("/exam/login").get_data(as_text=True)
    assert "Exam login" in page and "考生登录" not in page and f.page_token(page) not in (ta, tb)


def test_wrong_credentials_and_unknown_ticket_look_the_same(app, exam):
    client = app.test_client()
    a = f.candidate_login(client, exam["tickets"][0], "000000")
    b = f.candidate_login(client, "NOSUCH-TICKET", "000000")
    assert a.status_code == b.status_code == 401
    assert "准考证号或身份证号后六位/登录码错误" in a.get_data(as_text=True)
    assert "准考证号或身份证号后六位/登录码错误" in b.get_data(as_text=True)


def test_login_not_open_before_the_window(app, exam):
    exam["clock"].current = T0 - _dt.timedelta(minutes=31)
    t = exam["tickets"][0]
    resp = f.candidate_login(app.test_client(), t, exam["ids"][t][-6:])
    assert resp.status_code == 403 and "尚未开放登录" in resp.get_data(as_text=True)


def test_late_entry_cutoff(app, exam):
    t = exam["tickets"][0]
    exam["clock"].current = T0 + _dt.timedelta(minutes=15, seconds=-1)
    assert f.logged_in(f.candidate_login(app.test_client(), t, exam["ids"][t][-6:]))
    t2 = exam["tickets"][1]
    exam["clock"].current = T0 + _dt.timedelta(minutes=15, seconds=1)
    resp = f.candidate_login(app.test_client(), t2, exam["ids"][t2][-6:])
    assert resp.status_code == 403 and "迟到" in resp.get_data(as_text=True)


def test_one_time_code_logs_in_once(app, exam):
    from examsys.models import ExamCandidate
    from examsys.services import roster
    t = exam["tickets"][0]
    with app.app_context():
        code = roster.login_code(db.session.execute(select(ExamCandidate).filter_by(ticket_no=t)).scalar_one())
    assert len(code) == 8
    c1 = app.test_client()
    assert f.logged_in(f.candidate_login(c1, t, code))
    c1.post("/exam/logout", data={"csrf_token": f.page_token(c1.get("/exam/confirm").get_data(as_text=True))})
    assert f.candidate_login(app.test_client(), t, code).status_code == 401  # used up


def test_second_login_refused_until_unlocked_then_first_session_ends(app, exam, users):
    client1, aid, token1, _ = sitting(app, exam)
    t = exam["tickets"][0]
    client2 = app.test_client()
    resp = f.candidate_login(client2, t, exam["ids"][t][-6:])
    assert resp.status_code == 409 and "另一台计算机" in resp.get_data(as_text=True)
    with app.app_context():
        kinds = [e.kind for e in db.session.execute(select(AttemptEvent).where(AttemptEvent.attempt_id == aid)).scalars()]
    assert "second_login" in kinds
    # the proctor unlocks (换机): the first session is ended at once, the second login succeeds
    from examsys.services import proctoring
    from examsys.models import ExamSession, User
    with app.app_context():
        sess = db.session.get(ExamSession, exam["session_id"])
        proctor = db.session.execute(select(User).filter_by(username="factory_manager")).scalar_one()
        proctoring.attempt_action(sess, aid, "unlock", proctor, reason="换机")
    assert f.api(client1, token1, aid, "heartbeat", {}).status_code == 401
    assert f.logged_in(f.candidate_login(client2, t, exam["ids"][t][-6:]))


def test_two_hundred_wrong_logins_count_at_most_five(app, exam):
    client = app.test_client()
    t = exam["tickets"][0]
    token = f.page_token(client.get("/exam/login").get_data(as_text=True))
    codes = [client.post("/exam/login", data={"ticket": t, "credential": f"{k:06d}", "csrf_token": token},
                         environ_base={"REMOTE_ADDR": f"10.0.{k // 250}.{k % 250}"}).status_code
             for k in range(200)]
    assert codes[:5] == [401] * 5 and set(codes[5:]) == {429}
    with app.app_context():
        failed = db.session.execute(select(func.count(AuditLog.id)).where(
            AuditLog.action == "candidate.login_failed", AuditLog.object_id == t)).scalar_one()
    assert failed == 5
    # even the right credential is refused while locked
    resp = f.candidate_login(client, t, exam["ids"][t][-6:])
    assert resp.status_code == 429


# -- the paper --------------------------------------------------------------------------------------

def test_waiting_page_before_the_start_then_paper(app, exam):
    client = app.test_client()
    t = exam["tickets"][0]
    assert f.logged_in(f.candidate_login(client, t, exam["ids"][t][-6:]))
    client.post("/exam/confirm", data={"csrf_token": f.page_token(client.get("/exam/confirm").get_data(as_text=True))})
    page = f.open_paper(client)
    assert page["data"]["mode"] == "waiting" and page["data"]["state"]["starts_in_ms"] == 10 * 60 * 1000
    aid = exam["attempts"][t]
    r = f.api(client, page["token"], aid, "heartbeat", {})
    assert r.get_json()["started"] is False
    exam["clock"].current = T0 + _dt.timedelta(seconds=5)
    r = f.api(client, page["token"], aid, "heartbeat", {})
    assert r.get_json()["started"] is True and r.get_json()["remaining_ms"] == DURATION * 60000 - 5000
    page = f.open_paper(client)
    assert page["data"]["mode"] == "paper" and status_of(app, aid) == "in_progress"


def test_same_order_on_reload_and_different_between_candidates(app, exam):
    client, aid, token, ents = sitting(app, exam, 0)
    first = f.open_paper(client)["html"]
    second = f.open_paper(client)["html"]
    ids = lambda html: f._re.findall(r'value="([0-9a-f]{8})"', html)  # noqa: E731
    assert ids(first) == ids(second) and len(ids(first)) == 16
    order = lambda html: f._re.findall(r'data-item="(\d+)" data-type', html)  # noqa: E731
    assert order(first) == order(second)
    client3, aid3, _t, ents3 = sitting(app, exam, 2)  # same form (A) by seat alternation
    other = f.open_paper(client3)["html"]
    assert set(ids(first)).isdisjoint(ids(other))


def test_layout_is_reproducible_from_the_seed(app, exam):
    import numpy as np
    from question_bank.layout import build_layout
    from examsys.services.roster import form_slots
    with app.app_context():
        att = db.session.get(ExamAttempt, exam["attempts"][exam["tickets"][0]])
        again = build_layout(form_slots(att.paper_form_id), np.random.default_rng(att.seed))
        assert again == att.layout


KEY_MARKERS = ("SECRET", '"key"', "reference_answer", "marking_points", '"answers":', "correct", "tolerance")


def test_no_answer_key_in_anything_served_during_the_attempt(app, exam):
    client, aid, token, ents = sitting(app, exam)
    sc = by_type(ents, "single_choice")[0]
    payloads = [client.get("/exam/paper").get_data(as_text=True), client.get("/exam/confirm").get_data(as_text=True),
                f.api(client, token, aid, "answers", {"item": sc["pi"], "seq": 1, "answer": sc["ids"][0]}).get_data(as_text=True),
                f.api(client, token, aid, "heartbeat", {}).get_data(as_text=True)]
    for body in payloads:
        for marker in KEY_MARKERS:
            assert marker not in body, marker
    # the displayed letter of the key differs from the stored key letter in general, and the option ids are
    # random hex, never letters
    data = f.exam_data(payloads[0])
    assert "A" not in [o for e in ents for o in e["ids"]]
    # nothing of the other candidates
    assert "考生2" not in payloads[0] and exam["tickets"][1] not in payloads[0]


# -- autosave ---------------------------------------------------------------------------------------

def test_save_acknowledges_after_commit_and_resume_shows_answers(app, exam):
    client, aid, token, ents = sitting(app, exam)
    sc, mc = by_type(ents, "single_choice")[0], by_type(ents, "multiple_choice")[0]
    tf, fb, sa = by_type(ents, "true_false")[0], by_type(ents, "fill_blank")[0], by_type(ents, "short_answer")[0]
    answers = [(sc, sc["ids"][2]), (mc, [mc["ids"][3], mc["ids"][0]]), (tf, False), (fb, " 12.5 mm"), (sa, "切削三要素")]
    for k, (e, a) in enumerate(answers, start=1):
        r = f.api(client, token, aid, "answers", {"item": e["pi"], "seq": k, "answer": a, "flagged": k == 3})
        body = r.get_json()
        assert r.status_code == 200 and body["ok"] and body["seq"] == k
        assert body["status"] == "in_progress" and body["deadline"] == "2026-06-01T02:00:00Z"
        assert body["server_now"] and body["remaining_ms"] == DURATION * 60000 - 1000
        assert body["saved_at_local"] == "09:00:01"
    s = stored(app, aid)
    letters = "ABCD"
    assert s[sc["pi"]][0] == letters[sc["order"][2]]
    assert s[mc["pi"]][0] == "".join(sorted(letters[mc["order"][3]] + letters[mc["order"][0]]))
    assert s[tf["pi"]] == (False, 3, True) and s[fb["pi"]][0] == " 12.5 mm" and s[sa["pi"]][0] == "切削三要素"
    # a new client (browser crash, cookie lost): proctor unlock, log in again, same answers shown
    page = f.open_paper(client)
    html = page["html"]
    assert f'value="{sc["ids"][2]}" checked' in html and f'value="{mc["ids"][3]}" checked' in html
    assert 'value="false" checked' in html and "切削三要素" in html and "已保存 09:00:01" in html
    assert page["data"]["seq_base"] > 5


def test_older_sequence_never_overwrites_and_retries_are_harmless(app, exam):
    client, aid, token, ents = sitting(app, exam)
    sc = by_type(ents, "single_choice")[0]
    assert f.api(client, token, aid, "answers", {"item": sc["pi"], "seq": 10, "answer": sc["ids"][1]}).status_code == 200
    r = f.api(client, token, aid, "answers", {"item": sc["pi"], "seq": 9, "answer": sc["ids"][3]})
    assert r.status_code == 200 and r.get_json()["seq"] == 10 and r.get_json()["stale"] is True
    for _ in range(3):  # the same request again
        r = f.api(client, token, aid, "answers", {"item": sc["pi"], "seq": 10, "answer": sc["ids"][1]})
        assert r.status_code == 200 and r.get_json()["seq"] == 10
    assert stored(app, aid)[sc["pi"]][:2] == ("ABCD"[sc["order"][1]], 10)
    # the same sequence number for a different answer is not a retry: refused, nothing stored, never acked
    r = f.api(client, token, aid, "answers", {"item": sc["pi"], "seq": 10, "answer": sc["ids"][2]})
    assert r.status_code == 409 and r.get_json()["error"] == "seq_conflict" and r.get_json()["ok"] is False
    assert stored(app, aid)[sc["pi"]][:2] == ("ABCD"[sc["order"][1]], 10)
    # clearing an answer stores NULL (not answered)
    assert f.api(client, token, aid, "answers", {"item": sc["pi"], "seq": 11, "answer": None}).status_code == 200
    assert stored(app, aid)[sc["pi"]][:2] == (None, 11)


@pytest.mark.parametrize("offset,accepted", [
    (_dt.timedelta(seconds=-1), True),                      # T − 1 s
    (_dt.timedelta(seconds=GRACE - 1), True),               # T + grace − 1 s
    (_dt.timedelta(seconds=GRACE), True),                   # T + grace (inclusive)
    (_dt.timedelta(seconds=GRACE + 1), False),              # T + grace + 1 s
])
def test_deadline_boundaries(app, exam, offset, accepted):
    client, aid, token, ents = sitting(app, exam)
    sc = by_type(ents, "single_choice")[0]
    assert f.api(client, token, aid, "answers", {"item": sc["pi"], "seq": 1, "answer": sc["ids"][0]}).status_code == 200
    exam["clock"].current = DEADLINE + offset
    r = f.api(client, token, aid, "answers", {"item": sc["pi"], "seq": 2, "answer": sc["ids"][1]})
    if accepted:
        assert r.status_code == 200 and r.get_json()["seq"] == 2
        assert status_of(app, aid) == "in_progress"
    else:
        body = r.get_json()
        assert r.status_code == 409 and body["error"] == "late" and "考试时间已到" in body["message"]
        assert body["status"] == "submitted"  # finalised from the last saved answers
        assert stored(app, aid)[sc["pi"]][1] == 1
        with app.app_context():
            ev = db.session.execute(select(AttemptEvent).where(AttemptEvent.attempt_id == aid,
                                                                AttemptEvent.kind == "save_refused")).scalar_one()
            assert ev.detail["reason"] == "late"
            att = db.session.get(ExamAttempt, aid)
            assert att.submitted_at == DEADLINE and att.submit_reason == "timeout" and att.answered_count == 1


def test_remaining_time_at_the_boundaries(app, exam):
    client, aid, token, _ = sitting(app, exam)
    exam["clock"].current = DEADLINE - _dt.timedelta(seconds=1)
    assert f.api(client, token, aid, "heartbeat", {}).get_json()["remaining_ms"] == 1000
    exam["clock"].current = DEADLINE + _dt.timedelta(seconds=GRACE - 1)
    body = f.api(client, token, aid, "heartbeat", {}).get_json()
    assert body["remaining_ms"] == 0 and body["status"] == "in_progress"
    exam["clock"].current = DEADLINE + _dt.timedelta(seconds=GRACE + 1)
    assert f.api(client, token, aid, "heartbeat", {}).get_json()["status"] == "submitted"


def test_time_up_submit_only_near_the_deadline(app, exam):
    client, aid, token, _ = sitting(app, exam)
    exam["clock"].current = DEADLINE - _dt.timedelta(seconds=10)
    r = f.api(client, token, aid, "submit", {"time_up": True})
    assert r.status_code == 409 and r.get_json()["error"] == "not_time_up" and r.get_json()["remaining_ms"] == 10000
    exam["clock"].current = DEADLINE - _dt.timedelta(seconds=1)
    r = f.api(client, token, aid, "submit", {"time_up": True})
    assert r.status_code == 200 and r.get_json()["status"] == "submitted"
    with app.app_context():
        assert db.session.get(ExamAttempt, aid).submit_reason == "timeout"


def test_submit_is_idempotent_and_saves_after_it_are_refused(app, exam):
    client, aid, token, ents = sitting(app, exam)
    sc = by_type(ents, "single_choice")[0]
    f.api(client, token, aid, "answers", {"item": sc["pi"], "seq": 1, "answer": sc["ids"][0]})
    assert f.api(client, token, aid, "submit", {}).status_code == 422  # must confirm
    r1 = f.api(client, token, aid, "submit", {"confirm": True})
    r2 = f.api(client, token, aid, "submit", {"confirm": True})
    assert r1.get_json()["already"] is False and r2.get_json()["already"] is True
    with app.app_context():
        n = db.session.execute(select(func.count(AuditLog.id)).where(AuditLog.action == "attempt.finalise",
                                                                    AuditLog.object_id == str(aid))).scalar_one()
        assert n == 1
    r = f.api(client, token, aid, "answers", {"item": sc["pi"], "seq": 2, "answer": sc["ids"][1]})
    assert r.status_code == 409 and r.get_json()["error"] == "submitted"
    assert stored(app, aid)[sc["pi"]][1] == 1
    assert "已提交" in client.get("/exam/paper").get_data(as_text=True)


def test_server_finalises_silent_candidates_by_cli_and_marks_absent(app, exam, runner):
    client, aid, token, ents = sitting(app, exam)
    sc = by_type(ents, "single_choice")[0]
    f.api(client, token, aid, "answers", {"item": sc["pi"], "seq": 1, "answer": sc["ids"][0]})
    exam["clock"].current = DEADLINE + _dt.timedelta(seconds=GRACE + 1)
    result = runner.invoke(args=["exams", "finalise-due"])
    assert result.exit_code == 0 and "Finalised 3 attempt(s)." in result.output
    assert status_of(app, aid) == "submitted"
    assert {status_of(app, exam["attempts"][t]) for t in exam["tickets"][1:]} == {"absent"}
    assert "Finalised 0 attempt(s)." in runner.invoke(args=["exams", "finalise-due"]).output


def test_sweeper_sweep_once_finalises(app, exam):
    from examsys.services import sweeper
    client, aid, token, _ = sitting(app, exam)
    exam["clock"].current = DEADLINE + _dt.timedelta(seconds=GRACE + 1)
    assert sweeper.sweep_once(app) == 3
    assert sweeper.start(app) is None  # not in testing


def test_marking_hook_is_called_once_after_commit(app, exam, monkeypatch):
    from examsys.services import marking_hooks
    calls = []

    def mark_finalised(attempt_ids):  # post-finalisation (inline in tests: in the request, after the commit)
        calls.extend((aid, db.session.get(ExamAttempt, aid).status) for aid in attempt_ids)
        return {}

    monkeypatch.setattr(marking_hooks, "mark_finalised", mark_finalised)
    client, aid, token, _ = sitting(app, exam)
    f.api(client, token, aid, "submit", {"confirm": True})
    f.api(client, token, aid, "submit", {"confirm": True})
    assert calls == [(aid, "submitted")]


def test_integrity_signals_are_recorded_not_penalised(app, exam):
    client, aid, token, ents = sitting(app, exam)
    events = [{"kind": "focus_loss"}, {"kind": "visibility_hidden"}, {"kind": "paste", "item": ents[0]["pi"]},
              {"kind": "bogus"}, "junk", {"kind": "focus_loss", "ms": True}]
    r = f.api(client, token, aid, "heartbeat", {"events": events})
    assert r.status_code == 200 and r.get_json()["status"] == "in_progress"
    with app.app_context():
        kinds = sorted(e.kind for e in db.session.execute(select(AttemptEvent).where(
            AttemptEvent.attempt_id == aid, AttemptEvent.kind.in_(["focus_loss", "visibility_hidden", "paste"]))).scalars())
    assert kinds == ["focus_loss", "focus_loss", "paste", "visibility_hidden"]


def test_item_texts_are_cached_per_app_and_reread_when_the_version_differs(app, exam):
    """The paper's item texts come from a per-app cache (frozen papers never change); an entry whose item
    version is not the layout's (a paper item id reused after a deletion) is read from the database again."""
    from examsys.services import attempts as attempts_service
    client, aid, token, ents = sitting(app, exam)
    e = ents[0]
    cache = app.extensions["examsys.item_views"]
    points, view, iv_id = cache[e["pi"]]
    assert iv_id == e["iv"] and view["stem"] in client.get("/exam/paper").get_data(as_text=True)
    # a stale entry under the same paper item id, from another item version: not served, read again
    cache[e["pi"]] = (points, dict(view, stem="STALE-STEM-FROM-A-DELETED-PAPER"), iv_id + 10_000)
    html = client.get("/exam/paper").get_data(as_text=True)
    assert "STALE-STEM-FROM-A-DELETED-PAPER" not in html and view["stem"] in html
    assert cache[e["pi"]][2] == e["iv"]
    # another app (another database) never sees this app's cache
    from examsys import create_app
    from examsys.config import TestConfig
    other = create_app(TestConfig, SQLALCHEMY_DATABASE_URI="sqlite://")
    assert "examsys.item_views" not in other.extensions
    with app.test_request_context():
        assert attempts_service._paper_items([e])[e["pi"]] == (points, view)

"""Re-marking after a key correction: the preview equals what apply does, apply is one transaction, a stale
preview is refused, published results get change requests (two-person rule), bad keys and access."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from examsys.extensions import db
from examsys.models import AttemptMarking, AuditLog, CandidateResult, ExamAttempt, KeyCorrection, ResultChange, Station
from examsys.services import marking as marking_service
from examsys.services import remark as remark_service
from examsys.services import results as results_service
from examsys.services.marking import MarkingError

from .test_marking_helpers import answer, finalise, items_of, manager, sitting

RIGHT = {"single_choice": "B", "multiple_choice": "AC", "true_false": True}


def _sitting(first_answers=("B", "C", "C")):
    """Three candidates; everything right except the first single choice, answered as given; short answer blank.
    Auto totals: 7 of 11 (63.6, pass) when the first answer matches the key, else 6 of 11 (54.5, fail)."""
    s = sitting(n=3, labels=("A",))
    aids = list(s["attempts"].values())
    for k, aid in enumerate(aids):
        sc_done = False
        for pi, t, d in items_of(s, aid):
            if t == "single_choice" and not sc_done:
                answer(aid, pi, first_answers[k])
                sc_done = True
            elif t in RIGHT:
                answer(aid, pi, RIGHT[t])
            elif t == "fill_blank":
                answer(aid, pi, d["answers"][0])
        finalise(aid)
    first_pi = [pi for pi, t, _d in items_of(s, aids[0]) if t == "single_choice"][0]
    from examsys.models import PaperItem
    s["iv"] = db.session.get(PaperItem, first_pi).item_version_id
    s["pi"] = first_pi
    s["aids"] = aids
    s["mgr"] = manager("mgr1", s["station_id"])
    return s


def _state():
    marks = {m.attempt_id: (m.auto_score, dict(m.item_scores)) for m in db.session.execute(select(AttemptMarking)).scalars()}
    results = {r.candidate_id: (r.theory_score, r.passed, r.status) for r in db.session.execute(select(CandidateResult)).scalars()}
    n_fix = db.session.execute(select(func.count(KeyCorrection.id))).scalar_one()
    n_audit = db.session.execute(select(func.count(AuditLog.id))).scalar_one()
    return marks, results, n_fix, n_audit


def test_preview_lists_changed_totals_and_pass_decisions_without_writing(ctx):
    s = _sitting()
    before = _state()
    p = remark_service.preview_remark(s["iv"], "C", actor=s["mgr"])
    assert _state() == before
    assert p.old_content == {"key": "B"} and p.new_content == {"key": "C"}
    rows = {r.attempt_id: r for r in p.rows}
    a1, a2, a3 = s["aids"]
    assert (rows[a1].old_item_score, rows[a1].new_item_score) == (1.0, 0.0)
    assert (rows[a2].old_item_score, rows[a2].new_item_score) == (0.0, 1.0)
    assert (rows[a1].old_theory, rows[a1].new_theory) == (63.6, 54.5)
    assert (rows[a2].old_theory, rows[a2].new_theory) == (54.5, 63.6)
    assert (rows[a1].old_passed, rows[a1].new_passed) == (None, False)  # practical not in session: open
    assert len(p.changed_rows) == 3 and len(p.digest) == 64


def test_apply_does_what_the_preview_showed(ctx):
    s = _sitting()
    p = remark_service.preview_remark(s["iv"], "C", actor=s["mgr"])
    done = remark_service.apply_remark(s["iv"], "C", actor=s["mgr"], reason="试题分析发现答案有误",
                                       expected_digest=p.digest)
    assert [vars(r) for r in done.rows] == [vars(r) for r in p.rows]
    marks, results, n_fix, _n = _state()
    for r in p.rows:
        assert marks[r.attempt_id][0] == r.new_auto
        assert marks[r.attempt_id][1][str(r.paper_item_id)] == r.new_item_score
        assert results[r.candidate_id][0] == r.new_theory
    assert n_fix == 1
    entry = db.session.execute(select(AuditLog).where(AuditLog.action == "item.remark")).scalar_one()
    assert entry.before == {"content": {"key": "B"}} and entry.after["content"] == {"key": "C"}
    assert len(entry.after["changed"]) == 3 and entry.reason == "试题分析发现答案有误"
    assert {c["ticket"] for c in entry.after["changed"]} == set(s["tickets"])


def test_later_marking_uses_the_corrected_key(ctx):
    s = _sitting()
    remark_service.apply_remark(s["iv"], "C", actor=s["mgr"], reason="更正")
    marking_service.mark_session(s["session_id"])
    marks = _state()[0]
    assert marks[s["aids"][1]][1][str(s["pi"])] == 1.0


def test_apply_is_one_transaction(ctx, monkeypatch):
    s = _sitting()
    before = _state()
    calls = {"n": 0}
    real = results_service.refresh

    def failing(*a, **k):
        calls["n"] += 1
        real(*a, **k)  # the re-marked rows are flushed ...
        raise RuntimeError("disk full")  # ... then the transaction fails

    monkeypatch.setattr(results_service, "refresh", failing)
    with pytest.raises(RuntimeError):
        remark_service.apply_remark(s["iv"], "C", actor=s["mgr"], reason="更正")
    assert calls["n"] == 1
    db.session.expire_all()
    assert _state() == before


def test_stale_preview_is_refused(ctx):
    s = _sitting()
    p = remark_service.preview_remark(s["iv"], "C", actor=s["mgr"])
    answer(s["aids"][2], s["pi"], "B")  # the data changes after the preview ...
    marking_service.mark_session(s["session_id"])
    before = _state()
    with pytest.raises(MarkingError) as e:
        remark_service.apply_remark(s["iv"], "C", actor=s["mgr"], reason="更正", expected_digest=p.digest)
    assert e.value.status == 409
    assert _state() == before


def test_published_results_get_change_requests(ctx):
    s = _sitting()
    # make the session publishable: theory only for this grade
    from examsys.models import PassRule
    db.session.add(PassRule(grade=4, parts=["theory"], pass_mark=60.0))
    db.session.commit()
    sess = marking_service.get_session(s["session_id"])
    results_service.publish(sess, s["mgr"])
    published = {r.candidate_id: (r.theory_score, r.passed) for r in db.session.execute(select(CandidateResult)).scalars()}
    p = remark_service.apply_remark(s["iv"], "C", actor=s["mgr"], reason="更正答案")
    assert all(r.published for r in p.rows)
    now = {r.candidate_id: (r.theory_score, r.passed) for r in db.session.execute(select(CandidateResult)).scalars()}
    assert now == published  # locked
    changes = list(db.session.execute(select(ResultChange)).scalars())
    assert len(changes) == 3 and {c.status for c in changes} == {"pending"}
    mgr2 = manager("mgr2", s["station_id"])
    ch = next(c for c in changes if c.proposed["theory_score"] == 63.6)
    results_service.decide_change(ch.id, mgr2, True)
    row = db.session.get(CandidateResult, ch.result_id)
    assert (row.theory_score, row.passed) == (63.6, True)


@pytest.mark.parametrize("new_key", ["Z", "AB", "", None, {"answers": ["x"]}, 3])
def test_bad_keys_are_refused(ctx, new_key):
    s = _sitting()
    before = _state()
    with pytest.raises(MarkingError) as e:
        remark_service.preview_remark(s["iv"], new_key, actor=s["mgr"])
    assert e.value.status == 422
    with pytest.raises(MarkingError):
        remark_service.apply_remark(s["iv"], new_key, actor=s["mgr"], reason="x")
    assert _state() == before


def test_refusals_for_type_reason_access(ctx):
    s = _sitting()
    from examsys.models import PaperItem
    att = db.session.get(ExamAttempt, s["aids"][0])
    sa_pi = [pi for pi, t, _d in items_of(s, att.id) if t == "short_answer"][0]
    with pytest.raises(MarkingError) as e:
        remark_service.preview_remark(db.session.get(PaperItem, sa_pi).item_version_id, "x", actor=s["mgr"])
    assert e.value.status == 409
    with pytest.raises(MarkingError) as e:
        remark_service.preview_remark(999999, "B", actor=s["mgr"])
    assert e.value.status == 404
    with pytest.raises(MarkingError) as e:
        remark_service.apply_remark(s["iv"], "C", actor=s["mgr"], reason="  ")
    assert e.value.status == 422
    st2 = Station(code="X-4", name="他站", region="")
    db.session.add(st2)
    db.session.commit()
    with pytest.raises(MarkingError) as e:
        remark_service.apply_remark(s["iv"], "C", actor=manager("mgr-far", st2.id), reason="更正")
    assert e.value.status == 403
    assert _state()[2] == 0


def test_true_false_and_fill_blank_corrections(ctx):
    s = _sitting()
    a1 = s["aids"][0]
    tf_pi = [pi for pi, t, _d in items_of(s, a1) if t == "true_false"][0]
    fb_pi = [pi for pi, t, _d in items_of(s, a1) if t == "fill_blank"][0]
    from examsys.models import PaperItem
    tf_iv = db.session.get(PaperItem, tf_pi).item_version_id
    fb_iv = db.session.get(PaperItem, fb_pi).item_version_id
    p = remark_service.preview_remark(tf_iv, "错", actor=s["mgr"])
    assert p.new_content == {"key": False} and all(r.new_item_score == 0.0 for r in p.rows)
    p = remark_service.preview_remark(tf_iv, False, actor=s["mgr"])
    assert p.new_content == {"key": False}
    p = remark_service.preview_remark(fb_iv, "其他|另一个", actor=s["mgr"])
    assert p.new_content["answers"] == ["其他", "另一个"] and all(r.new_item_score == 0.0 for r in p.rows)
    p = remark_service.preview_remark(fb_iv, {"answers": ["其他"], "tolerance": None, "unit": None}, actor=s["mgr"])
    assert p.new_content["answers"] == ["其他"]

"""Marking services: auto-marking when attempts are finalised (rules at their edges, empty answers,
normalisation, option ids through the layout), the batch marker, constructed-response scripts, examiner
marks and bad input, double marking at and above the threshold, adjudication, practical scoring sheets with
levels, deductions and veto items, absence, and the marking-time statistics."""
from __future__ import annotations

import datetime as _dt

import pytest
from sqlalchemy import func, select

from examsys import clock
from examsys.extensions import db
from examsys.models import AttemptMarking, AuditLog, CandidateResult, ExamAttempt, Mark, MarkerAssignment, Script
from examsys.services import attempts as attempts_service
from examsys.services import marking as marking_service
from examsys.services.marking import MarkingError, SheetInput

from .test_marking_helpers import (answer, examiner, finalise, full_sheet, items_of, make_practical_paper, manager,
                                   occupation_id, scripts, set_clock, sheet, sitting)

FULL = {"single_choice": "B", "multiple_choice": "AC", "true_false": True}


def _pi(s, aid, t, k=0):
    return [pi for pi, tt, _d in items_of(s, aid) if tt == t][k]


def _fb_answer(s, aid):
    return [d for _pi, tt, d in items_of(s, aid) if tt == "fill_blank"][0]["answers"][0]


def _assign(s, pi_id, *users):
    for u in users:
        db.session.add(MarkerAssignment(session_id=s["session_id"], paper_item_id=pi_id, examiner_id=u.id))
    db.session.commit()


def _audit(action):
    return db.session.execute(select(func.count(AuditLog.id)).where(AuditLog.action == action)).scalar_one()


# ------------------------------------------------------------------------------------------------
# auto-marking
# ------------------------------------------------------------------------------------------------
def test_finalising_an_attempt_marks_it_all_or_nothing(ctx):
    s = sitting(n=3)
    a1, a2, a3 = s["attempts"].values()
    for pi, t, d in items_of(s, a1):  # everything right
        answer(a1, pi, FULL.get(t, d.get("answers", ["x"])[0] if t == "fill_blank" else "答案"))
    answer(a2, _pi(s, a2, "multiple_choice"), "A")  # proper subset: 0 under all_or_nothing
    answer(a2, _pi(s, a2, "fill_blank"), " " + _fb_answer(s, a2).lower().replace("-", "－") + " ")  # normalised
    answer(a2, _pi(s, a2, "single_choice", 1), "b")
    # a3 answers nothing
    for aid in (a1, a2, a3):
        finalise(aid)
    m = {r.attempt_id: r for r in db.session.execute(select(AttemptMarking)).scalars()}
    assert m[a1].auto_score == 7.0 and m[a1].auto_max == 7.0 and m[a1].rule == "all_or_nothing"
    assert m[a2].item_scores[str(_pi(s, a2, "multiple_choice"))] == 0.0
    assert m[a2].item_scores[str(_pi(s, a2, "fill_blank"))] == 2.0
    assert m[a2].auto_score == 3.0
    assert m[a3].auto_score == 0.0
    # the short answer of a1 waits for an examiner, the blank ones are marked 0 at once
    by_attempt = {x.attempt_id: x for x in scripts(s["session_id"])}
    assert by_attempt[a1].status == "pending" and by_attempt[a1].final_method is None
    assert by_attempt[a2].status == "marked" and by_attempt[a2].final_method == "blank"
    assert by_attempt[a2].final_score == 0.0


@pytest.mark.parametrize("response, expected", [("AC", 2.0), ("A", 1.0), ("C", 1.0), ("AB", 0.0), ("ABC", 0.0),
                                                (None, 0.0)])
def test_partial_credit_rule_of_the_paper(ctx, response, expected):
    s = sitting(n=1, rule="partial")
    (aid,) = s["attempts"].values()
    if response is not None:
        answer(aid, _pi(s, aid, "multiple_choice"), response)
    finalise(aid)
    m = db.session.get(AttemptMarking, aid)
    assert m.item_scores[str(_pi(s, aid, "multiple_choice"))] == expected
    assert m.rule == "partial"


def test_option_ids_of_the_layout_are_marked_as_the_original_letters(ctx):
    """Delivery maps the attempt's opaque option ids back to the item's letters (layout); marking uses them."""
    s = sitting(n=1)
    (aid,) = s["attempts"].values()
    att = db.session.get(ExamAttempt, aid)
    entries = {e["pi"]: e for sec in att.layout["sections"] for e in sec["items"]}
    sc, mc = _pi(s, aid, "single_choice"), _pi(s, aid, "multiple_choice")

    def id_of(pi, letter):
        e = entries[pi]
        return e["ids"][e["order"].index("ABCD".index(letter))]
    out = attempts_service.save_answer(aid, sc, 10, id_of(sc, "B"))
    assert out["ok"]
    attempts_service.save_answer(aid, mc, 11, [id_of(mc, "C"), id_of(mc, "A")])
    finalise(aid)
    m = db.session.get(AttemptMarking, aid)
    assert m.item_scores[str(sc)] == 1.0 and m.item_scores[str(mc)] == 2.0


def test_absent_attempt_has_theory_absent(ctx):
    s = sitting(n=2)
    a1, a2 = s["attempts"].values()
    att = db.session.get(ExamAttempt, a2)
    att.status, att.entered_at = "not_started", None
    db.session.commit()
    attempts_service.finalise(a2, "collect_all")
    assert db.session.get(ExamAttempt, a2).status == "absent"
    r = db.session.execute(select(CandidateResult).where(
        CandidateResult.candidate_id == db.session.get(ExamAttempt, a2).candidate_id)).scalar_one()
    assert r.theory_status == "absent" and r.passed is False
    assert not [x for x in scripts(s["session_id"]) if x.attempt_id == a2]


def test_mark_session_batch_is_idempotent_and_equals_the_hook(ctx):
    s = sitting(n=4, rule="partial")
    aids = list(s["attempts"].values())
    for k, aid in enumerate(aids):
        answer(aid, _pi(s, aid, "single_choice"), "ABCD"[k % 4])
        answer(aid, _pi(s, aid, "multiple_choice"), ["AC", "A", "B", "ACD"][k])
        answer(aid, _pi(s, aid, "short_answer"), f"答案{k}")
        finalise(aid)
    before = {r.attempt_id: (r.auto_score, dict(r.item_scores)) for r in db.session.execute(select(AttemptMarking)).scalars()}
    n_scripts = len(scripts(s["session_id"]))
    out = marking_service.mark_session(s["session_id"])
    out2 = marking_service.mark_session(s["session_id"])
    assert out["marked"] == out2["marked"] == 4
    after = {r.attempt_id: (r.auto_score, dict(r.item_scores)) for r in db.session.execute(select(AttemptMarking)).scalars()}
    assert after == before
    assert len(scripts(s["session_id"])) == n_scripts == 4


# ------------------------------------------------------------------------------------------------
# examiners: constructed-response scripts
# ------------------------------------------------------------------------------------------------
def _constructed_sitting(n=2, double=False, threshold=10):
    s = sitting(n=n)
    for aid in s["attempts"].values():
        answer(aid, _pi(s, aid, "short_answer"), "切削用量三要素：切削速度、进给量、背吃刀量")
        finalise(aid)
    e1, e2 = examiner("ex1", s["station_id"]), examiner("ex2", s["station_id"])
    chief = examiner("chief1", s["station_id"], chief=True)
    mgr = manager("mgr1", s["station_id"])
    sess = marking_service.get_session(s["session_id"])
    if double:
        marking_service.save_settings(sess, mgr, double_marking=True, threshold_percent=threshold)
    pis = {x.paper_item_id for x in scripts(s["session_id"])}
    for pi in pis:
        _assign(s, pi, e1, e2)
    return s, e1, e2, chief, mgr


def test_examiner_marks_per_marking_point_and_the_result_follows(ctx):
    s, e1, _e2, _c, _m = _constructed_sitting(n=1)
    (sc,) = scripts(s["session_id"])
    marking_service.submit_mark(e1, sc.id, SheetInput(point_scores=["3.5"], comment="要点基本完整"))
    sc = db.session.get(Script, sc.id)
    assert (sc.status, sc.final_score, sc.final_method) == ("marked", 3.5, "single")
    r = db.session.execute(select(CandidateResult)).scalar_one()
    assert r.theory_status == "marked"
    # auto 0 (nothing else answered) + 3.5 of 11 points
    assert r.theory_score == pytest.approx(round(3.5 / 11 * 100, 1))
    assert _audit("mark.submit") == 1


@pytest.mark.parametrize("scores, fragment", [
    (["4.5"], "above the maximum"), (["-0.5"], "below zero"), (["1.2"], "multiple of 0.5"),
    ([""], "enter a value"), (["abc"], "not a number"), (["1", "2"], "reload the page"),
])
def test_bad_scores_are_refused_and_change_nothing(ctx, scores, fragment):
    s, e1, _e2, _c, _m = _constructed_sitting(n=1)
    (sc,) = scripts(s["session_id"])
    with pytest.raises(MarkingError) as e:
        marking_service.submit_mark(e1, sc.id, SheetInput(point_scores=scores))
    assert e.value.status == 422
    from flask_babel import force_locale
    with force_locale("en"):
        with pytest.raises(MarkingError) as e:
            marking_service.submit_mark(e1, sc.id, SheetInput(point_scores=scores))
    assert fragment in e.value.message
    assert db.session.execute(select(func.count(Mark.id))).scalar_one() == 0
    assert db.session.get(Script, sc.id).status == "pending"


def test_marking_a_script_not_assigned_to_you_is_refused(ctx):
    s, _e1, _e2, _c, _m = _constructed_sitting(n=1)
    other = examiner("ex-other", s["station_id"])
    (sc,) = scripts(s["session_id"])
    with pytest.raises(MarkingError) as e:
        marking_service.submit_mark(other, sc.id, SheetInput(point_scores=["1"]))
    assert e.value.status == 403
    with pytest.raises(MarkingError) as e:
        marking_service.script_view(other, sc.id)
    assert e.value.status == 403
    assert db.session.execute(select(func.count(Mark.id))).scalar_one() == 0


def test_script_view_is_anonymised(ctx):
    s, e1, _e2, _c, _m = _constructed_sitting(n=1)
    (sc,) = scripts(s["session_id"])
    v = marking_service.script_view(e1, sc.id)
    text = repr({k: v[k] for k in ("answer", "seat", "content")})
    assert s["tickets"][0] not in text and "考生1" not in text and v["seat"] is None
    assert "SA-REFERENCE-SECRET" in v["content"]["reference_answer"]


def test_revision_before_final_and_refusal_after(ctx):
    s, e1, e2, _c, _m = _constructed_sitting(n=1, double=True, threshold=25)
    (sc,) = scripts(s["session_id"])
    marking_service.submit_mark(e1, sc.id, SheetInput(point_scores=["2"]))
    marking_service.submit_mark(e1, sc.id, SheetInput(point_scores=["2.5"], comment="复核"))
    assert db.session.get(Script, sc.id).status == "pending"
    assert _audit("mark.revise") == 1
    marking_service.submit_mark(e2, sc.id, SheetInput(point_scores=["3"]))
    sc = db.session.get(Script, sc.id)
    assert (sc.status, sc.final_score, sc.final_method) == ("marked", 2.75, "mean")
    with pytest.raises(MarkingError) as e:
        marking_service.submit_mark(e1, sc.id, SheetInput(point_scores=["4"]))
    assert e.value.status == 409


def test_third_examiner_cannot_mark_a_fully_marked_script(ctx):
    s, e1, e2, _c, _m = _constructed_sitting(n=1, double=True, threshold=100)
    e3 = examiner("ex3", s["station_id"])
    (sc,) = scripts(s["session_id"])
    _assign(s, sc.paper_item_id, e3)
    marking_service.submit_mark(e1, sc.id, SheetInput(point_scores=["2"]))
    assert marking_service.next_script(e3, s["session_id"], sc.paper_item_id) == sc.id
    marking_service.submit_mark(e2, sc.id, SheetInput(point_scores=["2"]))
    assert marking_service.next_script(e3, s["session_id"], sc.paper_item_id) is None
    with pytest.raises(MarkingError) as e:
        marking_service.submit_mark(e3, sc.id, SheetInput(point_scores=["2"]))
    assert e.value.status == 409


# ------------------------------------------------------------------------------------------------
# double marking thresholds and adjudication
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("threshold, second, final", [
    (12.5, "3.5", 3.25),    # |3 - 3.5| = 0.5 = 12.5 % of 4: exactly at the threshold -> mean
    (12.5, "2.5", 2.75),
    (10, "3.5", None),      # 0.5 > 10 % of 4 = 0.4: just above -> chief examiner
    (12.5, "4", None),
])
def test_double_marking_threshold_edges(ctx, threshold, second, final):
    s, e1, e2, _c, _m = _constructed_sitting(n=1, double=True, threshold=threshold)
    (sc,) = scripts(s["session_id"])
    marking_service.submit_mark(e1, sc.id, SheetInput(point_scores=["3"]))
    marking_service.submit_mark(e2, sc.id, SheetInput(point_scores=[second]))
    sc = db.session.get(Script, sc.id)
    if final is None:
        assert sc.status == "adjudication" and sc.final_score is None
        r = db.session.execute(select(CandidateResult)).scalar_one()
        assert r.theory_status == "pending" and r.passed is None
    else:
        assert (sc.status, sc.final_method) == ("marked", "mean") and sc.final_score == pytest.approx(final)


def test_exactly_at_and_just_above_the_threshold_on_a_practical_task(ctx):
    """Practical task of 20 points, threshold 10 % = 2 points: 18 vs 16 → mean 17; 18 vs 15.5 → chief."""
    s, sess, mgr, e1, e2, chief = _practical(n=2, double=True)
    t0 = [x for x in scripts(s["session_id"], kind="practical")]
    first_task = min(x.paper_item_id for x in t0)
    a, b = [x for x in t0 if x.paper_item_id == first_task]
    marking_service.submit_mark(e1, a.id, sheet([{"deduction": "2"}, {"level": "A"}, {"level": "A"}]))   # 18
    marking_service.submit_mark(e2, a.id, sheet([{"deduction": "4"}, {"level": "A"}, {"level": "A"}]))   # 16
    a = db.session.get(Script, a.id)
    assert (a.status, a.final_score) == ("marked", 17.0)
    marking_service.submit_mark(e1, b.id, sheet([{"deduction": "2"}, {"level": "A"}, {"level": "A"}]))   # 18
    marking_service.submit_mark(e2, b.id, sheet([{"deduction": "4.5"}, {"level": "A"}, {"level": "A"}]))  # 15.5
    b = db.session.get(Script, b.id)
    assert b.status == "adjudication" and b.final_score is None
    # the chief adjudicates with a full sheet and a reason
    with pytest.raises(MarkingError) as e:
        marking_service.adjudicate(chief, b.id, sheet([{"deduction": "3"}, {"level": "A"}, {"level": "A"}]))
    assert e.value.status == 422  # no comment
    marking_service.adjudicate(chief, b.id, sheet([{"deduction": "3"}, {"level": "A"}, {"level": "A"}],
                                                  comment="复测 Φ40 超差 0.01"))
    b = db.session.get(Script, b.id)
    assert (b.status, b.final_score, b.final_method) == ("adjudicated", 17.0, "adjudicated")
    assert _audit("mark.adjudicate") == 1


def test_adjudication_refusals(ctx):
    s, e1, e2, chief, _m = _constructed_sitting(n=1, double=True, threshold=10)
    (sc,) = scripts(s["session_id"])
    # without two marks
    marking_service.submit_mark(e1, sc.id, SheetInput(point_scores=["1"]))
    with pytest.raises(MarkingError) as e:
        marking_service.adjudicate(chief, sc.id, SheetInput(point_scores=["2"], comment="x"))
    assert e.value.status == 409 and "1" in e.value.message
    # a non-chief examiner
    marking_service.submit_mark(e2, sc.id, SheetInput(point_scores=["4"]))
    assert db.session.get(Script, sc.id).status == "adjudication"
    with pytest.raises(MarkingError) as e:
        marking_service.adjudicate(e1, sc.id, SheetInput(point_scores=["2"], comment="x"))
    assert e.value.status == 403
    # a chief of another station
    from examsys.models import Station
    st2 = Station(code="X-9", name="他站", region="")
    db.session.add(st2)
    db.session.commit()
    far = examiner("chief-far", st2.id, chief=True)
    with pytest.raises(MarkingError) as e:
        marking_service.script_view(far, sc.id, adjudication=True)
    assert e.value.status == 403
    # a chief who marked the script
    chief2 = examiner("chief2", s["station_id"], chief=True)
    db.session.add(Mark(script_id=sc.id, examiner_id=chief2.id, kind="mark", score=2.0,
                        submitted_at=clock.now()))
    db.session.commit()
    with pytest.raises(MarkingError) as e:
        marking_service.adjudicate(chief2, sc.id, SheetInput(point_scores=["2"], comment="x"))
    assert e.value.status == 403
    # bad score by the chief
    with pytest.raises(MarkingError) as e:
        marking_service.adjudicate(chief, sc.id, SheetInput(point_scores=["5"], comment="x"))
    assert e.value.status == 422
    assert db.session.get(Script, sc.id).status == "adjudication"
    # examiners cannot mark a script waiting for the chief
    with pytest.raises(MarkingError) as e:
        marking_service.submit_mark(e1, sc.id, SheetInput(point_scores=["3"]))
    assert e.value.status == 409


def test_agreeing_marks_need_no_adjudication(ctx):
    s, e1, e2, chief, _m = _constructed_sitting(n=1, double=True, threshold=50)
    (sc,) = scripts(s["session_id"])
    marking_service.submit_mark(e1, sc.id, SheetInput(point_scores=["1"]))
    marking_service.submit_mark(e2, sc.id, SheetInput(point_scores=["2"]))
    with pytest.raises(MarkingError) as e:
        marking_service.adjudicate(chief, sc.id, SheetInput(point_scores=["2"], comment="x"))
    assert e.value.status == 409


# ------------------------------------------------------------------------------------------------
# practical tasks
# ------------------------------------------------------------------------------------------------
def _practical(n=2, double=False, start=True):
    s = sitting(n=n)
    paper = make_practical_paper(s["occupation_id"], station_id=s["station_id"])
    mgr = manager("mgr1", s["station_id"])
    sess = marking_service.get_session(s["session_id"])
    marking_service.save_settings(sess, mgr, double_marking=double, threshold_percent=10,
                                  practical_paper_id=paper.id, practical_form_label="A")
    e1, e2 = examiner("ex1", s["station_id"]), examiner("ex2", s["station_id"])
    chief = examiner("chief1", s["station_id"], chief=True)
    for it in marking_service.markable_items(sess):
        if it["part"] == "practical":
            marking_service.set_assignments(sess, mgr, it["pi"], [e1.id, e2.id])
    return s, sess, mgr, e1, e2, chief


def test_practical_scripts_exist_for_every_candidate_and_task(ctx):
    s, sess, mgr, e1, e2, chief = _practical(n=3)
    ps = scripts(s["session_id"], kind="practical")
    assert len(ps) == 3 * 2 and {x.status for x in ps} == {"pending"}
    assert len({x.code for x in ps}) == 6
    q = marking_service.examiner_queue(e1)
    assert {it["kind"] for it in q["items"]} == {"practical"} and all(it["total"] == 3 for it in q["items"])
    lst = marking_service.task_sheet_list(e1, s["session_id"], ps[0].paper_item_id)
    assert [r["seat"] for r in lst["rows"]] == ["01", "02", "03"]


def test_practical_sheet_levels_deductions_veto_and_weights(ctx):
    s, sess, mgr, e1, e2, chief = _practical(n=1)
    t1, t2 = sorted(scripts(s["session_id"], kind="practical"), key=lambda x: x.paper_item_id)
    marking_service.submit_mark(e1, t1.id, sheet([{"deduction": "1.5"}, {"level": "B"}, {"level": "C"}],
                                                 notes="Φ40 超差 0.01"))
    t1 = db.session.get(Script, t1.id)
    assert t1.final_score == pytest.approx(8.5 + 4.0 + 3.0)
    (mk,) = t1.marks
    assert mk.detail["sheet"]["criteria"][1] == {"mode": "level", "points": 5.0, "level": "B", "score": 4.0}
    assert mk.detail["notes"] == "Φ40 超差 0.01"
    marking_service.submit_mark(e2, t2.id, sheet(full_sheet(), veto=["1"], comment="严重违纪"))
    t2 = db.session.get(Script, t2.id)
    assert t2.final_score == 0.0 and t2.marks[0].detail["sheet"]["vetoed"]
    r = db.session.execute(select(CandidateResult)).scalar_one()
    # weights 60/40: 60 * 15.5/20 + 40 * 0/20 = 46.5
    assert r.practical_status == "marked" and r.practical_score == 46.5


@pytest.mark.parametrize("entries, veto, fragment", [
    ([{"deduction": "10.5"}, {"level": "A"}, {"level": "A"}], [], "above the maximum"),
    ([{"deduction": "-1"}, {"level": "A"}, {"level": "A"}], [], "below zero"),
    ([{"deduction": "0.3"}, {"level": "A"}, {"level": "A"}], [], "multiple of 0.5"),
    ([{"deduction": "0"}, {"level": "F"}, {"level": "A"}], [], "level A–E"),
    ([{"deduction": "0"}, {"level": ""}, {"level": "A"}], [], "enter a value"),
    ([{"deduction": "0"}, {"level": "A"}, {"level": "A"}], ["7"], "unknown veto"),
])
def test_bad_practical_sheets_are_refused(ctx, entries, veto, fragment):
    from flask_babel import force_locale
    s, sess, mgr, e1, e2, chief = _practical(n=1)
    t1 = scripts(s["session_id"], kind="practical")[0]
    with force_locale("en"), pytest.raises(MarkingError) as e:
        marking_service.submit_mark(e1, t1.id, sheet(entries, veto))
    assert e.value.status == 422 and fragment in e.value.message
    assert db.session.execute(select(func.count(Mark.id))).scalar_one() == 0


def test_practical_absence(ctx):
    s, sess, mgr, e1, e2, chief = _practical(n=1)
    t1, t2 = scripts(s["session_id"], kind="practical")
    marking_service.set_absent(e1, t1.id, True)
    marking_service.set_absent(e1, t2.id, True)
    r = db.session.execute(select(CandidateResult)).scalar_one()
    assert r.practical_status == "absent" and r.passed is False
    with pytest.raises(MarkingError):
        marking_service.submit_mark(e1, t1.id, sheet(full_sheet()))
    marking_service.set_absent(mgr, t2.id, False)
    assert db.session.get(Script, t2.id).status == "pending"
    marking_service.submit_mark(e1, t2.id, sheet(full_sheet()))
    with pytest.raises(MarkingError) as e:
        marking_service.set_absent(e1, t2.id, True)
    assert e.value.status == 409
    r = db.session.execute(select(CandidateResult)).scalar_one()
    # one task absent (0), one full: 40 % of 100
    assert r.practical_status == "marked" and r.practical_score == 40.0


def test_practical_scripts_wait_for_the_session_start(ctx):
    set_clock(_dt.datetime(2026, 5, 31, tzinfo=_dt.timezone.utc))
    from . import factories
    s = factories.make_session(n_candidates=2)
    paper = make_practical_paper(occupation_id(), station_id=s["station_id"])
    mgr = manager("mgr1", s["station_id"])
    sess = marking_service.get_session(s["session_id"])
    marking_service.save_settings(sess, mgr, double_marking=False, threshold_percent=10,
                                  practical_paper_id=paper.id, practical_form_label="A")
    assert scripts(s["session_id"]) == []  # the roster may still change before the start
    with pytest.raises(MarkingError) as e:
        marking_service.save_settings(sess, mgr, double_marking=False, threshold_percent=101)
    assert e.value.status == 422


def test_settings_and_assignments_are_checked(ctx):
    s, sess, mgr, e1, e2, chief = _practical(n=1)
    items = marking_service.markable_items(sess)
    pi = [it["pi"] for it in items if it["part"] == "practical"][0]
    from examsys.models import Station
    st2 = Station(code="X-8", name="他站", region="")
    db.session.add(st2)
    db.session.commit()
    far = examiner("ex-far", st2.id)
    with pytest.raises(MarkingError) as e:
        marking_service.set_assignments(sess, mgr, pi, [far.id])
    assert e.value.status == 422
    far_mgr = manager("mgr-far", st2.id)
    with pytest.raises(MarkingError) as e:
        marking_service.set_assignments(sess, far_mgr, pi, [e1.id])
    assert e.value.status == 404
    with pytest.raises(MarkingError) as e:
        marking_service.save_item_rule(sess, mgr, pi, double="triple", threshold_percent="")
    assert e.value.status == 422
    # per-item override: double marking for one task only
    marking_service.save_item_rule(sess, mgr, pi, double="double", threshold_percent="5")
    by_pi = {x.paper_item_id: x for x in scripts(s["session_id"], kind="practical")}
    assert by_pi[pi].marks_required == 2 and by_pi[pi].threshold_fraction == 0.05
    assert [x.marks_required for p, x in by_pi.items() if p != pi] == [1]


def test_changing_the_practical_paper_after_marks_is_refused(ctx):
    s, sess, mgr, e1, e2, chief = _practical(n=1)
    t1 = scripts(s["session_id"], kind="practical")[0]
    marking_service.submit_mark(e1, t1.id, sheet(full_sheet()))
    with pytest.raises(MarkingError) as e:
        marking_service.save_settings(sess, mgr, double_marking=False, threshold_percent=10, practical_paper_id=None)
    assert e.value.status == 409
    assert len(scripts(s["session_id"], kind="practical")) == 2


def test_examiner_statistics_from_double_marks(ctx):
    s, sess, mgr, e1, e2, chief = _practical(n=3, double=True)
    ps = scripts(s["session_id"], kind="practical")
    for k, x in enumerate(ps):
        marking_service.submit_mark(e1, x.id, sheet([{"deduction": str(k % 3)}, {"level": "A"}, {"level": "B"}]))
        marking_service.submit_mark(e2, x.id, sheet([{"deduction": str(k % 3 + 0.5)}, {"level": "A"}, {"level": "B"}]))
    st = marking_service.examiner_stats([s["session_id"]])
    by = {name: x for name, x in st["examiners"]}
    a, b = by["考评员 ex1"], by["考评员 ex2"]
    assert a.n_marks == b.n_marks == 6 and a.n_double == 6
    # ex2 deducts 0.5 of 20 points more everywhere: -2.5 percentage points
    assert a.mean_signed_difference == pytest.approx(2.5) and b.mean_signed_difference == pytest.approx(-2.5)
    assert a.severity == pytest.approx(1.25) and b.severity == pytest.approx(-1.25)
    assert a.agreement_icc3 == pytest.approx(1.0) and a.agreement_icc < 1.0
    assert st["pairs"] == 6

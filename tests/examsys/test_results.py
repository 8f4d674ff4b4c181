"""Results: part scores out of 100, the pass rule per grade (and its table), 综合评审 entry, publication and
locking, the two-person change of a published result, exports with masked ID numbers, the score report."""
from __future__ import annotations

import io
import zipfile

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from examsys.extensions import db
from examsys.models import AuditLog, CandidateResult, ExamCandidate, ResultChange, Script, Station
from examsys.services import marking as marking_service
from examsys.services import results as results_service
from examsys.services.marking import MarkingError, SheetInput

from .test_marking_helpers import (answer, examiner, finalise, full_sheet, items_of, make_practical_paper, manager,
                                   scripts, sheet, sitting)

RIGHT = {"single_choice": "B", "multiple_choice": "AC", "true_false": True}


def _complete(*, grade=4, n=2, theory_right=(True, False), practical_deductions=("0", "10")):
    """A session of ``grade`` with a theory paper (candidate k answers everything right when
    ``theory_right[k]``) and an attached practical paper marked with the given first deductions."""
    s = sitting(n=n, grade=grade)
    aids = list(s["attempts"].values())
    for k, aid in enumerate(aids):
        for pi, t, d in items_of(s, aid):
            if theory_right[k] or t == "short_answer":
                answer(aid, pi, RIGHT.get(t) or (d["answers"][0] if t == "fill_blank" else "答案"))
        finalise(aid)
    mgr = manager("mgr1", s["station_id"])
    mgr2 = manager("mgr2", s["station_id"])
    e1 = examiner("ex1", s["station_id"])
    paper = make_practical_paper(s["occupation_id"], grade=grade, station_id=s["station_id"])
    sess = marking_service.get_session(s["session_id"])
    marking_service.save_settings(sess, mgr, double_marking=False, threshold_percent=10,
                                  practical_paper_id=paper.id, practical_form_label="A")
    for it in marking_service.markable_items(sess):
        marking_service.set_assignments(sess, mgr, it["pi"], [e1.id])
    for sc in scripts(s["session_id"], status="pending"):
        if sc.kind == "constructed":
            marking_service.submit_mark(e1, sc.id, SheetInput(point_scores=["4"]))
        else:
            k = aids.index(sc.attempt_id)
            marking_service.submit_mark(e1, sc.id, sheet([{"deduction": practical_deductions[k]}, {"level": "A"},
                                                          {"level": "A"}]))
    s.update(mgr=mgr, mgr2=mgr2, e1=e1, sess=sess, aids=aids)
    return s


def _rows(s):
    return {c.ticket_no: r for r, c in results_service.session_rows(s["sess"])}


def test_part_scores_and_pass_for_grade_4(ctx):
    s = _complete()
    rows = _rows(s)
    good, weak = rows[s["tickets"][0]], rows[s["tickets"][1]]
    assert (good.theory_score, good.theory_status, good.practical_score, good.practical_status) == (100.0, "marked", 100.0, "marked")
    assert good.review_status == "not_required" and good.passed is True
    # weak: theory 4 of 11 points (the short answer) = 36.4; both tasks 10/20 -> 60*0.5 + 40*0.5 = 50
    assert weak.theory_score == 36.4 and weak.practical_score == 50.0 and weak.passed is False
    assert weak.detail["theory"] == {"auto": 0.0, "constructed": 4.0, "raw": 4.0, "max": 11.0}
    assert [t["score"] for t in weak.detail["practical"]["tasks"]] == [10.0, 10.0]
    assert weak.detail["rule"] == {"parts": ["theory", "practical"], "pass_mark": 60.0}


def test_decide_and_rounding_edges(ctx):
    parts = ["theory", "practical"]
    ok = {"theory_status": "marked", "practical_status": "adjudicated"}
    assert results_service.decide(dict(ok, theory_score=60.0, practical_score=60.0), parts, 60) is True
    assert results_service.decide(dict(ok, theory_score=59.9, practical_score=99.0), parts, 60) is False
    assert results_service.decide({"theory_status": "pending", "practical_status": "marked", "practical_score": 80},
                                  parts, 60) is None
    assert results_service.decide({"theory_status": "pending", "practical_status": "marked", "practical_score": 50},
                                  parts, 60) is False  # a failed part decides already
    assert results_service.decide({"theory_status": "absent", "practical_status": "marked", "practical_score": 90},
                                  parts, 60) is False
    assert results_service.decide({"theory_status": "marked", "theory_score": 70,
                                   "practical_status": "not_in_session"}, parts, 60) is None
    assert results_service.round1(59.95) == 60.0 and results_service.round1(59.94) == 59.9
    assert results_service.round1(2 / 3 * 100) == 66.7


@pytest.mark.parametrize("grade, parts", [(5, ["theory", "practical"]), (4, ["theory", "practical"]),
                                          (3, ["theory", "practical"]), (2, ["theory", "practical", "review"]),
                                          (1, ["theory", "practical", "review"])])
def test_default_rule_per_grade(ctx, grade, parts):
    assert results_service.rule_for(grade) == (parts, 60.0)


def test_rule_table_is_configurable_by_admins_only(ctx, users):
    from examsys.models import User
    admin = db.session.get(User, users["admin"].id)
    mgr = db.session.get(User, users["station_manager"].id)
    with pytest.raises(MarkingError) as e:
        results_service.set_rule(4, ["theory"], 60, mgr)
    assert e.value.status == 403
    for bad in [(9, ["theory"], 60), (4, [], 60), (4, ["theory"], 101), (4, ["theory"], "x")]:
        with pytest.raises(MarkingError) as e:
            results_service.set_rule(*bad, admin)
        assert e.value.status == 422
    results_service.set_rule(4, ["theory", "nonsense"], 70, admin)
    assert results_service.rule_for(4) == (["theory"], 70.0)
    assert db.session.execute(select(func.count(AuditLog.id)).where(AuditLog.action == "results.pass_rule")).scalar_one() == 1


def test_grade_2_needs_the_comprehensive_review(ctx):
    s = _complete(grade=2, theory_right=(True, True), practical_deductions=("0", "0"))
    rows = _rows(s)
    t1, t2 = s["tickets"]
    assert rows[t1].review_status == "pending" and rows[t1].passed is None
    with pytest.raises(MarkingError) as e:
        results_service.publish(s["sess"], s["mgr"])
    assert e.value.status == 409
    ids = {c.ticket_no: c.id for c in db.session.execute(select(ExamCandidate)).scalars()}
    for bad in ("101", "abc", "60.55", "-1"):
        with pytest.raises(MarkingError) as e:
            results_service.set_review_scores(s["sess"], s["mgr"], {str(ids[t1]): bad})
        assert e.value.status == 422 and t1 in e.value.message
    assert _rows(s)[t1].review_status == "pending"
    results_service.set_review_scores(s["sess"], s["mgr"], {str(ids[t1]): "60", str(ids[t2]): "59.9"})
    rows = _rows(s)
    assert rows[t1].passed is True and rows[t2].passed is False
    results_service.set_review_scores(s["sess"], s["mgr"], {str(ids[t2]): "缺考"})
    assert _rows(s)[t2].review_status == "absent"
    assert results_service.publish(s["sess"], s["mgr"]) == 2


def test_grade_4_session_has_no_review(ctx):
    s = _complete()
    with pytest.raises(MarkingError) as e:
        results_service.set_review_scores(s["sess"], s["mgr"], {"1": "80"})
    assert e.value.status == 409


def test_publication_is_refused_while_marking_is_pending(ctx):
    s = sitting(n=1)
    (aid,) = s["attempts"].values()
    answer(aid, [pi for pi, t, _d in items_of(s, aid) if t == "short_answer"][0], "答案")
    finalise(aid)
    mgr = manager("mgr1", s["station_id"])
    sess = marking_service.get_session(s["session_id"])
    with pytest.raises(MarkingError) as e:
        results_service.publish(sess, mgr)
    assert e.value.status == 409 and s["tickets"][0] in e.value.message
    assert db.session.execute(select(CandidateResult)).scalar_one().status == "draft"


def test_published_results_are_locked(ctx):
    s = _complete()
    assert results_service.publish(s["sess"], s["mgr"]) == 2
    rows = _rows(s)
    assert {r.status for r in rows.values()} == {"published"}
    with pytest.raises(MarkingError) as e:
        results_service.publish(s["sess"], s["mgr"])
    assert e.value.status == 409
    # marking after publication
    sc = scripts(s["session_id"], kind="practical")[0]
    with pytest.raises(MarkingError) as e:
        marking_service.submit_mark(s["e1"], sc.id, sheet(full_sheet()))
    assert e.value.status == 409
    with pytest.raises(MarkingError) as e:
        marking_service.set_absent(s["e1"], sc.id, True)
    assert e.value.status == 409
    with pytest.raises(MarkingError) as e:
        marking_service.save_settings(s["sess"], s["mgr"], double_marking=True, threshold_percent=10)
    assert e.value.status == 409
    # recomputation never touches a published row
    before = {t: (r.theory_score, r.practical_score, r.passed, r.version) for t, r in rows.items()}
    db.session.execute(Script.__table__.update().where(Script.session_id == s["session_id"],
                                                       Script.kind == "practical").values(final_score=0.0))
    db.session.commit()
    marking_service.mark_session(s["session_id"])
    after = {t: (r.theory_score, r.practical_score, r.passed, r.version) for t, r in _rows(s).items()}
    assert after == before


def test_two_person_change_of_a_published_result(ctx):
    s = _complete(practical_deductions=("0", "0"))
    results_service.publish(s["sess"], s["mgr"])
    weak = _rows(s)[s["tickets"][1]]
    with pytest.raises(MarkingError) as e:
        results_service.request_change(weak.id, s["mgr"], {"theory_score": "61"}, "")
    assert e.value.status == 422
    with pytest.raises(MarkingError) as e:
        results_service.request_change(weak.id, s["mgr"], {"theory_score": "200"}, "复核")
    assert e.value.status == 422
    with pytest.raises(MarkingError) as e:
        results_service.request_change(weak.id, s["mgr"], {"theory_score": "36.4"}, "复核")
    assert e.value.status == 422  # nothing changes
    ch = results_service.request_change(weak.id, s["mgr"], {"theory_score": "61", "practical_score": ""},
                                        "复核发现第 8 题漏评")
    assert ch.status == "pending" and ch.proposed == {"theory_score": 61.0}
    assert db.session.get(CandidateResult, weak.id).theory_score == 36.4  # not applied yet
    with pytest.raises(MarkingError) as e:
        results_service.request_change(weak.id, s["mgr2"], {"theory_score": "62"}, "again")
    assert e.value.status == 409
    with pytest.raises(MarkingError) as e:
        results_service.decide_change(ch.id, s["mgr"], True)
    assert e.value.status == 403
    st2 = Station(code="X-7", name="他站", region="")
    db.session.add(st2)
    db.session.commit()
    with pytest.raises(MarkingError) as e:
        results_service.decide_change(ch.id, manager("mgr-far", st2.id), True)
    assert e.value.status == 404
    results_service.decide_change(ch.id, s["mgr2"], True, "已核对原始答卷")
    row = db.session.get(CandidateResult, weak.id)
    assert (row.theory_score, row.passed, row.version, row.status) == (61.0, True, 2, "published")
    entry = db.session.execute(select(AuditLog).where(AuditLog.action == "result.change")).scalar_one()
    assert entry.before["theory_score"] == 36.4 and entry.before["passed"] is False
    assert entry.after["theory_score"] == 61.0 and entry.after["passed"] is True
    assert "复核发现第 8 题漏评" in entry.reason and entry.actor_label == "mgr2"
    with pytest.raises(MarkingError) as e:
        results_service.decide_change(ch.id, s["mgr2"], True)
    assert e.value.status == 409


def test_admin_may_approve_and_changes_may_be_rejected(ctx, users):
    from examsys.models import User
    s = _complete()
    results_service.publish(s["sess"], s["mgr"])
    weak = _rows(s)[s["tickets"][1]]
    ch = results_service.request_change(weak.id, s["mgr"], {"practical_score": "75"}, "复核")
    results_service.decide_change(ch.id, s["mgr2"], False, "证据不足")
    assert db.session.get(ResultChange, ch.id).status == "rejected"
    assert db.session.get(CandidateResult, weak.id).practical_score == 50.0
    ch = results_service.request_change(weak.id, s["mgr"], {"practical_score": "75"}, "复核")
    results_service.decide_change(ch.id, db.session.get(User, users["admin"].id), True)
    assert db.session.get(CandidateResult, weak.id).practical_score == 75.0


def test_change_of_a_draft_is_refused(ctx):
    s = _complete()
    weak = _rows(s)[s["tickets"][1]]
    with pytest.raises(MarkingError) as e:
        results_service.request_change(weak.id, s["mgr"], {"theory_score": "61"}, "复核")
    assert e.value.status == 409


def _sheet_rows(data: bytes):
    wb = load_workbook(io.BytesIO(data), read_only=True)
    return [list(r) for r in wb.worksheets[0].iter_rows(values_only=True)]


def test_export_has_masked_id_numbers_only(ctx):
    s = _complete()
    data = results_service.export_xlsx(s["mgr"], include_drafts=True)
    rows = _sheet_rows(data)
    assert rows[0] == results_service.EXPORT_HEADER and len(rows) == 3
    assert results_service.export_xlsx(s["mgr"]) and len(_sheet_rows(results_service.export_xlsx(s["mgr"]))) == 1
    results_service.publish(s["sess"], s["mgr"])
    rows = _sheet_rows(results_service.export_xlsx(s["mgr"], session_id=s["session_id"]))
    by_ticket = {r[6]: r for r in rows[1:]}
    good = by_ticket[s["tickets"][0]]
    assert good[9] == 100.0 and good[10] == "已评" and good[15] == "合格" and good[16] == "是"
    assert "********" in good[8]
    blob = b"".join(zipfile.ZipFile(io.BytesIO(results_service.export_xlsx(s["mgr"]))).read(n)
                    for n in zipfile.ZipFile(io.BytesIO(results_service.export_xlsx(s["mgr"]))).namelist())
    for full_id in s["ids"].values():
        assert full_id.encode() not in blob
    # filters: occupation and grade
    assert len(_sheet_rows(results_service.export_xlsx(s["mgr"], grade=3))) == 1
    assert len(_sheet_rows(results_service.export_xlsx(s["mgr"], grade=4, occupation_id=s["occupation_id"]))) == 3
    # another station's manager sees nothing of it
    st2 = Station(code="X-6", name="他站", region="")
    db.session.add(st2)
    db.session.commit()
    assert len(_sheet_rows(results_service.export_xlsx(manager("mgr-far", st2.id)))) == 1


def test_score_report(ctx):
    s = _complete()
    results_service.publish(s["sess"], s["mgr"])
    good = _rows(s)[s["tickets"][0]]
    v = results_service.report_view(s["mgr"], good.id)
    assert v["candidate"].ticket_no == s["tickets"][0] and len(v["tasks"]) == 2
    assert [t["weight"] for t in v["tasks"]] == [60.0, 40.0]
    st2 = Station(code="X-5", name="他站", region="")
    db.session.add(st2)
    db.session.commit()
    with pytest.raises(MarkingError) as e:
        results_service.report_view(manager("mgr-far", st2.id), good.id)
    assert e.value.status == 404

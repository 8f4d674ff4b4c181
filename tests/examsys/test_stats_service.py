"""Item statistics service and the loop back into the bank.

* the score matrix of a delivered + marked sitting equals the one built independently from the stored letters
  and the marks (scoring.matrix.build_score_matrix), incomplete marking is left out until final;
* answers given through delivery's per-attempt option ids reach the analysis as the item's own letters;
* a planted mis-key is flagged with the proposed key and enters the review queue with its evidence (audited);
* refreshing is incremental and does nothing when nothing changed;
* a dismissal is recorded and audited, and the same flag is not raised again on that version;
* pooled statistics over sittings update Item.stat_* and the assembler's difficulty;
* accepting the proposed key runs the re-marking; the hook refreshes a finished sitting.
"""
from __future__ import annotations

import datetime as _dt

import numpy as np
import pytest
from sqlalchemy import delete, func, select

from examsys import clock
from examsys.extensions import db
from examsys.models import (AnalysisRun, AttemptMarking, AuditLog, ExamResponse, Item, ItemFlag, ItemReview, ItemStat,
                            KeyCorrection, Occupation, Script, StatRow)
from examsys.services import items as items_service
from examsys.services import stats as stats_service
from examsys.services import stats_loop
from examsys.services.stats import StatsError
from scoring.matrix import build_score_matrix
from scoring.report import analyze

from . import test_marking_helpers as MH
from .test_stats_helpers import simulated_sitting


def _flags(item_id=None):
    q = select(ItemFlag)
    if item_id is not None:
        q = q.where(ItemFlag.item_id == item_id)
    return list(db.session.execute(q.order_by(ItemFlag.id)).scalars())


def _audit(action):
    return list(db.session.execute(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)).scalars())


def _miskey_item(s):
    return s["forms"]["A"][2][2]  # position 3


# ---------------------------------------------------------------------------------------------------------
def test_matrix_of_a_delivered_and_marked_sitting(ctx):
    s = MH.sitting(n=4, per_type={"single_choice": 2, "multiple_choice": 1, "true_false": 1, "fill_blank": 1,
                                  "short_answer": 1})
    answers = [["B", "A", "AC", True, "FB-SECRET-5", "答案一"],
               ["C", "A", "A", False, "错", ""],
               ["B", None, "ACD", True, "FB-SECRET-5", "答案三"],
               ["D", "B", "AC", None, None, "答案四"]]
    aids = list(s["attempts"].values())
    slots = s["forms"]["A"]
    for aid, row in zip(aids, answers):
        for (pi, _t, _c), v in zip(slots, row):
            if v is not None:
                MH.answer(aid, pi, v)
    for aid in aids:
        MH.finalise(aid)
    sid = s["session_id"]
    # the short answers are not marked yet: three rows wait, the blank one is complete (marked 0 at once)
    res = stats_service.refresh_session(sid, force=True)
    rows = {r.attempt_id: r for r in db.session.execute(select(StatRow)).scalars()}
    assert len(rows) == 4 and sum(r.complete for r in rows.values()) == 1
    assert res["runs"] == []  # fewer than two complete answer sheets
    sa_pi = slots[-1][0]
    for k, sc in enumerate(db.session.execute(select(Script).where(Script.paper_item_id == sa_pi,
                                                                   Script.status == "pending")).scalars()):
        sc.status, sc.final_score, sc.final_method = "marked", [3.5, 2.0, 4.0][k], "single"
        sc.finalised_at = clock.now()
    db.session.commit()
    assert not stats_service.is_fresh(sid)
    res = stats_service.refresh_session(sid)
    assert res["changed"] and len(res["runs"]) == 1
    assert res["rows"]["built"] == 3  # only the rows whose marks changed
    run = res["runs"][0]
    assert run.n_candidates == 4 and run.n_pending == 0
    # independent reference: the stored letters and the marks through scoring.build_score_matrix
    order = sorted(aids)
    am = {m.attempt_id: m.item_scores for m in db.session.execute(select(AttemptMarking)).scalars()}
    finals = {(sc.attempt_id, sc.paper_item_id): sc.final_score for sc in db.session.execute(select(Script)).scalars()}
    stored = {(r.attempt_id, r.paper_item_id): r.answer for r in db.session.execute(select(ExamResponse)).scalars()}
    cells, keys = [], {}
    for aid in order:
        row = []
        for pi, t, c in slots:
            v = stored.get((aid, pi))
            if t == "true_false":
                row.append("" if v is None else ("T" if v else "F"))
            elif t in ("single_choice", "multiple_choice"):
                row.append(v or "")
            elif not v:  # a blank constructed answer is an omission scoring 0
                row.append("")
            elif t == "fill_blank":
                row.append(str(am[aid][str(pi)]))
            else:
                row.append(str(finals[(aid, pi)]))
        cells.append(row)
    for pi, t, c in slots:
        key = None
        if t in ("single_choice", "multiple_choice"):
            key = c["key"]
        elif t == "true_false":
            key = "T" if c["key"] else "F"
        keys[str(pi)] = (key, c["points"], len(c["options"])) if t == "single_choice" else (key, c["points"])
    ref = build_score_matrix([f"a{a}" for a in order], [str(pi) for pi, _t, _c in slots], cells, keys)
    ref_report = analyze(ref, thresholds=stats_service.thresholds(), cut=0.6 * float(ref.max_points.sum()))
    got = stats_service.item_rows(run)
    assert [st.position for st, _i, _v in got] == [1, 2, 3, 4, 5, 6]
    for (st, _i, _v), it in zip(got, ref_report["items"]):
        assert st.kind == it["kind"] and st.n_omitted == it["n_omitted"]
        for name in ("p", "sd", "r_rest", "alpha_if_deleted"):
            a, b = getattr(st, name), it[name]
            assert (a is None and b is None) or a == pytest.approx(b, rel=1e-9, abs=1e-12), name
        assert st.options == it["options"]
    assert run.test["alpha"] == pytest.approx(ref_report["test"]["alpha"], rel=1e-9)
    assert got[0][0].options["C"]["count"] == 1 and got[0][0].options["B"]["is_key"]
    assert set(got[2][0].options) == {"A", "AC", "ACD"}


def test_answers_given_by_option_id_arrive_as_the_items_letters(app):
    from . import factories as f
    frozen = clock.FrozenClock(f.T0 - _dt.timedelta(minutes=10))
    clock.set_clock(frozen)
    with app.app_context():
        info = f.make_session(n_candidates=2, labels=("A",), per_type={"single_choice": 2, "multiple_choice": 1})
    frozen.current = f.T0 + _dt.timedelta(seconds=5)
    chosen = {}
    for ticket in info["tickets"]:
        client = app.test_client()
        page = f.enter_exam(client, ticket, info["ids"][ticket])
        aid = info["attempts"][ticket]
        ents = f.entries(f.layout_of(app, aid))
        for k, e in enumerate(ents, start=1):
            pick = [e["ids"][1], e["ids"][3]] if e["t"] == "multiple_choice" else e["ids"][1]
            r = f.api(client, page["token"], aid, "answers", {"item": e["pi"], "seq": k, "answer": pick})
            assert r.status_code == 200
            letters = "".join(sorted("ABCD"[e["order"][i]] for i in ((1, 3) if e["t"] == "multiple_choice" else (1,))))
            chosen[(aid, e["pi"])] = letters
        assert f.api(client, page["token"], aid, "submit", {"confirm": True}).status_code == 200
    with app.app_context():
        res = stats_service.refresh_session(info["session_id"], force=True)
        run = res["runs"][0]
        slots = stats_service.form_slots(run.form_id)
        data = stats_service.load_rows(run.form_id, [info["session_id"]])
        from scoring.sitting import mask_label
        for i, aid in enumerate(data["attempt_ids"]):
            for j, slot in enumerate(slots):
                assert mask_label(int(data["masks"][i, j]), slot.kind) == chosen[(int(aid), slot.paper_item_id)]
        # the shuffled display order differs between the candidates, the letters are the item's own
        for st, _i, _v in stats_service.item_rows(run):
            assert sum(o["count"] for o in st.options.values()) == 2


def test_planted_miskey_is_flagged_and_enters_the_review_queue(ctx, make_user):
    reviewer = make_user("rev1", "reviewer")
    s = simulated_sitting(n=150, miskey=3)
    item_id = _miskey_item(s)
    res = stats_service.refresh_session(s["session_id"])
    assert res["changed"] and res["loop"]["raised"] >= 1
    run = res["runs"][0]
    st = {x.position: x for x, _i, _v in stats_service.item_rows(run)}[3]
    codes = [f["code"] for f in st.flags]
    assert "possible_miskey" in codes and st.severity == "error"
    mk = next(f for f in st.flags if f["code"] == "possible_miskey")
    assert mk["evidence"]["current_key"] == "B" and mk["evidence"]["proposed_key"] == "C"
    item = db.session.get(Item, item_id)
    assert item.status == "flagged"
    flags = {f.code: f for f in _flags(item_id)}
    mk_flag = flags["possible_miskey"]
    assert mk_flag.status == "open" and mk_flag.evidence["flag"]["proposed_key"] == "C"
    assert flags["possible_miskey"].n == 150 and flags["possible_miskey"].reason_zh
    # no other item of the sitting is flagged
    assert {f.item_id for f in _flags()} == {item_id}
    assert item_id in [i.id for i in items_service.review_queue(reviewer)]
    open_codes = [f.code for f in stats_loop.open_flags_by_item([item_id])[item_id]]
    assert open_codes == sorted(flags, key=lambda c: flags[c].id)
    assert any(e.object_id == str(item_id) and e.after["code"] == "possible_miskey" for e in _audit("item.flag"))
    assert any(e.object_id == str(item_id) and e.after["status"] == "flagged" for e in _audit("item.status"))


def test_refresh_is_incremental_and_a_no_op_when_nothing_changed(ctx):
    s = simulated_sitting(n=60, miskey=None)
    sid = s["session_id"]
    first = stats_service.refresh_session(sid)
    assert first["changed"] and first["rows"]["built"] == 60
    again = stats_service.refresh_session(sid)
    assert not again["changed"] and again["runs"][0].id == first["runs"][0].id
    # one attempt loses its machine marks: its row is rebuilt and left out until it is marked again
    from examsys.services import marking as marking_service
    aid = min(s["attempts"].values())
    db.session.execute(delete(AttemptMarking).where(AttemptMarking.attempt_id == aid))
    db.session.commit()
    third = stats_service.refresh_session(sid)
    assert third["changed"] and third["rows"]["built"] == 1
    assert third["runs"][0].n_candidates == 59 and third["runs"][0].n_pending == 1
    marking_service.mark_attempts([aid])
    fourth = stats_service.refresh_session(sid)
    assert fourth["changed"] and fourth["rows"]["built"] == 1 and fourth["runs"][0].n_candidates == 60
    assert db.session.execute(select(func.count(AnalysisRun.id))).scalar() == 1
    assert db.session.execute(select(func.count(ItemStat.id))).scalar() == 12
    # a forced rebuild rebuilds every row
    assert stats_service.refresh_session(sid, force=True, rebuild=True)["rows"]["built"] == 60


def test_dismissal_is_recorded_and_the_flag_is_not_raised_again(ctx, make_user):
    reviewer = make_user("rev2", "reviewer")
    writer = make_user("wri2", "writer")
    s = simulated_sitting(n=150, miskey=3)
    item_id = _miskey_item(s)
    stats_service.refresh_session(s["session_id"])
    flags = _flags(item_id)
    assert len(flags) >= 2
    with pytest.raises(StatsError) as e:
        stats_loop.dismiss_flag(flags[0].id, reviewer, "   ")
    assert e.value.status == 422 and db.session.get(ItemFlag, flags[0].id).status == "open"
    with pytest.raises(StatsError) as e:
        stats_loop.dismiss_flag(flags[0].id, writer, "no")
    assert e.value.status == 403
    item = db.session.get(Item, item_id)
    item.created_by = reviewer.id  # the author may not decide on their own item
    db.session.commit()
    with pytest.raises(StatsError) as e:
        stats_loop.dismiss_flag(flags[0].id, reviewer, "ok")
    assert e.value.status == 403
    item.created_by = None
    db.session.commit()
    for f in flags[:-1]:
        stats_loop.dismiss_flag(f.id, reviewer, "题目经专家复核无误")
        assert db.session.get(Item, item_id).status == "flagged"  # another flag is still open
    stats_loop.dismiss_flag(flags[-1].id, reviewer, "题目经专家复核无误")
    assert db.session.get(Item, item_id).status == "approved"
    assert {f.status for f in _flags(item_id)} == {"dismissed"}
    reviews = list(db.session.execute(select(ItemReview).where(ItemReview.item_id == item_id,
                                                               ItemReview.decision == "dismiss_flag")).scalars())
    assert len(reviews) == len(flags) and reviews[0].comment == "题目经专家复核无误"
    assert len([e for e in _audit("item.flag_dismiss") if e.object_id == str(item_id)]) == len(flags)
    with pytest.raises(StatsError) as e:
        stats_loop.dismiss_flag(flags[0].id, reviewer, "again")
    assert e.value.status == 409
    # the same evidence again: no new flag, the item stays approved
    res = stats_service.refresh_session(s["session_id"], force=True)
    assert res["loop"]["raised"] == 0
    assert db.session.get(Item, item_id).status == "approved"
    assert len(_flags(item_id)) == len(flags)


def test_pooled_statistics_across_sittings_update_the_item_and_the_assembler(ctx, app):
    from examsys.models import Station
    a = simulated_sitting(n=120, miskey=None, seed=11)
    st2 = Station(code="F-002", name="第二鉴定站", region="测试")
    db.session.add(st2)
    db.session.commit()
    b = simulated_sitting(n=80, miskey=None, seed=12, paper_id=a["paper_id"], station_id=st2.id, prefix="2027")
    ra = stats_service.refresh_session(a["session_id"])["runs"][0]
    rb = stats_service.refresh_session(b["session_id"])["runs"][0]
    pa = {x.item_id: x for x, _i, _v in stats_service.item_rows(ra)}
    pb = {x.item_id: x for x, _i, _v in stats_service.item_rows(rb)}
    assert set(pa) == set(pb)
    for item_id in pa:
        item = db.session.get(Item, item_id)
        assert item.stat_n == 200
        assert item.stat_p == pytest.approx((120 * pa[item_id].p + 80 * pb[item_id].p) / 200, abs=1e-4)
        z = (117 * np.arctanh(pa[item_id].r_rest) + 77 * np.arctanh(pb[item_id].r_rest)) / 194
        assert item.stat_r_rest == pytest.approx(np.tanh(z), abs=1e-4)
    # the form is used at two stations: a stations run with groups (DIF / station leak)
    srun = db.session.execute(select(AnalysisRun).where(AnalysisRun.scope == "stations")).scalars().one()
    assert srun.n_candidates == 200 and srun.test["dif"] is not None and sorted(srun.session_ids) == sorted(
        [a["session_id"], b["session_id"]])
    # the assembler prefers the measured p and D once N is large enough
    from examsys.services import papers as papers_service
    occ = db.session.execute(select(Occupation)).scalars().first()
    app.config["STATS_MIN_N_FOR_ASSEMBLY"] = 150
    items = {int(d["id"]): d for d in papers_service.bank_items(occ, 4)}
    some = next(iter(pa))
    assert items[some]["difficulty"] == pytest.approx(db.session.get(Item, some).stat_p, abs=1e-4)
    pooled_d = (120 * pa[some].d_ul27 + 80 * pb[some].d_ul27) / 200
    assert items[some]["discrimination"] == pytest.approx(pooled_d, abs=1e-4)
    app.config["STATS_MIN_N_FOR_ASSEMBLY"] = 500
    items = {int(d["id"]): d for d in papers_service.bank_items(occ, 4)}
    assert items[some]["difficulty"] is None  # the factory items carry no expected difficulty


def test_accepting_the_proposed_key_remarks_and_resolves_the_flag(ctx, make_user):
    admin = make_user("adm3", "admin")
    reviewer = make_user("rev3", "reviewer")
    s = simulated_sitting(n=150, miskey=3)
    item_id = _miskey_item(s)
    sid = s["session_id"]
    stats_service.refresh_session(sid)
    flag = next(f for f in _flags(item_id) if f.code == "possible_miskey")
    with pytest.raises(StatsError) as e:
        stats_loop.preview_key(flag.id, reviewer)
    assert e.value.status == 403
    _f, _item, key, preview = stats_loop.preview_key(flag.id, admin)
    assert key == "C" and preview.new_content["key"] == "C" and preview.changed_rows
    with pytest.raises(StatsError) as e:
        stats_loop.accept_key(flag.id, admin, "")
    assert e.value.status == 422 and db.session.execute(select(func.count(KeyCorrection.id))).scalar() == 0
    before = {m.attempt_id: m.auto_score for m in db.session.execute(select(AttemptMarking)).scalars()}
    stats_loop.accept_key(flag.id, admin, "专家确认答案应为 C", preview.digest)
    assert db.session.execute(select(KeyCorrection.content)).scalar_one() == {"key": "C"}
    after = {m.attempt_id: m.auto_score for m in db.session.execute(select(AttemptMarking)).scalars()}
    assert after != before
    flag = db.session.get(ItemFlag, flag.id)
    assert flag.status == "resolved" and flag.resolution == "key_corrected"
    assert _audit("item.flag_accept_key")[-1].after["new_key"] == "C"
    # the statistics follow the corrected key: item 3 now discriminates and is no longer a mis-key
    res = stats_service.refresh_session(sid)
    assert res["changed"]
    st = {x.position: x for x, _i, _v in stats_service.item_rows(res["runs"][0])}[3]
    assert st.key == "C" and st.r_rest > 0.2 and "possible_miskey" not in (st.flag_codes or "")


def test_a_new_version_or_retiring_ends_the_flag(ctx, make_user):
    admin = make_user("adm4", "admin")
    s = simulated_sitting(n=150, miskey=3)
    item_id = _miskey_item(s)
    stats_service.refresh_session(s["session_id"])
    item = db.session.get(Item, item_id)
    assert stats_loop.open_flags(item)
    items_service.retire(item_id, admin, "答案有误，停用")
    item = db.session.get(Item, item_id)
    assert not stats_loop.open_flags(item)
    assert {state for _f, state in stats_loop.flags_of_item(item)} == {"retired"}
    assert stats_loop.resolve_flags(item_id, admin) >= 1
    db.session.commit()
    assert {f.resolution for f in _flags(item_id)} == {"retired"}


def test_the_marking_hook_refreshes_a_finished_sitting(ctx):
    s = MH.sitting(n=3, per_type={"single_choice": 3, "true_false": 1})
    aids = sorted(s["attempts"].values())
    for aid in aids:
        for pi, t, _c in s["forms"]["A"]:
            MH.answer(aid, pi, True if t == "true_false" else "B")
    MH.finalise(aids[0])
    MH.finalise(aids[1])
    assert stats_service.current_runs(s["session_id"]) == []  # the sitting is still open
    MH.finalise(aids[2])
    runs = stats_service.current_runs(s["session_id"])
    assert len(runs) == 1 and runs[0].trigger == "marking" and runs[0].n_candidates == 3


def test_errors_are_clear(ctx, make_user):
    reviewer = make_user("rev5", "reviewer")
    manager_other = make_user("mgr5", "station_manager", station=None)
    with pytest.raises(StatsError) as e:
        stats_service.refresh_session(999)
    assert e.value.status == 404
    with pytest.raises(StatsError):
        stats_loop.dismiss_flag(999, reviewer, "x")
    s = simulated_sitting(n=40, miskey=None)
    with pytest.raises(StatsError) as e:
        stats_service.session_for(manager_other, s["session_id"])
    assert e.value.status == 404

"""Results: part scores out of 100, the pass rule per grade, review, publication, two-person changes,
exports and the candidate's score report.

**Part scores.** Theory = (machine-marked points + final scores of the constructed-response scripts) /
the form's total × 100. Practical = Σ_t w_t · score_t / max_t / Σ_t w_t × 100 with the task weights
``PaperItem.weight`` (by points when a weight is missing). 综合评审 (review) is entered by the station
(0–100). Scores are rounded half up to one decimal before the pass rule is applied.

**Part statuses**: ``absent`` (缺考), ``pending`` (marking not finished), ``marked``, ``adjudicated`` (a
chief examiner decided at least one script), ``not_in_session`` (the grade needs the part but this session
has no paper for it), ``not_required``.

**Pass rule** (:class:`PassRule`, default for grades 5–3: theory + practical; grades 2–1: + review; pass mark
60): a candidate passes when every required part is final and ≥ the pass mark; fails as soon as one required
part is absent or final and below it; otherwise the decision is open (``passed = None``).

**Publication**: the station manager publishes a session once no part is pending; published results are
locked. A later change (:func:`request_change`) needs a reason and the approval of a second person — another
station manager of the station or an admin (:func:`decide_change`); it is audited with before/after.
"""
from __future__ import annotations

import datetime as _dt
import io
from decimal import ROUND_HALF_UP, Decimal

from flask_babel import gettext as _
from sqlalchemy import func, insert, or_, select, update

from .. import clock
from ..extensions import db
from ..models import (AttemptMarking, CandidateResult, ExamAttempt, ExamCandidate, ExamSession, ItemVersion,
                      Occupation, PaperForm, PaperItem, PassRule, ResultChange, Script, SessionMarking, Station,
                      User)
from ..models.exams import ABSENT as ATTEMPT_ABSENT
from ..models.exams import SUBMITTED
from ..models.marks import ADJUDICATED, ADJUDICATION, DRAFT, FINAL_SCRIPT_STATUSES, MARKED, PENDING, PUBLISHED
from . import audit
from .exams import can_manage, sessions_for
from .marking import CONSTRUCTED_TYPES, MarkingError, practical_source, theory_paper

PARTS = ("theory", "practical", "review")
DEFAULT_PASS_MARK = 60.0
FINAL_PART = ("marked", "adjudicated")
MAX_REASON = 2000


class ResultError(MarkingError):
    """A refused results operation (message, HTTP status, problems)."""


def round1(x: float | None) -> float | None:
    """Half-up rounding to one decimal (``59.95`` → ``60.0``)."""
    if x is None:
        return None
    return float(Decimal(repr(float(x))).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


# ----------------------------------------------------------------------------------------------------
# pass rules
# ----------------------------------------------------------------------------------------------------
def default_parts(grade: int) -> list[str]:
    return ["theory", "practical", "review"] if int(grade) in (1, 2) else ["theory", "practical"]


def rule_for(grade: int) -> tuple[list[str], float]:
    row = db.session.get(PassRule, int(grade))
    if row is None:
        return default_parts(grade), DEFAULT_PASS_MARK
    return [p for p in PARTS if p in (row.parts or [])], float(row.pass_mark)


def all_rules() -> list[dict]:
    out = []
    for g in (5, 4, 3, 2, 1):
        parts, mark = rule_for(g)
        out.append({"grade": g, "parts": parts, "pass_mark": mark, "custom": db.session.get(PassRule, g) is not None})
    return out


def set_rule(grade, parts, pass_mark, actor) -> None:
    """Admin: the parts a grade must pass and its pass mark (audited)."""
    if getattr(actor, "role", None) != "admin":
        raise ResultError(_("Only an administrator can change the pass rules."), status=403)
    try:
        grade = int(grade)
    except (TypeError, ValueError):
        raise ResultError(_("Grade: choose 1 to 5."), status=422) from None
    if grade not in (1, 2, 3, 4, 5):
        raise ResultError(_("Grade: choose 1 to 5."), status=422)
    parts = [p for p in PARTS if p in set(parts or [])]
    if not parts:
        raise ResultError(_("Parts: choose at least one part."), status=422)
    try:
        mark = float(pass_mark)
    except (TypeError, ValueError):
        raise ResultError(_("Pass mark: enter a number from 0 to 100."), status=422) from None
    if not 0 <= mark <= 100:
        raise ResultError(_("Pass mark: enter a number from 0 to 100."), status=422)
    before = dict(zip(("parts", "pass_mark"), rule_for(grade)))
    row = db.session.get(PassRule, grade)
    if row is None:
        row = PassRule(grade=grade)
        db.session.add(row)
    row.parts, row.pass_mark, row.updated_by, row.updated_at = parts, mark, actor.id, clock.now()
    audit.record("results.pass_rule", "pass_rule", grade, actor=actor, before=before,
                 after={"parts": parts, "pass_mark": mark})
    db.session.commit()


def decide(values: dict, parts: list[str], pass_mark: float) -> bool | None:
    """The pass decision for part values ``{part}_score`` / ``{part}_status`` (see the module docstring)."""
    undecided = False
    for p in parts:
        status, score = values.get(f"{p}_status"), values.get(f"{p}_score")
        if status == "absent":
            return False
        if status in FINAL_PART and score is not None:
            if score < pass_mark - 1e-9:
                return False
        else:
            undecided = True
    return None if undecided else True


# ----------------------------------------------------------------------------------------------------
# computing part results
# ----------------------------------------------------------------------------------------------------
def _chunks(seq, n=5000):
    seq = list(seq)
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


def compute(sess: ExamSession, candidate_ids=None, *, auto_override: dict | None = None) -> dict[int, dict]:
    """Part values per candidate (``theory_*``, ``practical_*``, ``detail``) from the stored marks; nothing is
    written. ``auto_override``: ``{attempt_id: marking.AutoResult}`` replaces stored machine marks (re-mark
    preview)."""
    q = (select(ExamCandidate.id, ExamAttempt.id, ExamAttempt.status, ExamAttempt.paper_form_id)
         .join(ExamAttempt, ExamAttempt.candidate_id == ExamCandidate.id).where(ExamCandidate.session_id == sess.id))
    if candidate_ids is not None and len(candidate_ids) <= 5000:
        q = q.where(ExamCandidate.id.in_(list(candidate_ids)))
    rows = list(db.session.execute(q))
    if candidate_ids is not None:
        wanted = set(candidate_ids)
        rows = [r for r in rows if r[0] in wanted]
    if not rows:
        return {}
    attempt_ids = [r[1] for r in rows]
    tp = theory_paper(sess)
    src = practical_source(sess)
    # scripts of these attempts
    scripts: dict[int, list] = {}
    sq = select(Script.attempt_id, Script.kind, Script.paper_item_id, Script.status, Script.final_score,
                Script.max_points).where(Script.session_id == sess.id)
    if len(rows) <= 5000 and candidate_ids is not None:
        sq = sq.where(Script.attempt_id.in_(attempt_ids))
    for r in db.session.execute(sq):
        scripts.setdefault(r[0], []).append(r)
    out: dict[int, dict] = {}
    # theory
    if tp is not None:
        forms = {f.id: f for f in tp.forms}
        form_max, n_constructed = {}, {}
        for fid in forms:
            pts = list(db.session.execute(select(PaperItem.points, ItemVersion.type).join(
                ItemVersion, ItemVersion.id == PaperItem.item_version_id).where(PaperItem.form_id == fid)))
            form_max[fid] = float(sum(p for p, _t in pts))
            n_constructed[fid] = sum(1 for _p, t in pts if t in CONSTRUCTED_TYPES)
        auto = {}
        aq = select(AttemptMarking.attempt_id, AttemptMarking.auto_score).where(AttemptMarking.session_id == sess.id)
        if len(rows) <= 5000 and candidate_ids is not None:
            aq = aq.where(AttemptMarking.attempt_id.in_(attempt_ids))
        for aid, sc in db.session.execute(aq):
            auto[aid] = sc
        for aid, r in (auto_override or {}).items():
            auto[aid] = r.auto_score
    # practical tasks per form
    tasks: dict[int, list[tuple[int, float, float | None]]] = {}
    if src is not None:
        paper, pform = src
        fids = [pform.id] if pform is not None else [f.id for f in paper.forms]
        for fid in fids:
            tasks[fid] = list(db.session.execute(select(PaperItem.id, PaperItem.points, PaperItem.weight).join(
                ItemVersion, ItemVersion.id == PaperItem.item_version_id).where(
                PaperItem.form_id == fid, ItemVersion.type == "practical_task").order_by(PaperItem.position)))
    for cid, aid, status, fid in rows:
        v: dict = {"detail": {}}
        own = scripts.get(aid, [])
        # -- theory
        if tp is None:
            v["theory_status"], v["theory_score"] = "not_in_session", None
        elif status == ATTEMPT_ABSENT:
            v["theory_status"], v["theory_score"] = "absent", None
        elif status != SUBMITTED or aid not in auto:
            v["theory_status"], v["theory_score"] = "pending", None
        else:
            cs = [s for s in own if s[1] == "constructed"]
            if len(cs) < n_constructed.get(fid, 0) or any(s[3] not in FINAL_SCRIPT_STATUSES for s in cs):
                v["theory_status"], v["theory_score"] = "pending", None
            else:
                raw = float(auto[aid]) + sum(float(s[4] or 0.0) for s in cs)
                mx = form_max.get(fid) or 0.0
                v["theory_score"] = round1(raw / mx * 100.0) if mx > 0 else 0.0
                v["theory_status"] = ADJUDICATED if any(s[3] == ADJUDICATED for s in cs) else MARKED
                v["detail"]["theory"] = {"auto": float(auto[aid]), "constructed": sum(float(s[4] or 0) for s in cs),
                                         "raw": raw, "max": mx}
        # -- practical
        if src is None:
            v["practical_status"], v["practical_score"] = "not_in_session", None
        else:
            tfid = src[1].id if src[1] is not None else fid
            tlist = tasks.get(tfid, [])
            ps = {s[2]: s for s in own if s[1] == "practical"}
            if not tlist or len([t for t in tlist if t[0] in ps]) < len(tlist):
                v["practical_status"], v["practical_score"] = "pending", None
            elif all(ps[t[0]][3] == "absent" for t in tlist):
                v["practical_status"], v["practical_score"] = "absent", None
            elif any(ps[t[0]][3] not in FINAL_SCRIPT_STATUSES for t in tlist):
                v["practical_status"], v["practical_score"] = "pending", None
            else:
                weights = [t[2] for t in tlist]
                parts = []
                for t in tlist:
                    s = ps[t[0]]
                    parts.append({"pi": t[0], "score": float(s[4] or 0.0), "max": float(s[5]), "weight": t[2],
                                  "status": s[3]})
                if all(w is not None for w in weights) and sum(weights) > 0:
                    val = sum(p["weight"] * p["score"] / p["max"] for p in parts if p["max"] > 0) / sum(weights) * 100
                else:
                    tot = sum(p["max"] for p in parts)
                    val = sum(p["score"] for p in parts) / tot * 100 if tot > 0 else 0.0
                v["practical_score"] = round1(val)
                v["practical_status"] = ADJUDICATED if any(p["status"] == ADJUDICATED for p in parts) else MARKED
                v["detail"]["practical"] = {"tasks": parts}
        out[cid] = v
    return out


def _snapshot(row: CandidateResult) -> dict:
    return {"theory_score": row.theory_score, "theory_status": row.theory_status,
            "practical_score": row.practical_score, "practical_status": row.practical_status,
            "review_score": row.review_score, "review_status": row.review_status, "passed": row.passed}


def _expire_results() -> None:
    """Bulk statements bypass the identity map: expire loaded results so they are read again."""
    for obj in list(db.session.identity_map.values()):
        if isinstance(obj, CandidateResult):
            db.session.expire(obj)


def refresh(session_id: int, candidate_ids=None, *, commit: bool = True, auto_override: dict | None = None) -> int:
    """Recompute the draft results of a session (or of some candidates); published results are not touched.
    Returns the number of rows written (bulk INSERT / UPDATE by primary key)."""
    sess = db.session.get(ExamSession, session_id)
    if sess is None:
        return 0
    db.session.flush()
    values = compute(sess, candidate_ids, auto_override=auto_override)
    if not values:
        if commit:
            db.session.commit()
        return 0
    parts, mark = rule_for(sess.grade)
    existing = {}
    q = select(CandidateResult.id, CandidateResult.candidate_id, CandidateResult.status, CandidateResult.review_score,
               CandidateResult.review_status)
    if candidate_ids is None:
        rows = db.session.execute(q.where(CandidateResult.session_id == session_id)).all()
    else:
        rows = [r for chunk in _chunks(values) for r in db.session.execute(
            q.where(CandidateResult.candidate_id.in_(chunk))).all()]
    for rid, cid, status, rscore, rstatus in rows:
        existing[cid] = (rid, status, rscore, rstatus)
    now = clock.now()
    new_rows, updates = [], []
    for cid, v in values.items():
        ex = existing.get(cid)
        if ex is not None and ex[1] == PUBLISHED:
            continue
        review_score, review_status = (ex[2], ex[3]) if ex is not None else (None, "pending")
        if "review" not in parts:
            review_status = "not_required"
        elif review_status == "not_required":
            review_status = "pending" if review_score is None else MARKED
        vals = {"theory_score": v["theory_score"], "theory_status": v["theory_status"],
                "practical_score": v["practical_score"], "practical_status": v["practical_status"],
                "review_status": review_status, "computed_at": now}
        vals["passed"] = decide(dict(vals, review_score=review_score), parts, mark)
        detail = dict(v["detail"])
        detail["rule"] = {"parts": parts, "pass_mark": mark}
        vals["detail"] = detail
        if ex is None:
            new_rows.append(dict(vals, session_id=session_id, candidate_id=cid, status=DRAFT, version=1,
                                 review_score=None))
        else:
            updates.append(dict(vals, id=ex[0]))
    for chunk in _chunks(new_rows):
        db.session.execute(insert(CandidateResult), chunk)
    for chunk in _chunks(updates):
        db.session.execute(update(CandidateResult), chunk)
    _expire_results()
    if commit:
        db.session.commit()
    else:
        db.session.flush()
    return len(new_rows) + len(updates)


# ----------------------------------------------------------------------------------------------------
# access
# ----------------------------------------------------------------------------------------------------
def session_for(user, session_id: int) -> ExamSession:
    sess = db.session.get(ExamSession, session_id)
    if sess is None or not can_manage(user, sess):
        raise ResultError(_("The session was not found."), status=404)
    return sess


def result_for(user, result_id: int) -> CandidateResult:
    row = db.session.get(CandidateResult, result_id)
    if row is None:
        raise ResultError(_("The result was not found."), status=404)
    session_for(user, row.session_id)
    return row


def sessions_overview(user) -> list[dict]:
    out = []
    for sess in sessions_for(user):
        n = db.session.execute(select(func.count(ExamCandidate.id)).where(ExamCandidate.session_id == sess.id)).scalar_one()
        counts = dict(db.session.execute(select(Script.status, func.count(Script.id)).where(
            Script.session_id == sess.id).group_by(Script.status)).all())
        st = db.session.get(SessionMarking, sess.id)
        out.append({"session": sess, "candidates": n, "pending": counts.get(PENDING, 0),
                    "adjudication": counts.get(ADJUDICATION, 0),
                    "final": sum(v for k, v in counts.items() if k in FINAL_SCRIPT_STATUSES),
                    "published": st is not None and st.results_status == PUBLISHED,
                    "published_at": st.published_at if st is not None else None})
    return out


def session_rows(sess: ExamSession) -> list[tuple[CandidateResult, ExamCandidate]]:
    rows = list(db.session.execute(select(CandidateResult, ExamCandidate).join(
        ExamCandidate, ExamCandidate.id == CandidateResult.candidate_id).where(
        CandidateResult.session_id == sess.id)))
    return sorted(rows, key=lambda rc: rc[1].ticket_no)


def pending_count(sess: ExamSession) -> int:
    parts = ("theory_status", "practical_status", "review_status")
    n = 0
    for row, _c in session_rows(sess):
        if any(getattr(row, p) == "pending" for p in parts):
            n += 1
    return n


# ----------------------------------------------------------------------------------------------------
# review (综合评审) scores, publication
# ----------------------------------------------------------------------------------------------------
ABSENT_WORDS = {"absent", "缺考", "缺"}


def _parse_score(text, label: str) -> tuple[float | None, str | None]:
    """``("", None)`` → not entered; ``absent``/缺考 → absent; a number 0–100 with at most one decimal."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return None, None
    s = str(text).strip()
    if s.lower() in ABSENT_WORDS:
        return None, "absent"
    try:
        v = float(s)
    except ValueError:
        raise ResultError(_("%(field)s: “%(value)s” is not a score from 0 to 100.", field=label, value=s[:20]),
                          status=422) from None
    if not (0 <= v <= 100) or v != v:
        raise ResultError(_("%(field)s: “%(value)s” is not a score from 0 to 100.", field=label, value=s[:20]),
                          status=422)
    if round1(v) != v:
        raise ResultError(_("%(field)s: use at most one decimal place.", field=label), status=422)
    return v, None


def set_review_scores(sess: ExamSession, actor, entries: dict) -> int:
    """Enter 综合评审 scores ``{candidate_id: "85" | "缺考" | ""}`` (all or nothing; audited)."""
    session_for(actor, sess.id)
    parts, mark = rule_for(sess.grade)
    if "review" not in parts:
        raise ResultError(_("This grade has no comprehensive review (综合评审)."), status=409)
    refresh(sess.id, commit=False)
    rows = {r.candidate_id: (r, c) for r, c in session_rows(sess)}
    problems, changes = [], []
    for key, text in entries.items():
        try:
            cid = int(key)
        except (TypeError, ValueError):
            continue
        if cid not in rows:
            problems.append(_("Unknown candidate."))
            continue
        row, cand = rows[cid]
        label = _("Review score of %(ticket)s", ticket=cand.ticket_no)
        try:
            score, flag = _parse_score(text, label)
        except ResultError as e:
            problems.append(e.message)
            continue
        status = "absent" if flag == "absent" else ("pending" if score is None else MARKED)
        if (row.review_score, row.review_status) == (score, status):
            continue
        if row.status == PUBLISHED:
            problems.append(_("%(ticket)s: the result is published; request a change instead.", ticket=cand.ticket_no))
            continue
        changes.append((row, cand, score, status))
    if problems:
        db.session.rollback()
        raise ResultError(problems[0], status=422, problems=problems)
    for row, cand, score, status in changes:
        before = {"review_score": row.review_score, "review_status": row.review_status}
        row.review_score, row.review_status = score, status
        row.passed = decide(_snapshot(row), parts, mark)
        audit.record("results.review", "candidate_result", row.id, actor=actor, before=before,
                     after={"review_score": score, "review_status": status, "ticket": cand.ticket_no})
    db.session.commit()
    return len(changes)


def publish(sess: ExamSession, actor) -> int:
    """Publish (lock) the session's results; refused while any part is still pending."""
    session_for(actor, sess.id)
    st = db.session.get(SessionMarking, sess.id)
    if st is not None and st.results_status == PUBLISHED:
        raise ResultError(_("The results of this session are already published."), status=409)
    refresh(sess.id, commit=False)
    n = db.session.execute(select(func.count(CandidateResult.id)).where(
        CandidateResult.session_id == sess.id)).scalar_one()
    if not n:
        db.session.rollback()
        raise ResultError(_("There are no results to publish."), status=409)
    pending = db.session.execute(
        select(ExamCandidate.ticket_no).join(CandidateResult, CandidateResult.candidate_id == ExamCandidate.id)
        .where(CandidateResult.session_id == sess.id,
               or_(CandidateResult.theory_status == "pending", CandidateResult.practical_status == "pending",
                   CandidateResult.review_status == "pending")).order_by(ExamCandidate.ticket_no)).scalars().all()
    if pending:
        db.session.rollback()
        raise ResultError(_("%(n)s candidate(s) still have parts pending (marking or review), e.g. %(ticket)s; "
                            "nothing was published.", n=len(pending), ticket=pending[0]), status=409)
    now = clock.now()
    if st is None:
        st = SessionMarking(session_id=sess.id, double_marking=False, threshold_fraction=0.10)
        db.session.add(st)
    st.results_status, st.published_at, st.published_by = PUBLISHED, now, actor.id
    db.session.execute(update(CandidateResult).where(CandidateResult.session_id == sess.id)
                       .values(status=PUBLISHED, published_at=now, published_by=actor.id)
                       .execution_options(synchronize_session=False))
    _expire_results()
    counts = dict(db.session.execute(select(CandidateResult.passed, func.count(CandidateResult.id)).where(
        CandidateResult.session_id == sess.id).group_by(CandidateResult.passed)).all())
    summary = {"candidates": n, "passed": counts.get(True, 0), "failed": counts.get(False, 0),
               "open": counts.get(None, 0)}
    audit.record("results.publish", "exam_session", sess.id, actor=actor, before={"status": DRAFT},
                 after={"status": PUBLISHED, **summary})
    db.session.commit()
    return n


# ----------------------------------------------------------------------------------------------------
# two-person changes of published results
# ----------------------------------------------------------------------------------------------------
CHANGE_FIELDS = ("theory_score", "practical_score", "review_score")


def field_label(name: str) -> str:
    return {"theory_score": _("Theory"), "practical_score": _("Practical"),
            "review_score": _("Comprehensive review")}.get(name, name)


def request_change(result_id: int, actor, proposed: dict, reason: str) -> ResultChange:
    """Ask for a change of a published result (new part scores and a reason); applied only after a second
    person approves it."""
    row = result_for(actor, result_id)
    if row.status != PUBLISHED:
        raise ResultError(_("This result is not published yet; it changes with the marks."), status=409)
    reason = (reason or "").strip()
    if not reason:
        raise ResultError(_("Reason: give the reason for the change."), status=422)
    if len(reason) > MAX_REASON:
        raise ResultError(_("Reason: at most %(n)s characters.", n=MAX_REASON), status=422)
    if db.session.execute(select(ResultChange.id).where(ResultChange.result_id == row.id,
                                                        ResultChange.status == "pending")).first():
        raise ResultError(_("A change of this result is already waiting for approval."), status=409)
    new, problems = {}, []
    for f in CHANGE_FIELDS:
        if f not in proposed:
            continue
        text = proposed.get(f)
        if text is None or (isinstance(text, str) and not text.strip()):
            continue
        try:
            score, flag = _parse_score(text, field_label(f))
        except ResultError as e:
            problems.append(e.message)
            continue
        if flag == "absent":
            problems.append(_("%(field)s: enter a score.", field=field_label(f)))
            continue
        if score != getattr(row, f):
            new[f] = score
    if problems:
        raise ResultError(problems[0], status=422, problems=problems)
    if not new:
        raise ResultError(_("Nothing to change: the proposed scores equal the published ones."), status=422)
    ch = ResultChange(result_id=row.id, requested_by=actor.id, requested_at=clock.now(), reason=reason,
                      before=_snapshot(row), proposed=new, status="pending")
    db.session.add(ch)
    db.session.flush()
    audit.record("result.change_request", "candidate_result", row.id, actor=actor, before=_snapshot(row),
                 after={"proposed": new, "change_id": ch.id}, reason=reason)
    db.session.commit()
    return ch


def decide_change(change_id: int, actor, approve: bool, note: str = "") -> ResultChange:
    """Approve (apply) or reject a pending change; the approver must be another person than the requester:
    a station manager of the session's station or an admin."""
    ch = db.session.get(ResultChange, change_id)
    if ch is None:
        raise ResultError(_("The change request was not found."), status=404)
    row = result_for(actor, ch.result_id)
    if ch.status != "pending":
        raise ResultError(_("This change request has already been decided."), status=409)
    if ch.requested_by == actor.id:
        raise ResultError(_("A second person must approve: you requested this change yourself."), status=403)
    note = (note or "").strip()[:MAX_REASON]
    now = clock.now()
    ch.decided_by, ch.decided_at, ch.decision_note = actor.id, now, note
    if not approve:
        ch.status = "rejected"
        audit.record("result.change_reject", "candidate_result", row.id, actor=actor,
                     after={"change_id": ch.id}, reason=note or ch.reason)
        db.session.commit()
        return ch
    before = _snapshot(row)
    sess = db.session.get(ExamSession, row.session_id)
    parts, mark = rule_for(sess.grade)
    for f, v in (ch.proposed or {}).items():
        if f not in CHANGE_FIELDS:
            continue
        setattr(row, f, v)
        part = f.split("_")[0]
        setattr(row, f"{part}_status", MARKED)
    row.passed = decide(_snapshot(row), parts, mark)
    row.version = (row.version or 1) + 1
    detail = dict(row.detail or {})
    detail["changes"] = list(detail.get("changes") or []) + [{"change_id": ch.id, "at": now.isoformat()}]
    row.detail = detail
    ch.status = "approved"
    audit.record("result.change", "candidate_result", row.id, actor=actor, before=before, after=_snapshot(row),
                 reason=f"{ch.reason} / {_('approved by %(name)s', name=actor.username)}" + (f": {note}" if note else ""))
    db.session.commit()
    return ch


def changes_for(user, status: str | None = "pending") -> list[tuple[ResultChange, CandidateResult, ExamCandidate]]:
    q = (select(ResultChange, CandidateResult, ExamCandidate, ExamSession)
         .join(CandidateResult, CandidateResult.id == ResultChange.result_id)
         .join(ExamCandidate, ExamCandidate.id == CandidateResult.candidate_id)
         .join(ExamSession, ExamSession.id == CandidateResult.session_id).order_by(ResultChange.id.desc()))
    if status:
        q = q.where(ResultChange.status == status)
    if user.role != "admin":
        q = q.where(ExamSession.station_id == user.station_id)
    return [(ch, r, c) for ch, r, c, _s in db.session.execute(q.limit(500)).all()]


# ----------------------------------------------------------------------------------------------------
# export and report
# ----------------------------------------------------------------------------------------------------
EXPORT_HEADER = ["鉴定站 Station", "场次 Session", "考试日期 Date", "职业代码 Occupation code", "职业/工种 Occupation",
                 "等级 Grade", "准考证号 Ticket", "姓名 Name", "身份证号 ID number (masked)",
                 "理论 Theory", "理论状态 Theory status", "技能 Practical", "技能状态 Practical status",
                 "综合评审 Review", "综合评审状态 Review status", "结果 Result", "发布 Published", "发布时间 Published at"]

STATUS_ZH = {"absent": "缺考", "pending": "待评", "marked": "已评", "adjudicated": "已仲裁",
             "not_in_session": "本场无此项", "not_required": "不要求"}


def _export_query(user, *, session_id=None, station_id=None, occupation_id=None, grade=None,
                  include_drafts: bool = False):
    R, C, S = CandidateResult, ExamCandidate, ExamSession
    q = (select(Station.name, S.name, S.starts_at, Occupation.code, Occupation.work_type, Occupation.name, S.grade,
                C.ticket_no, C.name, C.id_masked, R.theory_score, R.theory_status, R.practical_score,
                R.practical_status, R.review_score, R.review_status, R.passed, R.status, R.published_at)
         .join(C, C.id == R.candidate_id).join(S, S.id == R.session_id)
         .join(Station, Station.id == S.station_id).join(Occupation, Occupation.id == S.occupation_id)
         .order_by(S.starts_at, S.id, C.ticket_no))
    if user.role != "admin":
        q = q.where(S.station_id == user.station_id)
    if session_id:
        q = q.where(S.id == session_id)
    if station_id:
        q = q.where(S.station_id == station_id)
    if occupation_id:
        q = q.where(S.occupation_id == occupation_id)
    if grade:
        q = q.where(S.grade == grade)
    if not include_drafts:
        q = q.where(R.status == PUBLISHED)
    return q


def _cell(text):
    if isinstance(text, str) and text[:1] in ("=", "+", "-", "@"):
        return "'" + text  # no formulas from free text
    return text


def _local(t: _dt.datetime | None, fmt="%Y-%m-%d %H:%M") -> str:
    if t is None:
        return ""
    return t.astimezone(_dt.timezone(_dt.timedelta(hours=8))).strftime(fmt)


def export_rows(user, **filters):
    """Header, then one list per result (ID numbers masked)."""
    yield EXPORT_HEADER
    verdict = {True: "合格", False: "不合格", None: "未定"}
    day_cache: dict = {}
    for (station, sname, starts, occ_code, work_type, occ_name, grade, ticket, name, masked, ts, tst, ps, pst, rs, rst,
         passed, status, published_at) in db.session.execute(_export_query(user, **filters)):
        day = day_cache.get(starts)
        if day is None:
            day = day_cache[starts] = _local(starts, "%Y-%m-%d")
        yield [_cell(station), _cell(sname), day, occ_code, _cell(work_type or occ_name), grade, ticket, _cell(name),
               masked, ts, STATUS_ZH.get(tst, tst), ps, STATUS_ZH.get(pst, pst), rs, STATUS_ZH.get(rst, rst),
               verdict[passed], "是" if status == PUBLISHED else "否", _local(published_at)]


def export_xlsx(user, **filters) -> bytes:
    """The results as .xlsx (openpyxl write-only mode, streaming rows)."""
    from openpyxl import Workbook
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("成绩 Results")
    ws.freeze_panes = "A2"
    for row in export_rows(user, **filters):
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def report_view(user, result_id: int) -> dict:
    """The candidate's score report (printable)."""
    row = result_for(user, result_id)
    cand = db.session.get(ExamCandidate, row.candidate_id)
    sess = db.session.get(ExamSession, row.session_id)
    station = db.session.get(Station, sess.station_id)
    occ = db.session.get(Occupation, sess.occupation_id)
    parts, mark = rule_for(sess.grade)
    tasks = []
    for t in ((row.detail or {}).get("practical") or {}).get("tasks") or []:
        pi = db.session.get(PaperItem, t["pi"])
        iv = db.session.get(ItemVersion, pi.item_version_id) if pi else None
        title = (iv.stem or "").strip().splitlines()[0][:60] if iv and iv.stem else ""
        tasks.append(dict(t, position=pi.position if pi else None, title=title))
    publisher = db.session.get(User, row.published_by) if row.published_by else None
    return {"result": row, "candidate": cand, "session": sess, "station": station, "occupation": occ,
            "parts": parts, "pass_mark": mark, "tasks": tasks, "publisher": publisher,
            "changes": list(db.session.execute(select(ResultChange).where(
                ResultChange.result_id == row.id, ResultChange.status == "approved")).scalars())}


def form_label_of(form_id: int) -> str:
    return db.session.execute(select(PaperForm.label).where(PaperForm.id == form_id)).scalar_one_or_none() or ""

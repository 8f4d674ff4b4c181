"""Marking: machine marking of finalised attempts, scripts for examiners, marks, double marking and
adjudication, the practical scoring sheet (评分记录表), marking settings and examiner statistics.

**Machine marking** (:func:`mark_attempts`, :func:`mark_session`): the responses of many attempts are loaded
in one query (answers as raw JSON text, decoded once per distinct text), put into one ``N × J`` matrix per
paper form and marked by :func:`question_bank.sitting_marking.mark_sitting` with the paper's multiple-choice
rule and the newest key correction of each item version. One :class:`AttemptMarking` row per attempt keeps
the auto-marked total and the per-item scores. Responses are stored by delivery in the item's original label
space (``"B"``, ``"AC"``, ``true``, text: :func:`question_bank.layout.answer_to_original` maps the attempt's
option ids back through ``ExamAttempt.layout`` when the answer is saved), so they are marked as stored.

**Scripts** (:class:`Script`, a markable unit = attempt × item): one per submitted attempt and
constructed-response item (short answer, calculation, essay), created when the attempt is marked — a blank
answer is marked 0 at once (``final_method = "blank"``) — and one per candidate and practical task of the
session's practical paper (the session's own paper when it is practical, or a practical paper attached in
the marking settings), created once the session has started (its roster is frozen then).

**Marks**: an examiner marks only items assigned to them (:class:`MarkerAssignment`), sees an opaque script
code (never the candidate's name or ticket; for practical tasks the seat, since the examiner stands at the
work place), enters one score per marking point (on the item's ``score_step``) or the scoring sheet, and a
comment. With double marking (session setting, per-item override) two examiners mark independently; marks
that differ by more than the threshold (default 10 % of the maximum) go to a chief examiner
(``User.is_chief`` of the session's station, not one of the two markers); otherwise the final score is the
mean (:func:`scoring.marker_agreement.resolve_double_mark`). Every mark, revision, absence and adjudication is
audited; nothing changes once the candidate's result is published.
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import secrets
from dataclasses import dataclass
from operator import itemgetter

import numpy as np
from flask_babel import gettext as _
from sqlalchemy import Text, cast, delete, func, insert, select, update

from question_bank.sitting_marking import (AUTO_TYPES, LEVELS, SheetError, effective_item, mark_sitting,
                                           score_constructed, score_practical)
from scoring.marker_agreement import examiner_statistics, icc, resolve_double_mark

from .. import clock
from ..extensions import db
from ..models import (AttemptMarking, CandidateResult, ExamAttempt, ExamCandidate, ExamResponse, ExamSession,
                      ItemMarkingRule, ItemVersion, KeyCorrection, Mark, MarkerAssignment, Paper, PaperForm,
                      PaperItem, Script, SessionMarking, User)
from ..models.exams import ABSENT as ATTEMPT_ABSENT
from ..models.exams import SCHEDULED, SUBMITTED
from ..models.marks import (ABSENT, ADJUDICATED, ADJUDICATION, ADJUDICATION_MARK, FINAL_SCRIPT_STATUSES, MARK,
                            MARKED, PENDING, PUBLISHED)
from . import audit
from .exams import can_manage

CONSTRUCTED_TYPES = ("short_answer", "calculation", "essay")
DEFAULT_THRESHOLD = 0.10
MAX_COMMENT = 2000
MAX_SECONDS = 6 * 3600  # a time per script above this is not a marking time (the page was left open)
CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
_CHUNK = 5000


class MarkingError(Exception):
    """A refused marking operation: ``message`` for the user, an HTTP ``status``, and every problem."""

    def __init__(self, message: str, status: int = 409, problems: list[str] | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.problems = problems or [message]


# ----------------------------------------------------------------------------------------------------
# small helpers
# ----------------------------------------------------------------------------------------------------
def _chunks(seq, n=_CHUNK):
    seq = list(seq)
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


def new_code(taken: set[str] | None = None) -> str:
    """An opaque script code such as ``K7QM-2XDA`` (32^8 possibilities)."""
    while True:
        raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(8))
        code = f"{raw[:4]}-{raw[4:]}"
        if taken is None or code not in taken:
            if taken is not None:
                taken.add(code)
            return code


def get_session(session_id: int) -> ExamSession | None:
    return db.session.get(ExamSession, session_id)


def setting(session_id: int) -> SessionMarking:
    """The session's marking settings (a transient default row when none is stored)."""
    row = db.session.get(SessionMarking, session_id)
    if row is None:
        row = SessionMarking(session_id=session_id, double_marking=False, threshold_fraction=DEFAULT_THRESHOLD,
                             results_status="draft")
    return row


def _stored_setting(session_id: int) -> SessionMarking:
    row = db.session.get(SessionMarking, session_id)
    if row is None:
        row = SessionMarking(session_id=session_id, double_marking=False, threshold_fraction=DEFAULT_THRESHOLD,
                             results_status="draft")
        db.session.add(row)
        db.session.flush()
    return row


def is_published(session_id: int) -> bool:
    row = db.session.get(SessionMarking, session_id)
    return row is not None and row.results_status == PUBLISHED


def form_items(form_id: int) -> list[tuple[PaperItem, ItemVersion]]:
    return list(db.session.execute(
        select(PaperItem, ItemVersion).join(ItemVersion, ItemVersion.id == PaperItem.item_version_id)
        .where(PaperItem.form_id == form_id).order_by(PaperItem.position)))


def practical_source(sess: ExamSession) -> tuple[Paper, PaperForm | None] | None:
    """The session's practical paper: an attached one with its form, or the session's own practical paper
    (form ``None``: each candidate's attempt form)."""
    st = db.session.get(SessionMarking, sess.id)
    if st is not None and st.practical_paper_id:
        paper = db.session.get(Paper, st.practical_paper_id)
        form = db.session.execute(select(PaperForm).where(PaperForm.paper_id == paper.id,
                                                          PaperForm.label == st.practical_form_label)).scalar_one_or_none()
        return paper, form
    paper = db.session.get(Paper, sess.paper_id)
    if paper is not None and paper.part == "practical":
        return paper, None
    return None


def theory_paper(sess: ExamSession) -> Paper | None:
    paper = db.session.get(Paper, sess.paper_id)
    return paper if paper is not None and paper.part == "theory" else None


def corrections(iv_ids) -> dict[int, dict]:
    """The newest key correction per item version (``{iv_id: content}``)."""
    out: dict[int, dict] = {}
    ids = list(set(iv_ids))
    for chunk in _chunks(ids):
        for iv_id, content in db.session.execute(
                select(KeyCorrection.item_version_id, KeyCorrection.content)
                .where(KeyCorrection.item_version_id.in_(chunk)).order_by(KeyCorrection.id)):
            out[iv_id] = dict(content or {})
    return out


def item_settings(session_id: int) -> dict[int, tuple[int, float]]:
    """``{paper_item_id: (marks required, threshold fraction)}`` for items with an override; use
    :func:`required_for` for any item."""
    st = setting(session_id)
    out = {}
    for r in db.session.execute(select(ItemMarkingRule).where(ItemMarkingRule.session_id == session_id)).scalars():
        double = st.double_marking if r.double_marking is None else r.double_marking
        thr = st.threshold_fraction if r.threshold_fraction is None else r.threshold_fraction
        out[r.paper_item_id] = (2 if double else 1, float(thr))
    return out


def required_for(session_id: int, overrides: dict | None = None):
    st = setting(session_id)
    overrides = item_settings(session_id) if overrides is None else overrides
    default = (2 if st.double_marking else 1, float(st.threshold_fraction if st.threshold_fraction is not None
                                                    else DEFAULT_THRESHOLD))
    return lambda pi_id: overrides.get(pi_id, default)


# ----------------------------------------------------------------------------------------------------
# machine marking
# ----------------------------------------------------------------------------------------------------
@dataclass
class AutoResult:
    attempt_id: int
    session_id: int
    auto_score: float
    auto_max: float
    item_scores: dict[str, float]
    answered: dict[int, bool]  # per paper item (all types)
    rule: str


class _Decoded(dict):
    def __missing__(self, text):
        value = None if text is None else json.loads(text)
        self[text] = value
        return value


def _attempt_rows(attempt_ids=None, session_id=None) -> list[tuple[int, int, int, str]]:
    q = select(ExamAttempt.id, ExamAttempt.session_id, ExamAttempt.paper_form_id, ExamAttempt.status)
    if session_id is not None:
        rows = list(db.session.execute(q.where(ExamAttempt.session_id == session_id)))
        if attempt_ids is not None:
            wanted = set(attempt_ids)
            rows = [r for r in rows if r[0] in wanted]
        return rows
    out = []
    for chunk in _chunks(attempt_ids or []):
        out += list(db.session.execute(q.where(ExamAttempt.id.in_(chunk))))
    return out


def _fetch_raw(stmt) -> list[tuple]:
    """All rows of a Core select as plain tuples straight from the DB-API cursor (bulk reads without building
    SQLAlchemy Row objects; the statement is compiled and executed by SQLAlchemy as usual)."""
    result = db.session.connection().execute(stmt)
    try:
        return result.cursor.fetchall()
    finally:
        result.close()


def compute_auto(attempts: list[tuple[int, int, int, str]], *, key_overrides: dict[int, dict] | None = None,
                 session_id: int | None = None) -> dict[int, AutoResult]:
    """Machine-mark ``attempts`` (``(id, session_id, form_id, status)``) without writing anything.
    ``key_overrides``: ``{item_version_id: content fields}`` applied after the stored corrections (a re-mark
    preview). ``session_id``: all attempts belong to it (lets the response query filter by session)."""
    if not attempts:
        return {}
    forms: dict[int, list[int]] = {}
    for aid, _sid, fid, _st in attempts:
        forms.setdefault(fid, []).append(aid)
    form_slots = {fid: form_items(fid) for fid in forms}
    paper_rule = {}
    for fid in forms:
        paper_rule[fid] = db.session.execute(select(Paper.multiple_choice_rule).join(
            PaperForm, PaperForm.paper_id == Paper.id).where(PaperForm.id == fid)).scalar_one()
    iv_ids = {iv.id for slots in form_slots.values() for _pi, iv in slots}
    fixes = corrections(iv_ids)
    fixes.update(key_overrides or {})
    # one global map: paper item -> (form, column)
    pi_ids = [pi.id for slots in form_slots.values() for pi, _iv in slots]
    size = max(pi_ids) + 1 if pi_ids else 1
    col_of = np.full(size, -1, dtype=np.int64)
    form_of = np.full(size, -1, dtype=np.int64)
    form_index = {fid: k for k, fid in enumerate(forms)}
    for fid, slots in form_slots.items():
        for j, (pi, _iv) in enumerate(slots):
            col_of[pi.id] = j
            form_of[pi.id] = form_index[fid]
    # attempt -> (form index, row): sorted arrays for a vectorised lookup
    mats = []
    att_ids, att_form, att_row = [], [], []
    for fid, aids in forms.items():
        for i, aid in enumerate(aids):
            att_ids.append(aid)
            att_form.append(form_index[fid])
            att_row.append(i)
        mats.append(np.full((len(aids), len(form_slots[fid])), None, dtype=object))
    order = np.argsort(np.asarray(att_ids, dtype=np.int64), kind="stable")
    att_sorted = np.asarray(att_ids, dtype=np.int64)[order]
    form_sorted = np.asarray(att_form, dtype=np.int64)[order]
    row_sorted = np.asarray(att_row, dtype=np.int64)[order]
    # responses: (attempt, paper item, answer as JSON text), read through the driver's cursor (no ORM rows)
    q = select(ExamResponse.attempt_id, ExamResponse.paper_item_id, cast(ExamResponse.answer, Text))
    wanted = [a[0] for a in attempts if a[3] == SUBMITTED]
    if session_id is not None and len(wanted) > _CHUNK:
        q = q.join(ExamAttempt, ExamAttempt.id == ExamResponse.attempt_id).where(
            ExamAttempt.session_id == session_id, ExamAttempt.status == SUBMITTED)
        chunks = [None]
    else:
        chunks = list(_chunks(wanted))
    decoded = _Decoded()
    for chunk in chunks:
        qq = q if chunk is None else q.where(ExamResponse.attempt_id.in_(chunk))
        res = _fetch_raw(qq)
        if not res:
            continue
        m = len(res)  # (columns by itemgetter: zip(*rows) is slow for large results)
        aids_arr = np.fromiter(map(itemgetter(0), res), dtype=np.int64, count=m)
        pis = np.fromiter(map(itemgetter(1), res), dtype=np.int64, count=m)
        t_col = list(map(itemgetter(2), res))
        pos = np.minimum(np.searchsorted(att_sorted, aids_arr), len(att_sorted) - 1)
        ok = att_sorted[pos] == aids_arr
        f_arr, i_arr = form_sorted[pos], row_sorted[pos]
        ok &= pis < size
        pis_c = np.where(ok, pis, 0)
        ok &= (col_of[pis_c] >= 0) & (form_of[pis_c] == f_arr)
        values = np.empty(m, dtype=object)
        values[:] = [decoded[t] for t in t_col]
        for k in range(len(mats)):
            sel = ok & (f_arr == k)
            if sel.any():
                mats[k][i_arr[sel], col_of[pis_c[sel]]] = values[sel]
    out: dict[int, AutoResult] = {}
    sid_of = {a[0]: a[1] for a in attempts}
    status_of = {a[0]: a[3] for a in attempts}
    for fid, aids in forms.items():
        slots = form_slots[fid]
        items = [dict(effective_item({"type": iv.type, **(iv.content or {})}, fixes.get(iv.id)), points=pi.points)
                 for pi, iv in slots]
        rule = paper_rule[fid] or "all_or_nothing"
        res = mark_sitting(items, mats[form_index[fid]], rule=rule)
        auto_cols = [j for j in range(len(slots)) if res.auto[j]]
        other_cols = [j for j in range(len(slots)) if not res.auto[j]]
        ids = [str(slots[j][0].id) for j in auto_cols]
        sub = res.scores[:, auto_cols].tolist()
        totals = res.totals.tolist()
        for i, aid in enumerate(aids):
            if status_of[aid] == SUBMITTED:
                scores = dict(zip(ids, sub[i]))
                total = totals[i]
                answered = {slots[j][0].id: bool(res.answered[i, j]) for j in other_cols}
            else:  # absent (never entered): nothing to mark
                scores = dict.fromkeys(ids, 0.0)
                total = 0.0
                answered = {slots[j][0].id: False for j in other_cols}
            out[aid] = AutoResult(aid, sid_of[aid], round(total, 6), float(res.max_auto), scores, answered, rule)
    return out


def _store_auto(results: dict[int, AutoResult]) -> None:
    now = clock.now()
    ids = list(results)
    for chunk in _chunks(ids):
        db.session.execute(delete(AttemptMarking).where(AttemptMarking.attempt_id.in_(chunk)))
    rows = [{"attempt_id": r.attempt_id, "session_id": r.session_id, "auto_score": r.auto_score,
             "auto_max": r.auto_max, "item_scores": r.item_scores, "rule": r.rule, "marked_at": now}
            for r in results.values()]
    for chunk in _chunks(rows):
        db.session.execute(insert(AttemptMarking), chunk)


def _create_constructed_scripts(session_id: int, results: dict[int, AutoResult],
                                attempts: list[tuple[int, int, int, str]]) -> int:
    """Scripts for every submitted attempt × constructed item (blank answers marked 0 at once)."""
    forms = {a[2] for a in attempts if a[3] == SUBMITTED}
    constructed = {}
    for fid in forms:
        constructed[fid] = [(pi, iv) for pi, iv in form_items(fid) if iv.type in CONSTRUCTED_TYPES]
    if not any(constructed.values()):
        return 0
    few = len(attempts) <= _CHUNK
    ids = [a[0] for a in attempts]
    eq = select(Script.attempt_id, Script.paper_item_id).where(Script.session_id == session_id)
    existing = set(db.session.execute(eq.where(Script.attempt_id.in_(ids)) if few else eq).all())
    taken: set[str] = set()  # codes are random (32^8) and unique in the database
    cq = select(ExamAttempt.id, ExamAttempt.candidate_id).where(ExamAttempt.session_id == session_id)
    cand = dict(db.session.execute(cq.where(ExamAttempt.id.in_(ids)) if few else cq).all())
    need = required_for(session_id)
    now = clock.now()
    rows = []
    for aid, _sid, fid, status in attempts:
        if status != SUBMITTED:
            continue
        for pi, iv in constructed.get(fid, []):
            if (aid, pi.id) in existing:
                continue
            blank = not results[aid].answered.get(pi.id, False)
            req, thr = need(pi.id)
            rows.append({"code": new_code(taken), "session_id": session_id, "attempt_id": aid,
                         "candidate_id": cand[aid], "paper_item_id": pi.id, "item_version_id": iv.id,
                         "kind": "constructed", "max_points": pi.points, "marks_required": req,
                         "threshold_fraction": thr, "status": MARKED if blank else PENDING,
                         "final_score": 0.0 if blank else None, "final_method": "blank" if blank else None,
                         "finalised_at": now if blank else None, "created_at": now})
    for chunk in _chunks(rows):
        db.session.execute(insert(Script), chunk)
    return len(rows)


def ensure_practical_scripts(sess: ExamSession, attempt_ids=None) -> int:
    """Create the missing scripts for every candidate × practical task (once the session has started);
    ``attempt_ids``: only for these attempts of the session."""
    if sess.status == SCHEDULED:
        return 0
    src = practical_source(sess)
    if src is None:
        return 0
    paper, form = src
    aq = select(ExamAttempt.id, ExamAttempt.candidate_id, ExamAttempt.paper_form_id).where(
        ExamAttempt.session_id == sess.id)
    sq = select(Script.attempt_id, Script.paper_item_id).where(Script.session_id == sess.id,
                                                               Script.kind == "practical")
    if attempt_ids is not None and len(attempt_ids) <= _CHUNK:
        aq = aq.where(ExamAttempt.id.in_(list(attempt_ids)))
        sq = sq.where(Script.attempt_id.in_(list(attempt_ids)))
    attempts = list(db.session.execute(aq))
    existing = set(db.session.execute(sq).all())
    tasks_by_form: dict[int, list] = {}
    taken: set[str] = set()
    need = required_for(sess.id)
    now = clock.now()
    rows = []
    for aid, cid, own_form in attempts:
        fid = form.id if form is not None else own_form
        if fid not in tasks_by_form:
            tasks_by_form[fid] = [(pi, iv) for pi, iv in form_items(fid) if iv.type == "practical_task"]
        for pi, iv in tasks_by_form[fid]:
            if (aid, pi.id) in existing:
                continue
            req, thr = need(pi.id)
            rows.append({"code": new_code(taken), "session_id": sess.id, "attempt_id": aid, "candidate_id": cid,
                         "paper_item_id": pi.id, "item_version_id": iv.id, "kind": "practical",
                         "max_points": pi.points, "marks_required": req, "threshold_fraction": thr,
                         "status": PENDING, "created_at": now})
    for chunk in _chunks(rows):
        db.session.execute(insert(Script), chunk)
    return len(rows)


def mark_attempts(attempt_ids, *, commit: bool = True) -> int:
    """Machine-mark finalised attempts (any sessions), create their scripts and refresh their draft results.
    Attempts not yet finalised are skipped. Returns the number marked."""
    from . import results as results_service
    rows = [r for r in _attempt_rows(attempt_ids=list(attempt_ids)) if r[3] in (SUBMITTED, ATTEMPT_ABSENT)]
    by_session: dict[int, list] = {}
    for r in rows:
        by_session.setdefault(r[1], []).append(r)
    n = 0
    for sid, att in by_session.items():
        n += _mark_in_session(sid, att)
        sess = db.session.get(ExamSession, sid)
        ensure_practical_scripts(sess, attempt_ids=[a[0] for a in att])
        cands = list(db.session.execute(select(ExamAttempt.candidate_id).where(
            ExamAttempt.id.in_([a[0] for a in att]))).scalars()) if len(att) <= _CHUNK else None
        results_service.refresh(sid, candidate_ids=cands, commit=False)
    if commit:
        db.session.commit()
    return n


def _mark_in_session(session_id: int, att: list[tuple[int, int, int, str]]) -> int:
    results = compute_auto(att, session_id=session_id)
    _store_auto(results)
    _create_constructed_scripts(session_id, results, att)
    return len(results)


def mark_session(session_id: int, *, commit: bool = True) -> dict:
    """Machine-mark every finalised attempt of a session in one batch (idempotent: re-marking replaces the
    stored auto marks; examiners' marks are kept), create missing scripts and refresh the draft results."""
    from . import results as results_service
    sess = db.session.get(ExamSession, session_id)
    if sess is None:
        raise MarkingError(_("The session was not found."), status=404)
    att = [r for r in _attempt_rows(session_id=session_id) if r[3] in (SUBMITTED, ATTEMPT_ABSENT)]
    n = _mark_in_session(session_id, att) if att else 0
    created = ensure_practical_scripts(sess)
    results_service.refresh(session_id, commit=False)
    if commit:
        db.session.commit()
    return {"marked": n, "practical_scripts_created": created}


def process_finalised(attempt_id: int) -> None:
    """What happens when an attempt is finalised (see :mod:`examsys.services.marking_hooks`)."""
    mark_attempts([attempt_id])


# ----------------------------------------------------------------------------------------------------
# settings and assignments
# ----------------------------------------------------------------------------------------------------
def _require_manager(user, sess: ExamSession) -> None:
    if sess is None:
        raise MarkingError(_("The session was not found."), status=404)
    if not can_manage(user, sess):
        raise MarkingError(_("The session was not found."), status=404)


def _require_unpublished(sess: ExamSession) -> None:
    if is_published(sess.id):
        raise MarkingError(_("The results of this session are published; marking is closed."), status=409)


def script_counts(session_id: int) -> dict[str, int]:
    """Scripts of a session per status (``pending``, ``adjudication``, ``marked``, ``adjudicated``, ``absent``)."""
    return dict(db.session.execute(select(Script.status, func.count(Script.id)).where(
        Script.session_id == session_id).group_by(Script.status)).all())


def practical_papers_for(sess: ExamSession) -> list[Paper]:
    """Practical papers of the session's occupation and grade usable at its station."""
    return list(db.session.execute(
        select(Paper).where(Paper.part == "practical", Paper.occupation_id == sess.occupation_id,
                            Paper.grade == sess.grade,
                            (Paper.station_id.is_(None)) | (Paper.station_id == sess.station_id))
        .order_by(Paper.created_at.desc(), Paper.id.desc())).scalars())


def markable_items(sess: ExamSession) -> list[dict]:
    """The items examiners mark in this session (constructed items of the theory paper, tasks of the
    practical paper), with their settings and assigned examiners."""
    out = []
    overrides = {r.paper_item_id: r for r in db.session.execute(
        select(ItemMarkingRule).where(ItemMarkingRule.session_id == sess.id)).scalars()}
    assigned: dict[int, list[int]] = {}
    for pi_id, ex in db.session.execute(select(MarkerAssignment.paper_item_id, MarkerAssignment.examiner_id)
                                        .where(MarkerAssignment.session_id == sess.id)):
        assigned.setdefault(pi_id, []).append(ex)
    need = required_for(sess.id)

    def add(form: PaperForm, part: str, types: tuple[str, ...]):
        for pi, iv in form_items(form.id):
            if iv.type not in types:
                continue
            r = overrides.get(pi.id)
            req, thr = need(pi.id)
            out.append({"pi": pi.id, "iv": iv.id, "type": iv.type, "part": part, "form": form.label,
                        "position": pi.position, "points": pi.points, "weight": pi.weight,
                        "title": (iv.stem or "").strip().splitlines()[0][:60] if iv.stem else "",
                        "double": req == 2, "threshold_percent": round(thr * 100, 4),
                        "override_double": None if r is None else r.double_marking,
                        "override_threshold": None if r is None or r.threshold_fraction is None
                        else round(r.threshold_fraction * 100, 4),
                        "examiners": assigned.get(pi.id, [])})

    tp = theory_paper(sess)
    if tp is not None:
        for f in tp.forms:
            if f.label in (sess.form_labels or []):
                add(f, "theory", CONSTRUCTED_TYPES)
    src = practical_source(sess)
    if src is not None:
        paper, form = src
        forms = [form] if form is not None else [f for f in paper.forms if f.label in (sess.form_labels or [])]
        for f in forms:
            add(f, "practical", ("practical_task",))
    return out


def examiners_for(sess: ExamSession) -> list[User]:
    return list(db.session.execute(select(User).where(User.role == "examiner", User.active.is_(True),
                                                      User.station_id == sess.station_id)
                                   .order_by(User.username)).scalars())


def _percent(value, label: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise MarkingError(_("%(field)s must be a number from 0 to 100.", field=label), status=422) from None
    if not math.isfinite(v) or not 0 <= v <= 100:
        raise MarkingError(_("%(field)s must be a number from 0 to 100.", field=label), status=422)
    return v


def save_settings(sess: ExamSession, actor, *, double_marking: bool, threshold_percent, practical_paper_id=None,
                  practical_form_label: str | None = None) -> SessionMarking:
    """Store the session's double-marking default and its practical paper (validated; audited)."""
    _require_manager(actor, sess)
    _require_unpublished(sess)
    thr = _percent(threshold_percent, _("Threshold (percent of the maximum)"))
    st = _stored_setting(sess.id)
    before = {"double_marking": st.double_marking, "threshold_fraction": st.threshold_fraction,
              "practical_paper_id": st.practical_paper_id, "practical_form_label": st.practical_form_label}
    if practical_paper_id in ("", None, 0):
        practical_paper_id = None
    if practical_paper_id is not None:
        try:
            practical_paper_id = int(practical_paper_id)
        except (TypeError, ValueError):
            raise MarkingError(_("Choose a practical paper."), status=422) from None
        paper = db.session.get(Paper, practical_paper_id)
        if paper is None or paper not in practical_papers_for(sess):
            raise MarkingError(_("Practical paper: choose a practical paper of this occupation and grade."),
                               status=422)
        labels = [f.label for f in paper.forms]
        label = practical_form_label or (labels[0] if labels else None)
        if label not in labels:
            raise MarkingError(_("Practical paper: the paper has no form %(label)s.", label=label or "-"), status=422)
    else:
        label = None
    if (practical_paper_id, label) != (st.practical_paper_id, st.practical_form_label):
        old = select(Script.id).where(Script.session_id == sess.id, Script.kind == "practical")
        if db.session.execute(select(func.count(Mark.id)).where(Mark.script_id.in_(old))).scalar_one():
            db.session.rollback()
            raise MarkingError(_("Practical tasks of this session have been marked; the practical paper can no "
                                 "longer be changed."), status=409)
        db.session.execute(delete(Script).where(Script.session_id == sess.id, Script.kind == "practical"))
        st.practical_paper_id, st.practical_form_label = practical_paper_id, label
    st.double_marking = bool(double_marking)
    st.threshold_fraction = thr / 100.0
    st.updated_at, st.updated_by = clock.now(), actor.id
    db.session.flush()
    _reapply_requirements(sess.id)
    ensure_practical_scripts(sess)
    after = {"double_marking": st.double_marking, "threshold_fraction": st.threshold_fraction,
             "practical_paper_id": st.practical_paper_id, "practical_form_label": st.practical_form_label}
    audit.record("marking.settings", "exam_session", sess.id, actor=actor, before=before, after=after)
    from . import results as results_service
    results_service.refresh(sess.id, commit=False)
    db.session.commit()
    return st


def save_item_rule(sess: ExamSession, actor, paper_item_id: int, *, double: str, threshold_percent) -> None:
    """Per-item override: ``double`` is ``"default"``, ``"single"`` or ``"double"``; an empty threshold
    uses the session's."""
    _require_manager(actor, sess)
    _require_unpublished(sess)
    if paper_item_id not in {m["pi"] for m in markable_items(sess)}:
        raise MarkingError(_("This item is not marked by examiners in this session."), status=404)
    if double not in ("default", "single", "double"):
        raise MarkingError(_("Double marking: choose default, single or double."), status=422)
    thr = None if threshold_percent in (None, "") else _percent(threshold_percent, _("Threshold (percent of the maximum)")) / 100
    row = db.session.execute(select(ItemMarkingRule).where(ItemMarkingRule.session_id == sess.id,
                                                           ItemMarkingRule.paper_item_id == paper_item_id)
                             ).scalar_one_or_none()
    before = None if row is None else {"double_marking": row.double_marking, "threshold_fraction": row.threshold_fraction}
    if row is None:
        row = ItemMarkingRule(session_id=sess.id, paper_item_id=paper_item_id)
        db.session.add(row)
    row.double_marking = {"default": None, "single": False, "double": True}[double]
    row.threshold_fraction = thr
    db.session.flush()
    _reapply_requirements(sess.id)
    audit.record("marking.item_rule", "exam_session", sess.id, actor=actor, before=before,
                 after={"paper_item_id": paper_item_id, "double_marking": row.double_marking,
                        "threshold_fraction": row.threshold_fraction})
    from . import results as results_service
    results_service.refresh(sess.id, commit=False)
    db.session.commit()


def _reapply_requirements(session_id: int) -> None:
    """Apply changed settings to scripts that are not final yet, and resolve them again."""
    need = required_for(session_id)
    for s in db.session.execute(select(Script).where(Script.session_id == session_id,
                                                     Script.status.in_((PENDING, ADJUDICATION)))).scalars():
        req, thr = need(s.paper_item_id)
        if (s.marks_required, s.threshold_fraction) != (req, thr):
            s.marks_required, s.threshold_fraction = req, thr
            _resolve(s)


def set_assignments(sess: ExamSession, actor, paper_item_id: int, examiner_ids) -> list[int]:
    """Replace the examiners assigned to one item of the session (examiners of the session's station)."""
    _require_manager(actor, sess)
    _require_unpublished(sess)
    if paper_item_id not in {m["pi"] for m in markable_items(sess)}:
        raise MarkingError(_("This item is not marked by examiners in this session."), status=404)
    allowed = {u.id for u in examiners_for(sess)}
    try:
        wanted = sorted({int(x) for x in examiner_ids})
    except (TypeError, ValueError):
        raise MarkingError(_("Examiners: unknown examiner."), status=422) from None
    if any(x not in allowed for x in wanted):
        raise MarkingError(_("Examiners: only examiners of this station can be assigned."), status=422)
    current = set(db.session.execute(select(MarkerAssignment.examiner_id).where(
        MarkerAssignment.session_id == sess.id, MarkerAssignment.paper_item_id == paper_item_id)).scalars())
    db.session.execute(delete(MarkerAssignment).where(MarkerAssignment.session_id == sess.id,
                                                      MarkerAssignment.paper_item_id == paper_item_id,
                                                      MarkerAssignment.examiner_id.not_in(wanted or [-1])))
    for ex in wanted:
        if ex not in current:
            db.session.add(MarkerAssignment(session_id=sess.id, paper_item_id=paper_item_id, examiner_id=ex))
    audit.record("marking.assign", "exam_session", sess.id, actor=actor,
                 before={"paper_item_id": paper_item_id, "examiners": sorted(current)},
                 after={"paper_item_id": paper_item_id, "examiners": wanted})
    db.session.commit()
    return wanted


# ----------------------------------------------------------------------------------------------------
# resolution of a script from its marks
# ----------------------------------------------------------------------------------------------------
def _resolve(script: Script) -> None:
    now = clock.now()
    if script.status == ABSENT:
        return
    marks = [m for m in script.marks if m.kind == MARK]
    adj = [m for m in script.marks if m.kind == ADJUDICATION_MARK]
    if script.final_method == "blank":
        return
    if adj:
        script.status, script.final_score, script.final_method = ADJUDICATED, adj[-1].score, "adjudicated"
        script.finalised_at = script.finalised_at or now
        return
    required = max(script.marks_required, min(len(marks), 2))
    if len(marks) < required:
        script.status, script.final_score, script.final_method, script.finalised_at = PENDING, None, None, None
        return
    if required == 1:
        script.status, script.final_score, script.final_method = MARKED, marks[0].score, "single"
        script.finalised_at = now
        return
    d = resolve_double_mark(marks[0].score, marks[1].score, script.max_points, script.threshold_fraction)
    if d.needs_adjudication:
        script.status, script.final_score, script.final_method, script.finalised_at = ADJUDICATION, None, None, None
    else:
        script.status, script.final_score, script.final_method = MARKED, round(d.final, 6), "mean"
        script.finalised_at = now


# ----------------------------------------------------------------------------------------------------
# examiners: queue, script view, marks
# ----------------------------------------------------------------------------------------------------
def _locked_script(script_id: int) -> Script | None:
    return db.session.execute(select(Script).where(Script.id == script_id).with_for_update()
                              .execution_options(populate_existing=True)).scalar_one_or_none()


def is_assigned(user, script: Script) -> bool:
    return db.session.execute(select(MarkerAssignment.id).where(
        MarkerAssignment.session_id == script.session_id, MarkerAssignment.paper_item_id == script.paper_item_id,
        MarkerAssignment.examiner_id == user.id)).first() is not None


def can_adjudicate(user, script: Script) -> bool:
    if not (user.role == "examiner" and user.is_chief and user.station_id is not None):
        return False
    sess = db.session.get(ExamSession, script.session_id)
    return sess is not None and sess.station_id == user.station_id


def result_locked(script: Script) -> bool:
    status = db.session.execute(select(CandidateResult.status).where(
        CandidateResult.candidate_id == script.candidate_id)).scalar_one_or_none()
    return status == PUBLISHED or is_published(script.session_id)


def examiner_queue(user) -> dict:
    """What an examiner has to do: per assigned item its counts; for chiefs, scripts to adjudicate."""
    rows = list(db.session.execute(
        select(MarkerAssignment.session_id, MarkerAssignment.paper_item_id, ExamSession, PaperItem, ItemVersion)
        .join(ExamSession, ExamSession.id == MarkerAssignment.session_id)
        .join(PaperItem, PaperItem.id == MarkerAssignment.paper_item_id)
        .join(ItemVersion, ItemVersion.id == PaperItem.item_version_id)
        .where(MarkerAssignment.examiner_id == user.id)
        .order_by(ExamSession.starts_at.desc(), PaperItem.position)))
    items = []
    for sid, pi_id, sess, pi, iv in rows:
        scripts = select(Script.id).where(Script.session_id == sid, Script.paper_item_id == pi_id)
        total = db.session.execute(select(func.count()).select_from(scripts.subquery())).scalar_one()
        final = db.session.execute(select(func.count(Script.id)).where(
            Script.session_id == sid, Script.paper_item_id == pi_id,
            Script.status.in_(FINAL_SCRIPT_STATUSES))).scalar_one()
        mine = db.session.execute(select(func.count(Mark.id)).where(
            Mark.script_id.in_(scripts), Mark.examiner_id == user.id, Mark.kind == MARK)).scalar_one()
        available = _available_query(user, sid, pi_id)
        n_avail = db.session.execute(select(func.count()).select_from(available.subquery())).scalar_one()
        items.append({"session": sess, "pi": pi, "type": iv.type, "kind": "practical" if iv.type == "practical_task"
                      else "constructed", "title": (iv.stem or "").strip().splitlines()[0][:60] if iv.stem else "",
                      "total": total, "final": final, "mine": mine, "available": n_avail,
                      "published": is_published(sid), "started": sess.status != SCHEDULED})
    adjudicate = []
    if user.role == "examiner" and user.is_chief and user.station_id is not None:
        mine_ids = select(Mark.script_id).where(Mark.examiner_id == user.id, Mark.kind == MARK)
        q = (select(Script, ExamSession).join(ExamSession, ExamSession.id == Script.session_id)
             .where(Script.status == ADJUDICATION, ExamSession.station_id == user.station_id,
                    Script.id.not_in(mine_ids)).order_by(Script.id))
        adjudicate = list(db.session.execute(q))
    return {"items": items, "adjudicate": adjudicate}


def _available_query(user, session_id: int, pi_id: int):
    """Scripts of (session, item) this examiner may still mark: pending, not marked by them, short of marks."""
    marks = select(func.count(Mark.id)).where(Mark.script_id == Script.id, Mark.kind == MARK).scalar_subquery()
    mine = select(Mark.id).where(Mark.script_id == Script.id, Mark.examiner_id == user.id)
    return (select(Script.id).where(Script.session_id == session_id, Script.paper_item_id == pi_id,
                                    Script.status == PENDING, ~mine.exists(), marks < Script.marks_required)
            .order_by(Script.code))


def next_script(user, session_id: int, pi_id: int) -> int | None:
    if not db.session.execute(select(MarkerAssignment.id).where(
            MarkerAssignment.session_id == session_id, MarkerAssignment.paper_item_id == pi_id,
            MarkerAssignment.examiner_id == user.id)).first():
        raise MarkingError(_("This item is not assigned to you."), status=403)
    return db.session.execute(_available_query(user, session_id, pi_id).limit(1)).scalar_one_or_none()


def task_sheet_list(user, session_id: int, pi_id: int) -> dict:
    """The candidates of one practical task (seat and script code, never the name or ticket)."""
    if not db.session.execute(select(MarkerAssignment.id).where(
            MarkerAssignment.session_id == session_id, MarkerAssignment.paper_item_id == pi_id,
            MarkerAssignment.examiner_id == user.id)).first():
        raise MarkingError(_("This item is not assigned to you."), status=403)
    sess = db.session.get(ExamSession, session_id)
    ensure_practical_scripts(sess)
    db.session.commit()
    pi = db.session.get(PaperItem, pi_id)
    iv = db.session.get(ItemVersion, pi.item_version_id)
    rows = []
    for s, seat in db.session.execute(
            select(Script, ExamCandidate.seat).join(ExamCandidate, ExamCandidate.id == Script.candidate_id)
            .where(Script.session_id == session_id, Script.paper_item_id == pi_id)):
        own = next((m for m in s.marks if m.kind == MARK and m.examiner_id == user.id), None)
        n_marks = sum(1 for m in s.marks if m.kind == MARK)
        rows.append({"script": s, "seat": seat, "own": own, "n_marks": n_marks})
    rows.sort(key=lambda r: (len(r["seat"] or ""), r["seat"] or "", r["script"].code))
    return {"session": sess, "pi": pi, "iv": iv, "rows": rows, "published": is_published(session_id)}


def script_view(user, script_id: int, *, adjudication: bool = False) -> dict:
    """Everything the marking page shows, checked for the user. Anonymised: the script code (and for a
    practical task the seat); the candidate's name and ticket are never included."""
    script = db.session.get(Script, script_id)
    if script is None:
        raise MarkingError(_("The script was not found."), status=404)
    if adjudication:
        if not can_adjudicate(user, script):
            raise MarkingError(_("Only a chief examiner of this station can adjudicate."), status=403)
    elif not is_assigned(user, script):
        raise MarkingError(_("This script is not assigned to you."), status=403)
    pi = db.session.get(PaperItem, script.paper_item_id)
    iv = db.session.get(ItemVersion, script.item_version_id)
    content = dict(iv.content or {})
    answer = None
    if script.kind == "constructed":
        answer = db.session.execute(select(ExamResponse.answer).where(
            ExamResponse.attempt_id == script.attempt_id, ExamResponse.paper_item_id == pi.id)).scalar_one_or_none()
    seat = db.session.execute(select(ExamCandidate.seat).where(ExamCandidate.id == script.candidate_id)
                              ).scalar_one() if script.kind == "practical" else None
    marks = [m for m in script.marks if m.kind == MARK]
    own = next((m for m in marks if m.examiner_id == user.id), None)
    sheet_total = sum(float(c["points"]) for c in content.get("criteria") or [])
    view = {"script": script, "pi": pi, "iv": iv, "content": content, "answer": answer, "seat": seat,
            "own": own, "levels": LEVELS, "published": result_locked(script),
            "points_scale": pi.points / (sheet_total
                                         or sum(float(m["points"]) for m in content.get("marking_points") or [])
                                         or pi.points),
            # a practical sheet is scored on its own scale (usually 100) and counts with the task's weight
            "sheet_total": sheet_total, "weighted": bool(sheet_total) and abs(sheet_total - pi.points) > 1e-9,
            "weight": pi.weight}
    if adjudication:
        names = dict(db.session.execute(select(User.id, User.display_name).where(
            User.id.in_([m.examiner_id for m in marks] or [-1]))).all())
        view["marks"] = [{"mark": m, "examiner": names.get(m.examiner_id, "")} for m in marks]
        view["adjudication"] = next((m for m in script.marks if m.kind == ADJUDICATION_MARK), None)
    return view


_FIELD_LABELS = {
    "score": lambda i: _("Score"),
    "point_scores": lambda i: _("Marking point %(n)s", n=i + 1) if i is not None else _("Marking points"),
    "criteria": lambda i: _("Criterion %(n)s", n=i + 1) if i is not None else _("Scoring sheet"),
    "veto": lambda i: _("Veto items"),
}


def _field_label(field: str) -> str:
    import re
    m = re.match(r"^(\w+)(?:\[(\d+)\])?", field)
    name, idx = (m.group(1), int(m.group(2)) if m.group(2) else None) if m else (field, None)
    return _FIELD_LABELS.get(name, lambda i: field)(idx)


def sheet_messages(err: SheetError) -> list[str]:
    out = []
    for field, code, p in err.problems:
        label = _field_label(field)
        fmt = lambda v: ("%g" % v) if isinstance(v, float) else str(v)  # noqa: E731
        msg = {
            "required": lambda: _("%(field)s: enter a value.", field=label),
            "not_a_number": lambda: _("%(field)s: “%(value)s” is not a number.", field=label, value=p.get("value", "")),
            "negative": lambda: _("%(field)s: a score cannot be below zero.", field=label),
            "above_maximum": lambda: _("%(field)s: %(value)s is above the maximum of %(max)s.", field=label,
                                       value=fmt(p.get("value")), max=fmt(p.get("max"))),
            "off_step": lambda: _("%(field)s: %(value)s is not a multiple of %(step)s.", field=label,
                                  value=fmt(p.get("value")), step=fmt(p.get("step"))),
            "bad_level": lambda: _("%(field)s: choose a level A–E.", field=label),
            "bad_veto": lambda: _("%(field)s: unknown veto item.", field=label),
            "wrong_count": lambda: _("%(field)s: the form does not match the item; reload the page.", field=label),
        }.get(code, lambda: f"{label}: {code}")()
        out.append(msg)
    return out


@dataclass
class SheetInput:
    """What an examiner sent: per-point scores or a total (constructed), or criteria entries and veto
    indexes (practical), a comment, and when the page was opened."""

    point_scores: list | None = None
    total: object = None
    criteria: list | None = None
    veto: list | None = None
    notes: str = ""
    comment: str = ""
    opened_at: _dt.datetime | None = None


def _score_sheet(script: Script, iv: ItemVersion, data: SheetInput) -> tuple[float, dict]:
    content = dict(iv.content or {})
    try:
        if script.kind == "practical":
            r = score_practical(content, script.max_points, data.criteria or [], data.veto or [])
            detail = {"sheet": r, "notes": (data.notes or "")[:MAX_COMMENT]}
            return r["score"], detail
        r = score_constructed(content, script.max_points, point_scores=data.point_scores,
                              total=data.total if data.point_scores is None else None)
        return r["score"], {"point_scores": r["point_scores"], "step": r["step"]}
    except SheetError as e:
        msgs = sheet_messages(e)
        raise MarkingError(msgs[0], status=422, problems=msgs) from None


def _check_comment(data: SheetInput) -> None:
    if len(data.comment or "") > MAX_COMMENT or len(data.notes or "") > MAX_COMMENT:
        raise MarkingError(_("Comment: at most %(n)s characters.", n=MAX_COMMENT), status=422)


def _seconds(opened_at: _dt.datetime | None, now: _dt.datetime) -> float | None:
    if opened_at is None:
        return None
    s = (now - opened_at).total_seconds()
    return s if 0 <= s <= MAX_SECONDS else None


def _mark_dict(m: Mark | None) -> dict | None:
    if m is None:
        return None
    return {"score": m.score, "detail": m.detail, "comment": m.comment}


def submit_mark(user, script_id: int, data: SheetInput) -> Script:
    """Store (or revise) the user's mark of a script; resolve the script; refresh the candidate's result."""
    from . import results as results_service
    script = _locked_script(script_id)
    if script is None:
        db.session.rollback()
        raise MarkingError(_("The script was not found."), status=404)
    try:
        if not is_assigned(user, script):
            raise MarkingError(_("This script is not assigned to you."), status=403)
        if result_locked(script):
            raise MarkingError(_("The results of this session are published; marks can no longer be changed. "
                                 "A change needs a change request."), status=409)
        if script.status == ABSENT:
            raise MarkingError(_("The candidate was recorded absent for this task."), status=409)
        if script.final_method == "blank":
            raise MarkingError(_("The answer is blank; it was marked 0 automatically."), status=409)
        marks = [m for m in script.marks if m.kind == MARK]
        own = next((m for m in marks if m.examiner_id == user.id), None)
        if script.status in (MARKED, ADJUDICATED):
            raise MarkingError(_("This script has its final score; marks can no longer be changed."), status=409)
        if script.status == ADJUDICATION:
            raise MarkingError(_("The marks differ beyond the threshold; the script is waiting for the chief "
                                 "examiner."), status=409)
        if own is None and len(marks) >= script.marks_required:
            raise MarkingError(_("Other examiners have already marked this script; take the next one."), status=409)
        _check_comment(data)
        iv = db.session.get(ItemVersion, script.item_version_id)
        score, detail = _score_sheet(script, iv, data)
    except MarkingError:
        db.session.rollback()
        raise
    now = clock.now()
    before = _mark_dict(own)
    if own is None:
        own = Mark(script_id=script.id, examiner_id=user.id, kind=MARK, score=score, detail=detail,
                   comment=(data.comment or "").strip(), opened_at=data.opened_at, submitted_at=now,
                   seconds=_seconds(data.opened_at, now))
        db.session.add(own)
        script.marks.append(own)
        action = "mark.submit"
    else:
        own.score, own.detail, own.comment, own.revised_at = score, detail, (data.comment or "").strip(), now
        action = "mark.revise"
    db.session.flush()
    _resolve(script)
    audit.record(action, "script", script.id, actor=user, before=before,
                 after={"score": score, "detail": detail, "comment": own.comment, "script_status": script.status,
                        "final_score": script.final_score})
    results_service.refresh(script.session_id, candidate_ids=[script.candidate_id], commit=False)
    db.session.commit()
    return script


def adjudicate(user, script_id: int, data: SheetInput) -> Script:
    """A chief examiner's final score for a script whose two marks differ beyond the threshold."""
    from . import results as results_service
    script = _locked_script(script_id)
    if script is None:
        db.session.rollback()
        raise MarkingError(_("The script was not found."), status=404)
    try:
        if not can_adjudicate(user, script):
            raise MarkingError(_("Only a chief examiner of this station can adjudicate."), status=403)
        marks = [m for m in script.marks if m.kind == MARK]
        if any(m.examiner_id == user.id for m in marks):
            raise MarkingError(_("You marked this script; another chief examiner must adjudicate it."), status=403)
        if result_locked(script):
            raise MarkingError(_("The results of this session are published; marks can no longer be changed. "
                                 "A change needs a change request."), status=409)
        if len(marks) < 2:
            raise MarkingError(_("An adjudication needs two independent marks; this script has %(n)s.",
                                 n=len(marks)), status=409)
        if script.status != ADJUDICATION:
            raise MarkingError(_("The two marks agree within the threshold; no adjudication is needed."),
                               status=409)
        _check_comment(data)
        if not (data.comment or "").strip():
            raise MarkingError(_("Comment: give the reason for the adjudicated score."), status=422)
        iv = db.session.get(ItemVersion, script.item_version_id)
        score, detail = _score_sheet(script, iv, data)
    except MarkingError:
        db.session.rollback()
        raise
    now = clock.now()
    m = Mark(script_id=script.id, examiner_id=user.id, kind=ADJUDICATION_MARK, score=score, detail=detail,
             comment=data.comment.strip(), opened_at=data.opened_at, submitted_at=now,
             seconds=_seconds(data.opened_at, now))
    db.session.add(m)
    script.marks.append(m)
    db.session.flush()
    _resolve(script)
    audit.record("mark.adjudicate", "script", script.id, actor=user,
                 before={"marks": [x.score for x in marks], "status": ADJUDICATION},
                 after={"score": score, "detail": detail, "comment": m.comment, "script_status": script.status})
    results_service.refresh(script.session_id, candidate_ids=[script.candidate_id], commit=False)
    db.session.commit()
    return script


def set_absent(user, script_id: int, absent: bool, reason: str = "") -> Script:
    """Record that the candidate did not attend a practical task (or undo it): examiners assigned to the
    task, or the station's managers."""
    from . import results as results_service
    script = _locked_script(script_id)
    if script is None:
        db.session.rollback()
        raise MarkingError(_("The script was not found."), status=404)
    sess = db.session.get(ExamSession, script.session_id)
    try:
        if not (is_assigned(user, script) or can_manage(user, sess)):
            raise MarkingError(_("This script is not assigned to you."), status=403)
        if script.kind != "practical":
            raise MarkingError(_("Only practical tasks are recorded absent here."), status=409)
        if result_locked(script):
            raise MarkingError(_("The results of this session are published; marks can no longer be changed. "
                                 "A change needs a change request."), status=409)
        if absent and any(m.kind == MARK for m in script.marks):
            raise MarkingError(_("This task already has marks; the candidate cannot be recorded absent."),
                               status=409)
        if not absent and script.status != ABSENT:
            raise MarkingError(_("The candidate is not recorded absent for this task."), status=409)
    except MarkingError:
        db.session.rollback()
        raise
    before = {"status": script.status}
    now = clock.now()
    if absent:
        script.status, script.final_score, script.final_method = ABSENT, 0.0, "absent"
        script.finalised_at, script.absent_by = now, user.id
    else:
        script.status, script.final_score, script.final_method, script.finalised_at = PENDING, None, None, None
        script.absent_by = None
        _resolve(script)
    audit.record("mark.absent" if absent else "mark.absent_undo", "script", script.id, actor=user, before=before,
                 after={"status": script.status}, reason=(reason or "")[:500])
    results_service.refresh(script.session_id, candidate_ids=[script.candidate_id], commit=False)
    db.session.commit()
    return script


# ----------------------------------------------------------------------------------------------------
# examiner statistics
# ----------------------------------------------------------------------------------------------------
def examiner_stats(session_ids) -> dict:
    """Per-examiner agreement (ICC(2,1) with co-markers, mean signed difference), severity (mean deviation
    from the final score) and speed (median seconds per script) over the sessions' marks, plus the overall
    ICC(2,1) of all double-marked scripts (first vs second mark). Differences are in percent of the maximum."""
    ids = list(session_ids)
    rows = list(db.session.execute(
        select(Mark.script_id, Mark.examiner_id, Mark.score, Script.max_points, Script.final_score, Mark.seconds,
               Mark.id)
        .join(Script, Script.id == Mark.script_id)
        .where(Script.session_id.in_(ids or [-1]), Mark.kind == MARK).order_by(Mark.id)))
    if not rows:
        return {"examiners": [], "overall": None, "pairs": 0}
    script, examiner, score, mx, final, secs, _ids = zip(*rows)
    stats = examiner_statistics(script, examiner, score, mx,
                                [np.nan if f is None else f for f in final],
                                [np.nan if s is None else s for s in secs])
    names = dict(db.session.execute(select(User.id, User.display_name).where(User.id.in_(set(examiner)))).all())
    by_script: dict[int, list[float]] = {}
    for s, sc, m in zip(script, score, mx):
        by_script.setdefault(s, []).append(100.0 * sc / m)
    pairs = [v[:2] for v in by_script.values() if len(v) >= 2]
    overall = icc(pairs) if len(pairs) >= 2 else None
    return {"examiners": [(names.get(s.examiner, str(s.examiner)), s) for s in stats], "overall": overall,
            "pairs": len(pairs)}

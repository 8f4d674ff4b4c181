"""Re-marking after a key correction (e.g. item analysis found a mis-key).

:func:`preview_remark` computes, without writing anything, what a corrected key would change: for every
finalised attempt that answered the item version, the item score, the machine-marked total, the theory part
score and the pass decision before and after, and whether the candidate's result is already published.
:func:`apply_remark` recomputes the same list inside one transaction and, if it still matches the preview
the manager saw (``expected_digest``), stores the key correction, re-marks every affected attempt, refreshes
the draft results, opens a change request for every *published* result whose scores change (published
results are locked: a second person approves them, :func:`examsys.services.results.decide_change`) and
writes one audit entry with the before/after list — all in one commit, or nothing.

``new_key`` is what the key column of the bank spreadsheet holds (``"B"``, ``"ACD"``, ``"对"``,
``"12.5|12.50±0.05mm"``) or the content fields themselves: ``{"key": "B"}``, ``{"key": false}``,
``{"answers": [...], "tolerance": ..., "unit": ...}``; a bool for true/false; a list of accepted answers for
fill blank. Only machine-marked types (single/multiple choice, true/false, fill blank) are re-marked here.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

from flask_babel import gettext as _
from sqlalchemy import select

from question_bank import item_types

from .. import clock
from ..extensions import db
from ..models import (AttemptMarking, CandidateResult, ExamAttempt, ExamCandidate, ExamSession, ItemVersion,
                      KeyCorrection, PaperItem, ResultChange)
from ..models.exams import SUBMITTED
from ..models.marks import PUBLISHED
from . import audit
from . import marking as marking_service
from . import results as results_service
from .marking import MarkingError

AUTO = ("single_choice", "multiple_choice", "true_false", "fill_blank")
CONTENT_FIELDS = {"single_choice": ("key",), "multiple_choice": ("key",), "true_false": ("key",),
                  "fill_blank": ("answers", "tolerance", "unit")}


class RemarkError(MarkingError):
    """A refused re-mark (message, HTTP status, problems)."""


@dataclass
class RemarkRow:
    attempt_id: int
    session_id: int
    candidate_id: int
    ticket_no: str
    name: str
    paper_item_id: int
    old_item_score: float
    new_item_score: float
    old_auto: float
    new_auto: float
    old_theory: float | None
    new_theory: float | None
    old_passed: bool | None
    new_passed: bool | None
    published: bool

    @property
    def changed(self) -> bool:
        return (self.old_item_score != self.new_item_score or self.old_theory != self.new_theory
                or self.old_passed != self.new_passed)


@dataclass
class RemarkPreview:
    item_version_id: int
    item_type: str
    old_content: dict
    new_content: dict
    rows: list[RemarkRow] = field(default_factory=list)
    digest: str = ""

    @property
    def changed_rows(self) -> list[RemarkRow]:
        return [r for r in self.rows if r.changed]

    @property
    def pass_changes(self) -> list[RemarkRow]:
        return [r for r in self.rows if r.old_passed != r.new_passed]


def parse_new_key(iv: ItemVersion, new_key) -> dict:
    """The corrected content fields of ``iv`` from ``new_key`` (validated; :class:`RemarkError` 422)."""
    spec = item_types.get(iv.type)
    allowed = CONTENT_FIELDS[iv.type]
    if isinstance(new_key, dict):
        fields = {k: v for k, v in new_key.items() if k in allowed}
        unknown = [k for k in new_key if k not in allowed]
        if unknown:
            raise RemarkError(_("New key: unknown field %(name)s.", name=unknown[0]), status=422)
    elif isinstance(new_key, bool) and iv.type == "true_false":
        fields = {"key": new_key}
    elif isinstance(new_key, (list, tuple)) and iv.type == "fill_blank":
        fields = {"answers": [str(a) for a in new_key]}
    elif isinstance(new_key, str):
        fields, problems = spec.decode_key(new_key)
        if problems:
            raise RemarkError(_("New key: “%(value)s” is not a valid key for this item.", value=new_key[:40]),
                              status=422)
    else:
        raise RemarkError(_("New key: enter the corrected key."), status=422)
    content = dict(iv.content or {})
    old_fix = marking_service.corrections([iv.id]).get(iv.id)
    if old_fix:
        content.update(old_fix)
    content.update(fields)
    problems = [p for p in spec.validate(content, points=iv.points) if getattr(p, "severity", "error") == "error"]
    if problems:
        p = problems[0]
        text = p.text(True) if hasattr(p, "text") else str(p)
        raise RemarkError(_("New key: %(problem)s", problem=text), status=422)
    return {k: content.get(k) for k in allowed}


def _affected_attempts(iv_id: int) -> list[tuple[int, int, int, str]]:
    pis = list(db.session.execute(select(PaperItem.id, PaperItem.form_id).where(
        PaperItem.item_version_id == iv_id)))
    forms = sorted({f for _pi, f in pis})
    if not forms:
        return []
    return list(db.session.execute(
        select(ExamAttempt.id, ExamAttempt.session_id, ExamAttempt.paper_form_id, ExamAttempt.status)
        .where(ExamAttempt.paper_form_id.in_(forms), ExamAttempt.status == SUBMITTED)
        .order_by(ExamAttempt.session_id, ExamAttempt.id)))


def _check_access(actor, session_ids) -> None:
    if actor is None or getattr(actor, "role", None) == "admin":
        return
    if not session_ids:
        raise RemarkError(_("No answer sheet of your station used this item; an administrator must correct "
                            "its key."), status=403)
    for sid in session_ids:
        sess = db.session.get(ExamSession, sid)
        if sess is None or not marking_service.can_manage(actor, sess):
            raise RemarkError(_("This item was used in sessions of other stations; an administrator must "
                                "re-mark it."), status=403)


def preview_remark(item_version_id: int, new_key, *, actor=None) -> RemarkPreview:
    """What re-marking ``item_version_id`` with ``new_key`` would change (nothing is written)."""
    iv = db.session.get(ItemVersion, item_version_id)
    if iv is None:
        raise RemarkError(_("The item version was not found."), status=404)
    if iv.type not in AUTO:
        raise RemarkError(_("Items of this type are marked by examiners; they are re-marked by examiners."),
                          status=409)
    new_fields = parse_new_key(iv, new_key)
    old_content = dict(iv.content or {})
    old_content.update(marking_service.corrections([iv.id]).get(iv.id) or {})
    attempts = _affected_attempts(iv.id)
    _check_access(actor, {a[1] for a in attempts})
    pi_of_form = dict(db.session.execute(select(PaperItem.form_id, PaperItem.id).where(
        PaperItem.item_version_id == iv.id)).all())
    preview = RemarkPreview(item_version_id=iv.id, item_type=iv.type,
                            old_content={k: old_content.get(k) for k in CONTENT_FIELDS[iv.type]},
                            new_content=new_fields)
    by_session: dict[int, list] = {}
    for a in attempts:
        by_session.setdefault(a[1], []).append(a)
    for sid, att in by_session.items():
        sess = db.session.get(ExamSession, sid)
        stored = {m.attempt_id: m for m in db.session.execute(select(AttemptMarking).where(
            AttemptMarking.session_id == sid)).scalars()}
        new = marking_service.compute_auto(att, key_overrides={iv.id: new_fields}, session_id=sid)
        cands = dict(db.session.execute(select(ExamAttempt.id, ExamAttempt.candidate_id).where(
            ExamAttempt.session_id == sid)).all())
        info = {c.id: c for c in db.session.execute(select(ExamCandidate).where(
            ExamCandidate.session_id == sid)).scalars()}
        results = {r.candidate_id: r for r in db.session.execute(select(CandidateResult).where(
            CandidateResult.session_id == sid)).scalars()}
        ids = [cands[a[0]] for a in att]
        after = results_service.compute(sess, ids, auto_override=new)
        before = results_service.compute(sess, ids)
        parts, mark = results_service.rule_for(sess.grade)
        for aid, _sid, fid, _st in att:
            cid = cands[aid]
            pi = pi_of_form[fid]
            old_m = stored.get(aid)
            res = results.get(cid)
            review = {"review_score": res.review_score if res else None,
                      "review_status": res.review_status if res else "pending"}
            if res is not None and res.status == PUBLISHED:
                old_theory, old_passed = res.theory_score, res.passed
            else:
                b = dict(before.get(cid, {}), **review)
                old_theory, old_passed = b.get("theory_score"), results_service.decide(b, parts, mark)
            a_ = dict(after.get(cid, {}), **review)
            if res is not None and res.status == PUBLISHED:
                a_["practical_score"], a_["practical_status"] = res.practical_score, res.practical_status
            new_theory = a_.get("theory_score")
            preview.rows.append(RemarkRow(
                attempt_id=aid, session_id=sid, candidate_id=cid, ticket_no=info[cid].ticket_no,
                name=info[cid].name, paper_item_id=pi,
                old_item_score=float((old_m.item_scores or {}).get(str(pi), 0.0)) if old_m else 0.0,
                new_item_score=float(new[aid].item_scores.get(str(pi), 0.0)),
                old_auto=float(old_m.auto_score) if old_m else 0.0, new_auto=float(new[aid].auto_score),
                old_theory=old_theory, new_theory=new_theory, old_passed=old_passed,
                new_passed=results_service.decide(a_, parts, mark),
                published=res is not None and res.status == PUBLISHED))
    canonical = json.dumps({"iv": iv.id, "new": new_fields, "rows": [asdict(r) for r in preview.rows]},
                           sort_keys=True, ensure_ascii=False, default=str)
    preview.digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return preview


def apply_remark(item_version_id: int, new_key, *, actor, reason: str,
                 expected_digest: str | None = None) -> RemarkPreview:
    """Store the corrected key and re-mark every affected attempt in one transaction (see the module
    docstring). ``expected_digest``: the preview's digest; a different list refuses with 409."""
    reason = (reason or "").strip()
    if not reason:
        raise RemarkError(_("Reason: give the reason for the correction."), status=422)
    if actor is None or getattr(actor, "role", None) not in ("admin", "station_manager"):
        raise RemarkError(_("Only an administrator or a station manager can re-mark."), status=403)
    try:
        preview = preview_remark(item_version_id, new_key, actor=actor)
        if expected_digest is not None and expected_digest != preview.digest:
            raise RemarkError(_("The marks changed since the preview; look at the new preview and confirm again."),
                              status=409)
        now = clock.now()
        db.session.add(KeyCorrection(item_version_id=item_version_id, content=preview.new_content,
                                     reason=reason[:2000], created_by=actor.id, created_at=now))
        db.session.flush()
        by_session: dict[int, list] = {}
        for r in preview.rows:
            by_session.setdefault(r.session_id, []).append(r.attempt_id)
        for sid, aids in by_session.items():
            att = [a for a in marking_service._attempt_rows(session_id=sid) if a[0] in set(aids)]
            res = marking_service.compute_auto(att, session_id=sid)
            marking_service._store_auto(res)
            results_service.refresh(sid, commit=False)
        opened = []
        for r in preview.rows:
            if r.published and (r.old_theory != r.new_theory or r.old_passed != r.new_passed):
                row = db.session.execute(select(CandidateResult).where(
                    CandidateResult.candidate_id == r.candidate_id)).scalar_one()
                if db.session.execute(select(ResultChange.id).where(ResultChange.result_id == row.id,
                                                                    ResultChange.status == "pending")).first():
                    continue
                ch = ResultChange(result_id=row.id, requested_by=actor.id, requested_at=now,
                                  reason=_("Re-mark after a key correction: %(reason)s", reason=reason)[:2000],
                                  before=results_service._snapshot(row), proposed={"theory_score": r.new_theory},
                                  status="pending")
                db.session.add(ch)
                db.session.flush()
                opened.append(ch.id)
        audit.record("item.remark", "item_version", item_version_id, actor=actor,
                     before={"content": preview.old_content},
                     after={"content": preview.new_content, "attempts": len(preview.rows),
                            "changed": [{"ticket": r.ticket_no, "item": [r.old_item_score, r.new_item_score],
                                         "theory": [r.old_theory, r.new_theory], "passed": [r.old_passed, r.new_passed],
                                         "published": r.published} for r in preview.changed_rows],
                            "change_requests": opened, "digest": preview.digest},
                     reason=reason)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return preview

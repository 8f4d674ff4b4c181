"""Back into the bank: item statistics feed the review queue and the assembler.

* **Flags → review queue** (:func:`raise_flags`). After each analysis, every flag of severity ``error``
  (:data:`scoring.sitting.FLAG_SEVERITY`: possible mis-key, negative discrimination, ETS C DIF, station leak)
  on the *current* version of an item, in a run with at least ``STATS_FLAG_MIN_N`` candidates (default 50),
  becomes an :class:`~examsys.models.ItemFlag` with its reason and evidence (audited ``item.flag``); an
  ``approved`` item is set to ``flagged`` through :func:`examsys.services.items.set_status` (audited
  ``item.status``), which puts it in the reviewers' queue. One flag row per version and code: a flag that is
  open gets the newest evidence; a dismissed or resolved one is **never raised again for that version**.
* **Reviewer decisions.** :func:`dismiss_flag` (reason required; an :class:`~examsys.models.ItemReview`
  ``dismiss_flag`` and an audit entry ``item.flag_dismiss``; the item goes back to ``approved`` when no open
  error flag is left); retiring (bank's retire) or revising (a new version) ends a flag — :func:`open_flags`
  only shows flags of the current version of an item that is not retired, and :func:`resolve_flags`
  records why. :func:`accept_key` runs the marking engineer's re-marking
  (:func:`examsys.services.remark.apply_remark`) with the proposed key, then resolves the flag
  (``key_corrected``; the reviewer still makes a new version with the right key for future papers).
* **Pooled statistics** (:func:`update_pooled`): per item version, the statistics of every current sitting
  run are pooled weighted by N (:func:`scoring.sitting.pool_statistics`: p and D by N, r_rest on Fisher's z)
  into ``Item.stat_n``, ``Item.stat_p`` and ``Item.stat_r_rest`` (the item's current version only). These
  derived numbers are recomputed from the stored runs, so they are not audited.
* **The assembler** reads item dicts from :func:`examsys.services.papers.bank_items`; :func:`prefer_measured`
  replaces the writer's expected difficulty p and discrimination D by the pooled measured p and upper–lower D
  when the current version has at least ``STATS_MIN_N_FOR_ASSEMBLY`` (default 100) candidates.
* **Hooks.** :func:`on_attempt_finalised` is called by :mod:`examsys.services.marking_hooks` after finalised
  attempts are machine-marked (per attempt, or once per sitting for a post-finalisation batch, possibly
  from several threads and processes at once). It refreshes the sitting's statistics only when the sitting is
  *complete*: no attempt of it is open and every submitted attempt has its machine marks
  (:func:`sitting_complete`, one indexed query). So a burst of 1,000 hand-ins is analysed once, after the
  last one's marks, and that analysis is never skipped by a debounce; the calls before it cost two small
  queries each. Concurrent calls for the last attempts coalesce in :func:`examsys.services.stats.refresh_session`
  (one refreshes; the others wait for its lock and find the sitting fresh). An attempt whose machine marking
  failed holds the automatic refresh back (its sitting is analysed on the next view or ``examsys stats
  refresh``). :func:`on_attempts_marked` (a sitting after a batch of marks, whatever its state) refreshes
  unless the last refresh is younger than ``STATS_MIN_INTERVAL_SECONDS`` (default 10 s). Both never raise.
  Later examiner marks are picked up when the sitting's statistics are opened (a cheap staleness check) or by
  ``examsys stats refresh``. ``STATS_AUTO_REFRESH = False`` switches the hooks off.
"""
from __future__ import annotations

import datetime as _dt
import logging

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import and_, exists, func, or_, select

from scoring.sitting import flag_severity, pool_statistics

from .. import clock
from ..extensions import db
from ..models import AnalysisRun, Item, ItemFlag, ItemReview, ItemStat, KeyCorrection
from ..models.stats import FLAG_DISMISSED, FLAG_OPEN, FLAG_RESOLVED, SCOPE_SITTING
from . import audit
from . import items as items_service
from .stats import StatsError

log = logging.getLogger(__name__)
_IN = 5000
REVIEW_ROLES = ("admin", "reviewer")
REMARK_ROLES = ("admin", "station_manager")
MAX_REASON = 2000


def _config(name: str, default):
    return current_app.config.get(name, default)


# ----------------------------------------------------------------------------------------------------
# after each analysis
# ----------------------------------------------------------------------------------------------------
def after_runs(runs, actor=None) -> dict:
    """Pool the statistics of the runs' item versions and raise their error flags (no commit)."""
    runs = [r for r in runs if r is not None]
    if not runs:
        return {"pooled": 0, "raised": 0, "updated": 0}
    run_ids = [r.id for r in runs]
    vids = set(db.session.execute(select(ItemStat.item_version_id).where(ItemStat.run_id.in_(run_ids))).scalars())
    pooled = update_pooled(vids)
    raised, updated = raise_flags(runs)
    return {"pooled": pooled, "raised": raised, "updated": updated}


def pooled_for_versions(version_ids) -> dict[int, dict]:
    """``{item_version_id: pool_statistics(...)}`` over the current sitting runs."""
    ids = sorted(set(version_ids))
    per: dict[int, list] = {}
    for k in range(0, len(ids), _IN):
        for vid, n, p, r, d in db.session.execute(
                select(ItemStat.item_version_id, ItemStat.n, ItemStat.p, ItemStat.r_rest, ItemStat.d_ul27)
                .join(AnalysisRun, AnalysisRun.id == ItemStat.run_id)
                .where(ItemStat.item_version_id.in_(ids[k:k + _IN]), AnalysisRun.scope == SCOPE_SITTING,
                       AnalysisRun.is_current.is_(True))):
            per.setdefault(vid, []).append((n or 0, p, r, d))
    out = {}
    for vid, rows in per.items():
        n, p, r, d = zip(*rows)
        out[vid] = pool_statistics(n, p, r, d)
    return out


def update_pooled(version_ids) -> int:
    """Write the pooled statistics of the items whose current version is in ``version_ids``."""
    pooled = pooled_for_versions(version_ids)
    if not pooled:
        return 0
    n = 0
    ids = sorted(pooled)
    for k in range(0, len(ids), _IN):
        for item in db.session.execute(select(Item).where(Item.current_version_id.in_(ids[k:k + _IN]))).scalars():
            pst = pooled[item.current_version_id]
            item.stat_n = pst["n"]
            item.stat_p = None if pst["p"] is None else round(pst["p"], 4)
            item.stat_r_rest = None if pst["r_rest"] is None else round(pst["r_rest"], 4)
            n += 1
    return n


def _flag_evidence(flag: dict, st: ItemStat, run: AnalysisRun) -> dict:
    return {"flag": flag.get("evidence") or {}, "run_id": run.id, "scope": run.scope, "session_id": run.session_id,
            "session_ids": run.session_ids, "form": run.form_label, "n": st.n, "p": st.p, "r_rest": st.r_rest,
            "d_ul27": st.d_ul27, "position": st.position, "at": clock.now().isoformat()}


def raise_flags(runs) -> tuple[int, int]:
    """Create or refresh the error flags of the runs (see the module docstring). Returns (raised, updated)."""
    min_n = int(_config("STATS_FLAG_MIN_N", 50))
    raised = updated = 0
    now = clock.now()
    for run in runs:
        if run.n_candidates < min_n:
            continue
        stats = list(db.session.execute(select(ItemStat).where(ItemStat.run_id == run.id,
                                                               ItemStat.severity == "error")).scalars())
        if not stats:
            continue
        items = {i.id: i for i in db.session.execute(select(Item).where(
            Item.id.in_({s.item_id for s in stats}))).scalars()}
        existing = {(f.item_version_id, f.code): f for f in db.session.execute(select(ItemFlag).where(
            ItemFlag.item_version_id.in_({s.item_version_id for s in stats}))).scalars()}
        for st in stats:
            item = items.get(st.item_id)
            if item is None or item.current_version_id != st.item_version_id:
                continue  # an old version: its item has moved on
            for f in st.flags or []:
                if flag_severity(f.get("code")) != "error":
                    continue
                code = f["code"]
                reason = f.get("reason") or {}
                ev = _flag_evidence(f, st, run)
                row = existing.get((st.item_version_id, code))
                if row is not None:
                    if row.status == FLAG_OPEN:
                        row.evidence, row.run_id, row.n, row.updated_at = ev, run.id, st.n, now
                        row.reason_en, row.reason_zh = reason.get("en", ""), reason.get("zh", "")
                        updated += 1
                    continue  # dismissed or resolved: never raised again for this version
                row = ItemFlag(item_id=item.id, item_version_id=st.item_version_id, code=code,
                               severity="error", status=FLAG_OPEN, run_id=run.id, session_id=run.session_id,
                               n=st.n, reason_en=reason.get("en", ""), reason_zh=reason.get("zh", ""), evidence=ev,
                               raised_at=now, updated_at=now)
                db.session.add(row)
                existing[(st.item_version_id, code)] = row
                audit.record("item.flag", "item", item.id, actor_label="item-analysis",
                             after={"code": code, "version_id": st.item_version_id, "run_id": run.id,
                                    "session_id": run.session_id, "n": st.n, "evidence": f.get("evidence")},
                             reason=reason.get("en", ""))
                raised += 1
                if item.status == "approved":
                    items_service.set_status(item.id, "flagged", None, f"item analysis: {code}", commit=False)
    db.session.flush()
    return raised, updated


# ----------------------------------------------------------------------------------------------------
# reading the flags
# ----------------------------------------------------------------------------------------------------
def _effective(flag: ItemFlag, item: Item) -> str:
    """What a stored flag is now: open, or the reason it ended (without writing)."""
    if flag.status != FLAG_OPEN:
        return flag.resolution or flag.status
    if item.status == "retired":
        return "retired"
    if item.current_version_id != flag.item_version_id:
        return "revised"
    return FLAG_OPEN


def flags_of_item(item: Item) -> list[tuple[ItemFlag, str]]:
    """Every flag of the item's versions, newest first, with its effective state."""
    rows = db.session.execute(select(ItemFlag).where(ItemFlag.item_id == item.id)
                              .order_by(ItemFlag.raised_at.desc(), ItemFlag.id.desc())).scalars()
    return [(f, _effective(f, item)) for f in rows]


def open_flags(item: Item) -> list[ItemFlag]:
    return [f for f, state in flags_of_item(item) if state == FLAG_OPEN]


def open_flags_by_item(item_ids) -> dict[int, list[ItemFlag]]:
    """``{item_id: [open flags]}`` for the review queue (one query)."""
    ids = sorted(set(item_ids))
    if not ids:
        return {}
    items = {i.id: i for i in db.session.execute(select(Item).where(Item.id.in_(ids))).scalars()}
    out: dict[int, list[ItemFlag]] = {}
    for f in db.session.execute(select(ItemFlag).where(ItemFlag.item_id.in_(ids), ItemFlag.status == FLAG_OPEN)
                                .order_by(ItemFlag.id)).scalars():
        if _effective(f, items[f.item_id]) == FLAG_OPEN:
            out.setdefault(f.item_id, []).append(f)
    return out


def resolve_flags(item_id: int, actor=None) -> int:
    """Record why open flags of an item ended (retired / revised), audited; no commit. Returns the count."""
    item = db.session.get(Item, item_id)
    n = 0
    for f, state in flags_of_item(item):
        if f.status == FLAG_OPEN and state != FLAG_OPEN:
            f.status, f.resolution, f.decided_at = FLAG_RESOLVED, state, clock.now()
            f.decided_by = getattr(actor, "id", None)
            audit.record("item.flag_resolve", "item", item.id, actor=actor,
                         before={"flag": f.id, "code": f.code, "status": FLAG_OPEN},
                         after={"flag": f.id, "status": FLAG_RESOLVED, "resolution": state})
            n += 1
    return n


# ----------------------------------------------------------------------------------------------------
# reviewer decisions
# ----------------------------------------------------------------------------------------------------
def get_flag(flag_id: int) -> tuple[ItemFlag, Item]:
    flag = db.session.get(ItemFlag, flag_id)
    if flag is None:
        raise StatsError(_("The flag was not found."), 404)
    return flag, db.session.get(Item, flag.item_id)


def _reason(text) -> str:
    reason = (text or "").strip()
    if not reason:
        raise StatsError(_("Reason: give the reason for your decision."), 422)
    if len(reason) > MAX_REASON:
        raise StatsError(_("Reason: at most %(n)s characters.", n=MAX_REASON), 422)
    return reason


def can_decide(user, item: Item) -> bool:
    return (getattr(user, "role", None) in REVIEW_ROLES and items_service.can_view(item, user)
            and not items_service.is_author(item, user))


def dismiss_flag(flag_id: int, actor, reason: str) -> ItemFlag:
    """Dismiss an open flag with a reason (see the module docstring); commits."""
    flag, item = get_flag(flag_id)
    if getattr(actor, "role", None) not in REVIEW_ROLES or not items_service.can_view(item, actor):
        raise StatsError(_("Only reviewers and administrators may dismiss flags."), 403)
    if items_service.is_author(item, actor):
        raise StatsError(_("You wrote this item, so you cannot review it; another reviewer must."), 403)
    reason = _reason(reason)
    if _effective(flag, item) != FLAG_OPEN:
        raise StatsError(_("This flag is no longer open."), 409)
    try:
        now = clock.now()
        flag.status, flag.resolution = FLAG_DISMISSED, "dismissed"
        flag.decided_by, flag.decided_at, flag.decision_reason = actor.id, now, reason
        db.session.add(ItemReview(item_id=item.id, version_id=flag.item_version_id, reviewer_id=actor.id,
                                  decision="dismiss_flag", comment=reason, at=now))
        audit.record("item.flag_dismiss", "item", item.id, actor=actor,
                     before={"flag": flag.id, "code": flag.code, "status": FLAG_OPEN},
                     after={"flag": flag.id, "code": flag.code, "status": FLAG_DISMISSED,
                            "version_id": flag.item_version_id}, reason=reason)
        db.session.flush()
        if item.status == "flagged" and not open_flags(item):
            items_service.set_status(item.id, "approved", actor, reason, commit=False)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return flag


def proposed_key(flag: ItemFlag):
    """The key a possible_miskey flag proposes, in the form the re-marking takes (letters, or a bool)."""
    ev = (flag.evidence or {}).get("flag") or {}
    key = ev.get("proposed_key")
    if flag.code != "possible_miskey" or not key:
        raise StatsError(_("This flag does not propose a key."), 409)
    from ..models import ItemVersion
    iv = db.session.get(ItemVersion, flag.item_version_id)
    if iv.type == "true_false":
        return key == "T"
    return str(key)


def _remark_module():
    """The marking engineer's re-marking service (``preview_remark`` / ``apply_remark``), or a clear error."""
    try:
        from . import remark
    except ImportError:  # pragma: no cover - the hook before re-marking existed
        raise StatsError(_("Re-marking is not available in this installation."), 501) from None
    return remark


def preview_key(flag_id: int, actor):
    """What accepting the proposed key would change (nothing written): the re-marking preview."""
    flag, item = get_flag(flag_id)
    if getattr(actor, "role", None) not in REMARK_ROLES:
        raise StatsError(_("Only an administrator or a station manager can re-mark."), 403)
    if _effective(flag, item) != FLAG_OPEN:
        raise StatsError(_("This flag is no longer open."), 409)
    key = proposed_key(flag)
    remark = _remark_module()
    try:
        return flag, item, key, remark.preview_remark(flag.item_version_id, key, actor=actor)
    except remark.RemarkError as e:
        raise StatsError(e.message, e.status) from None


def accept_key(flag_id: int, actor, reason: str, expected_digest: str | None = None):
    """Re-mark every answer sheet of the flagged version with the proposed key (the re-marking service
    commits), then resolve the flag (``key_corrected``, audited). Returns the re-marking preview."""
    flag, item = get_flag(flag_id)
    if getattr(actor, "role", None) not in REMARK_ROLES:
        raise StatsError(_("Only an administrator or a station manager can re-mark."), 403)
    reason = _reason(reason)
    if _effective(flag, item) != FLAG_OPEN:
        raise StatsError(_("This flag is no longer open."), 409)
    key = proposed_key(flag)
    remark = _remark_module()
    try:
        preview = remark.apply_remark(flag.item_version_id, key, actor=actor, reason=reason,
                                      expected_digest=expected_digest)
    except remark.RemarkError as e:
        raise StatsError(e.message, e.status) from None
    try:
        flag = db.session.get(ItemFlag, flag_id)
        flag.status, flag.resolution = FLAG_RESOLVED, "key_corrected"
        flag.decided_by, flag.decided_at, flag.decision_reason = actor.id, clock.now(), reason
        audit.record("item.flag_accept_key", "item", flag.item_id, actor=actor,
                     before={"flag": flag.id, "code": flag.code, "status": FLAG_OPEN},
                     after={"flag": flag.id, "status": FLAG_RESOLVED, "resolution": "key_corrected",
                            "new_key": key, "remarked": len(preview.rows), "changed": len(preview.changed_rows)},
                     reason=reason)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return preview


def key_corrected_since(flag: ItemFlag) -> bool:
    return db.session.execute(select(func.count(KeyCorrection.id)).where(
        KeyCorrection.item_version_id == flag.item_version_id,
        KeyCorrection.created_at >= flag.raised_at)).scalar() > 0


# ----------------------------------------------------------------------------------------------------
# the assembler
# ----------------------------------------------------------------------------------------------------
def prefer_measured(items: list[dict]) -> list[dict]:
    """Replace ``difficulty`` / ``discrimination`` of bank item dicts (with ``version_id``) by the pooled
    measured p and upper–lower D when the version has at least ``STATS_MIN_N_FOR_ASSEMBLY`` candidates.
    The writer's estimates stay in ``expected_difficulty`` / ``expected_discrimination``. Changes the dicts
    in place and returns them."""
    min_n = int(_config("STATS_MIN_N_FOR_ASSEMBLY", 100))
    vids = [d["version_id"] for d in items if d.get("version_id") is not None]
    if not vids:
        return items
    pooled = pooled_for_versions(vids)
    for d in items:
        pst = pooled.get(d.get("version_id"))
        if pst is None or pst["n"] < min_n or pst["p"] is None:
            continue
        d["difficulty"] = round(min(1.0, max(0.0, pst["p"])), 4)
        if pst["d"] is not None:
            d["discrimination"] = round(min(1.0, max(-1.0, pst["d"])), 4)
    return items


# ----------------------------------------------------------------------------------------------------
# hook for marking
# ----------------------------------------------------------------------------------------------------
def sitting_complete(session_id: int) -> bool:
    """No attempt of the sitting is open and every submitted attempt is machine-marked (one query)."""
    from ..models import AttemptMarking, ExamAttempt
    from ..models.exams import OPEN_STATUSES, SUBMITTED

    unmarked = ~exists().where(AttemptMarking.attempt_id == ExamAttempt.id)
    waiting = select(ExamAttempt.id).where(
        ExamAttempt.session_id == session_id,
        or_(ExamAttempt.status.in_(OPEN_STATUSES), and_(ExamAttempt.status == SUBMITTED, unmarked))).limit(1)
    return db.session.execute(waiting).first() is None


def on_attempt_finalised(attempt_id: int):
    """The marking hook's call after finalised attempts were machine-marked (``attempt_id``: one of them):
    refresh the sitting once it is complete (:func:`sitting_complete`; see the module docstring — statistics
    of a sitting in progress are noise, and a burst is analysed once). Returns the refresh's result or None.
    Never raises."""
    from ..models import ExamAttempt
    from . import stats

    if not _config("STATS_AUTO_REFRESH", True):
        return None
    try:
        sid = db.session.execute(select(ExamAttempt.session_id).where(ExamAttempt.id == attempt_id)).scalar()
        if sid is None or not sitting_complete(sid):
            return None
        # no time debounce here: this may be the call after the last marks, which must not be dropped; a
        # fresh sitting costs a few aggregate queries, and concurrent calls coalesce in refresh_session
        return stats.refresh_session(sid, trigger="marking")
    except Exception:  # noqa: BLE001 - statistics must never break marking
        db.session.rollback()
        log.exception("item statistics hook failed for attempt %s", attempt_id)
        return None


def on_attempts_marked(session_id: int):
    """Refresh the sitting's statistics after a batch of attempts was marked (debounced; never raises).
    Call it after the marking transaction is committed."""
    from . import stats

    try:
        interval = float(_config("STATS_MIN_INTERVAL_SECONDS", 10))
        last = db.session.execute(select(func.max(AnalysisRun.created_at)).where(
            AnalysisRun.session_id == session_id, AnalysisRun.scope == SCOPE_SITTING)).scalar()
        if last is not None and clock.now() - last < _dt.timedelta(seconds=interval):
            return None
        return stats.refresh_session(session_id, trigger="marking")
    except Exception:  # noqa: BLE001 - statistics must never break marking
        db.session.rollback()
        log.exception("item statistics refresh failed for session %s", session_id)
        return None

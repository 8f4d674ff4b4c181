"""Item statistics of delivered sittings (试题分析): score rows, analysis runs, the pages' data, the export.

**Pipeline.** A sitting (exam session) is analysed per paper form (parallel forms hold different items):

1. *Score rows* (:class:`~examsys.models.StatRow`): one row per submitted attempt — the packed responses
   (one byte per item: chosen letters as a bit mask, T/F, answered/blank; :func:`scoring.sitting.response_mask`)
   and the awarded item scores (float32), in form position order. Delivery stores every answer in the item's
   *original* label space (:func:`question_bank.layout.answer_to_original` maps the per-attempt option ids
   back through ``ExamAttempt.layout`` when the answer is saved), so the letters here are the item's own
   A, B, C… and distractor analysis works across candidates with different option orders. Scores come from
   the marks: machine-marked items from ``AttemptMarking.item_scores`` (with key corrections applied by the
   marking service), examiner-marked items from the final score of their ``Script``. A row is ``complete``
   when every item has its final score; incomplete rows wait (``AnalysisRun.n_pending``).
   Rows are built incrementally: each row keeps the ``stamp`` of the marking state it was built from
   (machine-marked or not, the form's newest key correction, the attempt's script scores), and a refresh
   rebuilds only the rows whose stamp changed (``rebuild=True``, the page's *Recompute now*: every row).
2. *Analysis* (:func:`analyse_form`): the complete rows of a form become a :class:`scoring.results.ScoreMatrix`
   (:func:`scoring.sitting.matrix_from_masks`, the effective key per item) and go through
   :func:`scoring.report.analyze`; the option-by-score-group tables and item characteristic curves come from
   :func:`scoring.sitting.score_group_curves`. The run (:class:`~examsys.models.AnalysisRun`) keeps the test
   summary, conventions and thresholds; one :class:`~examsys.models.ItemStat` per item version keeps the
   item's statistics, options, flags and curves.
3. *The loop* (:mod:`examsys.services.stats_loop`): pooled statistics per item version into ``Item.stat_*``,
   ``error`` flags into the review queue.

**Freshness (no nightly job).** :func:`session_stamp` is a cheap aggregate of the sitting's marking state
(submitted attempts, machine-marking times, script scores, key corrections, thresholds). A refresh
(:func:`refresh_session`) does nothing when the current runs carry the same stamp; otherwise it rebuilds the
changed rows and recomputes — about a second for a large sitting. It runs when someone opens the sitting's
statistics, from ``examsys stats refresh`` (cron-free catch-up), and from
:func:`examsys.services.stats_loop.on_attempt_finalised` (the marking hook: once, when the sitting's last
attempt is in and machine-marked). A sitting used at several stations (the same form in sessions of ≥ 2 stations)
also gets a ``stations`` run: the same analysis with the station as group (Mantel–Haenszel DIF, station_leak).

**Concurrency.** Several processes may refresh at once (gunicorn workers, the sweeper, post-finalisation
threads). Writers are serialised per sitting (:func:`writer_lock`: a PostgreSQL transaction-level advisory lock;
on SQLite the database's write lock, taken with ``BEGIN IMMEDIATE`` and waited for up to
``STATS_LOCK_WAIT_SECONDS``, not the connection's shorter busy timeout). A refresh checks the stamp without the
lock (a fresh page costs no lock), then takes the lock and checks again: a refresh that waited for another one
finds its work done and returns unchanged, or recomputes from what that one committed. The across-stations
run of a form is computed under a lock of the form, and the loop (pooled statistics, flags) under one lock for
every sitting, taken in that order (sitting, forms ascending, loop). Score rows are written with an upsert.

**Access.** Admins and reviewers see every sitting; station managers and examiners only their station's.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import io
import json
import math
import time
from dataclasses import dataclass

import numpy as np
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import Text, cast, delete, func, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from scoring.flags import FlagThresholds
from scoring.report import analyze
from scoring.sitting import KINDS_BY_TYPE, matrix_from_masks, response_mask, score_group_curves, worst_severity

from .. import clock
from ..extensions import db
from ..models import (AnalysisRun, AttemptMarking, Blueprint, ExamAttempt, ExamCandidate, ExamResponse, ExamSession,
                      Item, ItemStat, ItemVersion, KeyCorrection, Occupation, Paper, PaperForm, PaperItem, PassRule,
                      Script, StatRow, Station)
from ..models.exams import SUBMITTED
from ..models.stats import SCOPE_SITTING, SCOPE_STATIONS

VIEW_ALL_ROLES = ("admin", "reviewer")
STATION_ROLES = ("station_manager", "examiner")
VIEW_ROLES = VIEW_ALL_ROLES + STATION_ROLES
PIPELINE_VERSION = "1"
_CHUNK = 2000
_IN = 5000
#: Final script statuses of the marking engineer's model (kept here so the cache does not import marking).
_FINAL_SCRIPT = ("marked", "adjudicated", "absent")


class StatsError(Exception):
    """A refused statistics request: ``message`` for the user and an HTTP ``status``."""

    def __init__(self, message: str, status: int = 404):
        super().__init__(message)
        self.message = message
        self.status = status


# ----------------------------------------------------------------------------------------------------
# configuration and access
# ----------------------------------------------------------------------------------------------------
def thresholds() -> FlagThresholds:
    """Flag thresholds: ``FlagThresholds`` defaults, overridden by the ``STATS_THRESHOLDS`` config dict."""
    return FlagThresholds(**(current_app.config.get("STATS_THRESHOLDS") or {}))


def _config(name: str, default):
    return current_app.config.get(name, default)


def can_view_session(user, sess: ExamSession | None) -> bool:
    if sess is None or user is None or not getattr(user, "is_authenticated", True):
        return False
    role = getattr(user, "role", None)
    if role in VIEW_ALL_ROLES:
        return True
    return role in STATION_ROLES and user.station_id is not None and user.station_id == sess.station_id


def session_for(user, session_id: int) -> ExamSession:
    """The session if ``user`` may see its statistics; otherwise :class:`StatsError` 404 (no existence leak)."""
    sess = db.session.get(ExamSession, session_id)
    if not can_view_session(user, sess):
        raise StatsError(_("The exam session was not found."), 404)
    return sess


def visible_sessions_query(user):
    q = select(ExamSession)
    if getattr(user, "role", None) not in VIEW_ALL_ROLES:
        q = q.where(ExamSession.station_id == (user.station_id if user.station_id is not None else -1))
    return q


def sittings_overview(user, limit: int = 500) -> list[dict]:
    """Sessions the user may see, newest first, with their finalised count and current runs."""
    sessions = list(db.session.execute(visible_sessions_query(user).order_by(ExamSession.starts_at.desc(),
                                                                              ExamSession.id.desc())
                                       .limit(limit)).scalars())
    if not sessions:
        return []
    ids = [s.id for s in sessions]
    submitted = dict(db.session.execute(select(ExamAttempt.session_id, func.count(ExamAttempt.id)).where(
        ExamAttempt.session_id.in_(ids), ExamAttempt.status == SUBMITTED).group_by(ExamAttempt.session_id)).all())
    runs: dict[int, list[AnalysisRun]] = {}
    for r in db.session.execute(select(AnalysisRun).where(AnalysisRun.session_id.in_(ids),
                                                          AnalysisRun.scope == SCOPE_SITTING,
                                                          AnalysisRun.is_current.is_(True))
                                .order_by(AnalysisRun.form_label)).scalars():
        runs.setdefault(r.session_id, []).append(r)
    stations = {s.id: s for s in db.session.execute(select(Station).where(
        Station.id.in_({s.station_id for s in sessions}))).scalars()}
    flagged = dict(db.session.execute(
        select(AnalysisRun.session_id, func.count(ItemStat.id)).join(ItemStat, ItemStat.run_id == AnalysisRun.id)
        .where(AnalysisRun.session_id.in_(ids), AnalysisRun.is_current.is_(True),
               AnalysisRun.scope == SCOPE_SITTING, ItemStat.severity == "error")
        .group_by(AnalysisRun.session_id)).all())
    return [{"session": s, "station": stations.get(s.station_id), "submitted": submitted.get(s.id, 0),
             "runs": runs.get(s.id, []), "errors": flagged.get(s.id, 0)} for s in sessions]


# ----------------------------------------------------------------------------------------------------
# the form's items
# ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Slot:
    """One item of a paper form, as the analysis sees it."""

    paper_item_id: int
    item_version_id: int
    item_id: int
    version: int
    type: str
    kind: str
    points: float
    position: int
    section: str
    key: object
    n_options: int | None
    kp_code: str
    difficulty: float | None

    @property
    def label(self) -> str:
        return f"{self.item_id}v{self.version}"


def key_corrections(iv_ids) -> dict[int, dict]:
    """Newest key correction per item version (``{iv_id: content}``)."""
    out: dict[int, dict] = {}
    ids = sorted(set(iv_ids))
    for k in range(0, len(ids), _IN):
        for iv_id, content in db.session.execute(
                select(KeyCorrection.item_version_id, KeyCorrection.content)
                .where(KeyCorrection.item_version_id.in_(ids[k:k + _IN])).order_by(KeyCorrection.id)):
            out[iv_id] = dict(content or {})
    return out


def form_slots(form_id: int) -> list[Slot]:
    rows = db.session.execute(
        select(PaperItem, ItemVersion).join(ItemVersion, ItemVersion.id == PaperItem.item_version_id)
        .where(PaperItem.form_id == form_id).order_by(PaperItem.position)).all()
    fixes = key_corrections([iv.id for _pi, iv in rows])
    out = []
    for pi, iv in rows:
        content = dict(iv.content or {})
        content.update(fixes.get(iv.id) or {})
        kind = KINDS_BY_TYPE.get(iv.type, "marked")
        n_opt = len(content.get("options") or []) if kind in ("single", "multiple") else None
        out.append(Slot(pi.id, iv.id, iv.item_id, iv.number, iv.type, kind, float(pi.points), pi.position,
                        pi.section, content.get("key") if kind != "marked" else None, n_opt or None,
                        iv.kp_code, iv.difficulty))
    return out


# ----------------------------------------------------------------------------------------------------
# freshness
# ----------------------------------------------------------------------------------------------------
def _iso(t) -> str:
    return t.isoformat() if t is not None else "-"


def session_stamp(session_id: int) -> str:
    """A digest of everything the sitting's statistics depend on (cheap aggregate queries)."""
    sess = db.session.get(ExamSession, session_id)
    n_sub, last_fin = db.session.execute(select(func.count(ExamAttempt.id), func.max(ExamAttempt.finalised_at))
                                         .where(ExamAttempt.session_id == session_id,
                                                ExamAttempt.status == SUBMITTED)).one()
    # machine marks: only their number (an index-only count; the rows hold large JSON). A re-mark after a key
    # correction is seen through the correction; a forced refresh rebuilds every row.
    n_am = db.session.execute(select(func.count(AttemptMarking.attempt_id)).where(
        AttemptMarking.session_id == session_id)).scalar()
    n_sc, n_fin, sum_sc, last_sc = db.session.execute(
        select(func.count(Script.id), func.count(Script.final_score), func.sum(Script.final_score),
               func.max(Script.finalised_at)).where(Script.session_id == session_id)).one()
    last_kc = db.session.execute(
        select(func.max(KeyCorrection.id)).join(PaperItem, PaperItem.item_version_id == KeyCorrection.item_version_id)
        .join(PaperForm, PaperForm.id == PaperItem.form_id).where(PaperForm.paper_id == sess.paper_id)).scalar()
    th = json.dumps(thresholds().to_dict(), sort_keys=True)
    raw = "|".join(str(x) for x in (
        PIPELINE_VERSION, n_sub, _iso(last_fin), n_am, n_sc, n_fin,
        f"{float(sum_sc or 0):.6f}", _iso(last_sc), last_kc, th, _config("STATS_IRT", "rasch"),
        _pass_cut_fraction(sess)))
    return hashlib.sha256(raw.encode()).hexdigest()[:40]


def _pass_cut_fraction(sess: ExamSession) -> float:
    row = db.session.get(PassRule, int(sess.grade))
    mark = float(row.pass_mark) if row is not None and row.pass_mark is not None else 60.0
    return mark / 100.0


# ----------------------------------------------------------------------------------------------------
# concurrency
# ----------------------------------------------------------------------------------------------------
#: Lock kinds of :func:`writer_lock`, always taken in this order within a transaction: one sitting, then its
#: forms in ascending id, then the loop (pooled statistics and flags, shared by every sitting).
LOCK_SESSION = "examsys.stats.session"
LOCK_FORM = "examsys.stats.form"
LOCK_LOOP = "examsys.stats.loop"
# the schema is part of the key: schemas on one server (test processes, several installations) do not share locks
_PG_LOCK = text("SELECT pg_advisory_xact_lock(hashtext(CAST(:kind AS text) || ':' || coalesce(current_schema(), '')),"
                " CAST(:key AS integer))")


def writer_lock(kind: str, key: int = 0) -> None:
    """Serialise statistics writers on ``(kind, key)`` until the end of the current transaction (the commit or
    rollback releases it). PostgreSQL: ``pg_advisory_xact_lock`` (waits; re-entrant in one transaction).
    SQLite: the database's write lock (one writer at a time, whatever the kind): ``BEGIN IMMEDIATE`` unless the
    transaction already writes, waiting up to ``STATS_LOCK_WAIT_SECONDS`` (default 300) for another refresh
    instead of failing with "database is locked" after the connection's busy timeout."""
    conn = db.session.connection()
    name = conn.dialect.name
    if name == "postgresql":
        conn.execute(_PG_LOCK, {"kind": kind, "key": int(key)})
    elif name == "sqlite":
        raw = conn.connection.dbapi_connection
        if raw.in_transaction:  # pysqlite opens the transaction at the first write: the write lock is held
            return
        wait_ms = max(1, int(float(_config("STATS_LOCK_WAIT_SECONDS", 300)) * 1000))
        previous = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
        conn.exec_driver_sql(f"PRAGMA busy_timeout={wait_ms}")
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        finally:
            conn.exec_driver_sql(f"PRAGMA busy_timeout={int(previous or 0)}")
    else:  # pragma: no cover - examsys runs on SQLite and PostgreSQL
        raise RuntimeError(f"unsupported database dialect {name!r}")


def _stat_row_upsert():
    """Insert score rows, replacing a stored row of the same attempt (idempotent, whoever wrote it)."""
    name = db.session.connection().dialect.name
    ins = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[name](StatRow)
    cols = ("session_id", "form_id", "station_id", "masks", "scores", "complete", "stamp", "built_at")
    return ins.on_conflict_do_update(index_elements=[StatRow.attempt_id],
                                     set_={c: getattr(ins.excluded, c) for c in cols})


# ----------------------------------------------------------------------------------------------------
# score rows
# ----------------------------------------------------------------------------------------------------
def _core(stmt):
    """Execute a column query on the session's connection without ORM result processing (large results)."""
    return db.session.connection().execute(stmt)


def _attempt_stamps(session_id: int) -> dict[int, tuple[int, str]]:
    """``{attempt_id: (form_id, stamp)}`` of the session's submitted attempts."""
    att = dict(_core(select(ExamAttempt.id, ExamAttempt.paper_form_id).where(
        ExamAttempt.session_id == session_id, ExamAttempt.status == SUBMITTED)).all())
    marked = set(_core(select(AttemptMarking.attempt_id).where(
        AttemptMarking.session_id == session_id)).scalars().all())
    # a key correction of a form's item rebuilds every row of that form
    fixes = dict(db.session.execute(
        select(PaperItem.form_id, func.max(KeyCorrection.id))
        .join(KeyCorrection, KeyCorrection.item_version_id == PaperItem.item_version_id)
        .where(PaperItem.form_id.in_(set(att.values()) or {-1})).group_by(PaperItem.form_id)).all())
    scripts = {a: (n, nf, s, m) for a, n, nf, s, m in _core(
        select(Script.attempt_id, func.count(Script.id), func.count(Script.final_score), func.sum(Script.final_score),
               func.max(Script.finalised_at)).where(Script.session_id == session_id).group_by(Script.attempt_id))}
    plain: dict[tuple, str] = {}  # attempts without scripts share a stamp per (marked, form)
    out = {}
    for aid, fid in att.items():
        sc = scripts.get(aid)
        if sc is None:
            key = (aid in marked, fid)
            st = plain.get(key)
            if st is None:
                st = plain[key] = row_stamp(key[0], fixes.get(fid, 0), None)
        else:
            st = row_stamp(aid in marked, fixes.get(fid, 0), sc)
        out[aid] = (fid, st)
    return out


def row_stamp(machine_marked: bool, key_fix, scripts) -> str:
    """The stamp of one attempt's marking state: whether it is machine-marked, the newest key-correction id of
    its form (0 = none), and its scripts ``(count, finals, sum, last finalised)`` or None."""
    sc = scripts
    s = (f"{'m' if machine_marked else '-'}|{key_fix or 0}|"
         + (f"{sc[0]}|{sc[1]}|{float(sc[2] or 0):.4f}|{_iso(sc[3])}" if sc else "-"))
    return hashlib.sha1(s.encode()).hexdigest()


class _Masks(dict):
    """(JSON text, kind) -> mask byte, decoded once per distinct answer."""

    def __missing__(self, key):
        text, kind = key
        value = None if text is None else json.loads(text)
        m = response_mask(value, kind)
        self[key] = m
        return m


def sync_rows(sess: ExamSession, *, rebuild: bool = False) -> dict:
    """Bring the session's score rows up to date (``rebuild``: every row); returns ``{"built", "removed", "total"}``.
    Takes the sitting's writer lock (held until the caller's commit), so it reads the rows another refresh
    committed; writing is an upsert."""
    writer_lock(LOCK_SESSION, sess.id)
    stamps = _attempt_stamps(sess.id)
    have = {} if rebuild else dict(_core(select(StatRow.attempt_id, StatRow.stamp).where(
        StatRow.session_id == sess.id)).all())
    gone = [a for a in (have if not rebuild else db.session.execute(select(StatRow.attempt_id).where(
        StatRow.session_id == sess.id)).scalars()) if a not in stamps]
    for k in range(0, len(gone), _IN):
        db.session.execute(delete(StatRow).where(StatRow.attempt_id.in_(gone[k:k + _IN])))
    todo: dict[int, list[int]] = {}
    for aid, (fid, st) in stamps.items():
        if have.get(aid) != st:
            todo.setdefault(fid, []).append(aid)
    built = 0
    decoded = _Masks()
    now = clock.now()
    for fid, aids in todo.items():
        slots = form_slots(fid)
        col = {s.paper_item_id: j for j, s in enumerate(slots)}
        kinds = [s.kind for s in slots]
        auto_keys = [str(s.paper_item_id) for s in slots]
        j = len(slots)
        pis = list(col)
        for k in range(0, len(aids), _CHUNK):
            chunk = sorted(aids[k:k + _CHUNK])
            row_of = {a: i for i, a in enumerate(chunk)}
            masks = np.zeros((len(chunk), j), dtype=np.uint8)
            scores = np.full((len(chunk), j), np.nan, dtype=np.float32)
            for aid, pi, text in db.session.execute(
                    select(ExamResponse.attempt_id, ExamResponse.paper_item_id, cast(ExamResponse.answer, Text))
                    .where(ExamResponse.attempt_id.in_(chunk))):
                c = col.get(pi)
                if c is not None and text is not None:
                    masks[row_of[aid], c] = decoded[(text, kinds[c])]
            for aid, item_scores in db.session.execute(
                    select(AttemptMarking.attempt_id, AttemptMarking.item_scores)
                    .where(AttemptMarking.attempt_id.in_(chunk))):
                if not item_scores:
                    continue
                r = row_of[aid]
                for c, key in enumerate(auto_keys):
                    v = item_scores.get(key)
                    if v is not None:
                        scores[r, c] = v
            for aid, pi, final, status in db.session.execute(
                    select(Script.attempt_id, Script.paper_item_id, Script.final_score, Script.status)
                    .where(Script.attempt_id.in_(chunk), Script.paper_item_id.in_(pis))):
                c = col.get(pi)
                if c is not None and final is not None and status in _FINAL_SCRIPT:
                    scores[row_of[aid], c] = final
            complete = np.isfinite(scores).all(axis=1)
            station = sess.station_id
            rows = [{"attempt_id": aid, "session_id": sess.id, "form_id": fid, "station_id": station,
                     "masks": masks[i].tobytes(), "scores": scores[i].astype("<f4").tobytes(),
                     "complete": bool(complete[i]), "stamp": stamps[aid][1], "built_at": now}
                    for i, aid in enumerate(chunk)]
            db.session.execute(_stat_row_upsert(), rows)
            built += len(rows)
    return {"built": built, "removed": len(gone), "total": len(stamps)}


def load_rows(form_id: int, session_ids) -> dict:
    """The complete score rows of ``form_id`` in ``session_ids``: ``attempt_ids``, ``station_ids`` (N,),
    ``masks`` (N, J) uint8, ``scores`` (N, J) float64, and ``pending`` (incomplete rows left out)."""
    # no ORDER BY: sorting 100,000 rows of blobs in the database costs more than sorting the ids here
    rows = _core(
        select(StatRow.attempt_id, StatRow.station_id, StatRow.masks, StatRow.scores)
        .where(StatRow.form_id == form_id, StatRow.session_id.in_(list(session_ids)),
               StatRow.complete.is_(True))).all()
    pending = db.session.execute(select(func.count(StatRow.attempt_id)).where(
        StatRow.form_id == form_id, StatRow.session_id.in_(list(session_ids)),
        StatRow.complete.is_(False))).scalar() or 0
    n = len(rows)
    if n == 0:
        return {"attempt_ids": np.zeros(0, dtype=np.int64), "station_ids": np.zeros(0, dtype=np.int64),
                "masks": np.zeros((0, 0), dtype=np.uint8), "scores": np.zeros((0, 0)), "pending": int(pending)}
    aids, sts, mk, sc = zip(*rows)
    j = len(mk[0])
    aids = np.asarray(aids, dtype=np.int64)
    sts = np.asarray(sts, dtype=np.int64)
    masks = np.frombuffer(b"".join(mk), dtype=np.uint8).reshape(n, j)
    scores = np.frombuffer(b"".join(sc), dtype="<f4").reshape(n, j)
    if n > 1 and not np.all(aids[1:] > aids[:-1]):  # candidates in attempt order (stable reports)
        order = np.argsort(aids, kind="stable")
        aids, sts, masks, scores = aids[order], sts[order], masks[order], scores[order]
    return {"attempt_ids": aids, "station_ids": sts, "masks": masks, "scores": scores.astype(np.float64),
            "pending": int(pending)}


# ----------------------------------------------------------------------------------------------------
# analysis
# ----------------------------------------------------------------------------------------------------
def _irt_model(n: int, j: int) -> str | None:
    model = _config("STATS_IRT", "rasch")
    if model not in ("rasch", "2pl"):
        return None
    return model if n * j <= int(_config("STATS_IRT_MAX_CELLS", 2_000_000)) and n >= 100 and j >= 3 else None


def analyse_form(form: PaperForm, session_ids, *, groups_by_station: bool = False, cut_fraction: float = 0.6,
                 data: dict | None = None) -> dict | None:
    """Analyse the complete rows of ``form`` in ``session_ids``. Returns ``{"report", "slots", "curves",
    "data", "notes", "seconds", "irt"}`` or None when fewer than 2 candidates are complete."""
    t0 = time.perf_counter()
    slots = form_slots(form.id)
    owned = data is None  # rows loaded here may be modified in place by the matrix builder
    data = data if data is not None else load_rows(form.id, session_ids)
    n = data["masks"].shape[0]
    if n < 2 or not slots:
        return None
    if data["masks"].shape[1] != len(slots):
        raise StatsError(_("The stored score rows do not match the paper form; refresh the statistics."), 409)
    matrix, notes = matrix_from_masks(
        [f"a{a}" for a in data["attempt_ids"]], [s.label for s in slots], [s.kind for s in slots],
        [s.key for s in slots], [s.n_options for s in slots], [s.points for s in slots], data["masks"],
        data["scores"], copy_scores=not owned)
    groups = None
    if groups_by_station:
        codes = dict(db.session.execute(select(Station.id, Station.code)).all())
        groups = np.array([codes.get(int(s), str(s)) for s in data["station_ids"]], dtype=object)
    th = thresholds()
    irt = _irt_model(n, len(slots))
    report = analyze(matrix, groups=groups, irt=irt, thresholds=th,
                     cut=cut_fraction * float(matrix.max_points.sum()))
    curves = score_group_curves(matrix, irt=[it.get("irt") for it in report["items"]])
    return {"report": report, "slots": slots, "curves": curves, "data": data, "notes": notes,
            "seconds": time.perf_counter() - t0, "irt": irt, "thresholds": th}


def _store_run(res: dict, *, scope: str, sess: ExamSession | None, session_ids, form: PaperForm, stamp: str,
               trigger: str, actor=None) -> AnalysisRun:
    report = res["report"]
    run = AnalysisRun(scope=scope, session_id=sess.id if sess is not None else None,
                      session_ids=sorted(int(s) for s in session_ids), paper_id=form.paper_id, form_id=form.id,
                      form_label=form.label, created_at=clock.now(), created_by=getattr(actor, "id", None),
                      trigger=trigger[:32], n_candidates=report["test"]["n_candidates"],
                      n_items=report["test"]["n_items"], n_pending=res["data"]["pending"],
                      conventions=report["conventions"], test=report["test"], thresholds=res["thresholds"].to_dict(),
                      irt_model=res["irt"], stamp=stamp, seconds=round(res["seconds"], 3),
                      notes=[f"{res['slots'][j].label}: {m}" for j, ms in enumerate(res["notes"]) for m in ms],
                      is_current=True)
    db.session.add(run)
    db.session.flush()
    rows = []
    for slot, it, curve in zip(res["slots"], report["items"], res["curves"]):
        codes = [f["code"] for f in it["flags"]]
        rows.append({
            "run_id": run.id, "item_id": slot.item_id, "item_version_id": slot.item_version_id,
            "paper_item_id": slot.paper_item_id, "position": slot.position, "kind": it["kind"],
            "key": None if it["key"] is None else str(it["key"])[:16], "max_points": it["max_points"],
            "n": it["n"], "n_omitted": it["n_omitted"], "mean": it["mean"], "p": it["p"], "sd": it["sd"],
            "r_pbis": it["r_pbis"], "r_rest": it["r_rest"], "alpha_if_deleted": it["alpha_if_deleted"],
            "d_ul27": it["d_ul27"], "disc_efficiency": it["disc_efficiency"], "severity": worst_severity(codes),
            "flag_codes": (" " + " ".join(codes) + " ")[:250] if codes else "",
            "options": it["options"], "omit": it["omit"], "irt": it["irt"], "dif": it["dif"], "flags": it["flags"],
            "curves": curve,
            "detail": {"p_ci": it["p_ci"], "r_rest_ci": it["r_rest_ci"], "p_upper": it["p_upper"],
                       "p_lower": it["p_lower"], "notes": it["notes"]}})
    db.session.execute(insert(ItemStat), rows)
    # older runs of the same scope, sitting and form are superseded (and deleted with their item rows)
    old_q = select(AnalysisRun.id).where(AnalysisRun.scope == scope, AnalysisRun.form_id == form.id,
                                         AnalysisRun.id < run.id)
    old_q = old_q.where(AnalysisRun.session_id == sess.id) if sess is not None else \
        old_q.where(AnalysisRun.session_id.is_(None))
    old = list(db.session.execute(old_q).scalars())
    if old:
        from ..models import ItemFlag
        db.session.execute(update(ItemFlag).where(ItemFlag.run_id.in_(old)).values(run_id=run.id))
        db.session.execute(delete(ItemStat).where(ItemStat.run_id.in_(old)))
        db.session.execute(delete(AnalysisRun).where(AnalysisRun.id.in_(old)))
    return run


def _current_runs_query(session_id: int):
    return select(AnalysisRun).where(
        AnalysisRun.session_id == session_id, AnalysisRun.scope == SCOPE_SITTING, AnalysisRun.is_current.is_(True)
    ).order_by(AnalysisRun.form_label, AnalysisRun.id.desc())


def current_runs(session_id: int) -> list[AnalysisRun]:
    return list(db.session.execute(_current_runs_query(session_id)).scalars())


def _reload_current_runs(session_id: int) -> list[AnalysisRun]:
    """:func:`current_runs` with runs already in the ORM session refreshed (another process may have changed them)."""
    return list(db.session.execute(_current_runs_query(session_id).execution_options(populate_existing=True))
                .scalars())


def is_fresh(session_id: int) -> bool:
    runs = current_runs(session_id)
    return bool(runs) and all(r.stamp == session_stamp(session_id) for r in runs)


def refresh_session(session_id: int, *, trigger: str = "view", actor=None, force: bool = False,
                    rebuild: bool = False, commit: bool = True) -> dict:
    """Recompute the sitting's statistics when its marking state changed (see the module docstring);
    ``force``: recompute anyway; ``rebuild``: also rebuild every score row from the responses and marks.

    Returns ``{"changed": bool, "runs": [AnalysisRun], "rows": {...}, "loop": {...}}``."""
    from . import stats_loop

    sess = db.session.get(ExamSession, session_id)
    if sess is None:
        raise StatsError(_("The exam session was not found."), 404)
    if not (force or rebuild):  # the common case, a fresh sitting: a few aggregate queries and no lock
        runs = current_runs(session_id)
        if runs and {r.stamp for r in runs} == {session_stamp(session_id)}:
            return {"changed": False, "runs": runs, "rows": None, "loop": None}
    try:
        # one writer per sitting; a refresh that held the lock has committed, so check again: its work may be ours
        writer_lock(LOCK_SESSION, session_id)
        stamp = session_stamp(session_id)
        runs = _reload_current_runs(session_id)
        if runs and not (force or rebuild) and all(r.stamp == stamp for r in runs):
            if commit:
                db.session.commit()  # nothing written: ends the transaction (and the lock)
            return {"changed": False, "runs": runs, "rows": None, "loop": None}
        rows = sync_rows(sess, rebuild=rebuild)
        forms = sorted(set(db.session.execute(select(StatRow.form_id).where(
            StatRow.session_id == session_id)).scalars()))
        cut = _pass_cut_fraction(sess)
        new_runs = []
        for fid in forms:
            form = db.session.get(PaperForm, fid)
            res = analyse_form(form, [session_id], cut_fraction=cut)
            if res is None:
                continue
            new_runs.append(_store_run(res, scope=SCOPE_SITTING, sess=sess, session_ids=[session_id], form=form,
                                       stamp=stamp, trigger=trigger, actor=actor))
        # forms without enough complete rows keep no current run
        stale = [r.id for r in runs if r.form_id not in {n.form_id for n in new_runs}]
        if stale:
            db.session.execute(update(AnalysisRun).where(AnalysisRun.id.in_(stale)).values(is_current=False))
        # the stations run of a form reads every sitting's rows: one writer per form, after the others committed
        for fid in forms:
            writer_lock(LOCK_FORM, fid)
        station_runs = [r for r in (_refresh_stations(fid, trigger, actor) for fid in forms) if r is not None]
        writer_lock(LOCK_LOOP)  # pooled statistics and flags are shared by every sitting of an item
        loop = stats_loop.after_runs(new_runs + station_runs, actor=actor)
        if commit:
            db.session.commit()
    except Exception:
        if commit:
            db.session.rollback()
        raise
    return {"changed": True, "runs": new_runs, "rows": rows, "loop": loop}


def _stations_of_form(form_id: int) -> tuple[list[int], set[int]]:
    rows = db.session.execute(select(StatRow.session_id, StatRow.station_id).where(
        StatRow.form_id == form_id).distinct()).all()
    return sorted({s for s, _st in rows}), {st for _s, st in rows}


def _refresh_stations(form_id: int, trigger: str, actor) -> AnalysisRun | None:
    """The across-stations run of a form used at two or more stations (groups = stations). Call it holding
    the form's writer lock (:func:`refresh_session` does)."""
    sessions, stations = _stations_of_form(form_id)
    if len(stations) < 2:
        return None
    stamp = hashlib.sha256("|".join(session_stamp(s) for s in sessions).encode()).hexdigest()[:40]
    cur = db.session.execute(select(AnalysisRun).where(
        AnalysisRun.scope == SCOPE_STATIONS, AnalysisRun.form_id == form_id, AnalysisRun.is_current.is_(True))
        .order_by(AnalysisRun.id.desc()).execution_options(populate_existing=True)).scalars().first()
    if cur is not None and cur.stamp == stamp:
        return None
    form = db.session.get(PaperForm, form_id)
    first = db.session.get(ExamSession, sessions[0])
    res = analyse_form(form, sessions, groups_by_station=True, cut_fraction=_pass_cut_fraction(first))
    if res is None:
        return None
    return _store_run(res, scope=SCOPE_STATIONS, sess=None, session_ids=sessions, form=form, stamp=stamp,
                      trigger=trigger, actor=actor)


def refresh_due(*, trigger: str = "cli", session_ids=None) -> list[tuple[int, bool]]:
    """Refresh every session with submitted attempts (or ``session_ids``); returns ``[(id, changed)]``."""
    if session_ids is None:
        session_ids = sorted(set(db.session.execute(select(ExamAttempt.session_id).where(
            ExamAttempt.status == SUBMITTED).distinct()).scalars()))
    out = []
    for sid in session_ids:
        out.append((sid, refresh_session(sid, trigger=trigger)["changed"]))
    return out


# ----------------------------------------------------------------------------------------------------
# reading for the pages
# ----------------------------------------------------------------------------------------------------
SORT_KEYS = ("position", "p", "r_rest", "r_pbis", "d_ul27", "alpha_if_deleted", "sd", "n_omitted", "severity")
_SEV_ORDER = {"error": 3, "warning": 2, "info": 1, None: 0}


def run_for(user, run_id: int) -> AnalysisRun:
    """A run the user may see (its sitting, or for a stations run every one of its sittings)."""
    run = db.session.get(AnalysisRun, run_id)
    if run is None:
        raise StatsError(_("The analysis was not found."), 404)
    for sid in run.session_ids or []:
        if can_view_session(user, db.session.get(ExamSession, sid)):
            if run.scope == SCOPE_SITTING or getattr(user, "role", None) in VIEW_ALL_ROLES:
                return run
    raise StatsError(_("The analysis was not found."), 404)


def item_rows(run: AnalysisRun, *, flag: str | None = None, severity: str | None = None, sort: str = "position",
              desc: bool = False) -> list[tuple[ItemStat, Item, ItemVersion]]:
    q = (select(ItemStat, Item, ItemVersion).join(Item, Item.id == ItemStat.item_id)
         .join(ItemVersion, ItemVersion.id == ItemStat.item_version_id).where(ItemStat.run_id == run.id))
    if flag:
        q = q.where(ItemStat.flag_codes.like(f"% {flag} %"))
    if severity == "any":
        q = q.where(ItemStat.severity.is_not(None))
    elif severity:
        q = q.where(ItemStat.severity == severity)
    rows = list(db.session.execute(q.order_by(ItemStat.position)).all())
    if sort not in SORT_KEYS:
        sort = "position"
    if sort == "severity":
        rows.sort(key=lambda r: (_SEV_ORDER[r[0].severity], -r[0].position), reverse=not desc)
    elif sort != "position":
        def key(r):
            v = getattr(r[0], sort)
            return (v is None, v if v is not None else 0.0)
        rows.sort(key=key, reverse=desc)
        if desc:  # keep undefined values last
            rows.sort(key=lambda r: getattr(r[0], sort) is None)
    elif desc:
        rows.reverse()
    return rows


def item_stat_for(run: AnalysisRun, item_version_id: int) -> tuple[ItemStat, Item, ItemVersion]:
    row = db.session.execute(
        select(ItemStat, Item, ItemVersion).join(Item, Item.id == ItemStat.item_id)
        .join(ItemVersion, ItemVersion.id == ItemStat.item_version_id)
        .where(ItemStat.run_id == run.id, ItemStat.item_version_id == item_version_id)).first()
    if row is None:
        raise StatsError(_("The item is not in this analysis."), 404)
    return tuple(row)


def item_history(user, item_id: int) -> list[dict]:
    """Every current sitting run of the item's versions the user may see, oldest sitting first."""
    rows = db.session.execute(
        select(ItemStat, AnalysisRun, ItemVersion.number, ExamSession)
        .join(AnalysisRun, AnalysisRun.id == ItemStat.run_id)
        .join(ItemVersion, ItemVersion.id == ItemStat.item_version_id)
        .join(ExamSession, ExamSession.id == AnalysisRun.session_id)
        .where(ItemStat.item_id == item_id, AnalysisRun.scope == SCOPE_SITTING, AnalysisRun.is_current.is_(True))
        .order_by(ExamSession.starts_at, ExamSession.id)).all()
    stations = dict(db.session.execute(select(Station.id, Station.name)).all())
    return [{"stat": st, "run": run, "version": ver, "session": sess, "station": stations.get(sess.station_id, "")}
            for st, run, ver, sess in rows if can_view_session(user, sess)]


def attempt_tickets(attempt_ids) -> dict[str, str]:
    """``{"a<attempt id>": ticket number}`` for candidate ids used in a run's evidence."""
    ids = sorted({int(str(a)[1:]) for a in attempt_ids if str(a).startswith("a") and str(a)[1:].isdigit()})
    out = {}
    for k in range(0, len(ids), _IN):
        for aid, ticket in db.session.execute(
                select(ExamAttempt.id, ExamCandidate.ticket_no).join(ExamCandidate,
                                                                      ExamCandidate.id == ExamAttempt.candidate_id)
                .where(ExamAttempt.id.in_(ids[k:k + _IN]))):
            out[f"a{aid}"] = ticket
    return out


def _blueprint_window(paper: Paper) -> tuple[float, float] | None:
    if paper.blueprint_id is None:
        return None
    bp = db.session.get(Blueprint, paper.blueprint_id)
    if bp is None:
        return None
    part = (bp.spec or {}).get(paper.part) or {}
    window = ((part.get("difficulty") or {}).get("mean_p"))
    if isinstance(window, (list, tuple)) and len(window) == 2:
        try:
            return float(window[0]), float(window[1])
        except (TypeError, ValueError):
            return None
    return None


def area_summary(run: AnalysisRun) -> dict:
    """Per knowledge-point area (鉴定范围): items, points, mean measured p against the paper's blueprint window
    ``difficulty.mean_p`` and the mean expected p (the item versions' difficulty)."""
    from . import papers as papers_service

    paper = db.session.get(Paper, run.paper_id)
    occ = db.session.get(Occupation, paper.occupation_id)
    kp_index = papers_service.kp_index_for(occ)
    names = papers_service.area_names(occ)
    window = _blueprint_window(paper)
    areas: dict[str, dict] = {}
    rows = item_rows(run)
    for st, _item, ver in rows:
        info = kp_index.get(ver.kp_code)
        area = info.area if info is not None else (ver.kp_code.split("-")[0] if ver.kp_code else "?")
        a = areas.setdefault(area, {"area": area, "name": names.get(area, ""), "n_items": 0, "points": 0.0,
                                    "p": [], "expected": [], "flags": 0})
        a["n_items"] += 1
        a["points"] += st.max_points
        if st.p is not None:
            a["p"].append(st.p)
        if ver.difficulty is not None:
            a["expected"].append(ver.difficulty)
        if st.severity == "error":
            a["flags"] += 1
    out = []
    for a in sorted(areas.values(), key=lambda a: a["area"]):
        mp = sum(a["p"]) / len(a["p"]) if a["p"] else None
        me = sum(a["expected"]) / len(a["expected"]) if a["expected"] else None
        status = None
        if window is not None and mp is not None:
            status = "low" if mp < window[0] else ("high" if mp > window[1] else "ok")
        out.append({**a, "mean_p": mp, "mean_expected": me, "status": status})
    all_p = [st.p for st, _i, _v in rows if st.p is not None]
    overall = sum(all_p) / len(all_p) if all_p else None
    overall_status = None
    if window is not None and overall is not None:
        overall_status = "low" if overall < window[0] else ("high" if overall > window[1] else "ok")
    return {"areas": out, "window": window, "mean_p": overall, "status": overall_status, "paper": paper}


def station_comparison(user, run: AnalysisRun) -> dict:
    """Per station: candidates, mean, SD, pass rate and per-item p, from the form's score rows of every sitting.
    Station managers and examiners see their own station and the other stations combined."""
    sessions, _stations = _stations_of_form(run.form_id)
    data = load_rows(run.form_id, sessions)
    slots = form_slots(run.form_id)
    n = data["masks"].shape[0]
    own_only = getattr(user, "role", None) not in VIEW_ALL_ROLES
    stations = {s.id: s for s in db.session.execute(select(Station)).scalars()}
    if n == 0 or data["masks"].shape[1] != len(slots):
        return {"groups": [], "slots": slots, "rows": [], "own_only": own_only}
    if own_only:
        label_of = {sid: (stations[sid].name if sid == user.station_id else _("Other stations (combined)"))
                    for sid in set(int(s) for s in data["station_ids"])}
    else:
        label_of = {sid: stations[sid].name if sid in stations else str(sid)
                    for sid in set(int(s) for s in data["station_ids"])}
    labels = np.array([label_of[int(s)] for s in data["station_ids"]], dtype=object)
    points = np.array([s.points for s in slots])
    x = np.nan_to_num(data["scores"])
    totals = x.sum(axis=1)
    cut = (run.test or {}).get("pass_mark", {}).get("cut")
    groups = []
    for lab in sorted(set(labels.tolist())):
        sel = labels == lab
        m = int(sel.sum())
        t = totals[sel]
        groups.append({"label": lab, "n": m, "mean": float(t.mean()), "sd": float(t.std(ddof=1)) if m > 1 else None,
                       "pass_rate": float((t >= cut - 1e-9).mean()) if cut is not None else None,
                       "p": (x[sel].mean(axis=0) / points).tolist(),
                       "own": own_only and lab != _("Other stations (combined)")})
    rows = []
    for j, s in enumerate(slots):
        vals = [g["p"][j] for g in groups]
        rows.append((s, vals, (max(vals) - min(vals)) if vals else None))
    return {"groups": groups, "slots": slots, "rows": rows, "own_only": own_only, "max_total": float(points.sum()),
            "cut": cut}


def report_dict(run: AnalysisRun) -> dict:
    """The stored run as a scoring report (the shape of :func:`scoring.report.analyze`)."""
    items = []
    for st, _item, _ver in item_rows(run):
        d = st.detail or {}
        items.append({"item_id": f"{st.item_id}v{_ver.number}", "kind": st.kind, "key": st.key,
                      "max_points": st.max_points, "n": st.n, "n_omitted": st.n_omitted, "mean": st.mean, "p": st.p,
                      "p_ci": d.get("p_ci") or [None, None], "sd": st.sd, "r_pbis": st.r_pbis, "r_rest": st.r_rest,
                      "r_rest_ci": d.get("r_rest_ci") or [None, None], "alpha_if_deleted": st.alpha_if_deleted,
                      "d_ul27": st.d_ul27, "p_upper": d.get("p_upper"), "p_lower": d.get("p_lower"),
                      "disc_efficiency": st.disc_efficiency, "options": st.options or {}, "omit": st.omit,
                      "irt": st.irt, "dif": st.dif, "flags": st.flags or [], "notes": d.get("notes") or []})
    return {"conventions": run.conventions or {}, "test": run.test or {}, "items": items, "copying": []}


def export_xlsx(run: AnalysisRun) -> bytes:
    """The run as an .xlsx workbook (scoring.io's writer: Test, Items, Options, Flags, Copying, Conventions)."""
    from scoring.io import write_xlsx

    buf = io.BytesIO()
    write_xlsx(report_dict(run), buf)
    return buf.getvalue()


def histogram(run: AnalysisRun) -> dict | None:
    h = (run.test or {}).get("histogram")
    if not h or not h.get("edges"):
        return None
    return h


def fmt(x, nd: int = 2) -> str:
    """A number for the tables ('—' for None/nan)."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—"
    return f"{x:.{nd}f}"


def now() -> _dt.datetime:
    return clock.now()

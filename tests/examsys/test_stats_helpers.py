"""Helpers for the item-statistics tests (no tests here): a simulated delivered and machine-marked sitting.

:func:`simulated_sitting` builds a session with the delivery factories, stores one answer per candidate and
item as delivery does (original label space), finalises every attempt and machine-marks the session with
the marking service, so the statistics read exactly what production writes. Answers follow a 2PL-like model;
one item can be planted with a wrong key (the bank key says ``B`` but the able candidates choose ``C``).
Everything runs inside an application context.
"""
from __future__ import annotations

import datetime as _dt

import numpy as np
from sqlalchemy import insert, select, update

from examsys import clock
from examsys.extensions import db
from examsys.models import ExamAttempt, ExamResponse, ItemVersion, PaperForm, PaperItem
from examsys.services import exams as exams_service
from examsys.services import marking as marking_service

from . import factories
from .factories import T0

LETTERS = "ABCD"


def simulated_sitting(*, n: int = 120, n_single: int = 10, n_tf: int = 2, miskey: int | None = 3,
                      seed: int = 7, prefix: str = "2026", station_id=None, paper_id=None, labels=("A",),
                      omit_rate: float = 0.02) -> dict:
    """A finalised, machine-marked sitting. ``miskey``: 1-based position of the planted mis-keyed single-choice
    item (bank key B, true answer C). ``paper_id``: reuse another session's paper (same items, other station).
    Returns the factory dict plus ``forms`` = {label: [(paper_item_id, item_version_id, item_id, type)]}."""
    clock.set_clock(lambda: T0 - _dt.timedelta(hours=1))
    per_type = {"single_choice": n_single, "true_false": n_tf}
    if paper_id is None:
        s = factories.make_session(n_candidates=n, labels=labels, per_type=per_type, prefix=prefix,
                                   station_id=station_id, seed=seed)
    else:
        s = _session_on_paper(paper_id, n=n, prefix=prefix, station_id=station_id, seed=seed, labels=labels)
    sess = exams_service.get_session(s["session_id"])
    clock.set_clock(lambda: T0)
    exams_service.start_session(sess, at=T0)
    clock.set_clock(lambda: T0 + _dt.timedelta(minutes=1))
    now = clock.now()
    rng = np.random.default_rng(seed)
    attempts = list(db.session.execute(select(ExamAttempt.id, ExamAttempt.paper_form_id).where(
        ExamAttempt.session_id == sess.id).order_by(ExamAttempt.id)).all())
    forms: dict[int, list] = {}
    rows = []
    for aid, fid in attempts:
        if fid not in forms:
            forms[fid] = list(db.session.execute(
                select(PaperItem.id, PaperItem.item_version_id, ItemVersion.item_id, ItemVersion.type)
                .join(ItemVersion, ItemVersion.id == PaperItem.item_version_id)
                .where(PaperItem.form_id == fid).order_by(PaperItem.position)).all())
        theta = rng.normal()
        for pos, (pi, iv, _item, t) in enumerate(forms[fid], start=1):
            if rng.random() < omit_rate:
                continue
            b = -1.0 + 2.0 * (pos - 1) / max(1, len(forms[fid]) - 1)
            right = rng.random() < 1 / (1 + np.exp(-1.7 * (theta - b)))
            if t == "true_false":
                ans = bool(right)
            elif miskey is not None and pos == miskey:
                ans = "C" if right else rng.choice(["A", "B", "D"], p=[0.3, 0.4, 0.3])
            else:
                ans = "B" if right else rng.choice(["A", "C", "D"])
            rows.append({"attempt_id": aid, "paper_item_id": pi, "item_version_id": iv, "answer": ans,
                         "flagged": False, "seq": 1, "saved_at": now})
    db.session.execute(insert(ExamResponse), rows)
    db.session.execute(update(ExamAttempt).where(ExamAttempt.session_id == sess.id).values(
        status="submitted", entered_at=now, confirmed_at=now, submitted_at=now, finalised_at=now,
        submit_reason="candidate"))
    db.session.commit()
    marking_service.mark_session(sess.id)
    label_of = dict(db.session.execute(select(PaperForm.id, PaperForm.label).where(
        PaperForm.id.in_(list(forms)))).all())
    s["forms"] = {label_of[fid]: [tuple(r) for r in rows_] for fid, rows_ in forms.items()}
    s["n"] = n
    return s


def _session_on_paper(paper_id: int, *, n: int, prefix: str, station_id, seed: int, labels) -> dict:
    from examsys.models import ExamCandidate, Station
    from examsys.services import roster as roster_service

    from examsys.models import User
    from examsys.services.auth import create_user

    st = db.session.get(Station, station_id)
    name = f"mgr_station_{st.id}"
    actor = db.session.execute(select(User).where(User.username == name)).scalar_one_or_none()
    if actor is None:
        actor = create_user(name, "pw-for-tests", "station_manager", name, station_id=st.id)
        db.session.flush()
    spec = exams_service.SessionSpec(
        name="第二场", station_id=station_id, paper_id=paper_id, form_labels=list(labels), form_assignment="alternate",
        starts_at=T0, duration_min=60, late_entry_min=15, grace_seconds=30, login_opens_min=30, auto_start=True,
        seed=seed)
    sess = exams_service.create_session(spec, actor)
    rows = factories.candidate_rows(n, prefix=prefix)
    roster_service.import_roster(sess, "roster.csv", factories.roster_csv(rows), actor)
    attempts = {c.ticket_no: a.id for c, a in db.session.query(ExamCandidate, ExamAttempt)
                .join(ExamAttempt, ExamAttempt.candidate_id == ExamCandidate.id)
                .filter(ExamCandidate.session_id == sess.id)}
    return {"session_id": sess.id, "paper_id": paper_id, "station_id": station_id, "rows": rows,
            "tickets": [r[0] for r in rows], "attempts": attempts}

"""Proctor views: the station's sessions, the live console (table polled every 3 s) and the action API.

``POST /api/proctor/sessions/<id>/actions`` takes JSON ``{"action": ..., "attempt_id": int (per-candidate
actions), "reason": str, "minutes": int (extend), "note": str (irregularity)}``. Room actions: start, pause,
resume, extend, collect_all. Candidate actions: pause, resume, extend, force_submit, unlock, irregularity.
"""
from __future__ import annotations

from flask import Blueprint, abort, g, jsonify, render_template
from flask_babel import gettext as _
from flask_login import current_user

from ..access import roles_required
from ..services import exams as exams_service
from ..delivery.routes import read_json_object
from ..services import proctoring
from ..services.exams import ExamError

bp = Blueprint("proctor", __name__)
ROLES = ("proctor", "station_manager")


def _own_session(session_id: int, *, json: bool = False):
    sess = exams_service.get_session(session_id)
    if sess is None or not exams_service.can_proctor(current_user, sess):
        if json:
            raise ExamError(_("This exam session does not exist."), status=404, code="not_found")
        abort(404)
    g.no_store = True
    return sess


@bp.route("/proctor/")
@roles_required(*ROLES)
def sessions():
    items = exams_service.sessions_for(current_user)
    return render_template("proctor/sessions.html", sessions=items)


@bp.route("/proctor/sessions/<int:session_id>")
@roles_required(*ROLES)
def console(session_id: int):
    sess = _own_session(session_id)
    return render_template("proctor/console.html", sess=sess)


@bp.route("/api/proctor/sessions/<int:session_id>/state")
@roles_required(*ROLES)
def state(session_id: int):
    try:
        sess = _own_session(session_id, json=True)
        return jsonify(proctoring.live_table(sess))
    except ExamError as e:
        return jsonify(ok=False, error=e.code, message=e.message), e.status


@bp.route("/api/proctor/sessions/<int:session_id>/actions", methods=["POST"])
@roles_required(*ROLES)
def action(session_id: int):
    try:
        sess = _own_session(session_id, json=True)
        data = read_json_object()
        name = data.get("action")
        reason = data.get("reason") if isinstance(data.get("reason"), str) else ""
        actor = current_user._get_current_object()
        if data.get("attempt_id") is None:
            result = proctoring.room_action(sess, name, actor, reason=reason, minutes=data.get("minutes"))
        else:
            note = data.get("note") if isinstance(data.get("note"), str) else ""
            result = proctoring.attempt_action(sess, data.get("attempt_id"), name, actor, reason=reason,
                                               minutes=data.get("minutes"), note=note)
        return jsonify(ok=True, **result)
    except ExamError as e:
        return jsonify(ok=False, error=e.code, message=e.message), e.status

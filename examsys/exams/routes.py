"""Station manager views: list and create exam sessions, import the roster, print admission tickets,
export the roster (ID numbers masked). A station manager sees only their station's sessions; admins see all."""
from __future__ import annotations

import datetime as _dt

from flask import Blueprint, Response, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ..access import roles_required
from ..services import exams as exams_service
from ..services import roster as roster_service
from ..services.exams import ExamError
from ..services.users import list_stations
from .forms import RosterForm, SessionForm

bp = Blueprint("exams", __name__, url_prefix="/exams")
ROLES = ("admin", "station_manager")
CST = _dt.timezone(_dt.timedelta(hours=8))


def _own_session(session_id: int):
    sess = exams_service.get_session(session_id)
    if sess is None or not exams_service.can_manage(current_user, sess):
        abort(404)
    g.no_store = True
    return sess


@bp.route("/")
@roles_required(*ROLES)
def sessions():
    items = exams_service.sessions_for(current_user)
    counts = {s.id: exams_service.candidate_count(s.id) for s in items}
    return render_template("exams/sessions.html", sessions=items, counts=counts)


@bp.route("/new", methods=["GET", "POST"])
@roles_required(*ROLES)
def new_session():
    form = SessionForm()
    stations = list_stations() if current_user.role == "admin" else [current_user.station] if current_user.station else []
    form.station_id.choices = [(s.id, f"{s.code} {s.name}") for s in stations]
    papers = exams_service.papers_for(current_user)
    form.paper_id.choices = [(p.id, f"#{p.id} {p.name} · {grade_label(p.grade)} · "
                                    + "/".join(f.label for f in p.forms)) for p in papers]
    problems, status = [], 200
    if request.method == "GET":
        tomorrow = (_dt.datetime.now(CST) + _dt.timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)
        form.starts_at.data = tomorrow.replace(tzinfo=None)
    if form.validate_on_submit():
        spec = exams_service.SessionSpec(
            name=form.name.data, station_id=form.station_id.data, paper_id=form.paper_id.data,
            form_labels=list(form.form_labels.data or []), form_assignment=form.form_assignment.data,
            starts_at=form.starts_at.data.replace(tzinfo=CST).astimezone(_dt.timezone.utc),
            duration_min=form.duration_min.data, late_entry_min=form.late_entry_min.data,
            grace_seconds=form.grace_seconds.data, login_opens_min=form.login_opens_min.data,
            auto_start=form.auto_start.data)
        try:
            sess = exams_service.create_session(spec, current_user._get_current_object())
            flash(_("Exam session created. Now import the roster."), "success")
            return redirect(url_for("exams.detail", session_id=sess.id))
        except ExamError as e:
            problems, status = e.problems, e.status
    elif form.is_submitted():
        status = 400
    return render_template("exams/new.html", form=form, problems=problems, has_papers=bool(papers)), status


def grade_label(grade: int) -> str:
    from ..template_helpers import grade_name
    return grade_name(grade)


@bp.route("/<int:session_id>")
@roles_required(*ROLES)
def detail(session_id: int):
    sess = _own_session(session_id)
    return _render_detail(sess, RosterForm(), [], 200)


def _render_detail(sess, form, problems, status):
    return render_template("exams/detail.html", sess=sess, form=form, problems=problems,
                           roster=roster_service.roster(sess.id), frozen=exams_service.is_frozen(sess)), status


@bp.route("/<int:session_id>/roster", methods=["POST"])
@roles_required(*ROLES)
def import_roster(session_id: int):
    sess = _own_session(session_id)
    form = RosterForm()
    if not form.validate_on_submit():
        return _render_detail(sess, form, [_("Choose a roster file to upload.")], 400)
    upload = form.file.data
    data = upload.read(int(current_app_config("MAX_IMPORT_BYTES")) + 1)
    if len(data) > int(current_app_config("MAX_IMPORT_BYTES")):
        return _render_detail(sess, form, [_("The upload is too large.")], 413)
    try:
        n = roster_service.import_roster(sess, upload.filename or "roster", data, current_user._get_current_object())
    except ExamError as e:
        return _render_detail(sess, form, [str(p) for p in e.problems] or [e.message], e.status)
    flash(_("%(n)s candidates imported; their papers are prepared.", n=n), "success")
    return redirect(url_for("exams.detail", session_id=sess.id))


def current_app_config(key):
    from flask import current_app
    return current_app.config[key]


@bp.route("/<int:session_id>/tickets")
@roles_required(*ROLES)
def tickets(session_id: int):
    sess = _own_session(session_id)
    rows = [(c, a, roster_service.login_code(c)) for c, a in roster_service.roster(sess.id)]
    return render_template("exams/tickets.html", sess=sess, rows=rows,
                           login_url=url_for("delivery.login", _external=True))


@bp.route("/<int:session_id>/roster.csv")
@roles_required(*ROLES)
def roster_csv(session_id: int):
    sess = _own_session(session_id)
    return Response(roster_service.export_csv(sess.id), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename=roster-{sess.id}.csv",
                             "Cache-Control": "no-store"})

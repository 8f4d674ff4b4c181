"""Examiner marking (考评): the queue, anonymised scripts of constructed-response answers, the practical
scoring sheet (评分记录表) on a tablet-friendly page, chief-examiner adjudication, and the station manager's
marking setup for a session (practical paper, double marking, examiner assignments).

Examiners reach only items assigned to them (404/403 otherwise); chief examiners adjudicate at their
station; station managers set up only their station's sessions. Bad input answers 422 with messages naming
the field and changes nothing.
"""
from __future__ import annotations

import datetime as _dt

import click
from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from itsdangerous import BadSignature, URLSafeTimedSerializer

from ..access import roles_required
from ..services import marking as marking_service
from ..services.marking import MarkingError, SheetInput

bp = Blueprint("marking", __name__, url_prefix="/marking")
EXAMINER = ("examiner",)
MANAGERS = ("admin", "station_manager")


@bp.before_request
def _no_store():
    g.no_store = True


# -- the "opened at" token: measures marking time without writing on GET ---------------------------
def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="examsys-marking-opened")


def _opened_token(script_id: int) -> str:
    from .. import clock
    return _serializer().dumps({"s": script_id, "u": current_user.id, "t": clock.now().timestamp()})


def _opened_at(script_id: int) -> _dt.datetime | None:
    token = request.form.get("opened", "")
    try:
        data = _serializer().loads(token, max_age=marking_service.MAX_SECONDS)
    except (BadSignature, TypeError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("s") != script_id or data.get("u") != current_user.id:
        return None
    try:
        return _dt.datetime.fromtimestamp(float(data["t"]), tz=_dt.timezone.utc)
    except (KeyError, TypeError, ValueError, OverflowError):
        return None


def _sheet_input(view: dict) -> SheetInput:
    """Parse the marking form for the script in ``view``."""
    f = request.form
    data = SheetInput(comment=f.get("comment", ""), notes=f.get("notes", ""),
                      opened_at=_opened_at(view["script"].id))
    content = view["content"]
    if view["script"].kind == "practical":
        entries = []
        for i, c in enumerate(content.get("criteria") or []):
            key = f"c{i}"
            entries.append({"level": f.get(key, "")} if c.get("mode") == "level" else {"deduction": f.get(key, "")})
        data.criteria = entries
        data.veto = f.getlist("veto")
    elif content.get("marking_points"):
        data.point_scores = [f.get(f"p{i}", "") for i in range(len(content["marking_points"]))]
    else:
        data.total = f.get("score", "")
    return data


def _refused(e: MarkingError):
    """A refusal outside a form: an error page for 403/404, else back to the queue with the message."""
    if e.status in (403, 404):
        return render_template("errors/error.html", code=e.status, message=e.message), e.status
    flash(e.message, "error")
    return redirect(url_for("marking.queue"))


# -- examiner pages --------------------------------------------------------------------------------
@bp.route("/")
@roles_required(*EXAMINER)
def queue():
    return render_template("marking/queue.html", q=marking_service.examiner_queue(current_user))


@bp.route("/next/<int:session_id>/<int:pi_id>")
@roles_required(*EXAMINER)
def next_script(session_id: int, pi_id: int):
    try:
        sid = marking_service.next_script(current_user, session_id, pi_id)
    except MarkingError as e:
        return _refused(e)
    if sid is None:
        flash(_("Nothing left to mark for this item."), "info")
        return redirect(url_for("marking.queue"))
    return redirect(url_for("marking.script", script_id=sid))


@bp.route("/task/<int:session_id>/<int:pi_id>")
@roles_required(*EXAMINER)
def task(session_id: int, pi_id: int):
    try:
        data = marking_service.task_sheet_list(current_user, session_id, pi_id)
    except MarkingError as e:
        return _refused(e)
    return render_template("marking/task.html", **data)


@bp.route("/script/<int:script_id>", methods=["GET", "POST"])
@roles_required(*EXAMINER)
def script(script_id: int):
    try:
        view = marking_service.script_view(current_user, script_id)
    except MarkingError as e:
        return _refused(e)
    if request.method == "POST":
        data = _sheet_input(view)
        try:
            marking_service.submit_mark(current_user, script_id, data)
        except MarkingError as e:
            if e.status in (403, 404):
                return _refused(e)
            view = marking_service.script_view(current_user, script_id)
            return render_template("marking/script.html", v=view, problems=e.problems, posted=request.form,
                                   opened=request.form.get("opened", "")), e.status
        flash(_("Mark saved for script %(code)s.", code=view["script"].code), "success")
        if view["script"].kind == "practical":
            return redirect(url_for("marking.task", session_id=view["script"].session_id,
                                    pi_id=view["script"].paper_item_id))
        return redirect(url_for("marking.next_script", session_id=view["script"].session_id,
                                pi_id=view["script"].paper_item_id))
    return render_template("marking/script.html", v=view, problems=[], posted=None,
                           opened=_opened_token(script_id))


@bp.route("/script/<int:script_id>/absent", methods=["POST"])
@roles_required("examiner", "station_manager", "admin")
def absent(script_id: int):
    undo = request.form.get("undo") == "1"
    try:
        s = marking_service.set_absent(current_user, script_id, not undo, request.form.get("reason", ""))
    except MarkingError as e:
        if e.status in (403, 404):
            return _refused(e)
        flash(e.message, "error")
        return redirect(request.referrer or url_for("marking.queue")), 303
    flash(_("Recorded absent.") if not undo else _("Absence removed."), "success")
    if current_user.role == "examiner":
        return redirect(url_for("marking.task", session_id=s.session_id, pi_id=s.paper_item_id))
    return redirect(url_for("marking.setup", session_id=s.session_id))


@bp.route("/adjudicate/<int:script_id>", methods=["GET", "POST"])
@roles_required(*EXAMINER)
def adjudicate(script_id: int):
    try:
        view = marking_service.script_view(current_user, script_id, adjudication=True)
    except MarkingError as e:
        return _refused(e)
    if request.method == "POST":
        data = _sheet_input(view)
        try:
            marking_service.adjudicate(current_user, script_id, data)
        except MarkingError as e:
            if e.status in (403, 404):
                return _refused(e)
            view = marking_service.script_view(current_user, script_id, adjudication=True)
            return render_template("marking/script.html", v=view, problems=e.problems, posted=request.form,
                                   opened=request.form.get("opened", ""), adjudication=True), e.status
        flash(_("Adjudicated score saved for script %(code)s.", code=view["script"].code), "success")
        return redirect(url_for("marking.queue"))
    return render_template("marking/script.html", v=view, problems=[], posted=None,
                           opened=_opened_token(script_id), adjudication=True)


# -- station manager: setup ------------------------------------------------------------------------
def _own_session(session_id: int):
    sess = marking_service.get_session(session_id)
    if sess is None or not marking_service.can_manage(current_user, sess):
        return None
    return sess


def _setup_page(sess, problems=(), status=200):
    st = marking_service.setting(sess.id)
    items = marking_service.markable_items(sess)
    examiners = marking_service.examiners_for(sess)
    scripts = marking_service.script_counts(sess.id)
    return render_template("marking/setup.html", sess=sess, st=st, items=items, examiners=examiners,
                           names={u.id: u.display_name for u in examiners},
                           papers=marking_service.practical_papers_for(sess), problems=list(problems),
                           counts=scripts, published=marking_service.is_published(sess.id)), status


@bp.route("/setup/<int:session_id>", methods=["GET", "POST"])
@roles_required(*MANAGERS)
def setup(session_id: int):
    sess = _own_session(session_id)
    if sess is None:
        return render_template("errors/error.html", code=404, message=_("The session was not found.")), 404
    if request.method == "POST":
        f = request.form
        paper = f.get("practical_paper_id", "")
        label = None
        if ":" in paper:
            paper, label = paper.split(":", 1)
        try:
            marking_service.save_settings(sess, current_user, double_marking=f.get("double_marking") == "1",
                                          threshold_percent=f.get("threshold_percent", ""),
                                          practical_paper_id=paper or None, practical_form_label=label)
        except MarkingError as e:
            return _setup_page(sess, e.problems, e.status)
        flash(_("Marking settings saved."), "success")
        return redirect(url_for("marking.setup", session_id=sess.id))
    return _setup_page(sess)


@bp.route("/setup/<int:session_id>/item/<int:pi_id>", methods=["POST"])
@roles_required(*MANAGERS)
def setup_item(session_id: int, pi_id: int):
    sess = _own_session(session_id)
    if sess is None:
        return render_template("errors/error.html", code=404, message=_("The session was not found.")), 404
    f = request.form
    try:
        marking_service.save_item_rule(sess, current_user, pi_id, double=f.get("double", "default"),
                                       threshold_percent=f.get("threshold_percent", ""))
        marking_service.set_assignments(sess, current_user, pi_id, f.getlist("examiners"))
    except MarkingError as e:
        if e.status == 404:
            return render_template("errors/error.html", code=404, message=e.message), 404
        return _setup_page(sess, e.problems, e.status)
    flash(_("Item settings saved."), "success")
    return redirect(url_for("marking.setup", session_id=sess.id))


@bp.route("/setup/<int:session_id>/mark", methods=["POST"])
@roles_required(*MANAGERS)
def mark_now(session_id: int):
    sess = _own_session(session_id)
    if sess is None:
        return render_template("errors/error.html", code=404, message=_("The session was not found.")), 404
    try:
        out = marking_service.mark_session(sess.id)
    except MarkingError as e:
        return _setup_page(sess, e.problems, e.status)
    flash(_("Machine marking done: %(n)s answer sheets marked.", n=out["marked"]), "success")
    return redirect(url_for("marking.setup", session_id=sess.id))


@bp.cli.command("mark-session")
@click.argument("session_id", type=int)
def mark_session_command(session_id: int):  # pragma: no cover - thin CLI wrapper
    """Machine-mark every finalised attempt of a session and refresh its draft results."""
    try:
        out = marking_service.mark_session(session_id)
    except MarkingError as e:
        raise click.ClickException(e.message) from None
    click.echo(f"marked {out['marked']} attempts; {out['practical_scripts_created']} practical scripts created")

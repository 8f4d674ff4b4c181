"""Results (成绩): sessions, a session's results with 综合评审 entry and publication, two-person changes of
published results, exports (.xlsx), the candidate's printable score report, examiner statistics, pass rules
and re-marking after a key correction.

Station managers see only their station (other sessions answer 404); admins see all. Bad input answers
422 with a message naming the field and changes nothing.
"""
from __future__ import annotations

import json

from flask import Blueprint, Response, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ..access import roles_required
from ..services import marking as marking_service
from ..services import remark as remark_service
from ..services import results as results_service
from ..services.marking import MarkingError

bp = Blueprint("results", __name__, url_prefix="/results")
MANAGERS = ("admin", "station_manager")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@bp.before_request
def _no_store():
    g.no_store = True


def _error(e: MarkingError):
    return render_template("errors/error.html", code=e.status, message=e.message), e.status


def _session_page(sess, problems=(), status=200):
    results_service.refresh(sess.id)
    rows = results_service.session_rows(sess)
    parts, mark = results_service.rule_for(sess.grade)
    changes = {ch.result_id: ch for ch, _r, _c in results_service.changes_for(current_user)}
    return render_template("results/session.html", sess=sess, rows=rows, parts=parts, pass_mark=mark,
                           published=marking_service.is_published(sess.id), problems=list(problems),
                           pending=results_service.pending_count(sess), changes=changes,
                           counts=marking_service.script_counts(sess.id)), status


@bp.route("/")
@roles_required(*MANAGERS)
def sessions():
    return render_template("results/sessions.html", sessions=results_service.sessions_overview(current_user),
                           pending_changes=len(results_service.changes_for(current_user)))


@bp.route("/session/<int:session_id>")
@roles_required(*MANAGERS)
def session(session_id: int):
    try:
        sess = results_service.session_for(current_user, session_id)
    except MarkingError as e:
        return _error(e)
    return _session_page(sess)


@bp.route("/session/<int:session_id>/review", methods=["POST"])
@roles_required(*MANAGERS)
def review(session_id: int):
    try:
        sess = results_service.session_for(current_user, session_id)
    except MarkingError as e:
        return _error(e)
    entries = {k[len("review_"):]: v for k, v in request.form.items() if k.startswith("review_")}
    try:
        n = results_service.set_review_scores(sess, current_user, entries)
    except MarkingError as e:
        return _session_page(sess, e.problems, e.status)
    flash(_("%(n)s review score(s) saved.", n=n), "success")
    return redirect(url_for("results.session", session_id=sess.id))


@bp.route("/session/<int:session_id>/publish", methods=["POST"])
@roles_required(*MANAGERS)
def publish(session_id: int):
    try:
        sess = results_service.session_for(current_user, session_id)
    except MarkingError as e:
        return _error(e)
    try:
        n = results_service.publish(sess, current_user)
    except MarkingError as e:
        return _session_page(sess, e.problems, e.status)
    flash(_("Results of %(n)s candidate(s) published; they are now locked.", n=n), "success")
    return redirect(url_for("results.session", session_id=sess.id))


@bp.route("/session/<int:session_id>/refresh", methods=["POST"])
@roles_required(*MANAGERS)
def refresh(session_id: int):
    try:
        sess = results_service.session_for(current_user, session_id)
        out = marking_service.mark_session(sess.id)
    except MarkingError as e:
        return _error(e)
    flash(_("Machine marking done: %(n)s answer sheets marked.", n=out["marked"]), "success")
    return redirect(url_for("results.session", session_id=sess.id))


def _xlsx(data: bytes, name: str) -> Response:
    return Response(data, mimetype=XLSX, headers={"Content-Disposition": f"attachment; filename={name}"})


@bp.route("/session/<int:session_id>/export.xlsx")
@roles_required(*MANAGERS)
def session_export(session_id: int):
    try:
        sess = results_service.session_for(current_user, session_id)
    except MarkingError as e:
        return _error(e)
    drafts = request.args.get("drafts") == "1"
    return _xlsx(results_service.export_xlsx(current_user, session_id=sess.id, include_drafts=drafts),
                 f"results-session-{sess.id}.xlsx")


def _int_arg(name: str) -> int | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise MarkingError(_("%(field)s: enter a whole number.", field=name), status=400)
    return int(raw)


@bp.route("/export.xlsx")
@roles_required(*MANAGERS)
def export():
    try:
        filters = {k: _int_arg(k) for k in ("station_id", "occupation_id", "grade", "session_id")}
    except MarkingError as e:
        return _error(e)
    if filters["grade"] is not None and filters["grade"] not in (1, 2, 3, 4, 5):
        return _error(MarkingError(_("grade: choose 1 to 5."), status=400))
    if current_user.role != "admin":
        if filters["station_id"] not in (None, current_user.station_id):
            return _error(MarkingError(_("station_id: you can export only your own station."), status=403))
    data = results_service.export_xlsx(current_user, include_drafts=request.args.get("drafts") == "1", **filters)
    return _xlsx(data, "results.xlsx")


@bp.route("/report/<int:result_id>")
@roles_required(*MANAGERS)
def report(result_id: int):
    try:
        view = results_service.report_view(current_user, result_id)
    except MarkingError as e:
        return _error(e)
    return render_template("results/report.html", **view)


@bp.route("/result/<int:result_id>/change", methods=["GET", "POST"])
@roles_required(*MANAGERS)
def change(result_id: int):
    try:
        row = results_service.result_for(current_user, result_id)
    except MarkingError as e:
        return _error(e)
    view = results_service.report_view(current_user, result_id)
    if request.method == "POST":
        proposed = {f: request.form.get(f, "") for f in results_service.CHANGE_FIELDS}
        try:
            results_service.request_change(row.id, current_user, proposed, request.form.get("reason", ""))
        except MarkingError as e:
            return render_template("results/change.html", problems=e.problems, posted=request.form, **view), e.status
        flash(_("Change requested; a second person must approve it."), "success")
        return redirect(url_for("results.session", session_id=row.session_id))
    return render_template("results/change.html", problems=[], posted=None, **view)


@bp.route("/changes")
@roles_required(*MANAGERS)
def changes():
    return render_template("results/changes.html", pending=results_service.changes_for(current_user),
                           decided=results_service.changes_for(current_user, status=None))


@bp.route("/changes/<int:change_id>/decide", methods=["POST"])
@roles_required(*MANAGERS)
def decide(change_id: int):
    approve = request.form.get("decision") == "approve"
    if request.form.get("decision") not in ("approve", "reject"):
        flash(_("Decision: choose approve or reject."), "error")
        return redirect(url_for("results.changes")), 303
    try:
        results_service.decide_change(change_id, current_user, approve, request.form.get("note", ""))
    except MarkingError as e:
        if e.status == 404:
            return _error(e)
        flash(e.message, "error")
        return render_template("results/changes.html", pending=results_service.changes_for(current_user),
                               decided=results_service.changes_for(current_user, status=None),
                               problems=e.problems), e.status
    flash(_("Change approved and applied.") if approve else _("Change rejected."), "success")
    return redirect(url_for("results.changes"))


@bp.route("/examiners/<int:session_id>")
@roles_required(*MANAGERS)
def examiners(session_id: int):
    try:
        sess = results_service.session_for(current_user, session_id)
    except MarkingError as e:
        return _error(e)
    return render_template("results/examiners.html", sess=sess, stats=marking_service.examiner_stats([sess.id]))


@bp.route("/rules")
@roles_required(*MANAGERS)
def rules():
    return render_template("results/rules.html", rules=results_service.all_rules(), problems=[])


@bp.route("/rules", methods=["POST"])
@roles_required("admin")
def rules_save():
    f = request.form
    try:
        results_service.set_rule(f.get("grade"), f.getlist("parts"), f.get("pass_mark"), current_user)
    except MarkingError as e:
        return render_template("results/rules.html", rules=results_service.all_rules(), problems=e.problems), e.status
    flash(_("Pass rule saved."), "success")
    return redirect(url_for("results.rules"))


def _new_key_from_form(iv_type: str):
    raw = request.form.get("new_key", "")
    if iv_type == "fill_blank" and raw.strip().startswith("{"):
        try:
            return json.loads(raw)
        except ValueError:
            raise MarkingError(_("New key: the text is not valid JSON."), status=422) from None
    return raw


@bp.route("/remark/<int:item_version_id>", methods=["GET", "POST"])
@roles_required(*MANAGERS)
def remark(item_version_id: int):
    from ..extensions import db
    from ..models import ItemVersion
    iv = db.session.get(ItemVersion, item_version_id)
    if iv is None:
        return _error(MarkingError(_("The item version was not found."), status=404))
    preview, problems, status = None, [], 200
    if request.method == "POST":
        try:
            new_key = _new_key_from_form(iv.type)
            if request.form.get("action") == "apply":
                preview = remark_service.apply_remark(iv.id, new_key, actor=current_user,
                                                      reason=request.form.get("reason", ""),
                                                      expected_digest=request.form.get("digest") or None)
                flash(_("Re-marked %(n)s answer sheet(s); %(c)s total(s) changed.", n=len(preview.rows),
                        c=len(preview.changed_rows)), "success")
                return redirect(url_for("results.sessions"))
            preview = remark_service.preview_remark(iv.id, new_key, actor=current_user)
        except MarkingError as e:
            if e.status == 404:
                return _error(e)
            problems, status = e.problems, e.status
            if request.form.get("action") == "apply":
                try:
                    preview = remark_service.preview_remark(iv.id, _new_key_from_form(iv.type), actor=current_user)
                except MarkingError:
                    preview = None
    return render_template("results/remark.html", iv=iv, preview=preview, problems=problems,
                           posted=request.form if request.method == "POST" else None), status

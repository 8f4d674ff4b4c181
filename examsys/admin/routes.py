"""Administration: users and stations."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ..access import roles_required
from ..models import Role
from ..services import users as user_service
from .forms import StationForm, UserForm

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.route("/users", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def users():
    form = UserForm()
    from ..template_helpers import ROLE_NAMES, _pick
    form.role.choices = [(r.value, _pick(ROLE_NAMES, r.value)) for r in Role]
    form.station_id.choices = [(0, "—")] + [(s.id, f"{s.code} {s.name}") for s in user_service.list_stations()]
    status = 200
    if form.validate_on_submit():
        try:
            user_service.add_user(form.data, current_user)
            flash(_("User created."), "success")
            return redirect(url_for("admin.users"))
        except user_service.UserError as e:
            getattr(form, e.field).errors.append(_("This username is already taken."))
            status = 400
    elif form.is_submitted():
        status = 400
    return render_template("admin/users.html", form=form, users=user_service.list_users()), status


@bp.route("/users/<int:user_id>/active", methods=["POST"])
@roles_required(Role.ADMIN)
def toggle_user(user_id: int):
    from flask import request
    if user_id == current_user.id:
        abort(400)
    user = user_service.set_active(user_id, request.form.get("active") == "1", current_user)
    if user is None:
        abort(404)
    return redirect(url_for("admin.users"))


@bp.route("/stations", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def stations():
    form = StationForm()
    status = 200
    if form.validate_on_submit():
        try:
            user_service.add_station(form.code.data.strip(), form.name.data.strip(), form.region.data, current_user)
            flash(_("Station created."), "success")
            return redirect(url_for("admin.stations"))
        except user_service.UserError:
            form.code.errors.append(_("This station code is already taken."))
            status = 400
    elif form.is_submitted():
        status = 400
    return render_template("admin/stations.html", form=form, stations=user_service.list_stations()), status


@bp.route("/audit")
@roles_required(Role.ADMIN)
def audit():
    from flask import request
    from ..services import audit as audit_service
    page = max(1, request.args.get("page", 1, type=int))
    entries, pages = audit_service.page_of_entries(page, per_page=50,
                                                   object_type=request.args.get("object_type") or None)
    ok, bad_id = audit_service.verify_chain()
    return render_template("admin/audit.html", entries=entries, page=page, pages=pages, chain_ok=ok, bad_id=bad_id)

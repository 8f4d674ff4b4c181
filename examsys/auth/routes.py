"""Staff login and logout (candidates log in through the delivery blueprint with their ticket)."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ..access import public, roles_required
from ..models import Role
from ..services import auth as auth_service
from .forms import LoginForm

bp = Blueprint("auth", __name__)
ALL_STAFF = tuple(r.value for r in Role)


def _safe_next(target: str | None) -> str:
    if target and not urlsplit(target).netloc and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("main.index")


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        user, reason = auth_service.authenticate(form.username.data, form.password.data, request.remote_addr or "")
        if user is not None:
            auth_service.start_staff_session(user)
            return redirect(_safe_next(request.args.get("next")))
        if reason == auth_service.LOGIN_LOCKED:
            flash(_("Too many failed logins. The account or address is locked for 15 minutes."), "error")
            status = 429
        else:
            flash(_("Wrong username or password."), "error")
            status = 401
    elif request.method == "POST":
        status = 400
    return render_template("auth/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
@roles_required(*ALL_STAFF)
def logout():
    auth_service.end_staff_session(current_user._get_current_object())
    return redirect(url_for("auth.login"))


@bp.route("/lang/<code>")
@public
def set_language(code: str):
    if code in ("zh", "en"):
        session["lang"] = code
    return redirect(_safe_next(request.args.get("next") or request.referrer and urlsplit(request.referrer).path))

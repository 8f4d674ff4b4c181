"""The start page: what each role can do next."""
from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, send_from_directory, url_for
from flask_login import current_user

from ..access import public

bp = Blueprint("main", __name__)


@bp.route("/")
@public
def index():
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    return render_template("main/index.html")


@bp.route("/healthz")
@public
def healthz():
    return {"status": "ok"}


@bp.route("/favicon.ico")
@public
def favicon():
    """Browsers ask for /favicon.ico even on pages without a <link rel="icon"> (PDFs, JSON): the same SVG icon."""
    return send_from_directory(current_app.static_folder, "favicon.svg", mimetype="image/svg+xml", max_age=7 * 24 * 3600)

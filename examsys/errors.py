"""Error pages and JSON errors: user input never produces a 500 page without a clear message."""
from __future__ import annotations

from flask import jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from .extensions import db


def _wants_json() -> bool:
    return request.is_json or request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def register_error_handlers(app) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(e):
        message = _("The form expired or was not sent from this site (CSRF check failed). Reload the page and try again.")
        if _wants_json():
            return jsonify(error="csrf", message=message), 400
        return render_template("errors/error.html", code=400, message=message), 400

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException):
        messages = {
            400: _("The request was not understood."),
            403: _("You do not have permission to open this page."),
            404: _("The page or record was not found."),
            405: _("This action is not allowed here."),
            413: _("The upload is too large."),
            429: _("Too many attempts. Please wait and try again."),
        }
        message = e.description if getattr(e, "examsys_message", False) else messages.get(e.code, e.name)
        if _wants_json():
            return jsonify(error=e.name, message=message), e.code
        return render_template("errors/error.html", code=e.code, message=message), e.code

    @app.errorhandler(Exception)
    def unexpected(e: Exception):  # pragma: no cover - a bug, logged
        db.session.rollback()
        app.logger.exception("unhandled error")
        if app.testing and app.config.get("PROPAGATE_TEST_ERRORS", True):
            raise e
        message = _("An internal error occurred; nothing was changed. The error was logged.")
        if _wants_json():
            return jsonify(error="internal", message=message), 500
        return render_template("errors/error.html", code=500, message=message), 500

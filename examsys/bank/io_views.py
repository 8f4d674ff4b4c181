"""Bank import/export pages: upload .xlsx/.csv (all-or-nothing, located problems), download, template."""
from __future__ import annotations

from flask import Response, current_app, flash, redirect, render_template, request, url_for
from flask_babel import get_locale, gettext as _
from flask_login import current_user

from ..access import roles_required
from ..services import bank_io
from ..services import taxonomy as taxonomy_service
from .routes import bp

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _lang() -> str:
    return "zh" if str(get_locale() or "zh").startswith("zh") else "en"


@bp.route("/import", methods=["GET", "POST"])
@roles_required("admin", "writer", "reviewer")
def import_bank():
    problems, warnings, status = [], [], 200
    if request.method == "POST":
        from flask_wtf.csrf import validate_csrf  # noqa: F401  (CSRFProtect already checked the token)
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            problems = [_("Choose a .xlsx or .csv file to import.")]
            status = 400
        else:
            data = upload.read(current_app.config["MAX_IMPORT_BYTES"] + 1)
            outcome = bank_io.import_bank(data, upload.filename, current_user._get_current_object(),
                                          allow_near_duplicates=request.form.get("confirm_duplicates") == "1",
                                          **bank_io.import_kwargs_from_config(current_app.config))
            if outcome.ok:
                flash(_("Import finished: %(c)s new items, %(u)s new versions, %(n)s unchanged.",
                        c=outcome.created, u=outcome.updated, n=outcome.unchanged), "success")
                return redirect(url_for("bank.browse"))
            problems = bank_io.describe(outcome.problems, _lang())
            warnings = bank_io.describe(outcome.warnings, _lang())
            status = 400
    return render_template("bank/import.html", problems=problems, warnings=warnings), status


@bp.route("/export")
@roles_required("admin", "writer", "reviewer")
def export_bank():
    fmt = request.args.get("format", "xlsx")
    if fmt not in bank_io.FORMATS:
        fmt = "xlsx"
    occupation = request.args.get("occupation") or None
    if occupation and taxonomy_service.get_occupation_by_code(occupation) is None:
        occupation = None
    body = bank_io.export_bank(fmt, occupation, request.args.get("status") or None,
                               viewer=current_user._get_current_object())
    name = f"examsys-bank{'-' + occupation if occupation else ''}.{fmt}"
    mime = XLSX if fmt == "xlsx" else "text/csv; charset=utf-8"
    return Response(body, mimetype=mime, headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.route("/template.xlsx")
@roles_required("admin", "writer", "reviewer")
def template():
    return Response(bank_io.template_bytes(), mimetype=XLSX,
                    headers={"Content-Disposition": 'attachment; filename="examsys-bank-template.xlsx"'})

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
MIMES = {"xlsx": XLSX, "csv": "text/csv; charset=utf-8", "zip": "application/zip",
         "xml": "application/xml; charset=utf-8", "gift": "text/plain; charset=utf-8"}


def parse_category_map(text: str) -> tuple[dict, list[str]]:
    """Lines ``category path = kp code`` (the confirmed category → knowledge point mapping)."""
    mapping, problems = {}, []
    for n, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip():
            continue
        if "=" not in line:
            problems.append(_("Category mapping, line %(n)s: write “category = knowledge point code”.", n=n))
            continue
        cat, kp = (x.strip() for x in line.rsplit("=", 1))
        mapping[cat] = kp
    return mapping, problems


def import_defaults(form) -> tuple[dict, list[str]]:
    """Metadata for imported items whose file carries none (QTI/Moodle/GIFT from other systems)."""
    out, problems = {}, []
    if form.get("default_occupation"):
        out["occupation"] = form["default_occupation"].strip()
    if form.get("default_grades"):
        try:
            out["grades"] = [int(g) for g in form["default_grades"].replace("，", ",").split(",") if g.strip()]
        except ValueError:
            problems.append(_("Default grades: write grade numbers separated by commas, e.g. 4,3."))
    if form.get("default_kp"):
        out["kp"] = form["default_kp"].strip()
    return out, problems


def _lang() -> str:
    return "zh" if str(get_locale() or "zh").startswith("zh") else "en"


@bp.route("/import", methods=["GET", "POST"])
@roles_required("admin", "writer", "reviewer")
def import_bank():
    problems, warnings, status, found_categories = [], [], 200, []
    if request.method == "POST":
        upload = request.files.get("file")
        category_map, problems = parse_category_map(request.form.get("category_map", ""))
        defaults, more = import_defaults(request.form)
        problems += more
        if upload is None or not upload.filename:
            problems = [_("Choose a file to import.")]
            status = 400
        elif problems:
            status = 400
        else:
            data = upload.read(current_app.config["MAX_IMPORT_BYTES"] + 1)
            if upload.filename.lower().endswith((".xml", ".gift", ".txt")):
                scan = bank_io.categories(data, upload.filename)
                found_categories = list(getattr(scan, "categories", ()) or ())
            outcome = bank_io.import_bank(data, upload.filename, current_user._get_current_object(),
                                          allow_near_duplicates=request.form.get("confirm_duplicates") == "1",
                                          category_map=category_map, defaults=defaults,
                                          **bank_io.import_kwargs_from_config(current_app.config))
            if outcome.ok:
                flash(_("Import finished: %(c)s new items, %(u)s new versions, %(n)s unchanged.",
                        c=outcome.created, u=outcome.updated, n=outcome.unchanged), "success")
                return redirect(url_for("bank.browse"))
            problems = bank_io.describe(outcome.problems, _lang())
            warnings = bank_io.describe(outcome.warnings, _lang())
            status = 400
    return render_template("bank/import.html", problems=problems, warnings=warnings, categories=found_categories,
                           form=request.form, formats=bank_io.FORMAT_NAMES), status


@bp.route("/export")
@roles_required("admin", "writer", "reviewer")
def export_bank():
    fmt = request.args.get("format", "xlsx")
    if fmt not in bank_io.FORMATS:
        fmt = "xlsx"
    occupation = request.args.get("occupation") or None
    if occupation and taxonomy_service.get_occupation_by_code(occupation) is None:
        occupation = None
    try:
        body = bank_io.export_bank(fmt, occupation, request.args.get("status") or None,
                                   viewer=current_user._get_current_object(),
                                   accept_losses=request.args.get("accept_losses") == "1")
    except bank_io.CannotCarryError as e:
        return render_template("bank/export_losses.html", losses=bank_io.describe(e.problems, _lang()), fmt=fmt,
                               args=dict(request.args, accept_losses="1"), formats=bank_io.FORMAT_NAMES), 409
    name = f"examsys-bank{'-' + occupation if occupation else ''}.{fmt}"
    return Response(body, content_type=MIMES[fmt], headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.route("/template.xlsx")
@roles_required("admin", "writer", "reviewer")
def template():
    return Response(bank_io.template_bytes(), mimetype=XLSX,
                    headers={"Content-Disposition": 'attachment; filename="examsys-bank-template.xlsx"'})

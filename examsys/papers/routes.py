"""Blueprint (组卷方案) editor, assembling, paper preview, print views and PDFs.

Admins write blueprints; admins and station managers assemble and see papers — a station manager only
their own station's papers (others answer 404). Bad input answers 400 with messages naming the field.
"""
from __future__ import annotations

from flask import Blueprint, Response, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup

from ..access import roles_required
from ..models import Role
from ..services import papers as papers_service
from ..services import taxonomy as taxonomy_service
from ..services import users as user_service
from .forms import AssembleForm, BlueprintForm

bp = Blueprint("papers", __name__, url_prefix="/papers")

ADMIN = (Role.ADMIN,)
STAFF = (Role.ADMIN, Role.STATION_MANAGER)
THEORY_KINDS = ("candidate", "key")
PRACTICAL_KINDS = ("prep", "tasks", "scoresheet")
MAX_UPLOAD = 1024 * 1024


def _zh() -> bool:
    return str(get_locale() or "zh").startswith("zh")


def _texts(messages) -> list[str]:
    zh = _zh()
    return [f"{m.field}: {m.text(zh)}" if m.field and not m.text(zh).startswith(m.field) else m.text(zh)
            for m in messages]


# ----------------------------------------------------------------------------------------------
# listing
# ----------------------------------------------------------------------------------------------
@bp.route("/")
@roles_required(*STAFF)
def blueprints():
    return render_template("papers/index.html", blueprints=papers_service.list_blueprints(),
                           papers=papers_service.list_papers(current_user),
                           occupations={o.id: o for o in taxonomy_service.list_occupations()},
                           stations={s.id: s for s in user_service.list_stations()})


# ----------------------------------------------------------------------------------------------
# blueprint editor
# ----------------------------------------------------------------------------------------------
def _editor(row=None):
    form = BlueprintForm()
    occupations = taxonomy_service.list_occupations()
    form.occupation_id.choices = [(o.id, f"{o.code} {o.work_type or o.name}") for o in occupations]
    problems, warnings, status, valid = [], [], 200, False
    if request.method == "GET":
        if row is not None:
            form.name.data, form.occupation_id.data, form.grade.data = row.name, row.occupation_id, row.grade
            form.spec.data = papers_service.dump_spec(row.spec)
        else:
            form.occupation_id.data = request.args.get("occupation_id", type=int) or (occupations[0].id if occupations else None)
            form.grade.data = request.args.get("grade", type=int) or 4
    elif not form.validate():
        status = 400
    else:
        action = request.form.get("action", "save")
        try:
            occ, grade = papers_service.occupation_and_grade(form.occupation_id.data, form.grade.data)
            if action == "derive":
                spec = papers_service.derive_spec(occ, grade, form.preset.data)
                form.spec.data = papers_service.dump_spec(spec)
                if not form.name.data:
                    form.name.data = spec.get("name", "")
                flash(_("Derived from the weight tables. Check it, then save."), "info")
            else:
                text, fmt = _spec_text(form)
                data = papers_service.parse_spec_text(text, fmt)
                if action == "validate":
                    parsed, msgs = papers_service.validate_spec(occ, grade, data)
                    errors = [m for m in msgs if m.severity == "error"]
                    warnings = _texts([m for m in msgs if m.severity != "error"])
                    if errors:
                        problems, status = _texts(errors), 400
                    else:
                        valid = True
                else:
                    saved, msgs = papers_service.save_blueprint(
                        occupation_id=occ.id, grade=grade, name=form.name.data or data.get("name") or "",
                        data=data, actor=current_user, blueprint_id=row.id if row is not None else None)
                    flash(_("Blueprint saved."), "success")
                    for w in _texts(msgs):
                        flash(w, "info")
                    return redirect(url_for("papers.blueprint", blueprint_id=saved.id))
        except papers_service.PaperServiceError as e:
            problems, status = _texts(e.messages), 400
    return render_template("papers/blueprint_edit.html", form=form, row=row, problems=problems, warnings=warnings,
                           valid=valid), status


def _spec_text(form) -> tuple[str, str | None]:
    f = form.upload.data
    if f is not None and getattr(f, "filename", ""):
        raw = f.read(MAX_UPLOAD + 1)
        if len(raw) > MAX_UPLOAD:
            raise papers_service.PaperServiceError([papers_service.Message(
                "upload", "upload：文件超过 1 MB", "upload: the file is larger than 1 MB", "too_large")])
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise papers_service.PaperServiceError([papers_service.Message(
                "upload", "upload：文件不是 UTF-8 编码的文本", "upload: the file is not UTF-8 text", "encoding")])
        form.spec.data = text
        return text, "json" if f.filename.lower().endswith(".json") else None
    return form.spec.data or "", None


@bp.route("/blueprints/new", methods=["GET", "POST"])
@roles_required(*ADMIN)
def new_blueprint():
    return _editor()


@bp.route("/blueprints/<int:blueprint_id>/edit", methods=["GET", "POST"])
@roles_required(*ADMIN)
def edit_blueprint(blueprint_id: int):
    row = papers_service.get_blueprint(blueprint_id)
    if row is None:
        abort(404)
    return _editor(row)


@bp.route("/blueprints/<int:blueprint_id>/delete", methods=["POST"])
@roles_required(*ADMIN)
def delete_blueprint(blueprint_id: int):
    try:
        if not papers_service.delete_blueprint(blueprint_id, current_user):
            abort(404)
    except papers_service.PaperServiceError as e:
        flash("; ".join(_texts(e.messages)), "error")
        return redirect(url_for("papers.blueprint", blueprint_id=blueprint_id))
    flash(_("Blueprint deleted."), "success")
    return redirect(url_for("papers.blueprints"))


# ----------------------------------------------------------------------------------------------
# blueprint page and assembling
# ----------------------------------------------------------------------------------------------
def _assemble_form(row):
    form = AssembleForm()
    parts = papers_service.blueprint_parts(row)
    form.part.choices = [(v, label) for v, label in form.part.choices if v in parts]
    if current_user.role == Role.ADMIN.value:
        form.station_id.choices = [(0, "—")] + [(s.id, f"{s.code} {s.name}") for s in user_service.list_stations()]
    else:
        st = current_user.station
        form.station_id.choices = [(st.id, f"{st.code} {st.name}")] if st else [(0, "—")]
        form.station_id.validate_choice = False  # ignored: a station manager assembles for their own station
    return form


def _render_blueprint(row, form, findings=None, status=200, problems=None):
    occ = papers_service.occupation_of(row)
    return render_template("papers/blueprint.html", row=row, occ=occ, form=form, findings=findings or [],
                           problems=problems or [], yaml_text=papers_service.dump_spec(row.spec),
                           area_names=papers_service.area_names(occ), zh=_zh()), status


@bp.route("/blueprints/<int:blueprint_id>")
@roles_required(*STAFF)
def blueprint(blueprint_id: int):
    row = papers_service.get_blueprint(blueprint_id)
    if row is None:
        abort(404)
    form = _assemble_form(row)
    if current_user.role != Role.ADMIN.value and current_user.station_id:
        form.station_id.data = current_user.station_id
    return _render_blueprint(row, form)


@bp.route("/blueprints/<int:blueprint_id>/download.<fmt>")
@roles_required(*STAFF)
def download_blueprint(blueprint_id: int, fmt: str):
    row = papers_service.get_blueprint(blueprint_id)
    if row is None or fmt not in ("yaml", "json"):
        abort(404)
    text = papers_service.dump_spec(row.spec, fmt)
    mime = "application/json" if fmt == "json" else "application/yaml; charset=utf-8"
    return Response(text, content_type=mime, headers={
        "Content-Disposition": f'attachment; filename="blueprint-{row.id}-grade{row.grade}.{fmt}"'})


def _request_from(form, row) -> papers_service.AssemblyRequest:
    station_id = form.station_id.data or None
    if current_user.role != Role.ADMIN.value:
        station_id = current_user.station_id  # a station manager assembles for their own station only
    return papers_service.AssemblyRequest(
        blueprint_id=row.id, part=form.part.data, forms=form.forms.data, seed=form.seed.data,
        time_limit=float(form.time_limit.data), station_id=station_id, name=form.name.data or "",
        exclude_recent=form.exclude_recent.data,
        max_exposure=float(form.max_exposure.data) if form.max_exposure.data is not None else None)


@bp.route("/blueprints/<int:blueprint_id>/assemble", methods=["POST"])
@roles_required(*STAFF)
def assemble(blueprint_id: int):
    row = papers_service.get_blueprint(blueprint_id)
    if row is None:
        abort(404)
    form = _assemble_form(row)
    if not form.validate():
        return _render_blueprint(row, form, status=400)
    try:
        paper = papers_service.assemble_paper(_request_from(form, row), current_user)
    except papers_service.PaperServiceError as e:
        return _render_blueprint(row, form, problems=_texts(e.messages), status=400)
    except papers_service.Infeasible as e:
        return _render_blueprint(row, form, findings=e.findings, status=422)
    flash(_("Paper assembled and frozen."), "success")
    return redirect(url_for("papers.paper", paper_id=paper.id))


# ----------------------------------------------------------------------------------------------
# papers
# ----------------------------------------------------------------------------------------------
def _visible_paper(paper_id: int):
    paper = papers_service.paper_for(current_user, paper_id)
    if paper is None:
        abort(404)
    return paper


@bp.route("/<int:paper_id>")
@roles_required(*STAFF)
def paper(paper_id: int):
    view = papers_service.paper_view(_visible_paper(paper_id))
    kinds = THEORY_KINDS if view["paper"].part == "theory" else PRACTICAL_KINDS
    return render_template("papers/paper.html", kinds=kinds, zh=_zh(), **view)


def _print_context(paper_id: int, label: str, kind: str) -> tuple[str, dict]:
    paper = _visible_paper(paper_id)
    kinds = THEORY_KINDS if paper.part == "theory" else PRACTICAL_KINDS
    if kind not in kinds:
        abort(404)
    view = papers_service.paper_view(paper)
    form = next((f for f in view["forms"] if f["label"] == label), None)
    if form is None:
        abort(404)
    ctx = dict(view, form=form, kind=kind, materials=papers_service.print_materials(view, label))
    ctx.update(running_header=_css_string(_running_header(view, label, kind)), page_counter=_page_counter_css(),
               image_src=_image_src)
    return f"papers/print/{kind}.html", ctx


KIND_TITLES = {
    "candidate": "Theory paper", "key": "Answer key and marking scheme", "prep": "Preparation notice",
    "tasks": "Practical test paper", "scoresheet": "Scoring record sheet",
}


def _running_header(view: dict, label: str, kind: str) -> str:
    from ..template_helpers import grade_name
    occ = view["occupation"]
    work = occ.work_type or occ.name
    return _("%(occupation)s (%(grade)s) · %(title)s · Form %(form)s", occupation=work,
             grade=grade_name(view["paper"].grade), title=_(KIND_TITLES[kind]), form=label)


def _css_string(text: str) -> Markup:
    """``text`` as a CSS string literal that is safe inside a <style> element."""
    out = []
    for ch in text:
        out.append(f"\\{ord(ch):x} " if ch in '"\\<>&' or ord(ch) < 0x20 else ch)
    return Markup('"' + "".join(out) + '"')


def _page_counter_css() -> Markup:
    text = _("Page %(page)s of %(pages)s", page="\x00page\x00", pages="\x00pages\x00")
    tokens = []
    for k, chunk in enumerate(text.split("\x00")):
        if k % 2:
            tokens.append(f"counter({chunk})" if chunk in ("page", "pages") else "")
        elif chunk:
            tokens.append(str(_css_string(chunk)))
    return Markup(" ".join(t for t in tokens if t))


def _image_src(sha: str) -> str:
    from ..services import papers_pdf
    return papers_pdf.image_data_uri(sha) or ""


@bp.route("/<int:paper_id>/<label>/<kind>.html")
@roles_required(*STAFF)
def print_view(paper_id: int, label: str, kind: str):
    template, ctx = _print_context(paper_id, label, kind)
    return render_template(template, for_pdf=False, **ctx)


@bp.route("/<int:paper_id>/<label>/<kind>.pdf")
@roles_required(*STAFF)
def print_pdf(paper_id: int, label: str, kind: str):
    from ..services import papers_pdf
    template, ctx = _print_context(paper_id, label, kind)
    html = render_template(template, for_pdf=True, **ctx)
    try:
        pdf = papers_pdf.html_to_pdf(html)
    except papers_pdf.PdfError as e:
        return render_template("errors/error.html", code=503, message=_("The PDF could not be made: %(reason)s",
                                                                         reason=str(e))), 503
    filename = f"paper-{paper_id}-{label}-{kind}.pdf"
    return Response(pdf, mimetype="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{filename}"', "Cache-Control": "no-store"})


# ----------------------------------------------------------------------------------------------
# JSON API (same rules; the CSRF token goes in the X-CSRFToken header)
# ----------------------------------------------------------------------------------------------
def _api_spec():
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise papers_service.PaperServiceError([papers_service.Message(
            "body", "请求体应为 JSON 对象", "the request body must be a JSON object", "not_json")])
    occ = taxonomy_service.get_occupation_by_code(str(body.get("occupation") or ""))
    if occ is None:
        raise papers_service.PaperServiceError([papers_service.Message(
            "occupation", "occupation：未知的职业编码", "occupation: unknown occupation code", "unknown_occupation")])
    spec = body.get("spec")
    if spec is None and isinstance(body.get("yaml"), str):
        spec = papers_service.parse_spec_text(body["yaml"])
    if not isinstance(spec, dict):
        raise papers_service.PaperServiceError([papers_service.Message(
            "spec", "spec：请提供组卷方案对象（spec）或 YAML 文本（yaml）",
            "spec: give the blueprint as an object (spec) or as YAML text (yaml)", "missing")])
    return body, occ, spec


def _api_problems(messages, status=422):
    return jsonify(error="invalid", problems=[m.to_dict() | {"message": m.text(_zh())} for m in messages]), status


@bp.route("/api/blueprints/validate", methods=["POST"])
@roles_required(*ADMIN)
def api_validate():
    try:
        body, occ, spec = _api_spec()
        grade = body.get("grade", spec.get("grade"))
        occ, grade = papers_service.occupation_and_grade(occ.id, grade)
        parsed, msgs = papers_service.validate_spec(occ, grade, spec)
    except papers_service.PaperServiceError as e:
        return _api_problems(e.messages)
    errors = [m for m in msgs if m.severity == "error"]
    if errors:
        return _api_problems(msgs)
    return jsonify(valid=True, spec_hash=parsed.hash, warnings=[m.to_dict() for m in msgs])


@bp.route("/api/blueprints", methods=["POST"])
@roles_required(*ADMIN)
def api_create():
    try:
        body, occ, spec = _api_spec()
        row, warnings = papers_service.save_blueprint(
            occupation_id=occ.id, grade=body.get("grade", spec.get("grade")),
            name=str(body.get("name") or spec.get("name") or ""), data=spec, actor=current_user)
    except papers_service.PaperServiceError as e:
        return _api_problems(e.messages)
    return jsonify(id=row.id, spec_hash=row.spec_hash, warnings=[m.to_dict() for m in warnings],
                   url=url_for("papers.blueprint", blueprint_id=row.id)), 201


@bp.route("/api/blueprints/<int:blueprint_id>/assemble", methods=["POST"])
@roles_required(*STAFF)
def api_assemble(blueprint_id: int):
    body = request.get_json(silent=True) or {}
    if papers_service.get_blueprint(blueprint_id) is None:
        abort(404)
    station_id = body.get("station_id") if current_user.role == Role.ADMIN.value else current_user.station_id
    req = papers_service.AssemblyRequest(
        blueprint_id=blueprint_id, part=body.get("part", "theory"), forms=body.get("forms", 1), seed=body.get("seed"),
        time_limit=body.get("time_limit", 60), station_id=station_id, name=str(body.get("name") or ""),
        exclude_recent=body.get("exclude_recent"), max_exposure=body.get("max_exposure"))
    try:
        paper = papers_service.assemble_paper(req, current_user)
    except papers_service.PaperServiceError as e:
        return _api_problems(e.messages, 400)
    except papers_service.Infeasible as e:
        return jsonify(error="infeasible", findings=e.findings, eligible=e.eligible, excluded=e.excluded), 422
    return jsonify(id=paper.id, forms=[f.label for f in paper.forms], seed=paper.seed,
                   blueprint_hash=paper.blueprint_hash, check=paper.check_report,
                   url=url_for("papers.paper", paper_id=paper.id)), 201

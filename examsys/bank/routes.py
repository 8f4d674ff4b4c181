"""Item bank views: create/edit items, detail with versions and diff, review actions, review queue, media.

The bank browser (search/filter list at ``GET /bank/``, endpoint ``bank.browse``), import/export and the
taxonomy pages register their views on :data:`bp` from :mod:`examsys.bank.browse`.
"""
from __future__ import annotations

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, send_file, url_for
from flask_babel import get_locale, gettext as _
from flask_login import current_user
from sqlalchemy import select

from ..access import roles_required
from ..extensions import db
from ..models import KnowledgeNode, Role
from ..services import audit as audit_service
from ..services import items as item_service
from ..services import media as media_service
from ..services import taxonomy as taxonomy_service
from .forms import LETTERS, MODES, TYPES, form_values, parse_item_form, problems_by_field, uploaded_files

bp = Blueprint("bank", __name__, url_prefix="/bank")

STAFF = tuple(r.value for r in Role)
VIEWERS = (Role.ADMIN, Role.WRITER, Role.REVIEWER, Role.STATION_MANAGER)
EDITORS = (Role.ADMIN, Role.WRITER, Role.REVIEWER)
REVIEWERS = (Role.ADMIN, Role.REVIEWER)


def _zh() -> bool:
    return str(get_locale() or "zh").startswith("zh")


def _item_or_404(item_id: int):
    """The item if the current user may view it; 404 otherwise (no hint that it exists)."""
    try:
        item = item_service.get_item(item_id)
    except item_service.ItemNotFound:
        abort(404)
    if not item_service.can_view(item, current_user):
        abort(404)
    return item


def _kp_choices():
    """``[(occupation, [knowledge point nodes])]`` for the editor's knowledge point list."""
    occs = taxonomy_service.list_occupations()
    points = db.session.execute(select(KnowledgeNode).where(KnowledgeNode.level == 3)
                                .order_by(KnowledgeNode.occupation_id, KnowledgeNode.code)).scalars()
    by_occ: dict[int, list] = {}
    for p in points:
        by_occ.setdefault(p.occupation_id, []).append(p)
    return [(o, by_occ.get(o.id, [])) for o in occs]


def _render_editor(d: dict, *, item=None, problems=(), comment: str = "", status: int = 200):
    errors = problems_by_field(problems, _zh())
    messages = [p.message_zh if _zh() else p.message_en for p in problems]

    def err_under(prefix: str) -> bool:
        return any(k == prefix or k.startswith((prefix + ".", prefix + "[")) for k in errors)

    return render_template("bank/edit.html", v=form_values(d), item=item, errors=errors, problems=messages,
                           err_under=err_under,
                           comment=comment, types=TYPES, letters=LETTERS, modes=MODES,
                           kp_choices=_kp_choices()), status


def _save_uploads(d: dict) -> str | None:
    """Store the images chosen in the form and add their hashes to ``d["images"]``; an error message
    (and nothing stored) when one is refused."""
    files = uploaded_files(request.files)
    if not files:
        return None
    try:
        rows = media_service.store_many(files, current_user)
    except media_service.MediaError as e:
        db.session.rollback()
        return str(e.message)
    for row in rows:
        if row.sha256 not in d["images"]:
            d["images"].append(row.sha256)
    return None


def _upload_problem(message: str):
    from question_bank.messages import Problem
    return Problem(field="images", code="bad_image", message_zh=message, message_en=message)


@bp.route("/items/new", methods=["GET", "POST"])
@roles_required(Role.ADMIN, Role.WRITER)
def new_item():
    if request.method == "GET":
        occs = taxonomy_service.list_occupations()
        d = {"type": request.args.get("type") if request.args.get("type") in TYPES else "single_choice",
             "occupation": occs[0].code if len(occs) == 1 else "", "grades": [], "points": None, "score_step": 0.5}
        return _render_editor(d)
    d = parse_item_form(request.form)
    comment = (request.form.get("comment") or "").strip()
    upload_error = _save_uploads(d)
    if upload_error:
        return _render_editor(d, problems=[_upload_problem(upload_error)], comment=comment, status=400)
    submit = request.form.get("action") == "submit"
    try:
        item = item_service.create_item(d, current_user, status="in_review" if submit else "draft", comment=comment)
    except item_service.ItemValidationError as e:
        return _render_editor(d, problems=e.problems, comment=comment, status=400)
    except item_service.ItemError as e:
        flash(str(e.message), "error")
        return _render_editor(d, comment=comment, status=e.status)
    flash(_("Item %(id)s saved and submitted for review.", id=item.id) if submit
          else _("Item %(id)s saved as a draft.", id=item.id), "success")
    return redirect(url_for("bank.item_detail", item_id=item.id))


@bp.route("/items/<int:item_id>/edit", methods=["GET", "POST"])
@roles_required(*EDITORS)
def edit_item(item_id: int):
    item = _item_or_404(item_id)
    if not item_service.can_edit(item, current_user):
        abort(403)
    if request.method == "GET":
        return _render_editor(item_service.item_dict(item), item=item)
    d = parse_item_form(request.form)
    comment = (request.form.get("comment") or "").strip()
    upload_error = _save_uploads(d)
    if upload_error:
        return _render_editor(d, item=item, problems=[_upload_problem(upload_error)], comment=comment, status=400)
    submit = request.form.get("action") == "submit"
    try:
        v = item_service.save_new_version(item.id, d, current_user, comment, submit=submit)
    except item_service.ItemValidationError as e:
        return _render_editor(d, item=item, problems=e.problems, comment=comment, status=400)
    except item_service.ItemError as e:
        flash(str(e.message), "error")
        return _render_editor(d, item=item, comment=comment, status=e.status)
    flash(_("Version %(n)s saved.", n=v.number), "success")
    return redirect(url_for("bank.item_detail", item_id=item.id))


def _diff_rows(a, b):
    from question_bank.messages import field_label_zh
    rows = []
    for path, before, after in item_service.version_diff(a, b):
        label = field_label_zh(path) if _zh() else path
        text = path.split("[")[0].split(".")[-1] in item_service.TEXT_FIELDS or path.startswith(
            ("options[", "marking_points[", "criteria[", "answers["))
        rows.append({"field": path, "label": label, "before": before, "after": after,
                     "inline": item_service.text_diff(before, after) if text else None})
    return rows


@bp.route("/items/<int:item_id>")
@roles_required(*VIEWERS)
def item_detail(item_id: int):
    item = _item_or_404(item_id)
    versions = item_service.versions(item)
    shown = item.current_version
    if request.args.get("v"):
        try:
            shown = item_service.get_version(item, request.args["v"])
        except item_service.ItemNotFound:
            abort(404)
    diff, a, b = None, request.args.get("a"), request.args.get("b")
    if a and b:
        try:
            va, vb = item_service.get_version(item, a), item_service.get_version(item, b)
        except item_service.ItemNotFound:
            abort(404)
        diff = {"a": va.number, "b": vb.number, "rows": _diff_rows(va, vb)}
    reviews = item_service.reviews(item)
    names = item_service.user_names([v.created_by for v in versions] + [r.reviewer_id for r in reviews]
                                    + [item.created_by])
    show_audit = current_user.role in ("admin", "reviewer") or item.created_by == current_user.id
    return render_template(
        "bank/item.html", item=item, d=item_service.item_dict(shown), shown=shown, versions=versions,
        reviews=reviews, names=names, diff=diff, history=item_service.history(item.id),
        audit_entries=audit_service.entries_for("item", item.id) if show_audit else [],
        can_edit=item_service.can_edit(item, current_user), can_submit=item_service.can_submit(item, current_user),
        can_review=item_service.can_review(item, current_user),
        can_retire=item_service.can_retire(item, current_user),
        is_author=item_service.is_author(item, current_user),
        images_meta={h: media_service.get(h) for h in (shown.images or [])},
    )


# ``bank.item`` is an alias of ``bank.item_detail`` (both names are used by other pages' links).
bp.add_url_rule("/items/<int:item_id>", endpoint="item", view_func=item_detail)


def _action(fn, item_id: int, success: str):
    """Run a review action; on a refusal show the item page again with the message (4xx, nothing changed)."""
    try:
        fn()
    except item_service.ItemValidationError as e:
        flash("; ".join(p.message_zh if _zh() else p.message_en for p in e.problems), "error")
        return item_detail(item_id), 400
    except item_service.ItemError as e:
        flash(str(e.message), "error")
        return item_detail(item_id), e.status
    flash(success, "success")
    return redirect(url_for("bank.item_detail", item_id=item_id))


@bp.route("/items/<int:item_id>/submit", methods=["POST"])
@roles_required(Role.ADMIN, Role.WRITER)
def submit_item(item_id: int):
    item = _item_or_404(item_id)
    comment = (request.form.get("comment") or "").strip()
    return _action(lambda: item_service.submit_for_review(item.id, current_user, comment), item.id,
                   _("Submitted for review."))


@bp.route("/items/<int:item_id>/review", methods=["POST"])
@roles_required(*REVIEWERS)
def review_item(item_id: int):
    item = _item_or_404(item_id)
    decision = request.form.get("decision", "")
    comment = request.form.get("comment", "")
    msg = _("Item approved.") if decision == "approve" else _("Item rejected and returned to its writer.")
    return _action(lambda: item_service.review(item.id, decision, comment, current_user), item.id, msg)


@bp.route("/items/<int:item_id>/retire", methods=["POST"])
@roles_required(*REVIEWERS)
def retire_item(item_id: int):
    item = _item_or_404(item_id)
    reason = (request.form.get("comment") or "").strip()
    return _action(lambda: item_service.retire(item.id, current_user, reason), item.id, _("Item retired."))


@bp.route("/review")
@roles_required(*REVIEWERS)
def review_queue():
    items = item_service.review_queue(current_user)
    names = item_service.user_names(i.created_by for i in items)
    return render_template("bank/review_queue.html", items=items, names=names,
                           own={i.id for i in items if item_service.is_author(i, current_user)})


# ------------------------------------------------------------------------------------------- media

@bp.route("/media", methods=["POST"])
@roles_required(*EDITORS)
def upload_media():
    """Upload one image (field ``file``); JSON ``{sha256, url, filename, mime, size}`` or 400 with a message."""
    f = request.files.get("file")
    if f is None or not f.filename:
        return jsonify(error="missing_file", message=_("Choose an image file to upload.")), 400
    try:
        row = media_service.store(f.read(), f.filename, current_user)
    except media_service.MediaError as e:
        db.session.rollback()
        return jsonify(error="bad_image", message=str(e.message)), 400
    return jsonify(sha256=row.sha256, url=url_for("bank.media", sha256=row.sha256), filename=row.filename,
                   mime=row.mime, size=row.size), 201


@bp.route("/media/<sha256>")
@roles_required(*STAFF)
def media(sha256: str):
    """An image, to staff who may see it (:func:`examsys.services.media.may_view`); 404 otherwise."""
    row = media_service.get(sha256)
    if row is None or not media_service.may_view(sha256, current_user):
        abort(404)
    path = media_service.path_for(sha256)
    if not path.is_file():
        abort(404)
    resp = send_file(path, mimetype=row.mime, conditional=True, etag=sha256, max_age=365 * 24 * 3600)
    resp.headers["Cache-Control"] = "private, max-age=31536000, immutable"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    resp.headers["Content-Disposition"] = "inline"
    return resp


# The bank browser (search/filter list, import/export, taxonomy) registers its views on ``bp``.
import importlib as _importlib  # noqa: E402

try:
    _importlib.import_module(f"{__package__}.browse")
except ModuleNotFoundError as e:  # not written yet
    if e.name != f"{__package__}.browse":
        raise

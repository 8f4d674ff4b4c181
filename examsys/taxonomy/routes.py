"""Occupations and their 鉴定要素细目表: view the tree and weight tables; edit nodes and weights; import
and export (.xlsx or YAML). Every edit is validated on the whole tree before anything is stored."""
from __future__ import annotations

import copy
import io
import re

import yaml
from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import get_locale, gettext as _
from flask_login import current_user

from question_bank.formats.taxonomy_xlsx import read_taxonomy_xlsx, write_taxonomy_xlsx

from ..access import roles_required
from ..extensions import db
from ..models import Occupation
from ..services import taxonomy as taxonomy_service

bp = Blueprint("taxonomy", __name__, url_prefix="/taxonomy")
VIEW_ROLES = ("admin", "writer", "reviewer", "station_manager")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _zh() -> bool:
    return str(get_locale() or "zh").startswith("zh")


_TREE_PATH = re.compile(r"^tree\[(\d+)\](?:\.units\[(\d+)\](?:\.points\[(\d+)\])?)?(?:\.(.+))?$")
_KINDS = (("鉴定范围", "area"), ("鉴定内容", "unit"), ("鉴定点", "knowledge point"))
_OCCUPATION_ZH = {"occupation": "职业", "occupation.code": "职业编码", "occupation.name": "职业名称",
                  "occupation.work_type": "工种"}
_PART_ZH = {"theory": "理论知识", "practical": "操作技能"}


def _node(data, idx: list[int]):
    """The node at tree[a].units[u].points[p] of ``data`` (fewer indices: a unit or an area), or None."""
    node, keys = {"tree": (data or {}).get("tree") if isinstance(data, dict) else None}, ("tree", "units", "points")
    for key, i in zip(keys, idx):
        children = node.get(key) if isinstance(node, dict) else None
        if not isinstance(children, list) or i >= len(children):
            return None
        node = children[i]
    return node


def _field_labels(field: str, data) -> tuple[str, str] | None:
    """Chinese and English names of a taxonomy field that people recognise: the node by its code
    (``鉴定点 A-A-001 的重要程度``), the weight table by part and grade; None when there is nothing better than
    the generic label."""
    from question_bank.messages import field_label_zh
    if field in _OCCUPATION_ZH:
        return _OCCUPATION_ZH[field], field
    m = _TREE_PATH.match(field)
    if m:
        idx = [int(g) for g in m.groups()[:3] if g is not None]
        rest = m.group(4) or ""
        kind_zh, kind_en = _KINDS[len(idx) - 1]
        node = _node(data, idx)
        code = node.get("code") if isinstance(node, dict) else None
        sep = " "  # 鉴定点 A-A-001 的名称
        if isinstance(code, str) and code.strip():
            zh, en = f"{kind_zh} {code}", f"{kind_en} {code}"
        else:
            sep = ""  # 鉴定范围第1项的名称
            zh = "的".join(f"{k}第{i + 1}项" for (k, _e), i in zip(_KINDS, idx))
            en = field[:-(len(rest) + 1)] if rest else field
        if rest:
            head = rest.split("[", 1)[0].split(".", 1)[0]
            rest_zh = {"units": "鉴定内容", "points": "鉴定点"}.get(head) or field_label_zh(rest)
            zh, en = f"{zh}{sep}的{rest_zh}", f"{en}, {rest}"
        return zh, en
    m = re.match(r"^weights\.(theory|practical)(?:\.(\d+)(?:\.(.+))?)?$", field)
    if m:
        part, grade, area = m.groups()
        zh = _PART_ZH[part] + "比重表" + (f"（{grade} 级" + (f"，鉴定范围 {area}" if area else "") + "）" if grade else "")
        return zh, field
    return None


def _messages(problems, data=None) -> list[str]:
    """Problems for people: where in the file (sheet, row, column), then the message naming the field by its
    label — the node by its code when ``data`` (the submitted taxonomy) has it; never a raw field path."""
    from question_bank.messages import field_label_zh
    zh = _zh()
    out = []
    for p in problems:
        text = p.message_zh if zh else p.message_en
        labels = _field_labels(p.field, data) if p.field else None
        if labels is not None:
            generic = f"{field_label_zh(p.field)}：" if zh else f"{p.field}: "
            if text.startswith(generic):
                text = (f"{labels[0]}：" if zh else f"{labels[1]}: ") + text[len(generic):]
        where = []
        if getattr(p, "sheet", None):
            where.append(_("sheet %(name)s", name=p.sheet))
        if getattr(p, "row", None):
            where.append(_("row %(n)s", n=p.row))
        if getattr(p, "column", None):
            where.append(_("column %(letter)s", letter=p.column))
        out.append(((" " if zh else ", ").join(where) + ("：" if zh else ": ") if where else "") + text)
    return out


def _occupation(occ_id: int) -> Occupation:
    occ = db.session.get(Occupation, occ_id)
    if occ is None:
        abort(404)
    return occ


def _render_detail(occ, problems=(), status=200):
    data = taxonomy_service.taxonomy_dict(occ)
    return render_template("taxonomy/detail.html", occ=occ, data=data, counts=taxonomy_service.node_counts(occ),
                           problems=list(problems), can_edit=current_user.role == "admin"), status


def _apply(occ, data):
    try:
        taxonomy_service.apply_taxonomy(data, current_user._get_current_object(), allow_new=False)
    except taxonomy_service.TaxonomyRejected as e:
        return _render_detail(occ, _messages(e.problems, data), 400)
    flash(_("Saved."), "success")
    return redirect(url_for("taxonomy.detail", occ_id=occ.id))


@bp.route("/")
@roles_required(*VIEW_ROLES)
def occupations():
    return render_template("taxonomy/list.html", occupations=taxonomy_service.list_occupations(), problems=[])


@bp.route("/import", methods=["POST"])
@roles_required("admin")
def import_taxonomy():
    upload = request.files.get("file")
    problems: list[str] = []
    data = None
    if upload is None or not upload.filename:
        problems = [_("Choose a .xlsx or .yaml file to import.")]
    else:
        raw = upload.read(current_app.config["MAX_IMPORT_BYTES"] + 1)
        name = upload.filename.lower()
        if name.endswith(".xlsx"):
            result = read_taxonomy_xlsx(raw, max_bytes=current_app.config["MAX_IMPORT_BYTES"])
            problems = _messages(result.problems, result.taxonomy)
            data = result.taxonomy
        elif name.endswith((".yaml", ".yml")):
            try:
                data = yaml.safe_load(raw.decode("utf-8"))
            except (UnicodeDecodeError, yaml.YAMLError) as e:
                problems = [_("The YAML file cannot be read: %(error)s", error=str(e)[:200])]
        else:
            problems = [_("Choose a .xlsx or .yaml file to import.")]
    if not problems and data is not None:
        try:
            occ = taxonomy_service.apply_taxonomy(data, current_user._get_current_object())
            flash(_("Imported the tree of %(code)s.", code=occ.code), "success")
            return redirect(url_for("taxonomy.detail", occ_id=occ.id))
        except taxonomy_service.TaxonomyRejected as e:
            problems = _messages(e.problems, data)
    return render_template("taxonomy/list.html", occupations=taxonomy_service.list_occupations(),
                           problems=problems), 400


@bp.route("/<int:occ_id>")
@roles_required(*VIEW_ROLES)
def detail(occ_id: int):
    return _render_detail(_occupation(occ_id))


def _find(data: dict, code: str):
    """(container list, index, node) of the node with ``code`` in the taxonomy dict, or None."""
    for ai, area in enumerate(data["tree"]):
        if area["code"] == code:
            return data["tree"], ai, area
        for ui, unit in enumerate(area.get("units", [])):
            if unit["code"] == code:
                return area["units"], ui, unit
            for pi, point in enumerate(unit.get("points", [])):
                if point["code"] == code:
                    return unit["points"], pi, point
    return None


def _grades_from_form() -> list[int]:
    out = []
    for g in request.form.getlist("grades"):
        try:
            out.append(int(g))
        except ValueError:
            out.append(g)  # validate_taxonomy names the bad value
    return out


@bp.route("/<int:occ_id>/nodes/<code>", methods=["POST"])
@roles_required("admin")
def edit_node(occ_id: int, code: str):
    occ = _occupation(occ_id)
    data = copy.deepcopy(taxonomy_service.taxonomy_dict(occ))
    found = _find(data, code)
    if found is None:
        abort(404)
    node = found[2]
    node["name"] = request.form.get("name", "").strip()
    if "points" not in node and "units" not in node:  # a point
        node["importance"] = request.form.get("importance", "")
        node["grades"] = _grades_from_form()
    if "units" in node and request.form.get("part"):
        node["part"] = request.form["part"]
    return _apply(occ, data)


@bp.route("/<int:occ_id>/nodes", methods=["POST"])
@roles_required("admin")
def add_node(occ_id: int):
    occ = _occupation(occ_id)
    data = copy.deepcopy(taxonomy_service.taxonomy_dict(occ))
    parent_code = request.form.get("parent", "").strip()
    node = {"code": request.form.get("code", "").strip(), "name": request.form.get("name", "").strip()}
    if not parent_code:
        node.update(part=request.form.get("part", "theory"), units=[])
        data["tree"].append(node)
    else:
        found = _find(data, parent_code)
        if found is None:
            return _render_detail(occ, [_("Unknown parent code %(code)s.", code=parent_code)], 400)
        parent = found[2]
        if "units" in parent:
            node["points"] = []
            parent["units"].append(node)
        elif "points" in parent:
            node.update(importance=request.form.get("importance", "X"), grades=_grades_from_form())
            parent["points"].append(node)
        else:
            return _render_detail(occ, [_("A knowledge point cannot have children.")], 400)
    return _apply(occ, data)


@bp.route("/<int:occ_id>/nodes/<code>/delete", methods=["POST"])
@roles_required("admin")
def delete_node(occ_id: int, code: str):
    occ = _occupation(occ_id)
    data = copy.deepcopy(taxonomy_service.taxonomy_dict(occ))
    found = _find(data, code)
    if found is None:
        abort(404)
    container, index, node = found
    if node.get("units") or node.get("points"):
        return _render_detail(occ, [_("Remove the children of %(code)s first.", code=code)], 400)
    del container[index]
    for part in data.get("weights", {}).values():
        for per_grade in part.values():
            per_grade.pop(code, None)
    return _apply(occ, data)


@bp.route("/<int:occ_id>/weights", methods=["POST"])
@roles_required("admin")
def edit_weights(occ_id: int):
    occ = _occupation(occ_id)
    data = copy.deepcopy(taxonomy_service.taxonomy_dict(occ))
    weights: dict = {}
    for key, raw in request.form.items():
        if not key.startswith("w|"):
            continue
        try:
            part, grade, area = key.split("|", 3)[1:]
            grade_i = int(grade)
        except ValueError:
            abort(400)
        raw = raw.strip()
        if raw == "":
            continue
        try:
            value = float(raw)
        except ValueError:
            return _render_detail(occ, [_("Weight of area %(area)s (%(part)s, grade %(grade)s) must be a number.",
                                          area=area, part=part, grade=grade)], 400)
        weights.setdefault(part, {}).setdefault(grade_i, {})[area] = value
    data["weights"] = weights
    return _apply(occ, data)


@bp.route("/<int:occ_id>/export.<fmt>")
@roles_required(*VIEW_ROLES)
def export(occ_id: int, fmt: str):
    occ = _occupation(occ_id)
    data = taxonomy_service.taxonomy_dict(occ)
    if fmt == "yaml":
        body = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
        return Response(body, content_type="application/yaml; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="taxonomy-{occ.code}.yaml"'})
    if fmt == "xlsx":
        buf = io.BytesIO()
        write_taxonomy_xlsx(data, buf)
        return Response(buf.getvalue(), mimetype=XLSX,
                        headers={"Content-Disposition": f'attachment; filename="taxonomy-{occ.code}.xlsx"'})
    abort(404)

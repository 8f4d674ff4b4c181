"""The bank browser: GET /bank/ — filter by occupation, grade, knowledge point (subtree), type, status,
importance, difficulty range and free text; paginated, with counts per filter."""
from __future__ import annotations

from flask import render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from ..access import roles_required
from ..services import taxonomy as taxonomy_service
from ..services.bank_search import BankQuery, search
from .routes import bp

BROWSE_ROLES = ("admin", "writer", "reviewer", "station_manager")
TYPES = ("single_choice", "multiple_choice", "true_false", "fill_blank", "short_answer", "calculation", "essay",
         "practical_task")
STATUSES = ("draft", "in_review", "approved", "flagged", "retired")
#: how the messages name a filter parameter: by its label on the page, not by the URL parameter
FIELD_LABELS = {"occupation": _l("Occupation"), "grade": _l("Grade"), "dmin": _l("Minimum difficulty"),
                "dmax": _l("Maximum difficulty"), "page": _l("Page number")}


def _label(name: str) -> str:
    return str(FIELD_LABELS.get(name, name))


def _int(name: str, lo: int, hi: int, problems: list) -> int | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        v = int(raw)
    except ValueError:
        problems.append(_("%(field)s must be a whole number.", field=_label(name)))
        return None
    if not lo <= v <= hi:
        problems.append(_("%(field)s must be between %(lo)s and %(hi)s.", field=_label(name), lo=lo, hi=hi))
        return None
    return v


def _float01(name: str, problems: list) -> float | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        v = float(raw)
    except ValueError:
        problems.append(_("%(field)s must be a number between 0 and 1.", field=_label(name)))
        return None
    if not 0.0 <= v <= 1.0:
        problems.append(_("%(field)s must be a number between 0 and 1.", field=_label(name)))
        return None
    return v


def parse_query() -> tuple[BankQuery, list[str]]:
    problems: list[str] = []
    pick = lambda name, allowed: request.args.get(name) if request.args.get(name) in allowed else None  # noqa: E731
    q = BankQuery(
        occupation_id=_int("occupation", 1, 2**31 - 1, problems),
        grade=_int("grade", 1, 5, problems),
        kp=(request.args.get("kp") or "").strip()[:32] or None,
        type=pick("type", TYPES), status=pick("status", STATUSES), importance=pick("importance", ("X", "Y", "Z")),
        difficulty_min=_float01("dmin", problems), difficulty_max=_float01("dmax", problems),
        text=(request.args.get("q") or "").strip()[:200] or None,
        page=_int("page", 1, 10**6, problems) or 1,
    )
    return q, problems


@bp.route("/")
@roles_required(*BROWSE_ROLES)
def browse():
    q, problems = parse_query()
    result = search(q, viewer=current_user)
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    return render_template("bank/browse.html", q=q, result=result, problems=problems, args=args,
                           occupations=taxonomy_service.list_occupations(), types=TYPES, statuses=STATUSES)


from . import io_views  # noqa: E402,F401  (import/export pages on the same blueprint)

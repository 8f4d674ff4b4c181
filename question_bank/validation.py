"""Validation of item dicts (docs/items.md): common fields, then the type's own rules.

``validate_item(d, taxonomy=None)`` returns every :class:`~question_bank.messages.Problem` found (it does
not stop at the first); an empty list means the item is valid. Field paths name the place:
``type``, ``grades[1]``, ``points``, ``stem``, ``options[2]``, ``key``, ``answers[0]``,
``marking_points[1].points``, ``criteria[0].mode`` ….
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from question_bank import item_types
from question_bank.item_types.base import check_number, check_text, check_text_list
from question_bank.items import COMMON_FIELDS, Status
from question_bank.messages import Problem, make_problem
from question_bank.taxonomy import resolve_taxonomy

__all__ = ["Problem", "validate_item", "MAX_STEM_CHARS", "errors_only"]

#: Longest stem, in characters (Unicode code points).
MAX_STEM_CHARS = 5000

_KIND_ZH = {"area": "鉴定范围", "unit": "鉴定内容", "point": "鉴定点"}


def errors_only(problems: list[Problem]) -> list[Problem]:
    """The problems of severity ``"error"``."""
    return [p for p in problems if p.is_error]


def validate_item(d: Any, taxonomy: Any = None) -> list[Problem]:
    """All problems of item dict ``d``.

    Parameters
    ----------
    d : mapping
        An item dict (docs/items.md).
    taxonomy : Taxonomy, mapping occupation code → Taxonomy, iterable of Taxonomy, or None
        When given, ``occupation`` must be one of them, ``kp`` a knowledge point (鉴定点) of that
        occupation, and every grade of the item one the point applies to.

    Checks, in order: unknown fields; ``type`` known; ``occupation`` / ``kp`` non-empty (and known);
    ``grades`` a non-empty list of distinct integers 1..5; ``points`` > 0 and a multiple of 0.5;
    ``difficulty`` None or in [0, 1]; ``discrimination`` None or in [-1, 1]; ``status`` known;
    ``stem`` non-empty and at most :data:`MAX_STEM_CHARS` characters; ``images`` texts; ``id`` text or
    integer; ``version`` integer ≥ 1 (and only with an id); then the type's own rules
    (``item_types.get(type).validate(content, points=points)``).
    """
    if not isinstance(d, Mapping):
        return [make_problem("", "not_a_mapping")]
    out: list[Problem] = []
    spec = None
    t = d.get("type")
    if t is None or t == "":
        out.append(make_problem("type", "required"))
    else:
        try:
            spec = item_types.get(t)
        except ValueError:
            out.append(make_problem("type", "unknown_type", value=str(t)))
    if spec is not None:
        allowed = set(COMMON_FIELDS) | set(spec.fields)
        for k in d:
            if k not in allowed:
                out.append(make_problem(str(k), "unknown_field", name=str(k)))

    out += check_text(d.get("occupation"), "occupation", max_len=64)
    out += check_text(d.get("kp"), "kp", max_len=64)

    grades = d.get("grades")
    grades_ok = False
    if grades is None:
        out.append(make_problem("grades", "required"))
    elif not isinstance(grades, (list, tuple)):
        out.append(make_problem("grades", "not_a_list"))
    elif not grades:
        out.append(make_problem("grades", "empty_list"))
    else:
        grades_ok = True
        seen: set[int] = set()
        for i, g in enumerate(grades):
            if isinstance(g, bool) or not isinstance(g, int) or not 1 <= g <= 5:
                out.append(make_problem(f"grades[{i}]", "bad_grade", value=str(g)))
                grades_ok = False
            elif g in seen:
                out.append(make_problem(f"grades[{i}]", "duplicate_grade", value=g))
            else:
                seen.add(g)

    points = d.get("points")
    p_probs = check_number(points, "points", positive=True)
    if not p_probs and not float(points * 2).is_integer():
        p_probs.append(make_problem("points", "not_half_multiple", value=points))
    out += p_probs

    out += check_number(d.get("difficulty"), "difficulty", required=False, lo=0.0, hi=1.0)
    out += check_number(d.get("discrimination"), "discrimination", required=False, lo=-1.0, hi=1.0)
    src = d.get("source")
    if src is not None and not isinstance(src, str):
        out.append(make_problem("source", "not_a_string"))
    status = d.get("status")
    if status is not None:
        try:
            Status(status)
        except ValueError:
            out.append(make_problem("status", "unknown_status", value=str(status)))
    out += check_text(d.get("stem"), "stem", max_len=MAX_STEM_CHARS, too_long_code="stem_too_long")
    out += check_text_list(d.get("images"), "images")
    item_id = d.get("id")
    if item_id is not None:
        if isinstance(item_id, bool) or not isinstance(item_id, (str, int)):
            out.append(make_problem("id", "not_a_string"))
        elif isinstance(item_id, str):
            out += check_text(item_id, "id", max_len=64)
    version = d.get("version")
    if version is not None:
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            out.append(make_problem("version", "bad_version", value=str(version)))
        elif item_id is None:
            out.append(make_problem("version", "version_without_id"))

    if taxonomy is not None:
        out += _check_taxonomy(d, taxonomy, grades if grades_ok else None)

    if spec is not None:
        pts = points if not p_probs else None
        out += spec.validate(d, points=pts)
    return out


def _check_taxonomy(d: Mapping[str, Any], taxonomy: Any, grades: Any) -> list[Problem]:
    occ, kp = d.get("occupation"), d.get("kp")
    if not isinstance(occ, str) or not occ.strip():
        return []
    tax = resolve_taxonomy(taxonomy, occ)
    if tax is None:
        return [make_problem("occupation", "unknown_occupation", value=occ)]
    if not isinstance(kp, str) or not kp.strip():
        return []
    kind = tax.index.kind(kp)
    if kind is None:
        return [make_problem("kp", "unknown_kp", value=kp, occupation=occ)]
    if kind != "point":
        return [make_problem("kp", "kp_not_a_point", value=kp, kind=kind, kind_zh=_KIND_ZH[kind])]
    point = tax.index.point(kp)
    out: list[Problem] = []
    if grades:
        bad = [g for g in grades if g not in point.grades]
        if bad:
            out.append(make_problem("grades", "kp_grade_mismatch", kp=kp, grades=bad, kp_grades=list(point.grades)))
    return out

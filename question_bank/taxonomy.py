"""The appraisal-element table (鉴定要素细目表) of one occupation, and the weight table (鉴定比重表).

Tree: area 鉴定范围 (level 1, belongs to one part: ``theory`` 理论知识 or ``practical`` 操作技能) → unit
鉴定内容 (level 2) → point 鉴定点 (level 3, the knowledge point ``kp`` items refer to; has an importance
X/Y/Z and the grades it applies to). Codes are hierarchical: a child's code is its parent's code, ``-``,
and a suffix (``B`` → ``B-C`` → ``B-C-003``; ``P-A`` → ``P-A-A`` → ``P-A-A-001``) and unique in the tree.

Weights: per part, per grade (1..5), per area code: percent of that part's points, summing to 100.

Load with :meth:`Taxonomy.from_dict` (the YAML shape of docs/items.md), check without raising with
:func:`validate_taxonomy`; look things up through :attr:`Taxonomy.index`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from collections.abc import Iterable, Mapping
from typing import Any

from question_bank.items import Importance
from question_bank.messages import WARNING, Problem, make_problem

__all__ = ["PARTS", "Occupation", "Point", "Unit", "Area", "Taxonomy", "TaxonomyIndex", "TaxonomyError",
           "validate_taxonomy", "load_taxonomy_yaml", "resolve_taxonomy"]

PARTS = ("theory", "practical")
_PART_ZH = {"theory": "理论知识", "practical": "操作技能"}
_EPS = 1e-6


@dataclass(frozen=True)
class Occupation:
    """Occupation (职业) ``code`` such as ``6-18-01-01``, ``name`` 车工, optional ``work_type`` 工种 数控车工."""

    code: str
    name: str
    work_type: str = ""


@dataclass(frozen=True)
class Point:
    """Knowledge point 鉴定点 (leaf): importance X/Y/Z, grades it applies to, part of its area."""

    code: str
    name: str
    importance: Importance
    grades: tuple[int, ...]
    part: str


@dataclass(frozen=True)
class Unit:
    """Unit 鉴定内容 (level 2)."""

    code: str
    name: str
    part: str
    points: tuple[Point, ...]


@dataclass(frozen=True)
class Area:
    """Area 鉴定范围 (level 1), in exactly one part (``theory`` or ``practical``)."""

    code: str
    name: str
    part: str
    units: tuple[Unit, ...]


class TaxonomyError(ValueError):
    """Raised by :meth:`Taxonomy.from_dict` for an invalid taxonomy; ``.problems`` lists the errors."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems = list(problems)
        super().__init__("; ".join(p.message_en for p in self.problems) or "invalid taxonomy")


class TaxonomyIndex:
    """Lookups over one taxonomy (built once, read-only).

    ``kind(code)`` → ``"area"``/``"unit"``/``"point"``/``None``; ``node(code)``; ``parent(code)``;
    ``subtree(code)`` → the code and all codes below it; ``points_of_grade(grade, part=None)``;
    ``weights(part, grade)`` → ``{area code: percent}``; ``weights_table`` → ``{part: {grade: {...}}}``.
    """

    def __init__(self, taxonomy: "Taxonomy"):
        self._nodes: dict[str, Area | Unit | Point] = {}
        self._kind: dict[str, str] = {}
        self._parent: dict[str, str | None] = {}
        self._children: dict[str, tuple[str, ...]] = {}
        for a in taxonomy.areas:
            self._add(a, "area", None, tuple(u.code for u in a.units))
            for u in a.units:
                self._add(u, "unit", a.code, tuple(p.code for p in u.points))
                for p in u.points:
                    self._add(p, "point", u.code, ())
        self._weights = taxonomy.weights
        self._points = tuple(n for n in self._nodes.values() if isinstance(n, Point))

    def _add(self, node: Any, kind: str, parent: str | None, children: tuple[str, ...]) -> None:
        self._nodes[node.code] = node
        self._kind[node.code] = kind
        self._parent[node.code] = parent
        self._children[node.code] = children

    def __contains__(self, code: object) -> bool:
        return code in self._nodes

    def __len__(self) -> int:
        return len(self._nodes)

    def codes(self) -> tuple[str, ...]:
        """All codes in tree order (area, its units, their points, next area …)."""
        return tuple(self._nodes)

    def kind(self, code: str) -> str | None:
        """``"area"``, ``"unit"``, ``"point"``, or ``None`` when unknown."""
        return self._kind.get(code)

    def node(self, code: str) -> Area | Unit | Point:
        """The node with ``code`` (``KeyError`` when unknown)."""
        return self._nodes[code]

    def point(self, code: str) -> Point | None:
        """The knowledge point ``code`` or ``None`` (unknown, or an area/unit)."""
        n = self._nodes.get(code)
        return n if isinstance(n, Point) else None

    def parent(self, code: str) -> str | None:
        """Parent code (``None`` for an area); ``KeyError`` when unknown."""
        return self._parent[code]

    def area_of(self, code: str) -> Area:
        """The level-1 area containing ``code``."""
        while self._parent[code] is not None:
            code = self._parent[code]  # type: ignore[assignment]
        return self._nodes[code]  # type: ignore[return-value]

    def subtree(self, code: str) -> frozenset[str]:
        """``code`` and every code below it (``KeyError`` when unknown)."""
        out, stack = set(), [code]
        if code not in self._nodes:
            raise KeyError(code)
        while stack:
            c = stack.pop()
            out.add(c)
            stack.extend(self._children[c])
        return frozenset(out)

    def points_under(self, code: str) -> tuple[Point, ...]:
        """Knowledge points in the subtree of ``code``, in tree order."""
        sub = self.subtree(code)
        return tuple(p for p in self._points if p.code in sub)

    def points_of_grade(self, grade: int, part: str | None = None) -> tuple[Point, ...]:
        """Knowledge points applying to ``grade`` (optionally only of ``part``), in tree order."""
        return tuple(p for p in self._points if grade in p.grades and (part is None or p.part == part))

    def weights(self, part: str, grade: int) -> dict[str, float]:
        """``{area code: percent}`` for ``part`` and ``grade`` (empty when the table has none)."""
        return dict(self._weights.get(part, {}).get(int(grade), {}))

    @property
    def weights_table(self) -> dict[str, dict[int, dict[str, float]]]:
        """The whole weight table as plain dicts ``{part: {grade: {area: percent}}}``."""
        return {p: {g: dict(w) for g, w in by_grade.items()} for p, by_grade in self._weights.items()}


@dataclass(frozen=True)
class Taxonomy:
    """One occupation's 鉴定要素细目表 with its 鉴定比重表 (see the module docstring)."""

    occupation: Occupation
    grades: tuple[int, ...]
    weights: Mapping[str, Mapping[int, Mapping[str, float]]]
    areas: tuple[Area, ...]
    index: TaxonomyIndex = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "index", TaxonomyIndex(self))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, validate: bool = True) -> "Taxonomy":
        """Build from the docs/items.md YAML shape; :class:`TaxonomyError` (``ValueError``) on errors."""
        if validate:
            errors = [p for p in validate_taxonomy(d) if p.is_error]
            if errors:
                raise TaxonomyError(errors)
        occ = d["occupation"]
        areas = []
        for a in d["tree"]:
            part = a["part"]
            units = tuple(
                Unit(code=u["code"], name=u["name"], part=part, points=tuple(
                    Point(code=p["code"], name=p["name"], importance=Importance.parse(p["importance"]),
                          grades=tuple(int(g) for g in p["grades"]), part=part)
                    for p in u.get("points") or ()))
                for u in a.get("units") or ())
            areas.append(Area(code=a["code"], name=a["name"], part=part, units=units))
        weights = MappingProxyType({
            part: MappingProxyType({int(g): MappingProxyType({str(k): float(v) for k, v in w.items()})
                                    for g, w in (by_grade or {}).items()})
            for part, by_grade in (d.get("weights") or {}).items()
        })
        return cls(occupation=Occupation(code=str(occ["code"]), name=str(occ["name"]),
                                         work_type=str(occ.get("work_type") or "")),
                   grades=tuple(int(g) for g in d["grades"]), weights=weights, areas=tuple(areas))

    @classmethod
    def from_yaml(cls, source: str | Path) -> "Taxonomy":
        """Load a taxonomy YAML file (path) or YAML text (a ``str`` containing a newline)."""
        return cls.from_dict(load_taxonomy_yaml(source))

    def to_dict(self) -> dict[str, Any]:
        """The docs/items.md dict shape; ``Taxonomy.from_dict(t.to_dict()) == t``."""
        occ: dict[str, Any] = {"code": self.occupation.code, "name": self.occupation.name}
        if self.occupation.work_type:
            occ["work_type"] = self.occupation.work_type
        return {
            "occupation": occ,
            "grades": list(self.grades),
            "weights": {part: {g: {a: _num_out(v) for a, v in w.items()} for g, w in by_grade.items()}
                        for part, by_grade in self.weights.items()},
            "tree": [
                {"code": a.code, "name": a.name, "part": a.part, "units": [
                    {"code": u.code, "name": u.name, "points": [
                        {"code": p.code, "name": p.name, "importance": p.importance.value,
                         "grades": list(p.grades)} for p in u.points]}
                    for u in a.units]}
                for a in self.areas
            ],
        }


def _num_out(v: float) -> int | float:
    return int(v) if float(v).is_integer() else v


def load_taxonomy_yaml(source: str | Path) -> dict[str, Any]:
    """Parse taxonomy YAML (``yaml.safe_load``) from a path or from text containing a newline."""
    import yaml
    if isinstance(source, Path) or "\n" not in source:
        source = Path(source).read_text(encoding="utf-8")
    data = yaml.safe_load(source)
    if not isinstance(data, dict):
        raise ValueError("taxonomy YAML must be a mapping at the top level")
    return data


def resolve_taxonomy(taxonomy: Any, occupation: str) -> "Taxonomy | None":
    """Find the taxonomy for ``occupation`` in ``taxonomy``.

    ``taxonomy`` may be ``None``, a :class:`Taxonomy`, a mapping ``occupation code → Taxonomy`` or an
    iterable of taxonomies. Returns ``None`` when none matches.
    """
    if taxonomy is None:
        return None
    if isinstance(taxonomy, Taxonomy):
        return taxonomy if taxonomy.occupation.code == occupation else None
    if isinstance(taxonomy, Mapping):
        t = taxonomy.get(occupation)
        return t if isinstance(t, Taxonomy) else None
    for t in taxonomy:
        if isinstance(t, Taxonomy) and t.occupation.code == occupation:
            return t
    return None


# ---------------------------------------------------------------------------------------------- checks

def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _grade_key(v: Any) -> int | None:
    if _is_int(v):
        return v
    if isinstance(v, str) and v.strip().isdigit():
        return int(v.strip())
    return None


def _text(d: Mapping[str, Any], key: str, path: str, out: list[Problem]) -> str | None:
    v = d.get(key)
    if v is None or (isinstance(v, str) and not v.strip()):
        out.append(make_problem(f"{path}{key}", "required"))
        return None
    if not isinstance(v, str):
        out.append(make_problem(f"{path}{key}", "not_a_string"))
        return None
    return v


def _grades(v: Any, path: str, out: list[Problem], allowed: tuple[int, ...] | None) -> None:
    if v is None:
        out.append(make_problem(path, "required"))
        return
    if not isinstance(v, (list, tuple)):
        out.append(make_problem(path, "not_a_list"))
        return
    if not v:
        out.append(make_problem(path, "empty_list"))
        return
    seen = set()
    for i, g in enumerate(v):
        if not _is_int(g) or not 1 <= g <= 5:
            out.append(make_problem(f"{path}[{i}]", "bad_grade", value=str(g)))
            continue
        if g in seen:
            out.append(make_problem(f"{path}[{i}]", "duplicate_grade", value=g))
        seen.add(g)
        if allowed is not None and g not in allowed:
            out.append(make_problem(f"{path}[{i}]", "grade_not_in_taxonomy", value=g, grades=list(allowed)))


def _unknown_keys(d: Mapping[str, Any], allowed: tuple[str, ...], path: str, out: list[Problem]) -> None:
    for k in d:
        if k not in allowed:
            out.append(make_problem(path.rstrip("."), "unknown_field", name=str(k), severity=WARNING))


def validate_taxonomy(d: Any) -> list[Problem]:
    """All problems of a taxonomy dict (docs/items.md shape), located by field path.

    Paths: ``occupation.code``, ``grades[1]``, ``tree[0].part``, ``tree[1].units[0].code``,
    ``tree[1].units[0].points[2].grades[0]``, ``weights.theory.4`` (sum), ``weights.practical.3.P-X``
    (unknown area). Unknown keys are warnings; everything else is an error.
    """
    out: list[Problem] = []
    if not isinstance(d, Mapping):
        return [make_problem("", "not_a_mapping")]
    _unknown_keys(d, ("occupation", "grades", "weights", "tree"), "", out)
    occ = d.get("occupation")
    if not isinstance(occ, Mapping):
        out.append(make_problem("occupation", "required" if occ is None else "not_a_mapping"))
    else:
        _unknown_keys(occ, ("code", "name", "work_type"), "occupation.", out)
        _text(occ, "code", "occupation.", out)
        _text(occ, "name", "occupation.", out)
        wt = occ.get("work_type")
        if wt is not None and not isinstance(wt, str):
            out.append(make_problem("occupation.work_type", "not_a_string"))
    grades_probs: list[Problem] = []
    _grades(d.get("grades"), "grades", grades_probs, None)
    out += grades_probs
    tax_grades = tuple(d["grades"]) if not grades_probs else None

    first_seen: dict[str, str] = {}
    area_part: dict[str, str] = {}  # areas with a valid part
    area_codes: set[str] = set()

    def code_of(node: Mapping[str, Any], path: str, parent: str | None) -> None:
        code = _text(node, "code", path, out)
        if code is None:
            return
        if code in first_seen:
            out.append(make_problem(f"{path}code", "duplicate_code", value=code, first=first_seen[code]))
        else:
            first_seen[code] = f"{path}code"
        if parent is not None and not code.startswith(parent + "-"):
            out.append(make_problem(f"{path}code", "code_not_hierarchical", value=code, parent=parent))

    tree = d.get("tree")
    if tree is None:
        out.append(make_problem("tree", "required"))
        tree = []
    elif not isinstance(tree, (list, tuple)):
        out.append(make_problem("tree", "not_a_list"))
        tree = []
    elif not tree:
        out.append(make_problem("tree", "empty_list"))
    for i, area in enumerate(tree):
        ap = f"tree[{i}]."
        if not isinstance(area, Mapping):
            out.append(make_problem(ap[:-1], "not_a_mapping"))
            continue
        _unknown_keys(area, ("code", "name", "part", "units"), ap, out)
        code_of(area, ap, None)
        if isinstance(area.get("code"), str):
            area_codes.add(area["code"])
        _text(area, "name", ap, out)
        part = area.get("part")
        if part not in PARTS:
            out.append(make_problem(f"{ap}part", "required" if part is None else "bad_part", value=str(part)))
        elif isinstance(area.get("code"), str):
            area_part[area["code"]] = part
        units = area.get("units")
        if not isinstance(units, (list, tuple)) or not units:
            out.append(make_problem(f"{ap}units", "required" if not units else "not_a_list"))
            continue
        for j, unit in enumerate(units):
            up = f"{ap}units[{j}]."
            if not isinstance(unit, Mapping):
                out.append(make_problem(up[:-1], "not_a_mapping"))
                continue
            _unknown_keys(unit, ("code", "name", "points"), up, out)
            code_of(unit, up, area.get("code") if isinstance(area.get("code"), str) else None)
            _text(unit, "name", up, out)
            points = unit.get("points")
            if not isinstance(points, (list, tuple)) or not points:
                out.append(make_problem(f"{up}points", "required" if not points else "not_a_list"))
                continue
            for k, pt in enumerate(points):
                pp = f"{up}points[{k}]."
                if not isinstance(pt, Mapping):
                    out.append(make_problem(pp[:-1], "not_a_mapping"))
                    continue
                _unknown_keys(pt, ("code", "name", "importance", "grades"), pp, out)
                code_of(pt, pp, unit.get("code") if isinstance(unit.get("code"), str) else None)
                _text(pt, "name", pp, out)
                imp = pt.get("importance")
                try:
                    Importance.parse(imp)
                except ValueError:
                    out.append(make_problem(f"{pp}importance", "required" if imp is None else "unknown_importance",
                                            value=str(imp)))
                _grades(pt.get("grades"), f"{pp}grades", out, tax_grades)

    weights = d.get("weights")
    if weights is None:
        out.append(make_problem("weights", "required"))
        return out
    if not isinstance(weights, Mapping):
        out.append(make_problem("weights", "not_a_mapping"))
        return out
    for part, by_grade in weights.items():
        wp = f"weights.{part}"
        if part not in PARTS:
            out.append(make_problem(wp, "bad_part", value=str(part)))
            continue
        if not isinstance(by_grade, Mapping):
            out.append(make_problem(wp, "not_a_mapping"))
            continue
        for g, table in by_grade.items():
            gp = f"{wp}.{g}"
            gk = _grade_key(g)
            if gk is None or not 1 <= gk <= 5:
                out.append(make_problem(gp, "bad_grade", value=str(g)))
                continue
            if tax_grades is not None and gk not in tax_grades:
                out.append(make_problem(gp, "grade_not_in_taxonomy", value=gk, grades=list(tax_grades)))
            if not isinstance(table, Mapping):
                out.append(make_problem(gp, "not_a_mapping"))
                continue
            total, ok = 0.0, True
            for a, v in table.items():
                ep = f"{gp}.{a}"
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                    out.append(make_problem(ep, "not_a_number", value=str(v)))
                    ok = False
                    continue
                if v < 0:
                    out.append(make_problem(ep, "negative", value=v))
                    ok = False
                total += v
                known = str(a) in area_codes
                if not known or (str(a) in area_part and area_part[str(a)] != part):
                    out.append(make_problem(ep, "weight_unknown_area", value=str(a), part=part,
                                            part_zh=_PART_ZH[part]))
            if ok and abs(total - 100.0) > _EPS:
                out.append(make_problem(gp, "weights_sum", part=part, part_zh=_PART_ZH[part], grade=gk,
                                        total=_num_out(round(total, 6))))
    if tax_grades is not None:
        for part in PARTS:
            if part not in area_part.values():
                continue
            by_grade = weights.get(part)
            have = {_grade_key(g) for g in by_grade} if isinstance(by_grade, Mapping) else set()
            for g in tax_grades:
                if g not in have:
                    out.append(make_problem(f"weights.{part}", "missing_weights", part=part,
                                            part_zh=_PART_ZH[part], grade=g))
    return out

"""Paper assembly (组卷): a 0-1 MILP on ``scipy.optimize.milp`` (HiGHS) with a greedy fallback.

Input is a list of plain :class:`Candidate` records (build them from item dicts with
:func:`candidates_from_items`), a :class:`~question_bank.blueprint.Blueprint`, the number of forms K, a
seed and a time limit. :func:`assemble` returns an :class:`AssemblyResult` holding the forms (A, B, ...)
as lists of ``(item_id, version, part, section, position, points)``, the independent check report
(:mod:`question_bank.assembly_check`), the blueprint hash, the seed, scipy/HiGHS versions, status,
objective, gap and timings; ``to_json()`` gives the ``paper.json`` of ``examsys assemble``.
:func:`explain` says why a blueprint cannot be met, in the domain's words (Chinese and English), and
:func:`greedy_assemble` is the steered greedy baseline (same quotas, X points first, forms one after
another) used by the bench and as the fallback when HiGHS returns no incumbent in time.

Model (x[i, f] = 1 if item i is on form f; rows per form f unless noted):

1. 题型题量   sum_{i in type t} x = n_t                           (section counts)
2. 比重       lo_a <= sum_{i in area a} pts_i x <= hi_a            (paper points per level-1 area)
3. 覆盖/上限  sum_{i in point j} x >= 1 for required X points, <= cap for every point
4. 重要程度   sum_Z x <= floor(z N), sum_{Y,Z} x <= floor(yz N)    (items, or points with basis: points)
5. 难度       N p_lo <= sum p_i x <= N p_hi; band counts
6. 时间       sum seconds_i x <= 60 duration_min
7. 互斥/题组  sum_{i in E} x <= 1 per enemy group; x_i = x_lead for every member of an item set;
              anchors: x[i, f] = 1 for every f
8. 操作技能   sum_{tasks of module m} x = tasks_m y_m (y_m = 1 for compulsory modules), sum_{m in g} y_m
              = choose_g, time
Across forms: sum_f x[i, f] <= max_uses (non-anchors); mean-p spread: N m <= sum p x_f <= N (m + delta);
objective spread: t <= sum D x_f <= (1 + r) t.
Objective: maximise sum_f sum_i D_i (1 + eta u_if) x[i, f], u ~ U(0, 1) from the seed (so two seeds give
two valid papers and the same seed the same paper); or, for ``kind: tif_target``, minimise the absolute
deviation of the test information from its target at the theta points (2PL a/b of the candidates).

Solving (:func:`_solve_pipeline`): the LP relaxation, then RENS and two wider neighbourhood sub-MILPs,
each solution certified against the LP bound (``gap``), and the full MILP only when none is within
``mip_rel_gap``; HiGHS stages too large to honour the time limit run in a child process that is killed
after it. Large banks are pruned (per knowledge point × type cell: the best K + 2 by the perturbed D plus
the best by D + mu p for a few mu, all items of thin X points and of thin sections, anchors and item
sets); the exact model is used with ``prune=False``, when the pruned model proves infeasible, and for
audits. Infeasibility is explained before solving (O(n) supply checks) and after (elastic re-solve),
see :mod:`question_bank.infeasibility`.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import scipy
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, milp

from .blueprint import (
    DEFAULT_SECONDS,
    IMPORTANCE,
    TYPE_NAMES_ZH,
    Blueprint,
    blueprint_hash,
    parse_blueprint,
)

FORM_LABELS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
PAPER_SCHEMA = "examsys.paper/1"


def _highs_version() -> str | None:
    try:  # scipy bundles HiGHS; its version is only reachable through a private module
        from scipy.optimize._highspy import _core  # type: ignore[attr-defined]

        return f"{_core.HIGHS_VERSION_MAJOR}.{_core.HIGHS_VERSION_MINOR}.{_core.HIGHS_VERSION_PATCH}"
    except Exception:  # pragma: no cover - depends on the scipy build
        return None


SOLVER_VERSIONS = {"scipy": scipy.__version__, "highs": _highs_version(), "numpy": np.__version__}


# ----------------------------------------------------------------------------------------------
# candidates
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Candidate:
    """One eligible item version as the assembler sees it (plain data, no ORM).

    Attributes
    ----------
    item_id : str
        Bank item id.
    version : int
        Item version (≥ 1); papers point at versions.
    type : str
        Item type (``single_choice`` ... ``practical_task``).
    points : float
        The item's own maximum score (> 0). Paper points come from the blueprint section.
    kp : str
        Knowledge point (鉴定点) code, e.g. ``C-B-007``.
    area : str
        Level-1 area (鉴定范围) code, e.g. ``C``; for practical tasks the module's area.
    importance : str
        ``X``, ``Y`` or ``Z`` (重要程度 of the point).
    p : float
        Expected facility (difficulty) in [0, 1].
    disc : float
        Expected discrimination D in [-1, 1].
    seconds : float or None
        Expected answering time in seconds (> 0); None = the blueprint's default for the type. For a
        practical task its time limit (time_limit_min × 60).
    enemy_groups : tuple of str
        Enemy groups the item belongs to: at most one item of a group per paper.
    item_set : str or None
        Item set (材料题/案例题) id: all items of a set or none of them.
    anchor : bool
        Forced into every form (common items for linking).
    equipment : frozenset of str
        Equipment a practical task needs; the station must have all of it.
    irt_a, irt_b : float or None
        2PL discrimination and difficulty on the theta scale, for ``objective.kind: tif_target``.
    """

    item_id: str
    version: int
    type: str
    points: float
    kp: str
    area: str
    importance: str
    p: float
    disc: float
    seconds: float | None = None
    enemy_groups: tuple[str, ...] = ()
    item_set: str | None = None
    anchor: bool = False
    equipment: frozenset[str] = frozenset()
    irt_a: float | None = None
    irt_b: float | None = None

    def __post_init__(self) -> None:
        if self.type not in TYPE_NAMES_ZH:
            raise ValueError(f"Candidate {self.item_id}: type must be one of {list(TYPE_NAMES_ZH)}, got {self.type!r}")
        if self.importance not in IMPORTANCE:
            raise ValueError(f"Candidate {self.item_id}: importance must be X, Y or Z, got {self.importance!r}")
        if not (isinstance(self.p, (int, float)) and 0.0 <= self.p <= 1.0):
            raise ValueError(f"Candidate {self.item_id}: p (facility) must be in [0, 1], got {self.p!r}")
        if not (isinstance(self.disc, (int, float)) and -1.0 <= self.disc <= 1.0):
            raise ValueError(f"Candidate {self.item_id}: disc must be in [-1, 1], got {self.disc!r}")
        if not (isinstance(self.points, (int, float)) and self.points > 0):
            raise ValueError(f"Candidate {self.item_id}: points must be > 0, got {self.points!r}")
        if self.seconds is not None and not self.seconds > 0:
            raise ValueError(f"Candidate {self.item_id}: seconds must be > 0 or None, got {self.seconds!r}")
        if not self.kp or not self.area:
            raise ValueError(f"Candidate {self.item_id}: kp and area are required")

    @property
    def part(self) -> str:
        return "practical" if self.type == "practical_task" else "theory"


@dataclass(frozen=True)
class Screening:
    """Result of :func:`screen_items`: the candidates and, per excluded item id, the reason."""

    candidates: list[Candidate]
    excluded: dict[str, str]


def screen_items(items: Iterable[Mapping[str, Any]], kp_index: Mapping[str, Any], grade: int, *,
                 blueprint: Blueprint | Mapping[str, Any] | None = None, occupation: str | None = None,
                 statuses: Sequence[str] | None = None, recent_papers: Sequence[Iterable[str]] = (),
                 exclude_recent: int | None = None, exposure: Mapping[str, float] | None = None,
                 max_exposure: float | None = None, station_equipment: Iterable[str] | None = None,
                 anchors: Iterable[str] = (), default_p: float = 0.65, default_disc: float = 0.2
                 ) -> Screening:
    """Turn item dicts (docs/items.md) into candidates for one grade, recording why others are left out.

    Parameters
    ----------
    items : iterable of dict
        Item dicts. Besides the documented fields, optional ``item_set`` (str), ``enemy_groups``
        (list of str), ``seconds`` (expected answering time, s) and ``irt_a`` / ``irt_b`` are read.
    kp_index : mapping
        kp code → ``KpInfo(area, importance, part)`` or a 3-tuple (see
        :func:`question_bank.blueprint.kp_index_from_taxonomy`).
    grade : int
        Grade 5..1; only items listing it in ``grades`` are eligible.
    blueprint : Blueprint or dict, optional
        Supplies ``eligibility`` (statuses, exclude_recent_papers, max_exposure, anchors) and the
        practical station equipment; explicit arguments override it.
    occupation : str, optional
        When given, items of other occupations are excluded.
    statuses : sequence of str, optional
        Eligible statuses (default ``["approved"]``).
    recent_papers : sequence of iterables of item ids
        The station's papers, most recent first; items in the first ``exclude_recent`` are excluded.
    exposure, max_exposure : mapping item id → rate in [0, 1], float
        Items whose exposure rate exceeds ``max_exposure`` are excluded.
    station_equipment : iterable of str, optional
        Practical tasks needing equipment outside this set are excluded.
    anchors : iterable of item ids
        Marked ``anchor=True``.
    default_p, default_disc : float
        Used when an item's difficulty / discrimination is null (p in [0, 1], D in [-1, 1]).
    """
    if not 0.0 <= default_p <= 1.0:
        raise ValueError(f"default_p must be in [0, 1], got {default_p}")
    if not -1.0 <= default_disc <= 1.0:
        raise ValueError(f"default_disc must be in [-1, 1], got {default_disc}")
    bp = parse_blueprint(blueprint) if blueprint is not None and not isinstance(blueprint, Blueprint) else blueprint
    el = bp.eligibility if bp is not None else None
    statuses = tuple(statuses) if statuses is not None else (el.statuses if el else ("approved",))
    n_recent = exclude_recent if exclude_recent is not None else (el.exclude_recent_papers if el else 0)
    max_exp = max_exposure if max_exposure is not None else (el.max_exposure if el else None)
    anchor_ids = set(str(a) for a in anchors) | (set(el.anchors) if el else set())
    if station_equipment is None and bp is not None and bp.practical is not None:
        station_equipment = bp.practical.station_equipment
    station = frozenset(station_equipment) if station_equipment is not None else None
    recent: set[str] = set()
    for paper in list(recent_papers)[: max(0, int(n_recent))]:
        recent.update(str(i) for i in paper)

    best: dict[str, Candidate] = {}
    excluded: dict[str, str] = {}
    for k, it in enumerate(items):
        if not isinstance(it, Mapping):
            raise ValueError(f"items[{k}] must be a mapping (item dict), got {type(it).__name__}")
        iid = it.get("id")
        if iid is None:
            raise ValueError(f"items[{k}].id is missing: only stored items (with id and version) can be assembled")
        iid = str(iid)
        ver = it.get("version")
        if isinstance(ver, bool) or not isinstance(ver, int) or ver < 1:
            raise ValueError(f"items[{k}].version must be an int ≥ 1, got {ver!r}")

        def drop(reason: str) -> None:
            excluded.setdefault(iid, reason)

        if occupation is not None and str(it.get("occupation")) != str(occupation):
            drop("occupation")
            continue
        if grade not in (it.get("grades") or []):
            drop("grade")
            continue
        if it.get("status", "draft") not in statuses:
            drop(f"status:{it.get('status', 'draft')}")
            continue
        if iid in recent:
            drop("recently_used")
            continue
        if max_exp is not None and exposure is not None and float(exposure.get(iid, 0.0)) > max_exp:
            drop("exposure")
            continue
        kp = it.get("kp")
        info = kp_index.get(kp) if kp is not None else None
        if info is None:
            drop("unknown_kp")
            continue
        area, importance, part = (info.area, info.importance, info.part) if hasattr(info, "area") else tuple(info)
        itype = it.get("type")
        if (part == "practical") != (itype == "practical_task"):
            drop("part_mismatch")
            continue
        equipment = frozenset(str(e) for e in (it.get("equipment") or ()))
        if itype == "practical_task" and station is not None and not equipment <= station:
            drop("equipment:" + ",".join(sorted(equipment - station)))
            continue
        p = it.get("difficulty")
        d = it.get("discrimination")
        seconds = it.get("seconds")
        if seconds is None and itype == "practical_task" and it.get("time_limit_min"):
            seconds = float(it["time_limit_min"]) * 60.0
        try:
            cand = Candidate(
                item_id=iid, version=ver, type=str(itype), points=float(it.get("points", 0)), kp=str(kp),
                area=str(area), importance=str(importance),
                p=float(p) if p is not None else default_p,
                disc=float(d) if d is not None else default_disc,
                seconds=float(seconds) if seconds is not None else None,
                enemy_groups=tuple(str(g) for g in (it.get("enemy_groups") or ())),
                item_set=str(it["item_set"]) if it.get("item_set") else None,
                anchor=iid in anchor_ids, equipment=equipment,
                irt_a=it.get("irt_a"), irt_b=it.get("irt_b"))
        except ValueError as exc:
            raise ValueError(f"items[{k}] (id {iid}): {exc}") from exc
        old = best.get(iid)
        if old is None or old.version < ver:
            if old is not None:
                excluded[f"{iid}@{old.version}"] = "older_version"
            best[iid] = cand
        else:
            excluded[f"{iid}@{ver}"] = "older_version"
    return Screening(sorted(best.values(), key=lambda c: c.item_id), excluded)


def candidates_from_items(items: Iterable[Mapping[str, Any]], kp_index: Mapping[str, Any], grade: int,
                          **kwargs: Any) -> list[Candidate]:
    """Candidates from item dicts + taxonomy info; see :func:`screen_items` for the keyword arguments."""
    return screen_items(items, kp_index, grade, **kwargs).candidates


# ----------------------------------------------------------------------------------------------
# the pool: eligible candidates as numpy arrays
# ----------------------------------------------------------------------------------------------
@dataclass
class _Pool:
    cands: list[Candidate]
    part: np.ndarray          # 0 theory, 1 practical
    sec: np.ndarray           # theory section index, -1 otherwise
    mod: np.ndarray           # practical module index, -1 otherwise
    pts: np.ndarray           # paper points
    kp: np.ndarray            # index into kp_codes
    area: np.ndarray          # theory: index into areas; practical: -1
    imp: np.ndarray           # 0 X, 1 Y, 2 Z
    p: np.ndarray
    D: np.ndarray
    secs: np.ndarray          # expected seconds
    anchor: np.ndarray        # bool
    set_idx: np.ndarray       # index into set_ids, -1 none
    en_item: np.ndarray       # enemy membership: item index
    en_group: np.ndarray      # enemy membership: group index into enemy_ids
    kp_codes: list[str]
    areas: list[str]
    set_ids: list[str]
    enemy_ids: list[str]
    required: np.ndarray      # kp indices of required X points (theory), including points with no supply
    excluded: dict[str, str] = field(default_factory=dict)
    info_theta: np.ndarray | None = None   # (n, n_theta) item information for tif_target

    @property
    def n(self) -> int:
        return len(self.cands)

    def take(self, idx: np.ndarray) -> "_Pool":
        idx = np.asarray(idx, dtype=np.int64)
        remap = np.full(self.n, -1, dtype=np.int64)
        remap[idx] = np.arange(len(idx))
        keep_en = remap[self.en_item] >= 0
        return _Pool(
            cands=[self.cands[i] for i in idx], part=self.part[idx], sec=self.sec[idx], mod=self.mod[idx],
            pts=self.pts[idx], kp=self.kp[idx], area=self.area[idx], imp=self.imp[idx], p=self.p[idx],
            D=self.D[idx], secs=self.secs[idx], anchor=self.anchor[idx], set_idx=self.set_idx[idx],
            en_item=remap[self.en_item[keep_en]], en_group=self.en_group[keep_en], kp_codes=self.kp_codes,
            areas=self.areas, set_ids=self.set_ids, enemy_ids=self.enemy_ids, required=self.required,
            excluded=self.excluded,
            info_theta=self.info_theta[idx] if self.info_theta is not None else None)


def _required_codes(bp: Blueprint, cands: Sequence[Candidate], kp_index: Mapping[str, Any] | None,
                    x_points: Iterable[str] | None) -> list[str]:
    """Codes of the X points every form must cover (theory part)."""
    th = bp.theory
    if th is None:
        return []
    if x_points is not None:
        return sorted(set(x_points))
    if isinstance(th.x_points, tuple):
        return sorted(set(th.x_points))
    areas = set(th.area_windows)
    codes: set[str] = set()
    if kp_index is not None:
        for code, info in kp_index.items():
            area, imp, part = (info.area, info.importance, info.part) if hasattr(info, "area") else tuple(info)
            if part == "theory" and imp == "X" and area in areas:
                codes.add(str(code))
    else:
        for c in cands:
            if c.type != "practical_task" and c.importance == "X" and c.area in areas:
                codes.add(c.kp)
    return sorted(codes)


def _build_pool(candidates: Sequence[Candidate], bp: Blueprint, *, kp_index: Mapping[str, Any] | None = None,
                x_points: Iterable[str] | None = None, station_equipment: Iterable[str] | None = None) -> _Pool:
    th, pr = bp.theory, bp.practical
    station = frozenset(station_equipment) if station_equipment is not None else (
        pr.station_equipment if pr is not None else None)
    anchor_ids = set(bp.eligibility.anchors)
    # item sets from the blueprint override the candidates' own
    set_of: dict[str, str] = {}
    for sid, ids in bp.eligibility.item_sets.items():
        for iid in ids:
            if iid in set_of and set_of[iid] != sid:
                raise ValueError(f"eligibility.item_sets: item {iid} is in two sets ({set_of[iid]}, {sid})")
            set_of[iid] = sid
    enemies_of: dict[str, list[str]] = {}
    for k, grp in enumerate(bp.eligibility.enemies):
        for iid in grp:
            enemies_of.setdefault(iid, []).append(f"blueprint-enemies[{k}]")

    seen: dict[str, Candidate] = {}
    excluded: dict[str, str] = {}
    for c in candidates:
        if not isinstance(c, Candidate):
            raise TypeError(f"candidates must be Candidate records, got {type(c).__name__}")
        old = seen.get(c.item_id)
        if old is not None:
            if old.version == c.version:
                raise ValueError(f"candidates: item {c.item_id} version {c.version} is listed twice")
            keep, drop = (c, old) if c.version > old.version else (old, c)
            excluded[f"{drop.item_id}@{drop.version}"] = "older_version"
            seen[c.item_id] = keep
        else:
            seen[c.item_id] = c
    ordered = sorted(seen.values(), key=lambda c: c.item_id)

    sec_index = {s.type: k for k, s in enumerate(th.sections)} if th else {}
    areas = sorted(th.area_windows) if th else []
    area_index = {a: k for k, a in enumerate(areas)}
    mod_index = {m.area: k for k, m in enumerate(pr.modules)} if pr else {}

    elig: list[Candidate] = []
    sec_l: list[int] = []
    mod_l: list[int] = []
    pts_l: list[float] = []
    for c in ordered:
        if c.type == "practical_task":
            if pr is None:
                excluded[c.item_id] = "no_practical_part"
                continue
            mi = mod_index.get(c.area)
            if mi is None:
                excluded[c.item_id] = "module_not_in_blueprint"
                continue
            if station is not None and not c.equipment <= station:
                excluded[c.item_id] = "equipment:" + ",".join(sorted(c.equipment - station))
                continue
            elig.append(c)
            sec_l.append(-1)
            mod_l.append(mi)
            pts_l.append(pr.task_points(pr.modules[mi]))
        else:
            if th is None:
                excluded[c.item_id] = "no_theory_part"
                continue
            si = sec_index.get(c.type)
            if si is None:
                excluded[c.item_id] = "type_not_in_blueprint"
                continue
            s = th.sections[si]
            if s.match_item_points and abs(c.points - s.points) > 1e-9:
                excluded[c.item_id] = "points_mismatch"
                continue
            if c.area not in area_index:
                excluded[c.item_id] = "area_not_in_blueprint"
                continue
            elig.append(c)
            sec_l.append(si)
            mod_l.append(-1)
            pts_l.append(s.points)

    # item sets: all or none — a set with an ineligible member is unusable
    set_members: dict[str, list[str]] = {}
    for c in ordered:
        sid = set_of.get(c.item_id, c.item_set)
        if sid is not None:
            set_members.setdefault(sid, []).append(c.item_id)
    for sid, ids in bp.eligibility.item_sets.items():
        for iid in ids:
            if iid not in seen:
                set_members.setdefault(sid, []).append(iid)
    elig_ids = {c.item_id for c in elig}
    broken = {sid for sid, ids in set_members.items() if any(i not in elig_ids for i in ids)}
    if broken:
        keep_rows = []
        for k, c in enumerate(elig):
            sid = set_of.get(c.item_id, c.item_set)
            if sid in broken:
                excluded[c.item_id] = f"item_set_incomplete:{sid}"
            else:
                keep_rows.append(k)
        elig = [elig[k] for k in keep_rows]
        sec_l = [sec_l[k] for k in keep_rows]
        mod_l = [mod_l[k] for k in keep_rows]
        pts_l = [pts_l[k] for k in keep_rows]

    required_codes = _required_codes(bp, ordered, kp_index, x_points)
    kp_codes = sorted({c.kp for c in elig} | set(required_codes))
    kp_idx = {k: i for i, k in enumerate(kp_codes)}
    set_ids = sorted({set_of.get(c.item_id, c.item_set) for c in elig} - {None})  # type: ignore[arg-type]
    set_idx_map = {s: i for i, s in enumerate(set_ids)}
    en_item: list[int] = []
    en_name: list[str] = []
    for i, c in enumerate(elig):
        for g in tuple(c.enemy_groups) + tuple(enemies_of.get(c.item_id, ())):
            en_item.append(i)
            en_name.append(g)
    enemy_ids = sorted(set(en_name))
    en_map = {g: k for k, g in enumerate(enemy_ids)}
    n = len(elig)
    default_secs = {t: (th.seconds_for(t) if th is not None else DEFAULT_SECONDS[t]) for t in DEFAULT_SECONDS}
    default_secs["practical_task"] = DEFAULT_SECONDS["practical_task"]
    secs = np.array([c.seconds if c.seconds is not None else default_secs[c.type] for c in elig], dtype=float)
    imp_code = {"X": 0, "Y": 1, "Z": 2}
    pool = _Pool(
        cands=elig,
        part=np.array([1 if c.type == "practical_task" else 0 for c in elig], dtype=np.int8),
        sec=np.array(sec_l, dtype=np.int64), mod=np.array(mod_l, dtype=np.int64),
        pts=np.array(pts_l, dtype=float),
        kp=np.array([kp_idx[c.kp] for c in elig], dtype=np.int64),
        area=np.array([area_index.get(c.area, -1) if c.type != "practical_task" else -1 for c in elig],
                      dtype=np.int64),
        imp=np.array([imp_code[c.importance] for c in elig], dtype=np.int8),
        p=np.array([c.p for c in elig], dtype=float), D=np.array([c.disc for c in elig], dtype=float),
        secs=secs,
        anchor=np.array([c.anchor or c.item_id in anchor_ids for c in elig], dtype=bool),
        set_idx=np.array([set_idx_map[set_of.get(c.item_id, c.item_set)]  # type: ignore[index]
                          if set_of.get(c.item_id, c.item_set) is not None else -1 for c in elig], dtype=np.int64),
        en_item=np.array(en_item, dtype=np.int64), en_group=np.array([en_map[g] for g in en_name], dtype=np.int64),
        kp_codes=kp_codes, areas=areas, set_ids=set_ids, enemy_ids=enemy_ids,
        required=np.array([kp_idx[c] for c in required_codes], dtype=np.int64),
        excluded=excluded)
    if bp.objective.kind == "tif_target":
        theta = np.asarray(bp.objective.theta, dtype=float)
        a = np.array([c.irt_a if c.irt_a is not None else 0.0 for c in elig])
        b = np.array([c.irt_b if c.irt_b is not None else 0.0 for c in elig])
        P = 1.0 / (1.0 + np.exp(-a[:, None] * (theta[None, :] - b[:, None])))
        pool.info_theta = (a[:, None] ** 2) * P * (1.0 - P)
    return pool


def _form_range(k: int) -> str:
    labels = FORM_LABELS[:k]
    return labels if k <= 1 else f"{labels[0]}–{labels[-1]}"


# ----------------------------------------------------------------------------------------------
# the MILP model
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RowBlock:
    """Consecutive model rows of one rule on one form (form None = across forms).

    ``subjects[k]`` names row ``start + k`` in the domain (a section type, area code, kp code...);
    ``unit`` and ``div`` turn a row slack into a natural amount (slack / div ``unit``); ``weight`` is the
    cost of one slack unit in the elastic model; ``hard`` rows never get slack.
    """

    rule: str
    part: str
    form: int | None
    start: int
    stop: int
    subjects: tuple[str, ...]
    unit: str = "items"
    div: float = 1.0
    weight: float = 1.0
    hard: bool = False


@dataclass
class _Model:
    c: np.ndarray
    A: sp.csr_matrix
    lb: np.ndarray
    ub: np.ndarray
    col_lb: np.ndarray
    col_ub: np.ndarray
    integrality: np.ndarray
    blocks: list[RowBlock]
    n: int
    K: int
    aux: dict[str, int]
    kp_of_item: np.ndarray | None = None

    @property
    def n_x(self) -> int:
        return self.n * self.K

    def block_of_row(self) -> np.ndarray:
        out = np.empty(self.A.shape[0], dtype=np.int64)
        for k, b in enumerate(self.blocks):
            out[b.start:b.stop] = k
        return out


class _Builder:
    def __init__(self, n: int, K: int) -> None:
        self.n, self.K = n, K
        self.rows: list[np.ndarray] = []
        self.cols: list[np.ndarray] = []
        self.vals: list[np.ndarray] = []
        self.lb: list[np.ndarray] = []
        self.ub: list[np.ndarray] = []
        self.blocks: list[RowBlock] = []
        self.n_rows = 0
        self.aux_lb: list[float] = []
        self.aux_ub: list[float] = []
        self.aux_int: list[int] = []
        self.aux_cost: list[float] = []
        self.aux: dict[str, int] = {}

    def add_aux(self, name: str, lo: float, hi: float, integer: bool = False, cost: float = 0.0) -> int:
        col = self.n * self.K + len(self.aux_lb)
        self.aux[name] = col
        self.aux_lb.append(lo)
        self.aux_ub.append(hi)
        self.aux_int.append(1 if integer else 0)
        self.aux_cost.append(cost)
        return col

    def block(self, rule: str, part: str, form: int | None, groups: np.ndarray, cols: np.ndarray,
              vals: np.ndarray, G: int, lb: Any, ub: Any, subjects: Sequence[str], *, unit: str = "items",
              div: float = 1.0, weight: float = 1.0, hard: bool = False) -> None:
        if G == 0:
            return
        base = self.n_rows
        self.rows.append(base + np.asarray(groups, dtype=np.int64))
        self.cols.append(np.asarray(cols, dtype=np.int64))
        self.vals.append(np.asarray(vals, dtype=float))
        self.lb.append(np.broadcast_to(np.asarray(lb, dtype=float), (G,)).copy())
        self.ub.append(np.broadcast_to(np.asarray(ub, dtype=float), (G,)).copy())
        self.blocks.append(RowBlock(rule, part, form, base, base + G, tuple(subjects), unit, div, weight, hard))
        self.n_rows += G

    def per_form(self, rule: str, part: str, items: np.ndarray, groups: np.ndarray, coefs: np.ndarray, G: int,
                 lb: Any, ub: Any, subjects: Sequence[str], *, extra: Any = None, **kw: Any) -> None:
        items = np.asarray(items, dtype=np.int64)
        groups = np.asarray(groups, dtype=np.int64)
        coefs = np.broadcast_to(np.asarray(coefs, dtype=float), items.shape)
        for f in range(self.K):
            g, c, v = groups, f * self.n + items, coefs
            if extra is not None:
                eg, ec, ev = extra(f)
                g = np.concatenate([g, np.asarray(eg, dtype=np.int64)])
                c = np.concatenate([c, np.asarray(ec, dtype=np.int64)])
                v = np.concatenate([v, np.asarray(ev, dtype=float)])
            self.block(rule, part, f, g, c, v, G, lb, ub, subjects, **kw)

    def finish(self, x_cost: np.ndarray, anchor: np.ndarray) -> _Model:
        n_cols = self.n * self.K + len(self.aux_lb)
        if self.rows:
            A = sp.csr_matrix((np.concatenate(self.vals), (np.concatenate(self.rows), np.concatenate(self.cols))),
                              shape=(self.n_rows, n_cols))
            lb, ub = np.concatenate(self.lb), np.concatenate(self.ub)
        else:
            A = sp.csr_matrix((0, n_cols))
            lb = ub = np.zeros(0)
        col_lb = np.concatenate([np.tile(anchor.astype(float), self.K), np.asarray(self.aux_lb, dtype=float)])
        col_ub = np.concatenate([np.ones(self.n * self.K), np.asarray(self.aux_ub, dtype=float)])
        integ = np.concatenate([np.ones(self.n * self.K, dtype=np.int64), np.asarray(self.aux_int, dtype=np.int64)])
        c = np.concatenate([x_cost, np.asarray(self.aux_cost, dtype=float)])
        return _Model(c, A, lb, ub, col_lb, col_ub, integ, self.blocks, self.n, self.K, dict(self.aux))


def _perturbed_weights(pool: _Pool, K: int, seed: int, eta: float) -> np.ndarray:
    """(K, n) objective weights D (1 + eta u): u from a per-item stream of the seed (order-free)."""
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, K])
    # draw for every candidate of the unpruned pool in id order, so pruning does not change the weights
    u = rng.random((K, pool.n))
    return pool.D[None, :] * (1.0 + eta * u)


def _build_model(pool: _Pool, bp: Blueprint, K: int, weights: np.ndarray) -> _Model:
    n = pool.n
    B = _Builder(n, K)
    th, pr = bp.theory, bp.practical
    INF = np.inf
    th_idx = np.flatnonzero(pool.part == 0)
    pr_idx = np.flatnonzero(pool.part == 1)

    if th is not None:
        N = th.n_items
        S = len(th.sections)
        counts = np.array([s.count for s in th.sections], dtype=float)
        B.per_form("section_count", "theory", th_idx, pool.sec[th_idx], 1.0, S, counts, counts,
                   [s.type for s in th.sections], weight=100.0)
        lo = np.array([th.area_windows[a][0] for a in pool.areas])
        hi = np.array([th.area_windows[a][1] for a in pool.areas])
        B.per_form("area_points", "theory", th_idx, pool.area[th_idx], pool.pts[th_idx], len(pool.areas), lo, hi,
                   pool.areas, unit="points", weight=2.0)
        n_kp = len(pool.kp_codes)
        req = np.zeros(n_kp)
        req[pool.required] = th.min_per_x_point
        supply = np.bincount(pool.kp[th_idx], minlength=n_kp)
        cap = np.full(n_kp, INF)
        if th.max_per_point is not None:
            cap[supply > th.max_per_point] = th.max_per_point
        rows_kp = np.flatnonzero((req > 0) | (cap < INF))
        row_of = np.full(n_kp, -1)
        row_of[rows_kp] = np.arange(len(rows_kp))
        it = th_idx[row_of[pool.kp[th_idx]] >= 0]
        B.per_form("point", "theory", it, row_of[pool.kp[it]], 1.0, len(rows_kp), req[rows_kp], cap[rows_kp],
                   [pool.kp_codes[k] for k in rows_kp])
        coef = np.ones(len(th_idx)) if th.importance_basis == "items" else pool.pts[th_idx]
        base = N if th.importance_basis == "items" else th.total_points
        for rule, share, mask in (("z_share", th.z_max, pool.imp[th_idx] == 2),
                                  ("yz_share", th.yz_max, pool.imp[th_idx] >= 1)):
            if share is None:
                continue
            lim = math.floor(share * base + 1e-9) if th.importance_basis == "items" else share * base
            B.per_form(rule, "theory", th_idx[mask], np.zeros(int(mask.sum())), coef[mask], 1, -INF, lim, [rule],
                       unit="items" if th.importance_basis == "items" else "points")
        if th.mean_p is not None:
            B.per_form("mean_p", "theory", th_idx, np.zeros(len(th_idx)), pool.p[th_idx], 1, N * th.mean_p[0],
                       N * th.mean_p[1], ["mean_p"], unit="p", div=float(N), weight=100.0 / N)
        for k, band in enumerate(th.bands):
            mask = np.array([band.contains(x) for x in pool.p[th_idx]], dtype=bool)
            B.per_form("band", "theory", th_idx[mask], np.zeros(int(mask.sum())), 1.0, 1, band.min,
                       band.max if band.max is not None else INF, [f"{band.lo:g}-{band.hi:g}"])
        B.per_form("time", "theory", th_idx, np.zeros(len(th_idx)), pool.secs[th_idx], 1, -INF,
                   th.duration_min * 60.0, ["time"], unit="min", div=60.0, weight=1.0 / 60.0)

    if pr is not None:
        M = len(pr.modules)
        ycol: dict[tuple[int, int], int] = {}
        for f in range(K):
            for mi, m in enumerate(pr.modules):
                if not m.compulsory:
                    ycol[(mi, f)] = B.add_aux(f"y[{m.area},{f}]", 0.0, 1.0, integer=True)
        target = np.array([m.tasks if m.compulsory else 0 for m in pr.modules], dtype=float)

        def module_extra(f: int) -> tuple[list[int], list[int], list[float]]:
            g, c, v = [], [], []
            for mi, m in enumerate(pr.modules):  # type: ignore[union-attr]
                if not m.compulsory:
                    g.append(mi)
                    c.append(ycol[(mi, f)])
                    v.append(-float(m.tasks))
            return g, c, v

        B.per_form("module_tasks", "practical", pr_idx, pool.mod[pr_idx], 1.0, M, target, target,
                   [m.area for m in pr.modules], extra=module_extra, weight=100.0)
        gnames = sorted(pr.groups)
        if gnames:
            for f in range(K):
                g, c = [], []
                for gi, gname in enumerate(gnames):
                    for mi, m in enumerate(pr.modules):
                        if m.group == gname:
                            g.append(gi)
                            c.append(ycol[(mi, f)])
                choose = np.array([pr.groups[x] for x in gnames], dtype=float)
                B.block("group_choice", "practical", f, np.array(g), np.array(c), np.ones(len(g)), len(gnames),
                        choose, choose, gnames, weight=100.0)
        B.per_form("time", "practical", pr_idx, np.zeros(len(pr_idx)), pool.secs[pr_idx], 1, -INF,
                   pr.duration_min * 60.0, ["time"], unit="min", div=60.0, weight=1.0 / 60.0)

    # enemies (both parts)
    if len(pool.en_item):
        cnt = np.bincount(pool.en_group, minlength=len(pool.enemy_ids))
        gsel = np.flatnonzero(cnt >= 2)
        if len(gsel):
            gmap = np.full(len(pool.enemy_ids), -1)
            gmap[gsel] = np.arange(len(gsel))
            m = gmap[pool.en_group] >= 0
            B.per_form("enemy", "all", pool.en_item[m], gmap[pool.en_group[m]], 1.0, len(gsel), -INF, 1.0,
                       [pool.enemy_ids[g] for g in gsel], weight=100.0)
    # item sets: x_member = x_lead
    if len(pool.set_ids):
        members = np.flatnonzero(pool.set_idx >= 0)
        order = members[np.argsort(pool.set_idx[members], kind="stable")]
        sidx = pool.set_idx[order]
        first = np.r_[True, sidx[1:] != sidx[:-1]]
        lead = order[np.maximum.accumulate(np.where(first, np.arange(len(order)), 0))]
        follow = ~first
        fi, li = order[follow], lead[follow]
        r = np.arange(len(fi))
        B.per_form("item_set", "all", np.concatenate([fi, li]), np.concatenate([r, r]),
                   np.concatenate([np.ones(len(fi)), -np.ones(len(fi))]), len(fi), 0.0, 0.0,
                   [pool.set_ids[s] for s in pool.set_idx[fi]], hard=True)

    # across forms
    if K > 1:
        fm = bp.forms
        if K > fm.max_uses:
            na = np.flatnonzero(~pool.anchor)
            r = np.tile(np.arange(len(na)), K)
            cols = (np.arange(K)[:, None] * n + na[None, :]).ravel()
            B.block("max_uses", "all", None, r, cols, np.ones(len(cols)), len(na), -INF, float(fm.max_uses),
                    [pool.cands[i].item_id for i in na], weight=100.0)
        if th is not None and th.mean_p is not None and fm.mean_p_spread is not None:
            N = th.n_items
            mcol = B.add_aux("mean_p_base", 0.0, 1.0)
            B.per_form("mean_p_spread", "theory", th_idx, np.zeros(len(th_idx)), pool.p[th_idx], 1, 0.0,
                       N * fm.mean_p_spread, ["mean_p_spread"], extra=lambda f: ([0], [mcol], [-float(N)]),
                       unit="p", div=float(N), weight=100.0 / N)
        if bp.objective.kind == "discrimination" and fm.objective_spread is not None:
            tcol = B.add_aux("objective_base", -INF, INF)
            allidx = np.arange(n)
            B.per_form("objective_spread", "all", allidx, np.zeros(n), pool.D, 1, 0.0, INF, ["objective_min"],
                       extra=lambda f: ([0], [tcol], [-1.0]), unit="D", weight=1.0)
            B.per_form("objective_spread", "all", allidx, np.zeros(n), pool.D, 1, -INF, 0.0, ["objective_max"],
                       extra=lambda f: ([0], [tcol], [-(1.0 + fm.objective_spread)]), unit="D", weight=1.0)

    if bp.objective.kind == "tif_target" and th is not None and pool.info_theta is not None:
        theta = bp.objective.theta
        target = np.asarray(bp.objective.target_information, dtype=float)
        T = len(theta)
        for f in range(K):
            g, c, v = [], [], []
            for k in range(T):
                u = B.add_aux(f"tif_over[{k},{f}]", 0.0, INF, cost=1.0)
                w = B.add_aux(f"tif_under[{k},{f}]", 0.0, INF, cost=1.0)
                g += [k, k]
                c += [u, w]
                v += [-1.0, 1.0]
            gi = np.concatenate([np.repeat(np.arange(T), len(th_idx)), np.array(g)])
            ci = np.concatenate([np.tile(f * n + th_idx, T), np.array(c)])
            vi = np.concatenate([pool.info_theta[th_idx].T.ravel(), np.array(v)])
            B.block("tif", "theory", f, gi, ci, vi, T, target, target, [f"theta={t:g}" for t in theta],
                    unit="information", hard=True)
        x_cost = -1e-3 * weights.ravel()
    else:
        x_cost = -weights.ravel()
    model = B.finish(x_cost, pool.anchor)
    model.kp_of_item = pool.kp
    return model


# ----------------------------------------------------------------------------------------------
# pruning (large banks)
# ----------------------------------------------------------------------------------------------
#: prune when K × eligible items exceeds this many binaries (prune="auto")
PRUNE_THRESHOLD = 6000


def _rank_in_groups(group: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Rank (0 = best) of every element by descending ``value`` within its ``group``."""
    order = np.lexsort((-value, group))
    g = group[order]
    pos = np.arange(len(order))
    start = np.maximum.accumulate(np.where(np.r_[True, g[1:] != g[:-1]], pos, 0)) if len(order) else pos
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = pos - start
    return rank


def _prune_indices(pool: _Pool, bp: Blueprint, K: int, weights: np.ndarray, depth: int | None = None) -> np.ndarray:
    """Indices of the candidates kept for the pruned model (a heuristic; the exact model keeps all).

    Per (knowledge point × section) cell: the best ``depth`` (default K + 2) by the perturbed D, and the
    best ceil(K/2) + 1 by D + mu p for mu in (-0.5, 0.5, 1.5) (difficulty extremes the mean-p window may
    need); all items of thin X points (≤ 2K + 2 items) and thin sections (≤ 3 × what K forms use),
    every practical task, anchors, and whole item sets.
    """
    n = pool.n
    keep = pool.anchor.copy() | (pool.part == 1)
    th = bp.theory
    if th is None or n == 0:
        return np.flatnonzero(np.ones(n, dtype=bool))
    depth = K + 2 if depth is None else depth
    score = weights.mean(axis=0)
    S = len(th.sections)
    cell = pool.kp * (S + 1) + np.maximum(pool.sec, 0)
    keep |= _rank_in_groups(cell, score) < depth
    extra = math.ceil(K / 2) + 1
    for mu in (-0.5, 0.5, 1.5):
        keep |= _rank_in_groups(cell, score + mu * pool.p) < extra
    if th.bands:
        band_of = np.zeros(n, dtype=np.int64)
        for k, b in enumerate(th.bands):
            band_of[np.array([b.contains(x) for x in pool.p])] = k + 1
        keep |= _rank_in_groups(cell * (len(th.bands) + 1) + band_of, score) < 2
    if pool.info_theta is not None:
        for k in range(pool.info_theta.shape[1]):
            keep |= _rank_in_groups(cell, pool.info_theta[:, k]) < depth
    theory = pool.part == 0
    supply = np.bincount(pool.kp[theory], minlength=len(pool.kp_codes))
    thin = np.zeros(len(pool.kp_codes), dtype=bool)
    thin[pool.required] = supply[pool.required] <= 2 * K + 2
    keep |= theory & thin[pool.kp]
    sec_supply = np.bincount(pool.sec[theory], minlength=S)
    for s, sec in enumerate(th.sections):
        if sec_supply[s] <= 3 * K * sec.count:
            keep |= theory & (pool.sec == s)
    if len(pool.set_ids):
        kept_sets = np.unique(pool.set_idx[keep & (pool.set_idx >= 0)])
        keep |= np.isin(pool.set_idx, kept_sets) & (pool.set_idx >= 0)
    return np.flatnonzero(keep)


# ----------------------------------------------------------------------------------------------
# steered greedy (baseline and fallback)
# ----------------------------------------------------------------------------------------------
def _area_quotas(th: Any, areas: list[str], supply: np.ndarray) -> np.ndarray:
    """Items per (section, area): proportional to the area weights, repaired into the point windows."""
    S, A = len(th.sections), len(areas)
    q = np.zeros((S, A), dtype=np.int64)
    if A == 0:
        return q
    w = np.array([th.area_weights.get(a, 0.0) for a in areas], dtype=float)
    share = w / w.sum() if w.sum() > 0 else np.full(A, 1.0 / A)
    for s, sec in enumerate(th.sections):
        raw = sec.count * share
        base = np.floor(raw).astype(np.int64)
        rem = sec.count - base.sum()
        base[np.argsort(-(raw - base), kind="stable")[:rem]] += 1
        q[s] = base
    pts = np.array([sec.points for sec in th.sections])
    lo = np.array([th.area_windows[a][0] for a in areas])
    hi = np.array([th.area_windows[a][1] for a in areas])
    for _ in range(4 * sum(sec.count for sec in th.sections)):
        # supply first: move what a cell cannot supply to the same section's areas with spare supply
        over_supply = np.argwhere(q > supply)
        if len(over_supply):
            s, a = over_supply[0]
            spare = supply[s] - q[s]
            spare[a] = -1
            b = int(np.argmax(spare))
            if spare[b] <= 0:
                break
            q[s, a] -= 1
            q[s, b] += 1
            continue
        P = pts @ q
        over = np.flatnonzero(P > hi + 1e-9)
        under = np.flatnonzero(P < lo - 1e-9)
        if not len(over) and not len(under):
            break
        src = over[0] if len(over) else int(np.argmax(P - (lo + hi) / 2))
        dst = under[0] if len(under) else int(np.argmin(P - (lo + hi) / 2))
        if src == dst:
            break
        # the section whose points best match what the move should shift, with supply at the destination
        need_src = P[src] - hi[src] if P[src] > hi[src] + 1e-9 else np.inf
        need_dst = lo[dst] - P[dst] if P[dst] < lo[dst] - 1e-9 else np.inf
        need = min(need_src, need_dst)
        if not np.isfinite(need):
            need = (P[src] - P[dst]) / 2
        best = None
        for s in range(S):
            if q[s, src] > 0 and q[s, dst] < supply[s, dst]:
                d = abs(pts[s] - need)
                if best is None or d < best[0]:
                    best = (d, s)
        if best is None:
            break
        s = best[1]
        q[s, src] -= 1
        q[s, dst] += 1
    return q


def _greedy_select(pool: _Pool, bp: Blueprint, K: int, weights: np.ndarray, *, steer: float = 1.0
                   ) -> list[np.ndarray]:
    """Forms one after another: anchors, then X points (scarcest first), then the (section × area) quotas;
    each pick maximises the perturbed D minus ``steer`` × distance of p from what the mean-p target needs."""
    n = pool.n
    th, pr = bp.theory, bp.practical
    fm = bp.forms
    uses = np.zeros(n, dtype=np.int64)
    enemy_of: list[list[int]] = [[] for _ in range(n)]
    for i, g in zip(pool.en_item.tolist(), pool.en_group.tolist()):
        enemy_of[i].append(g)
    set_members: dict[int, list[int]] = {}
    for i in np.flatnonzero(pool.set_idx >= 0).tolist():
        set_members.setdefault(int(pool.set_idx[i]), []).append(i)
    out: list[np.ndarray] = []
    S = len(th.sections) if th else 0
    A = len(pool.areas)
    theory = pool.part == 0
    by_kp: dict[int, np.ndarray] = {}
    by_cell: dict[tuple[int, int], np.ndarray] = {}
    if th is not None:
        ti = np.flatnonzero(theory)
        order = ti[np.lexsort((-weights.mean(axis=0)[ti], pool.kp[ti]))]
        ks = pool.kp[order]
        for k, idx in zip(*np.unique(ks, return_index=True)):
            end = np.searchsorted(ks, k, side="right")
            by_kp[int(k)] = order[idx:end]
        cellkey = pool.sec[ti] * max(A, 1) + pool.area[ti]
        order2 = ti[np.lexsort((-weights.mean(axis=0)[ti], cellkey))]
        ck = pool.sec[order2] * max(A, 1) + pool.area[order2]
        for key, idx in zip(*np.unique(ck, return_index=True)):
            end = np.searchsorted(ck, key, side="right")
            by_cell[(int(key) // max(A, 1), int(key) % max(A, 1))] = order2[idx:end]

    for f in range(K):
        w = weights[f]
        avail = (uses < fm.max_uses) | pool.anchor
        chosen: list[int] = []
        in_form = np.zeros(n, dtype=bool)
        used_groups: set[int] = set()
        kp_count = np.zeros(len(pool.kp_codes), dtype=np.int64)
        state = {"z": 0.0, "yz": 0.0, "psum": 0.0, "k": 0}
        q = np.zeros((S, A), dtype=np.int64)
        if th is not None:
            sup = np.zeros((S, A), dtype=np.int64)
            ti = np.flatnonzero(theory & avail)
            np.add.at(sup, (pool.sec[ti], pool.area[ti]), 1)
            q = _area_quotas(th, pool.areas, sup)
            N = th.n_items
            target = (th.mean_p[0] + th.mean_p[1]) / 2 if th.mean_p else None
            zlim = th.z_max * (N if th.importance_basis == "items" else th.total_points) \
                if th.z_max is not None else np.inf
            yzlim = th.yz_max * (N if th.importance_basis == "items" else th.total_points) \
                if th.yz_max is not None else np.inf
            cap = th.max_per_point if th.max_per_point is not None else 10**9

        def members(i: int) -> list[int]:
            s = int(pool.set_idx[i])
            return set_members[s] if s >= 0 else [i]

        def can_add(i: int, use_quota: bool = True) -> bool:
            mem = members(i)
            need = np.zeros((S, A), dtype=np.int64)
            groups: list[int] = []
            z = yz = 0.0
            for j in mem:
                if in_form[j] or not avail[j]:
                    return False
                if pool.part[j] == 0:
                    need[pool.sec[j], pool.area[j]] += 1
                    if kp_count[pool.kp[j]] + 1 > cap:
                        return False
                    unit = 1.0 if th.importance_basis == "items" else pool.pts[j]  # type: ignore[union-attr]
                    z += unit if pool.imp[j] == 2 else 0.0
                    yz += unit if pool.imp[j] >= 1 else 0.0
                groups.extend(enemy_of[j])
            if len(set(groups)) < len(groups) or used_groups.intersection(groups):
                return False
            if th is not None:
                if use_quota and np.any(need > q):
                    return False
                if state["z"] + z > zlim + 1e-9 or state["yz"] + yz > yzlim + 1e-9:
                    return False
            return True

        def add(i: int) -> None:
            for j in members(i):
                chosen.append(j)
                in_form[j] = True
                used_groups.update(enemy_of[j])
                if pool.part[j] == 0:
                    q[pool.sec[j], pool.area[j]] -= 1
                    kp_count[pool.kp[j]] += 1
                    unit = 1.0 if th.importance_basis == "items" else pool.pts[j]  # type: ignore[union-attr]
                    state["z"] += unit if pool.imp[j] == 2 else 0.0
                    state["yz"] += unit if pool.imp[j] >= 1 else 0.0
                    state["psum"] += pool.p[j]
                    state["k"] += 1

        def steered(idx: np.ndarray) -> np.ndarray:
            if th is None or target is None:
                return w[idx]
            left = max(N - state["k"], 1)
            p_need = np.clip((target * N - state["psum"]) / left, 0.0, 1.0)
            return w[idx] - steer * np.abs(pool.p[idx] - p_need)

        def pick(idx: np.ndarray, limit: int = 64) -> int | None:
            if not len(idx):
                return None
            idx = idx[avail[idx] & ~in_form[idx]]
            ok: list[int] = []
            for i in idx.tolist():
                if can_add(i):
                    ok.append(i)
                    if len(ok) >= limit:
                        break
            if not ok:
                return None
            arr = np.array(ok)
            return int(arr[int(np.argmax(steered(arr)))])

        for i in np.flatnonzero(pool.anchor).tolist():
            if not in_form[i]:
                add(i)
        if th is not None:
            req = [int(k) for k in pool.required]
            req.sort(key=lambda k: len(by_kp.get(k, ())))
            for k in req:
                if kp_count[k] >= th.min_per_x_point:
                    continue
                for _ in range(th.min_per_x_point - int(kp_count[k])):
                    i = pick(by_kp.get(k, np.zeros(0, dtype=np.int64)))
                    if i is None:
                        break
                    add(i)
            while q.sum() > 0:
                progressed = False
                for s in range(S):
                    for a in range(A):
                        if q[s, a] <= 0:
                            continue
                        i = pick(by_cell.get((s, a), np.zeros(0, dtype=np.int64)))
                        if i is None:
                            # move the slot to another area of the section that still has candidates
                            q[s, a] -= 1
                            alt = [b for b in range(A) if b != a and
                                   pick(by_cell.get((s, b), np.zeros(0, dtype=np.int64)), limit=1) is not None]
                            if alt:
                                q[s, alt[0]] += 1
                            progressed = True
                            continue
                        add(i)
                        progressed = True
                if not progressed:
                    break
        if pr is not None:
            chosen_modules: list[int] = []
            gscore: dict[str, list[tuple[float, int]]] = {}
            for mi, m in enumerate(pr.modules):
                cand = np.flatnonzero((pool.mod == mi) & avail & ~in_form)
                top = cand[np.argsort(-w[cand], kind="stable")][: m.tasks]
                if m.compulsory:
                    chosen_modules.append(mi)
                else:
                    gscore.setdefault(m.group, []).append((float(w[top].sum()) if len(top) >= m.tasks else -1e9, mi))
            for g, lst in gscore.items():
                lst.sort(key=lambda t: -t[0])
                chosen_modules.extend(mi for _, mi in lst[: pr.groups.get(g, 0)])
            for mi in chosen_modules:
                m = pr.modules[mi]
                cand = np.flatnonzero((pool.mod == mi) & avail & ~in_form)
                got = 0
                for i in cand[np.argsort(-w[cand], kind="stable")].tolist():
                    if got >= m.tasks:
                        break
                    if can_add(i, use_quota=False):
                        add(i)
                        got += 1
        sel = np.array(sorted(set(chosen)), dtype=np.int64)
        uses[sel] += 1
        out.append(sel)
    return out


# ----------------------------------------------------------------------------------------------
# results
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PaperEntry:
    """One item of a form: item version, part (theory / practical), section (item type, or the
    practical module's area code), 1-based position within the part, and paper points."""

    item_id: str
    version: int
    part: str
    section: str
    position: int
    points: float

    def to_dict(self) -> dict[str, Any]:
        return {"item_id": self.item_id, "version": self.version, "part": self.part, "section": self.section,
                "position": self.position, "points": self.points}


@dataclass(frozen=True)
class PaperForm:
    """Form ``label`` (A, B, ...): its entries, total discrimination D and mean facility p (theory)."""

    label: str
    entries: tuple[PaperEntry, ...]
    objective: float
    mean_p: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "n_items": len(self.entries),
                "points": round(sum(e.points for e in self.entries), 6),
                "objective": round(self.objective, 6),
                "mean_p": round(self.mean_p, 6) if self.mean_p is not None else None,
                "items": [e.to_dict() for e in self.entries]}


@dataclass
class AssemblyResult:
    """What :func:`assemble` returns; ``to_json()`` is the ``paper.json`` contract.

    status : ``optimal`` (HiGHS proved optimality within ``mip_rel_gap``), ``feasible`` (time limit with
        an incumbent; see ``gap``), ``greedy_fallback`` (HiGHS returned no incumbent in time: the steered
        greedy paper, verified by the checker — look at ``check.passed``), ``greedy`` (the baseline),
        ``infeasible`` (``findings`` say why) or ``no_solution``.
    objective : total discrimination sum_f sum_i D_i of the chosen items (unperturbed), or None.
    gap : HiGHS relative MIP gap (None when not solved by HiGHS).
    solve_time_s / total_time_s : seconds in HiGHS / in the whole call.
    """

    status: str
    forms: list[PaperForm]
    check: Any
    findings: list[Any]
    objective: float | None
    gap: float | None
    solve_time_s: float
    total_time_s: float
    seed: int
    blueprint_hash: str
    solver: dict[str, Any]
    model: dict[str, Any]
    message_zh: str
    message_en: str
    selected: list[list[Candidate]] = field(default_factory=list, repr=False)

    @property
    def ok(self) -> bool:
        """True when there is a paper and the independent checker passed every rule."""
        return bool(self.forms) and self.check is not None and self.check.passed

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": PAPER_SCHEMA,
            "status": self.status,
            "ok": self.ok,
            "message": {"zh": self.message_zh, "en": self.message_en},
            "blueprint_hash": self.blueprint_hash,
            "seed": self.seed,
            "solver": dict(self.solver),
            "objective": round(self.objective, 6) if self.objective is not None else None,
            "gap": self.gap,
            "solve_time_s": round(self.solve_time_s, 4),
            "total_time_s": round(self.total_time_s, 4),
            "model": dict(self.model),
            "forms": [f.to_dict() for f in self.forms],
            "check": self.check.to_dict() if self.check is not None else None,
            "findings": [x.to_dict() for x in self.findings],
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=indent, allow_nan=False)


@dataclass
class Explanation:
    """What :func:`explain` returns: ``feasible`` is True/False, or None when the time ran out."""

    feasible: bool | None
    stage: str
    findings: list[Any]
    time_s: float
    message_zh: str
    message_en: str

    def to_dict(self) -> dict[str, Any]:
        return {"feasible": self.feasible, "stage": self.stage, "time_s": round(self.time_s, 4),
                "message": {"zh": self.message_zh, "en": self.message_en},
                "findings": [f.to_dict() for f in self.findings]}


def _layout(pool: _Pool, bp: Blueprint, selection: list[np.ndarray]) -> list[PaperForm]:
    forms = []
    th, pr = bp.theory, bp.practical
    for f, sel in enumerate(selection):
        entries: list[PaperEntry] = []
        pos = 0
        if th is not None:
            for s, sec in enumerate(th.sections):
                idx = [i for i in sel.tolist() if pool.part[i] == 0 and pool.sec[i] == s]
                idx.sort(key=lambda i: (pool.cands[i].area, pool.cands[i].kp if pool.set_idx[i] < 0 else
                                        pool.set_ids[pool.set_idx[i]], pool.set_idx[i], pool.cands[i].item_id))
                for i in idx:
                    pos += 1
                    c = pool.cands[i]
                    entries.append(PaperEntry(c.item_id, c.version, "theory", sec.type, pos, float(sec.points)))
        pos = 0
        if pr is not None:
            for mi, m in enumerate(pr.modules):
                idx = sorted((i for i in sel.tolist() if pool.part[i] == 1 and pool.mod[i] == mi),
                             key=lambda i: pool.cands[i].item_id)
                for i in idx:
                    pos += 1
                    c = pool.cands[i]
                    entries.append(PaperEntry(c.item_id, c.version, "practical", m.area, pos,
                                              round(pr.task_points(m), 6)))
        th_sel = sel[pool.part[sel] == 0]
        mean_p = float(pool.p[th_sel].mean()) if len(th_sel) else None
        forms.append(PaperForm(FORM_LABELS[f], tuple(entries), float(pool.D[sel].sum()), mean_p))
    return forms


def _check(pool: _Pool, bp: Blueprint, selection: list[np.ndarray], station_equipment: Any,
           all_candidates: Sequence[Candidate]) -> Any:
    from .assembly_check import check_forms

    return check_forms([[pool.cands[i] for i in sel.tolist()] for sel in selection], bp,
                       x_points=[pool.kp_codes[k] for k in pool.required.tolist()], pool=all_candidates,
                       station_equipment=station_equipment)


#: HiGHS does not always honour ``time_limit`` on very large models (measured: the exact 50k-item ×
#: 5-form MILP, 250,000 binaries, returned after 615 s for a 9 s limit, inside presolve / the root).
#: Stages with more free binaries than this (or LP stages with more columns than GUARD_LP_COLUMNS) run
#: in a separate process that is killed GUARD_GRACE_S seconds after the limit.
GUARD_FREE_BINARIES = 40_000
GUARD_LP_COLUMNS = 150_000
GUARD_GRACE_S = 1.0


_WORKER_SCRIPT = """
import pickle, sys
from scipy.optimize import Bounds, LinearConstraint, milp
c, integrality, lb, ub, A, rl, ru, options = pickle.load(sys.stdin.buffer)
try:
    cons = [LinearConstraint(A, rl, ru)] if A.shape[0] else []
    res = milp(c, integrality=integrality, bounds=Bounds(lb, ub), constraints=cons, options=options)
    out = {k: res.get(k) for k in ("status", "message", "x", "fun", "mip_gap", "mip_dual_bound", "mip_node_count")}
except Exception as exc:
    out = {"status": 4, "message": "solver process failed: %r" % (exc,), "x": None, "fun": None}
pickle.dump(out, sys.stdout.buffer)
"""


def _milp_guarded(c: np.ndarray, integrality: np.ndarray, lb: np.ndarray, ub: np.ndarray, A: sp.csr_matrix,
                  rl: np.ndarray, ru: np.ndarray, options: dict[str, Any], *, hard_limit: float) -> Any:
    """``milp`` in a child Python process (numpy/scipy only, data over a pipe), killed after
    ``hard_limit`` seconds; a killed solve reads as status 1 (time limit) without x."""
    import pickle
    import subprocess
    import sys
    import tempfile

    from scipy.optimize import OptimizeResult

    payload = pickle.dumps((c, integrality, lb, ub, A, rl, ru, options), protocol=pickle.HIGHEST_PROTOCOL)
    t = time.perf_counter()
    out: dict[str, Any] | None = None
    with tempfile.TemporaryFile() as fout:
        proc = subprocess.Popen([sys.executable, "-c", _WORKER_SCRIPT], stdin=subprocess.PIPE, stdout=fout,
                                stderr=subprocess.DEVNULL)
        try:
            proc.stdin.write(payload)  # type: ignore[union-attr]
            proc.stdin.close()  # type: ignore[union-attr]
            proc.wait(timeout=max(0.1, hard_limit - (time.perf_counter() - t)))
        except (subprocess.TimeoutExpired, BrokenPipeError):
            proc.kill()
            proc.wait()
        else:
            if proc.returncode == 0:
                fout.seek(0)
                try:
                    out = pickle.load(fout)
                except Exception:  # pragma: no cover - a truncated result
                    out = None
    if out is None:
        out = {"status": 1, "message": f"Time limit reached (solver process stopped after {hard_limit:.1f} s)",
               "x": None, "fun": None}
    for k in ("x", "fun", "mip_gap", "mip_dual_bound", "mip_node_count"):
        out.setdefault(k, None)
    return OptimizeResult(out)


@dataclass
class _Solve:
    x: np.ndarray | None
    status: str            # optimal | feasible | infeasible | no_solution
    gap: float | None
    bound: float | None
    fun: float | None
    solve_s: float
    stages: list[dict[str, Any]]
    message: str


def _solve_pipeline(model: _Model, deadline: float, gap: float, *, strategy: str = "lp") -> _Solve:
    """Solve the model by the deadline (``time.perf_counter()`` seconds).

    ``strategy="lp"``: the LP relaxation first (its value bounds the optimum and certifies the gap);
    then RENS — a sub-MILP with every variable the LP set to 0 or 1 fixed there — then wider
    neighbourhoods (every form of the items with fractional LP values; then also the items of their
    knowledge points), and only if none reaches ``gap`` the full MILP with the time left. Measured on the benchmark models the LP is nearly
    integral and HiGHS alone spends most of its time finding a first incumbent (sub-MIP heuristics),
    which this avoids. ``strategy="milp"``: HiGHS on the full model directly.
    """
    t_start = time.perf_counter()
    stages: list[dict[str, Any]] = []
    cons = [LinearConstraint(model.A, model.lb, model.ub)] if model.A.shape[0] else []

    def left() -> float:
        return deadline - time.perf_counter()

    def run(name: str, integrality: np.ndarray, lb: np.ndarray, ub: np.ndarray, limit: float, g: float) -> Any:
        t = time.perf_counter()
        free = lb < ub
        n_free_int = int(np.sum(free & (integrality == 1)))
        guarded = n_free_int > GUARD_FREE_BINARIES or (n_free_int == 0 and int(free.sum()) > GUARD_LP_COLUMNS)
        opts = {"time_limit": max(0.05, float(limit)), "mip_rel_gap": g, "presolve": True, "disp": False}
        if guarded:
            res = _milp_guarded(model.c, integrality, lb, ub, model.A, model.lb, model.ub, opts,
                                hard_limit=max(0.05, float(limit)) + GUARD_GRACE_S)
        else:
            res = milp(model.c, integrality=integrality, bounds=Bounds(lb, ub), constraints=cons, options=opts)
        stages.append({"stage": name, "status": int(res.status), "time_s": round(time.perf_counter() - t, 4),
                       "fun": None if res.fun is None else float(res.fun),
                       "free": int(np.sum(free[: model.n_x])), "guarded": guarded})
        return res

    def rel_gap(fun: float, bound: float) -> float:
        return max(0.0, (fun - bound)) / max(abs(fun), 1e-9)

    best: Any = None
    bound: float | None = None
    if strategy == "lp":
        lp = run("lp", np.zeros_like(model.integrality), model.col_lb, model.col_ub, left(), gap)
        if lp.status == 2:
            return _Solve(None, "infeasible", None, None, None, time.perf_counter() - t_start, stages,
                          "LP relaxation infeasible")
        if lp.x is not None and lp.status == 0:
            bound = float(lp.fun)
            x = lp.x
            xi = x[: model.n_x]
            integral_aux = np.all(np.abs(x[model.n_x:][model.integrality[model.n_x:] == 1] -
                                         np.round(x[model.n_x:][model.integrality[model.n_x:] == 1])) < 1e-6)
            frac = (xi > 1e-6) & (xi < 1 - 1e-6)
            if not frac.any() and integral_aux:
                return _Solve(np.round(x), "optimal", 0.0, bound, float(lp.fun), time.perf_counter() - t_start,
                              stages, "LP relaxation integral")
            ones = xi >= 1 - 1e-6
            zeros = xi <= 1e-6
            # neighbourhoods: RENS, then the knowledge points touched by fractional values
            kp_all = np.tile(np.arange(model.n), model.K)
            frac_items = np.isin(kp_all, np.unique(kp_all[frac]))
            neighbourhoods = [("rens", zeros), ("fractional_items", zeros & ~frac_items)]
            if model.kp_of_item is not None:
                kpw = model.kp_of_item[kp_all]
                touched = np.isin(kpw, np.unique(kpw[frac])) | frac_items
                neighbourhoods.append(("kp_neighbourhood", zeros & ~touched))
            for k, (name, fix0) in enumerate(neighbourhoods):
                if left() <= 0.1:
                    break
                lb = model.col_lb.copy()
                ub = model.col_ub.copy()
                lb[: model.n_x][ones] = 1.0
                ub[: model.n_x][fix0] = 0.0
                share = (0.2, 0.3, 0.5)[k]
                r = run(name, model.integrality, lb, ub, max(0.2, share * left()), gap)
                if r.x is not None and (best is None or r.fun < best.fun - 1e-12):
                    best = r
                if best is not None and rel_gap(best.fun, bound) <= gap:
                    return _Solve(np.round(best.x), "optimal", rel_gap(best.fun, bound), bound, float(best.fun),
                                  time.perf_counter() - t_start, stages, f"{name} within gap of the LP bound")
    if left() > 0.05:
        r = run("milp", model.integrality, model.col_lb, model.col_ub, left(), gap)
        if r.status == 2:
            return _Solve(None, "infeasible", None, bound, None, time.perf_counter() - t_start, stages,
                          "HiGHS: infeasible")
        if r.x is not None and (best is None or r.fun < best.fun - 1e-12):
            best = r
            if r.mip_dual_bound is not None and np.isfinite(r.mip_dual_bound):
                bound = max(bound, float(r.mip_dual_bound)) if bound is not None else float(r.mip_dual_bound)
        if best is not None:
            g = rel_gap(best.fun, bound) if bound is not None else (r.mip_gap if r.mip_gap is not None else None)
            status = "optimal" if (r.status == 0 or (g is not None and g <= gap)) else "feasible"
            return _Solve(np.round(best.x), status, g, bound, float(best.fun), time.perf_counter() - t_start,
                          stages, str(r.message))
        return _Solve(None, "no_solution", None, bound, None, time.perf_counter() - t_start, stages, str(r.message))
    if best is not None:
        g = rel_gap(best.fun, bound) if bound is not None else None
        return _Solve(np.round(best.x), "feasible", g, bound, float(best.fun), time.perf_counter() - t_start,
                      stages, "time limit")
    return _Solve(None, "no_solution", None, bound, None, time.perf_counter() - t_start, stages, "time limit")


def _selection_from_x(x: np.ndarray, model: _Model, kept: np.ndarray) -> list[np.ndarray]:
    X = np.asarray(x[: model.n_x]).reshape(model.K, model.n) > 0.5
    return [kept[np.flatnonzero(X[f])] for f in range(model.K)]


def _check_args(forms: Any, seed: Any, time_limit: Any) -> None:
    if isinstance(forms, bool) or not isinstance(forms, int) or not 1 <= forms <= 26:
        raise ValueError(f"forms must be an int in 1..26, got {forms!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an int ≥ 0, got {seed!r}")
    if isinstance(time_limit, bool) or not isinstance(time_limit, (int, float)) or not time_limit > 0:
        raise ValueError(f"time_limit must be a number of seconds > 0, got {time_limit!r}")


_STATUS_TEXT = {
    "optimal": ("组卷完成（最优解）", "assembled (optimal)"),
    "feasible": ("组卷完成（达到时限，返回当前最好的试卷）", "assembled (time limit reached: best paper found)"),
    "greedy_fallback": ("求解器在时限内未给出可行解，返回贪心算法试卷（已由检查器核验，见检查报告）",
                        "the solver returned no paper within the time limit: greedy paper returned, "
                        "verified by the checker (see the check report)"),
    "greedy": ("贪心基线试卷", "greedy baseline paper"),
    "infeasible": ("无法按组卷方案组卷，原因见 findings", "the blueprint cannot be met: see findings"),
    "no_solution": ("时限内未能组卷", "no paper within the time limit"),
}


def assemble(candidates: Sequence[Candidate], blueprint: Blueprint | Mapping[str, Any], *, forms: int | None = None,
             seed: int = 0, time_limit: float = 10.0, kp_index: Mapping[str, Any] | None = None,
             x_points: Iterable[str] | None = None, station_equipment: Iterable[str] | None = None,
             prune: bool | str = "auto", mip_rel_gap: float | None = None, explain_infeasible: bool = True,
             fallback: bool = True, strategy: str = "lp") -> AssemblyResult:
    """Assemble K parallel forms from the candidates to the blueprint.

    Parameters
    ----------
    candidates : sequence of Candidate
        Eligible item versions (see :func:`candidates_from_items`).
    blueprint : Blueprint or dict
        Parsed or raw blueprint (validated here; BlueprintError on problems).
    forms : int, optional
        Number of forms K in 1..26 (default ``blueprint.forms.count``).
    seed : int
        ≥ 0. Same seed → same paper; different seeds → different (valid) papers.
    time_limit : float
        Seconds (> 0) for the whole call; HiGHS gets what is left after model building. The call
        returns shortly after (HiGHS may overrun inside a very large root LP; pruning keeps it small).
    kp_index : mapping, optional
        kp code → (area, importance, part) of the grade: makes "every X point" include points without
        any eligible item (reported by the supply checks). Without it, X points come from the candidates.
    x_points : iterable of str, optional
        Explicit list of points every form must cover (overrides the blueprint and kp_index).
    station_equipment : iterable of str, optional
        The station's equipment (overrides ``practical.station_equipment``).
    prune : "auto", True or False
        Prune the candidates (heuristic, see :func:`_prune_indices`) — "auto" when K × n > 6000;
        False = the exact model.
    mip_rel_gap : float, optional
        HiGHS relative gap in (0, 1) (default ``blueprint.solver.mip_rel_gap``).
    explain_infeasible : bool
        Run the elastic re-solve when HiGHS proves infeasibility.
    fallback : bool
        Return the steered greedy paper when HiGHS finds none in time (status ``greedy_fallback``).
    strategy : "lp" or "milp"
        "lp" (default): LP relaxation, then RENS / neighbourhood sub-MILPs certified against the LP
        bound, then the full MILP if needed (see :func:`_solve_pipeline`); "milp": HiGHS directly.
    """
    t0 = time.perf_counter()
    bp = parse_blueprint(blueprint)
    K = forms if forms is not None else bp.forms.count
    _check_args(K, seed, time_limit)
    if strategy not in ("lp", "milp"):
        raise ValueError(f"strategy must be 'lp' or 'milp', got {strategy!r}")
    if prune not in ("auto", True, False):
        raise ValueError(f"prune must be 'auto', True or False, got {prune!r}")
    gap = bp.mip_rel_gap if mip_rel_gap is None else float(mip_rel_gap)
    if not 0 < gap < 1:
        raise ValueError(f"mip_rel_gap must be in (0, 1), got {mip_rel_gap!r}")
    deadline = t0 + float(time_limit)
    bhash = blueprint_hash(bp)
    from .infeasibility import Finding, _supply_checks_pool, elastic_findings

    pool = _build_pool(candidates, bp, kp_index=kp_index, x_points=x_points, station_equipment=station_equipment)
    weights = _perturbed_weights(pool, K, int(seed), bp.objective.perturbation)
    stats: dict[str, Any] = {"candidates": len(candidates), "eligible": pool.n, "forms": K,
                             "excluded": _count_reasons(pool.excluded.values())}

    def result(status: str, selection: list[np.ndarray] | None, findings: list[Any], *, gap_v: float | None = None,
               solve_s: float = 0.0, base: _Pool = pool, extra_zh: str = "", extra_en: str = "") -> AssemblyResult:
        zh, en = _STATUS_TEXT[status]
        if selection is not None:
            forms_out = _layout(base, bp, selection)
            chk = _check(base, bp, selection, station_equipment, candidates)
            obj = float(sum(f.objective for f in forms_out))
            sel_c = [[base.cands[i] for i in s.tolist()] for s in selection]
        else:
            forms_out, chk, obj, sel_c = [], None, None, []
        if findings and status == "infeasible":
            zh += "：" + findings[0].message_zh
            en += ": " + findings[0].message_en
        return AssemblyResult(
            status=status, forms=forms_out, check=chk, findings=findings, objective=obj,
            gap=float(gap_v) if gap_v is not None else None, solve_time_s=solve_s,
            total_time_s=time.perf_counter() - t0, seed=int(seed), blueprint_hash=bhash,
            solver=dict(SOLVER_VERSIONS, mip_rel_gap=gap, time_limit=float(time_limit)), model=stats,
            message_zh=zh + extra_zh, message_en=en + extra_en, selected=sel_c)

    findings = _supply_checks_pool(pool, bp, K)
    if findings:
        stats["stage"] = "supply"
        return result("infeasible", None, findings)

    use_prune = prune is True or (prune == "auto" and K * pool.n > PRUNE_THRESHOLD)
    kept = _prune_indices(pool, bp, K, weights) if use_prune else np.arange(pool.n)
    work = pool.take(kept) if use_prune else pool
    model = _build_model(work, bp, K, weights[:, kept])
    stats.update({"pruned": bool(use_prune), "model_candidates": work.n, "binaries": int(model.integrality.sum()),
                  "rows": int(model.A.shape[0]), "build_s": round(time.perf_counter() - t0, 4)})
    reserve = 0.3 + 0.08 * K + 2e-6 * pool.n * K   # model building done; keep time for greedy + check
    sol = _solve_pipeline(model, deadline - reserve, gap, strategy=strategy)
    solve_s = sol.solve_s
    stats["stages"] = sol.stages
    if sol.status == "infeasible" and use_prune and deadline - time.perf_counter() > reserve + 0.5:
        # the pruned set may be what is infeasible: the exact model decides
        model = _build_model(pool, bp, K, weights)
        work, kept = pool, np.arange(pool.n)
        stats.update({"pruned": False, "model_candidates": pool.n, "binaries": int(model.integrality.sum()),
                      "rows": int(model.A.shape[0]), "exact_retry": True})
        sol = _solve_pipeline(model, deadline - reserve, gap, strategy=strategy)
        solve_s += sol.solve_s
        stats["stages"] = stats["stages"] + sol.stages
    stats["lp_bound"] = None if sol.bound is None else -sol.bound
    if sol.x is not None:
        selection = _selection_from_x(sol.x, model, kept)
        stats["model_objective"] = -sol.fun if sol.fun is not None else None
        return result(sol.status, selection, [], gap_v=sol.gap, solve_s=solve_s)
    if sol.status == "infeasible":
        fnd: list[Any] = [Finding("solver", "solver_infeasible", "all",
                                  "HiGHS 证明：各规则合在一起无解" + ("（在剪枝后的候选集上）" if stats.get("pruned") else ""),
                                  "HiGHS proved the rules infeasible together" + (" (on the pruned candidate set)"
                                                                                   if stats.get("pruned") else ""))]
        left = deadline - time.perf_counter() - 0.1
        if explain_infeasible and left > 0.1:
            fnd = elastic_findings(model, bp, time_limit=left) + fnd
        stats["stage"] = "solver"
        return result("infeasible", None, fnd, solve_s=solve_s)
    # no incumbent (time limit) or another solver status
    if fallback:
        wk = weights[:, kept]
        selection = _greedy_select(work, bp, K, wk)
        stats["model_objective"] = float(sum(wk[f, sel].sum() for f, sel in enumerate(selection)))
        return result("greedy_fallback", selection, [], solve_s=solve_s, base=work,
                      extra_zh=f"（HiGHS：{sol.message}）", extra_en=f" (HiGHS: {sol.message})")
    return result("no_solution", None, [], solve_s=solve_s)


def _count_reasons(values: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        key = v.split(":", 1)[0]
        out[key] = out.get(key, 0) + 1
    return out


def greedy_assemble(candidates: Sequence[Candidate], blueprint: Blueprint | Mapping[str, Any], *,
                    forms: int | None = None, seed: int = 0, kp_index: Mapping[str, Any] | None = None,
                    x_points: Iterable[str] | None = None, station_equipment: Iterable[str] | None = None,
                    steer: float = 1.0) -> AssemblyResult:
    """The steered greedy baseline (status ``greedy``): same quotas, X points first, forms one after
    another, each pick steering the running mean p to the window's middle. Rules are not guaranteed:
    ``result.check`` lists the violations."""
    t0 = time.perf_counter()
    bp = parse_blueprint(blueprint)
    K = forms if forms is not None else bp.forms.count
    _check_args(K, seed, 1.0)
    pool = _build_pool(candidates, bp, kp_index=kp_index, x_points=x_points, station_equipment=station_equipment)
    weights = _perturbed_weights(pool, K, int(seed), bp.objective.perturbation)
    ts = time.perf_counter()
    selection = _greedy_select(pool, bp, K, weights, steer=steer)
    solve_s = time.perf_counter() - ts
    forms_out = _layout(pool, bp, selection)
    chk = _check(pool, bp, selection, station_equipment, candidates)
    zh, en = _STATUS_TEXT["greedy"]
    return AssemblyResult(
        status="greedy", forms=forms_out, check=chk, findings=[],
        objective=float(sum(f.objective for f in forms_out)), gap=None, solve_time_s=solve_s,
        total_time_s=time.perf_counter() - t0, seed=int(seed), blueprint_hash=blueprint_hash(bp),
        solver=dict(SOLVER_VERSIONS), model={"candidates": len(candidates), "eligible": pool.n, "forms": K,
                                             "model_objective": float(sum(weights[f, sel].sum()
                                                                          for f, sel in enumerate(selection)))},
        message_zh=zh, message_en=en, selected=[[pool.cands[i] for i in s.tolist()] for s in selection])


def explain(candidates: Sequence[Candidate], blueprint: Blueprint | Mapping[str, Any], *, forms: int | None = None,
            kp_index: Mapping[str, Any] | None = None, x_points: Iterable[str] | None = None,
            station_equipment: Iterable[str] | None = None, time_limit: float = 10.0,
            prune: bool | str = "auto") -> Explanation:
    """Say whether the blueprint can be met by these candidates and, if not, why.

    Runs the O(n) supply checks first (milliseconds; their findings prove infeasibility); when they
    pass, asks HiGHS for any feasible paper (objective ignored) and, if it proves infeasibility, runs
    the elastic LP then a short elastic MILP naming which rules must give way and by how much.
    Arguments are those of :func:`assemble`; ``time_limit`` (s, > 0) bounds the whole call.
    """
    t0 = time.perf_counter()
    bp = parse_blueprint(blueprint)
    K = forms if forms is not None else bp.forms.count
    _check_args(K, 0, time_limit)
    deadline = t0 + float(time_limit)
    from .infeasibility import _supply_checks_pool, elastic_findings

    pool = _build_pool(candidates, bp, kp_index=kp_index, x_points=x_points, station_equipment=station_equipment)
    findings = _supply_checks_pool(pool, bp, K)
    if findings:
        return Explanation(False, "supply", findings, time.perf_counter() - t0,
                           f"供给检查发现 {len(findings)} 个问题，方案无法满足",
                           f"the supply checks found {len(findings)} problem(s): the blueprint cannot be met")
    weights = _perturbed_weights(pool, K, 0, bp.objective.perturbation)
    use_prune = prune is True or (prune == "auto" and K * pool.n > PRUNE_THRESHOLD)
    candidates_sets = [(True, _prune_indices(pool, bp, K, weights))] if use_prune else []
    candidates_sets.append((False, np.arange(pool.n)))
    for pruned, kept in candidates_sets:
        work = pool.take(kept) if pruned else pool
        model = _build_model(work, bp, K, weights[:, kept])
        sol = _solve_pipeline(model, deadline - 0.2, 0.5)
        if sol.x is not None:
            return Explanation(True, "solver", [], time.perf_counter() - t0, "方案可以满足（已找到可行试卷）",
                               "the blueprint can be met (a feasible paper exists)")
        if sol.status != "infeasible":
            return Explanation(None, "timeout", [], time.perf_counter() - t0,
                               "时限内未能判定方案是否可行，请延长时限",
                               "could not decide feasibility within the time limit; allow more time")
        if not pruned:
            left = deadline - time.perf_counter() - 0.1
            fnd = elastic_findings(model, bp, time_limit=max(left, 0.1))
            return Explanation(False, "elastic", fnd, time.perf_counter() - t0,
                               "各规则单独都可满足，但合在一起无解；见需让步的规则",
                               "each rule alone can be met but not all together: see the rules that must give way")
    raise RuntimeError("explain: no model was solved")  # pragma: no cover - the exact model always runs

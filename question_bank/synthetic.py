"""Synthetic banks for tests and benchmarks (the generator of the assembly notes, §4).

A bank has level-1 areas with theory weights (default 6 areas, 5/20/25/25/15/10 %), ``2 × weight``
knowledge points per area in 3-level codes ``C-B-007`` (area, unit of ten points, point), importance
X/Y/Z drawn 75/20/5 %, items typed 60 % 单选 / 15 % 多选 / 25 % 判断, facility p ~ Beta(7, 3)
(多选 −0.12, 判断 +0.05, clipped to [0.05, 0.98]), discrimination D peaking at p = 0.5
(D = 0.6 · 4p(1 − p) − 0.05 + N(0, 0.07), clipped to [−0.3, 0.9]), at least ``min_per_point`` items per
point, and 4 % of items in enemy pairs/triples inside a point. Optional item sets (case questions) and
practical modules with tasks and equipment. Everything is drawn from ``numpy.random.default_rng(seed)``.

:func:`synthetic_bank` returns the candidates (all eligible), the kp index, a taxonomy dict in the
docs/items.md format, and :meth:`SyntheticBank.item_dicts` gives item dicts (plus 10 % recently used
items, for the eligibility screen). :func:`synthetic_blueprint` gives the notes' benchmark blueprint
(单选 120 × 0.5 + 多选 20 × 1 + 判断 40 × 0.5 = 100 points) or a smaller one for tests.
"""

from __future__ import annotations

import math
import string
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from .assembly import Candidate
from .blueprint import KpInfo

DEFAULT_WEIGHTS: dict[str, float] = {"A": 5, "B": 20, "C": 25, "D": 25, "E": 15, "F": 10}
DEFAULT_TYPE_SHARES: dict[str, float] = {"single_choice": 0.60, "multiple_choice": 0.15, "true_false": 0.25}
TYPE_P_SHIFT = {"single_choice": 0.0, "multiple_choice": -0.12, "true_false": 0.05}


@dataclass
class SyntheticBank:
    """A generated bank: ``candidates`` (eligible), ``kp_index`` (code → KpInfo), ``taxonomy`` dict,
    ``weights`` (theory area → percent) and ``recent_ids`` (ids of the extra recently used items that
    :meth:`item_dicts` adds)."""

    candidates: list[Candidate]
    kp_index: dict[str, KpInfo]
    taxonomy: dict[str, Any]
    weights: dict[str, float]
    recent_ids: list[str] = field(default_factory=list)
    _recent: list[Candidate] = field(default_factory=list, repr=False)

    def item_dicts(self, grade: int = 4) -> list[dict[str, Any]]:
        """Item dicts (docs/items.md) of every candidate plus the recently used extras (status approved)."""
        out = []
        for c in list(self.candidates) + list(self._recent):
            d: dict[str, Any] = {
                "id": c.item_id, "version": c.version, "type": c.type, "occupation": "0-00-00-00",
                "grades": [grade], "kp": c.kp, "points": c.points, "difficulty": c.p, "discrimination": c.disc,
                "source": "synthetic", "status": "approved", "stem": f"synthetic item {c.item_id}", "images": [],
            }
            if c.enemy_groups:
                d["enemy_groups"] = list(c.enemy_groups)
            if c.item_set:
                d["item_set"] = c.item_set
            if c.type == "practical_task":
                d["time_limit_min"] = int((c.seconds or 1800) // 60)
                d["equipment"] = sorted(c.equipment)
            out.append(d)
        return out


def synthetic_bank(n_items: int, *, seed: int = 0, weights: Mapping[str, float] | None = None,
                   points_per_weight: float = 2.0, min_per_point: int = 8,
                   type_shares: Mapping[str, float] | None = None, xyz: Sequence[float] = (0.75, 0.20, 0.05),
                   enemy_share: float = 0.04, set_share: float = 0.0, recent_share: float = 0.10,
                   practical: Mapping[str, float] | None = None, tasks_per_module: int = 6,
                   equipment: Sequence[str] = ("车床", "铣床", "千分尺", "游标卡尺", "钻床")) -> SyntheticBank:
    """Generate a bank of ``n_items`` eligible theory items (plus optional practical tasks).

    Parameters
    ----------
    n_items : int
        Eligible theory items, ≥ ``min_per_point`` × number of points.
    seed : int
        Seed of ``numpy.random.default_rng``.
    weights : mapping area → percent
        Theory weight table (default 5/20/25/25/15/10 over A–F).
    points_per_weight : float
        Knowledge points per percent of weight (default 2 → 200 points).
    min_per_point : int
        Items per point at least (≥ 1).
    type_shares : mapping type → share
        Item type mix (default 60/15/25 % 单选/多选/判断).
    xyz : (float, float, float)
        Probabilities of X, Y, Z for a point.
    enemy_share, set_share : float in [0, 1)
        Share of items placed in enemy groups (pairs/triples within a point) and in item sets of 3
        单选 within a point.
    recent_share : float in [0, 1)
        Extra items, this share of ``n_items``, marked recently used (only in :meth:`item_dicts`).
    practical : mapping area → percent, optional
        Practical weight table (e.g. ``{"P": 30, "Q": 30, "R": 20, "S": 20}``): adds ``tasks_per_module``
        tasks per module, each needing 1–2 tools of ``equipment`` and taking 30–90 min.
    """
    if isinstance(n_items, bool) or not isinstance(n_items, int) or n_items < 1:
        raise ValueError(f"n_items must be an int ≥ 1, got {n_items!r}")
    if min_per_point < 1:
        raise ValueError(f"min_per_point must be ≥ 1, got {min_per_point}")
    for name, v in (("enemy_share", enemy_share), ("set_share", set_share), ("recent_share", recent_share)):
        if not 0.0 <= v < 1.0:
            raise ValueError(f"{name} must be in [0, 1), got {v}")
    if len(xyz) != 3 or abs(sum(xyz) - 1.0) > 1e-9 or min(xyz) < 0:
        raise ValueError(f"xyz must be three probabilities summing to 1, got {xyz!r}")
    rng = np.random.default_rng(seed)
    weights = dict(weights or DEFAULT_WEIGHTS)
    shares = dict(type_shares or DEFAULT_TYPE_SHARES)
    types = list(shares)
    tp = np.array([shares[t] for t in types], dtype=float)
    tp /= tp.sum()

    # knowledge points
    codes: list[str] = []
    kp_index: dict[str, KpInfo] = {}
    tree: list[dict[str, Any]] = []
    for area, w in weights.items():
        n_pts = max(1, int(round(points_per_weight * w)))
        n_units = max(1, math.ceil(n_pts / 10))
        units = []
        k = 0
        for u in range(n_units):
            ucode = f"{area}-{string.ascii_uppercase[u % 26]}"
            pts = []
            for _ in range(min(10, n_pts - k)):
                k += 1
                code = f"{ucode}-{k:03d}"
                imp = str(rng.choice(["X", "Y", "Z"], p=list(xyz)))
                kp_index[code] = KpInfo(area, imp, "theory")
                codes.append(code)
                pts.append({"code": code, "name": f"鉴定点 {code}", "importance": imp, "grades": [4]})
            units.append({"code": ucode, "name": f"鉴定内容 {ucode}", "points": pts})
        tree.append({"code": area, "name": f"鉴定范围 {area}", "part": "theory", "units": units})
    n_pts = len(codes)
    if n_items < min_per_point * n_pts:
        raise ValueError(f"n_items = {n_items} is below min_per_point × points = {min_per_point * n_pts}")

    def make_items(n: int, prefix: str, start: int) -> list[Candidate]:
        per_point = np.full(n_pts, 0, dtype=np.int64)
        if prefix == "Q":
            per_point += min_per_point
            rest = n - per_point.sum()
        else:
            rest = n
        per_point += rng.multinomial(rest, np.full(n_pts, 1.0 / n_pts))
        kp_of = np.repeat(np.arange(n_pts), per_point)
        t_of = rng.choice(len(types), size=n, p=tp)
        p = rng.beta(7, 3, size=n) + np.array([TYPE_P_SHIFT.get(types[t], 0.0) for t in t_of])
        p = np.clip(p, 0.05, 0.98)
        d = np.clip(0.6 * 4 * p * (1 - p) - 0.05 + rng.normal(0, 0.07, size=n), -0.3, 0.9)
        enemy: list[tuple[str, ...]] = [() for _ in range(n)]
        item_set: list[str | None] = [None] * n
        if enemy_share > 0 and prefix == "Q":
            target = int(round(enemy_share * n))
            placed = 0
            order = rng.permutation(n_pts)
            starts = np.r_[0, np.cumsum(per_point)]
            g = 0
            for kk in order:
                if placed >= target:
                    break
                size = int(rng.choice([2, 3]))
                members = np.arange(starts[kk], starts[kk + 1])
                if len(members) < size + 2:
                    continue
                pick = rng.choice(members, size=size, replace=False)
                for i in pick:
                    enemy[i] = (f"EN{g:04d}",)
                g += 1
                placed += size
        if set_share > 0 and prefix == "Q":
            target = int(round(set_share * n))
            placed = 0
            starts = np.r_[0, np.cumsum(per_point)]
            s = 0
            for kk in rng.permutation(n_pts):
                if placed >= target:
                    break
                members = [i for i in range(starts[kk], starts[kk + 1])
                           if types[t_of[i]] == "single_choice" and not enemy[i]]
                if len(members) < 6:
                    continue
                for i in members[:3]:
                    item_set[i] = f"SET{s:03d}"
                s += 1
                placed += 3
        out = []
        for i in range(n):
            code = codes[kp_of[i]]
            info = kp_index[code]
            t = types[t_of[i]]
            out.append(Candidate(
                item_id=f"{prefix}{start + i:06d}", version=1, type=t,
                points=1.0 if t == "multiple_choice" else 0.5, kp=code, area=info.area,
                importance=info.importance, p=round(float(p[i]), 3), disc=round(float(d[i]), 3),
                enemy_groups=enemy[i], item_set=item_set[i]))
        return out

    cands = make_items(n_items, "Q", 0)
    recent = make_items(int(round(recent_share * n_items)), "R", 0) if recent_share > 0 else []

    pweights: dict[str, float] = {}
    if practical:
        pweights = dict(practical)
        k = 0
        for area, w in pweights.items():
            code = f"{area}-A-001"
            kp_index[code] = KpInfo(area, "X", "practical")
            tree.append({"code": area, "name": f"操作技能 {area}", "part": "practical",
                         "units": [{"code": f"{area}-A", "name": f"模块 {area}",
                                    "points": [{"code": code, "name": f"操作 {area}", "importance": "X",
                                                "grades": [4]}]}]})
            for _ in range(tasks_per_module):
                eq = frozenset(str(e) for e in rng.choice(list(equipment), size=int(rng.integers(1, 3)), replace=False))
                p = float(np.clip(rng.beta(6, 3), 0.05, 0.98))
                cands.append(Candidate(
                    item_id=f"T{k:05d}", version=1, type="practical_task", points=100.0, kp=code, area=area,
                    importance="X", p=round(p, 3), disc=round(float(np.clip(rng.normal(0.4, 0.1), -0.3, 0.9)), 3),
                    seconds=float(rng.choice([30, 45, 60, 90]) * 60), equipment=eq))
                k += 1
    taxonomy = {
        "occupation": {"code": "0-00-00-00", "name": "合成职业", "work_type": "synthetic"},
        "grades": [4],
        "weights": {"theory": {4: dict(weights)}, **({"practical": {4: pweights}} if pweights else {})},
        "tree": tree,
    }
    return SyntheticBank(cands, kp_index, taxonomy, weights, [c.item_id for c in recent], recent)


def synthetic_blueprint(*, sections: Sequence[tuple[str, int, float]] = (
        ("single_choice", 120, 0.5), ("multiple_choice", 20, 1.0), ("true_false", 40, 0.5)),
        weights: Mapping[str, float] | None = None, tolerance: float = 1.0,
        mean_p: tuple[float, float] | None = (0.63, 0.69), max_per_point: int | None = 2,
        z_max: float | None = 0.05, yz_max: float | None = 0.20, duration_min: float = 120,
        forms: int = 1, mean_p_spread: float | None = 0.02, objective_spread: float | None = 0.02,
        mip_rel_gap: float = 1e-3, practical: Mapping[str, float] | None = None,
        practical_duration_min: float = 300, **extra: Any) -> dict[str, Any]:
    """The assembly notes' benchmark blueprint as a dict (or a smaller one via ``sections``)."""
    weights = dict(weights or DEFAULT_WEIGHTS)
    total = sum(c * p for _, c, p in sections)
    bp: dict[str, Any] = {
        "schema": "examsys.blueprint/1", "occupation": "0-00-00-00", "grade": 4, "name": "synthetic",
        "theory": {
            "total_points": total, "duration_min": duration_min,
            "sections": [{"type": t, "count": c, "points": p} for t, c, p in sections],
            "areas": {"weights": weights, "tolerance": tolerance},
            "coverage": {"x_points": "all", "min_per_x_point": 1, "max_per_point": max_per_point},
            "importance": {"z_max": z_max, "yz_max": yz_max, "basis": "items"},
            "difficulty": {"mean_p": list(mean_p) if mean_p else None},
        },
        "forms": {"count": forms, "max_uses": 1, "mean_p_spread": mean_p_spread,
                  "objective_spread": objective_spread},
        "solver": {"mip_rel_gap": mip_rel_gap},
    }
    if practical:
        bp["practical"] = {"total_points": 100, "duration_min": practical_duration_min,
                           "modules": [{"area": a, "weight": w, "tasks": 1} for a, w in practical.items()]}
    for k, v in extra.items():
        bp[k] = v
    return bp

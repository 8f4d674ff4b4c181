"""Marking a whole sitting at once, and scoring examiners' sheets.

**Auto-marking, vectorised** (:func:`mark_sitting`). ``N`` attempts × ``J`` items of one paper form:

* choice items (single and multiple choice) — every response becomes a bitmask of chosen letters
  (A = bit 0 … Z = bit 25); a response that :func:`question_bank.item_types._choice.clean_letters` cannot
  read as letters sets the ``INVALID`` bit (never in a key), and a single-choice response with more than one
  letter sets the ``SEVERAL`` flag. The key is a bitmask too, and the whole ``N × J_choice`` block is marked
  with array operations:

  - single choice: ``code == key``;
  - multiple choice, ``all_or_nothing``: ``code == key``;
  - multiple choice, ``partial``: full points for ``code == key``; ``partial_fraction × points`` when
    ``code != 0`` and ``code & ~key == 0`` (a proper, non-empty subset of the key with no wrong option —
    少选得部分分); else 0.

* true/false — ``True`` → 1, ``False`` → 2 after :func:`question_bank.item_types.true_false.parse_bool`,
  compared with the key.
* fill blank — the one-response marker (:func:`question_bank.marking.mark_response`) with two caches per
  item: raw response → normalised text, normalised text → score, so each distinct normalised answer is
  marked once.
* short answer, calculation, essay, practical task — not auto-marked: ``NaN`` in the score matrix.

Encoding goes through one dictionary per kind (distinct raw responses are few), so the Python work is one
dictionary lookup per cell; the marking itself is numpy. The result equals
:func:`question_bank.marking.mark_response` cell by cell (tested on random responses).

**Examiners' sheets** (:func:`score_constructed`, :func:`score_practical`): validate what an examiner
entered against the item and return the score with a plain breakdown (an explainable mark):

* constructed response (short answer, calculation, essay): one score per marking point, each in
  ``[0, point]`` and a multiple of ``score_step`` — or a single total in ``[0, points]`` on the step;
* practical task (评分记录表): per criterion a deduction (``mode="deduction"``: ``0 ≤ d ≤ points``, multiple
  of :data:`DEDUCTION_STEP`; score ``points − d``) or a level (``mode="level"``: A–E = 1.0/0.8/0.6/0.2/0 of
  the points, :data:`LEVELS`); any checked veto item (否决项) makes the task score 0.

Bad entries raise :class:`SheetError` carrying every problem as ``(field, code, params)``.
Pure library: numpy and question_bank only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from question_bank import item_types
from question_bank.item_types._choice import clean_letters
from question_bank.item_types.base import check_rule
from question_bank.item_types.true_false import parse_bool

__all__ = ["mark_sitting", "SittingMarks", "encode_choice", "key_mask", "AUTO_TYPES", "INVALID", "SEVERAL",
           "LEVELS", "DEDUCTION_STEP", "SheetError", "score_constructed", "score_practical", "is_on_step",
           "effective_item"]

#: Bit set for a response containing something other than option letters (never part of a key).
INVALID = 1 << 30
#: Flag set when a response holds more than one letter (wrong for single choice, ignored for multiple).
SEVERAL = 1 << 29
_LETTER_BITS = (1 << 26) - 1

AUTO_TYPES = ("single_choice", "multiple_choice", "true_false", "fill_blank")
_CHOICE = ("single_choice", "multiple_choice")

#: Level scoring of a practical-task criterion: fraction of the criterion's points per level.
LEVELS = {"A": 1.0, "B": 0.8, "C": 0.6, "D": 0.2, "E": 0.0}
#: Deductions on a practical scoring sheet are multiples of this (half points).
DEDUCTION_STEP = 0.5
_EPS = 1e-9


# ---------------------------------------------------------------------------------------------------
# encoding
# ---------------------------------------------------------------------------------------------------
def encode_choice(value: Any) -> int:
    """Bitmask of a choice response (see the module docstring); 0 for no answer.

    ``"AC"`` → ``0b101``; ``["c", "a"]`` → ``0b101``; ``"A1"`` → ``0b1 | INVALID``; ``"BB"`` → ``0b10 | SEVERAL``.
    """
    letters = clean_letters(value)
    if not letters:
        return 0
    mask = SEVERAL if len(letters) > 1 else 0
    for c in letters:
        i = ord(c) - 65
        mask |= (1 << i) if 0 <= i < 26 else INVALID
    return mask


def key_mask(key: str) -> int:
    """Bitmask of a choice key (``"ACD"`` → ``0b1101``)."""
    mask = 0
    for c in str(key):
        i = ord(c) - 65
        if not 0 <= i < 26:
            raise ValueError(f"a choice key holds letters A–Z only, got {key!r}")
        mask |= 1 << i
    return mask


def _tf_code(value: Any) -> int:
    b = parse_bool(value)
    return 0 if b is None else (1 if b else 2)


class _Codes(dict):
    """``raw response -> code`` filled on first sight (``__missing__``)."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def __missing__(self, key):
        v = self.fn(key)
        self[key] = v
        return v


def _encode(cells: Sequence[Any], fn, cache: _Codes) -> np.ndarray:
    """Codes of ``cells`` (a flat sequence). Strings go through the cache, booleans through their own
    two-entry table (``True`` and ``1`` must not share a cache entry); ``None`` is 0; anything else (numbers,
    lists) is encoded directly."""
    bools = {True: fn(True), False: fn(False)}

    def code(v):
        c = v.__class__
        if c is str:
            return cache[v]
        if v is None:
            return 0
        if c is bool:
            return bools[v]
        return fn(v)

    return np.fromiter(map(code, cells), dtype=np.int64, count=len(cells))


# ---------------------------------------------------------------------------------------------------
# marking a sitting
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SittingMarks:
    """Result of :func:`mark_sitting`.

    Attributes
    ----------
    scores : ndarray (N, J) float64
        Points per attempt and item; ``NaN`` for items that are not auto-marked.
    answered : ndarray (N, J) bool
        The attempt gave a (non-empty) response to the item.
    auto : ndarray (J,) bool
        The item is auto-marked.
    totals : ndarray (N,) float64
        Sum of the auto-marked scores per attempt.
    max_auto : float
        Sum of the points of the auto-marked items.
    """

    scores: np.ndarray
    answered: np.ndarray
    auto: np.ndarray
    totals: np.ndarray
    max_auto: float
    rule: str = "all_or_nothing"
    partial_fraction: float = 0.5
    notes: tuple[str, ...] = field(default_factory=tuple)


def _as_matrix(responses: Any, n_items: int) -> np.ndarray:
    if isinstance(responses, np.ndarray) and responses.dtype == object and responses.ndim == 2:
        mat = responses
    else:
        rows = list(responses)
        mat = np.empty((len(rows), n_items), dtype=object)
        for i, r in enumerate(rows):
            r = list(r)
            if len(r) != n_items:
                raise ValueError(f"response row {i} has {len(r)} cells; the form has {n_items} items")
            for k, v in enumerate(r):
                mat[i, k] = v
    if mat.ndim != 2 or mat.shape[1] != n_items:
        raise ValueError(f"responses must be an N × {n_items} matrix, got shape {mat.shape}")
    return mat


def mark_sitting(items: Sequence[Mapping[str, Any]], responses: Any, *, rule: str = "all_or_nothing",
                 partial_fraction: float = 0.5) -> SittingMarks:
    """Mark ``N`` attempts × ``J`` items of one form in one go.

    Parameters
    ----------
    items : sequence of item dicts (J)
        At least ``type`` and ``points`` (the points in this paper) plus the type's key fields
        (``key`` for choice and true/false; ``answers``/``tolerance``/``unit`` for fill blank).
    responses : (N, J) object array or N sequences of J raw responses
        What the attempts answered, in the item's original label space (``"B"``, ``"AC"``, ``True``,
        text); ``None`` = no answer.
    rule : {"all_or_nothing", "partial"}
        The paper's multiple-choice rule; ``partial_fraction`` is the share of the points for a proper
        subset of the key (default 0.5).

    Returns
    -------
    SittingMarks
    """
    check_rule(rule, partial_fraction)
    items = list(items)
    j_n = len(items)
    mat = _as_matrix(responses, j_n)
    n = mat.shape[0]
    scores = np.full((n, j_n), np.nan, dtype=np.float64)
    answered = np.zeros((n, j_n), dtype=bool)
    auto = np.zeros(j_n, dtype=bool)
    points = np.array([float(it["points"]) for it in items], dtype=np.float64)
    types = [str(it["type"]) for it in items]
    for j, t in enumerate(types):
        item_types.get(t)  # unknown type -> ValueError
        if not math.isfinite(points[j]) or points[j] < 0:
            raise ValueError(f"item {j}: points must be a finite number >= 0")

    # -- choice items: one block -----------------------------------------------------------------
    ch = [j for j, t in enumerate(types) if t in _CHOICE]
    if ch and n:
        block = mat[:, ch]
        codes = _encode(block.ravel().tolist(), encode_choice, _Codes(encode_choice)).reshape(n, len(ch))
        keys = np.array([key_mask(items[j]["key"]) for j in ch], dtype=np.int64)
        single = np.array([types[j] == "single_choice" for j in ch], dtype=bool)
        pts = points[ch]
        letters_only = np.where(single[None, :], codes, codes & ~np.int64(SEVERAL))
        full = letters_only == keys[None, :]
        sc = np.where(full, pts[None, :], 0.0)
        if rule == "partial":
            multi = ~single
            part = (multi[None, :] & (letters_only != 0) & ((letters_only & ~keys[None, :]) == 0) & ~full)
            sc = np.where(part, pts[None, :] * float(partial_fraction), sc)
        scores[:, ch] = sc
        answered[:, ch] = codes != 0
    auto[ch] = True

    # -- true/false ------------------------------------------------------------------------------
    tf = [j for j, t in enumerate(types) if t == "true_false"]
    if tf and n:
        block = mat[:, tf]
        codes = _encode(block.ravel().tolist(), _tf_code, _Codes(_tf_code)).reshape(n, len(tf))
        keys = np.array([1 if parse_bool(items[j]["key"]) else 2 for j in tf], dtype=np.int64)
        scores[:, tf] = np.where(codes == keys[None, :], points[tf][None, :], 0.0)
        answered[:, tf] = codes != 0
    auto[tf] = True

    # -- fill blank: the one-response marker, cached per distinct normalised answer ---------------
    spec = item_types.get("fill_blank")
    for j in (j for j, t in enumerate(types) if t == "fill_blank"):
        content = dict(items[j])
        pts_j = float(points[j])
        by_norm: dict[str, float] = {}

        def norm(v, _c=content):
            return spec.normalise_response(_c, v)

        def score_of(v, _c=content, _p=pts_j, _cache=by_norm):
            r = norm(v)
            if r is None:
                return (0.0, False)
            s = _cache.get(r)
            if s is None:
                s = spec.mark(_c, r, _p, rule=rule, partial_fraction=partial_fraction)
                _cache[r] = s
            return (s, True)

        raw_cache = _Codes(score_of)
        col = mat[:, j].tolist()
        pairs = [raw_cache[v] if v.__class__ is str else score_of(v) for v in col]
        if pairs:
            scores[:, j] = np.fromiter((p[0] for p in pairs), dtype=np.float64, count=n)
            answered[:, j] = np.fromiter((p[1] for p in pairs), dtype=bool, count=n)
        auto[j] = True

    # -- examiner-marked types: answered = a non-blank text ---------------------------------------
    for j in np.flatnonzero(~auto):
        col = mat[:, j].tolist()
        answered[:, j] = np.fromiter(((v is not None and (not isinstance(v, str) or bool(v.strip())))
                                      for v in col), dtype=bool, count=n)

    totals = np.nansum(np.where(auto[None, :], scores, 0.0), axis=1) if n else np.zeros(0)
    return SittingMarks(scores=scores, answered=answered, auto=auto, totals=totals,
                        max_auto=float(points[auto].sum()), rule=rule, partial_fraction=float(partial_fraction))


def effective_item(item: Mapping[str, Any], correction: Mapping[str, Any] | None) -> dict[str, Any]:
    """``item`` with a key correction applied (the correction's fields replace the item's): ``{"key":
    "B"}``, ``{"key": False}``, ``{"answers": [...], "tolerance": ..., "unit": ...}``."""
    out = dict(item)
    if correction:
        out.update(correction)
    return out


# ---------------------------------------------------------------------------------------------------
# examiners' sheets
# ---------------------------------------------------------------------------------------------------
class SheetError(ValueError):
    """What an examiner entered does not fit the item; ``problems`` = ``[(field, code, params), ...]``.

    Codes: ``required``, ``not_a_number``, ``negative``, ``above_maximum``, ``off_step``, ``bad_level``,
    ``bad_veto``, ``wrong_count``.
    """

    def __init__(self, problems: list[tuple[str, str, dict]]):
        self.problems = problems
        super().__init__("; ".join(f"{f}: {c} {p}" for f, c, p in problems))


def is_on_step(value: float, step: float) -> bool:
    """``value`` is an integer multiple of ``step`` (up to 1e-9 relative slack)."""
    q = value / step
    return abs(q - round(q)) <= _EPS * max(1.0, abs(q))


def _number(value: Any, field_name: str, problems: list) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        problems.append((field_name, "required", {}))
        return None
    if isinstance(value, bool):
        problems.append((field_name, "not_a_number", {"value": str(value)}))
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        problems.append((field_name, "not_a_number", {"value": str(value)[:40]}))
        return None
    if not math.isfinite(v):
        problems.append((field_name, "not_a_number", {"value": str(value)[:40]}))
        return None
    return v


def _in_range(v: float, hi: float, step: float, field_name: str, problems: list) -> bool:
    if v < 0:
        problems.append((field_name, "negative", {"value": v}))
        return False
    if v > hi + _EPS * max(1.0, hi):
        problems.append((field_name, "above_maximum", {"value": v, "max": hi}))
        return False
    if not is_on_step(v, step):
        problems.append((field_name, "off_step", {"value": v, "step": step}))
        return False
    return True


def score_constructed(content: Mapping[str, Any], points: float, *, point_scores: Sequence[Any] | None = None,
                      total: Any = None) -> dict[str, Any]:
    """Score an examiner's mark of a short answer / calculation / essay.

    ``point_scores``: one score per marking point (each in ``[0, point]`` on ``score_step``); or ``total``:
    one score in ``[0, points]`` on ``score_step``. ``points`` is the item's points in the paper; when it
    differs from the item's own points, marking-point maxima are scaled by ``points / Σ point maxima``.
    Returns ``{"score", "point_scores" (or None), "step"}``; raises :class:`SheetError`.
    """
    step = float(content.get("score_step") or 0.5)
    problems: list[tuple[str, str, dict]] = []
    mps = list(content.get("marking_points") or [])
    if point_scores is not None:
        if len(point_scores) != len(mps):
            raise SheetError([("point_scores", "wrong_count", {"expected": len(mps), "count": len(point_scores)})])
        native = sum(float(m["points"]) for m in mps) or float(points)
        scale = float(points) / native
        values = []
        for i, (raw, mp) in enumerate(zip(point_scores, mps)):
            f = f"point_scores[{i}]"
            v = _number(raw, f, problems)
            if v is not None and _in_range(v, float(mp["points"]) * scale, step, f, problems):
                values.append(v)
        if problems:
            raise SheetError(problems)
        score = float(sum(values))
        if score > float(points) + _EPS:
            raise SheetError([("point_scores", "above_maximum", {"value": score, "max": float(points)})])
        return {"score": score, "point_scores": values, "step": step}
    v = _number(total, "score", problems)
    if v is not None:
        _in_range(v, float(points), step, "score", problems)
    if problems:
        raise SheetError(problems)
    return {"score": float(v), "point_scores": None, "step": step}


def score_practical(content: Mapping[str, Any], points: float, entries: Sequence[Mapping[str, Any]],
                    veto: Sequence[Any] = ()) -> dict[str, Any]:
    """Score a practical task's 评分记录表.

    ``entries``: one mapping per criterion, in rubric order: ``{"deduction": x}`` for ``mode="deduction"``
    criteria, ``{"level": "A".."E"}`` for ``mode="level"`` criteria. ``veto``: indexes (0-based) of the
    task's veto items (否决项) that occurred. ``points``: the task's points in the paper; when it differs
    from the rubric's total, criterion scores are scaled by ``points / Σ criterion points``.

    Returns ``{"criteria": [{"mode", "points", "deduction"|"level", "score"}], "subtotal", "veto": [indexes],
    "vetoed": bool, "score"}``; the score is 0 when a veto item occurred. Raises :class:`SheetError`.
    """
    criteria = list(content.get("criteria") or [])
    veto_items = list(content.get("veto") or [])
    problems: list[tuple[str, str, dict]] = []
    if len(entries) != len(criteria):
        raise SheetError([("criteria", "wrong_count", {"expected": len(criteria), "count": len(entries)})])
    out = []
    for i, (c, e) in enumerate(zip(criteria, entries)):
        cp = float(c["points"])
        if c.get("mode") == "level":
            f = f"criteria[{i}].level"
            lv = e.get("level") if isinstance(e, Mapping) else None
            lv = lv.strip().upper() if isinstance(lv, str) else lv
            if lv in (None, ""):
                problems.append((f, "required", {}))
            elif lv not in LEVELS:
                problems.append((f, "bad_level", {"value": str(lv)[:10]}))
            else:
                out.append({"mode": "level", "points": cp, "level": lv, "score": round(LEVELS[lv] * cp, 6)})
        else:
            f = f"criteria[{i}].deduction"
            raw = e.get("deduction") if isinstance(e, Mapping) else None
            if raw is None or (isinstance(raw, str) and not raw.strip()):
                raw = 0  # an empty deduction box = nothing deducted
            d = _number(raw, f, problems)
            if d is not None and _in_range(d, cp, DEDUCTION_STEP, f, problems):
                out.append({"mode": "deduction", "points": cp, "deduction": d, "score": cp - d})
    vetoed = []
    for v in veto:
        try:
            k = int(v)
        except (TypeError, ValueError):
            problems.append(("veto", "bad_veto", {"value": str(v)[:20]}))
            continue
        if isinstance(v, bool) or not 0 <= k < len(veto_items):
            problems.append(("veto", "bad_veto", {"value": str(v)[:20]}))
        elif k not in vetoed:
            vetoed.append(k)
    if problems:
        raise SheetError(problems)
    native = sum(float(c["points"]) for c in criteria) or float(points)
    scale = float(points) / native
    subtotal = float(sum(c["score"] for c in out)) * scale
    score = 0.0 if vetoed else subtotal
    return {"criteria": out, "subtotal": round(subtotal, 6), "veto": sorted(vetoed), "vetoed": bool(vetoed),
            "score": round(score, 6)}

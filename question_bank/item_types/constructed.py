"""Constructed-response types marked by examiners: short answer (简答), calculation (计算), essay (论述).

``reference_answer``: the model answer; ``marking_points``: ``[{"text", "points"}]`` summing to the item's
points, each a multiple of ``score_step`` (default 0.5), which must also divide the item's points.
None of these reach a candidate. ``mark`` returns ``None`` (not auto-markable).

Spreadsheet: the ``key`` column holds the reference answer; the ``marking_points`` column holds one
marking point per line, each ending with its points in brackets: ``写出切削用量三要素（3分）``
(half-width ``(3分)``, ``(3)``, ``[3分]`` and ``【3分】`` are read too). A point's text may span several
lines: lines are collected until one ends with the points.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from question_bank.items import ItemType
from question_bank.messages import Problem, make_problem
from question_bank.normalize import parse_number

from .base import REQUIRED, ItemTypeSpec, check_number, check_rule, check_text, fmt_number

_EPS = 1e-9
_POINTS_AT_END = re.compile(r"^(.*?)\s*[(（\[【]\s*([0-9０-９.．]+)\s*分?\s*[)）\]】]\s*$", re.S)


def is_multiple(value: float, step: float) -> bool:
    """True when ``value`` is an integer multiple of ``step`` (> 0), up to 1e-9 relative slack."""
    q = value / step
    return abs(q - round(q)) <= _EPS * max(1.0, abs(q))


class Constructed(ItemTypeSpec):
    """Reference answer + marking points; see the module docstring."""

    auto_markable = False
    fields = {"reference_answer": REQUIRED, "marking_points": REQUIRED, "score_step": 0.5}
    visible_fields = ()

    def __init__(self, item_type: ItemType):
        self.type = item_type

    def canonicalize(self, d: Mapping[str, Any]) -> dict[str, Any]:
        out = super().canonicalize(d)
        out["reference_answer"] = str(out["reference_answer"])
        out["marking_points"] = [{"text": str(m["text"]), "points": float(m["points"])}
                                 for m in out["marking_points"]]
        out["score_step"] = float(out["score_step"])
        return out

    def validate(self, content: Mapping[str, Any], *, points: float | None = None) -> list[Problem]:
        out = check_text(content.get("reference_answer"), "reference_answer", max_len=20000)
        step = content.get("score_step", 0.5)
        step_probs = check_number(step, "score_step", positive=True)
        out += step_probs
        step_ok = not step_probs
        if step_ok and points is not None and _num(points) and not is_multiple(points, step):
            out.append(make_problem("score_step", "step_not_dividing", value=fmt_number(points),
                                    step=fmt_number(step)))
        mps = content.get("marking_points")
        if mps is None:
            out.append(make_problem("marking_points", "required"))
            return out
        if not isinstance(mps, (list, tuple)):
            out.append(make_problem("marking_points", "not_a_list"))
            return out
        if not mps:
            out.append(make_problem("marking_points", "empty_list"))
            return out
        total, all_ok = 0.0, True
        for i, mp in enumerate(mps):
            f = f"marking_points[{i}]"
            if not isinstance(mp, Mapping):
                out.append(make_problem(f, "not_a_mapping"))
                all_ok = False
                continue
            for k in mp:
                if k not in ("text", "points"):
                    out.append(make_problem(f, "unknown_field", name=str(k)))
            out += check_text(mp.get("text"), f + ".text", max_len=5000)
            p_probs = check_number(mp.get("points"), f + ".points", positive=True)
            out += p_probs
            if p_probs:
                all_ok = False
                continue
            total += mp["points"]
            if step_ok and not is_multiple(mp["points"], step):
                out.append(make_problem(f + ".points", "step_not_dividing", value=fmt_number(mp["points"]),
                                        step=fmt_number(step)))
        if all_ok and points is not None and _num(points) and abs(total - points) > _EPS * max(1.0, points):
            out.append(make_problem("marking_points", "points_sum_mismatch", total=fmt_number(total),
                                    points=fmt_number(points)))
        return out

    def mark(self, content: Mapping[str, Any], response: Any, points: float,
             rule: str = "all_or_nothing", partial_fraction: float = 0.5) -> None:
        """``None``: marked by examiners against the marking points."""
        check_rule(rule, partial_fraction)
        return None

    def encode_key(self, content: Mapping[str, Any]) -> str:
        """The reference answer."""
        return str(content["reference_answer"])

    def decode_key(self, text: str) -> tuple[dict[str, Any], list[Problem]]:
        return {"reference_answer": "" if text is None else str(text)}, []


def encode_marking_points(marking_points: Any) -> str:
    """``[{"text": "A", "points": 2.0}, …]`` → ``"A（2分）\\n…"`` (one point per line)."""
    return "\n".join(f"{m['text']}（{fmt_number(m['points'])}分）" for m in marking_points)


def decode_marking_points(text: str | None) -> tuple[list[dict[str, Any]] | None, list[Problem]]:
    """Parse the ``marking_points`` column (see the module docstring); ``(None, [])`` when empty.

    Problems use field ``marking_points`` with code ``bad_marking_point`` (param ``line``, 1-based).
    """
    if text is None or not str(text).strip():
        return None, []
    out: list[dict[str, Any]] = []
    problems: list[Problem] = []
    cur: list[str] = []
    start = 1
    lines = str(text).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    for n, line in enumerate(lines, start=1):
        if not cur and not line.strip():
            start = n + 1
            continue
        cur.append(line)
        m = _POINTS_AT_END.match(line)
        if m:
            cur[-1] = m.group(1)
            value = parse_number(m.group(2))
            if value is None:
                problems.append(make_problem("marking_points", "bad_marking_point", line=n, value=line))
            else:
                out.append({"text": "\n".join(cur).strip(), "points": value})
            cur = []
            start = n + 1
    if cur:
        problems.append(make_problem("marking_points", "bad_marking_point", line=start, value="\n".join(cur)))
    return out, problems


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


SHORT_ANSWER = Constructed(ItemType.SHORT_ANSWER)
CALCULATION = Constructed(ItemType.CALCULATION)
ESSAY = Constructed(ItemType.ESSAY)
SPECS = (SHORT_ANSWER, CALCULATION, ESSAY)

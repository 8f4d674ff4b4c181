"""Fill in the blank (填空): accepted answers, optional numeric tolerance and unit.

Marking (one blank per item; ``answers`` are alternatives):

* text answers — the response matches an answer after :func:`~question_bank.normalize.normalize_answer`
  (NFKC full-width → half-width, all whitespace removed, case-folded); a numeric response also matches a
  numerically equal answer (``"12.50"`` = ``"12.5"``);
* ``tolerance`` set — every answer is a number; the response is a number, optionally followed by the
  item's ``unit`` (``"12.5"``, ``"12.5mm"``, ``"１２．５ ｍｍ"``; unit compared case-insensitively after
  NFKC), within ``±tolerance`` of an answer (plus 1e-9 relative slack for binary rounding). A response
  with a different unit scores 0.

Spreadsheet key column: answers separated by ``|``, then optionally ``±tolerance`` and the unit:
``12.5|12.50±0.05mm``. ``+-`` and ``+/-`` may be typed for ``±``; a backslash escapes the next character
(``a\\|b`` is one answer ``a|b``; text answers containing ``±`` are written ``\\±``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from question_bank.items import ItemType
from question_bank.messages import WARNING, Problem, make_problem
from question_bank.normalize import nfkc, normalize_answer, parse_number, split_number_unit

from .base import REQUIRED, ItemTypeSpec, check_number, check_rule, check_text, fmt_number

_TOL = re.compile(r"\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*(.*)", re.S)


class FillBlank(ItemTypeSpec):
    """``answers``: list of accepted answers (≥ 1); ``tolerance``: float ≥ 0 or None; ``unit``: str or None."""

    type = ItemType.FILL_BLANK
    auto_markable = True
    fields = {"answers": REQUIRED, "tolerance": None, "unit": None}
    visible_fields = ("unit",)

    def canonicalize(self, d: Mapping[str, Any]) -> dict[str, Any]:
        out = super().canonicalize(d)
        out["answers"] = [str(a) for a in out["answers"]]
        out["tolerance"] = None if out["tolerance"] is None else float(out["tolerance"])
        out["unit"] = out["unit"] or None
        return out

    def validate(self, content: Mapping[str, Any], *, points: float | None = None) -> list[Problem]:
        out: list[Problem] = []
        answers = content.get("answers")
        tol = content.get("tolerance")
        unit = content.get("unit")
        if answers is None:
            out.append(make_problem("answers", "required"))
        elif not isinstance(answers, (list, tuple)):
            out.append(make_problem("answers", "not_a_list"))
        elif not answers:
            out.append(make_problem("answers", "empty_list"))
        else:
            seen: dict[str, int] = {}
            for i, a in enumerate(answers):
                f = f"answers[{i}]"
                if a is None or (isinstance(a, str) and not a.strip()):
                    out.append(make_problem(f, "empty_answer"))
                    continue
                probs = check_text(a, f)
                if probs:
                    out += probs
                    continue
                n = normalize_answer(a)
                if n in seen:
                    out.append(make_problem(f, "duplicate_answer", other=seen[n] + 1, severity=WARNING))
                else:
                    seen[n] = i
                if tol is not None and parse_number(a) is None:
                    out.append(make_problem(f, "answer_not_numeric", value=a))
        out += check_number(tol, "tolerance", required=False, nonnegative=True)
        if unit is not None:
            probs = check_text(unit, "unit", required=True, max_len=20)
            out += probs
            if not probs and tol is None:
                out.append(make_problem("unit", "unit_without_tolerance"))
        return out

    def normalise_response(self, content: Mapping[str, Any], response: Any) -> str | None:
        """Comparison form of the response (NFKC, no whitespace, case-folded); ``None`` when empty.
        Numbers given as ``int``/``float`` are formatted first (``12.5`` → ``"12.5"``)."""
        if response is None or isinstance(response, bool):
            return None
        if isinstance(response, (int, float)):
            response = fmt_number(response)
        if not isinstance(response, str):
            return None
        r = normalize_answer(response)
        return r or None

    def mark(self, content: Mapping[str, Any], response: Any, points: float,
             rule: str = "all_or_nothing", partial_fraction: float = 0.5) -> float:
        """``points`` when the response matches an accepted answer (see the module docstring), else 0."""
        check_rule(rule, partial_fraction)
        r = self.normalise_response(content, response)
        if r is None:
            return 0.0
        answers = content["answers"]
        tol = content.get("tolerance")
        if tol is not None:
            su = split_number_unit(r)
            if su is None:
                return 0.0
            value, unit = su
            if unit:
                expected = content.get("unit")
                if not expected or unit != normalize_answer(expected):
                    return 0.0
            for a in answers:
                av = parse_number(a)
                if av is not None and abs(value - av) <= float(tol) + 1e-9 * max(1.0, abs(av)):
                    return float(points)
            return 0.0
        if r in {normalize_answer(a) for a in answers}:
            return float(points)
        rv = parse_number(r)
        if rv is not None and any(parse_number(a) == rv for a in answers):
            return float(points)
        return 0.0

    # -- spreadsheets --------------------------------------------------------------------------
    def encode_key(self, content: Mapping[str, Any]) -> str:
        """``12.5|12.50±0.05mm`` (see the module docstring)."""
        text = "|".join(_escape(a) for a in content["answers"])
        if content.get("tolerance") is not None:
            text += "±" + fmt_number(content["tolerance"]) + (content.get("unit") or "")
        return text

    def decode_key(self, text: str) -> tuple[dict[str, Any], list[Problem]]:
        if text is None or not str(text).strip():
            return {}, [make_problem("key", "required")]
        chars = _tokens(str(text))
        tol = unit = None
        # last unescaped tolerance marker
        for i in range(len(chars) - 1, -1, -1):
            c, esc = chars[i]
            if esc:
                continue
            width = 0
            c = nfkc(c)
            if c == "±":
                width = 1
            elif c == "+" and _plain(chars, i + 1) == "-":
                width = 2
            elif c == "+" and _plain(chars, i + 1) == "/" and _plain(chars, i + 2) == "-":
                width = 3
            if width:
                suffix = nfkc("".join(ch for ch, _ in chars[i + width:]))
                m = _TOL.fullmatch(suffix)
                if m:
                    tol = float(m.group(1))
                    unit = m.group(2).strip() or None
                    chars = chars[:i]
                break
        answers: list[str] = []
        cur: list[str] = []
        for c, esc in chars:
            if not esc and nfkc(c) == "|":
                answers.append("".join(cur).strip())
                cur = []
            else:
                cur.append(c)
        answers.append("".join(cur).strip())
        if tol is not None:  # numeric answers: store them half-width ("１２．５" -> "12.5")
            answers = [nfkc(a).strip() for a in answers]
        return {"answers": answers, "tolerance": tol, "unit": unit}, []


def _escape(answer: str) -> str:
    s = answer.replace("\\", "\\\\").replace("|", "\\|").replace("｜", "\\｜").replace("±", "\\±")
    return s.replace("+/-", "\\+/-").replace("+-", "\\+-")


def _tokens(text: str) -> list[tuple[str, bool]]:
    out: list[tuple[str, bool]] = []
    it = iter(text)
    for c in it:
        if c == "\\":
            nxt = next(it, None)
            if nxt is None:
                out.append(("\\", True))
            else:
                out.append((nxt, True))
        else:
            out.append((c, False))
    return out


def _plain(chars: list[tuple[str, bool]], i: int) -> str | None:
    if i < len(chars) and not chars[i][1]:
        return nfkc(chars[i][0])
    return None


SPEC = FillBlank()

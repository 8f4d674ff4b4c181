"""Base class of item-type specifications and shared validation helpers.

An item type is an object with this interface (see :class:`ItemTypeSpec`):

* ``type`` (:class:`~question_bank.items.ItemType`), ``auto_markable``, ``shuffleable``,
  ``fields`` (type-specific field name → default; :data:`REQUIRED` = no default);
* ``canonicalize(d)`` → the type-specific fields of an item dict, defaults filled, numbers canonical;
* ``validate(content, *, points=None)`` → list of :class:`~question_bank.messages.Problem`;
* ``normalise_response(content, response)`` → canonical response (``None`` = no answer);
* ``mark(content, response, points, rule="all_or_nothing", partial_fraction=0.5)`` → score in
  ``[0, points]`` for auto-markable types, ``None`` for the others (marked by examiners);
* ``candidate_view(content, rng=None)`` → what a candidate may see of ``content`` (never a key, reference
  answer, marking points, rubric or accepted answers); options shuffled when ``rng`` is given;
* ``shuffle_options(content, rng)`` → :class:`Shuffled` (choice types);
* ``encode_key(content)`` / ``decode_key(text)`` → the spreadsheet ``key`` column.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from collections.abc import Mapping, Sequence
from typing import Any

from question_bank.items import ItemType, freeze, thaw
from question_bank.messages import Problem, make_problem

__all__ = ["ItemTypeSpec", "Shuffled", "REQUIRED", "RULES", "check_rule", "fmt_number",
           "check_text", "check_number", "check_text_list", "has_control_chars"]


class _Required:
    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return "REQUIRED"


#: Marker for a type-specific field without a default.
REQUIRED: Any = _Required()

#: Paper marking rules for multiple choice (other auto-marked types ignore the rule).
RULES = ("all_or_nothing", "partial")


def check_rule(rule: str, partial_fraction: float) -> None:
    """Raise ``ValueError`` for an unknown rule or a ``partial_fraction`` outside [0, 1]."""
    if rule not in RULES:
        raise ValueError(f"unknown marking rule {rule!r}; expected one of {RULES}")
    if not (isinstance(partial_fraction, (int, float)) and 0.0 <= partial_fraction <= 1.0):
        raise ValueError(f"partial_fraction must be in [0, 1], got {partial_fraction!r}")


def fmt_number(v: float) -> str:
    """Shortest text for a number that parses back exactly: ``2.0`` → ``"2"``, ``0.05`` → ``"0.05"``."""
    f = float(v)
    if f.is_integer() and abs(f) < 1e15:
        return str(int(f))
    return repr(f)


_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def has_control_chars(s: str) -> bool:
    """True when ``s`` holds a C0 control character other than tab, CR and LF, or DEL (not storable in
    .xlsx)."""
    return _CONTROL.search(s) is not None


def check_text(value: Any, field: str, *, required: bool = True, max_len: int | None = None,
               too_long_code: str = "too_long") -> list[Problem]:
    """Problems of a text field: must be ``str``; non-blank when ``required``; ≤ ``max_len`` characters."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return [make_problem(field, "required")] if required else []
    if not isinstance(value, str):
        return [make_problem(field, "not_a_string")]
    if max_len is not None and len(value) > max_len:
        return [make_problem(field, too_long_code, length=len(value), max=max_len)]
    if has_control_chars(value):
        return [make_problem(field, "control_character")]
    return []


def check_number(value: Any, field: str, *, required: bool = True, positive: bool = False,
                 nonnegative: bool = False, lo: float | None = None, hi: float | None = None,
                 integer: bool = False) -> list[Problem]:
    """Problems of a numeric field (``bool`` is not a number; NaN/inf rejected)."""
    if value is None:
        return [make_problem(field, "required")] if required else []
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return [make_problem(field, "not_an_integer" if integer else "not_a_number", value=_show(value))]
    if not math.isfinite(value):
        return [make_problem(field, "not_finite")]
    if integer and not float(value).is_integer():
        return [make_problem(field, "not_an_integer", value=_show(value))]
    if positive and value <= 0:
        return [make_problem(field, "not_positive", value=value)]
    if nonnegative and value < 0:
        return [make_problem(field, "negative", value=value)]
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        return [make_problem(field, "out_of_range", value=value, min=lo, max=hi)]
    return []


def check_text_list(value: Any, field: str, *, required: bool = False) -> list[Problem]:
    """Problems of a list of non-blank strings (``required`` = at least one entry)."""
    if value is None:
        value = []
    if not isinstance(value, (list, tuple)):
        return [make_problem(field, "not_a_list")]
    if required and not value:
        return [make_problem(field, "empty_list")]
    out: list[Problem] = []
    for i, v in enumerate(value):
        out += check_text(v, f"{field}[{i}]")
    return out


def _show(v: Any) -> str:
    s = repr(v) if not isinstance(v, str) else v
    return s if len(s) <= 60 else s[:57] + "..."


@dataclass(frozen=True)
class Shuffled:
    """Result of :meth:`ItemTypeSpec.shuffle_options`.

    ``content``: the content with options in display order and the key relabelled accordingly;
    ``order``: ``order[i]`` is the original index of the option displayed at position ``i``
    (identity for non-choice types).
    """

    content: Mapping[str, Any]
    order: tuple[int, ...]


class ItemTypeSpec:
    """Default behaviour of an item type; subclasses override what differs (one module per type)."""

    type: ItemType
    auto_markable: bool = False
    shuffleable: bool = False
    #: field name -> default (REQUIRED when there is none), in docs/items.md order.
    fields: Mapping[str, Any] = {}
    #: content fields a candidate may see (an allow-list: everything else is hidden).
    visible_fields: tuple[str, ...] = ()

    # -- dict handling -------------------------------------------------------------------------
    def canonicalize(self, d: Mapping[str, Any]) -> dict[str, Any]:
        """Type-specific fields of item dict ``d`` with defaults filled (``KeyError`` if a required one
        is missing); subclasses convert numbers to canonical types."""
        out = {}
        for name, default in self.fields.items():
            if name in d:
                out[name] = thaw(d[name])
            elif default is REQUIRED:
                raise KeyError(name)
            else:
                out[name] = thaw(default)
        return out

    def validate(self, content: Mapping[str, Any], *, points: float | None = None) -> list[Problem]:
        """Problems of the type-specific fields (``points``: the item's points, for sum checks)."""
        return []

    # -- responses and marking -----------------------------------------------------------------
    def normalise_response(self, content: Mapping[str, Any], response: Any) -> Any:
        """Canonical form of a response (``None`` when empty). Default: stripped text or ``None``."""
        if response is None:
            return None
        if not isinstance(response, str):
            response = str(response)
        response = response.strip()
        return response or None

    def mark(self, content: Mapping[str, Any], response: Any, points: float,
             rule: str = "all_or_nothing", partial_fraction: float = 0.5) -> float | None:
        """Score of ``response`` in ``[0, points]``; ``None`` for types marked by examiners."""
        check_rule(rule, partial_fraction)
        return None

    # -- candidate side ------------------------------------------------------------------------
    def shuffle_options(self, content: Mapping[str, Any], rng: Any) -> Shuffled:
        """Identity for types without options."""
        return Shuffled(content=freeze(dict(content)), order=())

    def candidate_view(self, content: Mapping[str, Any], rng: Any = None) -> dict[str, Any]:
        """What a candidate may see: the allow-listed fields only (:attr:`visible_fields`)."""
        if rng is not None and self.shuffleable:
            content = self.shuffle_options(content, rng).content
        return {k: thaw(content[k]) for k in self.visible_fields if k in content}

    # -- spreadsheets --------------------------------------------------------------------------
    def encode_key(self, content: Mapping[str, Any]) -> str:
        """Text of the spreadsheet ``key`` column (``""`` when the type has no key column)."""
        return ""

    def decode_key(self, text: str) -> tuple[dict[str, Any], list[Problem]]:
        """Parse the spreadsheet ``key`` column into content fields; problems use field ``key``."""
        return {}, []


def letters(n: int) -> str:
    """The first ``n`` option labels: ``letters(4) == "ABCD"``."""
    return "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[:n]

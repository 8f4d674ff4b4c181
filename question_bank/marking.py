"""Marking one response to one item (auto-marked types only).

``mark_response(item, response, rule)`` looks up the item's type and applies its marker:

* single choice, true/false — exact: ``points`` or 0;
* multiple choice — ``rule="all_or_nothing"``: ``points`` for exactly the key set, else 0;
  ``rule="partial"``: a proper non-empty subset of the key with no wrong option scores
  ``partial_fraction * points`` (default 0.5 = half the points, not rounded);
* fill blank — accepted alternatives after NFKC/space/case normalisation; numeric answers within
  ``±tolerance`` with an optional unit (``"12.5"``, ``"12.5mm"``, ``"１２．５ mm"``).

Empty responses (``None``, ``""``, whitespace, empty list) score 0. Short answer, calculation, essay and
practical tasks are marked by examiners: :class:`NotAutoMarkableError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from question_bank import item_types
from question_bank.item_types.base import RULES
from question_bank.items import Item, item_to_dict

__all__ = ["mark_response", "is_auto_markable", "NotAutoMarkableError", "RULES"]


class NotAutoMarkableError(ValueError):
    """The item's type is marked by examiners (short answer, calculation, essay, practical task)."""


def is_auto_markable(item_type: str) -> bool:
    """True for single/multiple choice, true/false and fill blank."""
    return item_types.get(item_type).auto_markable


def mark_response(item: Mapping[str, Any] | Item, response: Any, rule: str = "all_or_nothing", *,
                  partial_fraction: float = 0.5) -> float:
    """Score of ``response`` to ``item`` (an item dict or :class:`~question_bank.items.Item`).

    Returns a float in ``[0, item["points"]]``. Raises :class:`NotAutoMarkableError` for types marked by
    examiners and ``ValueError`` for an unknown ``rule`` (see :data:`RULES`) or a ``partial_fraction``
    outside [0, 1]. The item is assumed valid (see :func:`question_bank.validation.validate_item`).
    """
    d = item_to_dict(item) if isinstance(item, Item) else item
    spec = item_types.get(d["type"])
    if not spec.auto_markable:
        raise NotAutoMarkableError(f"items of type {d['type']!r} are marked by examiners")
    score = spec.mark(d, response, float(d["points"]), rule=rule, partial_fraction=partial_fraction)
    if score is None:  # a registered auto-markable type must return a number
        raise NotAutoMarkableError(f"the marker of {d['type']!r} returned no score")
    return score

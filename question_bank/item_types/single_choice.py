"""Single choice (单选): 2–8 options, exactly one key letter; right or wrong."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from question_bank.items import ItemType
from question_bank.messages import Problem, make_problem

from ._choice import ChoiceSpec, clean_letters
from .base import check_rule


class SingleChoice(ChoiceSpec):
    """``options``: 2–8 distinct non-empty texts (A, B, … by position); ``key``: one letter, e.g. ``"B"``."""

    type = ItemType.SINGLE_CHOICE
    min_options = 2

    def validate(self, content: Mapping[str, Any], *, points: float | None = None) -> list[Problem]:
        out = self._validate_options(content.get("options"))
        key = self._key_letters(content.get("key"), out)
        if key is not None:
            if len(key) != 1:
                out.append(make_problem("key", "single_key_expected", value=key))
            else:
                self._check_in_options(key, content.get("options"), out)
        return out

    def normalise_response(self, content: Mapping[str, Any], response: Any) -> str | None:
        """``"b"``/``"Ｂ"``/``["B"]`` → ``"B"``; empty → ``None``; several letters stay (they mark 0)."""
        r = clean_letters(response)
        return r or None

    def mark(self, content: Mapping[str, Any], response: Any, points: float,
             rule: str = "all_or_nothing", partial_fraction: float = 0.5) -> float:
        """``points`` when the response is exactly the key letter, else 0 (the rule does not apply)."""
        check_rule(rule, partial_fraction)
        r = self.normalise_response(content, response)
        return float(points) if r is not None and r == content["key"] else 0.0


SPEC = SingleChoice()

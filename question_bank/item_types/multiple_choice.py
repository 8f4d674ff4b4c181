"""Multiple choice (多选): 3–8 options, two or more key letters; all-or-nothing or partial credit."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from question_bank.items import ItemType
from question_bank.messages import Problem, make_problem

from ._choice import ChoiceSpec, clean_letters
from .base import check_rule


class MultipleChoice(ChoiceSpec):
    """``options``: 3–8 distinct texts; ``key``: ≥ 2 distinct letters in alphabetical order (``"ACD"``).

    Marking rules (chosen per paper):

    * ``all_or_nothing`` — ``points`` only for exactly the key set, else 0;
    * ``partial`` — the key set scores ``points``; a proper, non-empty subset of the key with no
      wrong option scores ``partial_fraction * points`` (default 0.5, i.e. half; not rounded);
      any wrong option, or nothing, scores 0.
    """

    type = ItemType.MULTIPLE_CHOICE
    min_options = 3

    def validate(self, content: Mapping[str, Any], *, points: float | None = None) -> list[Problem]:
        out = self._validate_options(content.get("options"))
        key = self._key_letters(content.get("key"), out)
        if key is not None:
            seen = set()
            for c in key:
                if c in seen:
                    out.append(make_problem("key", "duplicate_key", letter=c))
                seen.add(c)
            if len(seen) < 2:
                out.append(make_problem("key", "too_few_keys", value=key))
            elif len(seen) == len(key) and list(key) != sorted(key):
                out.append(make_problem("key", "key_not_sorted", value=key, expected="".join(sorted(key))))
            self._check_in_options(key, content.get("options"), out)
        return out

    def normalise_response(self, content: Mapping[str, Any], response: Any) -> str | None:
        """``"c, a"``/``["C", "A"]``/``"ＣＡ"`` → ``"AC"`` (sorted, duplicates dropped); empty → ``None``."""
        r = clean_letters(response)
        return "".join(sorted(set(r))) or None

    def mark(self, content: Mapping[str, Any], response: Any, points: float,
             rule: str = "all_or_nothing", partial_fraction: float = 0.5) -> float:
        """Score per the paper's rule (see the class docstring); result in ``[0, points]``."""
        check_rule(rule, partial_fraction)
        r = self.normalise_response(content, response)
        if r is None:
            return 0.0
        chosen, key = set(r), set(content["key"])
        if chosen == key:
            return float(points)
        if rule == "partial" and chosen < key:
            return float(points) * float(partial_fraction)
        return 0.0


SPEC = MultipleChoice()

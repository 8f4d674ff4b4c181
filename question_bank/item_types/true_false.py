"""True/false (判断): ``key`` is a bool; right or wrong."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from question_bank.items import ItemType
from question_bank.messages import Problem, make_problem
from question_bank.normalize import nfkc

from .base import REQUIRED, ItemTypeSpec, check_rule

TRUE_WORDS = frozenset({"对", "√", "✓", "✔", "t", "true", "正确", "是", "y", "yes", "1"})
FALSE_WORDS = frozenset({"错", "×", "✗", "✘", "x", "f", "false", "错误", "否", "n", "no", "0"})


def parse_bool(value: Any) -> bool | None:
    """``True`` for 对/√/T/true/正确/是/Y/1, ``False`` for 错/×/F/false/错误/否/N/0 (any case, full-width ok),
    ``None`` for anything else (including empty)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if not isinstance(value, str):
        return None
    s = nfkc(value).strip().casefold()
    if s in TRUE_WORDS:
        return True
    if s in FALSE_WORDS:
        return False
    return None


class TrueFalse(ItemTypeSpec):
    """``key``: ``True`` (对) or ``False`` (错)."""

    type = ItemType.TRUE_FALSE
    auto_markable = True
    fields = {"key": REQUIRED}
    visible_fields = ()

    def validate(self, content: Mapping[str, Any], *, points: float | None = None) -> list[Problem]:
        key = content.get("key")
        if key is None:
            return [make_problem("key", "required")]
        if not isinstance(key, bool):
            return [make_problem("key", "not_a_bool")]
        return []

    def normalise_response(self, content: Mapping[str, Any], response: Any) -> bool | None:
        """Response → ``True``/``False`` (see :func:`parse_bool`); unrecognised or empty → ``None``."""
        return parse_bool(response)

    def mark(self, content: Mapping[str, Any], response: Any, points: float,
             rule: str = "all_or_nothing", partial_fraction: float = 0.5) -> float:
        """``points`` when the response equals the key, else 0 (also for an empty/unrecognised one)."""
        check_rule(rule, partial_fraction)
        r = self.normalise_response(content, response)
        return float(points) if r is not None and r is bool(content["key"]) else 0.0

    def encode_key(self, content: Mapping[str, Any]) -> str:
        """``"对"`` or ``"错"``."""
        return "对" if content["key"] else "错"

    def decode_key(self, text: str) -> tuple[dict[str, Any], list[Problem]]:
        """对/错, √/×, T/F, true/false, 正确/错误, 是/否, Y/N, 1/0."""
        if text is None or (isinstance(text, str) and not text.strip()):
            return {}, [make_problem("key", "required")]
        v = parse_bool(text)
        if v is None:
            return {}, [make_problem("key", "bad_key", value=str(text), hint_zh="判断题答案应为“对”或“错”",
                                     hint_en="a true/false key is 对/错 (T/F, √/×)")]
        return {"key": v}, []


SPEC = TrueFalse()

"""Shared behaviour of the choice types (single and multiple choice): options labelled A, B, … by
position, a key of letters, shuffling with key relabelling."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from question_bank.items import freeze, thaw
from question_bank.messages import Problem, make_problem
from question_bank.normalize import nfkc, normalize_answer

from .base import REQUIRED, ItemTypeSpec, Shuffled, has_control_chars, letters

_SEPARATORS = re.compile(r"[\s,，、;；/|+]+")

#: Most options a choice item may have (columns A–H of the bank spreadsheet).
MAX_OPTIONS = 8


def clean_letters(value: Any) -> str:
    """Response/key text → upper-case letters with separators removed.

    ``"a, c；Ｄ"`` → ``"ACD"``; a list/tuple/set of letters is joined first. Characters that are not
    separators are kept (so ``"A1"`` stays ``"A1"`` and is recognised as malformed later).
    """
    if value is None or isinstance(value, bool):
        return ""
    if isinstance(value, (list, tuple, set, frozenset)):
        value = "".join(str(v) for v in value)
    if not isinstance(value, str):
        value = str(value)
    return _SEPARATORS.sub("", nfkc(value)).upper()


class ChoiceSpec(ItemTypeSpec):
    """Options A–H (``options``: list of texts), key of letters (``key``)."""

    auto_markable = True
    shuffleable = True
    fields = {"options": REQUIRED, "key": REQUIRED}
    visible_fields = ("options",)
    min_options = 2
    max_options = MAX_OPTIONS

    def canonicalize(self, d: Mapping[str, Any]) -> dict[str, Any]:
        out = super().canonicalize(d)
        out["options"] = [str(o) for o in out["options"]]
        out["key"] = str(out["key"])
        return out

    # -- validation ----------------------------------------------------------------------------
    def _validate_options(self, options: Any) -> list[Problem]:
        if options is None:
            return [make_problem("options", "required")]
        if not isinstance(options, (list, tuple)):
            return [make_problem("options", "not_a_list")]
        out: list[Problem] = []
        n = len(options)
        if n < self.min_options:
            out.append(make_problem("options", "too_few_options", min=self.min_options, count=n))
        if n > self.max_options:
            out.append(make_problem("options", "too_many_options", max=self.max_options, count=n))
        seen: dict[str, int] = {}
        labels = letters(min(n, 26))
        for i, opt in enumerate(options[:26]):
            f = f"options[{i}]"
            if opt is None or (isinstance(opt, str) and not opt.strip()):
                out.append(make_problem(f, "empty_option"))
                continue
            if not isinstance(opt, str):
                out.append(make_problem(f, "not_a_string"))
                continue
            if has_control_chars(opt):
                out.append(make_problem(f, "control_character"))
            norm = normalize_answer(opt)
            if norm in seen:
                out.append(make_problem(f, "duplicate_option", other_label=labels[seen[norm]]))
            else:
                seen[norm] = i
        return out

    def _key_letters(self, key: Any, out: list[Problem]) -> str | None:
        if key is None or (isinstance(key, str) and not key.strip()):
            out.append(make_problem("key", "required"))
            return None
        if not isinstance(key, str):
            out.append(make_problem("key", "not_a_string"))
            return None
        bad = [c for c in key if not ("A" <= c <= "Z")]
        if bad:
            out.append(make_problem("key", "bad_key", value=key,
                                    hint_zh="只能包含大写字母 A–H", hint_en="only capital letters A–H are allowed"))
            return None
        return key

    def _check_in_options(self, key: str, options: Any, out: list[Problem]) -> None:
        if not isinstance(options, (list, tuple)):
            return
        n = min(len(options), 26)
        valid = letters(n)
        missing = [c for c in key if c not in valid]
        if missing:
            out.append(make_problem("key", "key_not_in_options", value=key, count=len(options),
                                    labels=valid or "-"))

    # -- candidate side ------------------------------------------------------------------------
    def shuffle_options(self, content: Mapping[str, Any], rng: Any) -> Shuffled:
        """Permute the options with ``rng`` (a ``numpy.random.Generator``) and relabel the key.

        ``order[i]`` = original index of the option displayed at position ``i``; the same generator
        state gives the same order (seed it from the attempt's shuffle seed).
        """
        options = list(content["options"])
        n = len(options)
        order = tuple(int(i) for i in rng.permutation(n))
        new_pos = {orig: pos for pos, orig in enumerate(order)}
        labels = letters(n)
        key = content.get("key", "")
        new_key = "".join(sorted(labels[new_pos[labels.index(c)]] for c in key if c in labels))
        new = dict(thaw(content))
        new["options"] = [options[i] for i in order]
        new["key"] = new_key
        return Shuffled(content=freeze(new), order=order)

    @staticmethod
    def unshuffle_response(response: Any, order: Iterable[int]) -> str:
        """Translate letters chosen on a shuffled display back to the original labels (sorted).

        Letters beyond the displayed options are kept unchanged (they mark as wrong).
        """
        order = tuple(order)
        labels = letters(len(order))
        out = []
        for c in clean_letters(response):
            if c in labels:
                out.append(labels[order[labels.index(c)]])
            else:
                out.append(c)
        return "".join(sorted(out))

    # -- spreadsheets --------------------------------------------------------------------------
    def encode_key(self, content: Mapping[str, Any]) -> str:
        return str(content["key"])

    def decode_key(self, text: str) -> tuple[dict[str, Any], list[Problem]]:
        """``"b"``, ``"Ｂ"``, ``"A, C, D"``, ``"CA"`` → letters (multiple choice sorted)."""
        cleaned = clean_letters(text)
        if self.type.value == "multiple_choice":
            cleaned = "".join(sorted(cleaned))
        return {"key": cleaned}, []


__all__ = ["ChoiceSpec", "clean_letters", "MAX_OPTIONS"]

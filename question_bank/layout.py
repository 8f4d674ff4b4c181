"""Per-candidate paper layout (答卷版式): a seeded, reproducible order of items and options.

:func:`build_layout` takes the slots of one paper form (plain dicts, in form order) and a
``numpy.random.Generator``; it keeps the sections in form order, shuffles the items within each section
and the options of choice items, and gives every option an opaque id (random hex, different per attempt,
never the key letters). The result is plain JSON, stored with the attempt, so a reload, a move to a spare
machine and an appeal all show the same paper::

    {"v": 1, "sections": [{"name": "single_choice",
                           "items": [{"pi": 17, "t": "single_choice", "order": [2, 0, 1, 3],
                                      "ids": ["9f2c41aa", "03be77d1", "c1d0e4f2", "5a6b7c8d"]}, ...]}, ...]}

``order[k]`` is the original index (A = 0) of the option displayed at position ``k``; ``ids[k]`` is its id.
:func:`answer_to_original` turns what a candidate sends (display ids, booleans, text) into the item's
original label space (``"B"``, ``"AC"``, ``True``, text) for storage and marking; :func:`answer_to_display`
goes back for rendering a resumed attempt. Bad shapes raise :class:`AnswerError` with a code.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

__all__ = ["build_layout", "layout_entries", "answer_to_original", "answer_to_display", "AnswerError",
           "CHOICE_TYPES", "TEXT_TYPES", "MAX_TEXT", "LETTERS"]

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
CHOICE_TYPES = ("single_choice", "multiple_choice")
TEXT_TYPES = ("fill_blank", "short_answer", "calculation", "essay")
#: Longest accepted text answer, in characters, per type.
MAX_TEXT = {"fill_blank": 200, "short_answer": 10_000, "calculation": 10_000, "essay": 20_000}
LAYOUT_VERSION = 1


class AnswerError(ValueError):
    """An answer of the wrong shape for its item type; ``code`` names the problem."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def _token(rng: Any, taken: set[str]) -> str:
    while True:
        t = rng.bytes(4).hex()
        if t not in taken:
            taken.add(t)
            return t


def build_layout(slots: Sequence[Mapping[str, Any]], rng: Any, *, shuffle_items: bool = True,
                 shuffle_options: bool = True) -> dict:
    """The layout of one attempt.

    ``slots``: the form's items in position order, each ``{"pi": paper item id, "section": str,
    "type": item type, "n_options": number of options (0 for non-choice types), "iv": item version id
    (optional, copied into the entry)}``.
    ``rng``: a ``numpy.random.Generator`` seeded from the attempt's seed (same seed → same layout).
    """
    if not slots:
        raise ValueError("a paper form without items cannot be delivered")
    sections: dict[str, list[Mapping[str, Any]]] = {}
    for s in slots:
        sections.setdefault(str(s["section"]), []).append(s)
    out = []
    for name, members in sections.items():
        idx = [int(i) for i in rng.permutation(len(members))] if shuffle_items else list(range(len(members)))
        entries = []
        for i in idx:
            s = members[i]
            t = str(s["type"])
            n = int(s.get("n_options") or 0) if t in CHOICE_TYPES else 0
            if t in CHOICE_TYPES and n < 2:
                raise ValueError(f"choice item {s['pi']} has fewer than two options")
            order = [int(k) for k in rng.permutation(n)] if (n and shuffle_options) else list(range(n))
            taken: set[str] = set()
            entry = {"pi": int(s["pi"]), "t": t, "order": order, "ids": [_token(rng, taken) for _ in order]}
            if s.get("iv") is not None:
                entry["iv"] = int(s["iv"])
            entries.append(entry)
        out.append({"name": name, "items": entries})
    return {"v": LAYOUT_VERSION, "sections": out}


def layout_entries(layout: Mapping[str, Any]) -> Iterable[tuple[int, Mapping[str, Any]]]:
    """``(display number, entry)`` for every item, in display order (numbers from 1)."""
    n = 0
    for sec in layout["sections"]:
        for e in sec["items"]:
            n += 1
            yield n, e


def _clean_text(value: str, max_len: int) -> str | None:
    if len(value) > max_len:
        raise AnswerError("too_long", f"the answer is longer than {max_len} characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise AnswerError("bad_text", "the answer contains characters that cannot be stored") from None
    # drop control characters other than tab and newlines (cannot be stored in every database)
    value = "".join(c for c in value if c in "\t\n\r" or not (ord(c) < 32 or ord(c) == 0x7F))
    return value if value.strip() else None


def answer_to_original(entry: Mapping[str, Any], answer: Any) -> Any:
    """Validate ``answer`` (display space) for ``entry`` and return it in the original label space.

    single_choice: an option id or ``None`` → ``"B"``; multiple_choice: a list of distinct option ids →
    ``"AC"`` (sorted; empty → ``None``); true_false: ``True``/``False``/``None``; text types: a string
    (control characters dropped; blank → ``None``). Anything else raises :class:`AnswerError`.
    """
    t = entry["t"]
    if answer is None:
        return None
    if t in CHOICE_TYPES:
        ids, order = list(entry["ids"]), list(entry["order"])
        if t == "single_choice":
            if not isinstance(answer, str):
                raise AnswerError("wrong_shape", "a single-choice answer is one option id")
            if answer not in ids:
                raise AnswerError("unknown_option", "the option is not part of this question")
            return LETTERS[order[ids.index(answer)]]
        if not isinstance(answer, list) or not all(isinstance(a, str) for a in answer):
            raise AnswerError("wrong_shape", "a multiple-choice answer is a list of option ids")
        if len(answer) > len(ids) or len(set(answer)) != len(answer):
            raise AnswerError("duplicate_option", "an option was chosen more than once")
        if any(a not in ids for a in answer):
            raise AnswerError("unknown_option", "an option is not part of this question")
        letters = sorted(LETTERS[order[ids.index(a)]] for a in answer)
        return "".join(letters) or None
    if t == "true_false":
        if not isinstance(answer, bool):
            raise AnswerError("wrong_shape", "a true/false answer is true or false")
        return answer
    if t in TEXT_TYPES:
        if not isinstance(answer, str):
            raise AnswerError("wrong_shape", "this answer is text")
        return _clean_text(answer, MAX_TEXT[t])
    raise AnswerError("not_answerable", f"items of type {t!r} are not answered online")


def answer_to_display(entry: Mapping[str, Any], stored: Any) -> Any:
    """The stored (original-space) answer as the candidate's page shows it (option ids for choices)."""
    if stored is None:
        return None
    t = entry["t"]
    if t in CHOICE_TYPES:
        ids, order = list(entry["ids"]), list(entry["order"])
        pos = {orig: k for k, orig in enumerate(order)}
        chosen = [ids[pos[LETTERS.index(c)]] for c in str(stored) if c in LETTERS and LETTERS.index(c) in pos]
        if t == "single_choice":
            return chosen[0] if chosen else None
        return chosen
    return stored

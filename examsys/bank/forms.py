"""The item editor form: one HTML form for every item type, parsed into an item dict (docs/items.md).

The form has rows that the browser adds and removes (options A–H, answers, marking points, rubric
criteria), so it is parsed from the request's MultiDict here rather than declared as a WTForms class;
CSRF is checked for every POST by Flask-WTF's CSRFProtect. Nothing is validated here beyond turning
texts into numbers: :func:`question_bank.validation.validate_item` (called by the items service) reports
every problem with its field path, and :func:`problems_by_field` places those next to the inputs.

Input names: ``type``, ``occupation``, ``grades`` (checkboxes), ``kp``, ``points``, ``difficulty``,
``discrimination``, ``source``, ``stem``, ``images`` (hashes of kept images), ``image_files`` (new uploads),
``comment``; choice: ``option_A`` … ``option_H`` and ``key`` (radio for single, checkboxes for multiple
choice); true/false: ``tf_key``; fill blank: ``answer`` (rows), ``tolerance``, ``unit``; constructed
(short answer, calculation, essay): ``reference_answer``, ``score_step``, ``mp_text`` / ``mp_points``
(rows); practical task: ``time_limit_min``, ``materials``, ``equipment``, ``veto`` (one per line),
``cr_content`` / ``cr_element`` / ``cr_points`` / ``cr_standard`` / ``cr_mode`` (rows).
"""
from __future__ import annotations

from typing import Any, Mapping

from question_bank.items import ItemType
from question_bank.normalize import parse_number

LETTERS = "ABCDEFGH"
TYPES = [t.value for t in ItemType]
CHOICE_TYPES = ("single_choice", "multiple_choice")
CONSTRUCTED_TYPES = ("short_answer", "calculation", "essay")
MODES = ("deduction", "level")


def _text(form, name: str) -> str:
    return (form.get(name) or "").replace("\r\n", "\n").strip()


def _num(raw: Any) -> Any:
    """A number from a text box: ``None`` when empty, the float when it parses, else the text itself
    (so the validator reports "must be a number, got '…'" for that field)."""
    s = (raw or "").strip()
    if not s:
        return None
    v = parse_number(s)
    return v if v is not None else s


def _int(raw: Any) -> Any:
    v = _num(raw)
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def _lines(text: str) -> list[str]:
    return [line.strip() for line in (text or "").replace("\r\n", "\n").split("\n") if line.strip()]


def _rows(form, names: tuple[str, ...]) -> list[dict[str, str]]:
    cols = [form.getlist(n) for n in names]
    n = max((len(c) for c in cols), default=0)
    rows = []
    for i in range(n):
        rows.append({name: (col[i] if i < len(col) else "").replace("\r\n", "\n").strip()
                     for name, col in zip(names, cols)})
    return rows


def parse_item_form(form) -> dict[str, Any]:
    """The item dict the form describes (type-specific fields for the chosen type only)."""
    t = _text(form, "type")
    grades = []
    for g in form.getlist("grades"):
        g = g.strip()
        grades.append(int(g) if g.isdigit() else g)
    d: dict[str, Any] = {
        "type": t, "occupation": _text(form, "occupation"), "grades": grades, "kp": _text(form, "kp"),
        "points": _num(form.get("points")), "difficulty": _num(form.get("difficulty")),
        "discrimination": _num(form.get("discrimination")), "source": _text(form, "source"),
        "stem": _text(form, "stem"),
        "images": list(dict.fromkeys(h.strip() for h in form.getlist("images") if h.strip())),
    }
    if t in CHOICE_TYPES:
        options = [_text(form, f"option_{letter}") for letter in LETTERS]
        while options and not options[-1]:
            options.pop()
        d["options"] = options
        keys = [k.strip().upper() for k in form.getlist("key") if k.strip()]
        d["key"] = "".join(sorted(set(keys))) if t == "multiple_choice" else "".join(keys)
    elif t == "true_false":
        d["key"] = {"true": True, "false": False}.get(_text(form, "tf_key"))
    elif t == "fill_blank":
        d["answers"] = [a for a in (x.strip() for x in form.getlist("answer")) if a]
        d["tolerance"] = _num(form.get("tolerance"))
        d["unit"] = _text(form, "unit") or None
    elif t in CONSTRUCTED_TYPES:
        d["reference_answer"] = _text(form, "reference_answer")
        step = _num(form.get("score_step"))
        d["score_step"] = 0.5 if step is None else step
        d["marking_points"] = [{"text": r["mp_text"], "points": _num(r["mp_points"])}
                               for r in _rows(form, ("mp_text", "mp_points")) if r["mp_text"] or r["mp_points"]]
    elif t == "practical_task":
        d["time_limit_min"] = _int(form.get("time_limit_min"))
        d["materials"] = _lines(form.get("materials", ""))
        d["equipment"] = _lines(form.get("equipment", ""))
        d["veto"] = _lines(form.get("veto", ""))
        names = ("cr_content", "cr_element", "cr_points", "cr_standard", "cr_mode")
        d["criteria"] = [
            {"content": r["cr_content"], "element": r["cr_element"], "points": _num(r["cr_points"]),
             "standard": r["cr_standard"], "mode": r["cr_mode"] or "deduction"}
            for r in _rows(form, names)
            if r["cr_content"] or r["cr_element"] or r["cr_points"] or r["cr_standard"]
        ]
    return d


def uploaded_files(files) -> list[tuple[bytes, str]]:
    """``(data, filename)`` of each file chosen in ``image_files`` (empty file inputs skipped)."""
    out = []
    for f in files.getlist("image_files"):
        if f is None or not f.filename:
            continue
        out.append((f.read(), f.filename))
    return out


def problems_by_field(problems, zh: bool) -> dict[str, list[str]]:
    """``{field path: [message, …]}`` in the UI language, for showing next to the inputs."""
    out: dict[str, list[str]] = {}
    for p in problems:
        out.setdefault(p.field, []).append(p.message_zh if zh else p.message_en)
    return out


def form_values(d: Mapping[str, Any]) -> dict[str, Any]:
    """What the editor template shows for an item dict (numbers as short texts, rows padded)."""
    def show(v: Any) -> str:
        if v is None:
            return ""
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        return str(v)

    t = d.get("type") or "single_choice"
    options = list(d.get("options") or [])
    key = d.get("key")
    v = {
        "type": t, "occupation": d.get("occupation") or "", "grades": [str(g) for g in d.get("grades") or []],
        "kp": d.get("kp") or "", "points": show(d.get("points")), "difficulty": show(d.get("difficulty")),
        "discrimination": show(d.get("discrimination")), "source": d.get("source") or "",
        "stem": d.get("stem") or "", "images": list(d.get("images") or []),
        "options": [(letter, options[i] if i < len(options) else "") for i, letter in enumerate(LETTERS)],
        "option_count": max(4, len(options)),
        "key_letters": key if isinstance(key, str) else "",
        "tf_key": {True: "true", False: "false"}.get(key, "") if t == "true_false" else "",
        "answers": list(d.get("answers") or []) or [""],
        "tolerance": show(d.get("tolerance")), "unit": d.get("unit") or "",
        "reference_answer": d.get("reference_answer") or "", "score_step": show(d.get("score_step", 0.5)),
        "marking_points": [(m.get("text", ""), show(m.get("points"))) for m in d.get("marking_points") or []]
        or [("", "")],
        "time_limit_min": show(d.get("time_limit_min")),
        "materials": "\n".join(d.get("materials") or []), "equipment": "\n".join(d.get("equipment") or []),
        "veto": "\n".join(d.get("veto") or []),
        "criteria": [{**c, "points": show(c.get("points"))} for c in d.get("criteria") or []]
        or [{"content": "", "element": "", "points": "", "standard": "", "mode": "deduction"}],
    }
    return v

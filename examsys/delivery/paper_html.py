"""The question panel and the questions of the candidate's paper page, as HTML.

Written in Python rather than Jinja because it is the hottest page of a sitting: a 100-question paper
rendered through the template loop cost about 12 ms of CPU per candidate (7,000 template output calls and
3,000 escapes), which at the start of a 1,000-candidate sitting is 12 s of CPU on the exam server. Here the
same markup costs about 1.5 ms. Every text from the bank or the candidate goes through
:func:`markupsafe.escape` (bank texts through a per-process memo of it); labels come translated from the caller. ``templates/delivery/paper.html`` puts the
two fragments in place; ``static/js/exam.js`` relies on this structure (ids ``q-<item>``, ``data-item``,
``data-type``, ``.answer``, ``.flag-box``, ``.save-state``, ``.prev``/``.next``, ``#qnav .qbtn``).
"""
from __future__ import annotations

from typing import Callable

from markupsafe import Markup, escape

from ..template_helpers import num


_ESCAPED: dict[str, str] = {}
_ESCAPED_MAX = 50_000


def _esc(text) -> str:
    """``escape(text)`` as ``str``, remembered: the stems and option texts of a frozen paper are the same
    strings for every candidate of a sitting, so each is escaped once per process, not once per page."""
    if type(text) is not str:
        return str(escape(text))
    out = _ESCAPED.get(text)
    if out is None:
        if len(_ESCAPED) >= _ESCAPED_MAX:
            _ESCAPED.clear()
        out = _ESCAPED[text] = str(escape(text))
    return out


def _checked(on: bool) -> str:
    return "checked" if on else ""


def _answer_html(it: dict, qid: str, labels: dict) -> str:
    t = it["type"]
    answer = it["answer"]
    name = f"q{qid}"
    if t in ("single_choice", "multiple_choice"):
        kind = "radio" if t == "single_choice" else "checkbox"
        chosen = set() if not answer else ({answer} if t == "single_choice" else set(answer))
        return "\n".join(
            f'<label class="option"><input type="{kind}" name="{name}" value="{_esc(o["id"])}" '
            f'{"checked" if o["id"] in chosen else ""}> <span class="olabel">{o["label"]}.</span> '
            f'<span class="otext">{_esc(o["text"])}</span></label>' for o in it["options"] or ())
    if t == "true_false":
        return (f'<label class="option"><input type="radio" name="{name}" value="true" {_checked(answer is True)}> '
                f'<span class="otext">{labels["true"]}</span></label>\n'
                f'<label class="option"><input type="radio" name="{name}" value="false" '
                f'{_checked(answer is False)}> <span class="otext">{labels["false"]}</span></label>')
    if t == "fill_blank":
        unit = f' <span class="unit">{_esc(it["unit"])}</span>' if it.get("unit") else ""
        return (f'<label class="fill">{labels["answer"]} <input type="text" name="{name}" maxlength="200" '
                f'value="{escape(answer or "")}" autocomplete="off" spellcheck="false">{unit}</label>')
    return (f'<label class="sr-only" for="ta{qid}">{labels["answer"]}</label>\n'
            f'<textarea id="ta{qid}" name="{name}" rows="8" maxlength="10000" spellcheck="false">'
            f'{escape(answer or "")}</textarea>')


def render(paper: dict, labels: dict, type_names: dict, media_url: Callable[[str], str]) -> tuple[Markup, Markup]:
    """``(navigation buttons, questions)`` of ``paper`` (:func:`examsys.services.attempts.paper`).

    ``labels``: already translated texts — ``question`` (with ``{n}``), ``points`` (with ``{p}``),
    ``saved`` (with ``{t}``), ``figure``, ``true``, ``false``, ``answer``, ``mark``, ``prev``, ``next``;
    ``type_names``: item type → its translated name; ``media_url(sha256)``: the URL of an item image.
    Option labels are the letters A–H (trusted); everything else is escaped."""
    labels = {k: _esc(v) for k, v in labels.items()}
    names = {k: _esc(v) for k, v in type_names.items()}
    nav: list[str] = []
    body: list[str] = []
    q_label, p_label, s_label = labels["question"], labels["points"], labels["saved"]
    tail = (f'<div class="qmove"><button type="button" class="prev">← {labels["prev"]}</button> '
            f'<button type="button" class="next">{labels["next"]} →</button></div>\n</section>')
    for sec in paper["sections"]:
        nav.append(f'<div class="qnav-sec">{names.get(sec["name"]) or _esc(sec["name"])}</div>'
                   '<div class="qnav-grid">')
        for it in sec["questions"]:
            qid = str(int(it["id"]))
            no = str(int(it["no"]))
            answered = " answered" if it["answer"] not in (None, "", []) else ""
            flagged = " flagged" if it["flagged"] else ""
            nav.append(f'<button type="button" class="qbtn{answered}{flagged}" data-item="{qid}" '
                       f'aria-label="{q_label.replace("{n}", no)}">{no}</button>')
            images = "".join(f'<img class="qimg" src="{_esc(media_url(sha))}" alt="{labels["figure"]}">'
                             for sha in it["images"] or ())
            saved = s_label.replace("{t}", _esc(it["saved_at"])) if it["saved_at"] else ""
            t = _esc(it["type"])
            body.append(
                f'<section class="question" id="q-{qid}" data-item="{qid}" data-type="{t}" '
                f'data-no="{no}" tabindex="-1">\n'
                f'<div class="qhead"><span class="qno">{no}.</span> '
                f'<span class="badge">{names.get(it["type"]) or t}</span> '
                f'<span class="muted">{p_label.replace("{p}", _esc(num(it["points"])))}</span></div>\n'
                f'<div class="stem">{_esc(it["stem"])}</div>\n{images}'
                f'<div class="answer">\n{_answer_html(it, qid, labels)}\n</div>\n'
                f'<div class="qfoot"><label class="flag"><input type="checkbox" class="flag-box" '
                f'{_checked(it["flagged"])}> {labels["mark"]}</label> '
                f'<span class="save-state{" saved" if it["saved_at"] else ""}" aria-live="polite">{saved}</span></div>\n'
                f'{tail}')
        nav.append("</div>")
    return Markup("\n".join(nav)), Markup("\n".join(body))

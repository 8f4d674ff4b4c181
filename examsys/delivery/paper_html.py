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


def _esc_id(option_id) -> str:
    """An option id (an opaque token of the attempt's layout, letters and digits) for an attribute: as it is
    when it is letters and digits only (nothing to escape; the usual case, and much cheaper than
    :func:`escape`), else escaped."""
    if type(option_id) is str and option_id.isalnum():
        return option_id
    return str(escape(option_id))


def _checked(on: bool) -> str:
    return "checked" if on else ""


def _answer_html(it: dict, qid: str, labels: dict, option_head: str) -> str:
    """The answer controls of one question. ``option_head``: the opening of a choice option's markup up to
    its value (:func:`_static_parts`)."""
    t = it["type"]
    answer = it["answer"]
    if option_head:  # single or multiple choice
        options = it["options"] or ()
        if not answer:  # (the usual case: a paper opened before any answer)
            return "\n".join([f'{option_head}{_esc_id(o["id"])}" > <span class="olabel">{o["label"]}.</span> '
                               f'<span class="otext">{_esc(o["text"])}</span></label>' for o in options])
        chosen = {answer} if t == "single_choice" else set(answer)
        return "\n".join([f'{option_head}{_esc_id(o["id"])}" {"checked" if o["id"] in chosen else ""}> '
                           f'<span class="olabel">{o["label"]}.</span> <span class="otext">{_esc(o["text"])}</span>'
                           '</label>' for o in options])
    name = f"q{qid}"
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


_FRAGMENTS: dict[tuple, tuple] = {}
_CHOICE_INPUT = {"single_choice": "radio", "multiple_choice": "checkbox"}


def _static_parts(it: dict, qid: str, labels: dict, names: dict, media_url) -> tuple[str, str, str, str]:
    """The parts of a question that are the same on every candidate's page (one language): ``(opening up to
    data-no, from data-no to the number, from the number to the answer, a choice option's opening up to its
    value or "")``; remembered per question and labels, and read again when the question's stem is another
    string (its item changed)."""
    key = (qid, labels["_id"])
    hit = _FRAGMENTS.get(key)
    if hit is not None and hit[0] is it["stem"]:
        return hit[1]
    t = _esc(it["type"])
    images = "".join(f'<img class="qimg" src="{_esc(media_url(sha))}" alt="{labels["figure"]}">'
                     for sha in it["images"] or ())
    kind = _CHOICE_INPUT.get(it["type"])
    parts = (f'<section class="question" id="q-{qid}" data-item="{qid}" data-type="{t}" data-no="',
             '" tabindex="-1">\n<div class="qhead"><span class="qno">',
             f'.</span> <span class="badge">{names.get(it["type"]) or t}</span> '
             f'<span class="muted">{labels["points"].replace("{p}", _esc(num(it["points"])))}</span></div>\n'
             f'<div class="stem">{_esc(it["stem"])}</div>\n{images}<div class="answer">\n',
             f'<label class="option"><input type="{kind}" name="q{qid}" value="' if kind else "")
    if len(_FRAGMENTS) >= _ESCAPED_MAX:
        _FRAGMENTS.clear()
    _FRAGMENTS[key] = (it["stem"], parts)  # (holding the stem: its identity is the check above)
    return parts


_LABELS: dict[tuple, dict] = {}


def _labels(labels: dict, type_names: dict) -> tuple[dict, dict]:
    """Escaped labels and type names, the same objects for the same texts (``_id`` tells the fragments of
    one language from another's)."""
    key = (tuple(sorted(labels.items())), tuple(sorted(type_names.items())))
    got = _LABELS.get(key)
    if got is None:
        esc = {k: _esc(v) for k, v in labels.items()}
        esc["_id"] = len(_LABELS)
        got = _LABELS[key] = (esc, {k: _esc(v) for k, v in type_names.items()})
    return got


def render(paper: dict, labels: dict, type_names: dict, media_url: Callable[[str], str]) -> tuple[Markup, Markup]:
    """``(navigation buttons, questions)`` of ``paper`` (:func:`examsys.services.attempts.paper`).

    ``labels``: already translated texts — ``question`` (with ``{n}``), ``points`` (with ``{p}``),
    ``saved`` (with ``{t}``), ``figure``, ``true``, ``false``, ``answer``, ``mark``, ``prev``, ``next``;
    ``type_names``: item type → its translated name; ``media_url(sha256)``: the URL of an item image.
    Option labels are the letters A–H (trusted); everything else is escaped. What is the same for every
    candidate (a question's opening, stem, images) is built once per process (:func:`_static_parts`)."""
    labels, names = _labels(labels, type_names)
    nav: list[str] = []
    body: list[str] = []
    q_label, s_label = labels["question"], labels["saved"]
    mark_on = f'\n</div>\n<div class="qfoot"><label class="flag"><input type="checkbox" class="flag-box" checked> ' \
              f'{labels["mark"]}</label> '
    mark_off = mark_on.replace(" checked>", " >")
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
            a, b, c, option_head = _static_parts(it, qid, labels, names, media_url)
            if it["saved_at"]:
                state = f'<span class="save-state saved" aria-live="polite">{s_label.replace("{t}", _esc(it["saved_at"]))}</span></div>\n'
            else:
                state = '<span class="save-state" aria-live="polite"></span></div>\n'
            body.append(f'{a}{no}{b}{no}{c}{_answer_html(it, qid, labels, option_head)}{mark_on if it["flagged"] else mark_off}'
                        f'{state}{tail}')
        nav.append("</div>")
    return Markup("\n".join(nav)), Markup("\n".join(body))

"""Candidate pages rendered once per process and variant, with slots for what differs per request.

At the start of a sitting every candidate of a room asks for the same pages within seconds (the login page,
核对信息, the paper, the waiting room). Rendering one of them through Jinja with its base layout costs about 1.5–2 ms
of CPU (some fifty gettext calls and three hundred context-local lookups), yet all that differs from one
candidate to the next is a handful of values: name, ticket, seat, the CSRF token, the questions. So each
page is rendered once per process, language and *variant* with a mark in place of each such value, split at
the marks, and every request joins the parts with its own values, escaped (about 0.05 ms).

The contract that keeps this correct:

- A template reads per-request values only as ``{{ slot.<name> }}`` (output as is: no filter, no test, no
  ``or``); :func:`render` fills each with ``escape(value)`` (a :class:`~markupsafe.Markup` value as it
  is), which is what Jinja's autoescape would have written. The CSRF token is the slot ``csrf`` (filled in
  for ``csrf_token()`` and ``form.csrf_token``), so a page can never carry another session's token.
- Every other value a template sees comes from ``variant``, which is part of the cache key (with the
  template, the language and the request path the page's links name): the same key, the same page.
- A page that shows flashed messages or a staff login is rendered the same way but not kept.
"""
from __future__ import annotations

import re

from flask import current_app, g, render_template, request, session
from flask_babel import get_locale
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup, escape

_MARK = "@@slot7f3a:{}@@"  # survives autoescape and tojson unchanged
_MARK_RE = re.compile(r"@@slot7f3a:(\w+)@@")
_CACHE_KEY = "examsys.slotted_pages"


class _Marks:
    """``slot.<name>`` in a template: the mark of that slot."""

    def __getattr__(self, name: str) -> str:
        if name.startswith("__"):
            raise AttributeError(name)
        return _MARK.format(name)


def _parts(template: str, variant: dict, fixed) -> list[str]:
    """The page split at its marks: ``[text, slot name, text, slot name, …, text]``."""
    field = current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")  # where Flask-WTF keeps the request's token
    token = g.pop(field, None)
    setattr(g, field, _MARK.format("csrf"))  # the page takes the mark
    try:
        # (``fixed`` only now: a form takes its CSRF token when it is made, and it must take the mark)
        context = {**(fixed() if fixed is not None else {}), **variant}
        html = render_template(template, slot=_Marks(), **context)
    finally:
        g.pop(field, None)
        if token is not None:
            setattr(g, field, token)
    return _MARK_RE.split(html)


def _keepable() -> bool:
    app = current_app
    return ("_flashes" not in session and not current_user.is_authenticated
            and not app.config.get("TEMPLATES_AUTO_RELOAD") and not app.debug)


def render(template: str, slots: dict[str, object], *, fixed=None, **variant) -> str:
    """``template`` with ``slot.<name>`` filled from ``slots`` (escaped unless Markup) and ``slot.csrf`` with
    this request's CSRF token. ``variant``: the template's other context, hashable values only (part of the
    cache key). ``fixed``: a function returning more context that renders the same for every request (an
    empty form, say), called only when the page is rendered. Raises ``KeyError`` for a slot the template
    names but ``slots`` lacks."""
    key = (template, str(get_locale()), request.path, tuple(sorted(variant.items())))
    cache = current_app.extensions.setdefault(_CACHE_KEY, {})
    parts = cache.get(key)
    if parts is None:
        keep = _keepable()  # (before rendering: the render takes the flashed messages out of the session)
        parts = _parts(template, variant, fixed)
        if keep:
            cache[key] = parts
    values = {"csrf": generate_csrf()}
    for name, value in slots.items():
        values[name] = value if isinstance(value, Markup) else escape(value)
    out = parts.copy()
    for i in range(1, len(out), 2):
        out[i] = values[out[i]]
    return "".join(out)

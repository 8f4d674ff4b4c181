"""Route access classification. Every view declares who may call it, so the URL-map test can
fail on any route that is not classified (a new route cannot ship unguarded).

Decorators:
- :func:`public` — anyone (login page, language switch, static).
- :func:`roles_required` — logged-in staff with one of the roles; ownership is checked by the view/service.
- :func:`candidate_required` — a logged-in candidate session (registered by the delivery blueprint).
"""
from __future__ import annotations

import functools
from typing import Callable

from flask import abort, g, jsonify, redirect, request, url_for
from flask_login import current_user

ACCESS_ATTR = "_examsys_access"


def _wants_json() -> bool:
    return request.is_json or request.accept_mimetypes.best == "application/json" or request.path.startswith("/api/")


def public(view: Callable) -> Callable:
    setattr(view, ACCESS_ATTR, ("public",))
    return view


def roles_required(*roles: str) -> Callable[[Callable], Callable]:
    """Allow staff users whose role is in ``roles`` (strings or :class:`examsys.models.Role`)."""
    names = tuple(getattr(r, "value", r) for r in roles)

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                if _wants_json():
                    return jsonify(error="login required", message="请先登录"), 401
                return redirect(url_for("auth.login", next=request.full_path))
            if current_user.role not in names:
                abort(403)
            return view(*args, **kwargs)

        setattr(wrapped, ACCESS_ATTR, ("roles", names))
        return wrapped

    return decorate


def candidate_required(view: Callable) -> Callable:
    """Allow a request carrying a valid candidate session; the delivery blueprint sets ``g.candidate_attempt_id``
    in its ``before_request`` (this decorator only refuses when it is missing)."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if getattr(g, "candidate_attempt_id", None) is None:
            if _wants_json():
                return jsonify(error="candidate login required", message="请重新登录考试"), 401
            return redirect(url_for("delivery.login"))
        return view(*args, **kwargs)

    setattr(wrapped, ACCESS_ATTR, ("candidate",))
    return wrapped


def access_of(view: Callable) -> tuple | None:
    """The access classification of a view function, or ``None`` when unclassified."""
    return getattr(view, ACCESS_ATTR, None)

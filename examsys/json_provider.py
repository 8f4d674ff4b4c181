"""Strict JSON for request bodies: RFC 8259 only.

Python's ``json`` accepts ``NaN``/``Infinity`` and turns ``1e400`` into ``inf``, and very deep nesting raises
``RecursionError`` — all of which would reach the services as values they cannot store (or escape as a 500).
Here every such body is a parse error (``ValueError``), which ``request.get_json()`` reports as a 400
(``silent=True`` gives ``None``), so the views refuse it with a clear message.
"""
from __future__ import annotations

import json
import math

from flask.json.provider import DefaultJSONProvider


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number out of range: {text[:40]}")
    return value


class StrictJSONProvider(DefaultJSONProvider):
    def loads(self, s, **kwargs):
        kwargs.setdefault("parse_constant", _reject_constant)
        kwargs.setdefault("parse_float", _finite_float)
        try:
            return json.loads(s, **kwargs)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None

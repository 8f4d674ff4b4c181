"""Text normalisation for answer matching and near-duplicate detection.

Three strengths:

* :func:`nfkc` — Unicode NFKC only: full-width letters, digits and punctuation become half-width
  (``"１２．５ ｍｍ"`` → ``"12.5 mm"``), compatibility forms are unified.
* :func:`normalize_answer` — for fill-blank marking: NFKC, all whitespace removed, case-folded.
  Punctuation is kept (``"M10×1.5"`` and ``"M10x1.5"`` differ).
* :func:`normalize_text` — for near-duplicate detection: NFKC, case-folded, whitespace, punctuation
  (Unicode categories P*: ``，。、；：？！（）【】“”`` …, and the ``____`` blank marker) removed.
"""

from __future__ import annotations

import math
import re
import unicodedata

__all__ = ["nfkc", "normalize_answer", "normalize_text", "parse_number", "split_number_unit"]

# Characters NFKC leaves alone but people type for a minus sign or a decimal point.
_EXTRA = str.maketrans({"\u2212": "-", "\u2013": "-", "\u2014": "-", "\u3002": "."})
_WS = re.compile(r"\s+")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def nfkc(text: str) -> str:
    """Unicode NFKC normal form of ``text`` (full-width → half-width, compatibility characters unified)."""
    return unicodedata.normalize("NFKC", text)


def normalize_answer(text: str) -> str:
    """Fill-blank comparison form: NFKC, whitespace removed, case-folded (``" Ａｂ c "`` → ``"abc"``)."""
    return _WS.sub("", nfkc(text)).casefold()


class _DropTable(dict):
    """``str.translate`` table dropping whitespace and punctuation (P*), filled lazily per code point."""

    def __missing__(self, code: int) -> int | None:
        ch = chr(code)
        value = None if ch.isspace() or unicodedata.category(ch).startswith("P") else code
        self[code] = value
        return value


_DROP = _DropTable()


def normalize_text(text: str) -> str:
    """Near-duplicate comparison form: NFKC, case-folded, whitespace and all punctuation removed.

    Punctuation = Unicode general categories ``P*`` (so ``(`` ``)`` ``，`` ``。`` ``_`` ``“`` go; symbols
    such as ``±`` ``°`` ``×`` ``+`` ``=`` stay because they carry meaning in technical items).
    """
    return nfkc(text).casefold().translate(_DROP)


def parse_number(text: str | int | float) -> float | None:
    """Parse a number typed by a person; ``None`` if ``text`` is not exactly one finite number.

    Accepts full-width digits and point (``"１２．５"``), surrounding and inner spaces (``"1 000"`` is *not*
    accepted: spaces may only surround the number), a Unicode minus ``−``, exponent notation.
    ``bool`` is not a number.
    """
    if isinstance(text, bool):
        return None
    if isinstance(text, (int, float)):
        return float(text) if math.isfinite(text) else None
    if not isinstance(text, str):
        return None
    s = nfkc(text).translate(_EXTRA).strip()
    if not _NUMBER.fullmatch(s):
        return None
    v = float(s)
    return v if math.isfinite(v) else None


def split_number_unit(text: str) -> tuple[float, str] | None:
    """Split ``"12.5mm"`` / ``"１２．５ ｍｍ"`` / ``"12.5"`` into ``(12.5, "mm")`` / ``(12.5, "")``.

    The unit is the NFKC text after the number with whitespace removed (case preserved). ``None`` when
    the text does not start with a number.
    """
    s = nfkc(text).translate(_EXTRA).strip()
    m = _NUMBER.match(s)
    if not m:
        return None
    v = float(m.group(0))
    if not math.isfinite(v):
        return None
    return v, _WS.sub("", s[m.end():])

"""The UI speaks Simplified Chinese: every translatable string in code and templates has a Chinese
translation in one of examsys/translations/zh/*.json (built into the catalogue by tools/build_catalog.py)."""
from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
import json

ROOT = Path(__file__).resolve().parents[2]
METHODS = [("examsys/**.py", "python"), ("templates/**.html", "jinja2")]
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "lazy_gettext": None}


def test_every_ui_string_has_a_chinese_translation():
    translated = set()
    for path in (ROOT / "examsys/translations/zh").glob("*.json"):
        translated |= {k for k, v in json.loads(path.read_text(encoding="utf-8")).items() if v}
    found = {}
    for filename, lineno, message, comments, context in extract_from_dir(
            str(ROOT), METHODS, keywords=KEYWORDS, options_map={"templates/**.html": {}}):
        msgid = message if isinstance(message, str) else message[0]
        found.setdefault(msgid, f"{filename}:{lineno}")
    missing = {m: where for m, where in found.items() if m not in translated}
    assert not missing, "untranslated UI strings (msgid -> first place):\n" + "\n".join(
        f"  {m!r} at {w}" for m, w in sorted(missing.items(), key=lambda kv: kv[1]))

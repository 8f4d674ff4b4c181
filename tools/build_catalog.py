"""Build the Chinese gettext catalogue from the per-feature JSON files.

Translations live in ``examsys/translations/zh/*.json`` (English msgid -> Chinese), one file per feature,
so that features can be translated independently. This script writes ``messages.po`` and compiles
``messages.mo`` (both generated; run by ``make install`` and so by ``make run`` / ``make test``).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import write_po

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "examsys" / "translations" / "zh"


def load_translations() -> dict[str, str]:
    merged: dict[str, str] = {}
    for path in sorted(SRC.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        for k, v in data.items():
            if k in merged and merged[k] != v:
                raise SystemExit(f"{path.name}: {k!r} translated differently elsewhere ({merged[k]!r} vs {v!r})")
            if re.search(r"%(?!\()", v.replace("%%", "")) or set(re.findall(r"%\((\w+)\)", v)) != set(re.findall(r"%\((\w+)\)", k)):
                raise SystemExit(f"{path.name}: {k!r}: the translation must keep the %(name)s placeholders "
                                 f"and write a literal percent sign as %% ({v!r})")
            merged[k] = v
    return merged


def main() -> None:
    catalog = Catalog(locale="zh", domain="messages")
    for msgid, msgstr in load_translations().items():
        catalog.add(msgid, msgstr)
    out = SRC / "LC_MESSAGES"
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "messages.po", "wb") as f:
        write_po(f, catalog, width=120)
    with open(out / "messages.mo", "wb") as f:
        write_mo(f, catalog)
    print(f"catalogue: {len(catalog)} messages")


if __name__ == "__main__":
    main()

"""Fill missing Chinese translations in messages.po from a JSON/py dict: python tools/po_fill.py FILE.json

The JSON maps English msgid -> Chinese msgstr. Existing translations are kept unless --force.
"""
import json
import sys

from babel.messages.pofile import read_po, write_po

PO = "examsys/translations/zh/LC_MESSAGES/messages.po"


def main(argv):
    force = "--force" in argv
    mapping = {}
    for path in [a for a in argv if not a.startswith("--")]:
        with open(path, encoding="utf-8") as f:
            mapping.update(json.load(f))
    with open(PO, "rb") as f:
        cat = read_po(f, locale="zh")
    filled = 0
    for msg in cat:
        if msg.id and isinstance(msg.id, str) and msg.id in mapping and (force or not msg.string):
            msg.string = mapping[msg.id]
            msg.flags.discard("fuzzy")
            filled += 1
    with open(PO, "wb") as f:
        write_po(f, cat, width=120)
    missing = [m.id for m in cat if m.id and not m.string]
    print(f"filled {filled}; still missing {len(missing)}")
    for m in missing:
        print("  ", json.dumps(m, ensure_ascii=False))


if __name__ == "__main__":
    main(sys.argv[1:])

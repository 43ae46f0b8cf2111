"""List untranslated messages, or fill them from a JSON file: a helper for `make i18n`.

    python scripts/po_todo.py                 # print msgids missing in de/en as JSON
    python scripts/po_todo.py fill de.json    # {"msgid": "German", ...}; en gets msgid
Plural entries take a list in the JSON: ["Eintrag", "Einträge"].
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent / "crm" / "translations"


def _path(lang: str) -> Path:
    return ROOT / lang / "LC_MESSAGES" / "messages.po"


def _missing(msg) -> bool:
    if isinstance(msg.string, tuple | list):
        return not all(msg.string)
    return not msg.string or msg.fuzzy


def main() -> None:
    catalogs = {}
    for lang in ("de", "en"):
        with _path(lang).open("rb") as fh:
            catalogs[lang] = read_po(fh, locale=lang)
    if len(sys.argv) == 1:
        todo = sorted(
            {
                m.id if isinstance(m.id, str) else m.id[0]
                for c in catalogs.values()
                for m in c
                if m.id and _missing(m)
            }
        )
        print(json.dumps({t: "" for t in todo}, ensure_ascii=False, indent=1))
        return
    german = json.loads(Path(sys.argv[2]).read_text("utf-8"))
    for lang, catalog in catalogs.items():
        for msg in catalog:
            if not msg.id or not _missing(msg):
                continue
            key = msg.id if isinstance(msg.id, str) else msg.id[0]
            if lang == "en":
                msg.string = msg.id if isinstance(msg.id, str) else tuple(msg.id)
            elif key in german and german[key]:
                value = german[key]
                msg.string = tuple(value) if isinstance(value, list) else value
            msg.flags.discard("fuzzy")
        with _path(lang).open("wb") as fh:
            write_po(fh, catalog, sort_output=True, omit_header=False, width=100)
        with (_path(lang).with_suffix(".mo")).open("wb") as fh:
            write_mo(fh, catalog)


if __name__ == "__main__":
    main()

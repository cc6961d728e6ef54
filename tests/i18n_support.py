"""Message catalogues for the tests: compiled the way `make install` compiles them,
and read back to check that every language is complete."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

TRANSLATIONS = Path(__file__).resolve().parent.parent / "petitions" / "translations"
SHIPPED = ("fr", "de", "it", "es", "fa", "ar")
# %(name)s, %(num)d, %s and a literal %%: what must survive translation unchanged.
PLACEHOLDER = re.compile(r"%(?:\([a-z_]+\))?[sdr%]")


def po_path(language: str) -> Path:
    return TRANSLATIONS / language / "LC_MESSAGES" / "messages.po"


def read_catalog(path: Path) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle)


def compile_catalogs() -> None:
    """Write each language's .mo next to its .po when it is missing or older
    (what `pybabel compile` does), so the suite also runs without `make`."""
    for po in TRANSLATIONS.glob("*/LC_MESSAGES/messages.po"):
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with mo.open("wb") as handle:
            write_mo(handle, read_catalog(po))


def placeholders(text: str) -> list[str]:
    return sorted(PLACEHOLDER.findall(text))


def problems(message: Message, plural_forms: int) -> list[str]:
    """What is wrong with one translated message: untranslated, fuzzy, or with
    placeholders that differ from the English."""
    found: list[str] = []
    ids = message.id if isinstance(message.id, tuple) else (message.id,)
    strings = message.string if isinstance(message.string, tuple) else (message.string,)
    if message.fuzzy:
        found.append("fuzzy")
    if isinstance(message.id, tuple) and len(strings) != plural_forms:
        found.append(f"{len(strings)} plural forms instead of {plural_forms}")
    if not all(strings):
        found.append("untranslated")
        return found
    wanted = placeholders(ids[-1])
    for string in strings:
        # A plural form may leave out the number (“one signature”), never add one.
        got = placeholders(string)
        if isinstance(message.id, tuple):
            if not set(got) <= set(wanted):
                found.append(f"placeholders {got} instead of {wanted}")
        elif got != wanted:
            found.append(f"placeholders {got} instead of {wanted}")
    return found

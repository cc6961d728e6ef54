"""ISO 3166-1 alpha-2 countries, named in the reader's language where Babel knows it."""

from __future__ import annotations

from functools import lru_cache

import pycountry
from babel import Locale, UnknownLocaleError

CODES: frozenset[str] = frozenset(c.alpha_2 for c in pycountry.countries)


@lru_cache(maxsize=32)
def choices(locale: str = "en") -> tuple[tuple[str, str], ...]:
    """(code, name) pairs for every country, sorted by name in ``locale``."""
    try:
        names = Locale.parse(locale).territories
    except (UnknownLocaleError, ValueError):
        names = {}
    pairs = [(c.alpha_2, names.get(c.alpha_2) or getattr(c, "common_name", None) or c.name)
             for c in pycountry.countries]
    return tuple(sorted(pairs, key=lambda pair: pair[1].casefold()))


def name(code: str, locale: str = "en") -> str:
    return dict(choices(locale)).get(code, code)

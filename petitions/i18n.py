"""Which language a page is in, and which way its text runs.

The choice, first match wins: a ``?lang=`` parameter (remembered in a cookie for
the next pages), the cookie, then the browser's Accept-Language. Only languages
whose catalogues ship are offered. Outside a request (CLI, Celery tasks) the
language is English unless the caller forces another (``flask_babel.force_locale``).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from babel import Locale
from babel.dates import format_date, format_timedelta
from babel.numbers import format_decimal
from flask import Flask, has_request_context, request
from flask_babel import get_locale
from markupsafe import Markup
from werkzeug.wrappers import Response

DEFAULT = "en"
# Code → the language's own name, as the language picker shows it.
LANGUAGES: dict[str, str] = {
    "en": "English",
    "fr": "Français",
    "de": "Deutsch",
    "it": "Italiano",
    "es": "Español",
    "fa": "فارسی",
    "ar": "العربية",
}
RTL = frozenset({"fa", "ar"})
COOKIE = "lang"
COOKIE_MAX_AGE = 365 * 24 * 3600


def requested_language() -> str | None:
    """The supported language named by ``?lang=``, if any."""
    wanted = request.args.get("lang", "").strip().lower()
    return wanted if wanted in LANGUAGES else None


def select_locale() -> str:
    """Flask-Babel's locale selector: ?lang, then the cookie, then Accept-Language."""
    if not has_request_context():
        return DEFAULT
    chosen = requested_language()
    if chosen:
        return chosen
    cookie = request.cookies.get(COOKIE, "")
    if cookie in LANGUAGES:
        return cookie
    return request.accept_languages.best_match(list(LANGUAGES)) or DEFAULT


def direction(locale: str) -> str:
    """"rtl" for languages written right to left, else "ltr"."""
    return "rtl" if locale.split("_")[0] in RTL else "ltr"


def current_language() -> str:
    return str(get_locale() or DEFAULT)


# Babel formats with the locale's separators but always writes ASCII digits; these are
# the digits of the numbering systems our languages' CLDR data names as their default
# (Persian: "arabext"; Arabic as spoken in Egypt or the Gulf: "arab"; plain "ar" is
# "latn" in CLDR, as in the Maghreb).
_DIGITS = {"arab": "٠١٢٣٤٥٦٧٨٩", "arabext": "۰۱۲۳۴۵۶۷۸۹"}


def localize_digits(text: str, locale: str | None = None) -> str:
    """``text`` with its ASCII digits written in the locale's default numbering system."""
    system = Locale.parse(locale or current_language()).default_numbering_system
    digits = _DIGITS.get(system)
    return text.translate(str.maketrans("0123456789", digits)) if digits else text


def format_number(value: float, locale: str | None = None) -> str:
    """A count as readers of the locale write it: "12,345", "۱۲٬۳۴۵"."""
    locale = locale or current_language()
    return localize_digits(format_decimal(value, locale=locale, numbering_system="default"),
                           locale)


def format_long_date(value: date, locale: str | None = None) -> str:
    """A date spelled out in the locale ("4 December 2026"): never an ISO date."""
    locale = locale or current_language()
    return localize_digits(format_date(value, format="long", locale=locale), locale)


def format_ago(moment: datetime, now: datetime, locale: str | None = None) -> str:
    """How long ago ``moment`` was, in words ("3 hours ago"); both times naive UTC."""
    locale = locale or current_language()
    delta = min(moment - now, timedelta(0))  # a clock a little ahead is "now", not "in"
    return localize_digits(format_timedelta(delta, add_direction=True, locale=locale),
                           locale)


def isolate(text: str) -> Markup:
    """User-written text set into a sentence, isolated from it (``<bdi>``): a Persian
    title in an English sentence, or an English name on a Persian page, keeps the
    punctuation around it where the sentence puts it."""
    return Markup("<bdi>%s</bdi>") % text


def language_url(code: str) -> str:
    """This page's address with ``?lang=code``, the other parameters kept."""
    args = request.args.copy()
    args["lang"] = code
    return f"{request.path}?{urlencode(list(args.items(multi=True)))}"


def _template_globals() -> dict[str, Any]:
    locale = current_language()
    return {"current_locale": locale, "text_direction": direction(locale),
            "languages": LANGUAGES, "language_url": language_url}


def _remember_choice(response: Response) -> Response:
    """Keep a ``?lang=`` choice in a cookie, so the next pages stay in that language."""
    chosen = requested_language()
    if chosen and request.cookies.get(COOKIE) != chosen:
        response.set_cookie(COOKIE, chosen, max_age=COOKIE_MAX_AGE, samesite="Lax",
                            secure=request.is_secure, httponly=True)
    return response


def init_app(app: Flask) -> None:
    app.context_processor(_template_globals)
    app.add_template_filter(format_number, "number")
    app.add_template_filter(format_long_date, "long_date")
    app.add_template_filter(isolate, "bdi")
    app.after_request(_remember_choice)

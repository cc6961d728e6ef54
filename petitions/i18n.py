"""Which language a page is in, and which way its text runs.

The choice, first match wins: a ``?lang=`` parameter (remembered in a cookie for
the next pages), the cookie, then the browser's Accept-Language. Only languages
whose catalogues ship are offered. Outside a request (CLI, Celery tasks) the
language is English unless the caller forces another (``flask_babel.force_locale``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import Flask, has_request_context, request
from flask_babel import get_locale
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
    app.after_request(_remember_choice)

"""Public pages and counts, rendered once and reused for a few seconds by each web process.

When an action goes viral, its page is asked for thousands of times a second, and for
seconds at a time it is the same page for everyone in the same language: the same
texts, the same count, the same recent signers. Only a few values differ from one
visitor to the next — the CSRF token bound to the visitor's session, and the bot
checks' stamp and puzzle. So a page is rendered once per address and language with a
placeholder where those go (a *hole*), kept for ``PUBLIC_CACHE_SECONDS``, and every
visitor gets a copy with their own values rendered into the holes: a small template
instead of the whole page and its five queries.

A view opts in by wrapping its rendering in ``serve``; a template marks a hole with
the ``visitor_fields`` global. Only answers with status 200 are kept. The cache lives
in the application (``app.extensions``), in memory, bounded, and is not shared between
processes: an organizer's edit shows everywhere within ``PUBLIC_CACHE_SECONDS``.
``PUBLIC_CACHE_SECONDS=0`` turns it off (the test suite does, except where it tests it).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, current_app, g, request
from flask_babel import get_locale
from markupsafe import Markup
from werkzeug.wrappers import Response

EXTENSION = "page_cache"
MAX_ENTRIES = 512  # pages (action, language, query string): the oldest go first
VISITOR_FIELDS = "public/_visitor_fields.html"
# A placeholder no text can contain: chosen at random when the process starts.
_MARK = f"<!--visitor-fields-{secrets.token_hex(16)}-->"


@dataclass(frozen=True)
class PuzzleTarget:
    """What the bot checks need to know of an action, kept with a cached page so that a
    visitor's puzzle can be made without loading the action."""

    id: int
    proof_of_work: bool


@dataclass(frozen=True)
class Hole:
    csrf: bool
    target: PuzzleTarget


@dataclass
class Entry:
    expires: float
    parts: list[str]               # the page split at its holes: len(holes) + 1 parts
    holes: list[Hole]
    mimetype: str
    headers: list[tuple[str, str]] = field(default_factory=list)

    def body(self) -> str:
        return _filled(self.parts, self.holes)


class PageCache:
    """A bounded, thread-safe map from a request's key to its rendered answer."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._entries: OrderedDict[tuple[str, ...], Entry] = OrderedDict()
        self._lock = threading.Lock()
        self.max_entries = max_entries

    def get(self, key: tuple[str, ...], now: float) -> Entry | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.expires <= now:
                return None
            self._entries.move_to_end(key)
            return entry

    def put(self, key: tuple[str, ...], entry: Entry) -> None:
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


Rendered = str | tuple[str, int] | Response | tuple[Response, int]


def serve(produce: Callable[[], Rendered], *, by_language: bool = True) -> Response:
    """Answer a GET from the cache, or with ``produce()`` (then kept if it is a 200).

    The key is the path, the query string and the page's language: everything a
    public page depends on besides the database, which it may show up to
    ``PUBLIC_CACHE_SECONDS`` old. An answer the same in every language (JSON figures)
    passes ``by_language=False``: working out the visitor's language is a good part
    of the cost of a hit.
    """
    ttl = current_app.config["PUBLIC_CACHE_SECONDS"]
    if not ttl or request.method not in ("GET", "HEAD"):
        return current_app.make_response(produce())
    cache: PageCache = current_app.extensions[EXTENSION]
    language = str(get_locale()) if by_language else ""
    key = (request.path, request.query_string.decode("latin-1"), language)
    now = time.monotonic()
    entry = cache.get(key, now)
    if entry is None:
        g.page_holes = holes = []
        try:
            answer = current_app.make_response(produce())
        finally:
            g.page_holes = None
        if answer.status_code != 200 or answer.direct_passthrough or answer.is_streamed:
            return _without_marks(answer, holes)
        parts = answer.get_data(as_text=True).split(_MARK)
        entry = Entry(now + ttl, parts, holes, answer.mimetype or "text/html",
                      [(name, value) for name, value in answer.headers.items()
                       if name in _KEPT_HEADERS])
        cache.put(key, entry)
    response = Response(entry.body(), mimetype=entry.mimetype)
    response.headers.extend(entry.headers)
    return response


_KEPT_HEADERS = frozenset({"Cache-Control", "Access-Control-Allow-Origin", "ETag"})


def _without_marks(answer: Response, holes: list[Hole]) -> Response:
    """An answer not worth keeping (an error page, say) still gets its holes filled."""
    if holes:
        answer.set_data(_filled(answer.get_data(as_text=True).split(_MARK), holes))
    return answer


def _filled(parts: list[str], holes: list[Hole]) -> str:
    """The page with each visitor's fields rendered into its holes."""
    if not holes:
        return parts[0]
    pieces = [parts[0]]
    for hole, part in zip(holes, parts[1:], strict=True):
        pieces.append(_render_visitor_fields(hole))
        pieces.append(part)
    return "".join(pieces)


def visitor_fields(target: Any, *, csrf: bool = True) -> Markup:
    """The signing form's per-visitor fields (template global). While a page is being
    cached, a placeholder that ``serve`` fills for each visitor."""
    hole = Hole(csrf, PuzzleTarget(target.id, bool(target.proof_of_work)))
    holes: list[Hole] | None = g.get("page_holes")
    if holes is None:
        return Markup(_render_visitor_fields(hole))
    holes.append(hole)
    return Markup(_MARK)


def _render_visitor_fields(hole: Hole) -> str:
    # The template directly, without Flask's context processors: it needs none of them,
    # and this runs for every visitor.
    template = current_app.jinja_env.get_template(VISITOR_FIELDS)
    return template.render(csrf=hole.csrf, action=hole.target)


def init_app(app: Flask) -> None:
    app.extensions[EXTENSION] = PageCache()
    app.jinja_env.globals["visitor_fields"] = visitor_fields

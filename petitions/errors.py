"""Error pages for people and JSON errors for the API: never a bare 500."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.wrappers import Response

log = logging.getLogger(__name__)


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def api_error(status: int, message: str, **extra: object) -> tuple[Response, int]:
    return jsonify({"error": {"status": status, "message": message, **extra}}), status


# The page title and text of common errors in the reader's language; Werkzeug's own
# are English only. A description given where the error was raised is kept.
ERROR_TEXTS = {
    400: (_l("Bad request"), _l("The browser sent a request this site could not understand.")),
    403: (_l("Forbidden"), _l("You don't have the permission to see this page.")),
    404: (_l("Page not found"), _l("There is nothing at this address. Check it, or start "
                                   "from the list of actions.")),
    405: (_l("Method not allowed"), _l("This page can't be used like this.")),
    410: (_l("Gone"), _l("This page is no longer available.")),
    413: (_l("Too large"), _l("What was sent is too large.")),
    500: (_l("Something went wrong"), _l("An error on our side stopped this page. Please "
                                         "try again in a moment.")),
}


def _headers(error: HTTPException) -> list[tuple[str, str]]:
    """The headers the exception carries (``Allow`` on a 405, ``WWW-Authenticate`` on a
    401, ``Retry-After``...), without its HTML content type: our answer sets its own."""
    return [(name, value) for name, value in error.get_headers()
            if name.lower() != "content-type"]


def _handle_http(error: HTTPException) -> tuple[Response | str, int, list[tuple[str, str]]]:
    status = error.code or 500
    if _wants_json():
        return (*api_error(status, error.description or error.name), _headers(error))
    title, message = error.name, error.description
    if status in ERROR_TEXTS:
        title = str(ERROR_TEXTS[status][0])
        if error.description == type(error).description:
            message = str(ERROR_TEXTS[status][1])
    return render_template("errors/error.html", status=status, title=title,
                           message=message), status, _headers(error)


def _handle_csrf(error: CSRFError) -> tuple[Response | str, int]:
    message = gettext("This form has expired or was sent from another page. Please go back, "
                      "reload the page, and send the form again.")
    if _wants_json():
        return api_error(400, message)
    return render_template("errors/error.html", status=400, title=gettext("Form expired"),
                           message=message), 400


def _handle_unexpected(error: Exception) -> tuple[Response | str, int, list[tuple[str, str]]]:
    # The route's pattern, not the path: a path can carry a confirmation token.
    route = request.url_rule.rule if request.url_rule else "(no route)"
    log.exception("Unhandled error on %s %s", request.method, route)
    return _handle_http(InternalServerError())


def register(app: Flask) -> None:
    app.register_error_handler(CSRFError, _handle_csrf)
    app.register_error_handler(HTTPException, _handle_http)
    app.register_error_handler(Exception, _handle_unexpected)

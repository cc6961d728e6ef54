"""Error pages for people and JSON errors for the API: never a bare 500."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from flask_babel import gettext
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.wrappers import Response

log = logging.getLogger(__name__)


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def api_error(status: int, message: str, **extra: object) -> tuple[Response, int]:
    return jsonify({"error": {"status": status, "message": message, **extra}}), status


def _handle_http(error: HTTPException) -> tuple[Response | str, int]:
    status = error.code or 500
    if _wants_json():
        return api_error(status, error.description or error.name)
    return render_template("errors/error.html", status=status, title=error.name,
                           message=error.description), status


def _handle_csrf(error: CSRFError) -> tuple[Response | str, int]:
    message = gettext("This form has expired or was sent from another page. Please go back, "
                      "reload the page, and send the form again.")
    if _wants_json():
        return api_error(400, message)
    return render_template("errors/error.html", status=400, title=gettext("Form expired"),
                           message=message), 400


def _handle_unexpected(error: Exception) -> tuple[Response | str, int]:
    # The route's pattern, not the path: a path can carry a confirmation token.
    route = request.url_rule.rule if request.url_rule else "(no route)"
    log.exception("Unhandled error on %s %s", request.method, route)
    return _handle_http(InternalServerError())


def register(app: Flask) -> None:
    app.register_error_handler(CSRFError, _handle_csrf)
    app.register_error_handler(HTTPException, _handle_http)
    app.register_error_handler(Exception, _handle_unexpected)

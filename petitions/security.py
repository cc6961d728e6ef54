"""Rate limits and security headers, installed on the app by ``init_app``.

Rate limits (Flask-Limiter) sit on the routes a flood would hit: signing, on the
action page and the embeddable widget alike (per IP address and action; the limit
per email address is counted by the vault worker that opens the sealed signature,
``services.intake``, since the web tier must not compute signers' digests),
joining the urgent-action network (per IP address and per email address), asking
for a new confirmation link (per email address), logging in (per IP address) and
the API (per token). The limits are settings, read on every request, so an operator
can change them without code.
Counters are keyed by keyed digests: the limiter's storage (Redis) never holds an
address, an IP address or a token.

The headers forbid inline scripts and styles, framing (except the embed widget),
MIME sniffing and leaking full URLs in the Referer header.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable

from flask import Flask, current_app, render_template, request
from flask_babel import gettext
from flask_limiter import Limiter, RateLimitExceeded
from sqlalchemy import select
from werkzeug.wrappers import Response

from petitions import botcheck
from petitions.crypto import vault
from petitions.errors import api_error

LIMITER = "petitions.limiter"
EMBED_ENDPOINTS = botcheck.EMBED_ENDPOINTS
_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; base-uri 'none'; object-src 'none'")


def _digest(value: str, purpose: str) -> str:
    return vault().digest(value, purpose)[:24]


def client_key() -> str:
    """The client's IP address as a keyed digest (ProxyFix has already picked it)."""
    return "ip:" + _digest(request.remote_addr or "unknown", "ratelimit-ip")


def sign_key() -> str:
    return f"{client_key()}:{(request.view_args or {}).get('slug', '')}"


def resend_key() -> str:
    """The email digest of the signature the link belongs to: a new link per address,
    however many links someone holds. Links we don't know count against the client's
    IP address, so guessing tokens doesn't get a fresh count with every guess."""
    from petitions.extensions import db
    from petitions.models import Signature
    from petitions.services.signing import token_digest

    token = str((request.view_args or {}).get("token", ""))
    email_digest = db.session.scalar(select(Signature.email_digest)
                                     .where(Signature.token_digest == token_digest(token)))
    return "email:" + email_digest[:24] if email_digest else client_key()


def _posted_email() -> str:
    """The email address the posted form names, as the signing rules compare addresses."""
    from petitions.services.signing import SigningError, normalize_email

    address = request.form.get("email", "")
    try:
        return normalize_email(address).lookup_key
    except SigningError:
        return address.strip().casefold()


def email_key() -> str:
    """The email address a joining form names, whether or not it joined before: the
    count is the same for everyone, and tells nothing."""
    return "email:" + _digest(_posted_email(), "ratelimit-email")


def api_key() -> str:
    """The bearer token's SHA-256 (what the database keeps too), else the IP address."""
    from petitions.auth.access import bearer_token

    token = bearer_token()
    if token:
        return "token:" + hashlib.sha256(token.encode()).hexdigest()[:24]
    return client_key()


def _setting(name: str) -> Callable[[], str]:
    return lambda: current_app.config[name]


def _limits_off() -> bool:
    return not current_app.config["RATELIMIT_ENABLED"]


def _too_many_requests(error: RateLimitExceeded) -> tuple[Response | str, int]:
    current = limiter_of(current_app).current_limit
    retry_after = max(1, math.ceil(current.reset_at - time.time())) if current else 60
    message = gettext("Too many requests from you in a short time. Please wait a little "
                      "and try again.")
    if request.path.startswith("/api/"):
        response, status = api_error(429, message, retry_after=retry_after)
    else:
        response = current_app.make_response(
            (render_template("errors/429.html", message=message, retry_after=retry_after),
             429))
        status = 429
    response.headers["Retry-After"] = str(retry_after)
    return response, status


def _install_rate_limits(app: Flask) -> None:
    # Flask-Limiter reads RATELIMIT_ENABLED once, at init_app, and initializes nothing
    # when it is false. The limiter is always initialized here, and our request filter
    # reads the setting per request instead, so it can be switched on a running app.
    enabled = app.config["RATELIMIT_ENABLED"]
    app.config["RATELIMIT_ENABLED"] = True
    limiter = Limiter(key_func=client_key, strategy="fixed-window")
    limiter.init_app(app)
    app.config["RATELIMIT_ENABLED"] = enabled
    limiter.request_filter(_limits_off)
    app.extensions[LIMITER] = limiter

    views = app.view_functions
    post = ["POST"]
    # The action page and its embeddable widget share one count per address and action.
    sign_limit = limiter.shared_limit(_setting("SIGN_RATE_LIMIT"), scope="sign",
                                      key_func=sign_key, methods=post)
    for endpoint in ("public.action", "public.embed"):
        views[endpoint] = sign_limit(views[endpoint])
    network = limiter.limit(_setting("NETWORK_RATE_LIMIT"), key_func=client_key,
                            methods=post, scope="network-ip")(views["public.network_join"])
    views["public.network_join"] = limiter.limit(
        _setting("NETWORK_EMAIL_RATE_LIMIT"), key_func=email_key, methods=post,
        scope="network-email")(network)
    views["public.resend"] = limiter.limit(
        _setting("RESEND_RATE_LIMIT"), key_func=resend_key, methods=post,
        scope="resend")(views["public.resend"])
    # Per client only: a limit per account would let a stranger lock its owner out. The
    # accounts service slows failures per account and client together.
    views["auth.login"] = limiter.limit(_setting("LOGIN_RATE_LIMIT"), key_func=client_key,
                                        methods=post, scope="login-ip")(views["auth.login"])
    limiter.shared_limit(_setting("API_RATE_LIMIT"), scope="api",
                         key_func=api_key)(app.blueprints["api"])
    app.register_error_handler(RateLimitExceeded, _too_many_requests)


def limiter_of(app: Flask) -> Limiter:
    """The app's limiter (Flask-Limiter keeps a set of them under "limiter")."""
    return app.extensions[LIMITER]


def _frame_ancestors() -> str:
    if request.endpoint in EMBED_ENDPOINTS:
        return current_app.config["EMBED_FRAME_ANCESTORS"] or "'none'"
    return "'none'"


def _security_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("Content-Security-Policy",
                       f"{_CSP}; frame-ancestors {_frame_ancestors()}")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    if request.endpoint not in EMBED_ENDPOINTS:
        headers.setdefault("X-Frame-Options", "DENY")
    if current_app.config["APP_ENV"] == "production":
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    return response


def init_app(app: Flask) -> None:
    """Install the rate limits and the headers; call after the blueprints are registered."""
    _install_rate_limits(app)
    app.after_request(_security_headers)
    botcheck.init_app(app)

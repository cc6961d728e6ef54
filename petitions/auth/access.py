"""Who may see what: the checks every console view and API route makes.

Pages: no session → redirect to the login page; API: no token or an expired one →
401 JSON, a token without the scope a route needs → 403 JSON.
An organizer touching an action that is not theirs → 403; admins may do everything.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import abort, g, request
from flask_babel import gettext
from flask_login import current_user, login_required

from petitions.errors import api_error
from petitions.models import Action, Scope, User, utcnow
from petitions.services import accounts
from petitions.services.actions import get_action

F = TypeVar("F", bound=Callable[..., Any])


def admin_required(view: F) -> F:
    @wraps(view)
    @login_required
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_admin:
            abort(403)
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def refuse_cross_site(view: F) -> F:
    """Downloads of signers' data: refused (403) when the browser says another site
    started the request (``Sec-Fetch-Site: cross-site``), so that a link or form on
    another site can't make a logged-in organizer's browser fetch them. Browsers that
    don't send the header are held off by the POST and its CSRF token."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if request.headers.get("Sec-Fetch-Site", "").strip().lower() == "cross-site":
            abort(403)
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def managed_action_or_abort(slug: str, user: User) -> Action:
    """The action at ``slug`` if ``user`` may manage it: 404 if none, 403 if not theirs."""
    action = get_action(slug)
    if action is None:
        abort(404)
    if not accounts.can_manage(user, action):
        abort(403)
    return action


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def token_required(scope: Scope, *, admin: bool = False) -> Callable[[F], F]:
    """API routes: a valid, unexpired bearer token (401 otherwise) granted ``scope``
    (403), of an admin if ``admin`` (403)."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            token = bearer_token()
            record = accounts.find_token(token) if token else None
            if record is None or record.expires_at <= utcnow():
                message = (gettext("This API token has expired; ask an admin for a new one.")
                           if record is not None else
                           gettext("A valid API token is required "
                                   "(Authorization: Bearer <token>)."))
                response, status = api_error(401, message)
                response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
                return response, status
            if not record.allows(scope):
                return api_error(403, gettext("This API token lacks the “%(scope)s” scope.",
                                              scope=str(scope)))
            if admin and not record.user.is_admin:
                return api_error(403, "Only admins may do this.")
            g.api_user = record.user
            return view(*args, **kwargs)

        wrapped.required_scope = scope  # type: ignore[attr-defined] # read by the tests
        return wrapped  # type: ignore[return-value]

    return decorator

"""Builders for the API tests: staff accounts, their tokens, and request bodies."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from typing import Any

from petitions.api import openapi
from petitions.extensions import db
from petitions.models import Action, User
from petitions.services import accounts

_sequence = itertools.count(1)


def make_staff(role: str = "organizer", email: str | None = None) -> User:
    return accounts.create_user(email or f"{role}{next(_sequence)}@staff.example", role)


def make_token(user: User, scopes: Iterable[str] | None = None) -> str:
    """A token of ``user``: with every scope unless ``scopes`` are given."""
    return accounts.create_token(user, name="test", scopes=scopes)[1]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def staff_headers(role: str = "admin", action: Action | None = None) -> dict[str, str]:
    """The Authorization header of a new staff member; an organizer is assigned to
    ``action`` if one is given."""
    user = make_staff(role)
    if action is not None:
        action.organizers.append(user)
        db.session.commit()
    return bearer(make_token(user))


def action_body(**overrides: Any) -> dict[str, Any]:
    """A complete, valid body for POST /api/v1/actions."""
    n = next(_sequence)
    body: dict[str, Any] = {
        "slug": f"api-action-{n}",
        "title": f"Free the detained journalists, appeal {n}",
        "summary": "Three journalists are held without charge.",
        "body": "They were arrested for **reporting**.",
        "demands": ["Release them now.", "Drop all charges."],
        "targets": [{"name": "Minister of Justice", "title": "Minister",
                     "organization": "Ministry of Justice", "email": "minister@gov.example"}],
        "goal": 5000,
        "deadline": "2031-01-15",
        "language": "en",
        "organizers": [],
        "status": "draft",
    }
    body.update(overrides)
    return body


# --- the OpenAPI description -------------------------------------------------------------

def openapi_path(rule: str) -> str:
    """A Flask rule as the description names it: ``/api/v1/actions/<slug>`` is
    ``/actions/{slug}`` (the description's server is ``/api/v1``)."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.removeprefix("/api/v1"))


def public_operations() -> set[tuple[str, str]]:
    """(method, path) of every operation the description marks as public (``security: []``)."""
    return {(method.upper(), path)
            for path, item in openapi.SPEC["paths"].items()
            for method, op in item.items()
            if method != "parameters" and op.get("security") == []}

"""Test data for the organizer console: staff users, logins, signatures in bulk, CSV files."""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import insert

from petitions.extensions import db
from petitions.models import Action, Signature, SignatureStatus, User, utcnow
from petitions.services import accounts, counting
from petitions.services.signing import email_digest
from tests.account_factories import log_in
from tests.factories import csrf_token

PASSWORD = "a long enough test password"
_sequence = itertools.count(1)


def make_user(role: str = "organizer", actions: list[Action] | None = None) -> User:
    user = accounts.create_user(f"staff{next(_sequence)}@example.org", role, password=PASSWORD)
    for action in actions or []:
        action.organizers.append(user)
    db.session.commit()
    return user


def login(client: FlaskClient, user: User) -> None:
    log_in(client, user, PASSWORD)


def download(client: FlaskClient, url: str, data: dict[str, str] | None = None,
             **kwargs: Any):  # type: ignore[no-untyped-def]
    """POST a console download (exports, delivery files) the way its button does: with
    the CSRF token of the console's dashboard."""
    token = csrf_token(client, "/console/")
    return client.post(url, data={**(data or {}), "csrf_token": token}, **kwargs)


def bulk_signatures(action: Action, count: int, *, status: SignatureStatus =
                    SignatureStatus.CONFIRMED, confirmed_at: datetime | None = None,
                    each: Callable[[int], dict[str, Any]] | None = None,
                    **fields: Any) -> None:
    """Insert ``count`` signatures in one statement, encrypted like any other, and count them.

    Much faster than signing and confirming one by one; each gets a distinct last
    name ``Signer<n>`` and address unless ``fields`` (for all) or ``each(i)`` (for
    the i-th) says otherwise.
    """
    now = utcnow()
    confirmed = status == SignatureStatus.CONFIRMED
    rows = []
    for i in range(count):
        n = next(_sequence)
        email = f"bulk{n}@example.org"
        rows.append({
            "action_id": action.id, "first_name": "Bulk", "last_name": f"Signer{n}",
            "email": email, "email_digest": email_digest(email), "country": "FR",
            "postcode": None, "comment": None, "updates_opt_in": False, "status": status,
            "locale": "en", "created_at": now,
            "confirmed_at": (confirmed_at or now) if confirmed else None, **fields,
            **(each(i) if each else {})})
    db.session.execute(insert(Signature), rows)
    counting.add(action.id, confirmed=count if confirmed else 0,
                 pending=0 if confirmed else count)
    db.session.commit()


def csv_bytes(rows: list[list[str]], *, delimiter: str = ",", bom: bool = False) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter).writerows(rows)
    return (("\ufeff" if bom else "") + buffer.getvalue()).encode()


def parse_csv_text(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))

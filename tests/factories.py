"""Small builders for test data: call them, override what the test is about."""

from __future__ import annotations

import itertools
import re
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select

from petitions.extensions import db
from petitions.models import Action, OutboundEmail, OutboxStatus, Signature
from petitions.services import mail
from petitions.services.actions import TargetInput, create_action
from petitions.services.signing import SignatureInput, sign

_sequence = itertools.count(1)


def make_action(**overrides: Any) -> Action:
    n = next(_sequence)
    values: dict[str, Any] = {
        "slug": f"action-{n}",
        "title": f"Protect the residents, appeal {n}",
        "summary": "A short summary of the appeal.",
        "body": "The **appeal** text.",
        "demands": ["Remove the armed units.", "Restore water and power."],
        "targets": [TargetInput(name="UN Secretary-General", email="sg@un.example")],
        "goal": 100,
        "publish": True,
    }
    values.update(overrides)
    return create_action(**values)


def signature_input(**overrides: Any) -> SignatureInput:
    n = next(_sequence)
    values: dict[str, Any] = {
        "first_name": "Leila",
        "last_name": f"Tester{n}",
        "email": f"signer{n}@example.org",
        "country": "FR",
    }
    values.update(overrides)
    return SignatureInput(**values)


def form_data(**overrides: Any) -> dict[str, str]:
    """What a browser posts from the signing form (without the CSRF token)."""
    n = next(_sequence)
    values = {
        "first_name": "Leila",
        "last_name": f"Tester{n}",
        "email": f"signer{n}@example.org",
        "country": "FR",
        "postcode": "",
        "comment": "",
    }
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not None}


def make_signature(action: Action, **overrides: Any) -> Signature:
    outcome = sign(action, signature_input(**overrides))
    signature = db.session.get(Signature, outcome.signature_id)
    assert signature is not None
    return signature


def csrf_token(client: FlaskClient, url: str) -> str:
    page = client.get(url).get_data(as_text=True)
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page) or re.search(
        r'name="csrf_token" value="([^"]+)"', page)
    assert match, f"no CSRF token on {url}"
    return match.group(1)


def post_form(client: FlaskClient, url: str, data: dict[str, str], **kwargs: Any):  # type: ignore[no-untyped-def]
    """POST a form the way a browser does: with the CSRF token from the page."""
    return client.post(url, data={**data, "csrf_token": csrf_token(client, url)}, **kwargs)


def deliver_pending_mail() -> int:
    """Run the email task's body for every pending outbox row, as a worker would."""
    ids = db.session.scalars(select(OutboundEmail.id)
                             .where(OutboundEmail.status == OutboxStatus.PENDING)).all()
    for outbox_id in ids:
        mail.deliver(outbox_id)
    return len(ids)

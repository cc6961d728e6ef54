"""Small builders for test data: call them, override what the test is about."""

from __future__ import annotations

import itertools
import json
import re
from datetime import timedelta
from html.parser import HTMLParser
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select

from petitions.extensions import db
from petitions.models import Action, OutboundEmail, OutboxStatus, Signature
from petitions.services import confirming, intake, mail
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
    """Run the email task's body for every pending outbox row, as a worker would
    (after opening any sealed signature still waiting, as a vault worker would)."""
    intake.process_pending()
    ids = db.session.scalars(select(OutboundEmail.id)
                             .where(OutboundEmail.status == OutboxStatus.PENDING)).all()
    for outbox_id in ids:
        mail.deliver(outbox_id)
    return len(ids)


# --- added for issue 2 (signing and confirming) ------------------------------------------

def confirmation_token(signature: Signature) -> str:
    """The token of the newest confirmation email queued for ``signature``.

    The database keeps only a digest of it; the token itself is in the (encrypted)
    outbox payload until the email is sent, so read it before delivering the mail.
    """
    row = db.session.scalars(select(OutboundEmail)
                             .where(OutboundEmail.signature_id == signature.id)
                             .order_by(OutboundEmail.id.desc())).first()
    assert row is not None and row.payload, "no unsent confirmation email for this signature"
    return json.loads(row.payload)["token"]


def make_confirmed_signature(action: Action, **overrides: Any) -> Signature:
    signature = make_signature(action, **overrides)
    check = confirming.confirm(confirmation_token(signature))
    assert check.state == confirming.TokenState.CONFIRMED
    return signature


def age_signature(signature: Signature, **delta: float) -> Signature:
    """Move the signature's link and its last email back in time, e.g. ``hours=200``."""
    shift = timedelta(**delta)
    assert signature.token_issued_at and signature.confirmation_sent_at
    signature.token_issued_at -= shift
    signature.confirmation_sent_at -= shift
    db.session.commit()
    return signature


def fresh(model: type[Any], ident: int) -> Any:
    """The row as the database has it now, not as this session remembers it."""
    db.session.expire_all()
    return db.session.get(model, ident)


class Element:
    def __init__(self, tag: str, attrs: dict[str, str]) -> None:
        self.tag = tag
        self.attrs = attrs
        self.parts: list[str] = []
        self.children: list[Element] = []

    @property
    def text(self) -> str:
        return " ".join("".join(self.parts).split())

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.attrs.get(name, default)

    def find_all(self, tag: str | None = None, **attrs: str) -> list[Element]:
        found = []
        for child in self.children:
            if (tag is None or child.tag == tag) and all(
                    child.attrs.get(k.rstrip("_").replace("_", "-")) == v
                    for k, v in attrs.items()):
                found.append(child)
            found.extend(child.find_all(tag, **attrs))
        return found

    def find(self, tag: str | None = None, **attrs: str) -> Element | None:
        found = self.find_all(tag, **attrs)
        return found[0] if found else None


class _PageParser(HTMLParser):
    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
            "source", "track", "wbr"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v if v is not None else "" for k, v in attrs})
        self.stack[-1].children.append(element)
        if tag not in self.VOID:
            self.stack.append(element)

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        for element in self.stack:
            element.parts.append(data)


def parse_html(html: str) -> Element:
    """A small DOM of a page: ``find``/``find_all`` by tag and attributes, ``text``."""
    parser = _PageParser()
    parser.feed(html)
    parser.close()
    return parser.root


def field_error(html: str, name: str) -> str | None:
    """The error message tied to the form field ``name`` by aria-describedby, if any."""
    page = parse_html(html)
    field = next((e for e in page.find_all() if e.get("name") == name
                  and e.tag in ("input", "select", "textarea")), None)
    assert field is not None, f"no field {name!r} on the page"
    described_by = field.get("aria-describedby")
    if not described_by:
        return None
    error = page.find(id=described_by)
    assert error is not None, f"{name!r} points at a missing element #{described_by}"
    assert field.get("aria-invalid") == "true"
    return error.text

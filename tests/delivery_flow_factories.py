"""Test data for deliveries: an action with targets and signers in several scripts, the
organizer who asks for the delivery, and readers for what the targets receive."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from pypdf import PdfReader
from sqlalchemy import select

from petitions.extensions import db
from petitions.models import Action, OutboundEmail, OutboxKind, OutboxStatus, User
from petitions.services import accounts, paper
from petitions.services.actions import TargetInput
from tests.api_factories import bearer, make_token
from tests.factories import (
    deliver_pending_mail,
    make_action,
    make_confirmed_signature,
    make_signature,
)
from tests.organizer_factories import csv_bytes

GUTERRES = TargetInput("António Guterres", "Secretary-General", "United Nations",
                       "sg@un.example")
TURK = TargetInput("Volker Türk", "High Commissioner for Human Rights", "OHCHR",
                   "hc@ohchr.example")
# A target without an address: one of the action's targets, but sent no email.
NO_EMAIL = TargetInput("The Embassy", "Ambassador")
TARGETS = [GUTERRES, TURK, NO_EMAIL]

# (first name, last name, country, email, postcode) of the confirmed online signers.
SIGNERS = [
    ("مریم", "رجوی", "IR", "maryam@signers.example", "1439813141"),
    ("王", "小明", "CN", "xiaoming@signers.example", "100000"),
    ("Éléonore", "Müller-Łukasz", "FR", "eleonore@signers.example", "75011"),
]
PENDING_SIGNER = ("Pending", "Unconfirmed", "DE", "pending@signers.example", "10115")
PAPER_SIGNER = ("Ørjan", "Ståle", "NO")
ORGANIZER_NAME = "Lina Organizer"
ORGANIZER_EMAIL = "lina@staff.example"
# Anything that looks like an email address.
ADDRESS = re.compile(r"[^\s<>@]+@[^\s<>@]+\.[a-z]+", re.IGNORECASE)


@dataclass
class Organizer:
    user: User
    headers: dict[str, str]


def make_deliverable_action(**overrides: Any) -> Action:
    """A published action with two targets that have an address and one that has none,
    three confirmed signers, one pending signer and one paper signer. Their
    confirmation emails are sent, so the outbox holds nothing else."""
    action = make_action(**{"targets": TARGETS, **overrides})
    for first, last, country, email, postcode in SIGNERS:
        make_confirmed_signature(action, first_name=first, last_name=last, country=country,
                                 email=email, postcode=postcode)
    first, last, country, email, postcode = PENDING_SIGNER
    make_signature(action, first_name=first, last_name=last, country=country, email=email,
                   postcode=postcode)
    paper.upload(action, csv_bytes([list(PAPER_SIGNER)]), label="Vigil", uploaded_by=None)
    deliver_pending_mail()
    return action


def make_organizer(action: Action | None = None, email: str = ORGANIZER_EMAIL) -> Organizer:
    """An organizer with a name and an API token, assigned to ``action`` if given."""
    user = accounts.create_user(email, "organizer", name=ORGANIZER_NAME)
    if action is not None:
        action.organizers.append(user)
        db.session.commit()
    return Organizer(user, bearer(make_token(user)))


def delivery_outbox() -> list[OutboundEmail]:
    db.session.expire_all()
    return list(db.session.scalars(select(OutboundEmail)
                                   .where(OutboundEmail.kind == OutboxKind.DELIVERY)
                                   .order_by(OutboundEmail.id)))


def pending_delivery_outbox_ids() -> list[int]:
    return [row.id for row in delivery_outbox() if row.status == OutboxStatus.PENDING]


def attachments(message: EmailMessage) -> dict[str, tuple[str, bytes]]:
    """filename: (content type, content) of every attachment of ``message``."""
    return {part.get_filename(): (part.get_content_type(), part.get_content())
            for part in message.iter_attachments()}


def pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def pdf_words(content: bytes) -> set[str]:
    """The words of a PDF. pypdf gives right-to-left runs in visual order, so whole
    names in Arabic script come out with their words swapped: compare words."""
    return set(pdf_text(content).split())

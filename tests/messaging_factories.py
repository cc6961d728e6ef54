"""Test helpers for updates, the network, reminders and the suppression list."""

from __future__ import annotations

import re
from email.message import EmailMessage
from typing import Any

from petitions.extensions import db
from petitions.models import Action, OutboundEmail, Signature, Update, UpdateStatus, User
from petitions.services import updates
from tests.conftest import body_text
from tests.factories import deliver_pending_mail, make_confirmed_signature

UPDATE_SUBJECT = "Delivered to the UN today"


def opted_in_signer(action: Action, **overrides: Any) -> Signature:
    """A confirmed signer who asked for news (their confirmation email left unsent)."""
    signature = make_confirmed_signature(action, updates_opt_in=True, **overrides)
    discard_pending_mail()
    return signature


def discard_pending_mail() -> None:
    """Forget the queued emails (confirmations) that a test is not about."""
    db.session.query(OutboundEmail).filter(OutboundEmail.update_id.is_(None),
                                           OutboundEmail.sent_at.is_(None)).delete()
    db.session.commit()


def new_update(action: Action, author: User, **overrides: Any) -> Update:
    values: dict[str, Any] = {"subject": UPDATE_SUBJECT,
                              "body": "We handed over **all** the signatures."}
    values.update(overrides)
    return updates.create_update(action, author, values.pop("subject"), values.pop("body"),
                                 **values)


def run_to_the_end(update: Update) -> int:
    """Run the batch task's body until the update is sent, as the worker chain would,
    then deliver the emails. Returns how many batches ran."""
    batches = 0
    while True:
        db.session.refresh(update)
        if update.status != UpdateStatus.SENDING:
            break
        updates.send_batch(update.id, update.cursor)
        batches += 1
        assert batches < 1000
    deliver_pending_mail()
    return batches


def link(message: EmailMessage, path: str) -> str:
    match = re.search(rf"https?://\S+{re.escape(path)}[A-Za-z0-9_.\-]+", body_text(message))
    assert match, f"no {path} link in the email"
    return match.group(0)


def local_path(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


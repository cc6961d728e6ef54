"""The mail worker asks the suppression list in the same query that locks the outbox
row: every scope still counts as ``suppression.is_suppressed`` reads it."""

from __future__ import annotations

import pytest
from flask import Flask

from petitions.extensions import db
from petitions.models import OutboundEmail, OutboxStatus, SuppressionReason
from petitions.services import mail, suppression
from tests.conftest import MailSink
from tests.factories import make_action, make_signature


@pytest.mark.parametrize(("scope", "sent"), [
    ("all", False),
    ("this action", False),
    ("another action", True),
    ("network", True),  # alerts of the urgent-action network only
])
def test_a_confirmation_email_honours_each_scope_of_the_suppression_list(
        app: Flask, mailbox: MailSink, scope: str, sent: bool):
    action, other = make_action(), make_action()
    signature = make_signature(action, email="scoped@example.org")
    scopes = {"all": {}, "this action": {"action_id": action.id},
              "another action": {"action_id": other.id},
              "network": {"scope": suppression.NETWORK}}
    suppression.add(signature.email_digest, SuppressionReason.UNSUBSCRIBED, **scopes[scope])
    db.session.commit()
    [row] = OutboundEmail.query.all()

    status = mail.deliver(row.id)

    assert status == (OutboxStatus.SENT if sent else OutboxStatus.FAILED)
    assert len(mailbox.to("scoped@example.org")) == (1 if sent else 0)
    db.session.refresh(row)
    assert row.attempts == 1
    assert row.last_error == (None if sent else "suppressed")
    assert suppression.is_suppressed(signature.email_digest, action.id) is not sent

"""Reminders to signers who have not confirmed, and the "It wasn't me" link that
deletes a pending signature and stops the mail for that action."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from petitions.extensions import db
from petitions.models import OutboundEmail, OutboxKind, OutboxStatus, Signature, Suppression
from petitions.services import counting, reminders, suppression
from tests.conftest import body_text, confirmation_link
from tests.factories import (
    csrf_token,
    deliver_pending_mail,
    make_action,
    make_confirmed_signature,
    make_signature,
    post_form,
)
from tests.messaging_factories import discard_pending_mail, link, local_path


def age(signature: Signature, hours: float) -> None:
    """Move the signature, and its last email, back in time."""
    shift = timedelta(hours=hours)
    signature.created_at -= shift
    signature.confirmation_sent_at -= shift
    signature.token_issued_at -= shift
    db.session.commit()


def reminder_mail(mailbox):  # type: ignore[no-untyped-def]
    # strip(): a long subject is folded onto the header's next line.
    return [m for m in mailbox.messages if str(m["Subject"]).strip().startswith("Reminder:")]


def test_a_pending_signer_is_reminded_after_two_days_at_most_twice(app, client, mailbox):
    action = make_action()
    pending = make_signature(action, email="forgetful@example.org")
    confirmed = make_confirmed_signature(action, email="prompt@example.org")
    deliver_pending_mail()
    mailbox.clear()

    age(pending, 47)
    age(confirmed, 100)
    assert reminders.queue_reminders() == 0  # not two days yet

    age(pending, 2)
    assert reminders.queue_reminders() == 1
    assert reminders.queue_reminders() == 0  # the next one is two days later
    deliver_pending_mail()
    [first] = reminder_mail(mailbox)
    assert "forgetful@example.org" in str(first["To"])
    assert "/not-me/" in body_text(first)

    db.session.refresh(pending)
    age(pending, 49)
    assert reminders.queue_reminders() == 1
    db.session.refresh(pending)
    age(pending, 49)
    assert reminders.queue_reminders() == 0  # REMINDER_MAX is 2
    deliver_pending_mail()
    second = reminder_mail(mailbox)[1]
    db.session.refresh(pending)
    assert pending.reminders_sent == 2

    # The newest reminder's link confirms the signature.
    path = local_path(confirmation_link(second))
    assert post_form(client, path, {}).status_code == 303
    db.session.refresh(pending)
    assert pending.status == "confirmed"


def test_the_reminder_settings_are_read(app, mailbox, monkeypatch):
    monkeypatch.setitem(app.config, "REMINDER_AFTER_HOURS", 1)
    monkeypatch.setitem(app.config, "REMINDER_MAX", 1)
    action = make_action()
    signature = make_signature(action)
    discard_pending_mail()
    age(signature, 2)
    assert reminders.queue_reminders() == 1
    db.session.refresh(signature)
    age(signature, 2)
    assert reminders.queue_reminders() == 0
    monkeypatch.setitem(app.config, "REMINDER_MAX", 0)
    assert reminders.queue_reminders() == 0


def test_a_suppressed_address_gets_no_reminder(app, mailbox):
    action = make_action()
    signature = make_signature(action)
    discard_pending_mail()
    suppression.add(signature.email_digest, suppression.SuppressionReason.UNSUBSCRIBED)
    db.session.commit()
    age(signature, 49)
    assert reminders.queue_reminders() == 0
    assert db.session.scalar(select(OutboundEmail.id).where(
        OutboundEmail.kind == OutboxKind.REMINDER)) is None


def test_it_wasnt_me_deletes_the_pending_signature_and_stops_the_mail(app, client, mailbox):
    action = make_action()
    signature_id = make_signature(action, email="victim@example.org").id
    deliver_pending_mail()
    [message] = mailbox.to("victim@example.org")
    not_me = local_path(link(message, "/not-me/"))
    assert counting.counts(action.id).pending == 1

    # Opening the link (a mail scanner) changes nothing.
    page = client.get(not_me)
    assert page.status_code == 200
    assert db.session.get(Signature, signature_id) is not None

    done = post_form(client, not_me, {})
    assert done.status_code == 200
    db.session.expire_all()
    assert db.session.get(Signature, signature_id) is None
    assert counting.counts(action.id).pending == 0
    [entry] = db.session.scalars(select(Suppression)).all()
    assert (entry.scope, entry.reason) == (f"action:{action.id}", "not_me")

    # Somebody signs with that address again: the confirmation is never sent.
    mailbox.clear()
    make_signature(action, email="victim@example.org")
    deliver_pending_mail()
    assert mailbox.messages == []
    row = db.session.scalars(select(OutboundEmail)).one()
    assert (row.status, row.last_error) == (OutboxStatus.FAILED, "suppressed")

    # Another action still reaches the address.
    make_signature(make_action(), email="victim@example.org")
    deliver_pending_mail()
    assert len(mailbox.to("victim@example.org")) == 1

    # Pressing the button again, or a forged link, is harmless.
    token = csrf_token(client, "/network")
    for path in (not_me, "/not-me/forged"):
        assert client.post(path, data={"csrf_token": token}).status_code == 200
    assert client.get("/not-me/forged").status_code == 200
    assert len(db.session.scalars(select(Suppression)).all()) == 1


def test_a_confirmed_signature_is_not_deleted_from_the_link(app, client, mailbox):
    action = make_action()
    signature = make_signature(action, email="real@example.org")
    deliver_pending_mail()
    [message] = mailbox.to("real@example.org")
    assert post_form(client, local_path(confirmation_link(message)), {}).status_code == 303
    not_me = local_path(link(message, "/not-me/"))

    page = client.get(not_me).get_data(as_text=True)
    assert "was confirmed" in page
    token = csrf_token(client, "/network")
    assert client.post(not_me, data={"csrf_token": token}).status_code == 200
    db.session.expire_all()
    assert db.session.get(Signature, signature.id) is not None
    assert counting.counts(action.id).confirmed == 1


def test_the_not_me_button_needs_the_csrf_token(app, client, mailbox):
    action = make_action()
    signature = make_signature(action, email="csrf@example.org")
    deliver_pending_mail()
    not_me = local_path(link(mailbox.to("csrf@example.org")[0], "/not-me/"))
    assert client.post(not_me).status_code == 400
    assert db.session.get(Signature, signature.id) is not None

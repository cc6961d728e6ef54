"""A message that can't be built: texts stored before the rule on control characters
still go out (their headers are cleaned), and any other build error fails the email
once, for good, where staff see it, instead of being retried forever."""

from __future__ import annotations

import smtplib
from typing import Any

import pytest
from sqlalchemy import func, select

from petitions.extensions import db
from petitions.models import (
    Action,
    Delivery,
    DeliveryStatus,
    OutboundEmail,
    OutboxStatus,
    Suppression,
    User,
)
from petitions.services import deliveries, mail
from tests.account_factories import (  # noqa: F401 - a fixture
    cheap_password_hashing,
    log_in,
    make_user,
)
from tests.delivery_flow_factories import (
    GUTERRES,
    TURK,
    delivery_outbox,
    make_deliverable_action,
    pending_delivery_outbox_ids,
)
from tests.factories import deliver_pending_mail, fresh, parse_html
from workers import tasks

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")

# The line breaks Python's email package refuses in a header besides CR and LF.
LINE_BREAKS = ["\v", "\f", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]


def delivery_of(action: Action) -> tuple[int, User]:
    """A compiled delivery of ``action``, asked for by its organizer; its id and the
    organizer."""
    organizer = make_user(name="Mina Organizer")
    action.organizers.append(organizer)
    db.session.commit()
    delivery = deliveries.request_delivery(action, actor=organizer)
    assert deliveries.compile_delivery(delivery.id) == DeliveryStatus.SENDING
    return delivery.id, organizer


@pytest.mark.parametrize("character", LINE_BREAKS, ids=[hex(ord(c)) for c in LINE_BREAKS])
def test_a_title_stored_with_a_line_break_is_sent_with_a_clean_subject(
        app, mailbox, character: str) -> None:
    action = make_deliverable_action()
    # Stored before titles were checked: written past the service's validation.
    action.title = f"Free the{character}prisoners"
    db.session.commit()
    delivery_id, _ = delivery_of(action)
    mailbox.clear()

    # Two targets, and the organizer's own copy.
    assert deliver_pending_mail() == 3

    assert fresh(Delivery, delivery_id).status == DeliveryStatus.SENT
    subjects = sorted(str(m["Subject"]) for m in mailbox.messages)
    assert subjects == ["4 signatures: Free the prisoners"] * 2 + [  # three online, one paper
        "Your copy: 4 signatures delivered: Free the prisoners"]
    assert all(r.status == OutboxStatus.SENT for r in delivery_outbox())


def test_an_email_that_cannot_be_built_fails_once_and_shows_to_the_organizer(
        app, client, mailbox, monkeypatch: pytest.MonkeyPatch) -> None:
    action = make_deliverable_action()
    delivery_id, organizer = delivery_of(action)
    mailbox.clear()
    build = mail._delivery_message

    def broken_for_turk(row: Any, recipient: Any) -> Any:
        if recipient.email == TURK.email:
            raise UnicodeEncodeError("ascii", "x", 0, 1, "a text no header can hold")
        return build(row, recipient)

    monkeypatch.setattr(mail, "_delivery_message", broken_for_turk)
    ids = pending_delivery_outbox_ids()

    # The worker's task: no exception escapes it, and the other target's email goes out.
    assert sorted(tasks.send_email.apply(args=[i]).get() for i in ids) == ["failed", "sent"]

    [failed] = [row for row in delivery_outbox() if row.status == OutboxStatus.FAILED]
    assert failed.attempts == 1
    assert "could not be built" in (failed.last_error or "")
    assert [m["To"].addresses[0].addr_spec for m in mailbox.messages] == [GUTERRES.email]
    # Never tried again: the row is settled, and nothing is left for the dispatcher.
    assert mail.deliver(failed.id) == OutboxStatus.FAILED
    assert fresh(OutboundEmail, failed.id).attempts == 1
    assert pending_delivery_outbox_ids() == []
    delivery = fresh(Delivery, delivery_id)
    assert delivery.status == DeliveryStatus.FAILED
    assert TURK.name in (delivery.error or "") and "could not be built" in delivery.error
    # The organizer's console shows the failure and its reason.
    log_in(client, organizer)
    page = client.get(f"/console/actions/{action.slug}/deliveries/{delivery_id}")
    assert page.status_code == 200
    text = parse_html(page.get_data(as_text=True)).text
    assert "could not be built" in text


def test_an_email_that_cannot_be_written_out_fails_once_without_blaming_the_address(
        app, mailbox, monkeypatch: pytest.MonkeyPatch) -> None:
    """Built, but refused while being written to the SMTP server: our fault, not the
    address's, so it fails for good without putting the address on the bounce list."""
    action = make_deliverable_action()
    delivery_id, _ = delivery_of(action)
    mailbox.clear()
    send = smtplib.SMTP.send_message

    def unwritable_for_turk(self: smtplib.SMTP, message: Any, *args: Any, **kwargs: Any
                            ) -> Any:
        if TURK.email in str(message["To"]):
            raise UnicodeEncodeError("ascii", "x", 0, 1, "not writable")
        return send(self, message, *args, **kwargs)

    monkeypatch.setattr(smtplib.SMTP, "send_message", unwritable_for_turk)
    ids = pending_delivery_outbox_ids()

    assert sorted(tasks.send_email.apply(args=[i]).get() for i in ids) == ["failed", "sent"]

    [failed] = [row for row in delivery_outbox() if row.status == OutboxStatus.FAILED]
    assert failed.attempts == 1 and "could not be written" in (failed.last_error or "")
    assert pending_delivery_outbox_ids() == []
    assert fresh(Delivery, delivery_id).status == DeliveryStatus.FAILED
    assert db.session.scalar(select(func.count()).select_from(Suppression)) == 0

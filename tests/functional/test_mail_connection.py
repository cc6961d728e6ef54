"""One SMTP connection per process, reused from one email to the next; replaced when the
server closed it, when it sat idle too long, after an error; and never a second copy of
an email for it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from petitions.models import OutboundEmail, OutboxStatus
from petitions.services import mail
from tests.clock import fake_clock
from tests.conftest import MailSink
from tests.factories import deliver_pending_mail, make_action, make_signature


@pytest.fixture(autouse=True)
def fresh_connections(app: Flask) -> Iterator[None]:
    """Each test starts with no connection left open by an earlier one."""
    mail.close_connections()
    yield
    mail.close_connections()


def sign(count: int, prefix: str) -> list[str]:
    action = make_action()
    addresses = [f"{prefix}{n}@example.org" for n in range(count)]
    for address in addresses:
        make_signature(action, email=address)
    return addresses


def outbox_ids() -> list[int]:
    return [r.id for r in OutboundEmail.query.order_by(OutboundEmail.id)]


def assert_each_sent_once(mailbox: MailSink, addresses: list[str]) -> None:
    assert len(mailbox.messages) == len(addresses)
    for address in addresses:
        assert len(mailbox.to(address)) == 1, address
    rows = OutboundEmail.query.all()
    assert all(r.status == OutboxStatus.SENT and r.attempts == 1 for r in rows)


def test_emails_sent_in_a_row_travel_over_one_connection(app: Flask, mailbox: MailSink):
    addresses = sign(4, "row")

    assert deliver_pending_mail() == 4

    assert_each_sent_once(mailbox, addresses)
    assert len(set(mailbox.peers)) == 1


@pytest.mark.parametrize("seen", ["before sending", "at MAIL FROM"])
def test_a_connection_the_server_closed_is_replaced_and_the_email_goes_once(
        app: Flask, mailbox: MailSink, monkeypatch: pytest.MonkeyPatch, seen: str):
    """Usually the hang-up is seen before the next email; the server may also close
    the connection just as the next email starts, and MAIL FROM then fails. Nothing
    reached DATA either way, so the email is sent over a new connection."""
    [first, second] = sign(2, "hangup")
    [first_id, second_id] = outbox_ids()
    assert mail.deliver(first_id) == OutboxStatus.SENT
    if seen == "at MAIL FROM":
        monkeypatch.setattr(mail, "_closed_by_server", lambda smtp: False)

    mailbox.hang_up()
    assert mail.deliver(second_id) == OutboxStatus.SENT

    assert_each_sent_once(mailbox, [first, second])
    assert len(set(mailbox.peers)) == 2


def test_a_connection_idle_for_too_long_is_not_reused(
        app: Flask, mailbox: MailSink, monkeypatch: pytest.MonkeyPatch):
    clock = fake_clock(monkeypatch, mail)
    monkeypatch.setitem(app.config, "MAIL_CONNECTION_IDLE_SECONDS", 30)
    addresses = sign(3, "idle")
    ids = outbox_ids()

    mail.deliver(ids[0])
    clock.now += 30  # not longer than allowed: reused
    mail.deliver(ids[1])
    clock.now += 31
    mail.deliver(ids[2])

    assert_each_sent_once(mailbox, addresses)
    assert mailbox.peers[0] == mailbox.peers[1] != mailbox.peers[2]


def test_zero_idle_seconds_opens_a_connection_per_email(
        app: Flask, mailbox: MailSink, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(app.config, "MAIL_CONNECTION_IDLE_SECONDS", 0)
    addresses = sign(3, "zero")

    deliver_pending_mail()

    assert_each_sent_once(mailbox, addresses)
    assert len(set(mailbox.peers)) == 3


def test_closing_the_connections_at_shutdown_means_a_new_one_for_the_next_email(
        app: Flask, mailbox: MailSink):
    addresses = sign(2, "shutdown")
    ids = outbox_ids()

    mail.deliver(ids[0])
    mail.close_connections()
    mail.deliver(ids[1])

    assert_each_sent_once(mailbox, addresses)
    assert len(set(mailbox.peers)) == 2


def test_after_an_error_the_next_email_goes_over_a_new_connection(
        app: Flask, mailbox: MailSink, monkeypatch: pytest.MonkeyPatch):
    """An error leaves the conversation in a state not worth guessing: the connection
    is dropped, and the next email opens another."""
    [before, refused, after] = sign(3, "refused")
    ids = outbox_ids()
    real_data = mail._SMTP.data

    def refuse_once(smtp: mail._SMTP, msg: bytes | str) -> tuple[int, bytes]:
        monkeypatch.setattr(mail._SMTP, "data", real_data)
        raise mail.smtplib.SMTPDataError(451, b"try again later")

    assert mail.deliver(ids[0]) == OutboxStatus.SENT
    monkeypatch.setattr(mail._SMTP, "data", refuse_once)
    with pytest.raises(mail.TemporaryMailError):
        mail.deliver(ids[1])
    assert mail.deliver(ids[2]) == OutboxStatus.SENT

    assert len(mailbox.to(before)) == len(mailbox.to(after)) == 1
    assert not mailbox.to(refused)
    assert mailbox.peers[0] != mailbox.peers[1]

"""No email address, name or confirmation token in any log line, and no address in a URL.

Every logger is opened up to DEBUG (SQLAlchemy then logs each statement and its
parameters, Celery each task) while a supporter signs, gets the mail over SMTP,
confirms, signs again, and someone tries bad links. Every record is then searched,
message and formatted record alike, for the values only that supporter typed.
"""

from __future__ import annotations

import logging
import secrets
import smtplib
import string
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from sqlalchemy import select

from petitions.extensions import db
from petitions.models import OutboundEmail, OutboxStatus
from petitions.services import mail
from tests.conftest import confirmation_link
from tests.factories import csrf_token, deliver_pending_mail, form_data, make_action, post_form
from workers import tasks

# aiosmtpd, the SMTP server the tests run, logs each recipient: it plays the
# supporter's mail provider, which has to know the address. Not our process.
TEST_MAIL_SERVER_LOGGER = "mail.log"

FORMATTER = logging.Formatter(
    "%(asctime)s %(levelname)s %(name)s %(pathname)s:%(lineno)d %(funcName)s "
    "%(threadName)s %(processName)s: %(message)s")


def _letters(n: int = 8) -> str:
    return "".join(secrets.choice(string.ascii_lowercase) for _ in range(n))


@dataclass(frozen=True)
class Supporter:
    first_name: str
    last_name: str
    email: str

    @classmethod
    def make(cls) -> Supporter:
        tag = _letters()
        return cls(f"Wilhelmina{tag}", f"Thistlewood{tag.upper()}",
                   f"Wilhelmina.{tag}@Haven-{tag}.example.org")

    def form(self) -> dict[str, str]:
        return form_data(first_name=self.first_name, last_name=self.last_name,
                         email=self.email, postcode="", comment="")

    def secrets(self) -> set[str]:
        local, _, domain = self.email.partition("@")
        values = {self.first_name, self.last_name, self.email, local, domain}
        return values | {v.lower() for v in values}


@pytest.fixture
def every_log_record(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """caplog at DEBUG on the root logger, and on every logger that set its own level,
    with its handler also on the loggers that don't pass records up."""
    caplog.set_level(logging.DEBUG)
    added_to: list[logging.Logger] = []
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if not isinstance(logger, logging.Logger):
            continue
        if logger.level != logging.NOTSET:
            caplog.set_level(logging.DEBUG, logger=name)
        if not logger.propagate:
            logger.addHandler(caplog.handler)
            added_to.append(logger)
    previous_disable = logging.root.manager.disable
    logging.disable(logging.NOTSET)
    yield caplog
    logging.disable(previous_disable)
    for logger in added_to:
        logger.removeHandler(caplog.handler)


def leaks(records: list[logging.LogRecord], needles: set[str]) -> list[tuple[str, str]]:
    """(logger, needle) for every needle found in a record, in any form it is written."""
    found = []
    for record in records:
        if record.name.startswith(TEST_MAIL_SERVER_LOGGER):
            continue
        forms = [record.getMessage(), FORMATTER.format(record), repr(vars(record))]
        if record.exc_info:
            forms.append(FORMATTER.formatException(record.exc_info))
        text = "\n".join(forms)
        lowered = text.lower()
        found += [(record.name, n) for n in needles if n in text or n.lower() in lowered]
    return found


def url_forms(email: str) -> set[str]:
    return {email, email.lower(), quote(email), quote(email.lower()), quote_plus(email),
            quote_plus(email.lower()), email.partition("@")[0].lower()}


def assert_no_email_in_url(url: str, email: str) -> None:
    lowered = url.lower()
    assert not [f for f in url_forms(email) if f.lower() in lowered], url


def test_sign_mail_confirm_resign_and_bad_tokens_log_nothing_personal(
        app, client, mailbox, every_log_record, monkeypatch):
    monkeypatch.setitem(app.config, "CONFIRMATION_RESEND_INTERVAL_SECONDS", 0)
    action = make_action()
    page = f"/actions/{action.slug}"
    supporter, pending = Supporter.make(), Supporter.make()

    # Sign through the site; the confirmation goes out over SMTP from the worker's task.
    assert client.get(page).status_code == 200
    response = post_form(client, page, supporter.form())
    assert response.status_code == 303
    assert_no_email_in_url(response.headers["Location"], supporter.email)
    [outbox_id] = db.session.scalars(select(OutboundEmail.id)).all()
    assert tasks.send_email.apply(args=[outbox_id]).get() == OutboxStatus.SENT
    [message] = mailbox.wait_for(1)
    link = confirmation_link(message)
    assert_no_email_in_url(link, supporter.email)
    token = link.rsplit("/", 1)[1]
    path = link.removeprefix("http://petitions.test")

    # Look, then confirm.
    assert client.get(path).status_code == 200
    confirmed = post_form(client, path, {})
    assert confirmed.status_code == 303
    assert_no_email_in_url(confirmed.headers["Location"], supporter.email)
    assert client.get(path).status_code == 200  # "already confirmed"

    # Sign again once confirmed (its owner gets a notice), and a second supporter signs
    # twice while pending (the link is sent again).
    assert post_form(client, page, supporter.form()).status_code == 303
    assert post_form(client, page, pending.form()).status_code == 303
    assert post_form(client, page, pending.form()).status_code == 303
    assert deliver_pending_mail() == 3
    [notice, *later] = mailbox.wait_for(4)[1:]
    assert mailbox.to(supporter.email) == [message, notice]
    tokens = {token} | {confirmation_link(m).rsplit("/", 1)[1] for m in later}
    for message in later:
        assert_no_email_in_url(confirmation_link(message), pending.email)

    # Bad links: forged, altered, cut short, and a resend asked for with a bad token.
    csrf = csrf_token(client, page)
    forged = secrets.token_urlsafe(32)
    altered = token[:-1] + ("A" if token[-1] != "A" else "B")
    for bad in (forged, altered, token[:25]):
        assert client.get(f"/confirm/{bad}").status_code == 404
        assert client.post(f"/confirm/{bad}", data={"csrf_token": csrf}).status_code == 404
    assert client.post(f"/confirm/{forged}/resend",
                       data={"csrf_token": csrf}).status_code == 404

    records = every_log_record.records
    # The capture works: the statements that stored and read the signatures are there.
    assert any("INSERT INTO signatures" in r.getMessage() for r in records)
    assert any(r.name.startswith("celery") for r in records)
    needles = supporter.secrets() | pending.secrets() | tokens
    assert not leaks(records, needles)


def test_smtp_failures_quoting_the_address_are_logged_without_it(
        app, client, mailbox, every_log_record, monkeypatch):
    """Mail servers quote the recipient in their replies; the worker's log (Celery logs
    each retry with its exception) and the stored error must not."""
    monkeypatch.setitem(app.config, "MAIL_RETRY_MAX", 2)
    monkeypatch.setattr(tasks, "_backoff", lambda retries: 0)
    action = make_action()
    temporary, permanent = Supporter.make(), Supporter.make()
    replies = {
        temporary.email.lower(): (451, f"4.2.0 <{temporary.email}>: Recipient address "
                                       f"rejected: greylisted, try {temporary.email} later"),
        permanent.email.lower(): (550, f"5.1.1 {permanent.email}... User unknown"),
    }

    def refuse(self: smtplib.SMTP, message: Any, *args: Any, **kwargs: Any) -> None:
        address = str(message["To"]).rpartition("<")[2].rstrip(">").lower()
        code, reply = replies[address]
        raise smtplib.SMTPResponseException(code, reply.encode())

    monkeypatch.setattr(smtplib.SMTP, "send_message", refuse)
    for supporter in (temporary, permanent):
        assert post_form(client, f"/actions/{action.slug}", supporter.form()).status_code == 303
    ids = db.session.scalars(select(OutboundEmail.id).order_by(OutboundEmail.id)).all()
    for outbox_id in ids:
        assert tasks.send_email.apply(args=[outbox_id]).get() == "failed"

    db.session.expire_all()
    rows = db.session.scalars(select(OutboundEmail).order_by(OutboundEmail.id)).all()
    assert [r.status for r in rows] == [OutboxStatus.FAILED, OutboxStatus.FAILED]
    assert rows[0].attempts == 3  # the first try and two retries
    for row in rows:
        assert "<address>" in (row.last_error or "")
    records = every_log_record.records
    assert any("retry" in r.getMessage().lower() for r in records)
    assert any("failed permanently" in r.getMessage() for r in records)
    assert not leaks(records, temporary.secrets() | permanent.secrets())


@pytest.mark.parametrize(("code", "expected"), [(451, mail.TemporaryMailError),
                                               (550, mail.PermanentMailError)])
def test_mail_errors_do_not_carry_the_address(app, monkeypatch, code, expected):
    """Whatever prints these exceptions (a worker's traceback, an error tracker) must
    not get the address the mail server quoted, not even from the exception chained."""
    address = f"Quoted.{_letters()}@example.org"

    def refuse(self: smtplib.SMTP, message: Any, *args: Any, **kwargs: Any) -> None:
        raise smtplib.SMTPResponseException(code, f"<{address}> refused".encode())

    def refuse_all(self: smtplib.SMTP, message: Any, *args: Any, **kwargs: Any) -> None:
        raise smtplib.SMTPRecipientsRefused({address: (code, b"refused")})

    message = EmailMessage()
    message["To"] = address
    message["From"] = "actions@petitions.test"
    for patched in (refuse, refuse_all):
        monkeypatch.setattr(smtplib.SMTP, "send_message", patched)
        with pytest.raises(expected) as caught:
            mail.send_message(message)
        chain: list[BaseException] = []
        error: BaseException | None = caught.value
        while error is not None:
            chain.append(error)
            # As traceback printing walks it: the cause, else an unsuppressed context.
            error = error.__cause__ or (None if error.__suppress_context__
                                        else error.__context__)
        assert address.lower() not in "".join(repr(e) + str(e) for e in chain).lower()
        formatted = "".join(traceback.format_exception(caught.value)).lower()
        assert address.lower() not in formatted


def test_an_unexpected_error_on_a_confirmation_link_logs_the_route_not_the_token(
        app, client, every_log_record, monkeypatch):
    from petitions.public import views

    def broken(token: str) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(views, "check_token", broken)
    token = secrets.token_urlsafe(32)
    assert client.get(f"/confirm/{token}").status_code == 500
    [error] = [r for r in every_log_record.records if r.name == "petitions.errors"]
    assert "/confirm/<token>" in error.getMessage()
    assert not leaks(every_log_record.records, {token})

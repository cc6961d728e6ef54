"""Building and sending the emails recorded in the outbox.

``deliver`` is what the Celery task runs. It locks the outbox row, so that two
deliveries of the same task (a redelivered message, a second worker) send one
email: the second finds the row already sent. A temporary failure (4xx, a refused
or dropped connection, a timeout) raises ``TemporaryMailError`` for the task to
retry; a permanent one (5xx) is recorded on the row with its reason.
"""

from __future__ import annotations

import atexit
import email.policy
import functools
import json
import logging
import os
import re
import select as io_select
import smtplib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.headerregistry import BaseHeader
from email.message import EmailMessage
from email.utils import formataddr, parseaddr
from pathlib import Path

from email_validator import EmailNotValidError, validate_email
from flask import Config, current_app, render_template
from flask_babel import force_locale, gettext, ngettext
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import contains_eager

from petitions.extensions import db
from petitions.models import (
    Delivery,
    DeliveryRecipient,
    OutboundEmail,
    OutboxKind,
    OutboxStatus,
    Signature,
    Subscriber,
    SuppressionReason,
    utcnow,
)
from petitions.services import branding, deliveries, public_page, suppression
from petitions.urls import external_url

log = logging.getLogger(__name__)

_ADDRESS = re.compile(r"[^\s<>()\"']+@[^\s<>()\"']+")
# What may not stand in a header: control characters, and the line breaks besides CR and
# LF that Python's email package also refuses there (``str.splitlines`` breaks on them).
_NOT_IN_HEADERS = re.compile("[\x00-\x1f\x7f\x85\u2028\u2029]")


class TemporaryMailError(Exception):
    """Worth trying again later."""


class PermanentMailError(Exception):
    """Will fail the same way every time."""


class UnwritableMessageError(PermanentMailError):
    """The message could not be written out (a fault of ours, not of the address)."""


def header_text(text: str) -> str:
    """``text`` (a title, a name) made fit for a header: each control character or line
    break becomes a space. Texts are checked when they are saved, but rows stored
    before the check may still hold them, and one would make the message unbuildable."""
    return _NOT_IN_HEADERS.sub(" ", text)


def _redact(text: str) -> str:
    """SMTP replies often quote the recipient; the error we keep must not."""
    return _ADDRESS.sub("<address>", text)[:500]


def deliver(outbox_id: int) -> OutboxStatus | None:
    """Send one outbox email unless it was sent already. Returns the row's final status."""
    # One round trip for the row, what a confirmation needs (its signature and the
    # action) and whether the suppression list refuses that signer. Only the outbox
    # row is locked: PostgreSQL refuses FOR UPDATE on the nullable side of an outer
    # join, hence OF; SQLite ignores the clause (no row locks: its writers take turns).
    found = db.session.execute(
        select(OutboundEmail,
               suppression.suppressed(Signature.email_digest, Signature.action_id))
        .outerjoin(OutboundEmail.signature).outerjoin(Signature.action)
        .options(contains_eager(OutboundEmail.signature).contains_eager(Signature.action))
        .where(OutboundEmail.id == outbox_id)
        .with_for_update(of=OutboundEmail)).one_or_none()
    if found is None:
        db.session.rollback()
        return None
    row, signer_suppressed = found
    if row.status != OutboxStatus.PENDING:
        status = row.status  # read before the rollback expires it
        db.session.rollback()
        return status
    # Nothing below reads the row back after a commit (that would cost a new
    # transaction): what is needed afterwards is kept here.
    recipient_id = row.delivery_recipient_id
    # The attempt is written once, with the outcome: the suppression query must not
    # flush it on its own.
    with db.session.no_autoflush:
        row.attempts += 1
        suppressed = signer_suppressed if row.signature is not None else _suppressed(row)
    if suppressed:
        _fail(row, "suppressed", recipient_id)
        return OutboxStatus.FAILED
    try:
        message = build_message(row)
    except SQLAlchemyError:
        raise
    except Exception as exc:  # a message that can't be built never will be: no retry
        reason = (str(exc) if isinstance(exc, PermanentMailError)
                  else f"the message could not be built ({type(exc).__name__})")
        error = _fail(row, reason, recipient_id)
        log.warning("Email %s failed permanently: %s", outbox_id, error)
        return OutboxStatus.FAILED
    try:
        send_message(message)
    except TemporaryMailError as exc:
        row.last_error = _redact(str(exc))
        # The task is retrying it: keep the dispatcher from handing it off a second time.
        row.dispatched_at = utcnow()
        db.session.commit()
        raise
    except UnwritableMessageError as exc:
        error = _fail(row, str(exc), recipient_id)
        log.warning("Email %s failed permanently: %s", outbox_id, error)
        return OutboxStatus.FAILED
    except PermanentMailError as exc:
        digest = _recipient_digest(row)
        error = _fail(row, str(exc), recipient_id)
        if digest is not None:  # the address itself was refused: never again
            suppression.add(digest, SuppressionReason.BOUNCED)
            db.session.commit()
        log.warning("Email %s failed permanently: %s", outbox_id, error)
        return OutboxStatus.FAILED
    if not current_app.config["MAIL_SERVER"] and row.kind == OutboxKind.CONFIRMATION:
        _log_development_link(row)
    message_id = message["Message-ID"]
    row.status = OutboxStatus.SENT
    row.sent_at = utcnow()
    row.message_id = message_id
    row.payload = None
    row.last_error = None
    db.session.commit()
    if recipient_id is not None:
        deliveries.record_recipient_result(recipient_id, message_id=message_id)
    return OutboxStatus.SENT


def _recipient_digest(row: OutboundEmail) -> str | None:
    """The digest of a supporter's address the row goes to (None: an official, staff)."""
    if row.signature is not None:
        return row.signature.email_digest
    subscriber = _subscriber(row)
    return subscriber.email_digest if subscriber is not None else None


def _subscriber(row: OutboundEmail) -> Subscriber | None:
    return db.session.get(Subscriber, row.subscriber_id) if row.subscriber_id else None


def _suppressed(row: OutboundEmail) -> bool:
    """Whether the suppression list refuses this email to a subscriber (a signer's is
    asked with the row, in ``deliver``). Mail to officials (deliveries) and an
    organizer's test of an update are not supporters' mail, and not checked."""
    subscriber = _subscriber(row)
    if subscriber is not None:
        return suppression.is_suppressed(subscriber.email_digest,
                                         network=row.kind == OutboxKind.ALERT)
    return False


def _log_development_link(row: OutboundEmail) -> None:
    """Development only (production refuses to run without an SMTP server): show the
    confirmation link in the log, so a newcomer trying the platform can click it. The
    same link is in the .eml file beside it; with a real mail server, no token is
    ever logged."""
    token = json.loads(row.payload or "{}").get("token")
    if token:
        log.info("Development outbox: confirmation link: %s",
                 external_url("public.confirm_signature", token=token))


def _fail(row: OutboundEmail, reason: str, recipient_id: int | None) -> str:
    """Mark the row failed and commit; returns the reason as stored (redacted)."""
    error = _redact(reason)
    row.status = OutboxStatus.FAILED
    row.last_error = error
    row.payload = None
    db.session.commit()
    if recipient_id is not None:
        deliveries.record_recipient_result(recipient_id, error=error)
    return error


def give_up(outbox_id: int, reason: str) -> None:
    """Mark an email failed after its retries ran out."""
    row = db.session.get(OutboundEmail, outbox_id)
    if row is not None and row.status == OutboxStatus.PENDING:
        _fail(row, reason, row.delivery_recipient_id)


def _message_id(outbox_id: int) -> str:
    """Stable across retries, so a receiving server can spot a duplicate."""
    domain = _sender_domain(current_app.config["MAIL_DEFAULT_SENDER"])
    return f"<outbox-{outbox_id}@{domain or 'localhost'}>"


@functools.lru_cache(maxsize=8)
def _sender_domain(sender: str) -> str:
    return parseaddr(sender)[1].rpartition("@")[2]


@functools.lru_cache(maxsize=8)
def _fixed_header(name: str, value: str) -> BaseHeader:
    """A header every message carries alike (the sender, Auto-Submitted), parsed once:
    a message given a parsed header keeps it as is, and parsing an address header
    costs more than anything else in setting it."""
    return email.policy.default.header_factory(name, value)


@dataclass(frozen=True)
class Draft:
    """A supporter's message as its builder writes it; ``build_message`` adds the rest."""

    to_name: str
    to_address: str
    subject: str
    text: str
    html: str
    # One-click unsubscribe (RFC 8058): the List-Unsubscribe headers point here.
    unsubscribe_url: str | None = None


def build_message(row: OutboundEmail) -> EmailMessage:
    # Imported here: the builders use this module's errors and helpers.
    from petitions.services import accounts, network, reminders, signing, updates

    if row.kind == OutboxKind.DELIVERY and row.delivery_recipient is not None:
        return _delivery_message(row, row.delivery_recipient)
    if row.kind == OutboxKind.DELIVERY_COPY:
        return _delivery_copy_message(row)
    builders = {OutboxKind.REMINDER: reminders.reminder_draft,
                OutboxKind.UPDATE: updates.update_draft, OutboxKind.ALERT: updates.update_draft,
                OutboxKind.SUBSCRIBE: network.subscribe_draft,
                OutboxKind.SIGNED_AGAIN: signing.signed_again_draft,
                OutboxKind.LOGIN_ALERT: accounts.login_alert_draft}
    if row.kind in builders:
        return _assemble(row, builders[row.kind](row))
    if row.kind != OutboxKind.CONFIRMATION or row.signature is None:
        raise PermanentMailError(f"nothing to send for a {row.kind} email without a signature")
    signature = row.signature
    token = json.loads(row.payload or "{}").get("token")
    if not token:
        raise PermanentMailError("the confirmation token is missing")
    return _assemble(row, signer_draft(
        signature, "confirmation",
        lambda title: gettext("Please confirm your signature: %(title)s", title=title),
        confirm_url=external_url("public.confirm_signature", token=token),
        not_me_url=external_url("public.not_me", token=reminders.not_me_token(signature))))


def signer_draft(signature: Signature, template: str, subject: Callable[[str], str],
                 **links: str) -> Draft:
    """A message to a signer about the action they signed, in the language they signed
    in: ``emails/<template>.txt`` and ``.html`` get the signature, the action, its
    address and ``links``; ``subject`` is given the action's title in that language."""
    action = signature.action
    context = {"signature": signature, "action": action,
               "action_url": external_url("public.action", slug=action.slug), **links}
    with force_locale(signature.locale):
        return Draft(
            to_name=f"{signature.first_name} {signature.last_name}", to_address=signature.email,
            subject=subject(public_page.texts_for(action, signature.locale).title),
            text=render_template(f"emails/{template}.txt", **context),
            html=render_template(f"emails/{template}.html", **context))


def _assemble(row: OutboundEmail, draft: Draft) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = header_text(draft.subject)
    message["From"] = _fixed_header("From", branding.sender())
    message["To"] = formataddr((header_text(draft.to_name), _ascii_address(draft.to_address)))
    message["Message-ID"] = _message_id(row.id)
    message["Auto-Submitted"] = _fixed_header("Auto-Submitted", "auto-generated")
    if draft.unsubscribe_url:
        message["List-Unsubscribe"] = f"<{draft.unsubscribe_url}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(draft.text)
    message.add_alternative(draft.html, subtype="html")
    return message


def _delivery_message(row: OutboundEmail, recipient: DeliveryRecipient) -> EmailMessage:
    """The package for one target: addressed by name, the PDF letter and the CSV
    attached. Nobody is in copy and no organizer is named: the officials an appeal is
    addressed to may be the very people its organizers need protecting from. The
    organizer gets a copy of their own (``_delivery_copy_message``)."""
    delivery = recipient.delivery
    action = delivery.action
    context = {"recipient": recipient, "delivery": delivery, "action": action,
               "action_url": external_url("public.action", slug=action.slug)}
    with force_locale(action.language):
        subject = ngettext("%(count)s signature: %(title)s", "%(count)s signatures: %(title)s",
                           delivery.total, count=f"{delivery.total:,}", title=action.title)
        text = render_template("emails/delivery.txt", **context)
        html = render_template("emails/delivery.html", **context)
    message = EmailMessage()
    message["Subject"] = header_text(subject)
    message["From"] = _fixed_header("From", branding.sender())
    message["To"] = formataddr((header_text(recipient.name), _ascii_address(recipient.email)))
    message["Message-ID"] = _message_id(row.id)
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    _attach(message, deliveries.attachments_for(recipient))
    return message


def _delivery_copy_message(row: OutboundEmail) -> EmailMessage:
    """The requesting organizer's copy of a delivery: who it went to, and the package."""
    delivery_id = json.loads(row.payload or "{}").get("delivery_id")
    delivery = db.session.get(Delivery, delivery_id) if delivery_id else None
    organizer = delivery.requested_by if delivery is not None else None
    if delivery is None or organizer is None or not organizer.active:
        raise PermanentMailError("the delivery or its organizer is gone")
    action = delivery.action
    context = {"delivery": delivery, "action": action, "organizer": organizer,
               "recipients": delivery.recipients,
               "action_url": external_url("public.action", slug=action.slug)}
    with force_locale(action.language):
        subject = gettext("Your copy: %(count)s signatures delivered: %(title)s",
                          count=f"{delivery.total:,}", title=action.title)
        text = render_template("emails/delivery_copy.txt", **context)
        html = render_template("emails/delivery_copy.html", **context)
    message = EmailMessage()
    message["Subject"] = header_text(subject)
    message["From"] = _fixed_header("From", current_app.config["MAIL_DEFAULT_SENDER"])
    message["To"] = formataddr((header_text(organizer.name or ""),
                                _ascii_address(organizer.email)))
    message["Message-ID"] = _message_id(row.id)
    message["Auto-Submitted"] = _fixed_header("Auto-Submitted", "auto-generated")
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    _attach(message, deliveries.copy_attachments(delivery))
    return message


def _attach(message: EmailMessage, files: list[tuple[str, str, bytes]]) -> None:
    for filename, media_type, content in files:
        maintype, _, subtype = media_type.partition("/")
        # Text without a charset is US-ASCII to a mail client: the CSV is UTF-8.
        params = {"charset": "utf-8"} if maintype == "text" else None
        message.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename,
                               params=params)


def _ascii_address(address: str) -> str:
    """The address with its domain in ASCII (IDNA) form, which every SMTP server takes.
    A non-ASCII local part would need SMTPUTF8, which this sender does not speak."""
    try:
        ascii_email = validate_email(address, check_deliverability=False).ascii_email
    except EmailNotValidError as exc:
        raise PermanentMailError(f"invalid address: {exc}") from exc
    if ascii_email is None:
        raise PermanentMailError("the address has a non-ASCII local part (needs SMTPUTF8)")
    return ascii_email


def send_message(message: EmailMessage) -> None:
    config = current_app.config
    try:
        if not config["MAIL_SERVER"]:
            _write_to_outbox(message)
            return
        _send_over_smtp(message, config)
    # Writing the message out failed (the email package refused a header, say): it
    # would fail the same way every time. Only the exception's kind is kept: its text
    # may quote the message.
    except (ValueError, TypeError, LookupError) as exc:
        raise UnwritableMessageError(
            f"the message could not be written ({type(exc).__name__})") from None
    # Redacted where raised, not only where stored: an exception can reach a log or an
    # error tracker (a task's traceback, a retry). ``from None``: the original
    # exceptions quote the recipient (SMTPRecipientsRefused is keyed by address),
    # and a printed traceback would show them.
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        error = f"recipient refused: {codes}"
        if all(400 <= code < 500 for code in codes):
            raise TemporaryMailError(error) from None
        raise PermanentMailError(error) from None
    except smtplib.SMTPResponseException as exc:
        error = _redact(f"{exc.smtp_code} {exc.smtp_error!r}")
        if 400 <= exc.smtp_code < 500:
            raise TemporaryMailError(error) from None
        raise PermanentMailError(error) from None
    except (TimeoutError, smtplib.SMTPException, OSError) as exc:
        raise TemporaryMailError(_redact(f"{type(exc).__name__}: {exc}")) from exc


# --- the SMTP connection a process keeps ---------------------------------------------------
#
# A new connection for every email (TCP, EHLO, maybe TLS and a login, then QUIT) cost
# more than the message itself: a process keeps its connection open and sends one
# message after the other over it. It is dropped after any error (a fresh one is
# opened for the next email), when the server closed it, when it sat idle longer than
# MAIL_CONNECTION_IDLE_SECONDS, and when the worker process stops (workers/celery.py).


class _TrackedData:
    """Notes whether a message reached DATA on this connection: up to then the server
    cannot have accepted it, and sending it again over a new connection is safe."""

    data_sent = False

    def data(self, msg: bytes | str) -> tuple[int, bytes]:
        self.data_sent = True
        return super().data(msg)  # type: ignore[misc]


class _SMTP(_TrackedData, smtplib.SMTP):
    pass


class _SMTPSSL(_TrackedData, smtplib.SMTP_SSL):
    pass


@dataclass
class _Connection:
    smtp: _SMTP | _SMTPSSL
    settings: tuple[object, ...]
    pid: int  # a forked child must not talk over its parent's socket
    last_used: float


class _ConnectionPool:
    """The open connections of this process that no thread is using. A Celery
    process sends one email at a time, so it holds one; a threaded pool holds one per
    thread that sent lately."""

    def __init__(self) -> None:
        self._idle: list[_Connection] = []
        self._lock = threading.Lock()

    def take(self, settings: tuple[object, ...], idle_seconds: float) -> _Connection | None:
        """An idle connection for these settings that is still worth using, if any;
        closes those that are not."""
        now, pid = time.monotonic(), os.getpid()
        usable: list[_Connection] = []
        stale: list[_Connection] = []
        with self._lock:
            for connection in self._idle:
                fits = (connection.settings == settings and connection.pid == pid
                        and now - connection.last_used <= idle_seconds)
                (usable if fits else stale).append(connection)
            found = usable.pop() if usable else None  # the one used last
            self._idle = usable
        for connection in stale:
            _close(connection, polite=connection.pid == os.getpid())
        if found is not None and _closed_by_server(found.smtp):
            _close(found, polite=False)
            return None
        return found

    def give_back(self, connection: _Connection) -> None:
        connection.last_used = time.monotonic()
        with self._lock:
            self._idle.append(connection)

    def close_all(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            _close(connection, polite=connection.pid == os.getpid())


_pool = _ConnectionPool()


def close_connections() -> None:
    """Close this process's idle SMTP connections (QUIT): when a worker process stops
    (workers/celery.py; a prefork child exits without running ``atexit``), and at the
    exit of any other process that sent mail (a CLI command, the tests)."""
    _pool.close_all()


atexit.register(close_connections)


def _settings(config: Config) -> tuple[object, ...]:
    """What a connection was opened with: a connection made with other settings
    (another server, another login) is not reused."""
    return tuple(config[name] for name in (
        "MAIL_SERVER", "MAIL_PORT", "MAIL_USE_SSL", "MAIL_USE_TLS", "MAIL_USERNAME",
        "MAIL_PASSWORD", "MAIL_TIMEOUT"))


def _open(config: Config, settings: tuple[object, ...]) -> _Connection:
    smtp_class = _SMTPSSL if config["MAIL_USE_SSL"] else _SMTP
    smtp = smtp_class(config["MAIL_SERVER"], config["MAIL_PORT"],
                      timeout=config["MAIL_TIMEOUT"])
    try:
        if config["MAIL_USE_TLS"]:
            smtp.starttls()
        if config["MAIL_USERNAME"]:
            smtp.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"] or "")
    except BaseException:
        smtp.close()
        raise
    return _Connection(smtp, settings, os.getpid(), time.monotonic())


def _close(connection: _Connection, *, polite: bool) -> None:
    """Close a connection; ``polite``: say QUIT first (a healthy connection of this
    process). After an error, or on a parent's socket, only the socket is closed."""
    try:
        if polite:
            connection.smtp.quit()
    except (smtplib.SMTPException, OSError):
        pass
    finally:
        connection.smtp.close()


def _closed_by_server(smtp: smtplib.SMTP) -> bool:
    """Whether the server hung up (or said something, such as "421 timeout") while
    the connection sat idle: between two messages, an open connection has nothing to
    read. Costs no round trip."""
    if smtp.sock is None:
        return True
    try:
        readable, _, _ = io_select.select([smtp.sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def _server_went_away(exc: BaseException) -> bool:
    """A connection the server closed under us (an idle timeout, a restart)."""
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code == 421  # "service not available, closing channel"
    return isinstance(exc, (smtplib.SMTPServerDisconnected, ConnectionError))


def _send_over_smtp(message: EmailMessage, config: Config) -> None:
    """Send over this process's connection, opened if needed. A reused connection the
    server closed before the message reached DATA is replaced once, transparently."""
    settings = _settings(config)
    idle_seconds = config["MAIL_CONNECTION_IDLE_SECONDS"]
    connection = _pool.take(settings, idle_seconds) if idle_seconds > 0 else None
    reused = connection is not None
    if connection is None:
        connection = _open(config, settings)
    try:
        try:
            _transmit(connection.smtp, message)
        except (smtplib.SMTPException, OSError) as exc:
            if not (reused and not connection.smtp.data_sent and _server_went_away(exc)):
                raise
            _close(connection, polite=False)
            connection = _open(config, settings)
            _transmit(connection.smtp, message)
    except BaseException:
        _close(connection, polite=False)
        raise
    if idle_seconds > 0:
        _pool.give_back(connection)
    else:
        _close(connection, polite=True)


def _transmit(smtp: _SMTP | _SMTPSSL, message: EmailMessage) -> None:
    smtp.data_sent = False
    smtp.send_message(message)


def _write_to_outbox(message: EmailMessage) -> None:
    folder = Path(current_app.config["MAIL_OUTBOX_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    stamp = utcnow().strftime("%Y%m%dT%H%M%S")
    name = message["Message-ID"].strip("<>").partition("@")[0]
    path = folder / f"{stamp}-{name}.eml"
    path.write_bytes(bytes(message))
    # The file, not the link: a confirmation token must never reach a log.
    log.info("Development outbox: email written to %s", path)

"""Building and sending the emails recorded in the outbox.

``deliver`` is what the Celery task runs. It locks the outbox row, so that two
deliveries of the same task (a redelivered message, a second worker) send one
email: the second finds the row already sent. A temporary failure (4xx, a refused
or dropped connection, a timeout) raises ``TemporaryMailError`` for the task to
retry; a permanent one (5xx) is recorded on the row with its reason.
"""

from __future__ import annotations

import json
import logging
import re
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, parseaddr
from pathlib import Path

from email_validator import EmailNotValidError, validate_email
from flask import current_app, render_template
from flask_babel import force_locale, gettext
from sqlalchemy import select

from petitions.extensions import db
from petitions.models import (
    DeliveryRecipient,
    OutboundEmail,
    OutboxKind,
    OutboxStatus,
    Subscriber,
    SuppressionReason,
    utcnow,
)
from petitions.services import deliveries, public_page, suppression
from petitions.urls import external_url

log = logging.getLogger(__name__)

_ADDRESS = re.compile(r"[^\s<>()\"']+@[^\s<>()\"']+")


class TemporaryMailError(Exception):
    """Worth trying again later."""


class PermanentMailError(Exception):
    """Will fail the same way every time."""


def _redact(text: str) -> str:
    """SMTP replies often quote the recipient; the error we keep must not."""
    return _ADDRESS.sub("<address>", text)[:500]


def deliver(outbox_id: int) -> OutboxStatus | None:
    """Send one outbox email unless it was sent already. Returns the row's final status."""
    row = db.session.scalar(select(OutboundEmail).where(OutboundEmail.id == outbox_id)
                            .with_for_update())
    if row is None:
        db.session.rollback()
        return None
    if row.status != OutboxStatus.PENDING:
        db.session.rollback()
        return row.status
    row.attempts += 1
    if _suppressed(row):
        _fail(row, "suppressed")
        return OutboxStatus.FAILED
    try:
        message = build_message(row)
    except PermanentMailError as exc:
        _fail(row, str(exc))
        log.warning("Email %s failed permanently: %s", outbox_id, row.last_error)
        return OutboxStatus.FAILED
    try:
        send_message(message)
    except TemporaryMailError as exc:
        row.last_error = _redact(str(exc))
        # The task is retrying it: keep the dispatcher from handing it off a second time.
        row.dispatched_at = utcnow()
        db.session.commit()
        raise
    except PermanentMailError as exc:
        digest = _recipient_digest(row)
        _fail(row, str(exc))
        if digest is not None:  # the address itself was refused: never again
            suppression.add(digest, SuppressionReason.BOUNCED)
            db.session.commit()
        log.warning("Email %s failed permanently: %s", outbox_id, row.last_error)
        return OutboxStatus.FAILED
    if not current_app.config["MAIL_SERVER"] and row.kind == OutboxKind.CONFIRMATION:
        _log_development_link(row)
    row.status = OutboxStatus.SENT
    row.sent_at = utcnow()
    row.message_id = message["Message-ID"]
    row.payload = None
    row.last_error = None
    db.session.commit()
    if row.delivery_recipient_id is not None:
        deliveries.record_recipient_result(row.delivery_recipient_id,
                                           message_id=row.message_id)
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
    """Whether the suppression list refuses this email. Mail to officials (deliveries)
    and an organizer's test of an update are not supporters' mail, and not checked."""
    if row.signature is not None:
        return suppression.is_suppressed(row.signature.email_digest, row.signature.action_id)
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


def _fail(row: OutboundEmail, reason: str) -> None:
    row.status = OutboxStatus.FAILED
    row.last_error = _redact(reason)
    row.payload = None
    db.session.commit()
    if row.delivery_recipient_id is not None:
        deliveries.record_recipient_result(row.delivery_recipient_id, error=row.last_error)


def give_up(outbox_id: int, reason: str) -> None:
    """Mark an email failed after its retries ran out."""
    row = db.session.get(OutboundEmail, outbox_id)
    if row is not None and row.status == OutboxStatus.PENDING:
        _fail(row, reason)


def _message_id(outbox_id: int) -> str:
    """Stable across retries, so a receiving server can spot a duplicate."""
    domain = parseaddr(current_app.config["MAIL_DEFAULT_SENDER"])[1].rpartition("@")[2]
    return f"<outbox-{outbox_id}@{domain or 'localhost'}>"


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
    from petitions.services import network, reminders, updates

    if row.kind == OutboxKind.DELIVERY and row.delivery_recipient is not None:
        return _delivery_message(row, row.delivery_recipient)
    builders = {OutboxKind.REMINDER: reminders.reminder_draft,
                OutboxKind.UPDATE: updates.update_draft, OutboxKind.ALERT: updates.update_draft,
                OutboxKind.SUBSCRIBE: network.subscribe_draft}
    if row.kind in builders:
        return _assemble(row, builders[row.kind](row))
    if row.kind != OutboxKind.CONFIRMATION or row.signature is None:
        raise PermanentMailError(f"nothing to send for a {row.kind} email without a signature")
    signature = row.signature
    action = signature.action
    token = json.loads(row.payload or "{}").get("token")
    if not token:
        raise PermanentMailError("the confirmation token is missing")
    context = {
        "signature": signature,
        "action": action,
        "confirm_url": external_url("public.confirm_signature", token=token),
        "action_url": external_url("public.action", slug=action.slug),
        "not_me_url": external_url("public.not_me",
                                   token=reminders.not_me_token(signature)),
    }
    with force_locale(signature.locale):
        subject = gettext("Please confirm your signature: %(title)s",
                          title=public_page.texts_for(action, signature.locale).title)
        text = render_template("emails/confirmation.txt", **context)
        html = render_template("emails/confirmation.html", **context)
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = current_app.config["MAIL_DEFAULT_SENDER"]
    message["To"] = formataddr((f"{signature.first_name} {signature.last_name}",
                                _ascii_address(signature.email)))
    message["Message-ID"] = _message_id(row.id)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


def _assemble(row: OutboundEmail, draft: Draft) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = draft.subject
    message["From"] = current_app.config["MAIL_DEFAULT_SENDER"]
    message["To"] = formataddr((draft.to_name, _ascii_address(draft.to_address)))
    message["Message-ID"] = _message_id(row.id)
    message["Auto-Submitted"] = "auto-generated"
    if draft.unsubscribe_url:
        message["List-Unsubscribe"] = f"<{draft.unsubscribe_url}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(draft.text)
    message.add_alternative(draft.html, subtype="html")
    return message


def _delivery_message(row: OutboundEmail, recipient: DeliveryRecipient) -> EmailMessage:
    """The package for one target: addressed by name, the organizer in copy, the PDF
    letter and the CSV attached."""
    delivery = recipient.delivery
    action = delivery.action
    context = {"recipient": recipient, "delivery": delivery, "action": action,
               "action_url": external_url("public.action", slug=action.slug)}
    with force_locale(action.language):
        subject = gettext("%(count)s signatures: %(title)s", count=f"{delivery.total:,}",
                          title=action.title)
        text = render_template("emails/delivery.txt", **context)
        html = render_template("emails/delivery.html", **context)
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = current_app.config["MAIL_DEFAULT_SENDER"]
    message["To"] = formataddr((recipient.name, _ascii_address(recipient.email)))
    organizer = delivery.requested_by
    if organizer is not None and organizer.active:
        message["Cc"] = formataddr((organizer.name or "", _ascii_address(organizer.email)))
    message["Message-ID"] = _message_id(row.id)
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    for filename, media_type, content in deliveries.attachments_for(recipient):
        maintype, _, subtype = media_type.partition("/")
        # Text without a charset is US-ASCII to a mail client: the CSV is UTF-8.
        params = {"charset": "utf-8"} if maintype == "text" else None
        message.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename,
                               params=params)
    return message


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
    if not config["MAIL_SERVER"]:
        _write_to_outbox(message)
        return
    try:
        smtp_class = smtplib.SMTP_SSL if config["MAIL_USE_SSL"] else smtplib.SMTP
        with smtp_class(config["MAIL_SERVER"], config["MAIL_PORT"],
                        timeout=config["MAIL_TIMEOUT"]) as smtp:
            if config["MAIL_USE_TLS"]:
                smtp.starttls()
            if config["MAIL_USERNAME"]:
                smtp.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"] or "")
            smtp.send_message(message)
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


def _write_to_outbox(message: EmailMessage) -> None:
    folder = Path(current_app.config["MAIL_OUTBOX_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    stamp = utcnow().strftime("%Y%m%dT%H%M%S")
    name = message["Message-ID"].strip("<>").partition("@")[0]
    path = folder / f"{stamp}-{name}.eml"
    path.write_bytes(bytes(message))
    # The file, not the link: a confirmation token must never reach a log.
    log.info("Development outbox: email written to %s", path)

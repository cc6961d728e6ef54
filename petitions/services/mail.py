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
from email.message import EmailMessage
from email.utils import formataddr, parseaddr
from pathlib import Path

from flask import current_app, render_template
from flask_babel import force_locale, gettext
from sqlalchemy import select

from petitions.extensions import db
from petitions.models import OutboundEmail, OutboxKind, OutboxStatus, utcnow
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
    try:
        message = build_message(row)
        send_message(message)
    except TemporaryMailError as exc:
        row.last_error = _redact(str(exc))
        db.session.commit()
        raise
    except PermanentMailError as exc:
        row.status = OutboxStatus.FAILED
        row.last_error = _redact(str(exc))
        row.payload = None
        db.session.commit()
        log.warning("Email %s failed permanently: %s", outbox_id, row.last_error)
        return row.status
    row.status = OutboxStatus.SENT
    row.sent_at = utcnow()
    row.message_id = message["Message-ID"]
    row.payload = None
    row.last_error = None
    db.session.commit()
    return row.status


def give_up(outbox_id: int, reason: str) -> None:
    """Mark an email failed after its retries ran out."""
    row = db.session.get(OutboundEmail, outbox_id)
    if row is not None and row.status == OutboxStatus.PENDING:
        row.status = OutboxStatus.FAILED
        row.last_error = _redact(reason)
        row.payload = None
        db.session.commit()


def _message_id(outbox_id: int) -> str:
    """Stable across retries, so a receiving server can spot a duplicate."""
    domain = parseaddr(current_app.config["MAIL_DEFAULT_SENDER"])[1].rpartition("@")[2]
    return f"<outbox-{outbox_id}@{domain or 'localhost'}>"


def build_message(row: OutboundEmail) -> EmailMessage:
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
    }
    with force_locale(signature.locale):
        subject = gettext("Please confirm your signature: %(title)s", title=action.title)
        text = render_template("emails/confirmation.txt", **context)
        html = render_template("emails/confirmation.html", **context)
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = current_app.config["MAIL_DEFAULT_SENDER"]
    message["To"] = formataddr((f"{signature.first_name} {signature.last_name}",
                                signature.email))
    message["Message-ID"] = _message_id(row.id)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    if not current_app.config["MAIL_SERVER"]:
        log.info("Development outbox: confirmation link for email %s: %s",
                 row.id, context["confirm_url"])
    return message


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
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        error = f"recipient refused: {codes}"
        if all(400 <= code < 500 for code in codes):
            raise TemporaryMailError(error) from exc
        raise PermanentMailError(error) from exc
    except smtplib.SMTPResponseException as exc:
        error = f"{exc.smtp_code} {exc.smtp_error!r}"
        if 400 <= exc.smtp_code < 500:
            raise TemporaryMailError(error) from exc
        raise PermanentMailError(error) from exc
    except (TimeoutError, smtplib.SMTPException, OSError) as exc:
        raise TemporaryMailError(f"{type(exc).__name__}: {exc}") from exc


def _write_to_outbox(message: EmailMessage) -> None:
    folder = Path(current_app.config["MAIL_OUTBOX_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    stamp = utcnow().strftime("%Y%m%dT%H%M%S")
    name = message["Message-ID"].strip("<>").partition("@")[0]
    (folder / f"{stamp}-{name}.eml").write_bytes(bytes(message))

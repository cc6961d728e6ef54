"""Reminding signers who have not confirmed, and "It wasn't me".

A pending signature is reminded ``REMINDER_AFTER_HOURS`` after its last email, at
most ``REMINDER_MAX`` times; each reminder carries a fresh confirmation link (the
database keeps one live token per signature) and the "It wasn't me" link. That
link names the signature by its id, signed with the app's secret; looking at its
page changes nothing (mail scanners open links), only the page's button does.
"""

from __future__ import annotations

import json
from datetime import timedelta

from flask import current_app
from flask_babel import gettext
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from petitions.extensions import db
from petitions.models import (
    Action,
    OutboundEmail,
    OutboxKind,
    OutboxStatus,
    Signature,
    SignatureStatus,
    SuppressionReason,
    utcnow,
)
from petitions.services import counting, outbox, suppression
from petitions.services.mail import Draft, PermanentMailError, signer_draft
from petitions.services.signing import new_token
from petitions.urls import external_url

REMINDER_TASK = "petitions.send_reminders"
_NOT_ME_SALT = "not-me"


def queue_reminders(limit: int = 1000) -> int:
    """Queue a reminder for every pending signature that is due one. Returns how many."""
    config = current_app.config
    maximum = int(config["REMINDER_MAX"])
    if maximum <= 0:
        return 0
    now = utcnow()
    due_before = now - timedelta(hours=int(config["REMINDER_AFTER_HOURS"]))
    signatures = list(db.session.scalars(
        select(Signature).where(Signature.status == SignatureStatus.PENDING,
                                Signature.reminders_sent < maximum,
                                Signature.created_at < due_before,
                                Signature.confirmation_sent_at < due_before)
        .order_by(Signature.id).limit(limit)))
    ids = []
    for signature in signatures:
        if suppression.is_suppressed(signature.email_digest, signature.action_id):
            continue
        token, digest_of_token = new_token()
        number = signature.reminders_sent + 1
        row = OutboundEmail(kind=OutboxKind.REMINDER, signature_id=signature.id,
                            dedupe_key=f"reminder:{signature.id}:{number}",
                            payload=json.dumps({"token": token}),
                            status=OutboxStatus.PENDING, dispatched_at=now)
        try:
            with db.session.begin_nested():
                db.session.add(row)
        except IntegrityError:
            continue  # another scheduler run queued this one
        signature.reminders_sent = number
        signature.token_digest = digest_of_token
        signature.token_issued_at = now
        signature.confirmation_sent_at = now
        ids.append(row.id)
    db.session.commit()
    outbox.hand_off(ids)
    return len(ids)


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=_NOT_ME_SALT)


def not_me_token(signature: Signature) -> str:
    return _serializer().dumps(signature.id)


def signature_for_not_me(token: str) -> Signature | None:
    """The signature a "wasn't me" link names, if the link is genuine and it still exists."""
    try:
        signature_id = _serializer().loads(token)
    except BadSignature:
        return None
    if not isinstance(signature_id, int):
        return None
    return db.session.get(Signature, signature_id)


def not_me(token: str) -> Action | None:
    """Delete the pending signature and refuse further mail to the address for its
    action. Returns the action, or None when there was nothing (left) to do.

    A confirmed signature is kept: it was confirmed from that mailbox.
    """
    signature = signature_for_not_me(token)
    if signature is None or signature.status != SignatureStatus.PENDING:
        return None
    action = signature.action
    suppression.add(signature.email_digest, SuppressionReason.NOT_ME, action_id=action.id)
    removed = db.session.execute(
        delete(Signature).where(Signature.id == signature.id,
                                Signature.status == SignatureStatus.PENDING)
        .execution_options(synchronize_session=False)).rowcount
    if removed:
        counting.add(action.id, pending=-1)
    db.session.commit()
    db.session.expunge(signature)
    return action


def reminder_draft(row: OutboundEmail) -> Draft:
    """The reminder email of an outbox row (see ``mail.build_message``)."""
    signature = row.signature
    token = json.loads(row.payload or "{}").get("token")
    if signature is None or not token:
        raise PermanentMailError("the reminder has no signature or token")
    return signer_draft(
        signature, "reminder",
        lambda title: gettext("Reminder: please confirm your signature: %(title)s", title=title),
        confirm_url=external_url("public.confirm_signature", token=token),
        not_me_url=external_url("public.not_me", token=not_me_token(signature)))

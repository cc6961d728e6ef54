"""Recording mail in the transactional outbox and handing it to the broker.

``record`` adds the email to the caller's transaction; after the commit, the
caller hands it to Celery with ``hand_off``. If the broker is unreachable at
that moment, the row is left for ``dispatch_pending``, which the scheduler runs
every few seconds, so an accepted signature always gets its email once the
broker is back.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import timedelta

from flask import current_app
from sqlalchemy import insert, or_, select, update

from petitions.extensions import db
from petitions.models import (
    Delivery,
    DeliveryRecipient,
    OutboundEmail,
    OutboxKind,
    OutboxStatus,
    SealedSubmission,
    utcnow,
)

log = logging.getLogger(__name__)

SEND_EMAIL_TASK = "petitions.send_email"
DISPATCH_TASK = "petitions.dispatch_outbox"


_RECORD = insert(OutboundEmail.__table__).returning(OutboundEmail.__table__.c.id)


def record(kind: OutboxKind, signature_id: int, payload: dict[str, str]) -> int:
    """Add an email to the current transaction and return its id (the caller commits).

    The row is marked as handed off already, optimistically: ``hand_off`` clears the
    mark if the broker refuses it, and a process that dies between the commit and the
    hand-off leaves a row that the dispatcher picks up once the mark is stale. One
    INSERT … RETURNING, built once and without the ORM: signing calls this for every
    signature. The payload is encrypted by its column type, as on any insert.
    """
    return db.session.execute(_RECORD, {
        "kind": kind, "signature_id": signature_id, "payload": json.dumps(payload),
        "status": OutboxStatus.PENDING, "dispatched_at": utcnow()}).scalar_one()


def record_for_recipient(recipient: DeliveryRecipient) -> int:
    """Add a delivery email for one target to the current transaction."""
    row = OutboundEmail(kind=OutboxKind.DELIVERY, delivery_recipient=recipient,
                        status=OutboxStatus.PENDING, dispatched_at=utcnow())
    db.session.add(row)
    db.session.flush()
    return row.id


def record_delivery_copy(delivery: Delivery) -> int:
    """Add the requesting organizer's copy of a delivery to the current transaction."""
    row = OutboundEmail(kind=OutboxKind.DELIVERY_COPY, dedupe_key=f"delivery-copy:{delivery.id}",
                        payload=json.dumps({"delivery_id": delivery.id}),
                        status=OutboxStatus.PENDING, dispatched_at=utcnow())
    db.session.add(row)
    db.session.flush()
    return row.id


def hand_off(ids: Iterable[int]) -> int:
    """Give committed outbox rows to the broker. Returns how many were handed off.

    A row that could not be handed off gets its ``dispatched_at`` cleared, so that
    the scheduler's next ``dispatch_pending`` picks it up.
    """
    return hand_off_tasks(SEND_EMAIL_TASK, OutboundEmail, ids)


def hand_off_tasks(task: str,
                   model: type[OutboundEmail] | type[Delivery] | type[SealedSubmission],
                   ids: Iterable[int]) -> int:
    """Send ``task`` for each row id; rows the broker refused get ``dispatched_at``
    cleared, for the scheduler to hand off again. Returns how many were handed off."""
    celery = current_app.extensions["celery"]
    ids = list(ids)
    failed: list[int] = []
    for position, row_id in enumerate(ids):
        try:
            celery.send_task(task, args=[row_id], retry=False)
        except Exception as exc:  # broker down: any kombu, redis or socket error
            # Don't wait for the broker once per row: leave them all to the scheduler.
            failed = ids[position:]
            log.warning("Broker unavailable, %d %s task(s) left for the scheduler: %s",
                        len(failed), task, type(exc).__name__)
            break
    if failed:
        db.session.execute(update(model).where(model.id.in_(failed))
                           .values(dispatched_at=None))
        db.session.commit()
    return len(ids) - len(failed)


def dispatch_pending(limit: int = 1000) -> int:
    """Hand off unsent emails that were never handed off, or handed off long ago."""
    now = utcnow()
    stale = now - timedelta(seconds=current_app.config["OUTBOX_REDISPATCH_AFTER_SECONDS"])
    ids = list(db.session.scalars(
        select(OutboundEmail.id)
        .where(OutboundEmail.status == OutboxStatus.PENDING,
               or_(OutboundEmail.dispatched_at.is_(None), OutboundEmail.dispatched_at < stale))
        .order_by(OutboundEmail.id)
        .limit(limit)))
    if not ids:
        return 0
    db.session.execute(update(OutboundEmail).where(OutboundEmail.id.in_(ids))
                       .values(dispatched_at=now))
    db.session.commit()
    return hand_off(ids)

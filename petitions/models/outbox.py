"""The transactional outbox: mail recorded in the same transaction as its cause.

A row is written with the signature that needs it, so a confirmation email can't
be lost between the commit and the broker: the dispatcher keeps handing unsent
rows to Celery until a worker has sent them.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from petitions.crypto import EncryptedText
from petitions.extensions import db
from petitions.models.deliveries import DeliveryRecipient
from petitions.models.signatures import Signature
from petitions.models.types import BigId, UTCDateTime, utcnow


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class OutboxKind(enum.StrEnum):
    CONFIRMATION = "confirmation"
    DELIVERY = "delivery"
    # The requesting organizer's own copy of a delivery: never in copy of the targets'
    # message, which must not name anyone behind the appeal.
    DELIVERY_COPY = "delivery_copy"
    REMINDER = "reminder"
    UPDATE = "update"
    ALERT = "alert"
    SUBSCRIBE = "subscribe"
    # To a confirmed signer: someone signed the action again with their address.
    SIGNED_AGAIN = "signed_again"
    LOGIN_ALERT = "login_alert"


class OutboundEmail(db.Model):
    __tablename__ = "outbound_emails"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[OutboxKind] = mapped_column(
        Enum(OutboxKind, native_enum=False, length=32,
             values_callable=lambda e: [m.value for m in e]))
    signature_id: Mapped[int | None] = mapped_column(
        ForeignKey("signatures.id", ondelete="CASCADE"), index=True)
    delivery_recipient_id: Mapped[int | None] = mapped_column(
        ForeignKey("delivery_recipients.id", ondelete="CASCADE"), index=True)
    update_id: Mapped[int | None] = mapped_column(ForeignKey("updates.id", ondelete="CASCADE"),
                                                  index=True)
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), index=True)
    # What this email is, uniquely (e.g. "update:7:sig:123"): recording it twice is
    # refused by the database, so a restarted batch never mails anyone twice.
    dedupe_key: Mapped[str | None] = mapped_column(String(100), unique=True)
    # What the message needs beyond the rows it points at (the confirmation token),
    # as encrypted JSON; erased once the message is sent.
    payload: Mapped[str | None] = mapped_column(EncryptedText("outbound_emails.payload"))
    status: Mapped[OutboxStatus] = mapped_column(
        Enum(OutboxStatus, native_enum=False, length=16,
             values_callable=lambda e: [m.value for m in e]),
        default=OutboxStatus.PENDING, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    signature: Mapped[Signature | None] = relationship()
    delivery_recipient: Mapped[DeliveryRecipient | None] = relationship()

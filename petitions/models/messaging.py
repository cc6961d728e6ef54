"""Keeping supporters informed: updates to signers, the urgent-action network, and
the suppression list every sending path checks."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Boolean, Enum, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from petitions.crypto import EncryptedText
from petitions.extensions import db
from petitions.models.actions import Action
from petitions.models.types import BigId, UTCDateTime, utcnow
from petitions.models.users import User


def _enum(cls: type[enum.StrEnum], length: int = 16) -> Enum:
    return Enum(cls, native_enum=False, length=length,
                values_callable=lambda e: [m.value for m in e])


class UpdateKind(enum.StrEnum):
    UPDATE = "update"  # to the opted-in confirmed signers of one action
    ALERT = "alert"    # to the network's subscribers, about a newly launched action


class UpdateStatus(enum.StrEnum):
    DRAFT = "draft"
    SENDING = "sending"
    SENT = "sent"


class Update(db.Model):
    """A message an organizer writes for an action's signers, or a network alert.

    Sending walks the recipients in id order; ``cursor`` is the last recipient id
    queued, so a worker restarted in the middle goes on where it stopped.
    """

    __tablename__ = "updates"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    action_id: Mapped[int] = mapped_column(ForeignKey("actions.id", ondelete="CASCADE"),
                                           index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    kind: Mapped[UpdateKind] = mapped_column(_enum(UpdateKind), default=UpdateKind.UPDATE)
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)  # Markdown
    # Shown on the action's public timeline once sent.
    public: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[UpdateStatus] = mapped_column(_enum(UpdateStatus), default=UpdateStatus.DRAFT,
                                                 index=True)
    cursor: Mapped[int] = mapped_column(Integer, default=0)
    recipients: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    action: Mapped[Action] = relationship()
    author: Mapped[User | None] = relationship()


class SubscriberStatus(enum.StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    UNSUBSCRIBED = "unsubscribed"


class Subscriber(db.Model):
    """A member of the urgent-action network (double opt-in, no account)."""

    __tablename__ = "subscribers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email: Mapped[str] = mapped_column(EncryptedText("subscribers.email"))
    email_digest: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[SubscriberStatus] = mapped_column(_enum(SubscriberStatus),
                                                     default=SubscriberStatus.PENDING,
                                                     index=True)
    # Empty lists with all_actions: every new action; otherwise the chosen ones.
    all_actions: Mapped[bool] = mapped_column(Boolean, default=True)
    topics: Mapped[list[str]] = mapped_column(JSON, default=list)
    regions: Mapped[list[str]] = mapped_column(JSON, default=list)
    locale: Mapped[str] = mapped_column(String(10), default="en")
    token_digest: Mapped[str | None] = mapped_column(String(64), unique=True)
    token_issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    consent_version: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SuppressionReason(enum.StrEnum):
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    NOT_ME = "not_me"
    ADMIN = "admin"


class Suppression(db.Model):
    """An address no mail goes to: everywhere (``action_id`` null) or for one action.

    Only the keyed digest of the address is kept, so the list itself reveals no one.
    """

    __tablename__ = "suppressions"
    __table_args__ = (UniqueConstraint("email_digest", "scope"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email_digest: Mapped[str] = mapped_column(String(64), index=True)
    # "all", or "action:<id>": a plain string so the pair can be unique.
    scope: Mapped[str] = mapped_column(String(32), default="all")
    action_id: Mapped[int | None] = mapped_column(ForeignKey("actions.id", ondelete="CASCADE"))
    reason: Mapped[SuppressionReason] = mapped_column(_enum(SuppressionReason))
    note: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

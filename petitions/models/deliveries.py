"""Compiled tallies, and deliveries of the signatures to an action's targets."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Enum,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from petitions.extensions import db
from petitions.models.actions import Action
from petitions.models.types import BigId, UTCDateTime, utcnow
from petitions.models.users import User


class ActionTally(db.Model):
    """The latest compiled tally of an action: counts by country and by day.

    Compiled by the scheduler (only for actions whose counters moved) and on demand,
    so that no page or API call ever counts millions of rows itself.
    """

    __tablename__ = "action_tallies"

    action_id: Mapped[int] = mapped_column(ForeignKey("actions.id", ondelete="CASCADE"),
                                           primary_key=True)
    confirmed: Mapped[int] = mapped_column(Integer, default=0)
    pending: Mapped[int] = mapped_column(Integer, default=0)
    paper: Mapped[int] = mapped_column(Integer, default=0)
    by_country: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    by_day: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    compiled_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DeliveryStatus(enum.StrEnum):
    QUEUED = "queued"
    COMPILING = "compiling"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


class DeliveryTrigger(enum.StrEnum):
    MANUAL = "manual"
    GOAL = "goal"
    DEADLINE = "deadline"


def _enum(cls: type[enum.StrEnum], length: int = 16) -> Enum:
    return Enum(cls, native_enum=False, length=length,
                values_callable=lambda e: [m.value for m in e])


class Delivery(db.Model):
    """One compiled package of signatures, sent to every target of the action."""

    __tablename__ = "deliveries"
    # An automatic delivery happens once per action and trigger; manual ones have
    # no key (NULLs never collide).
    __table_args__ = (UniqueConstraint("action_id", "auto_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    action_id: Mapped[int] = mapped_column(ForeignKey("actions.id", ondelete="CASCADE"),
                                           index=True)
    requested_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"))
    trigger: Mapped[DeliveryTrigger] = mapped_column(_enum(DeliveryTrigger),
                                                     default=DeliveryTrigger.MANUAL)
    auto_key: Mapped[str | None] = mapped_column(String(16))
    mark_delivered: Mapped[bool] = mapped_column(default=False)
    status: Mapped[DeliveryStatus] = mapped_column(_enum(DeliveryStatus),
                                                   default=DeliveryStatus.QUEUED, index=True)
    confirmed_count: Mapped[int | None] = mapped_column(Integer)
    paper_count: Mapped[int | None] = mapped_column(Integer)
    by_country: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    compiled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    action: Mapped[Action] = relationship()
    requested_by: Mapped[User | None] = relationship()
    recipients: Mapped[list[DeliveryRecipient]] = relationship(
        back_populates="delivery", order_by="DeliveryRecipient.position",
        cascade="all, delete-orphan")
    files: Mapped[list[DeliveryFile]] = relationship(
        back_populates="delivery", order_by="DeliveryFile.id", cascade="all, delete-orphan")

    @property
    def total(self) -> int:
        return (self.confirmed_count or 0) + (self.paper_count or 0)


class DeliveryRecipient(db.Model):
    """A target the package goes to, as the target was when the delivery was compiled."""

    __tablename__ = "delivery_recipients"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id", ondelete="CASCADE"),
                                             index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(200), default="")
    organization: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str] = mapped_column(String(320))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    message_id: Mapped[str | None] = mapped_column(String(255))
    error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    delivery: Mapped[Delivery] = relationship(back_populates="recipients")


class DeliveryFile(db.Model):
    """A file of the package (a recipient's PDF, the CSV), encrypted: it lists names.

    Kept in the database rather than on a disk so that the web app can offer it for
    download wherever the worker that compiled it ran.
    """

    __tablename__ = "delivery_files"
    __table_args__ = (UniqueConstraint("delivery_id", "name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    media_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    # AES-GCM under the PII keys (see petitions.crypto), bound to delivery and name.
    # Deferred: listing a delivery's files must not load every letter.
    content: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    delivery: Mapped[Delivery] = relationship(back_populates="files")

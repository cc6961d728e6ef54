"""Actions (the appeals people sign), their targets, and their signature counters."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import JSON, Date, Enum, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from petitions.extensions import db
from petitions.models.types import BigId, UTCDateTime, utcnow

if TYPE_CHECKING:
    from petitions.models.images import StoredImage
    from petitions.models.users import User

COUNTER_SHARDS = 16


class ActionStatus(enum.StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    CLOSED = "closed"
    DELIVERED = "delivered"
    ARCHIVED = "archived"


class Action(db.Model):
    __tablename__ = "actions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(String(500), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    # One demand a line, shown as a list beside the appeal text.
    demands: Mapped[str] = mapped_column(Text, default="")
    goal: Mapped[int] = mapped_column(Integer, default=1000)
    deadline: Mapped[date | None] = mapped_column(Date)
    status: Mapped[ActionStatus] = mapped_column(
        Enum(ActionStatus, native_enum=False, length=16,
             values_callable=lambda e: [m.value for m in e]),
        default=ActionStatus.DRAFT, index=True)
    language: Mapped[str] = mapped_column(String(10), default="en")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Deliver the signatures automatically when the goal is reached / the deadline passes.
    auto_deliver_on_goal: Mapped[bool] = mapped_column(default=False, server_default="0")
    auto_deliver_at_deadline: Mapped[bool] = mapped_column(default=False, server_default="0")
    # For the urgent-action network: subscribers choose topics and regions.
    topics: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    region: Mapped[str] = mapped_column(String(64), default="", server_default="")
    # Texts in other languages: {"fa": {"title": …, "summary": …, "body": …, "demands": …}}.
    translations: Mapped[dict[str, dict[str, str]]] = mapped_column(
        JSON, default=dict, server_default="{}")
    # Shown in link previews (Open Graph / Twitter cards).
    image_url: Mapped[str] = mapped_column(String(500), default="", server_default="")
    # The hero picture, uploaded (petitions.services.images), and its required alt text.
    image_id: Mapped[int | None] = mapped_column(ForeignKey("images.id", ondelete="SET NULL"))
    image_alt: Mapped[str] = mapped_column(String(300), default="", server_default="")
    # Abuse defence, switched on by an admin for an action under attack.
    proof_of_work: Mapped[bool] = mapped_column(default=False, server_default="0")
    # Retention: keep signers' data after closing (otherwise anonymized after a while).
    keep_data: Mapped[bool] = mapped_column(default=False, server_default="0")
    anonymized_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    targets: Mapped[list[Target]] = relationship(
        back_populates="action", order_by="Target.position", cascade="all, delete-orphan")
    organizers: Mapped[list[User]] = relationship(secondary="action_organizers",
                                                  back_populates="actions")
    image: Mapped[StoredImage | None] = relationship()

    @property
    def demand_list(self) -> list[str]:
        return [line.strip() for line in self.demands.splitlines() if line.strip()]

    @property
    def primary_target(self) -> Target | None:
        return self.targets[0] if self.targets else None

    @property
    def is_open(self) -> bool:
        return self.status == ActionStatus.PUBLISHED


class Target(db.Model):
    """An official an action is addressed to, e.g. the UN Secretary-General."""

    __tablename__ = "targets"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    action_id: Mapped[int] = mapped_column(ForeignKey("actions.id", ondelete="CASCADE"),
                                           index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(200), default="")
    organization: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str] = mapped_column(String(320), default="")

    action: Mapped[Action] = relationship(back_populates="targets")


class ActionCounter(db.Model):
    """Sharded signature counters: a signature touches one of ``COUNTER_SHARDS`` rows,
    so thousands of confirmations a minute don't queue on one hot row, and a count
    is a sum over a handful of rows instead of a COUNT(*) over millions."""

    __tablename__ = "action_counters"
    __table_args__ = (UniqueConstraint("action_id", "shard"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    action_id: Mapped[int] = mapped_column(ForeignKey("actions.id", ondelete="CASCADE"))
    shard: Mapped[int] = mapped_column(Integer)
    confirmed: Mapped[int] = mapped_column(Integer, default=0)
    pending: Mapped[int] = mapped_column(Integer, default=0)
    # Signatures collected on paper and uploaded by an organizer.
    paper: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

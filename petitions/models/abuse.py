"""Defences against floods of fake signatures: block rules and the hourly report."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from petitions.extensions import db
from petitions.models.types import BigId, UTCDateTime, utcnow
from petitions.models.users import User


class BlockKind(enum.StrEnum):
    EMAIL_DOMAIN = "email_domain"  # value: the domain's keyed digest
    EMAIL = "email"                # value: the address's keyed digest
    IP_NETWORK = "ip_network"      # value: the keyed digest of a /24 (IPv4) or /48 (IPv6)


class BlockRule(db.Model):
    __tablename__ = "block_rules"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[BlockKind] = mapped_column(
        Enum(BlockKind, native_enum=False, length=16,
             values_callable=lambda e: [m.value for m in e]), index=True)
    # Only the digest: what the admin typed is shown to them once, when it is added.
    value: Mapped[str] = mapped_column(String(64), index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id",
                                                                 ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    created_by: Mapped[User | None] = relationship()


class AbuseReport(db.Model):
    """The hourly report of networks and email domains signing unusually often, by
    their digests only."""

    __tablename__ = "abuse_reports"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    period_start: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    period_end: Mapped[datetime] = mapped_column(UTCDateTime)
    findings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

"""Signatures. Every personal value is encrypted at rest (see ``petitions.crypto``)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, Enum, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from petitions.crypto import EncryptedText
from petitions.extensions import db
from petitions.models.actions import Action
from petitions.models.types import BigId, UTCDateTime, utcnow


class SignatureStatus(enum.StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    # Struck out by an admin as part of a flood of fake signatures; not counted.
    INVALIDATED = "invalidated"


class Signature(db.Model):
    __tablename__ = "signatures"
    __table_args__ = (
        UniqueConstraint("action_id", "email_digest"),
        # The console's and the tally's queries: per action, by status and day,
        # by country, by source, newest first.
        Index("ix_signatures_action_status_confirmed", "action_id", "status", "confirmed_at"),
        Index("ix_signatures_action_country", "action_id", "country"),
        Index("ix_signatures_action_source", "action_id", "source"),
        Index("ix_signatures_action_created", "action_id", "created_at"),
        # The action page's "recent signers": only the few who asked to be shown are
        # in it, so the page never walks an action's million other rows.
        Index("ix_signatures_action_public_recent", "action_id", "confirmed_at", "id",
              postgresql_where=text("status = 'confirmed' AND show_publicly"),
              sqlite_where=text("status = 'confirmed' AND show_publicly")),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # (action_id, email_digest) is unique, which also indexes action_id.
    action_id: Mapped[int] = mapped_column(ForeignKey("actions.id", ondelete="CASCADE"))
    first_name: Mapped[str] = mapped_column(EncryptedText("signatures.first_name"))
    last_name: Mapped[str] = mapped_column(EncryptedText("signatures.last_name"))
    # The normalized address, encrypted; ``email_digest`` finds it without decrypting.
    email: Mapped[str] = mapped_column(EncryptedText("signatures.email"))
    email_digest: Mapped[str] = mapped_column(String(64), index=True)
    country: Mapped[str] = mapped_column(String(2))
    postcode: Mapped[str | None] = mapped_column(EncryptedText("signatures.postcode"))
    comment: Mapped[str | None] = mapped_column(EncryptedText("signatures.comment"))
    updates_opt_in: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_version: Mapped[str | None] = mapped_column(String(32))
    consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[SignatureStatus] = mapped_column(
        Enum(SignatureStatus, native_enum=False, length=16,
             values_callable=lambda e: [m.value for m in e]),
        default=SignatureStatus.PENDING)
    # SHA-256 of the confirmation token: the token itself is only ever in the email.
    token_digest: Mapped[str | None] = mapped_column(String(64), unique=True)
    token_issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    confirmation_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    source: Mapped[str | None] = mapped_column(String(64))
    locale: Mapped[str] = mapped_column(String(10), default="en")
    # Truncated keyed digest of the signer's IP address, erased after a while.
    ip_digest: Mapped[str | None] = mapped_column(String(16))
    # Truncated keyed digests of the address's network (/24, /48) and of the email's
    # domain: enough to block or strike out a flood, never to name anyone.
    ip_network_digest: Mapped[str | None] = mapped_column(String(16))
    email_domain_digest: Mapped[str | None] = mapped_column(String(16))
    # The signer agreed to appear (first name and country) in the recent signers list.
    show_publicly: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    reminders_sent: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # When the owner of this confirmed signature was last told that someone signed the
    # action again with their address (at most once a day: ``signing.notify_signed_again``).
    signed_again_notice_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    action: Mapped[Action] = relationship()

"""Failed logins, counted per account and client together.

A stranger who knows an organizer's address must not be able to lock them out, so
failures are not counted per account alone: each pair of (account, client) has its
own count and its own growing delay. Both are keyed digests: the table holds no
address, no IP address, and it says nothing about whether the account exists (an
unknown address is counted like a known one).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from petitions.extensions import db
from petitions.models.types import BigId, UTCDateTime


class LoginThrottle(db.Model):
    __tablename__ = "login_throttles"
    __table_args__ = (UniqueConstraint("account_digest", "client_digest"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_digest: Mapped[str] = mapped_column(String(64))
    client_digest: Mapped[str] = mapped_column(String(64))
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    # No attempt from this client for this account is checked before this moment.
    retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

"""Sealed submissions: what the web tier received, readable only by a vault worker.

A row holds one signing form, sealed to the intake public key, from the moment the
supporter is answered until a vault worker opens it and applies the signing rules;
then it is deleted, in the same transaction that stores the signature. A row that
can't be opened is kept, marked failed, for an operator, and never retried.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import LargeBinary
from sqlalchemy.orm import Mapped, mapped_column

from petitions.extensions import db
from petitions.models.types import BigId, UTCDateTime, utcnow


class SealedSubmission(db.Model):
    __tablename__ = "sealed_submissions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    # Handed to the broker at (optimistically set on insert; cleared if the broker
    # refused it, so the scheduler hands it off again).
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # Could not be opened (altered, sealed to another key, not a submission).
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

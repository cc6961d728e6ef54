"""Signatures collected on paper at events, uploaded as CSV and counted apart."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from petitions.crypto import EncryptedText
from petitions.extensions import db
from petitions.models.actions import Action
from petitions.models.types import BigId, UTCDateTime, utcnow
from petitions.models.users import User


class PaperBatch(db.Model):
    __tablename__ = "paper_batches"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    action_id: Mapped[int] = mapped_column(ForeignKey("actions.id", ondelete="CASCADE"),
                                           index=True)
    uploaded_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"))
    label: Mapped[str] = mapped_column(String(200), default="")
    accepted: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    action: Mapped[Action] = relationship()
    uploaded_by: Mapped[User | None] = relationship()


class PaperSignature(db.Model):
    __tablename__ = "paper_signatures"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    action_id: Mapped[int] = mapped_column(ForeignKey("actions.id", ondelete="CASCADE"),
                                           index=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("paper_batches.id", ondelete="CASCADE"),
                                          index=True)
    first_name: Mapped[str] = mapped_column(EncryptedText("paper_signatures.first_name"))
    last_name: Mapped[str] = mapped_column(EncryptedText("paper_signatures.last_name"))
    country: Mapped[str] = mapped_column(String(2))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

"""The managed list of topics and regions that actions are tagged with and network
members choose from. Actions and members store a term's ``key``, which never changes:
renaming a term changes only the ``name`` people see, and retiring one hides it from
new choices without touching the actions and members that have it."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from petitions.extensions import db
from petitions.models.types import BigId, UTCDateTime, utcnow


class TermKind(enum.StrEnum):
    TOPIC = "topic"
    REGION = "region"


class Term(db.Model):
    __tablename__ = "terms"
    __table_args__ = (UniqueConstraint("kind", "key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[TermKind] = mapped_column(
        Enum(TermKind, native_enum=False, length=16,
             values_callable=lambda e: [m.value for m in e]))
    key: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def retired(self) -> bool:
        return self.retired_at is not None

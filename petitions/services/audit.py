"""Recording and reading the audit log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from petitions.extensions import db
from petitions.models.audit import AuditEntry

if TYPE_CHECKING:
    from petitions.models.users import User


def record(verb: str, object_type: str, object_id: object, *, actor: User | None,
           via: str = "web", before: dict[str, Any] | None = None,
           after: dict[str, Any] | None = None) -> None:
    """Add an entry to the current transaction (the caller commits). Only the fields
    that changed are kept from ``before`` and ``after``; a change that changed nothing
    is not recorded."""
    if before is not None and after is not None:
        changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
        if not changed:
            return
        before = {k: v for k, v in before.items() if k in changed}
        after = {k: v for k, v in after.items() if k in changed}
    db.session.add(AuditEntry(actor_id=actor.id if actor else None, via=via, verb=verb,
                              object_type=object_type,
                              object_id=None if object_id is None else str(object_id),
                              before=before, after=after))


@dataclass(frozen=True)
class AuditFilter:
    actor_id: int | None = None
    verb: str | None = None
    object_type: str | None = None
    object_id: str | None = None
    since: date | None = None
    until: date | None = None


def entries(filters: AuditFilter, *, page: int = 1, per_page: int = 50) -> list[AuditEntry]:
    query = select(AuditEntry).order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc())
    if filters.actor_id is not None:
        query = query.where(AuditEntry.actor_id == filters.actor_id)
    if filters.verb:
        query = query.where(AuditEntry.verb.startswith(filters.verb))
    if filters.object_type:
        query = query.where(AuditEntry.object_type == filters.object_type)
    if filters.object_id:
        query = query.where(AuditEntry.object_id == filters.object_id)
    if filters.since:
        query = query.where(AuditEntry.created_at >= datetime.combine(filters.since, time(),
                                                                       UTC))
    if filters.until:
        query = query.where(AuditEntry.created_at < datetime.combine(
            filters.until + timedelta(days=1), time(), UTC))
    offset = (max(page, 1) - 1) * per_page
    return list(db.session.scalars(query.offset(offset).limit(per_page)))

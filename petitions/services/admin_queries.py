"""Read-only look-ups the admin console needs and no other part of the site does.

Changes never happen here: they go through the actions and accounts services,
which write the audit log.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select

from petitions.extensions import db
from petitions.models import ApiToken, AuditEntry, Role, User
from petitions.services import audit


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditEntry]
    page: int
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.page > 1


def audit_page(filters: audit.AuditFilter, page: int, per_page: int = 50) -> AuditPage:
    """One page of the audit log, and whether another page follows.

    Whether one follows is asked as a page of one entry placed right after this
    page, so no count runs over the whole (filtered) log.
    """
    page = max(page, 1)
    following = audit.entries(filters, page=page * per_page + 1, per_page=1)
    return AuditPage(audit.entries(filters, page=page, per_page=per_page), page,
                     bool(following))


def audit_object_types() -> list[str]:
    """The kinds of object the log has entries about, for the filter's choices."""
    return list(db.session.scalars(
        select(AuditEntry.object_type).distinct().order_by(AuditEntry.object_type)))


def get_user(user_id: int) -> User | None:
    return db.session.get(User, user_id)


def get_token(token_id: int) -> ApiToken | None:
    return db.session.get(ApiToken, token_id)


def assignable_organizers(assigned: Iterable[User] = ()) -> list[User]:
    """Users who can be assigned to an action: every organizer, plus whoever is
    assigned already (so an assignment is not dropped unnoticed when that user has
    since become an admin), ordered by account creation."""
    organizers = list(db.session.scalars(
        select(User).where(User.role == Role.ORGANIZER).order_by(User.created_at, User.id)))
    known = {u.id for u in organizers}
    return organizers + [u for u in assigned if u.id not in known]


def users_by_ids(ids: Iterable[int]) -> list[User]:
    wanted = set(ids)
    if not wanted:
        return []
    return list(db.session.scalars(select(User).where(User.id.in_(wanted))
                                   .order_by(User.created_at, User.id)))

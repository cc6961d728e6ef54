"""The suppression list: addresses no mail goes to, everywhere or for one action.

Every sending path asks ``is_suppressed`` before it sends. Only the keyed digest of
an address is stored, so the list reveals no one; an admin adding an address types
it, and it is turned into the digest at once. A note the admin adds keeps no address,
IP or domain in clear either (``abuse.redact_identifiers``). Searching for an address
is a POST: an address never sits in a URL, a log line or the browser's history.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, Exists, String, cast, exists, literal, select
from sqlalchemy.exc import IntegrityError

from petitions.extensions import db
from petitions.models import Suppression, SuppressionReason, User
from petitions.services import audit
from petitions.services.abuse import redact_identifiers
from petitions.services.signing import address_digest

ALL = "all"
NETWORK = "network"  # alerts from the urgent-action network only
_ACTION = "action:"  # + the action's id: mail about that action only


def action_scope(action_id: int) -> str:
    return f"{_ACTION}{action_id}"


def is_suppressed(digest: str, action_id: int | None = None, *, network: bool = False) -> bool:
    """Whether mail to the address behind ``digest`` is refused: everywhere, for
    ``action_id``, or (``network``) for the urgent-action network's alerts."""
    return bool(db.session.scalar(select(suppressed(digest, action_id, network=network))))


def suppressed(digest: str | ColumnElement[str],
               action_id: int | ColumnElement[int] | None = None, *,
               network: bool = False) -> Exists:
    """``is_suppressed`` as an SQL expression, for a query that asks it on the way
    (the mail worker: with the outbox row, in one round trip). ``digest`` and
    ``action_id`` may be columns of that query."""
    scopes: list[str | ColumnElement[str]] = [ALL]
    if isinstance(action_id, int):
        scopes.append(action_scope(action_id))
    elif action_id is not None:
        scopes.append(literal(_ACTION) + cast(action_id, String))
    if network:
        scopes.append(NETWORK)
    return exists().where(Suppression.email_digest == digest, Suppression.scope.in_(scopes))


def add(digest: str, reason: SuppressionReason, *, action_id: int | None = None,
        scope: str | None = None, note: str | None = None) -> Suppression | None:
    """Add the address to the current transaction's suppressions; None if it was there.

    Runs in a savepoint, so a concurrent insert of the same pair leaves the caller's
    transaction usable. The caller commits.
    """
    scope = scope or (ALL if action_id is None else action_scope(action_id))
    if db.session.scalar(select(Suppression.id).where(Suppression.email_digest == digest,
                                                      Suppression.scope == scope)):
        return None
    row = Suppression(email_digest=digest, scope=scope, action_id=action_id, reason=reason,
                      note=note)
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError:
        return None
    return row


@dataclass(frozen=True)
class Page:
    items: list[Suppression]
    page: int
    pages: int
    total: int


def entries(page: int = 1, per_page: int = 50, search: str | None = None) -> Page:
    """The list, newest first; ``search`` an address, whose entries alone are listed."""
    query = select(Suppression)
    if search:
        query = query.where(Suppression.email_digest == address_digest(search))
    total = db.session.scalar(select(db.func.count()).select_from(query.subquery())) or 0
    pages = max(1, -(-total // per_page))
    page = min(max(page, 1), pages)
    items = list(db.session.scalars(query.order_by(Suppression.id.desc())
                                    .offset((page - 1) * per_page).limit(per_page)))
    return Page(items, page, pages, total)


def admin_add(actor: User, address: str, note: str | None = None) -> bool:
    """An admin suppresses an address everywhere; audited, committed."""
    row = add(address_digest(address), SuppressionReason.ADMIN,
              note=redact_identifiers(note) if note else None)
    if row is not None:
        audit.record("suppression.create", "suppression", row.id, actor=actor,
                     after={"scope": row.scope, "reason": str(row.reason)})
    db.session.commit()
    return row is not None


def admin_remove(actor: User, suppression_id: int) -> bool:
    """An admin lifts one suppression; audited, committed."""
    row = db.session.get(Suppression, suppression_id)
    if row is None:
        return False
    audit.record("suppression.delete", "suppression", row.id, actor=actor,
                 before={"scope": row.scope, "reason": str(row.reason)})
    db.session.delete(row)
    db.session.commit()
    return True


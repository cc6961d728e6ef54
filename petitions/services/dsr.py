"""Data-subject requests: everything held about an email address, and erasing it.

Addresses are found through their keyed digests, never by decrypting every row.
The audit log records that a request was handled and what it touched, with the
first characters of the address's digest instead of the address itself.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select

from petitions.extensions import db
from petitions.models import (
    Action,
    Signature,
    SignatureStatus,
    Subscriber,
    Suppression,
    User,
)
from petitions.services import accounts, audit, counting
from petitions.services.signing import SigningError, email_digest, normalize_email

DIGEST_PREFIX = 12


class RequestError(ValueError):
    """The address is not a valid email address."""


@dataclass(frozen=True)
class Subject:
    address: str
    digest: str        # signatures, subscribers, suppressions
    staff_digest: str  # staff accounts

    @property
    def reference(self) -> str:
        """What the audit log keeps: enough to match a later question, not the address."""
        return self.digest[:DIGEST_PREFIX]


@dataclass(frozen=True)
class Erasure:
    signatures: int
    subscriber: bool
    staff_account: bool  # kept: a staff account is removed by an admin, not by this request


def subject(address: str) -> Subject:
    try:
        normalized = normalize_email(address)
    except SigningError as exc:
        raise RequestError(str(exc)) from exc
    return Subject(normalized.address, email_digest(normalized.lookup_key),
                   accounts.email_digest(normalized.address))


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _signatures(person: Subject) -> list[tuple[Signature, Action]]:
    rows = db.session.execute(
        select(Signature, Action).join(Action, Action.id == Signature.action_id)
        .where(Signature.email_digest == person.digest).order_by(Signature.id))
    return [(signature, action) for signature, action in rows]


def export(address: str, *, actor: User | None, via: str = "cli") -> dict[str, Any]:
    """Everything held about ``address``, as plain JSON-ready values. Audited."""
    person = subject(address)
    signatures = [{
        "action": {"slug": action.slug, "title": action.title},
        "first_name": s.first_name, "last_name": s.last_name, "email": s.email,
        "country": s.country, "postcode": s.postcode, "comment": s.comment,
        "status": str(s.status), "source": s.source, "locale": s.locale,
        "updates_opt_in": s.updates_opt_in, "consent_version": s.consent_version,
        "consent_at": _when(s.consent_at), "show_publicly": s.show_publicly,
        "created_at": _when(s.created_at), "confirmed_at": _when(s.confirmed_at),
        "ip_address_digest_kept": s.ip_digest is not None,
    } for s, action in _signatures(person)]
    subscriber = db.session.scalar(select(Subscriber)
                                   .where(Subscriber.email_digest == person.digest))
    suppressions = db.session.scalars(select(Suppression)
                                      .where(Suppression.email_digest == person.digest)).all()
    staff = db.session.scalar(select(User).where(User.email_digest == person.staff_digest))
    result: dict[str, Any] = {
        "email": person.address,
        "signatures": signatures,
        "subscriber": None if subscriber is None else {
            "email": subscriber.email, "status": str(subscriber.status),
            "all_actions": subscriber.all_actions, "topics": subscriber.topics,
            "regions": subscriber.regions, "locale": subscriber.locale,
            "consent_version": subscriber.consent_version,
            "created_at": _when(subscriber.created_at),
            "confirmed_at": _when(subscriber.confirmed_at)},
        "suppressions": [{"scope": s.scope, "reason": str(s.reason),
                          "created_at": _when(s.created_at)} for s in suppressions],
        "staff_account": None if staff is None else {
            "email": staff.email, "name": staff.name, "role": str(staff.role),
            "active": staff.active, "created_at": _when(staff.created_at)},
    }
    audit.record("privacy.export", "email", person.reference, actor=actor, via=via,
                 after={"signatures": len(signatures), "subscriber": subscriber is not None,
                        "suppressions": len(suppressions), "staff_account": staff is not None})
    db.session.commit()
    return result


def erase(address: str, *, actor: User | None, via: str = "cli") -> Erasure:
    """Delete the signatures and the network subscription of ``address``, adjusting the
    counts. Suppressions stay (they hold only the digest, and they are what keeps mail
    from reaching someone who asked for none). Audited; commits."""
    person = subject(address)
    rows = db.session.execute(
        delete(Signature).where(Signature.email_digest == person.digest)
        .returning(Signature.action_id, Signature.status)
        .execution_options(synchronize_session=False)).all()
    confirmed = Counter(action_id for action_id, status in rows
                        if status == SignatureStatus.CONFIRMED)
    pending = Counter(action_id for action_id, status in rows
                      if status == SignatureStatus.PENDING)
    for action_id in confirmed.keys() | pending.keys():
        counting.add(action_id, confirmed=-confirmed[action_id], pending=-pending[action_id])
    subscribers = db.session.execute(
        delete(Subscriber).where(Subscriber.email_digest == person.digest)
        .execution_options(synchronize_session=False)).rowcount
    staff = db.session.scalar(select(User.id).where(User.email_digest == person.staff_digest))
    erasure = Erasure(signatures=len(rows), subscriber=bool(subscribers),
                      staff_account=staff is not None)
    audit.record("privacy.erase", "email", person.reference, actor=actor, via=via,
                 after={"signatures": erasure.signatures, "subscriber": erasure.subscriber,
                        "staff_account_kept": erasure.staff_account})
    db.session.commit()
    return erasure

"""Data-subject requests: everything held about an email address, and erasing it.

Addresses are found through their keyed digests, never by decrypting every row.
The audit log records that a request was handled and what it touched, with the
first characters of the address's digest instead of the address itself.

Every copy counts. A paper signature has no address: it is found by the name the
person gives (``paper_name``), compared case-blind, and the admin checks the export
before erasing. A delivery package (the stored PDF letters and CSV) that listed the
person is rebuilt without them; if it had already reached a target, that copy cannot
be recalled, so the erasure reports the delivery to the admin (and the audit log
marks it, ``delivery.erasure``), who may tell the person and the target.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select

from petitions.extensions import db
from petitions.models import (
    Action,
    Delivery,
    PaperSignature,
    Signature,
    SignatureStatus,
    Subscriber,
    Suppression,
    User,
)
from petitions.services import accounts, audit, counting, deliveries
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
    paper_signatures: int = 0
    packages_rebuilt: int = 0
    # Deliveries whose package had reached a target before the erasure: that copy is
    # out of our hands. Their ids, for the admin.
    already_delivered: tuple[int, ...] = ()


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


def _same_name(name: str) -> str:
    return " ".join(name.split()).casefold()


def _paper_signatures(paper_name: str | None) -> list[PaperSignature]:
    """The paper signatures under ``paper_name`` (first and last name, any case). Paper
    carries no address, so the names are read (decrypted) one batch at a time."""
    wanted = _same_name(paper_name or "")
    if not wanted:
        return []
    rows = db.session.scalars(select(PaperSignature).order_by(PaperSignature.id)
                              .execution_options(yield_per=1000))
    return [row for row in rows if _same_name(f"{row.first_name} {row.last_name}") == wanted]


def _packages(first_listed: dict[int, datetime]) -> list[Delivery]:
    """The compiled deliveries that listed someone: of the actions in ``first_listed``,
    compiled once they were on the list (action id: the earliest such moment)."""
    if not first_listed:
        return []
    found = db.session.scalars(select(Delivery).where(
        Delivery.action_id.in_(first_listed), Delivery.compiled_at.is_not(None))
        .order_by(Delivery.id))
    return [d for d in found if d.compiled_at is not None
            and _as_utc(d.compiled_at) >= _as_utc(first_listed[d.action_id])]


def _as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes in UTC; compare them with aware ones."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _listed_since(rows: list[tuple[int, datetime | None]]) -> dict[int, datetime]:
    earliest: dict[int, datetime] = {}
    for action_id, when in rows:
        if when is not None and (action_id not in earliest
                                 or _as_utc(when) < _as_utc(earliest[action_id])):
            earliest[action_id] = when
    return earliest


def export(address: str, *, actor: User | None, via: str = "cli",
           paper_name: str | None = None) -> dict[str, Any]:
    """Everything held about ``address`` (and the paper signatures under
    ``paper_name``), as plain JSON-ready values. Audited."""
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
    paper = _paper_signatures(paper_name)
    listed = _listed_since(
        [(s.action_id, s.confirmed_at) for s, _ in _signatures(person)
         if s.status == SignatureStatus.CONFIRMED]
        + [(p.action_id, p.created_at) for p in paper])
    packages = _packages(listed)
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
        "paper_signatures": [{
            "action": p.action_id, "first_name": p.first_name, "last_name": p.last_name,
            "country": p.country, "uploaded_at": _when(p.created_at)} for p in paper],
        # The packages that list them by name: kept (encrypted) until the delivery
        # files' retention ends; a package sent to a target is also in their hands.
        "delivery_packages": [{
            "action": d.action.slug, "delivery": d.id, "status": str(d.status),
            "compiled_at": _when(d.compiled_at), "files_kept": bool(d.files),
            "sent_to_targets": deliveries.reached_a_target(d)} for d in packages],
    }
    audit.record("privacy.export", "email", person.reference, actor=actor, via=via,
                 after={"signatures": len(signatures), "subscriber": subscriber is not None,
                        "suppressions": len(suppressions), "staff_account": staff is not None,
                        "paper_signatures": len(paper), "delivery_packages": len(packages)})
    db.session.commit()
    return result


def erase(address: str, *, actor: User | None, via: str = "cli",
          paper_name: str | None = None) -> Erasure:
    """Delete the signatures and the network subscription of ``address`` (and the paper
    signatures under ``paper_name``), adjusting the counts, and rebuild every delivery
    package that listed them. Suppressions stay (they hold only the digest, and they
    are what keeps mail from reaching someone who asked for none). Audited; commits."""
    person = subject(address)
    rows = db.session.execute(
        delete(Signature).where(Signature.email_digest == person.digest)
        .returning(Signature.action_id, Signature.status, Signature.confirmed_at)
        .execution_options(synchronize_session=False)).all()
    confirmed = Counter(action_id for action_id, status, _ in rows
                        if status == SignatureStatus.CONFIRMED)
    pending = Counter(action_id for action_id, status, _ in rows
                      if status == SignatureStatus.PENDING)
    for action_id in confirmed.keys() | pending.keys():
        counting.add(action_id, confirmed=-confirmed[action_id], pending=-pending[action_id])
    paper = _paper_signatures(paper_name)
    listed = _listed_since(
        [(action_id, when) for action_id, status, when in rows
         if status == SignatureStatus.CONFIRMED]
        + [(p.action_id, p.created_at) for p in paper])
    for action_id, count in Counter(p.action_id for p in paper).items():
        counting.add(action_id, paper=-count)
    for row in paper:
        db.session.delete(row)
    subscribers = db.session.execute(
        delete(Subscriber).where(Subscriber.email_digest == person.digest)
        .execution_options(synchronize_session=False)).rowcount
    db.session.flush()
    rebuilt, already_delivered = 0, []
    for delivery in _packages(listed):
        if not deliveries.rebuild_package(delivery):
            continue
        rebuilt += 1
        sent = deliveries.reached_a_target(delivery)
        if sent:
            already_delivered.append(delivery.id)
        audit.record("delivery.erasure", "delivery", delivery.id, actor=actor, via=via,
                     after={"rebuilt": True, "already_sent_to_targets": sent})
    staff = db.session.scalar(select(User.id).where(User.email_digest == person.staff_digest))
    erasure = Erasure(signatures=len(rows), subscriber=bool(subscribers),
                      staff_account=staff is not None, paper_signatures=len(paper),
                      packages_rebuilt=rebuilt, already_delivered=tuple(already_delivered))
    audit.record("privacy.erase", "email", person.reference, actor=actor, via=via,
                 after={"signatures": erasure.signatures, "subscriber": erasure.subscriber,
                        "staff_account_kept": erasure.staff_account,
                        "paper_signatures": erasure.paper_signatures,
                        "packages_rebuilt": rebuilt,
                        "already_delivered": list(erasure.already_delivered)})
    db.session.commit()
    return erasure

"""Delivering the signatures to the officials an action is addressed to.

``request_delivery`` records a queued delivery and hands it to a worker. The
worker's ``compile_delivery`` builds the package (one PDF letter per target, and
a CSV of names and countries), keeps it encrypted in the database, and records
one email per target in the transactional outbox, so each target's message goes
through the same retrying, idempotent path as every other email. As each email
is sent or fails, ``record_recipient_result`` moves the delivery to ``sent`` (all
targets reached) or ``failed`` (one refused for good), and, when asked, moves the
action to ``delivered``.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from petitions.crypto import vault
from petitions.extensions import db
from petitions.models import (
    Action,
    ActionStatus,
    Delivery,
    DeliveryFile,
    DeliveryRecipient,
    DeliveryStatus,
    DeliveryTrigger,
    utcnow,
)
from petitions.services import audit, counting, outbox, tallies
from petitions.services.actions import update_action
from petitions.services.delivery_package import Addressee, build_csv, build_pdf, signers

if TYPE_CHECKING:
    from petitions.models import User

log = logging.getLogger(__name__)

COMPILE_TASK = "petitions.compile_delivery"
CSV_NAME = "signatures.csv"
# A delivery still queued this long after its hand-off is handed to a worker again.
REDISPATCH_AFTER = timedelta(minutes=15)
DELIVERABLE = (ActionStatus.PUBLISHED, ActionStatus.CLOSED, ActionStatus.DELIVERED)


class DeliveryError(ValueError):
    """The delivery can't be requested; the message says why."""


def request_delivery(action: Action, *, actor: User | None, via: str = "web",
                     trigger: DeliveryTrigger = DeliveryTrigger.MANUAL,
                     mark_delivered: bool = False) -> Delivery:
    if action.status not in DELIVERABLE:
        raise DeliveryError(f"an action that is {action.status} can't be delivered")
    if not any(t.email for t in action.targets):
        raise DeliveryError("none of the action's targets has an email address")
    delivery = Delivery(action_id=action.id, requested_by_id=actor.id if actor else None,
                        trigger=trigger, mark_delivered=mark_delivered,
                        auto_key=None if trigger == DeliveryTrigger.MANUAL else str(trigger),
                        status=DeliveryStatus.QUEUED, dispatched_at=utcnow())
    db.session.add(delivery)
    try:
        db.session.flush()
    except IntegrityError as exc:
        db.session.rollback()
        raise DeliveryError(f"the {trigger} delivery of this action exists already") from exc
    audit.record("delivery.request", "delivery", delivery.id, actor=actor, via=via,
                 after={"action_id": action.id, "trigger": str(trigger),
                        "mark_delivered": mark_delivered})
    db.session.commit()
    hand_off(delivery.id)
    return delivery


def hand_off(delivery_id: int) -> bool:
    """Give a delivery to a worker; if the broker is down, leave it to the scheduler."""
    return outbox.hand_off_tasks(COMPILE_TASK, Delivery, [delivery_id]) == 1


def dispatch_stalled() -> int:
    """The scheduler's job: hand off deliveries never handed off, or stuck for long."""
    stale = utcnow() - REDISPATCH_AFTER
    ids = list(db.session.scalars(
        select(Delivery.id).where(
            Delivery.status.in_((DeliveryStatus.QUEUED, DeliveryStatus.COMPILING)),
            or_(Delivery.dispatched_at.is_(None), Delivery.dispatched_at < stale))))
    if ids:
        db.session.execute(update(Delivery).where(Delivery.id.in_(ids))
                           .values(dispatched_at=utcnow()))
        db.session.commit()
    return outbox.hand_off_tasks(COMPILE_TASK, Delivery, ids)


def compile_delivery(delivery_id: int) -> DeliveryStatus | None:
    """Build the package and queue one email per target. Safe to run twice: a delivery
    whose emails are queued already is left alone."""
    delivery = db.session.get(Delivery, delivery_id)
    if delivery is None:
        return None
    if delivery.status not in (DeliveryStatus.QUEUED, DeliveryStatus.COMPILING):
        return delivery.status
    delivery.status = DeliveryStatus.COMPILING
    delivery.dispatched_at = utcnow()
    db.session.commit()

    action = delivery.action
    if not any(t.email for t in action.targets):
        # The targets changed since the request: with no one to send to, the delivery
        # would wait in "sending" for answers that never come.
        delivery.status = DeliveryStatus.FAILED
        delivery.error = "none of the action's targets has an email address"
        db.session.commit()
        return DeliveryStatus.FAILED
    tally = tallies.compile_tally(action.id)
    counts = counting.counts(action.id)
    compiled_on = utcnow().date()
    targets = [t for t in action.targets if t.email]
    files = _package(action, [Addressee(t.name, t.title, t.organization) for t in targets],
                     confirmed=tally.confirmed, paper=counts.paper,
                     by_country=tally.by_country, compiled_on=compiled_on)

    delivery = db.session.scalar(select(Delivery).where(Delivery.id == delivery_id)
                                 .with_for_update())
    if delivery is None or delivery.status != DeliveryStatus.COMPILING or delivery.recipients:
        db.session.rollback()
        return delivery.status if delivery else None
    for name, (media_type, content) in files.items():
        delivery.files.append(DeliveryFile(
            name=name, media_type=media_type, size=len(content),
            content=vault().encrypt_bytes(content, file_context(delivery_id, name))))
    outbox_ids = []
    for position, target in enumerate(targets):
        recipient = DeliveryRecipient(position=position, name=target.name, title=target.title,
                                      organization=target.organization, email=target.email)
        delivery.recipients.append(recipient)
        db.session.flush()
        outbox_ids.append(outbox.record_for_recipient(recipient))
    organizer = delivery.requested_by
    if organizer is not None and organizer.active:
        outbox_ids.append(outbox.record_delivery_copy(delivery))
    delivery.confirmed_count = tally.confirmed
    delivery.paper_count = counts.paper
    delivery.by_country = tally.by_country
    delivery.compiled_at = utcnow()
    delivery.status = DeliveryStatus.SENDING
    db.session.commit()
    outbox.hand_off(outbox_ids)
    return DeliveryStatus.SENDING


def _package(action: Action, addressees: list[Addressee], *, confirmed: int, paper: int,
             by_country: dict[str, int], compiled_on: date,
             until: datetime | None = None) -> dict[str, tuple[str, bytes]]:
    """name: (media type, content) of the CSV and of one letter per addressee."""
    files = {CSV_NAME: ("text/csv", build_csv(signers(action, until)))}
    for position, addressee in enumerate(addressees):
        files[_pdf_name(position)] = ("application/pdf", build_pdf(
            action, addressee, confirmed=confirmed, paper=paper, by_country=by_country,
            compiled_on=compiled_on, rows=signers(action, until), locale=action.language))
    return files


def rebuild_package(delivery: Delivery) -> bool:
    """Rebuild the stored files of a compiled delivery from the signers it carried who
    are still held (after a data-subject erasure); counts follow. Returns whether a
    package was rebuilt (False: nothing compiled, or its files already deleted).
    The caller commits.

    The targets' copy, if already sent, cannot be recalled: the caller reports it.
    """
    if delivery.compiled_at is None or not delivery.files:
        return False
    action = delivery.action
    by_country: dict[str, int] = {}
    confirmed = paper = 0
    for signer in signers(action, delivery.compiled_at):
        if signer.on_paper:
            paper += 1
        else:
            confirmed += 1
            by_country[signer.country] = by_country.get(signer.country, 0) + 1
    addressees = [Addressee(r.name, r.title, r.organization) for r in delivery.recipients]
    files = _package(action, addressees, confirmed=confirmed, paper=paper,
                     by_country=dict(sorted(by_country.items())),
                     compiled_on=delivery.compiled_at.date(), until=delivery.compiled_at)
    for stored in delivery.files:
        if stored.name not in files:
            continue
        content = files[stored.name][1]
        stored.content = vault().encrypt_bytes(content, file_context(delivery.id, stored.name))
        stored.size = len(content)
    delivery.confirmed_count, delivery.paper_count = confirmed, paper
    delivery.by_country = dict(sorted(by_country.items()))
    return True


def reached_a_target(delivery: Delivery) -> bool:
    """Whether a target has received the package already (it cannot be recalled)."""
    return any(r.status == "sent" for r in delivery.recipients)


def _pdf_name(position: int) -> str:
    return f"letter-{position + 1}.pdf"


def file_context(delivery_id: int, name: str) -> str:
    """What a delivery file's ciphertext is bound to (see ``keys.encrypted_columns``)."""
    return f"delivery_files:{delivery_id}:{name}"


def attachments_for(recipient: DeliveryRecipient) -> list[tuple[str, str, bytes]]:
    """(filename, media type, content) of what a recipient's email carries."""
    delivery = recipient.delivery
    slug = delivery.action.slug
    wanted = {_pdf_name(recipient.position): f"{slug}-letter.pdf",
              CSV_NAME: f"{slug}-signatures.csv"}
    return [(wanted[f.name], f.media_type, read_file(f)) for f in delivery.files
            if f.name in wanted]


def copy_attachments(delivery: Delivery) -> list[tuple[str, str, bytes]]:
    """What the organizer's copy carries: every target's letter and the CSV."""
    slug = delivery.action.slug
    return [(f"{slug}-{stored.name}", stored.media_type, read_file(stored))
            for stored in delivery.files]


def read_file(stored: DeliveryFile) -> bytes:
    return vault().decrypt_bytes(stored.content, file_context(stored.delivery_id, stored.name))


def get_file(delivery: Delivery, name: str) -> DeliveryFile | None:
    return next((f for f in delivery.files if f.name == name), None)


def record_recipient_result(recipient_id: int, *, message_id: str | None = None,
                            error: str | None = None) -> None:
    """Note that a target's email went out (or failed for good), and settle the delivery
    once every target has an answer. Runs in the caller's transaction and commits."""
    recipient = db.session.get(DeliveryRecipient, recipient_id)
    if recipient is None:
        return
    if error is None:
        recipient.status, recipient.message_id, recipient.sent_at = "sent", message_id, utcnow()
    else:
        recipient.status, recipient.error = "failed", error
    db.session.flush()
    delivery = db.session.scalar(select(Delivery).where(Delivery.id == recipient.delivery_id)
                                 .with_for_update())
    if delivery is None or delivery.status != DeliveryStatus.SENDING:
        db.session.commit()
        return
    answers = {r.status for r in delivery.recipients}
    if "pending" in answers:
        db.session.commit()
        return
    if answers == {"sent"}:
        delivery.status = DeliveryStatus.SENT
        delivery.sent_at = utcnow()
        db.session.commit()
        if delivery.mark_delivered:
            _mark_action_delivered(delivery.action)
    else:
        delivery.status = DeliveryStatus.FAILED
        delivery.error = "; ".join(f"{r.name}: {r.error}" for r in delivery.recipients
                                   if r.status == "failed")[:2000]
        db.session.commit()


def _mark_action_delivered(action: Action) -> None:
    if action.status == ActionStatus.PUBLISHED:
        update_action(action, {"status": ActionStatus.CLOSED}, actor=None, via="worker")
    if action.status == ActionStatus.CLOSED:
        update_action(action, {"status": ActionStatus.DELIVERED}, actor=None, via="worker")


def auto_deliver_due(today: date | None = None) -> int:
    """The scheduler's job: start the automatic deliveries whose moment has come."""
    today = today or datetime.now(UTC).date()
    started = 0
    candidates = db.session.scalars(select(Action).where(
        Action.status.in_((ActionStatus.PUBLISHED, ActionStatus.CLOSED)),
        or_(Action.auto_deliver_on_goal.is_(True), Action.auto_deliver_at_deadline.is_(True))))
    for action in list(candidates):
        due = []
        if action.auto_deliver_on_goal and counting.counts(action.id).total >= action.goal:
            due.append(DeliveryTrigger.GOAL)
        if action.auto_deliver_at_deadline and action.deadline and action.deadline < today:
            due.append(DeliveryTrigger.DEADLINE)
        # One automatic delivery at a time: goal and deadline due together, or the
        # deadline passing while the goal's delivery is on its way, would otherwise
        # send the targets the same package twice.
        if due and _auto_underway(action.id):
            continue
        for trigger in due:
            if _has_auto(action.id, trigger):
                continue
            try:
                request_delivery(action, actor=None, via="worker", trigger=trigger,
                                 mark_delivered=True)
                started += 1
            except DeliveryError as exc:
                log.warning("Automatic %s delivery of action %s not started: %s",
                            trigger, action.id, exc)
            break
    return started


def _auto_underway(action_id: int) -> bool:
    return db.session.scalar(select(Delivery.id).where(
        Delivery.action_id == action_id, Delivery.auto_key.is_not(None),
        Delivery.status.in_((DeliveryStatus.QUEUED, DeliveryStatus.COMPILING,
                             DeliveryStatus.SENDING))).limit(1)) is not None


def _has_auto(action_id: int, trigger: DeliveryTrigger) -> bool:
    return db.session.scalar(select(Delivery.id).where(
        Delivery.action_id == action_id, Delivery.auto_key == str(trigger))) is not None


def set_auto_delivery(action: Action, *, on_goal: bool, at_deadline: bool,
                      actor: User | None, via: str = "web") -> None:
    before = {"auto_deliver_on_goal": action.auto_deliver_on_goal,
              "auto_deliver_at_deadline": action.auto_deliver_at_deadline}
    action.auto_deliver_on_goal = on_goal
    action.auto_deliver_at_deadline = at_deadline
    audit.record("action.auto_delivery", "action", action.id, actor=actor, via=via,
                 before=before, after={"auto_deliver_on_goal": on_goal,
                                       "auto_deliver_at_deadline": at_deadline})
    db.session.commit()


def list_deliveries(action: Action) -> list[Delivery]:
    return list(db.session.scalars(select(Delivery).where(Delivery.action_id == action.id)
                                   .order_by(Delivery.created_at.desc(), Delivery.id.desc())))


def get_delivery(action: Action, delivery_id: int) -> Delivery | None:
    if not 0 < delivery_id < 2**63:  # neither database takes a number beyond 64 bits
        return None
    delivery = db.session.get(Delivery, delivery_id)
    return delivery if delivery is not None and delivery.action_id == action.id else None


def last_sent(action: Action) -> Delivery | None:
    """The latest delivery that reached every target, for the public page."""
    return db.session.scalar(select(Delivery).where(
        Delivery.action_id == action.id, Delivery.status == DeliveryStatus.SENT)
        .order_by(Delivery.sent_at.desc()).limit(1))


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def delivery_json(delivery: Delivery) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "action": delivery.action.slug,
        "status": str(delivery.status),
        "trigger": str(delivery.trigger),
        "confirmed": delivery.confirmed_count,
        "paper": delivery.paper_count,
        "total": delivery.total if delivery.confirmed_count is not None else None,
        "by_country": delivery.by_country,
        "requested_at": _iso(delivery.created_at),
        "compiled_at": _iso(delivery.compiled_at),
        "sent_at": _iso(delivery.sent_at),
        "error": delivery.error,
        "recipients": [{"name": r.name, "title": r.title, "organization": r.organization,
                        "status": r.status, "message_id": r.message_id,
                        "sent_at": _iso(r.sent_at), "error": r.error}
                       for r in delivery.recipients],
    }

"""Updates to signers and alerts to the network: written once, sent in batches.

Sending walks the recipients in id order, ``UPDATE_BATCH_SIZE`` at a time. One
transaction records a batch's outbox rows and moves the update's ``cursor`` past
them, so a worker killed at any point leaves either the whole batch queued or none
of it; each row's ``dedupe_key`` makes the database refuse a second email to the
same person for the same update, whatever happens. The batch task carries the
cursor it expects: a second chain of batches (a resumed one, a redelivered task)
finds the cursor moved and stops, so there is only ever one pace-keeping chain.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app, render_template
from flask_babel import force_locale, gettext
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from petitions.extensions import db
from petitions.models import (
    Action,
    OutboundEmail,
    OutboxKind,
    OutboxStatus,
    Signature,
    SignatureStatus,
    Subscriber,
    SubscriberStatus,
    SuppressionReason,
    Update,
    UpdateKind,
    UpdateStatus,
    User,
    utcnow,
)
from petitions.services import audit, network, outbox, public_page, suppression
from petitions.services.actions import render_markdown_offline
from petitions.services.mail import Draft, PermanentMailError
from petitions.urls import external_url

BATCH_TASK = "petitions.send_update_batch"
RESUME_TASK = "petitions.resume_updates"
SUBJECT_MAX = 200
BODY_MAX = 20_000
# A batch of an alert reads subscribers this many at a time while looking for matches.
_SCAN_CHUNK = 1000


class UpdateError(ValueError):
    """The update can't be saved or sent; ``errors`` maps form fields to messages."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


def _validate(subject: str, body: str) -> tuple[str, str]:
    subject, body = " ".join(subject.split()), body.strip()
    errors = {}
    if not subject:
        errors["subject"] = gettext("Please write a subject.")
    elif len(subject) > SUBJECT_MAX:
        errors["subject"] = gettext("Please use at most %(num)s characters.", num=SUBJECT_MAX)
    if not body:
        errors["body"] = gettext("Please write the update.")
    elif len(body) > BODY_MAX:
        errors["body"] = gettext("Please use at most %(num)s characters.", num=BODY_MAX)
    if errors:
        raise UpdateError(errors)
    return subject, body


def create_update(action: Action, author: User, subject: str, body: str, *,
                  public: bool = True) -> Update:
    """Save a draft update for the action's signers (committed)."""
    subject, body = _validate(subject, body)
    update = Update(action_id=action.id, author_id=author.id, kind=UpdateKind.UPDATE,
                    subject=subject, body=body, public=public, status=UpdateStatus.DRAFT)
    db.session.add(update)
    db.session.flush()
    audit.record("update.create", "update", update.id, actor=author,
                 after={"action_id": action.id, "public": public})
    db.session.commit()
    return update


def _draft_for_change(update: Update) -> Update:
    """The update locked for a change, if it is still a draft; refused once sending
    has started (the lock makes a "send" at the same instant wait, then see it)."""
    locked = db.session.scalar(select(Update).where(Update.id == update.id)
                               .with_for_update().execution_options(populate_existing=True))
    if locked is None or locked.status != UpdateStatus.DRAFT:
        db.session.rollback()
        raise UpdateError({"update": gettext(
            "Sending has started: the update can no longer be changed or deleted.")})
    return locked


def edit_update(update: Update, actor: User, subject: str, body: str, *,
                public: bool = True) -> Update:
    """Change a draft update before it is sent (committed, audited)."""
    subject, body = _validate(subject, body)
    update = _draft_for_change(update)
    before = {"subject": update.subject, "body": update.body, "public": update.public}
    update.subject, update.body, update.public = subject, body, public
    audit.record("update.edit", "update", update.id, actor=actor, before=before,
                 after={"subject": subject, "body": body, "public": public})
    db.session.commit()
    return update


def delete_update(update: Update, actor: User) -> None:
    """Delete a draft update that was never sent (committed, audited); the tests sent
    to its author go with it."""
    update = _draft_for_change(update)
    audit.record("update.delete", "update", update.id, actor=actor,
                 before={"action_id": update.action_id, "subject": update.subject})
    db.session.execute(delete(OutboundEmail).where(OutboundEmail.update_id == update.id))
    db.session.delete(update)
    db.session.commit()


def get(action: Action, update_id: int) -> Update | None:
    update = db.session.get(Update, update_id)
    return update if update is not None and update.action_id == action.id else None


def list_for(action: Action) -> list[Update]:
    return list(db.session.scalars(select(Update).where(Update.action_id == action.id)
                                   .order_by(Update.id.desc())))


def public_timeline(action: Action) -> list[Update]:
    """The sent public updates, newest first, for the action's page."""
    return list(db.session.scalars(
        select(Update).where(Update.action_id == action.id, Update.kind == UpdateKind.UPDATE,
                             Update.public.is_(True), Update.status != UpdateStatus.DRAFT)
        .order_by(Update.started_at.desc())))


def send_test(update: Update, user: User) -> int:
    """Queue the update to ``user`` alone; it counts for no one and marks nothing sent."""
    row = OutboundEmail(kind=OutboxKind.ALERT if update.kind == UpdateKind.ALERT
                        else OutboxKind.UPDATE, update_id=update.id,
                        payload=json.dumps({"test_user_id": user.id}),
                        status=OutboxStatus.PENDING, dispatched_at=utcnow())
    db.session.add(row)
    db.session.commit()
    outbox.hand_off([row.id])
    return row.id


def start_sending(update: Update, actor: User | None) -> bool:
    """Move a draft to sending and queue its first batch. False if it was not a draft."""
    if update.status != UpdateStatus.DRAFT:
        return False
    update.status = UpdateStatus.SENDING
    update.started_at = utcnow()
    audit.record("update.send", "update", update.id, actor=actor,
                 after={"kind": str(update.kind)})
    db.session.commit()
    _queue_batch(update.id, update.cursor)
    return True


def create_alert(action: Action, actor: User) -> Update:
    """Alert the network about a published action, once per action, and start sending."""
    if not action.is_open:
        raise UpdateError({"action": gettext("Only a published, open action can be announced.")})
    existing = db.session.scalar(select(Update.id).where(Update.action_id == action.id,
                                                         Update.kind == UpdateKind.ALERT))
    if existing is not None:
        raise UpdateError({"action": gettext(
            "The network was alerted about this action already.")})
    alert = Update(action_id=action.id, author_id=actor.id, kind=UpdateKind.ALERT,
                   subject=action.title, body=action.summary or action.title, public=False,
                   status=UpdateStatus.DRAFT)
    db.session.add(alert)
    db.session.flush()
    start_sending(alert, actor)
    return alert


def _queue_batch(update_id: int, cursor: int, countdown: float = 0) -> None:
    celery = current_app.extensions["celery"]
    try:
        celery.send_task(BATCH_TASK, args=[update_id, cursor], countdown=countdown,
                         retry=False)
    except Exception:  # broker down: resume_stalled picks the update up again
        current_app.logger.warning("Broker unavailable; update %s waits for the resume job",
                                   update_id)


def _batch_size() -> int:
    return max(1, int(current_app.config["UPDATE_BATCH_SIZE"]))


def _interval(count: int) -> float:
    """Seconds the rate allows for ``count`` emails."""
    return count * 60.0 / max(1, int(current_app.config["UPDATE_RATE_PER_MINUTE"]))


def _next_signers(update: Update, limit: int) -> tuple[list[int], int]:
    ids = list(db.session.scalars(
        select(Signature.id).where(Signature.action_id == update.action_id,
                                   Signature.status == SignatureStatus.CONFIRMED,
                                   Signature.updates_opt_in.is_(True),
                                   Signature.id > update.cursor)
        .order_by(Signature.id).limit(limit)))
    return ids, (ids[-1] if ids else update.cursor)


def subscriber_matches(subscriber: Subscriber, action: Action) -> bool:
    """Whether a network member asked to hear about ``action``."""
    if subscriber.all_actions:
        return True
    return bool(set(subscriber.topics or []) & set(action.topics or [])) or bool(
        action.region and action.region in (subscriber.regions or []))


def _next_subscribers(update: Update, limit: int) -> tuple[list[int], int]:
    """The next matching confirmed subscribers, and how far the scan went."""
    found: list[int] = []
    cursor = update.cursor
    while len(found) < limit:
        chunk = list(db.session.scalars(
            select(Subscriber).where(Subscriber.status == SubscriberStatus.CONFIRMED,
                                     Subscriber.id > cursor)
            .order_by(Subscriber.id).limit(_SCAN_CHUNK)))
        if not chunk:
            break
        for subscriber in chunk:
            cursor = subscriber.id
            if subscriber_matches(subscriber, update.action):
                found.append(subscriber.id)
                if len(found) == limit:
                    break
    return found, cursor


def send_batch(update_id: int, expected_cursor: int) -> int:
    """Queue the next batch of an update; schedule the one after. Returns rows queued.

    A task whose ``expected_cursor`` is no longer the update's cursor belongs to a
    chain that another one has overtaken: it does nothing.
    """
    update = db.session.scalar(select(Update).where(Update.id == update_id).with_for_update())
    if update is None or update.status != UpdateStatus.SENDING or update.cursor != expected_cursor:
        db.session.rollback()
        return 0
    alert = update.kind == UpdateKind.ALERT
    recipients, cursor = (_next_subscribers if alert else _next_signers)(update, _batch_size())
    if not recipients:
        update.status = UpdateStatus.SENT
        update.finished_at = utcnow()
        update.cursor = cursor
        db.session.commit()
        return 0
    ids = []
    for recipient_id in recipients:
        key = f"{update.kind}:{update.id}:{'sub' if alert else 'sig'}:{recipient_id}"
        row = OutboundEmail(kind=OutboxKind.ALERT if alert else OutboxKind.UPDATE,
                            update_id=update.id, dedupe_key=key,
                            subscriber_id=recipient_id if alert else None,
                            signature_id=None if alert else recipient_id,
                            status=OutboxStatus.PENDING, dispatched_at=utcnow())
        try:
            with db.session.begin_nested():
                db.session.add(row)
        except IntegrityError:
            continue  # queued already: that person has (or will have) it once
        ids.append(row.id)
    update.cursor = cursor
    update.recipients += len(ids)
    db.session.commit()
    outbox.hand_off(ids)
    _queue_batch(update_id, cursor, countdown=_interval(len(recipients)))
    return len(ids)


def _last_activity(update: Update) -> datetime | None:
    last = db.session.scalar(select(func.max(OutboundEmail.created_at))
                             .where(OutboundEmail.update_id == update.id,
                                    OutboundEmail.dedupe_key.is_not(None)))
    return last or update.started_at


def resume_stalled(older_than: timedelta | None = None) -> int:
    """Queue the next batch of every update left sending with no batch for a while
    (a worker killed between two batches, a broker down at the start)."""
    now = utcnow()
    slack = older_than if older_than is not None else timedelta(seconds=60)
    resumed = 0
    for update in db.session.scalars(select(Update).where(
            Update.status == UpdateStatus.SENDING)).all():
        last = _last_activity(update)
        due = timedelta(seconds=_interval(_batch_size())) + slack
        if last is None or now - last >= due:
            _queue_batch(update.id, update.cursor)
            resumed += 1
    db.session.rollback()
    return resumed


@dataclass
class Report:
    """What an organizer sees of one update's sending."""

    sent: int = 0
    failed: int = 0
    pending: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


def report(update: Update) -> Report:
    rows = db.session.execute(
        select(OutboundEmail.status, OutboundEmail.last_error, func.count())
        .where(OutboundEmail.update_id == update.id, OutboundEmail.dedupe_key.is_not(None))
        .group_by(OutboundEmail.status, OutboundEmail.last_error)).all()
    result = Report()
    for status, error, count in rows:
        if status == OutboxStatus.SENT:
            result.sent += count
        elif status == OutboxStatus.FAILED:
            result.failed += count
            reason = error or "unknown"
            result.reasons[reason] = result.reasons.get(reason, 0) + count
        else:
            result.pending += count
    return result


def reports(updates: list[Update]) -> dict[int, Report]:
    return {u.id: report(u) for u in updates}


# --- unsubscribing ------------------------------------------------------------------------

_UNSUBSCRIBE_SALT = "unsubscribe"


def _unsubscribe_serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=_UNSUBSCRIBE_SALT)


def unsubscribe_token(*, signature_id: int | None = None,
                      subscriber_id: int | None = None) -> str:
    """The one-click unsubscribe link's token: a signed id, never an address."""
    if signature_id is not None:
        return _unsubscribe_serializer().dumps(["sig", signature_id])
    return _unsubscribe_serializer().dumps(["sub", subscriber_id])


@dataclass(frozen=True)
class Unsubscription:
    """Whom an unsubscribe link is for: a signer's updates about one action, or a
    network member's alerts."""

    signature: Signature | None = None
    subscriber: Subscriber | None = None

    @property
    def action(self) -> Action | None:
        return self.signature.action if self.signature is not None else None


def read_unsubscribe_token(token: str) -> Unsubscription | None:
    try:
        kind, ident = _unsubscribe_serializer().loads(token)
    except (BadSignature, ValueError, TypeError):
        return None
    if not isinstance(ident, int):
        return None
    if kind == "sig":
        signature = db.session.get(Signature, ident)
        return Unsubscription(signature=signature) if signature is not None else None
    if kind == "sub":
        subscriber = db.session.get(Subscriber, ident)
        return Unsubscription(subscriber=subscriber) if subscriber is not None else None
    return None


def unsubscribe(token: str) -> Unsubscription | None:
    """Stop the mail the link is about; idempotent (RFC 8058 clients may POST twice)."""
    target = read_unsubscribe_token(token)
    if target is None:
        return None
    if target.subscriber is not None:
        network.unsubscribe(target.subscriber)
    elif target.signature is not None:
        signature = target.signature
        signature.updates_opt_in = False
        suppression.add(signature.email_digest, SuppressionReason.UNSUBSCRIBED,
                        action_id=signature.action_id)
        db.session.commit()
    return target


# --- the email ----------------------------------------------------------------------------

def update_draft(row: OutboundEmail) -> Draft:
    """An update or alert email of an outbox row (see ``mail.build_message``): to a
    signer, a network member, or (a test) the organizer who asked for it."""
    update = db.session.get(Update, row.update_id) if row.update_id else None
    if update is None:
        raise PermanentMailError("the update is gone")
    action = update.action
    payload = json.loads(row.payload or "{}")
    context: dict[str, object] = {"update": update, "action": action,
                                  "action_url": external_url("public.action", slug=action.slug),
                                  # No remote image: a tracker would learn who
                                  # read the update, when, and from where.
                                  "body_html": render_markdown_offline(update.body)}
    if row.signature is not None:
        signature = row.signature
        name, address, locale = (f"{signature.first_name} {signature.last_name}",
                                 signature.email, signature.locale)
        token = unsubscribe_token(signature_id=signature.id)
    elif row.subscriber_id is not None:
        subscriber = db.session.get(Subscriber, row.subscriber_id)
        if subscriber is None:
            raise PermanentMailError("the subscriber is gone")
        name, address, locale = "", subscriber.email, subscriber.locale
        token = unsubscribe_token(subscriber_id=subscriber.id)
        context["preferences_url"] = external_url(
            "public.network_preferences", token=network.preferences_token(subscriber))
    elif payload.get("test_user_id"):
        user = db.session.get(User, payload["test_user_id"])
        if user is None:
            raise PermanentMailError("the user is gone")
        # A test: the links work, but they name nobody (the token unsubscribes no one).
        name, address, locale = user.name or "", user.email, "en"
        token = "test"
        context["preferences_url"] = external_url("public.network_join")
    else:
        raise PermanentMailError("an update email without a recipient")
    context.update(unsubscribe_url=external_url("public.unsubscribe", token=token),
                   locale=locale)
    template = "alert" if update.kind == UpdateKind.ALERT else "update"
    with force_locale(locale):
        if update.kind == UpdateKind.ALERT:
            subject = gettext("Urgent action: %(title)s",
                              title=public_page.texts_for(action, locale).title)
        else:
            subject = update.subject
            context["greeting"] = (gettext("Hello %(name)s,", name=row.signature.first_name)
                                   if row.signature is not None else gettext("Hello,"))
            context["reason"] = gettext("You receive this because you signed “%(title)s” "
                                        "and asked for news about it.",
                                        title=public_page.texts_for(action, locale).title)
        return Draft(to_name=name, to_address=address, subject=subject,
                     text=render_template(f"emails/{template}.txt", **context),
                     html=render_template(f"emails/{template}.html", **context),
                     unsubscribe_url=external_url("public.unsubscribe_one_click",
                                                  token=token))


def audience(action: Action) -> int:
    """How many signers an update to ``action`` would reach right now."""
    return db.session.scalar(select(func.count(Signature.id)).where(
        Signature.action_id == action.id, Signature.status == SignatureStatus.CONFIRMED,
        Signature.updates_opt_in.is_(True))) or 0

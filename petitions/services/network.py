"""The urgent-action network: people alerted when a new action is launched.

Joining works like signing: double opt-in, the same visible outcome whoever asks,
and the database keeps only a digest of the confirmation token. Members manage
their choice from a signed link in every message, without an account; the link
carries the member's id, never the address.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app, render_template
from flask_babel import force_locale, gettext
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from petitions.extensions import db
from petitions.models import (
    OutboundEmail,
    OutboxKind,
    OutboxStatus,
    Subscriber,
    SubscriberStatus,
    Suppression,
    SuppressionReason,
    TermKind,
    utcnow,
)
from petitions.services import outbox, suppression, topics
from petitions.services.mail import Draft, PermanentMailError
from petitions.services.signing import email_digest, new_token, normalize_email, token_digest
from petitions.urls import external_url

CONSENT_VERSION = "2026-11-network-v1"
_PREFERENCES_SALT = "network-preferences"
_TOKEN_LENGTH = range(20, 100)


class NetworkError(ValueError):
    """The choice can't be accepted; ``field`` names the form field at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Choice:
    all_actions: bool
    topics: list[str]
    regions: list[str]


def options() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The topics and regions to choose from, as (key, name): the managed list
    (``services.topics``), without the retired terms."""
    return ([(t.key, t.name) for t in topics.terms(TermKind.TOPIC)],
            [(t.key, t.name) for t in topics.terms(TermKind.REGION)])


def clean_choice(all_actions: bool, chosen_topics: list[str], regions: list[str]) -> Choice:
    known_topics, known_regions = (dict(kind) for kind in options())
    chosen_topics = sorted({t for t in chosen_topics if t in known_topics})
    regions = sorted({r for r in regions if r in known_regions})
    if not all_actions and not chosen_topics and not regions:
        raise NetworkError("topics",
                           gettext("Choose every action, or at least one topic or region."))
    return Choice(all_actions, [] if all_actions else chosen_topics,
                  [] if all_actions else regions)


def subscribe(address: str, choice: Choice, locale: str = "en") -> bool:
    """Record a pending membership and queue its confirmation. Returns whether an
    email was queued (never shown: the page is the same for everyone)."""
    try:
        email = normalize_email(address)
    except ValueError as exc:
        raise NetworkError("email", str(exc)) from exc
    digest = email_digest(email.lookup_key)
    subscriber = db.session.scalar(select(Subscriber).where(Subscriber.email_digest == digest))
    if subscriber is not None and subscriber.status == SubscriberStatus.CONFIRMED:
        return False
    now = utcnow()
    interval = timedelta(seconds=current_app.config["CONFIRMATION_RESEND_INTERVAL_SECONDS"])
    if (subscriber is not None and subscriber.token_issued_at is not None
            and now - subscriber.token_issued_at < interval):
        return False
    token, digest_of_token = new_token()
    if subscriber is None:
        subscriber = Subscriber(email=email.address, email_digest=digest)
        db.session.add(subscriber)
    subscriber.status = SubscriberStatus.PENDING
    subscriber.all_actions = choice.all_actions
    subscriber.topics = choice.topics
    subscriber.regions = choice.regions
    subscriber.locale = locale
    subscriber.token_digest = digest_of_token
    subscriber.token_issued_at = now
    subscriber.consent_version = CONSENT_VERSION
    try:
        db.session.flush()
    except IntegrityError:  # the same address at the same instant: theirs stands
        db.session.rollback()
        return False
    row = OutboundEmail(kind=OutboxKind.SUBSCRIBE, subscriber_id=subscriber.id,
                        payload=json.dumps({"token": token}), status=OutboxStatus.PENDING,
                        dispatched_at=now)
    db.session.add(row)
    db.session.commit()
    outbox.hand_off([row.id])
    return True


def pending_for_token(token: str) -> Subscriber | None:
    """The member a live confirmation token belongs to (looking changes nothing)."""
    if len(token) not in _TOKEN_LENGTH:
        return None
    subscriber = db.session.scalar(select(Subscriber).where(
        Subscriber.token_digest == token_digest(token)))
    if subscriber is None or subscriber.token_issued_at is None:
        return None
    max_age = timedelta(hours=current_app.config["CONFIRMATION_MAX_AGE_HOURS"])
    if utcnow() - subscriber.token_issued_at > max_age:
        return None
    return subscriber


def confirm(token: str) -> Subscriber | None:
    """Confirm the membership behind ``token`` (from a POST); None if the link is dead."""
    subscriber = pending_for_token(token)
    if subscriber is None:
        return None
    subscriber.status = SubscriberStatus.CONFIRMED
    subscriber.confirmed_at = utcnow()
    subscriber.token_digest = None
    # Joining again, on purpose, lifts an earlier unsubscribe from the network.
    db.session.execute(delete(Suppression).where(
        Suppression.email_digest == subscriber.email_digest,
        Suppression.scope == suppression.NETWORK))
    db.session.commit()
    return subscriber


def _serializer(salt: str) -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=salt)


def preferences_token(subscriber: Subscriber) -> str:
    return _serializer(_PREFERENCES_SALT).dumps(subscriber.id)


def subscriber_for(token: str) -> Subscriber | None:
    """The member a preferences link belongs to, if the link is genuine."""
    try:
        subscriber_id = _serializer(_PREFERENCES_SALT).loads(token)
    except BadSignature:
        return None
    if not isinstance(subscriber_id, int):
        return None
    return db.session.get(Subscriber, subscriber_id)


def update_preferences(subscriber: Subscriber, choice: Choice) -> None:
    subscriber.all_actions = choice.all_actions
    subscriber.topics = choice.topics
    subscriber.regions = choice.regions
    db.session.commit()


def unsubscribe(subscriber: Subscriber) -> None:
    """Leave the network; idempotent. No alert goes to the address any more."""
    subscriber.status = SubscriberStatus.UNSUBSCRIBED
    subscriber.token_digest = None
    suppression.add(subscriber.email_digest, SuppressionReason.UNSUBSCRIBED,
                    scope=suppression.NETWORK)
    db.session.commit()


def subscribe_draft(row: OutboundEmail) -> Draft:
    """The confirmation email of a new network member (see ``mail.build_message``)."""
    subscriber = db.session.get(Subscriber, row.subscriber_id) if row.subscriber_id else None
    token = json.loads(row.payload or "{}").get("token")
    if subscriber is None or not token:
        raise PermanentMailError("the subscription has no member or token")
    context = {"confirm_url": external_url("public.network_confirm", token=token),
               "locale": subscriber.locale}
    with force_locale(subscriber.locale):
        return Draft(to_name="", to_address=subscriber.email,
                     subject=gettext("Please confirm: join the urgent-action network"),
                     text=render_template("emails/subscribe.txt", **context),
                     html=render_template("emails/subscribe.html", **context))

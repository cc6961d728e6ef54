"""The sealed intake: the web tier seals what a supporter submits, a vault worker opens it.

The web tier checks a signing form (syntax, required fields, country; the bot checks
and the per-IP limits ran before), seals the whole submission to the intake public
key (a libsodium sealed box) and stores it with one INSERT, then answers. It looks
nothing up and computes no digest of the address, so a new address and one that
signed before take exactly the same path, and a copy of the web host can't open
what it stored.

A vault worker, which holds the private key, opens the submission and applies the
signing rules (``signing.store``): digests, duplicates, resend interval, signed-again
notice, block rules, the per-address limit, the confirmation email in the outbox.
That and deleting the sealed row are one transaction, so a worker dying half-way
leaves the row for another try, and a second run of the same task finds nothing.

Sealed boxes carry no associated data, so the binding is inside the plaintext: it
starts with ``intake:v1:<action id>`` and a line break, and opening checks that the
binding names this purpose and the action the submission is for.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

from flask import current_app
from limits import parse
from sqlalchemy import delete, insert, or_, select, update

from petitions.crypto import VaultError, intake_keys
from petitions.extensions import db
from petitions.models import Action, SealedSubmission, utcnow
from petitions.services import outbox, signing
from petitions.services.signing import SignatureInput

log = logging.getLogger(__name__)

PURPOSE = "intake:v1"
QUEUE = "vault"
PROCESS_TASK = "petitions.intake_process"
DISPATCH_TASK = "petitions.dispatch_intake"


class UnopenableError(ValueError):
    """A sealed submission that can't be opened, or isn't what it claims to be."""


@dataclass(frozen=True)
class Submission:
    """Everything the signing rules need, as the web tier received it."""

    action_id: int
    data: SignatureInput
    ip: str | None
    source: str | None
    locale: str


def binding(action_id: int) -> bytes:
    return f"{PURPOSE}:{action_id}".encode()


def seal(submission: Submission) -> bytes:
    body = json.dumps({"action_id": submission.action_id, "data": asdict(submission.data),
                       "ip": submission.ip, "source": submission.source,
                       "locale": submission.locale}, separators=(",", ":"))
    return intake_keys().seal(binding(submission.action_id) + b"\n" + body.encode())


def open_sealed(sealed: bytes) -> Submission:
    """The submission in ``sealed``; ``UnopenableError`` if it was altered, sealed to
    another key, bound to another purpose or action, or is not a submission."""
    try:
        plaintext = intake_keys().open(sealed)
    except VaultError as exc:
        raise UnopenableError(str(exc)) from exc
    bound, _, body = plaintext.partition(b"\n")
    try:
        fields: dict[str, Any] = json.loads(body)
        action_id = fields["action_id"]
        data = SignatureInput(**fields["data"])
        submission = Submission(action_id, data, fields["ip"], fields["source"],
                                fields["locale"])
    except (ValueError, KeyError, TypeError) as exc:
        raise UnopenableError("not a sealed submission") from exc
    if not isinstance(action_id, int) or bound != binding(action_id):
        raise UnopenableError("bound to another purpose or action")
    return submission


_INSERT = insert(SealedSubmission.__table__).returning(SealedSubmission.__table__.c.id)


def submit(action: Action, data: SignatureInput, *, ip: str | None, source: str | None,
           locale: str) -> int:
    """Check a signing form, seal it and store it (one INSERT), commit, and hand it to
    a vault worker. Raises ``SigningError`` for a field at fault. The same work for
    every address: nothing here knows whether it signed before."""
    signing.check(data)
    submission = Submission(action.id, data, ip, signing.normalize_source(source), locale)
    now = utcnow()
    submission_id = db.session.execute(_INSERT, {
        "sealed": seal(submission), "created_at": now, "dispatched_at": now}).scalar_one()
    db.session.commit()
    hand_off([submission_id])
    return submission_id


def hand_off(ids: Iterable[int]) -> int:
    """Give committed submissions to the vault workers (queue ``vault``); the scheduler
    hands off again what the broker refused."""
    return outbox.hand_off_tasks(PROCESS_TASK, SealedSubmission, ids)


def dispatch_pending(limit: int = 1000) -> int:
    """Hand off submissions never handed off, or handed off long ago and still there."""
    now = utcnow()
    stale = now - timedelta(seconds=current_app.config["INTAKE_REDISPATCH_AFTER_SECONDS"])
    ids = list(db.session.scalars(
        select(SealedSubmission.id)
        .where(SealedSubmission.failed_at.is_(None),
               or_(SealedSubmission.dispatched_at.is_(None),
                   SealedSubmission.dispatched_at < stale))
        .order_by(SealedSubmission.id).limit(limit)))
    if not ids:
        db.session.rollback()
        return 0
    db.session.execute(update(SealedSubmission).where(SealedSubmission.id.in_(ids))
                       .values(dispatched_at=now))
    db.session.commit()
    return hand_off(ids)


def process(submission_id: int) -> str | None:
    """Open a sealed submission and apply the signing rules (on a vault worker).

    Returns what happened ("signed", "dropped", "failed"), or None when there was
    nothing to do (already processed, or kept as failed). A process without the
    private key (the web tier) raises ``VaultError`` and leaves the row as it is.
    """
    if not intake_keys().can_open:
        raise VaultError("INTAKE_PRIVATE_KEY is not configured in this process")
    sealed = db.session.scalar(
        select(SealedSubmission.sealed)
        .where(SealedSubmission.id == submission_id, SealedSubmission.failed_at.is_(None))
        .with_for_update())
    if sealed is None:
        db.session.rollback()
        return None
    try:
        submission = open_sealed(sealed)
    except UnopenableError as exc:
        # Kept for an operator, never retried; the reason says nothing of the content.
        db.session.execute(update(SealedSubmission)
                           .where(SealedSubmission.id == submission_id)
                           .values(failed_at=utcnow()))
        db.session.commit()
        log.warning("Sealed submission %d cannot be opened (%s): kept, marked failed",
                    submission_id, exc)
        return "failed"
    outcome, outbox_ids = _apply_rules(submission)
    db.session.execute(delete(SealedSubmission).where(SealedSubmission.id == submission_id))
    db.session.commit()
    outbox.hand_off(outbox_ids)
    return outcome


def _apply_rules(submission: Submission) -> tuple[str, list[int]]:
    """The signing rules, in the current transaction. A submission they refuse
    (closed action, blocked, over the per-address limit) is dropped silently: the
    supporter got the same answer as anyone already."""
    action = db.session.get(Action, submission.action_id)
    if action is None:
        return "dropped", []
    try:
        if not _within_address_limit(submission.data.email):
            return "dropped", []
        _, outbox_ids = signing.store(action, submission.data, ip=submission.ip,
                                      source=submission.source, locale=submission.locale)
    except (signing.SigningError, signing.ActionClosedError, signing.BlockedError):
        return "dropped", []
    return "signed", outbox_ids


def _within_address_limit(address: str) -> bool:
    """Count the submission against ``SIGN_EMAIL_RATE_LIMIT`` for its address (a keyed
    digest, in the rate-limit storage): one address is sent at most so many
    confirmation emails, from however many IP addresses and actions."""
    if not current_app.config["RATELIMIT_ENABLED"]:
        return True
    from petitions.security import limiter_of

    limit = parse(current_app.config["SIGN_EMAIL_RATE_LIMIT"])
    digest = signing.address_digest(address)[:24]
    return limiter_of(current_app).limiter.hit(limit, "sign-email", digest)


def process_pending() -> int:
    """Process every submission waiting (tests, and an operator catching up by hand)."""
    ids = list(db.session.scalars(select(SealedSubmission.id)
                                  .where(SealedSubmission.failed_at.is_(None))
                                  .order_by(SealedSubmission.id)))
    db.session.rollback()
    for submission_id in ids:
        process(submission_id)
    return len(ids)

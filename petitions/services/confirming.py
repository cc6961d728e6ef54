"""Confirming a signature with the token from its email.

Looking at a token changes nothing (mail scanners open every link); only
``confirm``, called from a POST, does. Confirming twice is harmless: the
conditional update moves a signature from pending to confirmed once, and the
counters move with it in the same transaction.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import bindparam, select, update

from petitions.extensions import db
from petitions.models import Action, Signature, SignatureStatus, utcnow
from petitions.services import counting
from petitions.services.signing import resend_confirmation, token_digest

# Tokens are 43 URL-safe characters; anything far off that is not worth a query.
_TOKEN_LENGTH = range(20, 100)


class TokenState(enum.StrEnum):
    VALID = "valid"                # pending, not expired: may be confirmed
    CONFIRMED = "confirmed"        # already confirmed
    EXPIRED = "expired"            # pending, link too old: a new one can be sent
    INVALID = "invalid"            # unknown, forged or altered


@dataclass(frozen=True)
class TokenCheck:
    state: TokenState
    signature: Signature | None = None
    # What ``confirm`` gives when it confirms, instead of the signature it never loads.
    action_slug: str | None = None

    @property
    def action(self) -> Action | None:
        return self.signature.action if self.signature else None

    @property
    def slug(self) -> str | None:
        """The slug of the signed action, if the token is known."""
        if self.action_slug is not None:
            return self.action_slug
        return self.action.slug if self.action else None


def check_token(token: str) -> TokenCheck:
    if len(token) not in _TOKEN_LENGTH:
        return TokenCheck(TokenState.INVALID)
    signature = db.session.scalar(
        select(Signature).where(Signature.token_digest == token_digest(token)))
    if signature is None:
        return TokenCheck(TokenState.INVALID)
    if signature.status == SignatureStatus.CONFIRMED:
        return TokenCheck(TokenState.CONFIRMED, signature)
    if _expired(signature.token_issued_at):
        return TokenCheck(TokenState.EXPIRED, signature)
    return TokenCheck(TokenState.VALID, signature)


def _expired(issued_at: datetime | None) -> bool:
    return issued_at is None or issued_at < _oldest_valid()


def _oldest_valid() -> datetime:
    return utcnow() - timedelta(hours=current_app.config["CONFIRMATION_MAX_AGE_HOURS"])


_signatures = Signature.__table__
# Built once, without the ORM: every confirmation runs it.
_CONFIRM = (
    update(_signatures)
    .where(_signatures.c.token_digest == bindparam("digest"),
           _signatures.c.status == SignatureStatus.PENDING,
           _signatures.c.token_issued_at >= bindparam("oldest_valid"))
    .values(status=SignatureStatus.CONFIRMED, confirmed_at=bindparam("confirmed_at"))
    .returning(_signatures.c.action_id,
               select(Action.slug).where(Action.id == _signatures.c.action_id)
               .scalar_subquery().label("slug")))


def confirm(token: str) -> TokenCheck:
    """Confirm the signature behind ``token``; the result says what state it is in now.

    One conditional UPDATE … RETURNING finds a pending signature with a live link and
    confirms it, reading nothing to decrypt: the result then carries the action's
    slug, not the signature. Anything else (an unknown, expired or confirmed token,
    or a request that lost a race with another for the same one) is what
    ``check_token`` says, except that a link that is still live counts as confirmed.
    """
    if len(token) not in _TOKEN_LENGTH:
        return TokenCheck(TokenState.INVALID)
    confirmed = db.session.execute(_CONFIRM, {
        "digest": token_digest(token), "oldest_valid": _oldest_valid(),
        "confirmed_at": utcnow()}).first()
    if confirmed is None:
        check = check_token(token)
        if check.state == TokenState.VALID:  # no longer pending: nothing left to count
            return TokenCheck(TokenState.CONFIRMED, check.signature)
        return check
    counting.add(confirmed.action_id, confirmed=1, pending=-1)
    db.session.commit()
    return TokenCheck(TokenState.CONFIRMED, action_slug=confirmed.slug)


def resend_for_token(token: str) -> TokenCheck:
    """Send a new link to the signer behind an expired (or still valid) token."""
    check = check_token(token)
    if check.signature is not None and check.state in (TokenState.EXPIRED, TokenState.VALID):
        resend_confirmation(check.signature)
    return check

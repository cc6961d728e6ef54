"""Confirming a signature with the token from its email.

Looking at a token changes nothing (mail scanners open every link); only
``confirm``, called from a POST, does. Confirming twice is harmless: the
conditional update moves a signature from pending to confirmed once, and the
counters move with it in the same transaction.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import select, update

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

    @property
    def action(self) -> Action | None:
        return self.signature.action if self.signature else None


def check_token(token: str) -> TokenCheck:
    if len(token) not in _TOKEN_LENGTH:
        return TokenCheck(TokenState.INVALID)
    signature = db.session.scalar(
        select(Signature).where(Signature.token_digest == token_digest(token)))
    if signature is None:
        return TokenCheck(TokenState.INVALID)
    if signature.status == SignatureStatus.CONFIRMED:
        return TokenCheck(TokenState.CONFIRMED, signature)
    max_age = timedelta(hours=current_app.config["CONFIRMATION_MAX_AGE_HOURS"])
    if signature.token_issued_at is None or utcnow() - signature.token_issued_at > max_age:
        return TokenCheck(TokenState.EXPIRED, signature)
    return TokenCheck(TokenState.VALID, signature)


def confirm(token: str) -> TokenCheck:
    """Confirm the signature behind ``token``; the result says what state it is in now."""
    check = check_token(token)
    if check.state != TokenState.VALID or check.signature is None:
        return check
    signature = check.signature
    result = db.session.execute(
        update(Signature)
        .where(Signature.id == signature.id, Signature.status == SignatureStatus.PENDING)
        .values(status=SignatureStatus.CONFIRMED, confirmed_at=utcnow())
        .execution_options(synchronize_session=False))
    if result.rowcount == 1:
        counting.add(signature.action_id, confirmed=1, pending=-1)
    db.session.commit()
    db.session.refresh(signature)
    return TokenCheck(TokenState.CONFIRMED, signature)


def resend_for_token(token: str) -> TokenCheck:
    """Send a new link to the signer behind an expired (or still valid) token."""
    check = check_token(token)
    if check.signature is not None and check.state in (TokenState.EXPIRED, TokenState.VALID):
        resend_confirmation(check.signature)
    return check

"""Two-factor login: TOTP (RFC 6238, any authenticator app) and one-time recovery codes.

Required for admins, optional for organizers. The TOTP secret is stored encrypted;
a code is accepted once only (the last accepted time step is kept), and a code of
the step before or after is accepted too, for a phone's clock that is a little off.
Recovery codes have 60 random bits each, are shown once, and only their keyed digests
are stored; each works once. Enrolment, the use of a recovery code and a reset by
another admin go into the audit log.
"""

from __future__ import annotations

import hmac
import re
import secrets
from urllib.parse import urlsplit

import pyotp
from flask import current_app
from sqlalchemy import delete, func, or_, select, update

from petitions.crypto import vault
from petitions.extensions import db
from petitions.models import RecoveryCode, User, utcnow
from petitions.services import audit, staff_sessions

RECOVERY_CODE_COUNT = 10
_RECOVERY_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"  # base32: 5 bits a character
_TOTP_CODE = re.compile(r"[0-9]{6}")


class TwoFactorError(ValueError):
    """The change can't be made; the message says why and can be shown."""


def required(user: User) -> bool:
    """Whether ``user`` must use two-factor login: admins must, organizers may."""
    return user.is_admin


def enrolment_secret(user: User) -> str:
    """The secret of an enrolment under way, created on first call (and kept, so that a
    reload shows the same one); only for a user without two-factor login yet."""
    if user.has_two_factor:
        raise TwoFactorError("Two-factor login is set up already.")
    if user.totp_secret is None:
        user.totp_secret = pyotp.random_base32()
        db.session.commit()
    return user.totp_secret


def provisioning_uri(user: User, secret: str) -> str:
    """The ``otpauth://`` address an authenticator app reads (from a QR code or pasted)."""
    issuer = urlsplit(current_app.config["BASE_URL"]).hostname or "petitions"
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=issuer)


def enrol(user: User, code: str, via: str = "web") -> list[str] | None:
    """Finish an enrolment with a first code from the app. Returns the recovery codes
    (to show once), or None if the code is not right."""
    if user.has_two_factor or user.totp_secret is None:
        raise TwoFactorError("There is no enrolment under way.")
    step = _matching_step(user.totp_secret, _normalize(code))
    if step is None or not _claim_step(user, step):
        return None
    user.totp_enabled_at = utcnow()
    codes = _new_recovery_codes(user)
    audit.record("user.two_factor.enrol", "user", user.id, actor=user, via=via)
    db.session.commit()
    return codes


def check(user: User, code: str, via: str = "web") -> bool:
    """The second step of a login: a code of the app or an unused recovery code.

    A separate step from the password check (``accounts.authenticate``), made only
    after that one succeeded. Every wrong answer is the same False.
    """
    if not user.has_two_factor or user.totp_secret is None:
        return False
    code = _normalize(code)
    if _TOTP_CODE.fullmatch(code):
        step = _matching_step(user.totp_secret, code)
        accepted = step is not None and _claim_step(user, step)
        db.session.commit()
        return accepted
    used = db.session.execute(
        update(RecoveryCode)
        .where(RecoveryCode.user_id == user.id, RecoveryCode.digest == _digest(code),
               RecoveryCode.used_at.is_(None))
        .values(used_at=utcnow()))
    if used.rowcount != 1:
        db.session.rollback()
        return False
    audit.record("user.two_factor.recovery_code", "user", user.id, actor=user, via=via,
                 after={"codes_left": unused_recovery_codes(user)})
    db.session.commit()
    return True


def unused_recovery_codes(user: User) -> int:
    return db.session.scalar(select(func.count()).select_from(RecoveryCode).where(
        RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))) or 0


def reset(user: User, actor: User | None, via: str = "web") -> None:
    """Another admin (or the command line, ``actor`` None) turns off ``user``'s two-factor
    login after a lost phone: the secret and recovery codes are gone, every session of
    ``user`` ends, and their next login asks them to enrol again (admins) or lets them
    in with the password (organizers)."""
    if actor is not None and actor.id == user.id:
        raise TwoFactorError("Another admin has to reset your own two-factor login.")
    had = user.has_two_factor
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    staff_sessions.end_all(user)
    audit.record("user.two_factor.reset", "user", user.id, actor=actor, via=via,
                 before={"two_factor": had}, after={"two_factor": False})
    db.session.commit()


def _normalize(code: str) -> str:
    """What people type: spaces and hyphens between groups, any case."""
    return re.sub(r"[\s-]", "", code).lower()[:64]


def _matching_step(secret: str, code: str) -> int | None:
    """The time step (of now, one before or one after) whose code ``code`` is."""
    if not _TOTP_CODE.fullmatch(code):
        return None
    totp = pyotp.TOTP(secret)
    now = totp.timecode(utcnow())
    for step in (now - 1, now, now + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _claim_step(user: User, step: int) -> bool:
    """Record ``step`` as used unless it, or a later one, was used already: a code seen
    over someone's shoulder (or replayed) is refused. One statement, so two requests
    with the same code cannot both succeed."""
    claimed = db.session.execute(
        update(User).where(User.id == user.id,
                           or_(User.totp_last_step.is_(None), User.totp_last_step < step))
        .values(totp_last_step=step))
    return claimed.rowcount == 1


def _digest(code: str) -> str:
    return vault().digest(code, "recovery-code")


def _new_recovery_codes(user: User) -> list[str]:
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = ["".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(12))
             for _ in range(RECOVERY_CODE_COUNT)]
    db.session.add_all(RecoveryCode(user_id=user.id, digest=_digest(code)) for code in codes)
    return ["-".join((code[:4], code[4:8], code[8:])) for code in codes]

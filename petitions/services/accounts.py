"""Staff accounts: creating users, logging in, passwords, roles and API tokens.

Passwords are hashed with Argon2id. Repeated failed logins lock the account for
a while; the answer to a wrong password, a locked account and an unknown address
is the same, so the login form does not tell who has an account.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from petitions.crypto import vault
from petitions.extensions import db
from petitions.models import Action, ApiToken, Role, User, utcnow
from petitions.services import audit
from petitions.services.signing import SigningError, normalize_email, token_digest

MIN_PASSWORD_LENGTH = 12
TOKEN_PREFIX = "pt_"
_DUPLICATE = "A user with this email address exists already."
_hasher = PasswordHasher()
# Verified against when the address is unknown, so that a login takes as long
# whether or not the account exists.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class AccountError(ValueError):
    """The change can't be made; the message says why and can be shown."""


@dataclass(frozen=True)
class LoginResult:
    user: User | None
    locked: bool = False


def email_digest(address: str) -> str:
    return vault().digest(normalize_email(address).lookup_key, "user-email")


def find_user(address: str) -> User | None:
    try:
        digest = email_digest(address)
    except SigningError:
        return None
    return db.session.scalar(select(User).where(User.email_digest == digest))


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"The password must have at least {MIN_PASSWORD_LENGTH} characters.")


def create_user(address: str, role: Role | str, password: str | None = None,
                name: str | None = None, actor: User | None = None, via: str = "web") -> User:
    try:
        normalized = normalize_email(address)
    except SigningError as exc:
        raise AccountError(str(exc)) from exc
    if find_user(normalized.address) is not None:
        raise AccountError(_DUPLICATE)
    if password is not None:
        check_password_strength(password)
    user = User(email=normalized.address, email_digest=email_digest(normalized.address),
                name=name or None, role=Role(role),
                password_hash=_hasher.hash(password) if password else None)
    db.session.add(user)
    try:
        db.session.flush()
    except IntegrityError as exc:  # the same address, created at the same moment
        db.session.rollback()
        raise AccountError(_DUPLICATE) from exc
    audit.record("user.create", "user", user.id, actor=actor, via=via,
                 after={"role": str(user.role), "active": True})
    db.session.commit()
    return user


def authenticate(address: str, password: str) -> LoginResult:
    """Check a login. Failed attempts count towards a temporary lock of the account."""
    config = current_app.config
    user = find_user(address)
    if user is None or not user.active or user.password_hash is None:
        _verify(_DUMMY_HASH, password)
        return LoginResult(None)
    now = utcnow()
    if user.locked_until and user.locked_until > now:
        _verify(_DUMMY_HASH, password)
        return LoginResult(None, locked=True)
    if not _verify(user.password_hash, password):
        # Counted in the database, not from the value read above: failures tried in
        # parallel must all count, or parallel guessing would never lock the account.
        this_user = User.id == user.id
        db.session.execute(update(User).where(this_user)
                           .values(failed_logins=User.failed_logins + 1))
        db.session.execute(
            update(User).where(this_user, User.failed_logins >= config["LOGIN_MAX_FAILURES"])
            .values(failed_logins=0,
                    locked_until=now + timedelta(seconds=config["LOGIN_LOCK_SECONDS"])))
        db.session.commit()
        return LoginResult(None)
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    db.session.commit()
    return LoginResult(user)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def change_password(user: User, current: str, new: str) -> None:
    if user.password_hash is None or not _verify(user.password_hash, current):
        raise AccountError("The current password is not right.")
    set_password(user, new, actor=user)


def set_password(user: User, new: str, actor: User | None = None, via: str = "web") -> None:
    check_password_strength(new)
    user.password_hash = _hasher.hash(new)
    user.session_version += 1
    audit.record("user.password", "user", user.id, actor=actor, via=via)
    db.session.commit()


def update_user(user: User, *, actor: User | None, role: Role | str | None = None,
                active: bool | None = None, name: str | None = None, via: str = "web") -> None:
    before = {"role": str(user.role), "active": user.active}
    if actor is not None and actor.id == user.id and (
            (role is not None and Role(role) != user.role) or active is False):
        raise AccountError("You can't change your own role or deactivate yourself.")
    if role is not None:
        user.role = Role(role)
    if active is not None and active != user.active:
        user.active = active
        user.session_version += 1
    after = {"role": str(user.role), "active": user.active}
    if name is not None and (name or None) != user.name:
        user.name = name or None
        # That the name changed is recorded; the names themselves stay out of the log.
        before["name"], after["name"] = "(previous)", "(changed)"
    audit.record("user.update", "user", user.id, actor=actor, via=via, before=before,
                 after=after)
    db.session.commit()


def list_users() -> list[User]:
    return list(db.session.scalars(select(User).order_by(User.created_at)))


# --- authorization -----------------------------------------------------------------------

def can_manage(user: User, action: Action) -> bool:
    """Admins manage every action; organizers the ones they are assigned to."""
    return user.is_admin or any(o.id == user.id for o in action.organizers)


def managed_actions(user: User) -> list[Action]:
    if user.is_admin:
        return list(db.session.scalars(select(Action).order_by(Action.created_at.desc())))
    return list(user.actions)


# --- API tokens --------------------------------------------------------------------------

def create_token(user: User, name: str = "", actor: User | None = None,
                 via: str = "web") -> tuple[ApiToken, str]:
    """Create an API token; the plain token is returned once and never stored."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    record = ApiToken(user_id=user.id, name=name[:100], digest=token_digest(token),
                      prefix=token[:10])
    db.session.add(record)
    db.session.flush()
    audit.record("token.create", "api_token", record.id, actor=actor or user, via=via,
                 after={"user_id": user.id, "name": record.name})
    db.session.commit()
    return record, token


def user_for_token(token: str) -> User | None:
    """The active user a bearer token belongs to, or None. Looked up by digest, so the
    comparison is of digests, not of the secret itself."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    record = db.session.scalar(select(ApiToken).where(ApiToken.digest == token_digest(token)))
    if record is None or record.revoked_at is not None or not record.user.active:
        return None
    now = utcnow()
    if record.last_used_at is None or now - record.last_used_at > timedelta(minutes=5):
        record.last_used_at = now
        db.session.commit()
    return record.user


def list_tokens(user: User | None = None) -> list[ApiToken]:
    query = select(ApiToken).order_by(ApiToken.created_at.desc())
    if user is not None:
        query = query.where(ApiToken.user_id == user.id)
    return list(db.session.scalars(query))


def revoke_token(record: ApiToken, actor: User | None, via: str = "web") -> None:
    if record.revoked_at is None:
        record.revoked_at = utcnow()
        audit.record("token.revoke", "api_token", record.id, actor=actor, via=via)
        db.session.commit()

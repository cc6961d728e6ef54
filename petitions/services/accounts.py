"""Staff accounts: creating users, logging in, passwords, roles and API tokens.

Passwords are hashed with Argon2id. Failed logins are counted per account and
client together (``LoginThrottle``): a client that keeps failing for one account
has to wait longer and longer between attempts, while the owner, logging in from
elsewhere, is not slowed, so a stranger who knows the address can't lock them
out. When an account collects many failures, its owner is told by email. The
answer to a wrong password and an unknown address is the same, and unknown
addresses are slowed alike, so the login form does not tell who has an account.
"""

from __future__ import annotations

import ipaddress
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app, render_template
from flask_babel import force_locale, gettext
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from petitions.crypto import vault
from petitions.extensions import db
from petitions.models import (
    Action,
    ApiToken,
    LoginThrottle,
    OutboundEmail,
    OutboxKind,
    OutboxStatus,
    Role,
    Scope,
    User,
    utcnow,
)
from petitions.services import audit, outbox
from petitions.services.mail import Draft, PermanentMailError
from petitions.services.signing import SigningError, normalize_email, token_digest
from petitions.urls import external_url

MIN_PASSWORD_LENGTH = 12
TOKEN_PREFIX = "pt_"
_DUPLICATE = "A user with this email address exists already."
_hasher = PasswordHasher()
# Verified against when the address is unknown, so that a login takes as long
# whether or not the account exists.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))
# Failures older than this are forgotten; the owner's alert counts those of the last hour.
_FORGET_FAILURES_AFTER = timedelta(days=1)
_ALERT_WINDOW = timedelta(hours=1)


class AccountError(ValueError):
    """The change can't be made; the message says why and can be shown."""


@dataclass(frozen=True)
class LoginResult:
    user: User | None
    # Seconds before this client may try this account again (None: whenever it likes).
    retry_after: int | None = None


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


def authenticate(address: str, password: str, client: str | None = None) -> LoginResult:
    """Check a login from ``client`` (its IP address).

    After ``LOGIN_FREE_FAILURES`` failures for this account from this client, each
    further attempt from there has to wait twice as long as the one before (at most
    ``LOGIN_MAX_DELAY_SECONDS``); until then its password is not even checked. Other
    clients are not slowed: the owner can still log in from their own place.
    """
    account, source = _login_account_key(address), _login_client_key(client)
    now = utcnow()
    waiting = db.session.scalar(
        select(LoginThrottle.retry_at).where(LoginThrottle.account_digest == account,
                                             LoginThrottle.client_digest == source,
                                             LoginThrottle.retry_at > now))
    if waiting is not None:
        return LoginResult(None, retry_after=max(1, _seconds_until(waiting, now)))
    user = find_user(address)
    if user is None or not user.active or user.password_hash is None:
        _verify(_DUMMY_HASH, password)
        return LoginResult(None, retry_after=_count_failure(account, source, now, None))
    if not _verify(user.password_hash, password):
        return LoginResult(None, retry_after=_count_failure(account, source, now, user))
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    # This client's failures are forgiven; those from elsewhere still count.
    db.session.execute(delete(LoginThrottle).where(LoginThrottle.account_digest == account,
                                                   LoginThrottle.client_digest == source))
    _forget_old_failures(now)
    user.last_login_at = now
    db.session.commit()
    return LoginResult(user)


def _login_account_key(address: str) -> str:
    """The account a login tries, whether or not it exists (so an unknown address is
    slowed exactly like a known one)."""
    try:
        lookup = normalize_email(address).lookup_key
    except SigningError:
        lookup = address.strip().casefold()
    return vault().digest(lookup, "login-account")


def _login_client_key(client: str | None) -> str:
    """The client as a keyed digest. An IPv6 client is its /64, which one machine
    usually holds whole: hopping addresses within it gains no fresh attempts."""
    try:
        address = ipaddress.ip_address(client or "")
    except ValueError:
        return vault().digest(client or "unknown", "login-client")
    if address.version == 6:
        return vault().digest(str(ipaddress.ip_network(f"{address}/64", strict=False)),
                              "login-client")
    return vault().digest(str(address), "login-client")


def _forget_old_failures(now: datetime) -> None:
    db.session.execute(delete(LoginThrottle).where(
        LoginThrottle.last_failure_at < now - _FORGET_FAILURES_AFTER))


def _seconds_until(moment: datetime, now: datetime) -> int:
    return int((moment - now).total_seconds() + 0.999)


def _count_failure(account: str, source: str, now: datetime, user: User | None) -> int | None:
    """Count a failed login and commit; returns the wait it imposes on this client."""
    config = current_app.config
    _forget_old_failures(now)
    pair = (LoginThrottle.account_digest == account, LoginThrottle.client_digest == source)
    # Counted in the database, not from a value read before: failures tried in parallel
    # must all count, or parallel guessing would never be slowed.
    increment = (update(LoginThrottle).where(*pair)
                 .values(failures=LoginThrottle.failures + 1, last_failure_at=now)
                 .returning(LoginThrottle.failures))
    failures = db.session.execute(increment).scalar_one_or_none()
    if failures is None:
        try:
            with db.session.begin_nested():
                db.session.add(LoginThrottle(account_digest=account, client_digest=source,
                                             failures=1, last_failure_at=now))
            failures = 1
        except IntegrityError:  # this pair's first failure, counted at the same moment
            failures = db.session.execute(increment).scalar_one()
    retry_after = None
    beyond = failures - config["LOGIN_FREE_FAILURES"]
    if beyond >= 0:
        retry_after = min(2 ** min(beyond + 1, 30), config["LOGIN_MAX_DELAY_SECONDS"])
        db.session.execute(update(LoginThrottle).where(*pair)
                           .values(retry_at=now + timedelta(seconds=retry_after)))
    alert_id = _record_attack_alert(user, account, now) if user is not None else None
    db.session.commit()
    if alert_id is not None:
        outbox.hand_off([alert_id])
    return retry_after


def _record_attack_alert(user: User, account: str, now: datetime) -> int | None:
    """Tell the owner, at most once a day, when their account collected
    ``LOGIN_ALERT_FAILURES`` failures within an hour from clients that have not logged
    in since (a successful login forgives its own client's failures)."""
    failures = db.session.scalar(
        select(func.coalesce(func.sum(LoginThrottle.failures), 0))
        .where(LoginThrottle.account_digest == account,
               LoginThrottle.last_failure_at >= now - _ALERT_WINDOW))
    if failures < current_app.config["LOGIN_ALERT_FAILURES"]:
        return None
    dedupe_key = f"login-alert:{user.id}:{now:%Y-%m-%d}"
    if db.session.scalar(select(OutboundEmail.id)
                         .where(OutboundEmail.dedupe_key == dedupe_key)) is not None:
        return None
    row = OutboundEmail(kind=OutboxKind.LOGIN_ALERT, dedupe_key=dedupe_key,
                        payload=json.dumps({"user_id": user.id, "failures": failures}),
                        status=OutboxStatus.PENDING, dispatched_at=now)
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError:  # recorded by a parallel failure
        return None
    return row.id


def login_alert_draft(row: OutboundEmail) -> Draft:
    """The owner's warning that someone keeps trying their password (see
    ``mail.build_message``). It names no IP address or place, only how many."""
    payload = json.loads(row.payload or "{}")
    user = db.session.get(User, payload.get("user_id") or 0)
    if user is None:
        raise PermanentMailError("the user is gone")
    # Staff have no language of their own yet: the console's first language, as the
    # organizer's test of an update.
    context = {"failures": int(payload.get("failures", 0)), "locale": "en",
               "password_url": external_url("auth.change_password")}
    with force_locale("en"):
        return Draft(to_name=user.name or "", to_address=user.email,
                     subject=gettext("Someone is trying to log in to your account"),
                     text=render_template("emails/login_alert.txt", **context),
                     html=render_template("emails/login_alert.html", **context))


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

MAX_TOKEN_DAYS = 3650


def create_token(user: User, name: str = "", actor: User | None = None, via: str = "web",
                 scopes: Iterable[Scope | str] | None = None,
                 expires_days: int | None = None) -> tuple[ApiToken, str]:
    """Create an API token; the plain token is returned once and never stored.

    Without ``scopes`` it may do everything; without ``expires_days`` it lasts
    ``API_TOKEN_DAYS``.
    """
    try:
        chosen = sorted({Scope(s) for s in (Scope if scopes is None else scopes)},
                        key=list(Scope).index)
    except ValueError as exc:
        raise AccountError(gettext("Unknown scope.")) from exc
    if not chosen:
        raise AccountError(gettext("Please choose at least one scope."))
    days = current_app.config["API_TOKEN_DAYS"] if expires_days is None else expires_days
    if not 1 <= days <= MAX_TOKEN_DAYS:
        raise AccountError(gettext("A token lasts from 1 to %(max)d days.", max=MAX_TOKEN_DAYS))
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    record = ApiToken(user_id=user.id, name=name[:100], digest=token_digest(token),
                      prefix=token[:10], scopes=" ".join(chosen),
                      expires_at=utcnow() + timedelta(days=days))
    db.session.add(record)
    db.session.flush()
    audit.record("token.create", "api_token", record.id, actor=actor or user, via=via,
                 after={"user_id": user.id, "name": record.name, "scopes": record.scopes,
                        "expires_at": record.expires_at.isoformat()})
    db.session.commit()
    return record, token


def find_token(token: str) -> ApiToken | None:
    """The unrevoked token of an active user that ``token`` is, expired or not. Looked
    up by digest, so the comparison is of digests, not of the secret itself."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    record = db.session.scalar(select(ApiToken).where(ApiToken.digest == token_digest(token)))
    if record is None or record.revoked_at is not None or not record.user.active:
        return None
    now = utcnow()
    if record.expires_at > now and (record.last_used_at is None
                                    or now - record.last_used_at > timedelta(minutes=5)):
        record.last_used_at = now
        db.session.commit()
    return record


def user_for_token(token: str) -> User | None:
    """The active user a valid (unexpired) bearer token belongs to, or None."""
    record = find_token(token)
    return record.user if record is not None and record.expires_at > utcnow() else None


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

"""Console sessions kept on the server, so that logging out ends them for good.

The session cookie holds only a random session id; the database keeps its SHA-256
digest, the user, and when the session began and was last used. A session ends when
its owner logs out, changes their password, is deactivated, or leaves it unused for
``STAFF_SESSION_IDLE_MINUTES``, and in any case ``STAFF_SESSION_MAX_HOURS`` after the
login. A copy of the cookie taken before that is worth nothing after.

A login with two-factor authentication first gets a *pending* session (stage ``code``
or ``enrol``): the password was right, the second factor is still to come. It logs
nobody in, lives ``PENDING_MINUTES``, and allows ``MAX_FAILED_CODES`` wrong codes.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from flask import current_app
from sqlalchemy import and_, delete, or_, select, update

from petitions.extensions import db
from petitions.models import StaffSession, User, utcnow
from petitions.services.signing import token_digest

ACTIVE = "active"
CODE = "code"  # the password was right; the code of the authenticator app is next
ENROL = "enrol"  # the password was right; an admin must set up two-factor login first
PENDING_MINUTES = 10
MAX_FAILED_CODES = 5
# How often the last use of a session is written: not on every request.
_TOUCH_EVERY = timedelta(minutes=1)


def start(user: User, stage: str = ACTIVE) -> str:
    """Begin a session of ``user``; returns the id for the cookie (shown only here).

    Sessions of anyone that ran out are deleted on the way, so none lingers unused.
    """
    _delete_expired()
    token = secrets.token_urlsafe(32)
    db.session.add(StaffSession(digest=token_digest(token), user_id=user.id, stage=stage,
                                user_version=user.session_version))
    db.session.commit()
    if stage == ACTIVE:
        user.session_token = token
    return token


def find(token: str | None, stage: str | tuple[str, ...] = ACTIVE) -> StaffSession | None:
    """The live session with this id and stage, or None (an ended one is deleted)."""
    if not token or len(token) > 100:
        return None
    record = db.session.scalar(select(StaffSession).where(
        StaffSession.digest == token_digest(token)))
    if record is None:
        return None
    stages = (stage,) if isinstance(stage, str) else stage
    if record.stage not in stages:
        return None
    if _expired(record):
        db.session.delete(record)
        db.session.commit()
        return None
    return record


def _delete_expired() -> None:
    config = current_app.config
    now = utcnow()
    idle = now - timedelta(minutes=config["STAFF_SESSION_IDLE_MINUTES"])
    begun = now - timedelta(hours=config["STAFF_SESSION_MAX_HOURS"])
    pending = now - timedelta(minutes=PENDING_MINUTES)
    db.session.execute(delete(StaffSession).where(or_(
        StaffSession.last_seen_at < idle, StaffSession.created_at < begun,
        and_(StaffSession.stage != ACTIVE, StaffSession.created_at < pending))))


def _expired(record: StaffSession) -> bool:
    config = current_app.config
    now = utcnow()
    user = record.user
    if not user.active or user.session_version != record.user_version:
        return True
    if record.stage != ACTIVE:
        return now - record.created_at > timedelta(minutes=PENDING_MINUTES)
    return (now - record.last_seen_at > timedelta(minutes=config["STAFF_SESSION_IDLE_MINUTES"])
            or now - record.created_at > timedelta(hours=config["STAFF_SESSION_MAX_HOURS"]))


def load_session_user(token: str) -> User | None:
    """Flask-Login's user loader: the user of a live, fully logged-in session."""
    record = find(token)
    if record is None:
        return None
    now = utcnow()
    if now - record.last_seen_at >= _TOUCH_EVERY:
        record.last_seen_at = now
        db.session.commit()
    user = record.user
    user.session_token = token
    return user


def promote(record: StaffSession) -> str:
    """The second factor is done: end the pending session and start a logged-in one
    under a new id (the pending id, seen before the login was complete, is dropped)."""
    user = record.user
    db.session.delete(record)
    return start(user)


def count_failed_code(record: StaffSession) -> bool:
    """Count a wrong code; True if the pending session is used up (and so ended)."""
    # Counted in the database, so that codes tried in parallel all count.
    this_session = StaffSession.id == record.id
    db.session.execute(update(StaffSession).where(this_session)
                       .values(failed_codes=StaffSession.failed_codes + 1))
    db.session.execute(delete(StaffSession).where(
        this_session, StaffSession.failed_codes >= MAX_FAILED_CODES))
    left = db.session.scalar(select(StaffSession.id).where(this_session))
    db.session.commit()
    return left is None


def end(token: str | None) -> None:
    """Log out: the session with this id stops working, whatever copy of it exists."""
    if token:
        db.session.execute(delete(StaffSession).where(
            StaffSession.digest == token_digest(token)))
        db.session.commit()


def end_all(user: User) -> None:
    """End every session of ``user``, on every device (the caller commits)."""
    db.session.execute(delete(StaffSession).where(StaffSession.user_id == user.id))

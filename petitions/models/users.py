"""Staff accounts (admins and organizers), their API tokens, and who runs which action.

Organizers are activists too and can be targeted like signers, so their email
address is encrypted like a signer's and found through its keyed digest.
"""

from __future__ import annotations

import enum
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import BigInteger, Boolean, Column, Enum, ForeignKey, Integer, String, Table
from sqlalchemy.orm import Mapped, mapped_column, relationship

from petitions.crypto import EncryptedText
from petitions.extensions import db
from petitions.models.actions import Action
from petitions.models.types import BigId, UTCDateTime, utcnow


class Role(enum.StrEnum):
    ADMIN = "admin"
    ORGANIZER = "organizer"


action_organizers = Table(
    "action_organizers",
    db.metadata,
    Column("action_id", BigId, ForeignKey("actions.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", BigId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True,
           index=True),
)


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email: Mapped[str] = mapped_column(EncryptedText("users.email"))
    email_digest: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str | None] = mapped_column(EncryptedText("users.name"))
    role: Mapped[Role] = mapped_column(
        Enum(Role, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e]))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Bumped on password change and deactivation: every older session stops working.
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Two-factor login (services/two_factor.py): the TOTP secret, encrypted; it is in use
    # once ``totp_enabled_at`` is set (before that, an enrolment under way). The last
    # time step a code was accepted for, so that a code is never accepted twice.
    totp_secret: Mapped[str | None] = mapped_column(EncryptedText("users.totp_secret"))
    totp_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)

    actions: Mapped[list[Action]] = relationship(secondary=action_organizers,
                                                 back_populates="organizers",
                                                 order_by="Action.created_at.desc()")

    @property
    def is_active(self) -> bool:  # Flask-Login: deactivated users can't log in
        return self.active

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def has_two_factor(self) -> bool:
        return self.totp_enabled_at is not None

    # The id of the server-side session this object was loaded or logged in through
    # (services/staff_sessions.py). Flask-Login keeps it, not the user's id, in the cookie.
    session_token = None

    def get_id(self) -> str:
        if self.session_token is None:
            raise RuntimeError("log in through petitions.services.staff_sessions")
        return self.session_token


class StaffSession(db.Model):
    """A login: what the session cookie points to, so that logging out ends it for good.

    Only the SHA-256 digest of the random id in the cookie is kept. ``stage`` is
    ``code`` or ``enrol`` while the password is checked but the second factor is not
    yet (such a session is not logged in), ``active`` after.
    """

    __tablename__ = "staff_sessions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    stage: Mapped[str] = mapped_column(String(8))
    # The user's session version at login: a password change or a deactivation bumps it.
    user_version: Mapped[int] = mapped_column(Integer)
    failed_codes: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship()


class RecoveryCode(db.Model):
    """A one-time code that stands in for the authenticator app; only a keyed digest."""

    __tablename__ = "staff_recovery_codes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    digest: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Scope(enum.StrEnum):
    """What an API token may do. Reading actions and deliveries, exporting the signers
    and changing things are granted separately, so a token for a newsroom's dashboard
    can't download who signed."""

    READ = "read"
    EXPORT = "export"
    WRITE = "write"


class ApiToken(db.Model):
    """A bearer token for the API. Only its SHA-256 digest is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters, shown in the console so a person can tell tokens apart.
    prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # ``Scope`` values, separated by spaces (as OAuth writes them).
    scopes: Mapped[str] = mapped_column(String(32))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()

    @property
    def scope_list(self) -> list[Scope]:
        return [Scope(s) for s in self.scopes.split()]

    def allows(self, scope: Scope) -> bool:
        return scope in self.scope_list

"""Staff accounts for tests: users, logging in through the real form, raw rows."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pyotp
import pytest
from argon2 import PasswordHasher
from flask.testing import FlaskClient
from sqlalchemy import text, update

from petitions.extensions import db
from petitions.models import User
from petitions.services import accounts, two_factor
from tests.factories import post_form

PASSWORD = "correct horse battery staple"
_sequence = itertools.count(1)


@pytest.fixture
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> Iterator[PasswordHasher]:
    """Argon2id with tiny costs, so that tests that log in often stay fast; yields the
    application's real hasher for the test that checks its strength."""
    real = accounts._hasher
    cheap = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    monkeypatch.setattr(accounts, "_hasher", cheap)
    monkeypatch.setattr(accounts, "_DUMMY_HASH", cheap.hash("no account has this password"))
    yield real


def make_user(role: str = "organizer", *, email: str | None = None,
              password: str = PASSWORD, **overrides: Any) -> User:
    address = email or f"staff{next(_sequence)}@example.org"
    return accounts.create_user(address, role, password=password, **overrides)


def enable_two_factor(user: User) -> list[str]:
    """Turn on two-factor login for ``user`` as the enrolment page does, with the code an
    authenticator app would show; returns the recovery codes."""
    codes = two_factor.enrol(user, pyotp.TOTP(two_factor.enrolment_secret(user)).now())
    assert codes is not None
    return codes


def current_code(user: User) -> str:
    """The code ``user``'s authenticator app shows now. The server accepts each time step
    once; tests log in several times within one, so the step used last is forgotten, as
    if the person had waited for the next code."""
    db.session.execute(update(User).where(User.id == user.id).values(totp_last_step=None))
    db.session.commit()
    return pyotp.TOTP(user.totp_secret).now()


def log_in(client: FlaskClient, user: User, password: str = PASSWORD):  # type: ignore[no-untyped-def]
    """Log in through /login as a browser does, with the code of the authenticator app
    when the account has two-factor login (admins are enrolled first, as they must be);
    the answer must be the redirect."""
    if two_factor.required(user) and not user.has_two_factor:
        enable_two_factor(user)
    response = post_form(client, "/login", {"email": user.email, "password": password})
    if user.has_two_factor and response.status_code == 302 \
            and response.headers["Location"].startswith("/login/code"):
        response = post_form(client, response.headers["Location"],
                             {"code": current_code(user)})
    assert response.status_code == 302, response.get_data(as_text=True)
    return response


def raw_rows(table: str) -> list[dict[str, Any]]:
    """Every row of ``table`` as the database stores it (no decryption, no ORM)."""
    db.session.commit()
    return [dict(row) for row in db.session.execute(text(f"SELECT * FROM {table}")).mappings()]

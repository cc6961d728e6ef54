"""Guessing a staff password from one place: that place is slowed more and more, the
owner logging in from elsewhere is not, and the owner hears of it once, by email."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from petitions.models import User
from tests.account_factories import (  # noqa: F401 - a fixture
    PASSWORD,
    cheap_password_hashing,
    make_user,
)
from tests.conftest import body_text
from tests.factories import csrf_token, deliver_pending_mail, field_error

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")

ATTACKERS = [f"203.0.113.{n}" for n in range(1, 5)]
SUBJECT = "Someone is trying to log in to your account"


def _attempt(client: FlaskClient, email: str, password: str, ip: str):  # type: ignore[no-untyped-def]
    return client.post("/login", data={"email": email, "password": password,
                                       "csrf_token": csrf_token(client, "/login")},
                       environ_base={"REMOTE_ADDR": ip})


@pytest.fixture
def owner(app: Flask, monkeypatch: pytest.MonkeyPatch) -> User:
    monkeypatch.setitem(app.config, "LOGIN_FREE_FAILURES", 3)
    monkeypatch.setitem(app.config, "LOGIN_ALERT_FAILURES", 8)
    return make_user(email="organizer@example.org", name="Amal")


def test_the_owner_is_warned_once_and_can_still_log_in(app: Flask, mailbox,  # type: ignore[no-untyped-def]
                                                      owner: User) -> None:
    stranger = app.test_client()
    for ip in ATTACKERS:  # 4 places, 3 wrong passwords each: 12 failures, 8 to warn
        for _ in range(3):
            assert _attempt(stranger, owner.email, "guess, guess, guess", ip).status_code == 422
    slowed = _attempt(stranger, owner.email, PASSWORD, ATTACKERS[0])
    assert slowed.status_code == 422
    assert "try again in a moment" in field_error(slowed.get_data(as_text=True), "password")

    deliver_pending_mail()
    [alert] = [m for m in mailbox.to(owner.email) if m["Subject"] == SUBJECT]
    text = body_text(alert)
    assert "8 times" in text
    assert "203.0.113" not in alert.as_string()
    assert [m for m in mailbox.messages if m["Subject"] == SUBJECT] == [alert]

    home = app.test_client()
    assert _attempt(home, owner.email, PASSWORD, "198.51.100.7").status_code == 302
    # The same address as the login: strong session protection ends a session that moves.
    assert home.get("/console/", environ_base={"REMOTE_ADDR": "198.51.100.7"}).status_code == 200

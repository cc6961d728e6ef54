"""Console sessions live on the server: logging out, idling and time end them for good."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update

from petitions.extensions import db
from petitions.models import StaffSession, utcnow
from tests.account_factories import (  # noqa: F401 - a fixture
    cheap_password_hashing,
    log_in,
    make_user,
    raw_rows,
)
from tests.factories import csrf_token

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")


def _session_cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


def _replay(app: Flask, cookie: str, **kwargs: object) -> int:
    """The status of /console/ for another browser that holds a copy of ``cookie``."""
    thief = app.test_client()
    thief.set_cookie("session", cookie)
    return thief.get("/console/", **kwargs).status_code


def _log_out(client: FlaskClient) -> None:
    response = client.post("/logout", data={"csrf_token": csrf_token(client, "/console/")})
    assert response.status_code == 302


def test_a_cookie_copied_before_logout_is_worthless_after_it(app, client):
    log_in(client, make_user())
    saved = _session_cookie(client)
    assert _replay(app, saved) == 200  # the copy works while the session lasts
    _log_out(client)
    assert client.get("/console/").status_code == 302
    assert _replay(app, saved) == 302
    assert raw_rows("staff_sessions") == []


def test_logging_out_ends_only_that_session(app):
    user = make_user()
    laptop, phone = app.test_client(), app.test_client()
    log_in(laptop, user)
    log_in(phone, user)
    _log_out(laptop)
    assert laptop.get("/console/").status_code == 302
    assert phone.get("/console/").status_code == 200


def test_the_cookie_holds_a_random_session_id_and_the_database_only_its_digest(app, client):
    user = make_user()
    log_in(client, user)
    data = app.session_interface.get_signing_serializer(app).loads(_session_cookie(client))
    session_id = data["_user_id"]
    assert str(user.id) not in session_id.split(":") and len(session_id) >= 40
    [row] = raw_rows("staff_sessions")
    assert row["digest"] == hashlib.sha256(session_id.encode()).hexdigest()
    assert row["user_id"] == user.id and row["stage"] == "active"
    assert session_id not in str(row)


def test_there_is_no_remember_me_cookie(client):
    response = log_in(client, make_user())
    assert not any("remember_token=" in c and "Max-Age=0" not in c
                   for c in response.headers.getlist("Set-Cookie"))
    assert client.get_cookie("remember_token") is None


def _age_session(**fields: object) -> None:
    db.session.execute(update(StaffSession).values(**fields))
    db.session.commit()


@pytest.mark.parametrize(("idle_minutes", "logged_in"), [(29, True), (31, False)])
def test_a_session_unused_for_the_idle_time_ends(client, idle_minutes, logged_in):
    log_in(client, make_user())
    _age_session(last_seen_at=utcnow() - timedelta(minutes=idle_minutes))
    assert client.get("/console/").status_code == (200 if logged_in else 302)
    assert bool(raw_rows("staff_sessions")) is logged_in


def test_using_a_session_keeps_it_alive(client):
    log_in(client, make_user())
    for _ in range(3):  # three times 20 minutes: more than the idle time in all
        _age_session(last_seen_at=utcnow() - timedelta(minutes=20))
        assert client.get("/console/").status_code == 200


def test_a_session_ends_after_the_absolute_lifetime_however_busy(client):
    log_in(client, make_user())
    _age_session(created_at=utcnow() - timedelta(hours=12, minutes=1), last_seen_at=utcnow())
    assert client.get("/console/").status_code == 302


def test_the_lifetimes_are_settings(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "STAFF_SESSION_IDLE_MINUTES", 5)
    monkeypatch.setitem(app.config, "STAFF_SESSION_MAX_HOURS", 1)
    log_in(client, make_user())
    _age_session(last_seen_at=utcnow() - timedelta(minutes=6))
    assert client.get("/console/").status_code == 302

    log_in(client, make_user())
    _age_session(created_at=utcnow() - timedelta(minutes=61))
    assert client.get("/console/").status_code == 302


def test_a_cookie_used_from_another_browser_ends_the_session(app, client):
    """Flask-Login's strong session protection: another address or browser is logged out,
    and the session on the server ends, so the owner logs in again too."""
    log_in(client, make_user())
    saved = _session_cookie(client)
    assert _replay(app, saved, headers={"User-Agent": "Another browser/1.0"}) == 302
    assert raw_rows("staff_sessions") == []
    assert client.get("/console/").status_code == 302


def test_anonymous_visitors_get_no_cookie_from_session_protection(client):
    client.get("/login")  # a session with a CSRF token, nobody logged in
    response = client.get("/", headers={"User-Agent": "Another browser/1.0"})
    assert "remember_token" not in " ".join(response.headers.getlist("Set-Cookie"))

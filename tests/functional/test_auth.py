"""Logging in and out and changing one's password, through the real pages."""

from __future__ import annotations

from urllib.parse import parse_qs, quote, urlsplit

import pytest

from petitions.models import User
from petitions.services import accounts
from tests.accessibility import accessibility_problems
from tests.account_factories import (  # noqa: F401 - a fixture
    PASSWORD,
    cheap_password_hashing,
    log_in,
    make_user,
    raw_rows,
)
from tests.factories import csrf_token, field_error, fresh, parse_html, post_form

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")

LOGIN_FAILED = "The email or password is not right."
LOGIN_SLOWED = LOGIN_FAILED + " Too many attempts from here: try again in a moment."
NEW_PASSWORD = "a brand new passphrase"


def _login(client, email: str, password: str, url: str = "/login"):  # type: ignore[no-untyped-def]
    return post_form(client, url, {"email": email, "password": password})


def _change_password(client, current: str, new: str, repeat: str | None = None):  # type: ignore[no-untyped-def]
    return post_form(client, "/account/password",
                     {"current": current, "new": new, "repeat": new if repeat is None else repeat})


def _assert_accessible(response) -> None:  # type: ignore[no-untyped-def]
    html = response.get_data(as_text=True)
    assert accessibility_problems(html, response.status_code) == []
    assert parse_html(html).find_all("label"), "a form page without labels"


# --- logging in --------------------------------------------------------------------------

def test_login_page_has_labelled_fields(client):
    response = client.get("/login")
    assert response.status_code == 200
    _assert_accessible(response)
    page = parse_html(response.get_data(as_text=True))
    assert page.find("input", name="email").get("autocomplete") == "username"
    assert page.find("input", name="password").get("autocomplete") == "current-password"
    assert page.find("input", name="password").get("type") == "password"


def test_login_goes_to_the_console(client):
    user = make_user(email="amal@example.org")
    response = _login(client, "Amal@Example.org", PASSWORD)
    assert response.status_code == 302
    assert response.headers["Location"] == "/console/"
    assert client.get("/console/").status_code == 200
    assert fresh(User, user.id).last_login_at is not None


def test_the_console_sends_anonymous_visitors_to_the_login_and_back(client):
    make_user(email="back@example.org")
    response = client.get("/account/password")
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/login"
    assert parse_qs(location.query) == {"next": ["/account/password"]}
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Please log in" in page
    back = _login(client, "back@example.org", PASSWORD, url=response.headers["Location"])
    assert back.headers["Location"] == "/account/password"


@pytest.mark.parametrize("data", [
    {"email": "amal@example.org", "password": PASSWORD},
    {"email": "amal@example.org", "password": PASSWORD, "csrf_token": "forged"},
])
def test_login_without_the_right_csrf_token_is_refused(client, data):
    make_user(email="amal@example.org")
    client.get("/login")
    response = client.post("/login", data=data)
    assert response.status_code == 400
    assert "This form has expired" in response.get_data(as_text=True)
    assert client.get("/console/").status_code == 302


def test_an_empty_login_form_shows_errors_next_to_the_fields(client):
    response = _login(client, "", "")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert field_error(html, "email") == "Please enter your email."
    assert field_error(html, "password") == "Please enter your password."
    _assert_accessible(response)


def test_unknown_address_and_wrong_password_look_the_same_even_when_slowed(client, app,
                                                                          monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_FREE_FAILURES", 2)
    make_user(email="amal@example.org")
    make_user(email="slowed@example.org")
    for email in ("slowed@example.org", "unknown@example.org"):
        for _ in range(2):
            _login(client, email, "wrong password, long")
    answers = [_login(client, "nobody@example.org", PASSWORD),
               _login(client, "amal@example.org", "wrong password, long"),
               _login(client, "slowed@example.org", PASSWORD),
               _login(client, "unknown@example.org", PASSWORD)]
    assert {a.status_code for a in answers} == {422}
    for answer, email, error in zip(
            answers, ["nobody@example.org", "amal@example.org", "slowed@example.org",
                      "unknown@example.org"],
            [LOGIN_FAILED, LOGIN_FAILED, LOGIN_SLOWED, LOGIN_SLOWED], strict=True):
        html = answer.get_data(as_text=True)
        _assert_accessible(answer)
        assert field_error(html, "password") == error
        assert field_error(html, "email") is None
        page = parse_html(html)
        assert page.find("input", name="email").get("value") == email
        assert page.find("input", name="password").get("value") in (None, "")
        assert PASSWORD not in html


def test_failures_from_elsewhere_do_not_lock_the_owner_out(app, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_FREE_FAILURES", 3)
    make_user(email="amal@example.org")
    stranger, owner = app.test_client(), app.test_client()

    def attempt(client, password: str, ip: str):  # type: ignore[no-untyped-def]
        return client.post("/login", data={"email": "amal@example.org", "password": password,
                                           "csrf_token": csrf_token(client, "/login")},
                           environ_base={"REMOTE_ADDR": ip})

    for _ in range(6):
        assert attempt(stranger, "wrong password, long", "203.0.113.66").status_code == 422
    slowed = attempt(stranger, PASSWORD, "203.0.113.66")
    assert slowed.status_code == 422
    assert field_error(slowed.get_data(as_text=True), "password") == LOGIN_SLOWED
    assert stranger.get("/console/").status_code == 302
    assert attempt(owner, PASSWORD, "198.51.100.7").status_code == 302
    # The same address as the login: strong session protection ends a session that moves.
    assert owner.get("/console/", environ_base={"REMOTE_ADDR": "198.51.100.7"}).status_code == 200


def test_a_deactivated_user_is_logged_out_and_cannot_log_in_again(client, app):
    admin = make_user("admin")
    user = make_user(email="leaving@example.org")
    log_in(client, user)
    assert client.get("/console/").status_code == 200
    accounts.update_user(fresh(User, user.id), actor=admin, active=False)
    response = client.get("/console/")
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/login"
    again = _login(client, "leaving@example.org", PASSWORD)
    assert again.status_code == 422
    assert field_error(again.get_data(as_text=True), "password") == LOGIN_FAILED


@pytest.mark.parametrize("target", [
    "https://evil.example/console/",
    "//evil.example",
    "///evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    " //evil.example",
    "https:evil.example",
    "javascript:alert(1)",
    "console/",
    "/console/\r\nX-Evil: 1",
    "/console/\x00",
    "/console/\u2028",
    "/café",
])
def test_login_never_redirects_off_the_site(client, target):
    user = make_user()
    response = _login(client, user.email, PASSWORD, url=f"/login?next={_quote(target)}")
    assert response.status_code == 302
    assert response.headers["Location"] == "/console/"
    again = client.get(f"/login?next={_quote(target)}")
    assert again.status_code == 302
    assert again.headers["Location"] == "/console/"


@pytest.mark.parametrize("target", ["/console/", "/account/password", "/console/?page=2"])
def test_login_follows_a_path_on_this_site(client, target):
    user = make_user()
    response = _login(client, user.email, PASSWORD, url=f"/login?next={_quote(target)}")
    assert response.status_code == 302
    assert response.headers["Location"] == target


def _quote(value: str) -> str:
    return quote(value, safe="")


# --- logging out -------------------------------------------------------------------------

def test_logout_needs_a_post_with_the_csrf_token(client):
    log_in(client, make_user())
    assert client.get("/logout").status_code == 405
    refused = client.post("/logout")
    assert refused.status_code == 400
    assert client.get("/console/").status_code == 200

    token = csrf_token(client, "/console/")
    response = client.post("/logout", data={"csrf_token": token})
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert "You are logged out." in client.get("/login").get_data(as_text=True)
    assert client.get("/console/").status_code == 302


def test_the_console_navigation_offers_logout_and_password(client):
    log_in(client, make_user())
    page = parse_html(client.get("/console/").get_data(as_text=True))
    nav = page.find("nav")
    assert nav is not None and nav.get("aria-label")
    logout = next(f for f in nav.find_all("form") if f.get("action") == "/logout")
    assert logout.get("method") == "post"
    assert logout.find("input", name="csrf_token") is not None
    assert nav.find("a", href="/account/password") is not None
    assert nav.find("a", href="/admin/") is None


# --- changing the password ---------------------------------------------------------------

def test_password_page_has_labelled_fields(client):
    log_in(client, make_user())
    response = client.get("/account/password")
    assert response.status_code == 200
    _assert_accessible(response)


def test_a_wrong_current_password_is_shown_next_to_the_field(client):
    user = make_user()
    log_in(client, user)
    response = _change_password(client, "not my password at all", NEW_PASSWORD)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert field_error(html, "current") == "The current password is not right."
    assert field_error(html, "new") is None
    _assert_accessible(response)
    assert accounts.authenticate(user.email, PASSWORD).user is not None


def test_a_short_new_password_is_refused(client):
    user = make_user()
    log_in(client, user)
    response = _change_password(client, PASSWORD, "too short")
    assert response.status_code == 422
    assert "at least 12 characters" in field_error(response.get_data(as_text=True), "new")
    assert accounts.authenticate(user.email, PASSWORD).user is not None


def test_the_new_password_must_be_repeated_exactly(client):
    user = make_user()
    log_in(client, user)
    response = _change_password(client, PASSWORD, NEW_PASSWORD, repeat=NEW_PASSWORD + "!")
    assert response.status_code == 422
    assert field_error(response.get_data(as_text=True), "repeat") == \
        "The two new passwords differ."
    assert accounts.authenticate(user.email, PASSWORD).user is not None


def test_the_password_form_needs_the_csrf_token(client):
    user = make_user()
    log_in(client, user)
    response = client.post("/account/password", data={
        "current": PASSWORD, "new": NEW_PASSWORD, "repeat": NEW_PASSWORD})
    assert response.status_code == 400
    assert accounts.authenticate(user.email, PASSWORD).user is not None


def test_changing_the_password_logs_out_other_sessions_but_keeps_this_one(app, client):
    user = make_user(email="amal@example.org")
    other_device = app.test_client()
    log_in(client, user)
    log_in(other_device, user)
    old_hash = raw_rows("users")[0]["password_hash"]

    response = _change_password(client, PASSWORD, NEW_PASSWORD)
    assert response.status_code == 302
    assert response.headers["Location"] == "/console/"
    page = client.get("/console/")
    assert page.status_code == 200
    assert "Your password is changed." in page.get_data(as_text=True)
    assert client.get("/account/password").status_code == 200

    assert other_device.get("/console/").status_code == 302
    [row] = raw_rows("users")
    assert row["password_hash"] != old_hash and row["password_hash"].startswith("$argon2id$")
    assert NEW_PASSWORD not in str(row)
    assert _login(other_device, "amal@example.org", PASSWORD).status_code == 422
    assert _login(other_device, "amal@example.org", NEW_PASSWORD).status_code == 302

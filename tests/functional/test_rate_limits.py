"""Rate limits: each limited route answers 429 with Retry-After once its limit is used up,
as a page for people and as JSON for the API; other keys are not affected."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from config import ConfigError, check_production, load_settings
from petitions.extensions import db
from petitions.models import Signature
from tests.account_factories import cheap_password_hashing  # noqa: F401 (fixture)
from tests.api_factories import bearer, make_staff, make_token
from tests.factories import (
    confirmation_token,
    csrf_token,
    form_data,
    make_action,
    make_signature,
    post_form,
)
from tests.organizer_factories import PASSWORD, make_user
from tests.security_factories import limits_on


def signatures() -> int:
    return db.session.scalar(select(func.count()).select_from(Signature)) or 0


def test_signing_is_limited_per_address_and_action(app: Flask, client: FlaskClient,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    limits_on(app, monkeypatch, SIGN_RATE_LIMIT="2 per hour")
    action, other = make_action(), make_action()
    url = f"/actions/{action.slug}"
    for _ in range(2):
        assert post_form(client, url, form_data()).status_code == 303
    refused = post_form(client, url, form_data())
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert "Too many requests" in refused.get_data(as_text=True)
    assert refused.mimetype == "text/html"
    assert signatures() == 2
    # Reading the page is not limited, and another action has its own count.
    assert client.get(url).status_code == 200
    assert post_form(client, f"/actions/{other.slug}", form_data()).status_code == 303
    # Another address (a different school) is not affected.
    token = csrf_token(client, url)
    elsewhere = client.post(url, data={**form_data(), "csrf_token": token},
                            environ_base={"REMOTE_ADDR": "198.51.100.7"})
    assert elsewhere.status_code == 303


def test_the_embed_widget_shares_the_signing_limit(app: Flask, client: FlaskClient,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    limits_on(app, monkeypatch, SIGN_RATE_LIMIT="1 per hour")
    action = make_action()
    assert post_form(client, f"/actions/{action.slug}", form_data()).status_code == 303
    assert client.post(f"/actions/{action.slug}/embed", data=form_data()).status_code == 429


def test_limits_off_lets_everything_through(app: Flask, client: FlaskClient,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    limits_on(app, monkeypatch, SIGN_RATE_LIMIT="1 per hour")
    monkeypatch.setitem(app.config, "RATELIMIT_ENABLED", False)
    action = make_action()
    for _ in range(3):
        assert post_form(client, f"/actions/{action.slug}", form_data()).status_code == 303


def test_resending_is_limited_per_email_address(app: Flask, client: FlaskClient,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    limits_on(app, monkeypatch, RESEND_RATE_LIMIT="2 per hour")
    action = make_action()
    signature = make_signature(action)
    token = confirmation_token(signature)
    other_token = confirmation_token(make_signature(action))
    csrf = csrf_token(client, f"/confirm/{token}")

    def resend(token: str, ip: str = "127.0.0.1") -> int:
        return client.post(f"/confirm/{token}/resend", data={"csrf_token": csrf},
                           environ_base={"REMOTE_ADDR": ip}).status_code

    assert resend(token) == 303
    assert resend(token, ip="198.51.100.7") == 303
    assert resend(token, ip="198.51.100.8") == 429
    # Another signer's address has its own count.
    assert resend(other_token) == 303
    # Unknown links count against the IP address: guessing gets no fresh count.
    assert resend("made-up-1", ip="203.0.113.9") == 404
    assert resend("made-up-2", ip="203.0.113.9") == 404
    assert resend("made-up-3", ip="203.0.113.9") == 429


@pytest.mark.usefixtures("cheap_password_hashing")
def test_login_is_limited_per_address_not_per_account(app: Flask,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A limit per account would let anyone lock its owner out: the limit is per address,
    and the accounts service slows failures per account and address together."""
    limits_on(app, monkeypatch, LOGIN_RATE_LIMIT="3 per hour")
    user = make_user("admin")
    attacker, other_ip_client = app.test_client(), app.test_client()

    def attempt(client: FlaskClient, email: str, ip: str, password: str = "wrong guess"
                ) -> int:
        token = csrf_token(client, "/login")
        return client.post("/login", data={"email": email, "password": password,
                                           "csrf_token": token},
                           environ_base={"REMOTE_ADDR": ip}).status_code

    # One address trying three accounts uses up its own limit...
    for n in range(3):
        assert attempt(attacker, f"nobody{n}@example.org", "203.0.113.5") == 422
    assert attempt(attacker, "nobody9@example.org", "203.0.113.5") == 429
    # ...but one account tried from many addresses stays open to its owner.
    for n in range(6):
        assert attempt(other_ip_client, user.email, f"192.0.2.{n + 1}") == 422
    assert attempt(app.test_client(), user.email, "192.0.2.200", PASSWORD) == 302
    assert app.test_client().get("/login").status_code == 200


def test_the_api_is_limited_per_token_with_a_json_answer(app: Flask, client: FlaskClient,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    limits_on(app, monkeypatch, API_RATE_LIMIT="2 per minute")
    first, second = bearer(make_token(make_staff("admin"))), bearer(make_token(make_staff()))
    for _ in range(2):
        assert client.get("/api/v1/actions", headers=first).status_code == 200
    refused = client.get("/api/v1/actions", headers=first)
    assert refused.status_code == 429
    assert refused.is_json
    assert refused.get_json()["error"]["status"] == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert refused.get_json()["error"]["retry_after"] > 0
    assert client.get("/api/v1/actions", headers=second).status_code == 200


def test_successful_requests_carry_the_rate_limit_headers(app: Flask, client: FlaskClient,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    limits_on(app, monkeypatch, API_RATE_LIMIT="5 per minute")
    response = client.get("/api/v1/actions", headers=bearer(make_token(make_staff())))
    assert response.headers["X-RateLimit-Limit"] == "5"
    assert response.headers["X-RateLimit-Remaining"] == "4"


def production(**changes: object) -> dict[str, object]:
    config: dict[str, object] = {
        "SECRET_KEY": "s" * 48, "PII_ENCRYPTION_KEYS": ["a-key"], "PII_INDEX_KEY": "a-key",
        "INTAKE_PUBLIC_KEY": "a-public-key",
        "MAIL_SERVER": "smtp.example.org", "MAIL_USE_TLS": True,
        "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://petitions@db/petitions",
        "CELERY": {"broker_url": "redis://redis:6379/0"}, "BASE_URL": "https://act.example.org",
        "RATELIMIT_ENABLED": True, "RATELIMIT_STORAGE_URI": "redis://redis:6379/1",
    }
    config.update(changes)
    return config


def test_production_refuses_per_process_rate_limit_counters() -> None:
    check_production(production())
    with pytest.raises(ConfigError, match="RATELIMIT_STORAGE_URI"):
        check_production(production(RATELIMIT_STORAGE_URI="memory://"))
    check_production(production(RATELIMIT_STORAGE_URI="memory://", RATELIMIT_ENABLED=False))


def test_the_counters_default_to_redis_when_there_is_one() -> None:
    assert load_settings({}, "instance")["RATELIMIT_STORAGE_URI"] == "memory://"
    with_redis = load_settings({"REDIS_URL": "redis://cache:6379/0"}, "instance")
    assert with_redis["RATELIMIT_STORAGE_URI"] == "redis://cache:6379/0"
    explicit = load_settings({"REDIS_URL": "redis://cache:6379/0",
                              "RATELIMIT_STORAGE_URI": "redis://other:6379/2"}, "instance")
    assert explicit["RATELIMIT_STORAGE_URI"] == "redis://other:6379/2"

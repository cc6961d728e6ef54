"""Forwarding headers count only from a trusted proxy (petitions.proxies).

With ``TRUSTED_PROXIES`` above 0, a client that reaches the app's port directly and
sends ``X-Forwarded-For`` keeps its own address: for the rate limits, and for the IP
digest stored with a signature."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from petitions.extensions import db
from petitions.models import Signature
from petitions.proxies import TrustedProxyFix
from petitions.services.signing import ip_digest
from tests.factories import csrf_token, form_data, make_action
from tests.security_factories import limits_on

PROXY = "10.0.0.2"
DIRECT = "203.0.113.9"        # reaches the app's port without the proxy
CLAIMED = "198.51.100.7"      # what it claims in X-Forwarded-For


@pytest.fixture
def behind_proxy(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """The app as create_app wraps it with TRUSTED_PROXIES=1 and the proxy at PROXY."""
    monkeypatch.setattr(app, "wsgi_app",
                        TrustedProxyFix(app.wsgi_app, proxies=1, trusted=["10.0.0.0/24"]))


def sign(client: FlaskClient, slug: str, remote_addr: str, forwarded_for: str) -> int:
    url = f"/actions/{slug}"
    token = csrf_token(client, url)
    return client.post(url, data={**form_data(), "csrf_token": token},
                       headers={"X-Forwarded-For": forwarded_for},
                       environ_base={"REMOTE_ADDR": remote_addr}).status_code


def stored_ip_digest() -> str | None:
    db.session.rollback()
    return db.session.scalar(select(Signature.ip_digest))


@pytest.mark.usefixtures("behind_proxy")
def test_a_client_that_is_no_proxy_keeps_its_own_address(client: FlaskClient) -> None:
    action = make_action()
    assert sign(client, action.slug, DIRECT, CLAIMED) == 303
    assert stored_ip_digest() == ip_digest(DIRECT)


@pytest.mark.usefixtures("behind_proxy")
def test_the_trusted_proxy_names_the_client(client: FlaskClient) -> None:
    action = make_action()
    assert sign(client, action.slug, PROXY, CLAIMED) == 303
    assert stored_ip_digest() == ip_digest(CLAIMED)


@pytest.mark.usefixtures("behind_proxy")
def test_a_forged_header_gives_no_fresh_rate_limit(app: Flask, client: FlaskClient,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    limits_on(app, monkeypatch, SIGN_RATE_LIMIT="1 per hour")
    action = make_action()
    assert sign(client, action.slug, DIRECT, CLAIMED) == 303
    assert sign(client, action.slug, DIRECT, "198.51.100.8") == 429


def test_the_middleware_drops_forwarding_headers_of_others() -> None:
    seen: dict[str, object] = {}

    def inner(environ, start_response):  # type: ignore[no-untyped-def]
        seen.update(environ)
        start_response("200 OK", [])
        return [b""]

    middleware = TrustedProxyFix(inner, proxies=1, trusted=["127.0.0.1", "::1"])
    headers = {"HTTP_X_FORWARDED_FOR": CLAIMED, "HTTP_X_FORWARDED_HOST": "evil.example",
               "HTTP_X_FORWARDED_PROTO": "https"}
    middleware({"REMOTE_ADDR": DIRECT, **headers}, lambda *args: None)
    assert seen["REMOTE_ADDR"] == DIRECT
    assert not any(key.startswith("HTTP_X_FORWARDED_") for key in seen)

    for proxy in ("127.0.0.1", "::1", "::ffff:127.0.0.1"):
        seen.clear()
        middleware({"REMOTE_ADDR": proxy, **headers}, lambda *args: None)
        assert seen["REMOTE_ADDR"] == CLAIMED, proxy
    assert not middleware.is_trusted(None) and not middleware.is_trusted("not-an-ip")

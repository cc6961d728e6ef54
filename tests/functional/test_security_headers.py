"""Security headers on every answer, the embed widget as the one page allowed in a frame,
session cookies, and templates free of the inline code the CSP forbids."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from config import load_settings
from petitions import _flask_settings
from tests.factories import make_action

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def csp(response) -> dict[str, str]:  # type: ignore[no-untyped-def]
    policy = response.headers["Content-Security-Policy"]
    return {part.split(" ", 1)[0]: part.split(" ", 1)[1]
            for part in (p.strip() for p in policy.split(";")) if part}


@pytest.mark.parametrize("path", ["/", "/privacy", "/login", "/api/v1/actions",
                                  "/no-such-page"])
def test_every_answer_carries_the_headers(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    policy = csp(response)
    assert policy["default-src"] == "'self'"
    assert policy["script-src"] == "'self'"
    assert policy["style-src"] == "'self'"
    assert policy["img-src"] == "'self' data:"
    assert policy["frame-ancestors"] == "'none'"
    assert policy["form-action"] == "'self'"
    assert policy["base-uri"] == "'none'"
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert response.headers["X-Frame-Options"] == "DENY"
    # Not over plain HTTP in development and tests: HSTS is for production.
    assert "Strict-Transport-Security" not in response.headers


def test_the_action_page_may_not_be_framed_but_its_embed_may(app: Flask, client: FlaskClient,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    action = make_action()
    page = client.get(f"/actions/{action.slug}")
    assert csp(page)["frame-ancestors"] == "'none'"
    embed = client.get(f"/actions/{action.slug}/embed")
    assert embed.status_code == 200
    assert csp(embed)["frame-ancestors"] == "*"
    assert "X-Frame-Options" not in embed.headers
    monkeypatch.setitem(app.config, "EMBED_FRAME_ANCESTORS",
                        "https://partner.example https://*.ngo.example")
    limited = client.get(f"/actions/{action.slug}/embed")
    assert csp(limited)["frame-ancestors"] == "https://partner.example https://*.ngo.example"


def test_production_adds_hsts(app: Flask, client: FlaskClient,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.config, "APP_ENV", "production")
    response = client.get("/")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_production_session_cookies_are_secure(app: Flask) -> None:
    settings = load_settings({"APP_ENV": "production"}, app.instance_path)
    flask_settings = _flask_settings(app, settings)
    assert flask_settings["SESSION_COOKIE_SECURE"] is True
    assert flask_settings["SESSION_COOKIE_HTTPONLY"] is True
    assert flask_settings["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_the_session_cookie_is_httponly_and_samesite(client: FlaskClient) -> None:
    response = client.get("/login")  # the CSRF token starts a session
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    # Tests run over http://: the Secure flag is production's (see the test above).
    assert "Secure" not in cookie


class _InlineCode(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        if tag == "script" and "src" not in names:
            self.found.append("<script> without src")
        if tag == "style":
            self.found.append("<style> element")
        self.found.extend(f"{name}= on <{tag}>" for name in names
                          if name == "style" or name.startswith("on"))
        self.found.extend(f"javascript: URL on <{tag}>" for _, value in attrs
                          if value and value.strip().lower().startswith("javascript:"))


def test_no_template_has_code_the_csp_would_block() -> None:
    """Inline scripts, event handlers and style attributes (emails are not served
    under the CSP and keep theirs)."""
    problems = []
    for path in sorted(TEMPLATES.rglob("*.html")):
        if "emails" in path.relative_to(TEMPLATES).parts:
            continue
        parser = _InlineCode()
        parser.feed(path.read_text(encoding="utf-8"))
        problems.extend(f"{path.relative_to(TEMPLATES)}: {problem}" for problem in parser.found)
    assert problems == []


def test_the_scanner_finds_inline_code() -> None:
    parser = _InlineCode()
    parser.feed('<script>alert(1)</script><a href="javascript:x()" onclick="y()">'
                '<p style="color:red">')
    assert len(parser.found) == 4

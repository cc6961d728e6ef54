"""``HEAD`` is answered like ``GET``: link checkers, previews and monitors send it to
pages that carry a form, and it must never be taken for a submission of that form (it
used to get a 303 and a "taken for a bot" line in the log)."""

from __future__ import annotations

import logging

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from petitions.extensions import db
from petitions.models import Signature, Subscriber
from tests.factories import make_action
from tests.security_factories import bot_checks_on


def rows(model: type) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


@pytest.mark.parametrize("cache_seconds", [0, 5], ids=["uncached", "cached"])
def test_head_on_the_action_page_and_widget_signs_nothing(
        app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture, cache_seconds: int) -> None:
    bot_checks_on(app, monkeypatch)
    monkeypatch.setitem(app.config, "PUBLIC_CACHE_SECONDS", cache_seconds)
    action = make_action()
    caplog.set_level(logging.INFO, logger="petitions")
    for path in (f"/actions/{action.slug}", f"/actions/{action.slug}/embed"):
        response = client.head(path)
        assert response.status_code == 200, path
        assert response.data == b""
        assert response.headers["Content-Type"].startswith("text/html")
        # A page a HEAD put in the cache is whole for the next GET.
        assert b'name="form_stamp"' in client.get(path).data
    assert rows(Signature) == 0
    assert "taken for a bot" not in caplog.text


@pytest.mark.parametrize("path", ["/network", "/login"])
def test_head_on_other_pages_with_a_form_is_a_get(client: FlaskClient, path: str) -> None:
    get, head = client.get(path), client.head(path)
    assert head.status_code == get.status_code == 200
    assert head.data == b""
    assert rows(Subscriber) == 0

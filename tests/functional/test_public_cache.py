"""The public pages and counts each web process keeps for PUBLIC_CACHE_SECONDS: the same
page for everyone in a language, with each visitor's own CSRF token and bot checks, no
query on a hit, and what changed shown once the entry is old enough."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event

from petitions import botcheck, page_cache
from petitions.extensions import db
from petitions.models import Action
from tests.clock import FakeClock, fake_clock
from tests.factories import (
    form_data,
    make_action,
    make_confirmed_signature,
    parse_html,
)
from tests.security_factories import bot_checks_on

TTL = 60.0


@pytest.fixture
def clock(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeClock]:
    monkeypatch.setitem(app.config, "PUBLIC_CACHE_SECONDS", TTL)
    clock = fake_clock(monkeypatch, page_cache)
    cache: page_cache.PageCache = app.extensions[page_cache.EXTENSION]
    cache.clear()
    yield clock
    cache.clear()


@pytest.fixture
def statements(app: Flask) -> Iterator[list[str]]:
    """Every SQL statement sent while the test runs."""
    sent: list[str] = []

    def record(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        sent.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    yield sent
    event.remove(engine, "before_cursor_execute", record)


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def count_on(html: str) -> str:
    return parse_html(html).find("div", class_="thermometer").find("strong").text


def visitor(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.mark.usefixtures("clock")
def test_a_hit_sends_no_query_and_gives_each_visitor_their_own_token(
        app: Flask, statements: list[str]) -> None:
    action = make_action()
    url = f"/actions/{action.slug}"
    first, second = visitor(app), visitor(app)
    page_one = first.get(url)
    statements.clear()
    page_two = second.get(url)
    assert page_one.status_code == page_two.status_code == 200
    assert statements == []
    one, two = page_one.get_data(as_text=True), page_two.get_data(as_text=True)
    assert csrf_of(one) != csrf_of(two)
    assert one.replace(csrf_of(one), "") == two.replace(csrf_of(two), "")
    assert "<!--visitor-fields" not in two

    # The token from a kept page is the visitor's own: their signature is taken.
    data = {**form_data(), "csrf_token": csrf_of(two)}
    assert second.post(url, data=data).status_code == 303
    assert first.post(url, data={**form_data(), "csrf_token": csrf_of(two)}).status_code == 400


def test_changes_show_once_the_entry_is_old_enough(app: Flask, clock: FakeClock) -> None:
    action = make_action()
    url = f"/actions/{action.slug}"
    client = visitor(app)
    assert count_on(client.get(url).get_data(as_text=True)) == "0"
    make_confirmed_signature(action)
    assert count_on(client.get(url).get_data(as_text=True)) == "0"
    assert client.get(f"/api/v1/actions/{action.slug}/count").json["signature_count"] == 1
    clock.now += TTL - 1
    assert count_on(client.get(url).get_data(as_text=True)) == "0"
    assert client.get(f"/api/v1/actions/{action.slug}/count").json["signature_count"] == 1
    make_confirmed_signature(action)
    clock.now += 1
    assert count_on(client.get(url).get_data(as_text=True)) == "2"
    assert client.get(f"/api/v1/actions/{action.slug}/count").json["signature_count"] == 2


@pytest.mark.usefixtures("clock")
def test_the_language_and_the_query_string_have_pages_of_their_own(app: Flask) -> None:
    action = make_action()
    url = f"/actions/{action.slug}"
    client = visitor(app)
    english = client.get(url, headers={"Accept-Language": "en"}).get_data(as_text=True)
    french = client.get(url, headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert 'lang="en"' in english and 'lang="fr"' in french
    tagged = client.get(f"{url}?source=newsletter").get_data(as_text=True)
    assert parse_html(tagged).find("form", method="post").get("action") == (
        f"{url}?source=newsletter")


@pytest.mark.usefixtures("clock")
def test_only_pages_that_exist_are_kept(app: Flask) -> None:
    client = visitor(app)
    assert client.get("/actions/not-yet").status_code == 404
    make_action(slug="not-yet")
    assert client.get("/actions/not-yet").status_code == 200


@pytest.mark.usefixtures("clock")
def test_a_form_with_errors_is_never_cached_and_keeps_the_input(app: Flask) -> None:
    action = make_action()
    url = f"/actions/{action.slug}"
    client = visitor(app)
    token = csrf_of(client.get(url).get_data(as_text=True))
    answer = client.post(url, data={**form_data(email="not an address", first_name="Mina"),
                                    "csrf_token": token})
    assert answer.status_code == 422
    assert 'value="Mina"' in answer.get_data(as_text=True)
    page = client.get(url).get_data(as_text=True)
    assert 'value="Mina"' not in page and "has-error" not in page


@pytest.mark.usefixtures("clock")
def test_bot_checks_are_fresh_for_every_visitor(app: Flask,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    bot_checks_on(app, monkeypatch, min_fill=0)
    action = make_action()
    action.proof_of_work = True
    db.session.commit()
    url = f"/actions/{action.slug}"

    def hidden(client: FlaskClient) -> dict[str, str]:
        page = parse_html(client.get(url).get_data(as_text=True))
        return {e.get("name") or "": e.get("value") or e.get("data-pow-challenge") or ""
                for e in page.find_all("input") if e.get("type") == "hidden"}

    one, two = visitor(app), visitor(app)
    first, second = hidden(one), hidden(two)
    assert first[botcheck.STAMP_FIELD] and second[botcheck.STAMP_FIELD]
    assert first[botcheck.POW_FIELD] != second[botcheck.POW_FIELD]  # a new puzzle each


@pytest.mark.usefixtures("clock")
def test_the_widget_is_kept_too(app: Flask, statements: list[str]) -> None:
    action = make_action()
    client = visitor(app)
    assert client.get(f"/actions/{action.slug}/embed").status_code == 200
    statements.clear()
    page = client.get(f"/actions/{action.slug}/embed")
    assert page.status_code == 200 and statements == []
    assert 'name="csrf_token"' not in page.get_data(as_text=True)


@pytest.mark.usefixtures("clock")
def test_the_count_keeps_its_etag(app: Flask) -> None:
    action: Action = make_action()
    client = visitor(app)
    first = client.get(f"/api/v1/actions/{action.slug}/count")
    assert first.headers["Access-Control-Allow-Origin"] == "*"
    again = client.get(f"/api/v1/actions/{action.slug}/count",
                       headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304


def test_the_cache_is_bounded() -> None:
    cache = page_cache.PageCache(max_entries=2)
    for name in ("a", "b", "c"):
        cache.put((name,), page_cache.Entry(10.0, [name], [], "text/html"))
    assert cache.get(("a",), 0.0) is None
    assert cache.get(("c",), 0.0) is not None
    assert cache.get(("c",), 10.0) is None  # expired

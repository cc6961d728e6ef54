"""Abuse of our mail: every form that makes us send an email (signing on the action
page or in the embeddable widget, joining the urgent-action network) is rate-limited
per IP address and per email address, and guarded by the bot checks; a bot-check
stamp is good once and for a limited time; a solved puzzle is good only for the
visitor it was given to."""

from __future__ import annotations

import json
import time

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from config import ConfigError, check_production
from petitions import botcheck
from petitions.extensions import db
from petitions.models import Action, OutboundEmail, Signature, Subscriber
from tests.factories import csrf_token, form_data, make_action, parse_html, post_form
from tests.functional.test_bot_checks import (
    hidden_fields,
    page_challenge,
    post,
    pow_action,
    shown_again,
)
from tests.functional.test_rate_limits import production
from tests.security_factories import bot_checks_on, limits_on

PERSON_DELAY = 10  # seconds between showing a form and sending it: a person's pace


@pytest.fixture
def checks(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    bot_checks_on(app, monkeypatch)
    monkeypatch.setitem(app.config, "POW_MAX_NUMBER", 2000)


def count(model: type) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


def join_fields(client: FlaskClient, **changes: str) -> dict[str, str]:
    """The network form as a person sends it, shown ``PERSON_DELAY`` seconds ago."""
    fields = hidden_fields(client, "/network")
    fields[botcheck.STAMP_FIELD] = botcheck.issue_stamp(time.time() - PERSON_DELAY)
    return {**fields, "email": "member@example.org", "scope": "all", **changes}


def solved(client: FlaskClient, url: str) -> str:
    """The solution of the puzzle on the page at ``url``, as the browser would send it."""
    field = parse_html(client.get(url).get_data(as_text=True)).find(
        "input", name=botcheck.POW_FIELD)
    assert field is not None
    spec = field.get("data-pow-challenge") or ""
    return botcheck.solve(botcheck.Challenge(**json.loads(spec)))


# --- the network form: the signing form's bot checks -------------------------------------


@pytest.mark.usefixtures("checks")
def test_the_network_form_carries_the_bot_checks(client: FlaskClient) -> None:
    page = parse_html(client.get("/network").get_data(as_text=True))
    assert page.find("input", name=botcheck.HONEYPOT_FIELD) is not None
    assert page.find("input", name=botcheck.STAMP_FIELD) is not None
    assert page.find("input", name=botcheck.POW_FIELD) is not None


def test_switched_off_the_network_form_has_no_bot_fields(client: FlaskClient) -> None:
    page = parse_html(client.get("/network").get_data(as_text=True))
    assert page.find("input", name=botcheck.STAMP_FIELD) is None
    assert page.find("input", name=botcheck.POW_FIELD) is None


@pytest.mark.usefixtures("checks")
def test_a_person_joins_the_network_with_the_puzzle_solved(client: FlaskClient) -> None:
    response = client.post("/network", data=join_fields(
        client, **{botcheck.POW_FIELD: solved(client, "/network")}))
    assert response.status_code == 303
    assert count(Subscriber) == 1 and count(OutboundEmail) == 1


@pytest.mark.usefixtures("checks")
@pytest.mark.parametrize("changes", [
    {botcheck.HONEYPOT_FIELD: "https://spam.example"},
    {botcheck.STAMP_FIELD: "MTc2NDE5MTIwMC4w.forged"},
    {botcheck.POW_FIELD: "not base64!"},
], ids=["honeypot", "forged-stamp", "forged-puzzle"])
def test_a_bot_joining_the_network_gets_the_same_answer_and_nothing_is_sent(
        client: FlaskClient, changes: dict[str, str]) -> None:
    response = client.post("/network", data=join_fields(client, **changes))
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/network/check-email")
    assert count(Subscriber) == 0 and count(OutboundEmail) == 0


@pytest.mark.usefixtures("checks")
def test_a_network_form_sent_too_fast_or_without_javascript_is_shown_again(
        client: FlaskClient) -> None:
    too_fast = join_fields(client, **{botcheck.POW_FIELD: solved(client, "/network")})
    too_fast[botcheck.STAMP_FIELD] = botcheck.issue_stamp()
    response = client.post("/network", data=too_fast)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "send the form again" in html and 'value="member@example.org"' in html
    response = client.post("/network", data=join_fields(client))  # no puzzle solved
    assert response.status_code == 422
    assert "protects this form against fake sign-ups" in response.get_data(as_text=True)
    assert count(Subscriber) == 0 and count(OutboundEmail) == 0


# --- the network form: rate limits per IP address and per email address ------------------


def test_joining_the_network_is_limited_per_ip_address(app: Flask, client: FlaskClient,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    limits_on(app, monkeypatch, NETWORK_RATE_LIMIT="2 per hour")
    for n in range(2):
        assert post_form(client, "/network", {"email": f"m{n}@example.org",
                                              "scope": "all"}).status_code == 303
    refused = post_form(client, "/network", {"email": "m9@example.org", "scope": "all"})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert count(Subscriber) == 2
    # Reading the page is not limited; another IP address has its own count.
    assert client.get("/network").status_code == 200
    assert post_form(client, "/network", {"email": "m9@example.org", "scope": "all"},
                     environ_base={"REMOTE_ADDR": "198.51.100.7"}).status_code == 303


def test_joining_the_network_is_limited_per_email_address(
        app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    limits_on(app, monkeypatch, NETWORK_EMAIL_RATE_LIMIT="2 per hour")

    def join(email: str, ip: str) -> int:
        return post_form(client, "/network", {"email": email, "scope": "all"},
                         environ_base={"REMOTE_ADDR": ip}).status_code

    assert join("victim@example.org", "192.0.2.1") == 303
    assert join("Victim@Example.org", "192.0.2.2") == 303
    assert join("victim@example.org", "192.0.2.3") == 429
    assert join("someone.else@example.org", "192.0.2.3") == 303


# --- the stamp: single-use, and it expires ------------------------------------------------


@pytest.mark.usefixtures("checks")
def test_a_stamp_is_good_once(client: FlaskClient) -> None:
    action = make_action()
    url = f"/actions/{action.slug}"
    fields = hidden_fields(client, url)
    fields[botcheck.STAMP_FIELD] = botcheck.issue_stamp(time.time() - PERSON_DELAY)
    assert client.post(url, data={**fields, **form_data()}).status_code == 303
    replayed = client.post(url, data={**fields, **form_data()})
    assert shown_again(replayed)
    assert count(Signature) == 1
    # The form shown again carries a fresh stamp of its own.
    again = parse_html(replayed.get_data(as_text=True)).find(
        "input", name=botcheck.STAMP_FIELD)
    assert again is not None and again.get("value") != fields[botcheck.STAMP_FIELD]


@pytest.mark.usefixtures("checks")
def test_a_network_stamp_is_good_once(client: FlaskClient) -> None:
    fields = join_fields(client, **{botcheck.POW_FIELD: solved(client, "/network")})
    assert client.post("/network", data=fields).status_code == 303
    fields[botcheck.POW_FIELD] = solved(client, "/network")
    fields["email"] = "another@example.org"
    assert client.post("/network", data=fields).status_code == 422
    assert count(Subscriber) == 1


@pytest.mark.usefixtures("checks")
def test_a_stamp_expires(app: Flask, client: FlaskClient) -> None:
    assert app.config["BOT_STAMP_MAX_AGE_SECONDS"] == 7200
    action = make_action()
    url = f"/actions/{action.slug}"
    fields = hidden_fields(client, url)
    fields[botcheck.STAMP_FIELD] = botcheck.issue_stamp(time.time() - 7200 - PERSON_DELAY)
    assert shown_again(client.post(url, data={**fields, **form_data()}))
    fields[botcheck.STAMP_FIELD] = botcheck.issue_stamp(time.time() - 7200 + 60)
    assert client.post(url, data={**fields, **form_data()}).status_code == 303
    assert count(Signature) == 1


# --- the puzzle: tied to the visitor it was given to --------------------------------------


@pytest.mark.usefixtures("checks")
def test_a_solved_puzzle_is_good_only_in_the_session_it_was_given_to(
        app: Flask, client: FlaskClient) -> None:
    action = pow_action()
    solution = botcheck.solve(page_challenge(client, action))
    other = app.test_client()
    assert shown_again(post(other, action, **{botcheck.POW_FIELD: solution}))
    assert count(Signature) == 0
    assert post(client, action, **{botcheck.POW_FIELD: solution}).status_code == 303
    assert count(Signature) == 1


@pytest.mark.usefixtures("checks")
def test_the_widget_without_a_session_ties_its_puzzle_to_the_ip_address(
        app: Flask) -> None:
    """Framed on another site, the widget gets no session cookie of ours: it signs
    without one, and its puzzle is tied to the visitor's IP address instead."""
    action = pow_action()
    url = f"/actions/{action.slug}/embed"

    def sign_from(ip: str, solution: str):  # type: ignore[no-untyped-def]
        framed = app.test_client(use_cookies=False)  # a third-party frame: no cookies
        fields = hidden_fields(framed, url)
        fields[botcheck.STAMP_FIELD] = botcheck.issue_stamp(time.time() - PERSON_DELAY)
        return framed.post(url, data={**fields, **form_data(),
                                      botcheck.POW_FIELD: solution},
                           environ_base={"REMOTE_ADDR": ip})

    solution = solved(app.test_client(use_cookies=False), url)  # shown to 127.0.0.1
    assert shown_again(sign_from("198.51.100.7", solution))
    assert count(Signature) == 0
    assert sign_from("127.0.0.1", solution).status_code == 303
    assert count(Signature) == 1


# --- the widget: usable from other sites, and counted by the same limits ------------------


def test_the_widget_and_the_page_share_the_limit_per_email_address(
        app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Counted by the vault worker that opens the sealed signature (the web tier
    computes no digest of a signer's address): beyond the limit, a signature is
    dropped silently, after the same answer as any other."""
    limits_on(app, monkeypatch, SIGN_EMAIL_RATE_LIMIT="2 per hour")
    first, second, third = make_action(), make_action(), make_action()
    widget = app.test_client(use_cookies=False)

    def sign(url: str, email: str, ip: str) -> int:
        data = form_data(email=email)
        if not url.endswith("/embed"):
            data["csrf_token"] = csrf_token(client, url)
        browser = widget if url.endswith("/embed") else client
        return browser.post(url, data=data, environ_base={"REMOTE_ADDR": ip}).status_code

    def signers(action: Action) -> list[str]:
        return sorted(db.session.scalars(select(Signature.email)
                                         .where(Signature.action_id == action.id)))

    assert sign(f"/actions/{first.slug}/embed", "victim@example.org", "192.0.2.1") == 303
    assert sign(f"/actions/{second.slug}", "victim@example.org", "192.0.2.2") == 303
    # A third form for that address, from yet another IP address, through the widget:
    # the same answer, and nothing stored.
    assert sign(f"/actions/{third.slug}/embed", "VICTIM@example.org", "192.0.2.3") == 303
    assert sign(f"/actions/{third.slug}", "victim@example.org", "192.0.2.4") == 303
    assert sign(f"/actions/{third.slug}/embed", "other@example.org", "192.0.2.3") == 303
    assert signers(first) == signers(second) == ["victim@example.org"]
    assert signers(third) == ["other@example.org"]
    assert count(Signature) == 3


def test_the_widget_counts_against_the_ip_address_limit_of_the_page(
        app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    limits_on(app, monkeypatch, SIGN_RATE_LIMIT="1 per hour")
    action = make_action()
    widget = app.test_client(use_cookies=False)
    assert widget.post(f"/actions/{action.slug}/embed", data=form_data()).status_code == 303
    assert post_form(client, f"/actions/{action.slug}", form_data()).status_code == 429
    assert widget.post(f"/actions/{action.slug}/embed", data=form_data()).status_code == 429
    assert count(Signature) == 1


def test_production_keeps_used_stamps_where_every_process_sees_them() -> None:
    """The used stamps and puzzles live in the rate-limit storage: per process
    (memory://), a replay sent to another worker would pass."""
    config = production(RATELIMIT_ENABLED=False, BOT_CHECKS_ENABLED=True,
                        RATELIMIT_STORAGE_URI="memory://")
    with pytest.raises(ConfigError, match="RATELIMIT_STORAGE_URI"):
        check_production(config)
    check_production({**config, "RATELIMIT_STORAGE_URI": "redis://redis:6379/1"})

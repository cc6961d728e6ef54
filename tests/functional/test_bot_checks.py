"""Bot checks on the signing form: a honeypot, a minimum fill time and, for actions under
attack, a proof of work. A suspected bot gets the answer a person gets and nothing is
stored; a person without JavaScript on a proof-of-work action is told what to do."""

from __future__ import annotations

import base64
import json
import logging
import time

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from petitions import botcheck
from petitions.extensions import db
from petitions.models import Action, AuditEntry, Signature
from tests.account_factories import (  # noqa: F401  - cheap_password_hashing: a fixture
    cheap_password_hashing,
    log_in,
    make_user,
)
from tests.factories import form_data, make_action, parse_html, post_form
from tests.functional.test_admin_console import action_form
from tests.security_factories import bot_checks_on


@pytest.fixture
def checks(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    bot_checks_on(app, monkeypatch)


def signatures() -> int:
    return db.session.scalar(select(func.count()).select_from(Signature)) or 0


def hidden_fields(client: FlaskClient, url: str) -> dict[str, str]:
    """The form's hidden inputs and the honeypot, as the page renders them."""
    page = parse_html(client.get(url).get_data(as_text=True))
    return {e.get("name") or "": e.get("value") or "" for e in page.find_all("input")
            if e.get("type") == "hidden" or e.get("name") == botcheck.HONEYPOT_FIELD}


def post(client: FlaskClient, action: Action, **changes: str):  # type: ignore[no-untyped-def]
    """A person's submission (shown 10 seconds ago), with ``changes`` to the fields."""
    url = f"/actions/{action.slug}"
    fields = hidden_fields(client, url)
    fields[botcheck.STAMP_FIELD] = botcheck.issue_stamp(time.time() - 10)
    return client.post(url, data={**fields, **form_data(), **changes})


@pytest.mark.usefixtures("checks")
def test_a_person_signs(client: FlaskClient) -> None:
    action = make_action()
    assert post(client, action).status_code == 303
    assert signatures() == 1


@pytest.mark.usefixtures("checks")
@pytest.mark.parametrize("changes", [
    {botcheck.HONEYPOT_FIELD: "https://spam.example"},
    {botcheck.STAMP_FIELD: "MTc2NDE5MTIwMC4w.forged"},
    {botcheck.STAMP_FIELD: ""},
], ids=["honeypot", "forged-stamp", "missing-stamp"])
def test_a_bot_gets_the_same_answer_and_nothing_is_stored(
        client: FlaskClient, changes: dict[str, str], caplog: pytest.LogCaptureFixture) -> None:
    action = make_action()
    caplog.set_level(logging.INFO, logger="petitions")
    response = post(client, action, email="bot@spam.example", **changes)
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/actions/{action.slug}/check-email")
    assert signatures() == 0
    assert "taken for a bot" in caplog.text
    assert "bot@spam.example" not in caplog.text


SEND_AGAIN = "please check them and send the form again"


def shown_again(response) -> bool:  # type: ignore[no-untyped-def]
    """Whether ``response`` is the form again, with the reason and the input kept."""
    html = response.get_data(as_text=True)
    return (response.status_code == 422 and SEND_AGAIN in html
            and 'value="Leila"' in html)


@pytest.mark.usefixtures("checks")
def test_a_form_sent_faster_than_a_person_types_is_shown_again(client: FlaskClient) -> None:
    """Autofill and a quick click can beat the minimum fill time: not silently dropped."""
    action = make_action()
    url = f"/actions/{action.slug}"
    response = client.post(url, data={**hidden_fields(client, url), **form_data()})
    assert shown_again(response)
    assert signatures() == 0


@pytest.mark.usefixtures("checks")
def test_the_honeypot_is_hidden_from_people(client: FlaskClient) -> None:
    action = make_action()
    page = parse_html(client.get(f"/actions/{action.slug}").get_data(as_text=True))
    honeypot = page.find("input", name=botcheck.HONEYPOT_FIELD)
    assert honeypot is not None and honeypot.get("tabindex") == "-1"
    assert honeypot.get("autocomplete") == "off"
    wrapper = page.find("div", class_="hp-field")
    assert wrapper is not None and wrapper.get("aria-hidden") == "true"
    assert wrapper.find("label", for_=botcheck.HONEYPOT_FIELD) is not None
    # No proof of work unless the action asks for it.
    assert page.find("input", name=botcheck.POW_FIELD) is None


def test_switched_off_the_form_has_no_bot_fields(client: FlaskClient) -> None:
    action = make_action()
    page = parse_html(client.get(f"/actions/{action.slug}").get_data(as_text=True))
    assert page.find("input", name=botcheck.STAMP_FIELD) is None
    assert page.find("input", name=botcheck.HONEYPOT_FIELD) is None


def pow_action() -> Action:
    action = make_action()
    action.proof_of_work = True
    db.session.commit()
    return action


def page_challenge(client: FlaskClient, action: Action) -> botcheck.Challenge:
    page = parse_html(client.get(f"/actions/{action.slug}").get_data(as_text=True))
    field = page.find("input", name=botcheck.POW_FIELD)
    assert field is not None
    spec = json.loads(field.get("data-pow-challenge") or "")
    return botcheck.Challenge(**spec)


@pytest.mark.usefixtures("checks")
def test_proof_of_work_solved_by_the_browser_signs(app: Flask, client: FlaskClient,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.config, "POW_MAX_NUMBER", 2000)
    action = pow_action()
    html = client.get(f"/actions/{action.slug}").get_data(as_text=True)
    assert "js/pow.js" in html
    solution = botcheck.solve(page_challenge(client, action))
    assert post(client, action, **{botcheck.POW_FIELD: solution}).status_code == 303
    assert signatures() == 1
    # One solved puzzle, one signature: replaying it stores nothing.
    assert shown_again(post(client, action, email="other@example.org",
                            **{botcheck.POW_FIELD: solution}))
    assert signatures() == 1


@pytest.mark.usefixtures("checks")
def test_without_javascript_the_signer_is_told_to_turn_it_on(client: FlaskClient) -> None:
    action = pow_action()
    response = post(client, action, first_name="Kept")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Please turn JavaScript on" in html
    assert 'value="Kept"' in html
    assert signatures() == 0


@pytest.mark.usefixtures("checks")
def test_a_wrong_proof_of_work_is_dropped(app: Flask, client: FlaskClient,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.config, "POW_MAX_NUMBER", 2000)
    action, other = pow_action(), pow_action()
    wrong_number = json.loads(base64.b64decode(
        botcheck.solve(page_challenge(client, action))))
    wrong_number["number"] += 1
    forged = base64.b64encode(json.dumps(wrong_number).encode()).decode()
    for solution in (forged, botcheck.solve(page_challenge(client, other)), "not base64!"):
        assert post(client, action, **{botcheck.POW_FIELD: solution}).status_code == 303
    assert signatures() == 0


def test_a_proof_of_work_expires(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.config, "POW_MAX_NUMBER", 500)
    action = pow_action()
    issued = time.time()
    solution = botcheck.solve(botcheck.issue_challenge(action, now=issued))
    assert botcheck.verify_solution(solution, action, now=issued + 60)
    assert not botcheck.verify_solution(solution, action,
                                        now=issued + botcheck.POW_LIFETIME_SECONDS + 1)


@pytest.mark.usefixtures("cheap_password_hashing")
def test_an_admin_switches_proof_of_work_on_and_it_is_audited(client: FlaskClient) -> None:
    admin = make_user("admin")
    log_in(client, admin)
    action = make_action(slug="under-attack")
    url = f"/admin/actions/{action.slug}/edit"
    assert parse_html(client.get(url).get_data(as_text=True)).find(
        "input", name="proof_of_work") is not None
    response = post_form(client, url, action_form(slug=action.slug, proof_of_work="y"))
    assert response.status_code == 303
    changed = db.session.scalars(select(AuditEntry).where(
        AuditEntry.verb == "action.update")).one()
    assert changed.before is not None and changed.before["proof_of_work"] is False
    assert changed.after is not None and changed.after["proof_of_work"] is True
    db.session.expire_all()
    assert db.session.get(Action, action.id).proof_of_work is True  # type: ignore[union-attr]
    # The new-action form has the same switch (issue 15: the same options as editing).
    assert parse_html(client.get("/admin/actions/new").get_data(as_text=True)).find(
        "input", name="proof_of_work") is not None


# A fast human: the time counts from the first interaction, and is never a silent drop.

def fast_post(client: FlaskClient, action: Action, shown_ago: float = 0.5,
              **changes: str):  # type: ignore[no-untyped-def]
    """A submission whose form was shown ``shown_ago`` seconds ago (less than the
    minimum fill time of 3 s unless told otherwise)."""
    url = f"/actions/{action.slug}"
    fields = hidden_fields(client, url)
    fields[botcheck.STAMP_FIELD] = botcheck.issue_stamp(time.time() - shown_ago)
    return client.post(url, data={**fields, **form_data(), **changes})


@pytest.mark.usefixtures("checks")
def test_the_form_asks_the_browser_for_the_time_spent_on_it(client: FlaskClient) -> None:
    page = parse_html(client.get(f"/actions/{pow_action().slug}").get_data(as_text=True))
    field = page.find("input", name=botcheck.ACTIVE_FIELD)
    assert field is not None and field.get("type") == "hidden"
    assert field.get("value") == "0"


@pytest.mark.usefixtures("checks")
def test_a_busy_person_with_the_puzzle_solved_signs_before_the_minimum_time(
        app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Typed fast (1.5 s of interaction), the stamp younger than BOT_MIN_FILL_SECONDS:
    the solved proof of work pays for it, the signature is taken."""
    monkeypatch.setitem(app.config, "POW_MAX_NUMBER", 2000)
    action = pow_action()
    solution = botcheck.solve(page_challenge(client, action))
    response = fast_post(client, action, shown_ago=1.5, **{botcheck.POW_FIELD: solution,
                                                           botcheck.ACTIVE_FIELD: "1500"})
    assert response.status_code == 303
    assert signatures() == 1


@pytest.mark.usefixtures("checks")
@pytest.mark.parametrize("claim", ["", "200", "999", "-5000", "1e9",
                                   "\uff11\uff15\uff10\uff10", "x" * 40])
def test_a_fast_form_without_a_plausible_interaction_is_shown_again(
        app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch, claim: str) -> None:
    """Autofilled and sent at once (or a claim that is no number of ms): the form again,
    input kept, never a drop; the puzzle alone does not make a form typed."""
    monkeypatch.setitem(app.config, "POW_MAX_NUMBER", 2000)
    action = pow_action()
    solution = botcheck.solve(page_challenge(client, action))
    assert shown_again(fast_post(client, action, **{botcheck.POW_FIELD: solution,
                                                    botcheck.ACTIVE_FIELD: claim}))
    assert signatures() == 0


@pytest.mark.usefixtures("checks")
def test_the_browser_claim_alone_never_lets_a_fast_form_through(client: FlaskClient) -> None:
    """Without a proof of work the claimed time is nothing but a claim: shown again."""
    action = make_action()
    assert shown_again(fast_post(client, action, **{botcheck.ACTIVE_FIELD: "60000"}))
    assert signatures() == 0


@pytest.mark.usefixtures("checks")
def test_a_page_left_open_and_filled_in_a_second_signs(client: FlaskClient) -> None:
    """Opened an hour ago, pasted and sent in a second (no interaction time sent, no
    script): the stamp's age is what counts."""
    action = make_action()
    response = fast_post(client, action, shown_ago=3600, **{botcheck.ACTIVE_FIELD: "0"})
    assert response.status_code == 303
    assert signatures() == 1


@pytest.mark.usefixtures("checks")
def test_the_form_shown_again_counts_from_when_it_was_first_shown(
        app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Sent too fast, the form comes back with a stamp of the first showing (a new id):
    sent again once the minimum time has passed since then, it is accepted."""
    action = make_action()
    first = botcheck.issue_stamp(time.time() - 1)
    url = f"/actions/{action.slug}"
    fields = {**hidden_fields(client, url), **form_data(), botcheck.STAMP_FIELD: first}
    response = client.post(url, data=fields)
    assert shown_again(response)
    page = parse_html(response.get_data(as_text=True))
    stamp_field = page.find("input", name=botcheck.STAMP_FIELD)
    assert stamp_field is not None
    again = stamp_field.get("value") or ""
    assert again and again != first
    # Half a second later, the minimum time (here 0.5 s) has passed since the first
    # showing though not since the second: a fresh stamp would be refused.
    monkeypatch.setitem(app.config, "BOT_MIN_FILL_SECONDS", 0.5)
    response = client.post(url, data={**fields, botcheck.STAMP_FIELD: again})
    assert response.status_code == 303
    assert signatures() == 1

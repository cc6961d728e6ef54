"""A person who types fast is never silently dropped (petitions/botcheck.py): with bot
checks on and the real minimum fill time of 3 seconds, a form typed and sent 1.5
seconds after the page loaded is taken when the browser solved the proof of work and
counted the time from the first interaction; without a proof of work it is shown
again with the input kept, and taken when sent again."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from flask import Flask

from petitions.extensions import db
from tests.e2e.conftest import PHONE, screenshot
from tests.factories import deliver_pending_mail, make_action
from tests.security_factories import bot_checks_on

pytestmark = pytest.mark.e2e

SENT_AFTER = 1.5  # seconds after the page loaded: faster than BOT_MIN_FILL_SECONDS


def type_fast(page: Any, email: str) -> None:
    page.get_by_label("First name", exact=True).fill("Leila")
    page.get_by_label("Last name", exact=True).fill("Karimi")
    page.get_by_label("Email", exact=True).type(email, delay=5)
    page.get_by_label("Country", exact=True).select_option("IR")


def press_sign_at(page: Any, loaded: float, seconds: float) -> None:
    """Press Sign ``seconds`` after ``loaded`` (a time.monotonic())."""
    page.wait_for_timeout(max(0, (loaded + seconds - time.monotonic()) * 1000))
    page.get_by_role("button", name="Sign", exact=True).click()


def the_confirmation_is_sent(page: Any, mailbox: Any, email: str) -> None:
    page.wait_for_url(re.compile(r"/check-email$"))
    assert deliver_pending_mail() == 1
    [message] = mailbox.wait_for(1)
    assert email in str(message["To"])


def test_a_fast_typist_signs_an_action_with_proof_of_work(
        new_page, live_server, mailbox, app: Flask, monkeypatch: pytest.MonkeyPatch):
    bot_checks_on(app, monkeypatch)  # BOT_MIN_FILL_SECONDS = 3
    monkeypatch.setitem(app.config, "POW_MAX_NUMBER", 2000)
    action = make_action(title="Free the imprisoned journalists")
    action.proof_of_work = True
    db.session.commit()
    page = new_page(PHONE)
    page.goto(f"{live_server}/actions/{action.slug}")
    loaded = time.monotonic()
    type_fast(page, "quick@example.org")
    press_sign_at(page, loaded, SENT_AFTER)
    the_confirmation_is_sent(page, mailbox, "quick@example.org")


def test_a_fast_typist_without_proof_of_work_is_asked_again_and_signs(
        new_page, live_server, mailbox, app: Flask, monkeypatch: pytest.MonkeyPatch):
    bot_checks_on(app, monkeypatch)
    action = make_action(title="Free the imprisoned journalists")
    page = new_page(PHONE)
    page.goto(f"{live_server}/actions/{action.slug}")
    loaded = time.monotonic()
    type_fast(page, "quick@example.org")
    press_sign_at(page, loaded, SENT_AFTER)
    # Not dropped: the form again, the reason said, the input kept.
    alert = page.get_by_text("please check them and send the form again")
    alert.wait_for()
    # On a phone the form is far down: the message takes focus and comes into view.
    page.wait_for_function("() => document.activeElement"
                           " && document.activeElement.matches('.error-summary')")
    assert alert.evaluate("el => { const box = el.getBoundingClientRect();"
                          " return box.top >= 0 && box.bottom <= innerHeight; }")
    assert page.get_by_label("Email", exact=True).input_value() == "quick@example.org"
    screenshot(page, "en-fast-human-asked-again")
    assert deliver_pending_mail() == 0
    # Sent again once 3 seconds have passed since the form was first shown.
    press_sign_at(page, loaded, app.config["BOT_MIN_FILL_SECONDS"] + 0.5)
    the_confirmation_is_sent(page, mailbox, "quick@example.org")

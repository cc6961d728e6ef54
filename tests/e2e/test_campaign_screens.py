"""Screenshots of what issue 15 asks to see, in English, Persian and Arabic at a phone's
and a desktop's width, bot checks on: the action page (with the letter opened), the
widget, the thank-you page, the organizer console's action page and the delivery
letter (its first page drawn by pdftoppm, when installed). Each page is checked with
axe-core and for sideways scrolling; the progress bar must show a fill at 3 of 10,000."""

from __future__ import annotations

import shutil
import subprocess
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask

from petitions.extensions import db
from petitions.models import Action, utcnow
from petitions.services.delivery_package import Addressee, build_pdf
from tests.conftest import service_missing
from tests.e2e.conftest import SCREENSHOTS, axe_violations, fits_the_width, screenshot
from tests.e2e.test_layout import DESKTOP_1280, PHONE_390, campaign_action
from tests.factories import make_confirmed_signature
from tests.organizer_factories import PASSWORD, make_user
from tests.security_factories import bot_checks_on

pytestmark = pytest.mark.e2e

LANGUAGES = ["en", "fa", "ar"]
SIGNERS = [("Shirin", "IR"), ("Amal", "EG"), ("Lucie", "FR")]


def _check(page: Any, name: str) -> None:
    assert fits_the_width(page), f"{name} scrolls sideways"
    assert axe_violations(page) == [], name
    screenshot(page, name)


def _log_in(page: Any, live_server: str, email: str) -> None:
    page.goto(f"{live_server}/login")
    page.locator("input[name=email]").fill(email)  # the page is in the language chosen
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("form button[type=submit]").click()
    page.wait_for_url(f"{live_server}/console/**")


@pytest.mark.parametrize("viewport", [PHONE_390, DESKTOP_1280], ids=["390px", "1280px"])
@pytest.mark.parametrize("lang", LANGUAGES)
def test_campaign_screens(new_page, live_server, app: Flask, monkeypatch: pytest.MonkeyPatch,
                          lang, viewport):
    bot_checks_on(app, monkeypatch, min_fill=0)
    action = campaign_action()
    action.deadline = utcnow().date() + timedelta(days=12)
    db.session.commit()
    for first_name, country in SIGNERS:
        make_confirmed_signature(action, first_name=first_name, country=country,
                                 show_publicly=True)
    organizer = make_user("organizer", actions=[action])
    page = new_page(viewport)
    slug = action.slug

    page.goto(f"{live_server}/actions/{slug}?lang={lang}")
    bar = page.locator(".progress").bounding_box()
    fill = page.locator(".progress-fill").bounding_box()
    assert fill is not None and fill["width"] >= bar["width"] * 0.019, (fill, bar)
    page.locator(".letter summary").click()
    _check(page, f"{lang}-campaign-action")
    page.locator(".letter").screenshot(
        path=str(SCREENSHOTS / f"{lang}-campaign-letter-preview-{viewport['width']}px.png"))

    page.goto(f"{live_server}/actions/{slug}/embed?lang={lang}")
    _check(page, f"{lang}-campaign-widget")

    page.goto(f"{live_server}/actions/{slug}/thank-you?lang={lang}")
    assert page.locator(".share a svg").count() == 5
    _check(page, f"{lang}-campaign-thank-you")

    _log_in(page, live_server, organizer.email)
    page.goto(f"{live_server}/console/actions/{slug}?lang={lang}")
    _check(page, f"{lang}-campaign-console")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_delivery_letter_drawn(app: Flask, lang):
    """The letter's first page as a PNG, in the language of an action written in it."""
    pdftoppm = shutil.which("pdftoppm")
    if pdftoppm is None:
        service_missing("pdftoppm", "pdftoppm is missing (apt-get install poppler-utils)")
    source = campaign_action()
    texts = source.translations.get(lang) or {
        "title": source.title, "body": source.body, "demands": source.demands}
    action = Action(slug=source.slug, title=texts["title"], body=texts["body"],
                    demands=texts["demands"], language=lang)
    pdf = build_pdf(action, Addressee("António Guterres", "Secretary-General",
                                      "United Nations"),
                    confirmed=1, paper=0, by_country={"IR": 1}, compiled_on=utcnow().date(),
                    rows=[], locale=lang)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    source_pdf = SCREENSHOTS / f"{lang}-delivery-letter.pdf"
    source_pdf.write_bytes(pdf)
    subprocess.run([pdftoppm, "-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile",
                    str(source_pdf), str(SCREENSHOTS / f"{lang}-delivery-letter")],
                   check=True, timeout=60)
    assert (SCREENSHOTS / f"{lang}-delivery-letter.png").stat().st_size > 10_000
    source_pdf.unlink()


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_dark_scheme_keeps_its_contrast(new_page, live_server, app: Flask,
                                            monkeypatch: pytest.MonkeyPatch, lang):
    bot_checks_on(app, monkeypatch, min_fill=0)
    action = campaign_action()
    make_confirmed_signature(action, first_name="Shirin", country="IR", show_publicly=True)
    page = new_page(PHONE_390, color_scheme="dark")
    for name, path in (("action", f"/actions/{action.slug}"),
                       ("thank-you", f"/actions/{action.slug}/thank-you")):
        page.goto(f"{live_server}{path}?lang={lang}")
        assert page.evaluate("() => getComputedStyle(document.body).backgroundColor") \
            == "rgb(18, 18, 18)"
        _check(page, f"{lang}-campaign-dark-{name}")

"""The public pages as production serves them (bot checks on), in every language, at a
phone's and a desktop's width: nothing scrolls sideways. Right-to-left pages used to
open on blank space: the honeypot field, pushed 10,000 px to the left, made them
11,000 px wide."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from petitions.extensions import db
from petitions.i18n import LANGUAGES
from tests.e2e.conftest import axe_violations, screenshot
from tests.factories import age_signature, confirmation_token, make_action, make_signature
from tests.security_factories import bot_checks_on, limits_on

pytestmark = pytest.mark.e2e

PHONE_390 = {"width": 390, "height": 844}
DESKTOP_1280 = {"width": 1280, "height": 900}
# The pages the screenshots of issue 15 show, in the languages that show the most; they
# are checked with axe-core too.
SCREENSHOT_PAGES = {"action", "widget", "thank-you"}
SCREENSHOT_LANGUAGES = {"en", "fa", "ar"}


def campaign_action() -> Any:
    """An action with its texts in Persian and Arabic too, protected by a proof of work
    (the most the signing form ever shows)."""
    action = make_action(
        title="Free the imprisoned journalists", goal=10_000,
        summary="Two journalists are held without charge.",
        body="Two journalists have been held **without charge** since March.\n\n"
             "Their families have not been allowed to see them.",
        demands=["Release them now.", "Let their families visit them."])
    action.proof_of_work = True
    action.translations = {
        "fa": {"title": "آزادی برای روزنامه‌نگاران زندانی",
               "summary": "دو روزنامه‌نگار بدون اتهام در بازداشت‌اند.",
               "body": "دو روزنامه‌نگار از اسفند **بدون اتهام** در بازداشت‌اند.",
               "demands": "آنان را بی‌درنگ آزاد کنید.\nبه خانواده‌هایشان اجازهٔ ملاقات بدهید."},  # noqa: RUF001
        "ar": {"title": "الحرية للصحفيين المعتقلين",
               "summary": "صحفيان محتجزان دون تهمة.",
               "body": "صحفيان محتجزان **دون تهمة** منذ مارس.",
               "demands": "أطلقوا سراحهما الآن.\nاسمحوا لعائلتيهما بزيارتهما."},  # noqa: RUF001
    }
    db.session.commit()
    return action


def public_pages(action: Any) -> dict[str, str]:
    """Every public page a supporter can reach, by name: path."""
    pending = make_signature(action)
    confirm_path = f"/confirm/{confirmation_token(pending)}"
    confirmed = make_signature(action)
    already_confirmed_token = confirmation_token(confirmed)
    from petitions.services import confirming

    confirming.confirm(already_confirmed_token)
    expired = make_signature(action)
    expired_token = confirmation_token(expired)
    age_signature(expired, hours=24 * 30)
    slug = action.slug
    return {
        "index": "/",
        "action": f"/actions/{slug}",
        "widget": f"/actions/{slug}/embed",
        "widget-signed": f"/actions/{slug}/embed?signed=1",
        "check-email": f"/actions/{slug}/check-email",
        "thank-you": f"/actions/{slug}/thank-you",
        "confirm": confirm_path,
        "already-confirmed": f"/confirm/{already_confirmed_token}",
        "link-expired": f"/confirm/{expired_token}",
        "link-invalid": "/confirm/not-a-token",
        "network": "/network",
        "network-check-email": "/network/check-email",
        "privacy": "/privacy",
        "not-found": "/actions/no-such-action",
        "unsubscribe-invalid": "/unsubscribe/not-a-token",
    }


def scroll_width(page: Any) -> int:
    return page.evaluate("() => document.documentElement.scrollWidth")


@pytest.mark.parametrize("viewport", [PHONE_390, DESKTOP_1280], ids=["390px", "1280px"])
@pytest.mark.parametrize("lang", list(LANGUAGES))
def test_no_public_page_scrolls_sideways(new_page, live_server, app: Flask,
                                         monkeypatch: pytest.MonkeyPatch, lang, viewport):
    # As production: honeypot, form stamp and proof of work on every signing form. No
    # minimum fill time, so that a form sent at once shows its errors, not a bot's answer.
    bot_checks_on(app, monkeypatch, min_fill=0)
    action = campaign_action()
    page = new_page(viewport)
    width = page.evaluate("() => window.innerWidth")
    assert width == viewport["width"]
    wide = {}
    for name, path in public_pages(action).items():
        page.goto(f"{live_server}{path}{'&' if '?' in path else '?'}lang={lang}")
        assert page.locator("html").get_attribute("lang") == lang, name
        if scroll_width(page) != width:
            wide[name] = scroll_width(page)
        if name in SCREENSHOT_PAGES and lang in SCREENSHOT_LANGUAGES:
            screenshot(page, f"{lang}-{name}-bot-checks")
            # The honeypot and the proof of work's status are part of these pages too.
            assert axe_violations(page) == [], name

    # The action page showing a failed submission's errors.
    page.goto(f"{live_server}/actions/{action.slug}?lang={lang}")
    page.wait_for_function("() => document.querySelector('[name=pow_solution]').value")
    page.locator(".sign button[type=submit]").click()
    page.wait_for_selector(".error-summary")
    if scroll_width(page) != width:
        wide["action-errors"] = scroll_width(page)

    # The page of too many requests: the network form sent twice, with a limit of one.
    limits_on(app, monkeypatch, NETWORK_RATE_LIMIT="1 per hour")
    monkeypatch.setitem(app.config, "NETWORK_PROOF_OF_WORK", False)
    page.goto(f"{live_server}/network?lang={lang}")
    statuses = []
    for _ in range(2):
        with page.expect_navigation() as sent:
            page.locator("form[action$='/network'] button[type=submit]").click()
        statuses.append(sent.value.status)
    assert statuses[1] == 429, statuses
    assert page.locator("html").get_attribute("lang") == lang
    if lang in SCREENSHOT_LANGUAGES:
        screenshot(page, f"{lang}-too-many-requests")
    if scroll_width(page) != width:
        wide["too-many-requests"] = scroll_width(page)
    assert wide == {}, f"pages wider than {width} px in {lang}: {wide}"


IN_VIEW = """el => { const box = el.getBoundingClientRect();
    return box.top >= 0 && box.bottom <= innerHeight
        && box.left >= 0 && box.right <= innerWidth; }"""


@pytest.mark.parametrize("lang", ["en", "fa"])
def test_on_a_phone_the_way_to_sign_is_on_the_first_screen(new_page, live_server,
                                                          app: Flask,
                                                          monkeypatch: pytest.MonkeyPatch, lang):
    bot_checks_on(app, monkeypatch)
    action = campaign_action()
    page = new_page(PHONE_390)
    page.goto(f"{live_server}/actions/{action.slug}?lang={lang}")
    link = page.locator("a[href='#sign']")
    assert link.evaluate(IN_VIEW)
    link.click()
    assert page.locator("#first_name").evaluate(IN_VIEW)


@pytest.mark.parametrize(("lang", "viewport"), [("en", PHONE_390), ("fa", PHONE_390),
                                                ("ar", DESKTOP_1280)])
def test_after_a_failed_submission_the_error_summary_has_focus(new_page, live_server,
                                                               app: Flask,
                                                               monkeypatch: pytest.MonkeyPatch,
                                                               lang, viewport):
    bot_checks_on(app, monkeypatch, min_fill=0)
    action = campaign_action()
    page = new_page(viewport)
    page.goto(f"{live_server}/actions/{action.slug}?lang={lang}")
    page.wait_for_function("() => document.querySelector('[name=pow_solution]').value")
    page.fill("#first_name", "Leila")
    page.locator(".sign button[type=submit]").click()
    page.wait_for_function(
        "() => document.activeElement && document.activeElement.matches('.error-summary')")
    assert page.locator(".error-summary").evaluate(IN_VIEW)
    assert page.locator("#first_name").input_value() == "Leila"

"""A supporter in a real browser: signs in English and in Persian, confirms from the
email, sees the count rise; signs in the widget framed by another site; and every
page passes axe-core's WCAG 2.2 AA checks at phone and desktop width."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from petitions.extensions import db
from tests.conftest import confirmation_link
from tests.e2e.conftest import DESKTOP, PHONE, axe_violations, fits_the_width, screenshot
from tests.factories import deliver_pending_mail, make_action

pytestmark = pytest.mark.e2e

PERSIAN_TITLE = "آزادی برای روزنامه‌نگاران زندانی"


def _action() -> Any:
    action = make_action(
        title="Free the imprisoned journalists", goal=10,
        summary="Two journalists are held without charge.",
        body="Two journalists have been held **without charge** since March.\n\n"
             "Their families have not been allowed to see them.")
    action.translations = {"fa": {
        "title": PERSIAN_TITLE, "summary": "دو روزنامه‌نگار بدون اتهام در بازداشت‌اند.",
        "body": "دو روزنامه‌نگار از اسفند **بدون اتهام** در بازداشت‌اند.",
        "demands": "آنان را بی‌درنگ آزاد کنید.\nبه خانواده‌هایشان اجازهٔ ملاقات بدهید.",  # noqa: RUF001
    }}
    db.session.commit()
    return action


def _check(page: Any, name: str) -> None:
    """The page has no serious accessibility violation, fits the viewport, and is
    saved as a screenshot."""
    assert axe_violations(page) == [], name
    assert fits_the_width(page), f"{name} scrolls sideways"
    screenshot(page, name)


def _count(page: Any) -> str:
    return page.locator(".thermometer .count strong").inner_text()


def _sign(page: Any, email: str, first_name: str = "Leila") -> None:
    page.fill("#first_name", first_name)
    page.fill("#last_name", "Karimi")
    page.fill("#email", email)
    page.select_option("#country", "IR")
    page.check("#show_publicly")


def _confirm_from_email(page: Any, mailbox: Any, live_server: str, email: str) -> None:
    assert deliver_pending_mail() == 1
    [message] = mailbox.wait_for(1)
    assert email in str(message["To"])
    link = confirmation_link(message).replace("http://petitions.test", live_server)
    page.goto(link)
    page.locator("form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/thank-you$"))


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_a_supporter_signs_in_english_and_confirms(new_page, live_server, mailbox, viewport):
    action = _action()
    page = new_page(viewport)
    page.goto(f"{live_server}/actions/{action.slug}")
    assert page.locator("html").get_attribute("dir") == "ltr"
    assert _count(page) == "0"
    _check(page, "en-action")

    page.get_by_label("First name", exact=True).fill("Leila")
    page.get_by_label("Last name", exact=True).fill("Karimi")
    page.get_by_label("Email", exact=True).fill("leila@example.org")
    page.get_by_label("Country", exact=True).select_option("IR")
    page.get_by_label("Show my first name and country among the recent signers.").check()
    page.get_by_role("button", name="Sign", exact=True).click()
    page.wait_for_url(re.compile(r"/check-email$"))
    assert page.get_by_role("heading", level=1).inner_text() == "Check your email"
    _check(page, "en-check-email")

    _confirm_from_email(page, mailbox, live_server, "leila@example.org")
    assert _count(page) == "1"
    _check(page, "en-thank-you")

    page.goto(f"{live_server}/actions/{action.slug}")
    assert _count(page) == "1"
    [signer] = page.locator(".recent-signers li").all_inner_texts()
    assert re.fullmatch(r"Leila, Iran \d+ seconds? ago|Leila, Iran \d+ minutes? ago", signer)


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_a_supporter_signs_in_persian_right_to_left(new_page, live_server, mailbox, viewport):
    action = _action()
    page = new_page(viewport)
    page.goto(f"{live_server}/actions/{action.slug}?lang=fa")
    html = page.locator("html")
    assert (html.get_attribute("lang"), html.get_attribute("dir")) == ("fa", "rtl")
    title = page.get_by_role("heading", level=1)
    assert title.inner_text() == PERSIAN_TITLE
    # Mirrored: the title starts at the right edge of the content, not the left.
    box, width = title.bounding_box(), page.viewport_size["width"]
    assert box["x"] + box["width"] > width / 2 + box["width"] / 2 - 1
    assert page.evaluate("getComputedStyle(document.querySelector('h1')).direction") == "rtl"
    _check(page, "fa-action")

    _sign(page, "shirin@example.org", first_name="شیرین")
    page.locator(".sign button[type=submit]").click()
    page.wait_for_url(re.compile(r"/check-email$"))
    assert page.locator("html").get_attribute("dir") == "rtl"  # the cookie keeps Persian
    _check(page, "fa-check-email")

    assert deliver_pending_mail() == 1
    [message] = mailbox.wait_for(1)
    assert re.search(r"[\u0600-\u06FF]", str(message["Subject"])), message["Subject"]
    page.goto(confirmation_link(message).replace("http://petitions.test", live_server))
    _check(page, "fa-confirm")
    page.locator("form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/thank-you$"))
    assert _count(page) == "\u06f1"  # one, in Persian digits
    _check(page, "fa-thank-you")


def test_the_widget_signs_from_inside_a_frame_on_another_site(new_page, live_server, mailbox,
                                                              other_site):
    action = _action()
    embed_url = f"{live_server}/actions/{action.slug}/embed"
    other_site.pages["/campaign.html"] = (
        f'<!doctype html><html lang="en"><head><title>Our campaign</title></head>'
        f'<body><main><h1>Our campaign</h1><iframe src="{embed_url}" '
        f'title="Sign the petition" width="420" height="760"></iframe></main></body></html>')
    page = new_page(DESKTOP)
    page.goto(f"{other_site.url}/campaign.html")
    frame = page.frame_locator("iframe")
    assert frame.locator(".thermometer .count strong").inner_text() == "0"
    screenshot(page, "widget-in-a-frame")

    frame.get_by_label("First name", exact=True).fill("Sam")
    frame.get_by_label("Last name", exact=True).fill("Okafor")
    frame.get_by_label("Email", exact=True).fill("sam@example.org")
    frame.get_by_label("Country", exact=True).select_option("NG")
    frame.get_by_role("button", name="Sign", exact=True).click()
    assert "check your email" in frame.get_by_role("status").inner_text()

    confirm_page = new_page(DESKTOP)
    _confirm_from_email(confirm_page, mailbox, live_server, "sam@example.org")
    page.reload()
    assert page.frame_locator("iframe").locator(".thermometer .count strong").inner_text() == "1"
    # Other sites may also read the count alone.
    count = page.evaluate("url => fetch(url).then(r => r.json())",
                          f"{live_server}/api/v1/actions/{action.slug}/count")
    assert count["signature_count"] == 1

    widget = new_page(PHONE)
    widget.goto(embed_url)
    _check(widget, "widget")


def test_the_page_works_with_the_keyboard_and_without_javascript(new_page, live_server,
                                                                 mailbox):
    action = _action()
    page = new_page(PHONE, java_script_enabled=False)
    page.goto(f"{live_server}/actions/{action.slug}")
    # Without JavaScript the copy button stays hidden and the link stays selectable.
    assert not page.locator("button[data-copy]").is_visible()
    assert page.locator("#share-url").input_value().endswith(f"/actions/{action.slug}")

    # The first Tab reaches the skip link, visibly focused.
    page.keyboard.press("Tab")
    focused = page.evaluate("""() => {
        const el = document.activeElement, style = getComputedStyle(el);
        return [el.className, style.outlineStyle, el.getBoundingClientRect().left >= 0];
    }""")
    assert focused == ["skip-link", "solid", True]

    # Sign with the keyboard alone: focus the first field, type, Tab onwards, Enter.
    page.focus("#first_name")
    page.keyboard.type("Ada")
    page.keyboard.press("Tab")
    page.keyboard.type("Lovelace")
    page.keyboard.press("Tab")
    page.keyboard.type("ada@example.org")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/actions/[^/]+$"))
    # The country was left out: the error is announced and tied to its field.
    error = page.locator("#country-error")
    assert error.get_attribute("role") == "alert"
    assert page.locator("#country").get_attribute("aria-describedby") == "country-error"
    assert page.locator("#email").input_value() == "ada@example.org"
    assert fits_the_width(page)

    page.select_option("#country", "GB")
    page.locator(".sign button[type=submit]").press("Enter")
    page.wait_for_url(re.compile(r"/check-email$"))


def test_the_copy_button_copies_the_link(new_page, live_server):
    action = _action()
    page = new_page(DESKTOP, permissions=["clipboard-read", "clipboard-write"])
    page.goto(f"{live_server}/actions/{action.slug}")
    button = page.get_by_role("button", name="Copy link")
    button.click()
    # The clipboard write is asynchronous: wait for the status the script sets when
    # it is done (the same exact text), rather than reading it at once.
    expect(page.locator(".copy-status")).to_have_text("Link copied")
    assert page.evaluate("navigator.clipboard.readText()") == page.locator(
        "#share-url").input_value()


@pytest.mark.parametrize(("lang", "viewport"), [("en", PHONE), ("fa", DESKTOP)])
def test_form_errors_are_accessible(new_page, live_server, lang, viewport):
    action = _action()
    page = new_page(viewport)
    page.goto(f"{live_server}/actions/{action.slug}?lang={lang}")
    page.locator(".sign button[type=submit]").click()
    page.wait_for_load_state()
    assert page.locator(".error-summary").get_attribute("role") == "alert"
    assert page.locator("#first_name").get_attribute("aria-invalid") == "true"
    _check(page, f"{lang}-action-errors")


@pytest.mark.parametrize("lang", ["en", "fa"])
@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_the_list_and_privacy_pages(new_page, live_server, lang, viewport):
    action = _action()
    page = new_page(viewport)
    page.goto(f"{live_server}/?lang={lang}")
    assert page.locator("html").get_attribute("dir") == ("rtl" if lang == "fa" else "ltr")
    title = PERSIAN_TITLE if lang == "fa" else action.title
    assert page.get_by_role("link", name=title).is_visible()
    _check(page, f"{lang}-index")
    page.goto(f"{live_server}/privacy")  # the language stays, from the cookie
    assert page.locator("html").get_attribute("lang") == lang
    _check(page, f"{lang}-privacy")


def test_the_console_shows_the_qr_code_and_the_widget_code(new_page, live_server):
    from petitions.services import accounts

    action = _action()
    user = accounts.create_user("organizer@example.org", "organizer",
                                password="long enough password")
    action.organizers.append(user)
    db.session.commit()
    page = new_page(DESKTOP)
    page.goto(f"{live_server}/login")
    page.get_by_label("Email", exact=True).fill("organizer@example.org")
    page.get_by_label("Password", exact=True).fill("long enough password")
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{live_server}/console/actions/{action.slug}")
    qr = page.get_by_role("img", name="QR code of the address of the action")
    assert qr.evaluate("img => img.complete && img.naturalWidth > 0")
    assert "/embed" in page.get_by_label(re.compile("copy this code")).input_value()
    _check(page, "en-console-action")

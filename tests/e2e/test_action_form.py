"""The admin's new-action form in a real browser: the slug follows the title until it is
edited, "Add another target" copies a block without reloading, and the form fits and
passes axe-core at phone and desktop widths in English and Persian (screenshots)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.account_factories import PASSWORD, current_code, enable_two_factor, make_user
from tests.e2e.conftest import DESKTOP, axe_violations, fits_the_width, screenshot

pytestmark = pytest.mark.e2e

PHONE_390 = {"width": 390, "height": 844}


def log_in(page: Any, live_server: str) -> None:
    admin = make_user("admin", email="admin@example.org")
    enable_two_factor(admin)
    page.goto(f"{live_server}/login")
    page.get_by_label("Email", exact=True).fill("admin@example.org")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server}/login/code*")
    page.locator("input[name=code]").fill(current_code(admin))
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server}/console/")


def test_the_slug_follows_the_title_and_another_target_is_added_in_place(new_page,
                                                                         live_server):
    page = new_page(DESKTOP)
    log_in(page, live_server)
    page.goto(f"{live_server}/admin/actions/new")
    title, slug = page.locator("input[name=title]"), page.locator("input[name=slug]")

    title.fill("Libérez les journalistes, maintenant !")
    assert slug.input_value() == "liberez-les-journalistes-maintenant"
    slug.fill("free-them")
    title.fill("Another title")
    assert slug.input_value() == "free-them"  # edited by hand: left alone

    assert page.locator("input[name='targets-1-name']").count() == 0
    page.get_by_role("button", name="Add another target").click()
    assert page.url == f"{live_server}/admin/actions/new"  # no reload
    second = page.locator("input[name='targets-1-name']")
    assert second.is_visible()
    assert second.evaluate("e => e === document.activeElement")
    assert page.get_by_text("Target 2", exact=True).is_visible()

    page.locator("input[name='targets-0-name']").fill("UN Secretary-General")
    second.fill("EU High Representative")
    page.locator("button[name=save]").first.click()
    page.wait_for_url(f"{live_server}/admin/actions/free-them/edit")
    from petitions.services.actions import get_action

    assert [t.name for t in get_action("free-them").targets] == [
        "UN Secretary-General", "EU High Representative"]


@pytest.mark.parametrize("language", ["en", "fa"])
@pytest.mark.parametrize("viewport", [PHONE_390, DESKTOP], ids=["390", "1280"])
def test_the_new_action_form_fits_and_passes_axe(new_page, live_server, language, viewport):
    page = new_page(viewport)
    log_in(page, live_server)
    page.goto(f"{live_server}/admin/actions/new?lang={language}")
    assert fits_the_width(page), "the form scrolls sideways"
    assert axe_violations(page) == []
    screenshot(page, f"{language}-admin-new-action")
    # With errors: every invalid field marked (the screenshot shows the red borders).
    page.locator("input[name=title]").fill("")
    page.locator("input[name=goal]").fill("0")
    page.locator("button[name=save]").first.click()
    invalid = page.locator("[aria-invalid=true]")
    assert invalid.count() >= 2
    colors = {invalid.nth(i).evaluate("e => getComputedStyle(e).borderTopColor")
              for i in range(invalid.count())}
    assert colors == {"rgb(164, 22, 26)"}  # --error, on the text and the number field
    screenshot(page, f"{language}-admin-new-action-errors")

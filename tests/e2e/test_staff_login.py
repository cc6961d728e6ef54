"""An admin's first login in a real browser: the password, then setting up an
authenticator app, then the recovery codes; every page passes axe-core's checks and
fits a phone's width."""

from __future__ import annotations

from typing import Any

import pyotp
import pytest

from tests.e2e.conftest import PHONE, axe_violations, fits_the_width, screenshot

pytestmark = pytest.mark.e2e

PASSWORD = "long enough password"


def _check(page: Any, name: str) -> None:
    assert axe_violations(page) == [], name
    assert fits_the_width(page), f"{name} scrolls sideways"
    screenshot(page, name)


def test_an_admin_sets_up_two_factor_login_at_the_first_login(new_page, live_server):
    from petitions.services import accounts

    accounts.create_user("admin@example.org", "admin", password=PASSWORD)
    page = new_page(PHONE)
    page.goto(f"{live_server}/login")
    page.get_by_label("Email", exact=True).fill("admin@example.org")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server}/login/two-factor*")
    assert page.get_by_role("img", name="QR code of the key for your authenticator app") \
        .evaluate("img => img.complete && img.naturalWidth > 0")
    _check(page, "en-two-factor-enrol")

    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    page.get_by_label("Code from the app").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Turn on two-factor login").click()
    assert page.locator(".recovery-codes code").count() == 10
    _check(page, "en-two-factor-recovery-codes")
    page.get_by_role("link", name="I have kept them; continue").click()
    page.wait_for_url(f"{live_server}/console/")

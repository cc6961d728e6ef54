"""The action page with a hero picture and the organization's branding, as production
serves it (bot checks on), in English, Persian and Arabic, at a phone's and a
desktop's width: it fits, the way to sign stays on a phone's first screen, the
pictures load from this origin, and axe finds nothing."""

from __future__ import annotations

import io
from typing import Any

import pytest
from flask import Flask
from PIL import Image, ImageDraw

from petitions.services import branding, images
from tests.e2e.conftest import axe_violations, screenshot
from tests.e2e.test_layout import DESKTOP_1280, IN_VIEW, PHONE_390, campaign_action, scroll_width
from tests.image_factories import logo
from tests.security_factories import bot_checks_on

pytestmark = pytest.mark.e2e

ALT = "People holding up photos of the two journalists"


def scene() -> bytes:
    """A wide picture with some shapes, standing in for a photo."""
    picture = Image.new("RGB", (2400, 1350), (30, 60, 110))
    draw = ImageDraw.Draw(picture)
    for n in range(12):
        x = 120 + n * 190
        draw.rectangle((x, 500 + (n % 3) * 60, x + 130, 1350), fill=(200, 170 - n * 8, 90))
        draw.ellipse((x + 15, 380 + (n % 3) * 60, x + 115, 480 + (n % 3) * 60),
                     fill=(240, 210, 180))
    draw.rectangle((0, 1200, 2400, 1350), fill=(60, 60, 60))
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def branded_action() -> Any:
    branding.update(organization_name="Friends of the Detained", primary_colour="#1a5fb4",
                    footer_text="Friends of the Detained is a registered charity.",
                    footer_links="Contact | https://friends.example/contact\n"
                                 "Imprint | https://friends.example/imprint",
                    logo=logo(), actor=None)
    action = campaign_action()
    images.set_action_image(action, scene(), ALT, actor=None, via="web")
    return action


LOADED = "img => img.complete && img.naturalWidth > 0"


@pytest.mark.parametrize("viewport", [PHONE_390, DESKTOP_1280], ids=["390px", "1280px"])
@pytest.mark.parametrize("lang", ["en", "fa", "ar"])
def test_the_branded_action_page_with_its_picture(new_page, live_server, app: Flask,
                                                  monkeypatch: pytest.MonkeyPatch, lang,
                                                  viewport):
    bot_checks_on(app, monkeypatch)
    action = branded_action()
    page = new_page(viewport)
    page.goto(f"{live_server}/actions/{action.slug}?lang={lang}")
    hero = page.locator("figure.hero img")
    hero.evaluate("img => img.decode()")
    assert hero.evaluate(LOADED) and hero.get_attribute("alt") == ALT
    assert page.locator("header.site-header img.brand-logo").evaluate(LOADED)
    assert page.locator("header.site-header").inner_text().strip() == "Friends of the Detained"
    colour = page.locator(".sign button[type=submit]").evaluate(
        "el => getComputedStyle(el).backgroundColor")
    assert colour == "rgb(26, 95, 180)"
    assert scroll_width(page) == viewport["width"]
    if viewport is PHONE_390:
        assert page.locator("a[href='#sign']").evaluate(IN_VIEW)
    screenshot(page, f"{lang}-action-branded")
    assert axe_violations(page) == []

    page.goto(f"{live_server}/actions/{action.slug}/embed?lang={lang}")
    assert scroll_width(page) == viewport["width"]
    screenshot(page, f"{lang}-widget-branded")

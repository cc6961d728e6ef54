"""The widget as organizers paste it: the snippet the console shows, on a page of
another site, at phone widths, in a left-to-right and a right-to-left language. The
widget is taller than the snippet's frame used to be (its Sign button was cut off):
the frame now takes the widget's height (static/js/widget.js and embed.js)."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from flask import Flask

from petitions.extensions import db
from tests.account_factories import (  # noqa: F401  - cheap_password_hashing: a fixture
    cheap_password_hashing,
    log_in,
    make_user,
)
from tests.e2e.test_layout import campaign_action
from tests.security_factories import bot_checks_on

pytestmark = pytest.mark.e2e


def console_snippet(app: Flask, action: Any) -> str:
    """The widget code as the organizer console shows it, ready to copy."""
    organizer = make_user("organizer")
    action.organizers.append(organizer)
    db.session.commit()
    client = app.test_client()
    log_in(client, organizer)
    page = client.get(f"/console/actions/{action.slug}").get_data(as_text=True)
    match = re.search(r'<textarea id="embed-code"[^>]*>(.*?)</textarea>', page, re.S)
    assert match, "no widget code in the console"
    return html.unescape(match.group(1))


@pytest.mark.usefixtures("cheap_password_hashing")
def test_the_sign_button_is_visible_in_the_pasted_widget(new_page, live_server, other_site,
                                                         app: Flask,
                                                         monkeypatch: pytest.MonkeyPatch):
    bot_checks_on(app, monkeypatch)
    action = campaign_action()
    snippet = console_snippet(app, action).replace("http://petitions.test", live_server)
    assert "<script" in snippet
    snippet_height = re.search(r'<iframe [^>]*height="(\d+)"', snippet)[1]
    for lang in ("en", "fa"):
        # A Persian site asks for the widget in Persian.
        pasted = snippet.replace("/embed\"", f"/embed?lang={lang}\"")
        other_site.pages[f"/campaign-{lang}.html"] = (
            f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>Our campaign</title></head><body><h1>Our campaign</h1>'
            f'<p>Please sign below.</p>{pasted}</body></html>')
        for width in (320, 390, 480):
            page = new_page({"width": width, "height": 700})
            page.goto(f"{other_site.url}/campaign-{lang}.html")
            widget = page.frame_locator("iframe")
            button = widget.locator(".sign button[type=submit]")
            button.wait_for()
            # The frame grows to the widget's height once the widget has said it.
            page.wait_for_function(
                "h => document.querySelector('iframe').height !== h", arg=snippet_height)
            frame = page.locator("iframe").bounding_box()
            box = button.bounding_box()
            inside = widget.locator("html").evaluate(
                "() => [window.scrollY, document.documentElement.scrollHeight, innerHeight]")
            name = f"{lang} at {width} px"
            assert inside[0] == 0 and inside[1] <= inside[2], f"the frame scrolls: {name}"
            assert frame["y"] <= box["y"], name
            assert box["y"] + box["height"] <= frame["y"] + frame["height"], name
            assert frame["x"] <= box["x"], name
            assert box["x"] + box["width"] <= frame["x"] + frame["width"], name

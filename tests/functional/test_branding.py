"""The organization's branding: set by admins (audited), shown on pages, in emails and
in the letter delivered to officials; the default look with nothing set."""

from __future__ import annotations

import io
import re
from datetime import date

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from petitions.extensions import db
from petitions.models import AuditEntry, OutboundEmail, OutboxKind
from petitions.services import branding, mail
from petitions.services.branding import BrandingError, contrast, text_colour_on
from petitions.services.delivery_package import Addressee, build_pdf
from tests.account_factories import log_in, make_user
from tests.factories import csrf_token, field_error, make_action, make_signature, parse_html
from tests.image_factories import logo

SETTINGS = {"organization_name": "Friends of the Detained", "primary_colour": "#1A5FB4",
            "footer_text": "Registered charity 123456",
            "footer_links": "Contact | https://friends.example/contact\n"
                            "Imprint | https://friends.example/imprint"}


def _save(client, data: dict):  # type: ignore[no-untyped-def]
    return client.post("/admin/branding",
                       data={**data, "csrf_token": csrf_token(client, "/admin/branding")},
                       content_type="multipart/form-data")


def _brand(**overrides: str) -> None:
    branding.update(**{**SETTINGS, **overrides}, actor=None)


def test_an_admin_sets_the_branding_and_it_is_audited(client):
    log_in(client, make_user("admin"))
    response = _save(client, {**SETTINGS, "logo": (io.BytesIO(logo()), "logo.png")})
    assert response.status_code == 303, response.get_data(as_text=True)
    row = branding.stored()
    assert (row.organization_name, row.primary_colour) == ("Friends of the Detained",
                                                           "#1a5fb4")
    assert row.footer_links[0] == {"label": "Contact", "url": "https://friends.example/contact"}
    assert [c.media_type for c in row.logo.renditions] == ["image/png"] * 3
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.verb == "branding.update")
                               ).one()
    assert entry.after["organization_name"] == "Friends of the Detained"
    page = parse_html(client.get("/admin/branding").get_data(as_text=True))
    fields = {e.get("name"): e.get("value") for e in page.find_all("input")}
    assert fields["primary_colour"] == "#1a5fb4"


def test_only_admins_reach_the_branding_page(client):
    log_in(client, make_user("organizer"))
    assert client.get("/admin/branding").status_code == 403


@pytest.mark.parametrize(("field", "value", "message"), [
    ("primary_colour", "#ffff00", "too light"),
    ("primary_colour", "blue", "#rrggbb"),
    ("footer_links", "Contact https://x.example", "label | https://address"),
    ("footer_links", "Evil | javascript:alert(1)", "label | https://address"),
    ("organization_name", "Friends\x00 of the Detained", "control characters"),
    ("footer_text", "Registered\x1b[31m charity", "control characters"),
])
def test_bad_values_are_refused_next_to_their_field_input_kept(client, field, value, message):
    log_in(client, make_user("admin"))
    response = _save(client, {**SETTINGS, field: value})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert message in field_error(html, field)
    # What was typed in the other fields is still there.
    kept = "primary_colour" if field == "organization_name" else "organization_name"
    element = next(e for e in parse_html(html).find_all("input") if e.get("name") == kept)
    assert element.get("value") == SETTINGS[kept]
    assert branding.stored() is None


def test_a_logo_that_is_not_a_picture_is_refused(client):
    log_in(client, make_user("admin"))
    response = _save(client, {**SETTINGS, "logo": (io.BytesIO(b"<svg/>"), "logo.svg")})
    assert response.status_code == 422
    assert "not a picture" in field_error(response.get_data(as_text=True), "logo")


def test_button_text_keeps_aa_contrast_on_any_accepted_colour():
    assert round(contrast("#ffffff", "#000000"), 2) == 21.0
    assert text_colour_on("#1a5fb4") == "#ffffff"
    assert text_colour_on("#e66100") == "#000000"  # orange: black reads better
    for colour in ("#1a5fb4", "#e66100", "#26a269", "#b3261e", "#767676", "#000000"):
        on_colour, hover, ink = branding.theme(colour)
        assert contrast(colour, on_colour) >= 4.5, colour
        assert contrast(hover, on_colour) >= 4.5, colour
        assert contrast(ink, "#ffffff") >= 4.5, colour
    with pytest.raises(BrandingError):
        branding.check_colour("#f6d32d")  # yellow on white: 1.4:1


def test_pages_show_the_name_logo_footer_and_theme(client):
    _brand(logo=logo())
    action = make_action()
    html = client.get(f"/actions/{action.slug}").get_data(as_text=True)
    page = parse_html(html)
    header = page.find("header")
    assert "Friends of the Detained" in header.text
    assert header.find("img", class_="brand-logo").get("src").startswith("/images/")
    footer = page.find("footer")
    assert "Registered charity 123456" in footer.text
    assert {a.get("href") for a in footer.find_all("a")} >= {
        "https://friends.example/contact", "https://friends.example/imprint"}
    assert 'style="' not in html  # the CSP forbids inline styles: a stylesheet instead
    [sheet] = [link.get("href") for link in page.find_all("link")
               if link.get("href", "").startswith("/branding.css")]
    assert sheet == f"/branding.css?v={branding.current().version}"
    response = client.get(sheet)
    assert response.mimetype == "text/css"
    assert "--accent: #1a5fb4;" in response.get_data(as_text=True)
    assert "--on-accent: #ffffff;" in response.get_data(as_text=True)
    # Links (text on white) take the ink, which is dark enough to read.
    assert "--accent-dark: #1a5fb4;" in response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert client.get("/branding.css?v=old").headers["Cache-Control"] == "public, max-age=60"


def test_a_change_shows_at_once_under_a_new_stylesheet_address(client):
    _brand()
    first = branding.current().version
    _brand(primary_colour="#26a269")
    assert branding.current().version != first
    assert "--accent: #26a269;" in client.get("/branding.css").get_data(as_text=True)


def test_with_nothing_set_the_default_look(client, app):
    action = make_action()
    page = parse_html(client.get(f"/actions/{action.slug}").get_data(as_text=True))
    assert page.find("header").text.strip() == "Urgent actions"
    css = client.get("/branding.css").get_data(as_text=True)
    # The stylesheet's own colours (static/css/site.css).
    assert "--accent: #b3261e;" in css and "--accent-dark: #8c1d17;" in css
    assert "--on-accent: #ffffff;" in css
    assert branding.sender() == app.config["MAIL_DEFAULT_SENDER"]
    assert branding.current().name == "Urgent Actions"  # MAIL_DEFAULT_SENDER's name


def _confirmation_message():  # type: ignore[no-untyped-def]
    make_signature(make_action())
    row = db.session.scalars(select(OutboundEmail).where(
        OutboundEmail.kind == OutboxKind.CONFIRMATION)).one()
    return mail.build_message(row)


def test_emails_come_from_the_organization_and_are_signed(app):
    _brand()
    message = _confirmation_message()
    assert message["From"].addresses[0].display_name == "Friends of the Detained"
    address = re.search(r"<(.+)>", app.config["MAIL_DEFAULT_SENDER"]).group(1)
    assert message["From"].addresses[0].addr_spec == address
    text = message.get_body(("plain",)).get_content()
    assert "-- \nFriends of the Detained\nRegistered charity 123456\n" in text
    assert "Contact: https://friends.example/contact" in text
    html = message.get_body(("html",)).get_content()
    assert "<strong>Friends of the Detained</strong>" in html
    assert 'href="https://friends.example/imprint"' in html


def test_the_letter_says_who_sends_it(app):
    _brand()
    letter = build_pdf(make_action(), Addressee("The Minister"), confirmed=3, paper=0,
                       by_country={}, compiled_on=date(2026, 12, 4), rows=[])
    reader = PdfReader(io.BytesIO(letter))
    text = "\n".join(page.extract_text() for page in reader.pages)
    lines = text.splitlines()
    assert lines[:2] == ["Friends of the Detained", "Registered charity 123456"]
    assert "Sent on behalf of the signatories by Friends of the Detained." in \
        " ".join(lines)
    assert reader.metadata.author == "Friends of the Detained"


def test_a_name_in_another_script_with_a_comma_is_a_well_formed_sender(app):
    _brand(organization_name='دوستان بازداشت‌شدگان, "Friends"')
    message = _confirmation_message()
    assert message["From"].addresses[0].display_name == 'دوستان بازداشت‌شدگان, "Friends"'
    assert message.as_bytes().isascii()

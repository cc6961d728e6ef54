"""The campaign page (issue 15, "looks like a campaign"): a progress bar that shows from
the first signature, the next milestone, the days left, numbers and dates as the
reader's language writes them, recent signers with relative times, the letter as the
officials receive it, share buttons, text isolated by direction, plurals, and the demo
action in Persian and Arabic."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from petitions.extensions import db
from petitions.models import Signature, utcnow
from petitions.services import deliveries, tallies
from petitions.services.actions import TargetInput
from petitions.services.delivery_package import Addressee, build_pdf, letter_text
from petitions.services.demo import DEMO_SLUG, seed_demo_action
from tests.delivery_flow_factories import GUTERRES, pdf_text
from tests.factories import (
    deliver_pending_mail,
    make_action,
    make_confirmed_signature,
    parse_html,
)
from tests.organizer_factories import bulk_signatures, login, make_user

# Extended Arabic-Indic digits (Persian), Arabic-Indic digits, the Arabic thousands
# separator: written by code point, as they look like Latin letters and dots.
PERSIAN = str.maketrans("0123456789,", "".join(chr(0x06F0 + d) for d in range(10)) + "\u066c")
ARABIC = str.maketrans("0123456789,", "".join(chr(0x0660 + d) for d in range(10)) + "\u066c")
STATIC = Path(__file__).resolve().parents[2] / "petitions" / "static"


def page(client, path: str):  # type: ignore[no-untyped-def]
    response = client.get(path)
    assert response.status_code == 200, path
    return parse_html(response.get_data(as_text=True))


def text(element) -> str:  # type: ignore[no-untyped-def]
    return " ".join(element.text.split())


# --- progress, milestone, days left ----------------------------------------------------------

def test_one_signature_of_ten_thousand_fills_a_visible_part_of_the_bar(client):
    action = make_action(goal=10_000)
    make_confirmed_signature(action)
    bar = page(client, f"/actions/{action.slug}").find("div", role="progressbar")
    assert "progress-min" in bar.get("class").split()
    assert bar.get("aria-valuenow") == "1" and bar.get("aria-valuemax") == "10000"
    assert bar.find("rect", class_="progress-fill").get("width") == "2.0%"


def test_an_empty_bar_has_no_fill_and_a_full_one_no_minimum(client):
    empty = make_action(goal=10)
    assert page(client, f"/actions/{empty.slug}").find("rect", class_="progress-fill") is None
    half = make_action(goal=4)
    bulk_signatures(half, 2)
    bar = page(client, f"/actions/{half.slug}").find("div", role="progressbar")
    assert "progress-min" not in bar.get("class").split()
    assert bar.find("rect", class_="progress-fill").get("width") == "50.0%"


@pytest.mark.parametrize(("signed", "goal", "milestone"), [
    (1, 10_000, "9 more signatures to reach 10"),
    (9, 10_000, "1 more signature to reach 10"),
    (30, 50, "20 more signatures to reach 50"),
    (9_990, 10_000, "10 more signatures to reach 10,000"),
    (12, 10, "Goal reached! Next milestone: 25"),
])
def test_the_next_milestone(client, signed, goal, milestone):
    action = make_action(goal=goal)
    bulk_signatures(action, signed)
    assert text(page(client, f"/actions/{action.slug}").find("p", class_="milestone")) \
        == milestone


@pytest.mark.parametrize(("days", "words"), [
    (0, "Last day to sign"), (1, "1 day left"), (12, "12 days left")])
def test_days_left_until_a_spelled_out_deadline(client, days, words):
    deadline = utcnow().date() + timedelta(days=days)
    action = make_action(deadline=deadline)
    left = page(client, f"/actions/{action.slug}").find("p", class_="days-left")
    assert text(left).startswith(words)
    assert deadline.strftime("%B") in left.text and str(deadline.year) in left.text
    assert deadline.isoformat() not in left.text


def test_no_days_left_without_a_deadline(client):
    action = make_action(deadline=None)
    assert page(client, f"/actions/{action.slug}").find("p", class_="days-left") is None


def test_persian_pages_write_persian_digits(client):
    action = make_action(goal=10_000, deadline=utcnow().date() + timedelta(days=12))
    bulk_signatures(action, 1_234)
    html = page(client, f"/actions/{action.slug}?lang=fa")
    thermometer = html.find("div", class_="thermometer")
    assert thermometer.find("strong").text == "1,234".translate(PERSIAN)
    assert "10,000".translate(PERSIAN) in thermometer.text
    assert "12".translate(PERSIAN) in thermometer.find("p", class_="days-left").text
    assert not re.search(r"[0-9]", text(thermometer))


def test_arabic_pages_use_the_numbering_of_their_locale(client, app):
    """Babel's CLDR data: plain Arabic ("ar") writes Latin digits by default, as in the
    Maghreb; Egyptian Arabic writes Arabic-Indic digits."""
    from petitions.i18n import format_long_date, format_number

    deadline = utcnow().date() + timedelta(days=12)
    action = make_action(goal=10_000, deadline=deadline)
    bulk_signatures(action, 1_234)
    thermometer = page(client, f"/actions/{action.slug}?lang=ar").find(
        "div", class_="thermometer")
    assert thermometer.find("strong").text == "1,234"
    spelled = thermometer.find("span", class_="deadline").text
    assert format_long_date(deadline, "ar") in spelled and deadline.isoformat() not in spelled
    assert format_number(1234, "ar_EG") == "1,234".translate(ARABIC)
    assert format_number(1234, "fa") == "1,234".translate(PERSIAN)
    assert format_long_date(utcnow().date().replace(month=3, day=1), "ar_EG").startswith(
        "1 ".translate(ARABIC))


# --- recent signers ---------------------------------------------------------------------------

def test_recent_signers_say_how_long_ago_in_the_readers_language(client):
    action = make_action()
    signature = make_confirmed_signature(action, first_name="Shirin", country="IR",
                                         show_publicly=True)
    signature.confirmed_at = utcnow() - timedelta(hours=3)
    db.session.commit()
    [item] = page(client, f"/actions/{action.slug}").find(
        "ul", class_="recent-signers").find_all("li")
    assert text(item) == "Shirin, Iran 3 hours ago"
    assert item.find("bdi").text == "Shirin"
    [item] = page(client, f"/actions/{action.slug}?lang=fa").find(
        "ul", class_="recent-signers").find_all("li")
    assert item.find("time").text == "3 ساعت پیش".translate(PERSIAN)
    assert db.session.get(Signature, signature.id).last_name not in text(item)


# --- the letter --------------------------------------------------------------------------------

def test_the_page_shows_the_letter_the_officials_receive(client, app):
    action = make_action(
        title="Free the detained journalists",
        body="They were arrested for **reporting** on the protests.",
        demands=["Release them now.", "Drop all charges."],
        targets=[TargetInput("António Guterres", "Secretary-General", "United Nations"),
                 TargetInput("Volker Türk")])
    html = page(client, f"/actions/{action.slug}?lang=fr")
    letter = html.find("section", class_="letter")
    first, second = letter.find_all("div", class_="letter-sheet")
    assert first.get("lang") == "en"  # the action's language, as delivered

    delivered = letter_text(action, Addressee("António Guterres", "Secretary-General",
                                              "United Nations"))
    pdf = " ".join(pdf_text(build_pdf(
        action, Addressee("António Guterres", "Secretary-General", "United Nations"),
        confirmed=0, paper=0, by_country={}, compiled_on=utcnow().date(), rows=[])).split())
    shown = [text(first.find("h3")), text(first.find("p", class_="salutation")),
             text(first.find("div", class_="letter-body")), text(first.find("h4")),
             *[text(li) for li in first.find("ol").find_all("li")]]
    assert shown == [delivered.title, delivered.salutation,
                     "They were arrested for reporting on the protests.",
                     delivered.demands_heading, *delivered.demands]
    assert shown[:4] == ["Free the detained journalists", "Dear António Guterres,",
                         "They were arrested for reporting on the protests.", "We ask for"]
    for part in shown:
        assert part in pdf, part
    assert [b.text for b in first.find("p", class_="addressee").find_all("bdi")] == [
        "António Guterres", "Secretary-General", "United Nations"]
    assert text(second.find("p", class_="salutation")).startswith("Dear Volker Türk,")


# --- sharing --------------------------------------------------------------------------------

def test_share_buttons_carry_inline_icons_and_nothing_from_elsewhere(client):
    action = make_action(title="Free them")
    for path in (f"/actions/{action.slug}", f"/actions/{action.slug}/thank-you"):
        html = page(client, path)
        links = html.find("ul", class_="share").find_all("a")
        assert [a.get("class") for a in links] == [
            "share-whatsapp", "share-telegram", "share-facebook", "share-x", "share-email"]
        for link in links:
            icon = link.find("svg")
            assert icon.get("aria-hidden") == "true"
            assert icon.find("path") or icon.find("rect")
            assert link.find("span").text  # the network named in words
        assert html.find("label", **{"for": "share-url"}).find("svg")
        assert not html.find_all("img")
        for element in html.find_all():
            for attribute in ("src", "href"):
                value = element.get(attribute)
                if value is not None and element.tag in ("script", "link", "img", "iframe"):
                    assert value.startswith("/"), (element.tag, element.attrs)
        assert not [e for e in html.find_all() if e.get("style") is not None]


def test_the_thank_you_page_has_a_message_for_each_network(client):
    action = make_action(title="Free them")
    html = page(client, f"/actions/{action.slug}/thank-you")
    hrefs = {a.get("class"): a.get("href") for a in html.find("ul", class_="share").find_all("a")}
    assert "I%20just%20signed%20%E2%80%9CFree%20them%E2%80%9D" in hrefs["share-whatsapp"]
    assert "I%20just%20signed" in hrefs["share-telegram"]
    assert "I%20signed%20%E2%80%9CFree%20them%E2%80%9D.%20Sign%20too" in hrefs["share-x"]
    assert hrefs["share-email"].startswith(
        "mailto:?subject=Will%20you%20sign%20%E2%80%9CFree%20them%E2%80%9D%3F&body=I%20just")
    action_page = page(client, f"/actions/{action.slug}")
    assert "Please%20sign" in action_page.find("a", class_="share-whatsapp").get("href")


# --- mixed directions ----------------------------------------------------------------------

def test_user_text_is_isolated_from_the_page_direction(client):
    action = make_action(title="Free them (now)!", summary="Two journalists are held.",
                         targets=[TargetInput("UN Secretary-General", "Secretary-General")])
    make_confirmed_signature(action, first_name="Sam!", show_publicly=True)
    html = page(client, f"/actions/{action.slug}?lang=fa")
    assert html.find("html").get("dir") == "rtl"
    h1 = html.find("h1")
    assert (h1.get("lang"), h1.get("dir")) == ("en", "ltr")
    summary = html.find("p", class_="summary")
    assert (summary.get("lang"), summary.get("dir")) == ("en", "ltr")
    assert [b.text for b in html.find("p", class_="target").find_all("bdi")] == [
        "UN Secretary-General", "Secretary-General"]
    assert html.find("ul", class_="recent-signers").find("bdi").text == "Sam!"
    card = page(client, "/?lang=fa").find("li", class_="action-card")
    assert card.find("h2").get("dir") == "auto"
    assert card.find("p", class_="target").find("bdi").text == "UN Secretary-General"
    thanks = page(client, f"/actions/{action.slug}/thank-you?lang=fa")
    assert thanks.find("div", class_="thank-you").find("p").find("bdi").text == \
        "Free them (now)!"


# --- plurals -------------------------------------------------------------------------------

def test_one_signature_is_singular_on_the_page(client):
    action = make_action(goal=10)
    make_confirmed_signature(action)
    count = page(client, f"/actions/{action.slug}").find("p", class_="count")
    assert text(count) == "1 signature of 10"


def test_one_signature_is_singular_in_the_delivery_subject_and_letter(app, mailbox):
    from petitions.services.delivery_package import signed_sentence

    action = make_action(title="Free them", targets=[GUTERRES])
    make_confirmed_signature(action)
    deliver_pending_mail()
    mailbox.clear()
    delivery = deliveries.request_delivery(action, actor=None)
    deliveries.compile_delivery(delivery.id)
    deliver_pending_mail()
    [message] = mailbox.messages
    assert message["Subject"] == "1 signature: Free them"
    body = message.get_body(preferencelist=("plain",)).get_content()
    assert "1 person asks you to act on “Free them”." in body
    letter = next(part for part in message.iter_attachments()
                  if part.get_content_type() == "application/pdf")
    assert "1 person has signed this appeal: 1 online" in " ".join(
        pdf_text(letter.get_content()).split())
    assert signed_sentence(2, 0).startswith("2 people have signed")


def test_one_signature_is_singular_in_the_console(client):
    action = make_action()
    make_confirmed_signature(action)
    tallies.compile_tally(action.id)
    login(client, make_user("organizer", actions=[action]))
    console = page(client, f"/console/actions/{action.slug}?lang=fa")
    assert console.find("h1").get("dir") == "auto"  # an English title on a Persian page
    latest = console.find("section", aria_labelledby="latest-heading")
    assert latest.find("tbody").find("th").get("dir") == "auto"
    compiled = page(client, f"/console/actions/{action.slug}?lang=en").find(id="tally-compiled")
    assert "when 1 signature was confirmed online" in text(compiled)


# --- the stylesheet ---------------------------------------------------------------------------

def test_one_stylesheet_of_tokens_dark_aware_with_no_fonts_from_elsewhere():
    css = (STATIC / "css" / "site.css").read_text()
    for token in ("--ink", "--paper", "--accent", "--step-0", "--step-3", "--space-4",
                  "--radius"):
        assert f"{token}:" in css, token
    assert "@media (prefers-color-scheme: dark)" in css
    assert "@import" not in css and "@font-face" not in css and "url(" not in css
    # Logical properties only: right-to-left pages mirror by themselves.
    assert not re.search(r"(margin|padding)-(left|right)\s*:", css)


# --- the demo action -------------------------------------------------------------------------

def test_the_demo_action_reads_in_persian_and_arabic(client):
    seed_demo_action()
    fa = page(client, f"/actions/{DEMO_SLUG}?lang=fa")
    assert fa.find("h1").get("lang") == "fa" and fa.find("h1").get("dir") == "rtl"
    assert fa.find("h1").text == "امنیت ساکنان کمپ لیبرتی را تضمین کنید"
    assert len(fa.find("section", class_="appeal").find("ol").find_all("li")) == 4
    assert "**" not in fa.find("section", class_="appeal").text
    ar = page(client, f"/actions/{DEMO_SLUG}?lang=ar")
    assert ar.find("h1").text == "اضمنوا سلامة سكان مخيم ليبرتي"
    assert ar.find("p", class_="summary").get("lang") == "ar"


def test_an_older_demo_gets_its_translations_when_seeded_again(client):
    action, created = seed_demo_action()
    action.translations = {}
    db.session.commit()
    again, created = seed_demo_action()
    assert not created and set(again.translations) == {"fa", "ar"}

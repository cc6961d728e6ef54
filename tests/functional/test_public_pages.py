"""What a supporter sees: the list of actions and an action's page."""

from __future__ import annotations

from datetime import date, timedelta

import pycountry

from petitions.countries import CODES
from petitions.services import actions
from petitions.services.actions import TargetInput
from tests.factories import make_action, make_confirmed_signature, make_signature, parse_html

FORM_FIELDS = {"csrf_token", "first_name", "last_name", "email", "country", "postcode",
               "comment", "updates_opt_in", "show_publicly"}


def _cards(client):
    response = client.get("/")
    assert response.status_code == 200
    return parse_html(response.get_data(as_text=True)).find_all("li", class_="action-card")


def _count(element) -> int:
    strong = element.find("p", class_="count").find("strong")
    return int(strong.text.replace(",", ""))


# --- the home page -----------------------------------------------------------------------


def test_home_page_lists_published_actions_only(client):
    published = make_action(title="Published appeal")
    make_action(title="Draft appeal", publish=False)
    closed = make_action(title="Closed appeal")
    actions.close_action(closed)
    titles = [card.find("h2").text for card in _cards(client)]
    assert titles == [published.title]


def test_home_page_orders_by_nearest_deadline_open_ended_last(client):
    today = date.today()
    later = make_action(deadline=today + timedelta(days=40))
    open_ended = make_action(deadline=None)
    soonest = make_action(deadline=today + timedelta(days=1))
    middle = make_action(deadline=today + timedelta(days=7))
    hrefs = [card.find("a").get("href") for card in _cards(client)]
    assert hrefs == [f"/actions/{a.slug}" for a in (soonest, middle, later, open_ended)]


def test_each_card_shows_target_summary_deadline_and_confirmed_count(client):
    action = make_action(summary="Stop the executions now.", deadline=date(2030, 3, 1),
                         targets=[TargetInput(name="Head of the Judiciary"),
                                  TargetInput(name="Second target")])
    for _ in range(2):
        make_confirmed_signature(action)
    for _ in range(3):
        make_signature(action)  # pending: not counted
    [card] = _cards(client)
    assert card.find("p", class_="target").text == "To: Head of the Judiciary"
    assert "Stop the executions now." in card.text
    assert card.find("span", class_="deadline").text == "(until March 1, 2030)"
    assert _count(card) == 2


def test_home_page_without_actions_says_so(client):
    make_action(publish=False)
    response = client.get("/")
    assert response.status_code == 200
    assert "There is no open action at the moment." in response.get_data(as_text=True)


# --- an action's page --------------------------------------------------------------------


def test_action_page_shows_the_appeal(client):
    action = make_action(
        title="Free the Camp Liberty residents", deadline=date(2030, 1, 31), goal=1000,
        body="The camp is **not safe**.\n\nRead [the report](https://example.org/report).",
        demands=["Remove the armed units.", "Restore water and power."],
        targets=[TargetInput(name="UN Secretary-General",
                             title="Secretary-General of the United Nations")])
    response = client.get(f"/actions/{action.slug}")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = parse_html(response.get_data(as_text=True))
    assert page.find("h1").text == "Free the Camp Liberty residents"
    target = page.find("p", class_="target")
    assert "UN Secretary-General" in target.text
    assert "Secretary-General of the United Nations" in target.text
    appeal = page.find("section", class_="appeal")
    assert appeal.find("strong").text == "not safe"
    link = appeal.find("a")
    assert link.get("href") == "https://example.org/report"
    assert "noopener" in link.get("rel")
    assert [li.text for li in appeal.find("ol", class_="demands").find_all("li")] == [
        "Remove the armed units.", "Restore water and power."]
    assert page.find("span", class_="deadline").text == "(until January 31, 2030)"


def test_action_page_sanitizes_the_appeal_text(client):
    action = make_action(body=(
        "Before <script>alert('owned')</script> after.\n\n"
        "<img src=x onerror=alert(1)>\n\n"
        '<a href="javascript:alert(2)">raw link</a>\n\n'
        "[markdown link](javascript:alert(3))\n\n"
        "<b onmouseover=alert(4)>bold</b> and **strong**"))
    html = client.get(f"/actions/{action.slug}").get_data(as_text=True)
    appeal = parse_html(html).find("section", class_="appeal")
    assert {e.tag for e in appeal.find_all()} <= {"h2", "p", "strong", "a", "ol", "li"}
    assert appeal.find("strong").text == "strong"
    assert not appeal.find_all("script") and not appeal.find_all("img")
    assert not appeal.find_all("b")
    for element in parse_html(html).find_all():
        assert not any(name.startswith("on") for name in element.attrs)
        assert not (element.get("href") or "").lower().startswith("javascript:")
    assert "<script>alert" not in html


def test_action_page_thermometer_counts_confirmed_signatures_only(client):
    action = make_action(goal=10)
    for _ in range(3):
        make_confirmed_signature(action)
    make_signature(action)
    page = parse_html(client.get(f"/actions/{action.slug}").get_data(as_text=True))
    thermometer = page.find("div", class_="thermometer")
    assert _count(thermometer) == 3
    assert "of 10" in thermometer.text
    bar = thermometer.find("div", class_="progress")
    assert (bar.get("role"), bar.get("aria-valuenow"), bar.get("aria-valuemax")) == (
        "progressbar", "3", "10")
    assert bar.find("rect", class_="progress-fill").get("width") == "30.0%"


def test_the_signing_form_has_exactly_the_public_field_names(client):
    action = make_action()
    page = parse_html(client.get(f"/actions/{action.slug}").get_data(as_text=True))
    [form] = page.find_all("form")
    assert form.get("method") == "post"
    assert form.get("action") == f"/actions/{action.slug}"
    fields = [e for e in form.find_all() if e.tag in ("input", "select", "textarea")]
    assert {f.get("name") for f in fields} == FORM_FIELDS
    assert len(fields) == len(FORM_FIELDS)
    by_name = {f.get("name"): f for f in fields}
    assert by_name["csrf_token"].get("type") == "hidden" and by_name["csrf_token"].get("value")
    assert by_name["email"].get("type") == "email"
    assert by_name["comment"].tag == "textarea"
    checkbox = by_name["updates_opt_in"]
    assert checkbox.get("type") == "checkbox"
    assert "checked" not in checkbox.attrs
    # Every visible field has a label.
    labels = {label.get("for") for label in form.find_all("label")}
    assert {f.get("id") for f in fields if f.get("type") != "hidden"} <= labels
    assert form.find("button", type="submit")


def test_the_country_list_is_every_iso_3166_country(client):
    action = make_action()
    page = parse_html(client.get(f"/actions/{action.slug}").get_data(as_text=True))
    select = page.find("select", name="country")
    options = select.find_all("option")
    codes = [o.get("value") for o in options if o.get("value")]
    assert set(codes) == set(CODES) == {c.alpha_2 for c in pycountry.countries}
    assert len(codes) == len(set(codes)) == len(pycountry.countries)
    assert len(codes) >= 249
    # A prompt comes first and nothing is chosen for the supporter.
    assert options[0].get("value") == ""
    assert not [o for o in options if "selected" in o.attrs]
    names = {o.get("value"): o.text for o in options}
    assert names["FR"] == "France" and names["IQ"] == "Iraq"


def test_a_closed_action_shows_it_is_closed_without_a_form(client):
    action = make_action()
    make_confirmed_signature(action)
    actions.close_action(action)
    response = client.get(f"/actions/{action.slug}")
    assert response.status_code == 200
    page = parse_html(response.get_data(as_text=True))
    assert page.find("h2", id="sign-heading").text == "This action is closed"
    assert "no longer takes signatures" in page.text
    assert not page.find_all("form")
    assert not page.find_all("input")
    assert _count(page.find("div", class_="thermometer")) == 1


def test_drafts_and_unknown_pages_are_a_readable_404(client):
    draft = make_action(publish=False)
    for path in (f"/actions/{draft.slug}", "/actions/no-such-action",
                 f"/actions/{draft.slug}/check-email", f"/actions/{draft.slug}/thank-you",
                 "/actions/no-such-action/thank-you", "/no/such/page"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.mimetype == "text/html"
        page = parse_html(response.get_data(as_text=True))
        assert page.find("h1").text == "Page not found"
        assert page.find("a", href="/")
        assert draft.title not in page.text


def test_odd_slugs_are_a_404_not_an_error(client):
    make_action()
    for slug in ("%00", "a%00b", "UPPER", "a" * 3000, "%C3%A9", "%FF%FE", "..%2F..%2Fetc",
                 "%20", "%E2%80%AE"):
        for path in (f"/actions/{slug}", f"/actions/{slug}/check-email",
                     f"/actions/{slug}/thank-you"):
            assert client.get(path).status_code == 404, path


def test_the_privacy_page(client):
    response = client.get("/privacy")
    assert response.status_code == 200
    assert "How we protect your data" in response.get_data(as_text=True)

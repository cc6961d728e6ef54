"""The embeddable widget, the public count, sharing, link previews, the QR code and
the recent signers."""

from __future__ import annotations

import re

from petitions.extensions import db
from petitions.models import Signature, SignatureStatus
from petitions.services import accounts
from tests.factories import (
    form_data,
    make_action,
    make_confirmed_signature,
    make_signature,
    parse_html,
    post_form,
)


def _page(client, url: str):  # type: ignore[no-untyped-def]
    response = client.get(url)
    assert response.status_code == 200, url
    return parse_html(response.get_data(as_text=True))


# --- the widget ---------------------------------------------------------------------------

def test_the_widget_shows_the_count_and_the_signing_form(client):
    action = make_action(goal=10)
    make_confirmed_signature(action)
    page = _page(client, f"/actions/{action.slug}/embed")
    assert page.find("header") is None and page.find("footer") is None
    assert page.find("div", class_="thermometer").find("strong").text == "1"
    [form] = page.find_all("form")
    names = {e.get("name") for e in form.find_all() if e.tag in ("input", "select")}
    assert {"first_name", "last_name", "email", "country", "updates_opt_in",
            "show_publicly"} <= names
    labels = {label.get("for") for label in form.find_all("label")}
    assert {"first_name", "last_name", "email", "country"} <= labels
    link = page.find("h1").find("a")
    assert link.get("href") == f"http://petitions.test/actions/{action.slug}"
    assert link.get("target") == "_blank" and "noopener" in link.get("rel")


def test_signing_in_the_widget_is_the_same_flow_without_a_session(client, mailbox):
    action = make_action()
    # A frame on another site gets no session cookie, so no CSRF token either.
    response = client.post(f"/actions/{action.slug}/embed?lang=fr",
                           data=form_data(email="framed@example.org", show_publicly="y"))
    assert response.status_code == 303
    assert response.headers["Location"] == f"/actions/{action.slug}/embed?signed=1&lang=fr"
    signature = db.session.scalars(db.select(Signature)).one()
    assert signature.status == SignatureStatus.PENDING
    assert signature.show_publicly is True and signature.locale == "fr"
    page = _page(client, response.headers["Location"])
    assert page.find("p", role="status")
    assert not page.find_all("form")


def test_the_widget_shows_errors_next_to_the_fields(client):
    action = make_action()
    response = client.post(f"/actions/{action.slug}/embed",
                           data=form_data(email="not an address", first_name=""))
    assert response.status_code == 422
    page = parse_html(response.get_data(as_text=True))
    assert page.find("p", id="email-error").get("role") == "alert"
    assert page.find("input", id="email").get("aria-describedby") == "email-error"
    assert page.find("input", id="last_name").get("value")
    assert db.session.scalars(db.select(Signature)).all() == []


def test_a_closed_action_widget_takes_no_signature(client):
    from petitions.services import actions

    action = make_action()
    actions.close_action(action)
    assert not _page(client, f"/actions/{action.slug}/embed").find_all("form")
    response = client.post(f"/actions/{action.slug}/embed", data=form_data())
    assert response.status_code == 409
    assert db.session.scalars(db.select(Signature)).all() == []


def test_no_widget_for_a_draft(client):
    action = make_action(publish=False)
    assert client.get(f"/actions/{action.slug}/embed").status_code == 404


# --- the public count ----------------------------------------------------------------------

def test_the_count_is_cheap_cacheable_and_open_to_other_sites(client):
    action = make_action(goal=50)
    make_confirmed_signature(action)
    make_signature(action)  # pending: not counted
    response = client.get(f"/api/v1/actions/{action.slug}/count")
    assert response.status_code == 200
    assert response.json == {"slug": action.slug, "signature_count": 1, "goal": 50,
                             "status": "published"}
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["Cache-Control"] == "public, max-age=5"
    etag = response.headers["ETag"]
    again = client.get(f"/api/v1/actions/{action.slug}/count",
                       headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.get_data() == b""
    make_confirmed_signature(action)
    changed = client.get(f"/api/v1/actions/{action.slug}/count",
                         headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.json["signature_count"] == 2
    assert changed.headers["ETag"] != etag


def test_the_count_of_a_draft_is_a_404_readable_cross_origin(client):
    action = make_action(publish=False)
    response = client.get(f"/api/v1/actions/{action.slug}/count")
    assert response.status_code == 404
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.json["error"]["status"] == 404


# --- sharing and link previews ---------------------------------------------------------------

def test_share_links_are_plain_links_with_a_copy_button_that_needs_no_script(client):
    action = make_action(title="Free them & now")
    page = _page(client, f"/actions/{action.slug}")
    hrefs = [a.get("href") for a in page.find("ul", class_="share").find_all("a")]
    url = f"http%3A//petitions.test/actions/{action.slug}"
    assert hrefs[-1].startswith("mailto:?subject=Free%20them%20%26%20now&body=")
    assert [h.split("?")[0] for h in hrefs[:-1]] == [
        "https://wa.me/", "https://t.me/share/url", "https://www.facebook.com/sharer/sharer.php",
        "https://x.com/intent/post"]
    assert all(url in h for h in hrefs), hrefs
    copy = page.find("input", id="share-url")
    assert copy.get("value") == f"http://petitions.test/actions/{action.slug}"
    assert "readonly" in copy.attrs
    assert page.find("label", **{"for": "share-url"})
    button = page.find("button", **{"data-copy": "share-url"})
    assert "hidden" in button.attrs  # shown by share.js; without it the input remains
    scripts = [s.get("src") for s in page.find_all("script")]
    assert scripts == ["/static/js/share.js"]
    assert client.get("/static/js/share.js").status_code == 200


def test_link_previews_carry_the_text_and_image(client):
    action = make_action(title="Free them", summary="Two journalists are held.")
    action.image_url = "https://images.example.org/free-them.jpg"
    db.session.commit()
    page = _page(client, f"/actions/{action.slug}")
    meta = {(m.get("property") or m.get("name")): m.get("content") for m in page.find_all("meta")
            if m.get("content")}
    assert meta["og:title"] == meta["twitter:title"] == "Free them"
    assert meta["og:description"] == meta["twitter:description"] == "Two journalists are held."
    assert meta["og:image"] == meta["twitter:image"] == action.image_url
    assert meta["og:url"] == f"http://petitions.test/actions/{action.slug}"
    assert meta["twitter:card"] == "summary_large_image"


def test_without_an_image_the_card_is_a_summary(client):
    action = make_action()
    page = _page(client, f"/actions/{action.slug}")
    assert page.find("meta", name="twitter:card").get("content") == "summary"
    assert page.find("meta", property="og:image") is None


def test_the_qr_code_encodes_the_actions_address(client):
    action = make_action()
    response = client.get(f"/actions/{action.slug}/qr.svg")
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    svg = response.get_data(as_text=True)
    assert svg.startswith("<?xml") and "<svg" in svg and "<path" in svg
    assert f"http://petitions.test/actions/{action.slug}" in svg  # in its <title>
    assert client.get(f"/actions/{make_action(publish=False).slug}/qr.svg").status_code == 404


def test_the_console_shows_the_qr_code_and_the_snippet_to_embed(client):
    action = make_action()
    user = accounts.create_user("organizer@example.org", "organizer",
                                password="long enough password")
    action.organizers.append(user)
    db.session.commit()
    post_form(client, "/login", {"email": "organizer@example.org",
                                 "password": "long enough password"})
    page = _page(client, f"/console/actions/{action.slug}")
    section = page.find("section", id="spread")
    assert section.find("img").get("src") == f"/actions/{action.slug}/qr.svg"
    assert section.find("img").get("alt")
    code = section.find("textarea", id="embed-code")
    assert section.find("label", **{"for": "embed-code"})
    assert re.search(rf'<iframe src="http://petitions.test/actions/{action.slug}/embed"',
                     code.text)
    # The script that sizes the frame to the widget, from our own origin (no inline script).
    assert '<script src="http://petitions.test/static/js/embed.js" async></script>' in code.text
    assert client.get("/static/js/embed.js").status_code == 200
    widget = _page(client, f"/actions/{action.slug}/embed")
    assert widget.find("script", src="/static/js/widget.js") is not None
    assert f"/api/v1/actions/{action.slug}/count" in section.text


# --- recent signers ---------------------------------------------------------------------------

def test_only_signers_who_agreed_are_listed_with_first_name_and_country(client):
    action = make_action()
    make_confirmed_signature(action, first_name="Shirin", last_name="Hosseinkhani", country="IR",
                             show_publicly=True)
    make_confirmed_signature(action, first_name="Hidden", country="FR")
    make_signature(action, first_name="Pending", country="DE", show_publicly=True)
    page = _page(client, f"/actions/{action.slug}")
    [item] = page.find("ul", class_="recent-signers").find_all("li")
    assert item.find("bdi").text == "Shirin"
    assert item.text.startswith("Shirin, Iran ")
    assert item.find("time").get("datetime")
    assert "Hosseinkhani" not in page.text and "Hidden" not in page.text


def test_the_box_to_be_shown_is_unticked_and_stored_when_ticked(client):
    action = make_action()
    box = _page(client, f"/actions/{action.slug}").find("input", id="show_publicly")
    assert box.get("type") == "checkbox" and "checked" not in box.attrs
    post_form(client, f"/actions/{action.slug}", form_data(email="a@example.org"))
    post_form(client, f"/actions/{action.slug}",
              form_data(email="b@example.org", show_publicly="y"))
    shown = dict(db.session.execute(db.select(Signature.email, Signature.show_publicly)).all())
    assert shown == {"a@example.org": False, "b@example.org": True}


def test_no_list_while_nobody_agreed(client):
    action = make_action()
    make_confirmed_signature(action)
    assert _page(client, f"/actions/{action.slug}").find("ul", class_="recent-signers") is None

"""Every page has an icon, served from our own origin (no third-party request)."""

from __future__ import annotations

from flask.testing import FlaskClient

from tests.factories import make_action, parse_html


def test_pages_link_to_the_icon_and_it_is_served(client: FlaskClient) -> None:
    action = make_action()
    for path in ("/", f"/actions/{action.slug}", f"/actions/{action.slug}/embed", "/login"):
        page = parse_html(client.get(path).get_data(as_text=True))
        icon = next(link for link in page.find_all("link") if link.get("rel") == "icon")
        assert icon.get("href") == "/static/img/favicon.svg", path
    response = client.get("/static/img/favicon.svg")
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    assert response.data.startswith(b"<svg")

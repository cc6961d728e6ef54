"""The organizer console through the test client: who may see which page, and what it shows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from petitions.models import SignatureStatus, utcnow
from petitions.services import paper
from tests.factories import make_action, make_confirmed_signature, make_signature, parse_html
from tests.organizer_factories import bulk_signatures, csv_bytes, download, login, make_user

PAGES = ["/console/actions/{slug}", "/console/actions/{slug}/paper",
         "/console/actions/{slug}/paper/{batch}/delete"]
# Downloads are POSTs with the CSRF token (see test_exports.py).
DOWNLOADS = ["/console/actions/{slug}/signatures.csv", "/console/actions/{slug}/paper.csv"]


@pytest.fixture
def action_with_batch():
    action = make_action()
    outcome = paper.upload(action, csv_bytes([["Nasrin", "Sotoudeh", "IR"]]), label="Vigil",
                           uploaded_by=None)
    assert outcome.batch is not None
    return action, outcome.batch.id


def urls(action, batch_id, pages=PAGES):
    return [page.format(slug=action.slug, batch=batch_id) for page in pages]


def test_anonymous_visitors_are_sent_to_the_login(client, action_with_batch):
    action, batch_id = action_with_batch
    for url in ["/console/", *urls(action, batch_id)]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.headers["Location"].startswith("/login?next="), url


@pytest.mark.parametrize("role", ["organizer", "admin"])
def test_assigned_organizer_and_admin_see_every_page(client, action_with_batch, role):
    action, batch_id = action_with_batch
    login(client, make_user(role, actions=[action] if role == "organizer" else []))
    for url in ["/console/", *urls(action, batch_id)]:
        response = client.get(url)
        assert response.status_code == 200, url
    for url in urls(action, batch_id, DOWNLOADS):
        assert download(client, url).status_code == 200, url


def test_an_unassigned_organizer_gets_403(client, action_with_batch):
    action, batch_id = action_with_batch
    login(client, make_user("organizer", actions=[make_action()]))
    for url in urls(action, batch_id):
        assert client.get(url).status_code == 403, url
    for url in urls(action, batch_id, DOWNLOADS):
        assert download(client, url).status_code == 403, url
    delete = f"/console/actions/{action.slug}/paper/{batch_id}/delete"
    assert client.post(delete, data={}).status_code in (400, 403)


def test_unknown_action_or_batch_is_404(client, action_with_batch):
    action, batch_id = action_with_batch
    login(client, make_user("admin"))
    assert client.get("/console/actions/no-such-action").status_code == 404
    assert download(client, "/console/actions/no-such-action/signatures.csv").status_code == 404
    other = make_action()
    assert client.get(f"/console/actions/{other.slug}/paper/{batch_id}/delete").status_code == 404
    assert client.get(f"/console/actions/{action.slug}/paper/999999/delete").status_code == 404
    assert client.get(f"/console/actions/{action.slug}/paper/{10**30}/delete").status_code == 404


def test_dashboard_lists_own_actions_with_counts(client):
    mine = make_action(title="Free the students")
    theirs = make_action(title="Someone else's action")
    make_confirmed_signature(mine)
    make_confirmed_signature(mine)
    make_signature(mine)
    paper.upload(mine, csv_bytes([["A", "B", "FR"]] * 3), label="Stall", uploaded_by=None)
    login(client, make_user("organizer", actions=[mine]))

    page = parse_html(client.get("/console/").get_data(as_text=True))
    rows = page.find("tbody").find_all("tr")
    assert len(rows) == 1
    cells = [cell.text for cell in rows[0].find_all() if cell.tag in ("th", "td")]
    assert cells == ["Free the students", "published", "Deliveries (Free the students)",
                     "2", "1", "3", "5"]
    assert rows[0].find("a").get("href") == f"/console/actions/{mine.slug}"
    assert theirs.title not in page.text


def test_admin_dashboard_lists_every_action(client):
    titles = {make_action().title for _ in range(3)}
    login(client, make_user("admin"))
    page = parse_html(client.get("/console/").get_data(as_text=True))
    assert {row.find("a").text for row in page.find("tbody").find_all("tr")} == titles


def test_action_page_counts_chart_countries_sources(client):
    action = make_action()
    today = utcnow().replace(hour=12, minute=0, second=0, microsecond=0)
    bulk_signatures(action, 4, country="FR", confirmed_at=today - timedelta(days=2))
    bulk_signatures(action, 2, country="IR", source="newsletter", confirmed_at=today)
    bulk_signatures(action, 3, status=SignatureStatus.PENDING, source="newsletter")
    paper.upload(action, csv_bytes([["A", "B", "Italy"]]), label="Stall", uploaded_by=None)
    login(client, make_user("organizer", actions=[action]))

    response = client.get(f"/console/actions/{action.slug}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    page = parse_html(html)

    counts = [dd.text for dd in page.find("dl").find_all("dd")]
    assert counts == ["6", "3", "1", "7"]

    svg = page.find("svg")
    assert svg.get("role") == "img"
    title = svg.find("title", id="chart-title")
    assert title is not None and "per day" in title.text
    assert svg.get("aria-labelledby") == "chart-title chart-desc"
    assert len(svg.find_all("rect")) == 3  # the day before yesterday, yesterday, today
    day_rows = page.find("figure").find("table").find("tbody").find_all("tr")
    assert [row.find("td").text for row in day_rows] == ["4", "0", "2"]
    assert "<script" not in html and "cdn" not in html.lower()

    country = page.find("section", aria_labelledby="country-heading")
    assert [[c.text for c in row.find_all() if c.tag in ("th", "td")]
            for row in country.find("tbody").find_all("tr")] == [
        ["France", "4", "0", "4"], ["Iran", "2", "0", "2"], ["Italy", "0", "1", "1"]]

    source = page.find("section", aria_labelledby="source-heading")
    assert [[c.text for c in row.find_all() if c.tag in ("th", "td")]
            for row in source.find("tbody").find_all("tr")] == [
        ["(direct)", "4", "0"], ["newsletter", "2", "3"]]


def test_action_page_without_signatures(client):
    action = make_action()
    login(client, make_user("organizer", actions=[action]))
    html = client.get(f"/console/actions/{action.slug}").get_data(as_text=True)
    assert "<svg" not in html
    assert "No signature is confirmed yet." in html


def test_latest_signatures_show_names_not_emails(client):
    action = make_action()
    signature = make_confirmed_signature(action, first_name="مهسا", last_name="Amini",
                                         email="mahsa@example.org", country="IR",
                                         postcode="12345", comment="A private comment")
    make_signature(action, first_name="Zoë", last_name="Pending", email="zoe@example.org")
    login(client, make_user("organizer", actions=[action]))

    html = client.get(f"/console/actions/{action.slug}").get_data(as_text=True)
    latest = parse_html(html).find("section", id="latest")
    rows = [[c.text for c in row.find_all() if c.tag in ("th", "td")]
            for row in latest.find("tbody").find_all("tr")]
    assert rows[0][:4] == ["Zoë Pending", "France", "pending", "(direct)"]
    assert rows[0][5] == "not yet"
    assert rows[1][:4] == ["مهسا Amini", "Iran", "confirmed", "(direct)"]
    assert rows[1][5] == signature.confirmed_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    for private in ("mahsa@example.org", "zoe@example.org", "12345", "A private comment"):
        assert private not in html


def test_latest_signatures_are_paginated(client):
    action = make_action()
    start = datetime(2026, 11, 1, tzinfo=UTC)
    bulk_signatures(action, 52, each=lambda i: {"last_name": f"Number{i:02d}",
                                                "created_at": start + timedelta(minutes=i)})
    login(client, make_user("organizer", actions=[action]))

    def names(query=""):
        page = parse_html(client.get(f"/console/actions/{action.slug}{query}")
                          .get_data(as_text=True))
        section = page.find("section", id="latest")
        rows = section.find("tbody").find_all("tr") if section.find("tbody") else []
        links = {a.get("rel"): a.get("href") for a in section.find_all("a")}
        return [row.find("th").text.split()[-1] for row in rows], links

    first, links = names()
    assert len(first) == 50 and first[0] == "Number51" and first[-1] == "Number02"
    assert links == {"next": f"/console/actions/{action.slug}?page=2#latest"}
    second, links = names("?page=2")
    assert second == ["Number01", "Number00"]
    assert links == {"prev": f"/console/actions/{action.slug}?page=1#latest"}
    for bad in ("?page=abc", "?page=-1", "?page=0", "?page=99999999999"):
        assert names(bad)[0] == first

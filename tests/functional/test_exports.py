"""Downloading signatures from the console: the CSV opens cleanly, filters work, bad
filters get a page that says what is wrong, and every download is audited."""

from __future__ import annotations

import re

from sqlalchemy import select

from petitions.extensions import db
from petitions.models import AuditEntry, utcnow
from petitions.services import paper
from tests.factories import field_error, make_action, make_confirmed_signature, parse_html
from tests.organizer_factories import csv_bytes, download, login, make_user, parse_csv_text


def organizer_of(client, action):
    user = make_user("organizer", actions=[action])
    login(client, user)
    return user


def test_the_console_form_posts_to_the_export(client):
    action = make_action()
    organizer_of(client, action)
    page = parse_html(client.get(f"/console/actions/{action.slug}").get_data(as_text=True))
    form = page.find("section", id="export").find("form")
    assert form.get("method") == "post"
    assert form.get("action") == f"/console/actions/{action.slug}/signatures.csv"
    assert {e.get("name") for e in form.find_all() if e.tag in ("input", "select")} == {
        "csrf_token", "since", "country", "opted_in", "bom"}
    since = form.find("input", name="since")
    assert since.get("type") == "date"
    assert page.find("label", for_="since") is not None


def test_the_csv_opens_cleanly(client):
    action = make_action(slug="free-the-students")
    make_confirmed_signature(action, first_name="مهسا", last_name="امینی", country="IR",
                             email="mahsa@example.org", updates_opt_in=True)
    make_confirmed_signature(action, first_name="Zoë", last_name="Núñez-Çelik",
                             country="ES", postcode="28001", comment="Ça suffit, « vraiment ».")
    make_confirmed_signature(action, first_name="=cmd|' /C calc'!A0", last_name="+Plus",
                             comment="line one\nline two, \"quoted\"")
    user = organizer_of(client, action)

    response = download(client, f"/console/actions/{action.slug}/signatures.csv")
    assert response.status_code == 200
    assert response.is_streamed
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="free-the-students-signatures-{utcnow().date().isoformat()}.csv"')
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_data()
    assert not body.startswith(b"\xef\xbb\xbf")

    header, *rows = parse_csv_text(body.decode("utf-8"))
    assert header == ["first_name", "last_name", "email", "country", "postcode", "comment",
                      "updates_opt_in", "confirmed_at"]
    assert len(rows) == 3 and all(len(row) == 8 for row in rows)
    persian, accented, formula = rows
    assert persian[:4] == ["مهسا", "امینی", "mahsa@example.org", "IR"]
    assert persian[6] == "true"
    assert accented[:2] == ["Zoë", "Núñez-Çelik"]
    assert accented[4:7] == ["28001", "Ça suffit, « vraiment ».", "false"]
    assert formula[:2] == ["'=cmd|' /C calc'!A0", "'+Plus"]
    assert formula[5] == "line one\nline two, \"quoted\""
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", row[7]) for row in rows)

    [entry] = db.session.scalars(select(AuditEntry).where(AuditEntry.verb == "export.signatures"))
    assert entry.actor_id == user.id and entry.object_id == str(action.id)
    assert entry.after == {"since": None, "country": None, "opted_in": False, "bom": False}
    assert "مهسا" not in str(entry.after) and "mahsa" not in str(entry.after)


def test_filters_and_bom_from_the_form(client):
    action = make_action()
    make_confirmed_signature(action, first_name="Inside", country="FR", updates_opt_in=True)
    make_confirmed_signature(action, first_name="NoUpdates", country="FR")
    make_confirmed_signature(action, first_name="Italy", country="IT", updates_opt_in=True)
    organizer_of(client, action)
    today = utcnow().date().isoformat()

    response = download(client, f"/console/actions/{action.slug}/signatures.csv",
                        {"since": today, "country": "fr", "opted_in": "1", "bom": "1"})
    assert response.status_code == 200
    body = response.get_data()
    assert body.startswith(b"\xef\xbb\xbffirst_name,")
    rows = parse_csv_text(body.decode("utf-8-sig"))[1:]
    assert [row[0] for row in rows] == ["Inside"]

    later = download(client, f"/console/actions/{action.slug}/signatures.csv",
                     {"since": "2999-01-01"})
    assert parse_csv_text(later.get_data(as_text=True))[1:] == []

    entries = db.session.scalars(select(AuditEntry).where(AuditEntry.verb == "export.signatures")
                                 .order_by(AuditEntry.id)).all()
    assert entries[0].after == {"since": today, "country": "FR", "opted_in": True, "bom": True}
    assert entries[1].after["since"] == "2999-01-01"


def test_bad_filters_get_a_422_page_with_each_error_by_its_field(client):
    action = make_action()
    make_confirmed_signature(action)
    organizer_of(client, action)

    response = download(client, f"/console/actions/{action.slug}/signatures.csv",
                        {"since": "26.11.2026", "country": "Narnia", "opted_in": "maybe",
                         "bom": "1"})
    assert response.status_code == 422
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert "YYYY-MM-DD" in field_error(html, "since")
    assert "two-letter" in field_error(html, "country")
    assert "1 for yes" in field_error(html, "opted_in")
    assert field_error(html, "bom") is None
    page = parse_html(html)
    assert page.find("input", name="since").get("value") == "26.11.2026"
    assert page.find("input", name="bom").get("checked") is not None
    assert db.session.scalars(select(AuditEntry).where(
        AuditEntry.verb == "export.signatures")).first() is None

    for data in ({"bom": "2"}, {"since": "\x00"}, {"country": "é"}, {"since": "9" * 500}):
        assert download(client, f"/console/actions/{action.slug}/signatures.csv", data
                        ).status_code == 422, data


def test_paper_signatures_download_apart(client):
    action = make_action(slug="vigil-action")
    make_confirmed_signature(action, first_name="Online")
    user = organizer_of(client, action)
    paper.upload(action, csv_bytes([["Narges", "Mohammadi", "IR"], ["@Anna", "Weber", "DE"]]),
                 label="Vigil, Berlin", uploaded_by=user)

    online = parse_csv_text(download(client, f"/console/actions/{action.slug}/signatures.csv")
                            .get_data(as_text=True))
    assert [row[0] for row in online[1:]] == ["Online"]

    response = download(client, f"/console/actions/{action.slug}/paper.csv", {"bom": "1"})
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith(
        'attachment; filename="vigil-action-paper-')
    header, *rows = parse_csv_text(response.get_data().decode("utf-8-sig"))
    assert header == ["first_name", "last_name", "country", "batch", "uploaded_at"]
    assert [row[:4] for row in rows] == [["Narges", "Mohammadi", "IR", "Vigil, Berlin"],
                                         ["'@Anna", "Weber", "DE", "Vigil, Berlin"]]
    assert db.session.scalars(select(AuditEntry.verb).where(
        AuditEntry.verb.startswith("export.")).order_by(AuditEntry.id)).all() == [
        "export.signatures", "export.paper"]
    assert download(client, f"/console/actions/{action.slug}/paper.csv", {"bom": "x"}
                    ).status_code == 422


# --- another site can't make the browser download ----------------------------------------

def _no_download(response, status: int) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == status
    assert response.mimetype != "text/csv"
    assert "Content-Disposition" not in response.headers
    assert "victim@example.org" not in response.get_data(as_text=True)


def test_a_cross_site_get_or_a_post_without_csrf_downloads_nothing(client):
    """A link, an image or a form on another site, followed by a logged-in organizer's
    browser (the session cookie is SameSite=Lax: it goes along on a top-level GET)."""
    action = make_action()
    make_confirmed_signature(action, email="victim@example.org")
    paper.upload(action, csv_bytes([["Narges", "Mohammadi", "IR"]]), label="Vigil",
                 uploaded_by=organizer_of(client, action))
    cross_site = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"}
    for name in ("signatures.csv", "paper.csv"):
        url = f"/console/actions/{action.slug}/{name}"
        _no_download(client.get(url, headers=cross_site), 405)
        _no_download(client.get(url), 405)
        _no_download(client.post(url, data={"bom": "1"}, headers=cross_site), 400)
        _no_download(client.post(url, data={"csrf_token": "forged"}), 400)
        # Even with a token (a browser that leaked it), a cross-site request is refused.
        _no_download(download(client, url, headers=cross_site), 403)
        assert download(client, url, headers={"Sec-Fetch-Site": "same-origin"}
                        ).status_code == 200
    assert db.session.scalars(select(AuditEntry.verb).where(
        AuditEntry.verb.startswith("export.")).order_by(AuditEntry.id)).all() == [
        "export.signatures", "export.paper"]

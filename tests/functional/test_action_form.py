"""The admin action form and the draft preview: the slug made from the title, one
target block and "add another", the same options on the new and edit forms, one
admin navigation, date labels and invalid fields marked, a draft previewed as the
public page by its admins and organizers only."""

from __future__ import annotations

import re

import pytest
from flask import Flask

from petitions.extensions import db
from petitions.models import Action, User
from petitions.services.actions import get_action
from tests.account_factories import (  # noqa: F401  - cheap_password_hashing: a fixture
    cheap_password_hashing,
    log_in,
    make_user,
)
from tests.factories import fresh, make_action, parse_html, post_form
from tests.functional.test_admin_console import NEW, action_form, value_of

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")


@pytest.fixture
def admin(app: Flask) -> User:
    return make_user("admin")


@pytest.fixture
def admin_client(client, admin):  # type: ignore[no-untyped-def]
    log_in(client, admin)
    return client


def target_rows(html: str) -> int:
    """The target blocks on the form (not the template "add another" copies)."""
    return len({n for n in names_on(html) if re.fullmatch(r"targets-\d+-name", n)})


def names_on(html: str) -> set[str]:
    return {e.get("name") for e in parse_html(html).find_all() if e.get("name")}


# --- the slug ------------------------------------------------------------------------------

def test_an_empty_slug_is_made_from_the_title(admin_client):
    response = post_form(admin_client, NEW,
                         action_form(slug="", title="Libérez les journalistes !"))
    assert response.status_code == 303, response.get_data(as_text=True)
    assert get_action("liberez-les-journalistes") is not None

    again = post_form(admin_client, NEW, action_form(slug="", title="Libérez les journalistes"))
    assert again.headers["Location"].endswith("/admin/actions/liberez-les-journalistes-2/edit")


def test_a_title_in_another_script_gets_a_slug_by_date(admin_client):
    response = post_form(admin_client, NEW, action_form(slug="", title="آزادی روزنامه‌نگاران"))
    assert response.status_code == 303
    assert re.search(r"/admin/actions/action-\d{8}/edit$", response.headers["Location"])


def test_the_new_form_loads_the_slug_script_from_a_file(admin_client):
    html = admin_client.get(NEW).get_data(as_text=True)
    slug = parse_html(html).find("input", name="slug")
    assert slug.get("data-slug-from") == "title"
    assert "required" not in slug.attrs
    scripts = parse_html(html).find_all("script")
    assert "/static/js/action-form.js" in [s.get("src") for s in scripts]
    assert all(s.get("src") for s in scripts)  # no inline script
    assert admin_client.get("/static/js/action-form.js").status_code == 200


def test_editing_keeps_the_slug_required(admin_client):
    action = make_action(publish=False)
    url = f"/admin/actions/{action.slug}/edit"
    response = post_form(admin_client, url, action_form(slug=""))
    assert response.status_code == 422
    assert fresh(Action, action.id).slug == action.slug


# --- targets and options -------------------------------------------------------------------

def test_the_new_form_has_one_target_block_and_the_same_options_as_editing(admin_client):
    new = admin_client.get(NEW).get_data(as_text=True)
    action = make_action(publish=False)
    edit = admin_client.get(f"/admin/actions/{action.slug}/edit").get_data(as_text=True)
    assert target_rows(new) == 1
    assert target_rows(edit) == len(action.targets)
    fields = {n for n in names_on(new) if not n.startswith("targets-")}
    assert fields == {n for n in names_on(edit) if not n.startswith("targets-")}
    assert {"proof_of_work", "keep_data", "region"} <= names_on(new)


def test_defences_can_be_chosen_when_creating(admin_client):
    response = post_form(admin_client, NEW, action_form(proof_of_work="y", keep_data="y"))
    assert response.status_code == 303
    action = get_action("free-the-journalists")
    assert (action.proof_of_work, action.keep_data) == (True, True)


def test_add_another_target_without_javascript_keeps_the_input(admin_client):
    data = {k: v for k, v in action_form().items() if not k.startswith("targets-")}
    data.update({"targets-0-name": "António Guterres", "targets-0-title": "",
                 "targets-0-organization": "", "targets-0-email": "", "add_target": "1"})
    response = post_form(admin_client, NEW, data)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert target_rows(html) == 2
    assert value_of(html, "targets-0-name") == "António Guterres"
    assert value_of(html, "targets-1-name") == ""
    assert value_of(html, "title") == "Free the journalists"


# --- one navigation, dates, invalid fields ------------------------------------------------

def test_the_admin_navigation_appears_once(admin_client):
    html = admin_client.get("/admin/").get_data(as_text=True)
    page = parse_html(html)
    home_links = [a for a in page.find_all("a") if a.get("href") == "/admin/"]
    assert len(home_links) == 1
    # The admin's sections are inside the console's navigation, not a second one.
    console = page.find("nav", class_="console-nav")
    assert "/admin/terms" in [a.get("href") for a in console.find_all("a")]
    assert [a.get("href") for a in page.find_all("a")].count("/admin/terms") == 1


def test_date_fields_are_date_inputs_whose_labels_give_the_format(admin_client):
    for url, names in ((NEW, ["deadline"]), ("/admin/audit", ["since", "until"])):
        page = parse_html(admin_client.get(url).get_data(as_text=True))
        for name in names:
            field = page.find("input", name=name)
            assert field.get("type") == "date"
            label = page.find("label", for_=field.get("id"))
            assert "YYYY-MM-DD" in label.text


def test_every_invalid_field_is_marked_invalid(admin_client):
    response = post_form(admin_client, NEW, action_form(
        title="", slug="Bad Slug", goal="0", deadline="31.12.2031", language="xx",
        topics=["nonsense"], region="nowhere", **{"targets-0-email": "not an address"}))
    assert response.status_code == 422
    page = parse_html(response.get_data(as_text=True))
    for name in ("title", "slug", "goal", "deadline", "language", "region",
                 "targets-0-email"):
        field = page.find(name=name)
        assert field.get("aria-invalid") == "true", name
        assert page.find(id=field.get("aria-describedby")) is not None, name


def test_the_stylesheet_marks_every_kind_of_invalid_field():
    """Rules that outweigh ".field input[type=…]" (which used to win over the error
    border for all but the select)."""
    with open("petitions/static/css/site.css", encoding="utf-8") as sheet:
        css = sheet.read()
    for kind in ("input", "select", "textarea"):
        assert f'.field.has-error {kind}[aria-invalid="true"]' in css
    assert 'input[type=checkbox][aria-invalid="true"]' in css


# --- the draft preview -----------------------------------------------------------------------

def test_a_draft_is_previewed_by_its_admins_and_organizers_only(app, client, admin):
    organizer = make_user("organizer")
    stranger = make_user("organizer")
    action = make_action(publish=False, organizers=[organizer])
    url = f"/actions/{action.slug}/preview"

    assert client.get(f"/actions/{action.slug}").status_code == 404
    assert client.get(url).status_code in (302, 401)  # to the login page
    log_in(client, stranger)
    assert client.get(url).status_code == 403

    for person in (organizer, admin):
        visitor = app.test_client()
        log_in(visitor, person)
        response = visitor.get(url)
        assert response.status_code == 200
        assert response.headers["X-Robots-Tag"].startswith("noindex")
        assert "no-store" in response.headers["Cache-Control"]
        page = parse_html(response.get_data(as_text=True))
        robots = page.find("meta", name="robots")
        assert robots is not None and "noindex" in robots.get("content")
        assert page.find("p", class_="preview-banner") is not None
        assert action.title in page.find("h1").text
        form = page.find("form", method="post")
        assert "inert" in form.attrs
        assert "disabled" in form.find("button", type="submit").attrs
        assert visitor.post(url, data={}).status_code in (400, 405)


def test_the_edit_page_of_a_draft_links_to_its_preview(admin_client):
    action = make_action(publish=False)
    html = admin_client.get(f"/admin/actions/{action.slug}/edit").get_data(as_text=True)
    assert f"/actions/{action.slug}/preview" in html


def test_the_preview_is_never_kept_by_the_page_cache(app, client, admin, monkeypatch):
    monkeypatch.setitem(app.config, "PUBLIC_CACHE_SECONDS", 60)
    action = make_action(publish=False, title="First title")
    log_in(client, admin)
    assert "First title" in client.get(f"/actions/{action.slug}/preview").get_data(
        as_text=True)
    action.title = "Second title"
    db.session.commit()
    again = client.get(f"/actions/{action.slug}/preview").get_data(as_text=True)
    assert "Second title" in again
    assert app.test_client().get(f"/actions/{action.slug}").status_code == 404

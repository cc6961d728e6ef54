"""The admin console through the test client: launching actions, users, tokens, the log."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from petitions.extensions import db
from petitions.models import Action, ActionStatus, ApiToken, AuditEntry, Role, User, utcnow
from petitions.services import accounts, audit
from petitions.services.actions import TargetInput, get_action
from tests.account_factories import (  # noqa: F401  - cheap_password_hashing: a fixture
    PASSWORD,
    cheap_password_hashing,
    log_in,
    make_user,
)
from tests.factories import (
    csrf_token,
    field_error,
    fresh,
    make_action,
    make_signature,
    parse_html,
    post_form,
)

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")

NEW = "/admin/actions/new"


@pytest.fixture
def admin(app: Flask) -> User:
    return make_user("admin", email="ada@staff.example", name="Ada Admin")


@pytest.fixture
def organizer(app: Flask) -> User:
    return make_user("organizer", email="omar@staff.example", name="Omar Organizer")


@pytest.fixture
def admin_client(client: FlaskClient, admin: User) -> FlaskClient:
    log_in(client, admin)
    return client


def action_form(**overrides: Any) -> dict[str, Any]:
    """What a browser posts from the action form: two targets, three empty rows."""
    values: dict[str, Any] = {
        "title": "Free the journalists",
        "slug": "free-the-journalists",
        "summary": "Three reporters are held without charge.",
        "body": "They were arrested for **reporting**.",
        "demands": "Release them.\n\nDrop the charges.",
        "goal": "5000",
        "deadline": "2031-06-30",
        "language": "fr",
        "targets-0-name": "António Guterres",
        "targets-0-title": "Secretary-General",
        "targets-0-organization": "United Nations",
        "targets-0-email": "sg@un.example",
        "targets-1-name": "Kaja Kallas",
        "targets-1-title": "High Representative for Foreign Affairs",
        "targets-1-organization": "European Union",
        "targets-1-email": "",
    }
    for row in range(2, 5):
        for part in ("name", "title", "organization", "email"):
            values[f"targets-{row}-{part}"] = ""
    values.update(overrides)
    return {"save": "1", **values}


def draft(**overrides: Any) -> Action:
    return make_action(publish=False, **overrides)


def entries(verb: str) -> list[AuditEntry]:
    return audit.entries(audit.AuditFilter(verb=verb))


def value_of(html: str, name: str) -> str | None:
    """The value a field shows (a textarea's with its white space collapsed)."""
    element = next(e for e in parse_html(html).find_all() if e.get("name") == name)
    return element.text if element.tag == "textarea" else element.get("value")


def count_actions() -> int:
    return db.session.scalar(select(func.count(Action.id)))


# --- launching and editing actions -------------------------------------------------------

def test_admin_creates_an_action_with_two_targets_and_an_organizer(admin_client, admin,
                                                                   organizer):
    page = admin_client.get(NEW)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    # One target block to fill, no empty ones, and the block "add another" copies.
    assert value_of(html, "targets-0-name") == ""
    assert not any(e.get("name") == "targets-1-name" for e in parse_html(html).find_all())
    template = parse_html(html).find("template", id="target-template")
    assert template is not None
    assert template.find("input", name="targets-__index__-name") is not None
    assert "Omar Organizer &lt;omar@staff.example&gt;" in html  # decrypted for the admin

    response = post_form(admin_client, NEW, action_form(organizers=[str(organizer.id)]))

    assert response.status_code == 303
    assert response.headers["Location"].endswith("/admin/actions/free-the-journalists/edit")
    action = get_action("free-the-journalists")
    assert action is not None
    assert action.status == ActionStatus.DRAFT
    assert [(t.name, t.title, t.organization, t.email) for t in action.targets] == [
        ("António Guterres", "Secretary-General", "United Nations", "sg@un.example"),
        ("Kaja Kallas", "High Representative for Foreign Affairs", "European Union", ""),
    ]
    assert [u.id for u in action.organizers] == [organizer.id]
    assert action.demand_list == ["Release them.", "Drop the charges."]
    assert (action.goal, action.deadline, action.language) == (5000, date(2031, 6, 30), "fr")
    [created] = entries("action.create")
    assert (created.actor_id, created.via, created.object_id) == (admin.id, "web",
                                                                   str(action.id))


def test_admin_edits_an_action(admin_client, admin, organizer):
    action = draft(organizers=[organizer],
                   targets=[TargetInput("António Guterres", "Secretary-General"),
                            TargetInput("Kaja Kallas", "High Representative")])
    url = f"/admin/actions/{action.slug}/edit"
    html = admin_client.get(url).get_data(as_text=True)
    assert value_of(html, "title") == action.title
    assert value_of(html, "targets-1-name") == "Kaja Kallas"
    checkbox = parse_html(html).find("input", name="organizers", value=str(organizer.id))
    assert checkbox is not None and "checked" in checkbox.attrs

    response = post_form(admin_client, url, action_form(
        slug=action.slug, title="Free the three journalists",
        **{"targets-1-name": "", "targets-1-title": "", "targets-1-organization": ""}))

    assert response.status_code == 303
    action = fresh(Action, action.id)
    assert action.title == "Free the three journalists"
    assert [t.name for t in action.targets] == ["António Guterres"]
    assert action.organizers == []  # every box unticked
    [update] = entries("action.update")
    assert update.actor_id == admin.id
    assert update.before["title"].startswith("Protect the residents")
    assert update.after["title"] == "Free the three journalists"


def test_add_another_target_shows_one_more_row_and_keeps_the_input(admin_client):
    response = post_form(admin_client, NEW, {**action_form(), "add_target": "1"})

    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert value_of(html, "targets-5-name") == ""
    assert value_of(html, "targets-1-name") == "Kaja Kallas"
    assert value_of(html, "title") == "Free the journalists"
    assert get_action("free-the-journalists") is None


MALICIOUS = ("Read **this**. [safe](https://example.org/report)\n\n"
             "<script>alert('x')</script>\n\n[click](javascript:alert(1))\n\n"
             '<a href="javascript:alert(2)">raw link</a> <img src=x onerror=alert(3)>')


def assert_harmless(fragment) -> None:  # type: ignore[no-untyped-def]
    assert fragment.find_all("script") == []
    assert fragment.find_all("img") == []
    links = fragment.find_all("a")
    assert [a.get("href") for a in links] == ["https://example.org/report"]
    assert "noopener" in (links[0].get("rel") or "")
    assert fragment.find("strong").text == "this"


def test_the_preview_endpoint_returns_sanitized_html(admin_client):
    token = csrf_token(admin_client, NEW)
    response = admin_client.post("/admin/preview", data={"body": MALICIOUS, "csrf_token": token})

    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert_harmless(parse_html(response.get_data(as_text=True)))
    too_long = admin_client.post("/admin/preview", data={"body": "x" * 100_001,
                                                         "csrf_token": token})
    assert too_long.status_code == 422


def test_the_preview_endpoint_needs_the_csrf_token(admin_client):
    response = admin_client.post("/admin/preview", data={"body": "**hi**"})
    assert response.status_code == 400


def test_the_preview_button_rerenders_the_form_with_the_preview(admin_client):
    response = post_form(admin_client, NEW, {**action_form(body=MALICIOUS), "preview": "1"})

    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert_harmless(parse_html(html).find(id="body-preview"))
    assert value_of(html, "body") == " ".join(MALICIOUS.split())  # kept, to edit on
    assert "Nothing is saved yet" in parse_html(html).find("p", role="status").text
    assert get_action("free-the-journalists") is None


def test_bad_input_is_refused_next_to_each_field_and_kept(admin_client):
    response = post_form(admin_client, NEW, action_form(
        title="", slug="Not A Slug", goal="0", deadline="30/06/2031",
        **{"targets-0-name": "", "targets-1-email": "not-an-address"}))

    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "title" in field_error(html, "title")
    assert "lower-case" in field_error(html, "slug")
    assert "at least 1" in field_error(html, "goal")
    assert "date" in field_error(html, "deadline")
    assert "name" in field_error(html, "targets-0-name")
    assert "valid email" in field_error(html, "targets-1-email")
    assert field_error(html, "summary") is None
    assert value_of(html, "slug") == "Not A Slug"
    assert value_of(html, "targets-0-title") == "Secretary-General"
    assert value_of(html, "summary") == "Three reporters are held without charge."
    assert count_actions() == 0


def test_an_action_without_targets_is_refused_at_the_targets(admin_client):
    blank = {f"targets-{row}-{part}": "" for row in range(2)
             for part in ("name", "title", "organization", "email")}
    response = post_form(admin_client, NEW, action_form(**blank))

    assert response.status_code == 422
    page = parse_html(response.get_data(as_text=True))
    fieldset = page.find("fieldset", **{"aria-describedby": "targets-error"})
    assert fieldset is not None
    assert "at least one target" in page.find(id="targets-error").text


def test_a_taken_slug_is_an_error_on_the_slug(admin_client):
    make_action(slug="taken")
    other = draft(slug="other")

    created = post_form(admin_client, NEW, action_form(slug="taken"))
    edited = post_form(admin_client, "/admin/actions/other/edit", action_form(slug="taken"))

    for response in (created, edited):
        assert response.status_code == 422
        html = response.get_data(as_text=True)
        assert "taken" in field_error(html, "slug")
        assert value_of(html, "title") == "Free the journalists"
    assert fresh(Action, other.id).slug == "other"


def test_cloning_starts_a_draft_and_opens_its_edit_page(admin_client, admin, organizer):
    source = make_action(slug="original", organizers=[organizer],
                         targets=[TargetInput("António Guterres"), TargetInput("Kaja Kallas")])
    url = "/admin/actions/original/clone"
    assert value_of(admin_client.get(url).get_data(as_text=True), "slug") == "original-copy"

    taken = post_form(admin_client, url, {"slug": "original"})
    assert taken.status_code == 422
    assert "taken" in field_error(taken.get_data(as_text=True), "slug")

    response = post_form(admin_client, url, {"slug": "second-appeal"})
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/admin/actions/second-appeal/edit")
    clone = get_action("second-appeal")
    assert clone.status == ActionStatus.DRAFT
    assert clone.title == source.title
    assert [t.name for t in clone.targets] == ["António Guterres", "Kaja Kallas"]
    assert [u.id for u in clone.organizers] == [organizer.id]
    assert admin_client.get(response.headers["Location"]).status_code == 200
    assert [e.object_id for e in entries("action.create") if e.actor_id == admin.id] == [
        str(clone.id)]


def step(client: FlaskClient, action: Action, status: str, question: str) -> None:
    """Ask for a lifecycle step, check the confirmation page, confirm."""
    url = f"/admin/actions/{action.slug}/status/{status}"
    before = fresh(Action, action.id).status
    page = client.get(url)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f"Are you sure you want to {question}?" in html
    assert parse_html(html).find("form", class_="confirm") is not None
    assert fresh(Action, action.id).status == before  # asking changes nothing

    response = post_form(client, url, {})
    assert response.status_code == 303
    assert fresh(Action, action.id).status == ActionStatus(status)


def test_an_action_walks_its_lifecycle_with_confirmations_and_steps_back(admin_client,
                                                                        admin):
    action = draft()
    step(admin_client, action, "published", "publish")
    step(admin_client, action, "closed", "close")
    step(admin_client, action, "published", "reopen")
    step(admin_client, action, "closed", "close")
    step(admin_client, action, "delivered", "mark as delivered")
    step(admin_client, action, "closed", "undo the delivery")
    step(admin_client, action, "delivered", "mark as delivered")
    step(admin_client, action, "archived", "archive")
    step(admin_client, action, "closed", "unarchive")

    statuses = [e.after["status"] for e in reversed(entries("action.update"))]
    assert statuses == ["published", "closed", "published", "closed", "delivered", "closed",
                        "delivered", "archived", "closed"]
    assert all(e.actor_id == admin.id and e.via == "web" for e in entries("action.update"))


def test_a_step_the_lifecycle_forbids_is_refused(admin_client):
    action = make_action()  # published
    make_signature(action)
    url = f"/admin/actions/{action.slug}/status/draft"

    for response in (admin_client.get(url), post_form(admin_client, url, {})):
        assert response.status_code == 409
        assert parse_html(response.get_data(as_text=True)).find("form", class_="confirm") is None
    assert admin_client.get(f"/admin/actions/{action.slug}/status/delivered").status_code == 409
    assert admin_client.get(f"/admin/actions/{action.slug}/status/gone").status_code == 404
    assert fresh(Action, action.id).status == ActionStatus.PUBLISHED


def test_the_admin_home_lists_every_action_with_its_counts(admin_client):
    published = make_action(title="Stop the executions")
    draft(title="Protect the river defenders")
    make_signature(published)

    page = parse_html(admin_client.get("/admin/").get_data(as_text=True))

    rows = {row.find("th").find("a").text: [td.text for td in row.find_all("td")]
            for row in page.find("tbody").find_all("tr")}
    assert rows["Stop the executions"][:4] == ["published", "0", "1", "0"]
    assert rows["Protect the river defenders"][:4] == ["draft", "0", "0", "0"]
    links = {a.get("href") for a in page.find_all("a")}
    assert {"/admin/actions/new", "/admin/users", "/admin/tokens", "/admin/audit"} <= links


# --- users -------------------------------------------------------------------------------

def test_an_admin_creates_a_user_who_can_then_log_in(admin_client, app):
    response = post_form(admin_client, "/admin/users/new", {
        "email": "Nadia@Example.org", "name": "Nadia", "role": "organizer",
        "password": "a sufficiently long one", "repeat": "a sufficiently long one"})

    assert response.status_code == 303
    user = accounts.find_user("nadia@example.org")
    assert (user.name, user.role, user.active) == ("Nadia", Role.ORGANIZER, True)
    listing = admin_client.get("/admin/users").get_data(as_text=True)
    assert "Nadia@example.org" in listing  # as typed; found whatever the case
    log_in(app.test_client(), user, "a sufficiently long one")


def test_creating_a_user_refuses_a_short_password_and_a_known_address(admin_client, admin):
    short = post_form(admin_client, "/admin/users/new", {
        "email": "new@example.org", "role": "organizer", "password": "too short",
        "repeat": "too short"})
    known = post_form(admin_client, "/admin/users/new", {
        "email": admin.email, "role": "admin", "password": "long enough password",
        "repeat": "long enough password"})

    assert short.status_code == 422
    assert "12 characters" in field_error(short.get_data(as_text=True), "password")
    assert value_of(short.get_data(as_text=True), "email") == "new@example.org"
    assert known.status_code == 422
    assert "exists already" in field_error(known.get_data(as_text=True), "email")
    assert len(accounts.list_users()) == 1


def test_role_change_and_deactivation(admin_client, app, organizer):
    url = f"/admin/users/{organizer.id}"
    other = app.test_client()
    log_in(other, organizer)

    promoted = post_form(admin_client, url, {"name": "Omar Organizer", "role": "admin",
                                             "active": "y"})
    assert promoted.status_code == 303
    assert fresh(User, organizer.id).role == Role.ADMIN

    deactivated = post_form(admin_client, url, {"name": "Omar", "role": "admin"})
    assert deactivated.status_code == 303
    assert fresh(User, organizer.id).active is False
    assert other.get("/console/").status_code == 302  # the open session ended
    stranger = app.test_client()
    refused = post_form(stranger, "/login", {"email": organizer.email, "password": PASSWORD})
    assert refused.status_code in (401, 422)  # the form again, with the login error
    assert stranger.get("/console/").status_code == 302

    post_form(admin_client, url, {"name": "Omar", "role": "organizer", "active": "y"})
    log_in(app.test_client(), fresh(User, organizer.id))
    verbs = [(e.before, e.after) for e in reversed(entries("user.update"))]
    assert verbs[0] == ({"role": "organizer"}, {"role": "admin"})
    # A new name is recorded as a change, without the names themselves.
    assert verbs[1] == ({"active": True, "name": "(previous)"},
                        {"active": False, "name": "(changed)"})


def test_an_admin_cannot_demote_or_deactivate_themselves(admin_client, admin):
    url = f"/admin/users/{admin.id}"

    demoted = post_form(admin_client, url, {"name": "Ada", "role": "organizer", "active": "y"})
    deactivated = post_form(admin_client, url, {"name": "Ada", "role": "admin"})

    assert demoted.status_code == 422
    assert "your own role" in field_error(demoted.get_data(as_text=True), "role")
    assert deactivated.status_code == 422
    assert "deactivate yourself" in field_error(deactivated.get_data(as_text=True), "active")
    user = fresh(User, admin.id)
    assert (user.role, user.active, user.name) == (Role.ADMIN, True, "Ada Admin")


# --- API tokens --------------------------------------------------------------------------

def test_tokens_are_created_shown_once_listed_and_revoked(admin_client, admin):
    action = make_action(slug="exported")
    response = post_form(admin_client, "/admin/tokens", {
        "user": str(admin.id), "name": "Reporting script", "scopes": ["read", "export"],
        "expires_days": "30"})

    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    token = parse_html(response.get_data(as_text=True)).find(id="new-token").get("value")
    assert token.startswith(accounts.TOKEN_PREFIX)
    csv_url = f"/api/v1/actions/{action.slug}/signatures.csv"
    assert admin_client.get(csv_url, headers={"Authorization": f"Bearer {token}"}
                            ).status_code == 200

    # Without the write scope it changes nothing.
    assert admin_client.patch(f"/api/v1/actions/{action.slug}", json={"goal": 9},
                              headers={"Authorization": f"Bearer {token}"}).status_code == 403

    listing = admin_client.get("/admin/tokens").get_data(as_text=True)
    assert token[:10] in listing and token not in listing
    assert "Reporting script" in listing and "Ada Admin" in listing

    [record] = accounts.list_tokens()
    assert record.scopes == "read export" and "read export" in listing
    assert timedelta(days=29) < record.expires_at - utcnow() <= timedelta(days=30)
    assert record.expires_at.strftime("%Y-%m-%d %H:%M UTC") in listing
    url = f"/admin/tokens/{record.id}/revoke"
    assert "Are you sure you want to revoke" in admin_client.get(url).get_data(as_text=True)
    assert post_form(admin_client, url, {}).status_code == 303

    assert fresh(ApiToken, record.id).revoked_at is not None
    assert accounts.user_for_token(token) is None
    assert admin_client.get(csv_url, headers={"Authorization": f"Bearer {token}"}
                            ).status_code == 401
    assert admin_client.get(url).status_code == 409  # nothing left to revoke
    assert [e.verb for e in reversed(entries("token."))] == ["token.create", "token.revoke"]


def test_a_token_needs_an_owner_a_name_a_scope_and_a_lifetime(admin_client):
    response = post_form(admin_client, "/admin/tokens", {"user": "999999", "name": "",
                                                         "expires_days": "0"})

    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert field_error(html, "user") is not None
    assert field_error(html, "name") is not None
    assert field_error(html, "expires_days") == "From 1 to 3650 days."
    page = parse_html(html)
    assert page.find(id="scopes-error").text == "Please choose at least one scope."
    assert page.find("input", name="expires_days").get("value") == "0"
    assert accounts.list_tokens() == []


def test_the_token_form_offers_the_default_lifetime_and_read_only(admin_client, app,
                                                                   monkeypatch):
    monkeypatch.setitem(app.config, "API_TOKEN_DAYS", 45)
    page = parse_html(admin_client.get("/admin/tokens").get_data(as_text=True))
    assert page.find("input", name="expires_days").get("value") == "45"
    checked = [i.get("value") for i in page.find_all("input", name="scopes")
               if i.get("checked") is not None]
    assert checked == ["read"]


# --- the audit log -----------------------------------------------------------------------

def audit_rows(client: FlaskClient, query: str = "") -> list[list[str]]:
    response = client.get("/admin/audit" + query)
    assert response.status_code == 200
    body = parse_html(response.get_data(as_text=True)).find("tbody")
    if body is None:
        return []
    return [[cell.text for cell in row.children] for row in body.find_all("tr")]


def test_the_audit_log_shows_changes_readably_and_filters_them(admin_client, admin,
                                                               organizer):
    post_form(admin_client, NEW, action_form())
    action = get_action("free-the-journalists")
    post_form(admin_client, f"/admin/actions/{action.slug}/edit",
              action_form(title="Free the three journalists"))
    post_form(admin_client, f"/admin/users/{organizer.id}",
              {"name": "Omar", "role": "organizer", "active": "y"})

    rows = audit_rows(admin_client)
    # The admin enrolled in two-factor login at their first login (tests/account_factories).
    assert [r[2] for r in rows] == ["user.update", "action.update", "action.create",
                                    "user.create", "user.two_factor.enrol", "user.create"]
    assert rows[1][1] == "Ada Admin <ada@staff.example> (web)"
    assert rows[1][3] == f"action #{action.id}"
    assert ("title: Free the journalists → Free the three journalists") in rows[1][4]
    assert "goal: — → 5000" in rows[2][4]
    assert ("targets: — → António Guterres, Secretary-General, United Nations, sg@un.example; "
            "Kaja Kallas, High Representative for Foreign Affairs, European Union") in rows[2][4]
    assert "deadline" not in rows[1][4]  # unchanged fields are left out

    assert [r[2] for r in audit_rows(admin_client, "?verb=action.")] == [
        "action.update", "action.create"]
    assert [r[2] for r in audit_rows(admin_client, f"?actor={admin.id}&object_type=user")] == [
        "user.update", "user.two_factor.enrol"]
    assert [r[2] for r in audit_rows(
        admin_client, f"?object_type=action&object_id={action.id}&verb=action.update")] == [
        "action.update"]
    today = date.today()
    assert len(audit_rows(admin_client, f"?since={today - timedelta(days=1)}"
                                        f"&until={today + timedelta(days=1)}")) == 6
    assert audit_rows(admin_client, f"?since={today + timedelta(days=2)}") == []


def test_bad_audit_filters_are_shown_next_to_the_fields(admin_client):
    response = admin_client.get("/admin/audit?since=2030-01-02&until=2030-01-01&actor=nobody")

    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "before the start" in field_error(html, "until")
    assert field_error(html, "actor") is not None
    assert value_of(html, "since") == "2030-01-02"


def test_the_audit_log_is_paginated(admin_client, admin):
    for number in range(53):
        audit.record("test.entry", "thing", number, actor=admin, via="cli")
    db.session.commit()

    first = admin_client.get("/admin/audit?verb=test.").get_data(as_text=True)
    assert len(parse_html(first).find("tbody").find_all("tr")) == 50
    older = parse_html(first).find("a", rel="next").get("href")
    assert "verb=test." in older and "page=2" in older

    second = parse_html(admin_client.get(older).get_data(as_text=True))
    assert [r.find_all("td")[2].text for r in second.find("tbody").find_all("tr")] == [
        "thing #2", "thing #1", "thing #0"]
    assert second.find("a", rel="next") is None
    assert second.find("a", rel="prev") is not None


# --- who may enter -----------------------------------------------------------------------

def admin_urls(app: Flask, action: Action, user: User) -> list[tuple[str, str]]:
    values = {"slug": action.slug, "status": "published", "user_id": user.id, "token_id": 1,
              "suppression_id": 1, "rule_id": 1, "term_id": 1}
    urls = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("admin."):
            continue
        path = rule.build({k: values[k] for k in rule.arguments})[1]
        urls += [(method, path) for method in sorted(rule.methods & {"GET", "POST"})]
    return urls


def test_organizers_get_403_on_every_admin_page(client, app, organizer):
    action = draft(organizers=[organizer])
    log_in(client, organizer)
    token = csrf_token(client, "/console/")

    urls = admin_urls(app, action, organizer)
    assert len(urls) >= 20
    for method, path in urls:
        response = client.open(path, method=method, data={"csrf_token": token})
        assert response.status_code == 403, (method, path)
    assert fresh(Action, action.id).status == ActionStatus.DRAFT


def test_anonymous_visitors_are_sent_to_the_login_page(client, app, organizer):
    action = draft()
    token = csrf_token(client, "/login")
    for method, path in admin_urls(app, action, organizer):
        response = client.open(path, method=method, data={"csrf_token": token})
        assert response.status_code == 302, (method, path)
        assert response.headers["Location"].startswith("/login?next="), (method, path)


def test_admin_forms_need_the_csrf_token(admin_client):
    response = admin_client.post(NEW, data=action_form())
    assert response.status_code == 400
    assert count_actions() == 0

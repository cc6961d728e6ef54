"""The API's writing routes and export, with token auth: who may do what, what bad
input answers, and that every change lands in the audit log as made via the API."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import date

import pytest
from sqlalchemy import func, select

from petitions.api.openapi import SPEC
from petitions.countries import CODES
from petitions.extensions import db
from petitions.models import Action, ActionStatus, AuditEntry
from petitions.services import accounts, counting
from petitions.services.exports import SIGNATURE_COLUMNS
from tests.api_factories import (
    action_body,
    bearer,
    make_staff,
    make_token,
    openapi_path,
    public_operations,
    staff_headers,
)
from tests.factories import fresh, make_action, make_confirmed_signature

# --- helpers -----------------------------------------------------------------------------


def error_of(response, status: int) -> dict:
    """The ``error`` object of a JSON error answer, after checking its status."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    error = response.json["error"]
    assert error["status"] == status
    assert error["message"]
    return error


def assert_unauthorized(response) -> None:
    error_of(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def audit_entries(verb: str) -> list[AuditEntry]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.verb == verb)
                                   .order_by(AuditEntry.id)))


def action_count() -> int:
    return db.session.scalar(select(func.count(Action.id)))


@pytest.fixture
def admin(app):
    return make_staff("admin")


@pytest.fixture
def admin_headers(admin):
    return bearer(make_token(admin))


# --- POST /api/v1/actions ----------------------------------------------------------------


def test_an_admin_creates_a_draft_with_targets_and_organizers(client, admin, admin_headers):
    organizer = make_staff("organizer", "Lina@Staff.example")
    body = action_body(organizers=["lina@staff.example"])

    response = client.post("/api/v1/actions", json=body, headers=admin_headers)

    assert response.status_code == 201, response.json
    assert response.headers["Location"] == f"http://localhost/api/v1/actions/{body['slug']}"
    data = response.json
    assert data["slug"] == body["slug"] and data["status"] == "draft"
    assert data["targets"] == body["targets"]  # with the email, for staff
    assert data["organizers"] == [organizer.email]  # found case-insensitively
    assert data["deadline"] == "2031-01-15" and data["goal"] == 5000
    assert data["demands"] == body["demands"] and data["body"] == body["body"]
    assert data["signature_count"] == 0

    action = db.session.scalar(select(Action).where(Action.slug == body["slug"]))
    assert action.status == ActionStatus.DRAFT and action.deadline == date(2031, 1, 15)
    assert [u.id for u in action.organizers] == [organizer.id]
    [entry] = audit_entries("action.create")
    assert (entry.via, entry.actor_id, entry.object_id) == ("api", admin.id, str(action.id))
    # A draft is not public.
    assert client.get(f"/api/v1/actions/{body['slug']}").status_code == 404


def test_only_the_required_fields_are_needed(client, admin_headers):
    body = {"slug": "minimal", "title": "Minimal", "targets": [{"name": "The Mayor"}],
            "goal": 10}
    response = client.post("/api/v1/actions", json=body, headers=admin_headers)
    assert response.status_code == 201
    assert response.json["targets"] == [{"name": "The Mayor", "title": "",
                                         "organization": "", "email": ""}]
    assert response.json["language"] == "en" and response.json["deadline"] is None


def test_a_published_action_is_public_without_the_targets_emails(client, admin_headers):
    body = action_body(status="published")
    assert client.post("/api/v1/actions", json=body, headers=admin_headers).status_code == 201

    for headers in ({}, admin_headers):  # a token does not change the public answer
        public = client.get(f"/api/v1/actions/{body['slug']}", headers=headers)
        assert public.status_code == 200 and public.json["status"] == "published"
        assert public.json["targets"] == [{"name": "Minister of Justice", "title": "Minister",
                                           "organization": "Ministry of Justice"}]
        assert "minister@gov.example" not in public.get_data(as_text=True)
        assert "organizers" not in public.json and "body" not in public.json
    listed = client.get("/api/v1/actions").get_data(as_text=True)
    assert body["slug"] in listed and "minister@gov.example" not in listed


def test_missing_required_fields_are_named(client, admin_headers):
    error = error_of(client.post("/api/v1/actions", json={}, headers=admin_headers), 422)
    assert set(error["fields"]) == {"slug", "title", "targets", "goal"}
    assert action_count() == 0


@pytest.mark.parametrize(("field", "value"), [
    ("slug", 7),
    ("title", ["a list"]),
    ("summary", None),
    ("body", {"text": "x"}),
    ("demands", "one demand"),
    ("demands", ["ok", 3]),
    ("goal", "100"),
    ("goal", True),
    ("goal", 1.5),
    ("deadline", "15/01/2031"),
    ("deadline", "2031-02-30"),
    ("deadline", "20310115"),
    ("deadline", 20310115),
    ("language", "xx"),
    ("status", "closed"),
    ("status", "published "),
    ("targets", "The Minister"),
    ("targets", [{"title": "a target without a name"}]),
    ("targets", [{"name": "Minister", "phone": "+1 555"}]),
    ("targets", [{"name": "Minister", "email": None}]),
    ("targets", ["Minister"]),
    ("organizers", "lina@staff.example"),
    ("organizers", [42]),
])
def test_values_of_the_wrong_type_are_field_errors(client, admin_headers, field, value):
    response = client.post("/api/v1/actions", json=action_body(**{field: value}),
                           headers=admin_headers)
    error = error_of(response, 422)
    assert list(error["fields"]) == [field]
    assert action_count() == 0


@pytest.mark.parametrize(("field", "value"), [
    ("slug", "Not A Slug"),
    ("slug", "x" * 81),
    ("title", "   "),
    ("title", "t" * 201),
    ("summary", "s" * 501),
    ("goal", 0),
    ("targets", []),
    ("targets", [{"name": "  "}]),
    ("targets", [{"name": "Minister", "email": "not an address"}]),
    ("targets", [{"name": "Minister", "email": ""}]),
    ("demands", ["Release them.", "Drop\x00 the charges."]),
])
def test_the_services_rules_are_field_errors(client, admin_headers, field, value):
    response = client.post("/api/v1/actions", json=action_body(**{field: value}),
                           headers=admin_headers)
    assert list(error_of(response, 422)["fields"]) == [field]
    assert action_count() == 0


def test_unknown_fields_are_refused(client, admin_headers):
    response = client.post("/api/v1/actions", json=action_body(colour="red", ids=[1]),
                           headers=admin_headers)
    assert error_of(response, 422)["fields"] == {"colour": "Unknown field.",
                                                 "ids": "Unknown field."}
    assert action_count() == 0


def test_organizers_must_be_active_organizer_accounts(client, admin_headers):
    make_staff("organizer", "ok@staff.example")
    make_staff("admin", "boss@staff.example")
    gone = make_staff("organizer", "gone@staff.example")
    accounts.update_user(gone, actor=None, active=False, via="cli")

    for addresses, number in ((["ok@staff.example", "nobody@staff.example"], 2),
                              (["boss@staff.example"], 1),
                              (["gone@staff.example"], 1),
                              (["not an address"], 1)):
        response = client.post("/api/v1/actions", json=action_body(organizers=addresses),
                               headers=admin_headers)
        message = error_of(response, 422)["fields"]["organizers"]
        assert f"Address {number} " in message
        assert "@" not in message  # the answer does not repeat anyone's address
    assert action_count() == 0


def test_a_taken_slug_is_a_conflict(client, admin_headers):
    make_action(slug="taken")
    response = client.post("/api/v1/actions", json=action_body(slug="taken"),
                           headers=admin_headers)
    assert set(error_of(response, 409)["fields"]) == {"slug"}
    assert action_count() == 1


@pytest.mark.parametrize("data", [
    b"{not json",
    b'{"slug": "a",}',
    b"",
    b"\xff\xfe\xfa",
    b"[" * 100_000 + b"]" * 100_000,
    b"[1, 2]",
    b'"a string"',
    b"null",
    b"12",
])
def test_a_body_that_is_not_a_json_object_is_a_bad_request(client, admin_headers, data):
    response = client.post("/api/v1/actions", data=data, content_type="application/json",
                           headers=admin_headers)
    error_of(response, 400)
    assert action_count() == 0


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x"])
def test_a_body_that_is_not_sent_as_json_is_unsupported(client, admin_headers, content_type):
    response = client.post("/api/v1/actions", data=b'{"slug": "x"}',
                           headers={**admin_headers,
                                    **({"Content-Type": content_type} if content_type else {})})
    error_of(response, 415)


def test_json_with_a_charset_is_accepted(client, admin_headers):
    response = client.post("/api/v1/actions", data=json.dumps(action_body()).encode(),
                           content_type="application/json; charset=utf-8",
                           headers=admin_headers)
    assert response.status_code == 201


def test_an_organizer_may_not_create_actions(client):
    response = client.post("/api/v1/actions", json=action_body(),
                           headers=staff_headers("organizer"))
    error_of(response, 403)
    assert action_count() == 0


# --- PATCH /api/v1/actions/<slug> --------------------------------------------------------


def test_an_admin_changes_any_field_including_organizers(client, admin, admin_headers):
    action = make_action(deadline=date(2030, 5, 1))
    first, second = make_staff("organizer"), make_staff("organizer")
    action.organizers.append(first)
    db.session.commit()

    response = client.patch(f"/api/v1/actions/{action.slug}", headers=admin_headers, json={
        "title": "A new title", "deadline": None, "organizers": [second.email],
        "targets": [{"name": "The Ombudsman", "email": "ombud@gov.example"}]})

    assert response.status_code == 200, response.json
    assert response.json["title"] == "A new title" and response.json["deadline"] is None
    assert response.json["organizers"] == [second.email]
    assert response.json["targets"][0]["email"] == "ombud@gov.example"
    changed = fresh(Action, action.id)
    assert changed.title == "A new title" and changed.deadline is None
    assert [u.id for u in changed.organizers] == [second.id]
    [entry] = audit_entries("action.update")
    assert (entry.via, entry.actor_id) == ("api", admin.id)
    assert entry.before["title"] != entry.after["title"] == "A new title"
    assert entry.before["organizers"] == [first.id] and entry.after["organizers"] == [second.id]


def test_an_assigned_organizer_changes_texts_and_status(client):
    action = make_action()
    organizer = make_staff("organizer")
    action.organizers.append(organizer)
    db.session.commit()

    response = client.patch(f"/api/v1/actions/{action.slug}",
                            headers=bearer(make_token(organizer)),
                            json={"summary": "Updated summary", "status": "closed"})

    assert response.status_code == 200, response.json
    assert response.json["status"] == "closed"
    assert response.json["targets"][0]["email"] == "sg@un.example"
    assert "organizers" not in response.json  # organizers' addresses are for admins
    changed = fresh(Action, action.id)
    assert changed.status == ActionStatus.CLOSED and changed.summary == "Updated summary"
    [entry] = audit_entries("action.update")
    assert (entry.via, entry.actor_id) == ("api", organizer.id)
    assert entry.after["status"] == "closed"


def test_an_organizer_may_not_change_the_organizers(client):
    action = make_action()
    headers = staff_headers("organizer", action)
    response = client.patch(f"/api/v1/actions/{action.slug}", headers=headers,
                            json={"title": "Sneaky", "organizers": []})
    error_of(response, 403)
    assert fresh(Action, action.id).title != "Sneaky"
    assert len(fresh(Action, action.id).organizers) == 1
    assert audit_entries("action.update") == []


def test_an_organizer_of_another_action_is_forbidden(client):
    action, other = make_action(), make_action()
    response = client.patch(f"/api/v1/actions/{action.slug}",
                            headers=staff_headers("organizer", other), json={"title": "Mine"})
    error_of(response, 403)
    assert fresh(Action, action.id).title != "Mine"


def test_an_unknown_slug_is_not_found(client, admin_headers):
    response = client.patch("/api/v1/actions/no-such-action", headers=admin_headers,
                            json={"title": "x"})
    error_of(response, 404)


def test_an_impossible_transition_is_a_status_error_and_changes_nothing(client, admin_headers):
    action = make_action(publish=False)
    response = client.patch(f"/api/v1/actions/{action.slug}", headers=admin_headers,
                            json={"title": "Changed with it", "status": "delivered"})
    assert list(error_of(response, 422)["fields"]) == ["status"]
    changed = fresh(Action, action.id)
    assert changed.status == ActionStatus.DRAFT and changed.title != "Changed with it"
    assert audit_entries("action.update") == []


def test_an_action_with_signatures_cannot_go_back_to_draft(client, admin_headers):
    action = make_action()
    counting.add(action.id, confirmed=1)
    db.session.commit()
    response = client.patch(f"/api/v1/actions/{action.slug}", headers=admin_headers,
                            json={"title": "Changed with it", "status": "draft"})
    assert "back to draft" in error_of(response, 422)["fields"]["status"]
    unchanged = fresh(Action, action.id)
    assert unchanged.status == ActionStatus.PUBLISHED and unchanged.title != "Changed with it"


def test_renaming_to_a_taken_slug_is_a_conflict(client, admin_headers):
    action, other = make_action(), make_action()
    response = client.patch(f"/api/v1/actions/{action.slug}", headers=admin_headers,
                            json={"slug": other.slug})
    assert set(error_of(response, 409)["fields"]) == {"slug"}


@pytest.mark.parametrize(("body", "field"), [
    ({"goal": -5}, "goal"),
    ({"colour": "red"}, "colour"),
    ({"status": "finished"}, "status"),
    ({"targets": []}, "targets"),
])
def test_bad_changes_are_field_errors(client, admin_headers, body, field):
    action = make_action()
    response = client.patch(f"/api/v1/actions/{action.slug}", headers=admin_headers, json=body)
    assert list(error_of(response, 422)["fields"]) == [field]


def test_an_empty_change_is_refused(client, admin_headers):
    action = make_action()
    response = client.patch(f"/api/v1/actions/{action.slug}", headers=admin_headers, json={})
    error_of(response, 422)
    assert audit_entries("action.update") == []


def test_a_patch_needs_a_json_object(client, admin_headers):
    action = make_action()
    url = f"/api/v1/actions/{action.slug}"
    error_of(client.patch(url, headers=admin_headers, data=b"title=x",
                          content_type="application/x-www-form-urlencoded"), 415)
    error_of(client.patch(url, headers=admin_headers, data=b"{",
                          content_type="application/json"), 400)
    error_of(client.patch(url, headers=admin_headers, json=["title"]), 400)


# --- tokens ------------------------------------------------------------------------------


@pytest.mark.parametrize("header", [
    None,
    "",
    "Bearer",
    "Bearer ",
    "Token pt_abc",
    "Basic YWRtaW46cGFzc3dvcmQ=",
    "Bearer pt_not-a-real-token",
    "Bearer not-even-our-prefix",
    "Bearer pt_" + "x" * 300,
])
def test_without_a_valid_token_writes_are_unauthorized(client, header):
    action = make_action()
    headers = {"Authorization": header} if header is not None else {}
    assert_unauthorized(client.post("/api/v1/actions", json=action_body(), headers=headers))
    assert_unauthorized(client.patch(f"/api/v1/actions/{action.slug}", json={"title": "x"},
                                     headers=headers))
    assert action_count() == 1


def test_a_revoked_token_is_unauthorized(client, admin):
    record, token = accounts.create_token(admin)
    assert client.post("/api/v1/actions", json=action_body(),
                       headers=bearer(token)).status_code == 201
    accounts.revoke_token(record, actor=admin)
    assert_unauthorized(client.post("/api/v1/actions", json=action_body(),
                                    headers=bearer(token)))


def test_the_token_of_a_deactivated_user_is_unauthorized(client, admin):
    organizer = make_staff("organizer")
    action = make_action(organizers=[organizer])
    token = make_token(organizer)
    url = f"/api/v1/actions/{action.slug}"
    assert client.patch(url, json={"title": "Fine"}, headers=bearer(token)).status_code == 200
    accounts.update_user(organizer, actor=admin, active=False)
    assert_unauthorized(client.patch(url, json={"title": "Not fine"}, headers=bearer(token)))
    assert fresh(Action, action.id).title == "Fine"


def test_answers_to_a_token_are_not_cached(client, admin_headers):
    response = client.post("/api/v1/actions", json=action_body(), headers=admin_headers)
    assert response.headers["Cache-Control"] == "no-store"


# --- GET /api/v1/actions/<slug>/signatures.csv -------------------------------------------


def read_csv(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


@pytest.fixture
def signed_action(app):
    action = make_action()
    make_confirmed_signature(action, first_name="Amal", country="FR", updates_opt_in=True)
    make_confirmed_signature(action, first_name="Bo", country="SE", updates_opt_in=False)
    return action


def test_an_assigned_organizer_exports_the_signatures(client, signed_action):
    organizer = make_staff("organizer")
    signed_action.organizers.append(organizer)
    db.session.commit()

    response = client.get(f"/api/v1/actions/{signed_action.slug}/signatures.csv",
                          headers=bearer(make_token(organizer)))

    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert re.fullmatch(rf'attachment; filename="{signed_action.slug}-signatures-'
                        r'\d{4}-\d{2}-\d{2}\.csv"', response.headers["Content-Disposition"])
    assert response.headers["Cache-Control"] == "no-store"
    rows = read_csv(response)
    assert rows[0] == list(SIGNATURE_COLUMNS)
    assert [row[0] for row in rows[1:]] == ["Amal", "Bo"]
    [entry] = audit_entries("export.signatures")
    assert (entry.via, entry.actor_id, entry.object_id) == ("api", organizer.id,
                                                            str(signed_action.id))


def test_an_admin_exports_with_the_consoles_filters(client, admin, admin_headers,
                                                     signed_action):
    response = client.get(f"/api/v1/actions/{signed_action.slug}/signatures.csv"
                          "?country=fr&opted_in=1&bom=1&since=2000-01-01",
                          headers=admin_headers)
    assert response.status_code == 200
    assert response.get_data(as_text=True).startswith("\ufeff")
    rows = read_csv(response)
    assert rows[0][0] == "\ufeff" + SIGNATURE_COLUMNS[0]
    assert [row[0] for row in rows[1:]] == ["Amal"]
    [entry] = audit_entries("export.signatures")
    assert entry.via == "api" and entry.actor_id == admin.id
    assert entry.after == {"since": "2000-01-01", "country": "FR", "opted_in": True,
                           "bom": True}


def test_bad_filters_are_field_errors_and_nothing_is_exported(client, admin_headers,
                                                               signed_action):
    response = client.get(f"/api/v1/actions/{signed_action.slug}/signatures.csv"
                          "?since=yesterday&country=XX&opted_in=maybe&bom=2",
                          headers=admin_headers)
    assert set(error_of(response, 422)["fields"]) == {"since", "country", "opted_in", "bom"}
    assert audit_entries("export.signatures") == []


@pytest.mark.parametrize("query", ["opted_in=", "bom=", "since=", "country=", "country=Fr",
                                   "country=%20fr", "country=ZZ", "opted_in=TRUE",
                                   "bom=%201", "since=2026-01-01%0A"])
def test_the_export_takes_exactly_the_documented_values(client, admin_headers,
                                                        signed_action, query):
    """The console's form sends empty fields for "no filter"; an API client either
    leaves a parameter out or gives a value its schema allows."""
    response = client.get(f"/api/v1/actions/{signed_action.slug}/signatures.csv?{query}",
                          headers=admin_headers)
    assert list(error_of(response, 422)["fields"]) == [query.split("=")[0]]
    assert audit_entries("export.signatures") == []


def test_the_documented_countries_are_the_ones_the_export_takes():
    [country] = [p for p in SPEC["paths"]["/actions/{slug}/signatures.csv"]["get"]["parameters"]
                 if p["name"] == "country"]
    assert set(country["schema"]["enum"]) == CODES | {code.lower() for code in CODES}


def test_the_export_is_refused_to_others(client, signed_action):
    url = f"/api/v1/actions/{signed_action.slug}/signatures.csv"
    other = make_action()
    error_of(client.get(url, headers=staff_headers("organizer", other)), 403)
    assert_unauthorized(client.get(url))
    error_of(client.get("/api/v1/actions/nothing-here/signatures.csv",
                        headers=staff_headers("admin")), 404)
    assert audit_entries("export.signatures") == []


# --- every private route, present and future ---------------------------------------------


def test_the_read_routes_and_the_description_are_public(client):
    assert public_operations() >= {("GET", "/actions"), ("GET", "/actions/{slug}"),
                                   ("GET", "/openapi.json")}


@pytest.mark.parametrize("header", [None, "Bearer pt_not-a-real-token"])
def test_every_private_api_route_needs_a_token(app, client, header):
    action = make_action()
    headers = {"Authorization": header} if header else {}
    public = public_operations()
    checked = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        url = rule.rule.replace("<slug>", action.slug).replace("<int:delivery_id>", "1")
        assert "<" not in url, f"give {rule.rule} a value for each of its variables"
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if (method, openapi_path(rule.rule)) in public:
                continue
            response = client.open(url, method=method, json={}, headers=headers)
            assert_unauthorized(response)
            checked.append((method, rule.rule))
    assert ("POST", "/api/v1/actions") in checked
    assert ("PATCH", "/api/v1/actions/<slug>") in checked
    assert ("GET", "/api/v1/actions/<slug>/signatures.csv") in checked
    assert action_count() == 1

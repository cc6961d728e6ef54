"""Bad input on purpose: markup, SQL, spreadsheet formulas, direction overrides, emoji,
huge and malformed bodies, wrong content types. Each gets a clear answer (stored as
plain text, or a 4xx with a message) and the data stays intact."""

from __future__ import annotations

import csv
import io
import json

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from petitions.extensions import db
from petitions.models import Action, Signature
from petitions.services import confirming
from tests.api_factories import action_body, bearer, make_staff, make_token
from tests.factories import (
    confirmation_token,
    csrf_token,
    form_data,
    make_action,
    post_form,
)

SCRIPT = "<script>alert('x')</script>"
SQL = "Robert'); DROP TABLE signatures;--"
FORMULA = "=HYPERLINK(\"http://evil.example\",\"click\")"


def count() -> int:
    return db.session.scalar(select(func.count()).select_from(Signature)) or 0


def only_signature() -> Signature:
    return db.session.scalars(select(Signature)).one()


@pytest.fixture
def admin_headers(app: Flask) -> dict[str, str]:
    return bearer(make_token(make_staff("admin")))


@pytest.mark.parametrize("name", [SCRIPT, SQL, FORMULA, "Leila 🌍✊🏽", "ليلى"],
                         ids=["script", "sql", "formula", "emoji", "arabic"])
def test_hostile_names_are_kept_as_plain_text(client: FlaskClient, name: str) -> None:
    action = make_action()
    response = post_form(client, f"/actions/{action.slug}",
                         form_data(first_name=name, comment=name))
    assert response.status_code == 303
    signature = only_signature()
    assert signature.first_name == name
    assert signature.comment == name
    assert db.session.scalar(select(func.count()).select_from(Action)) == 1


def test_markup_is_escaped_when_the_form_is_shown_again(client: FlaskClient) -> None:
    action = make_action()
    response = post_form(client, f"/actions/{action.slug}",
                         form_data(first_name=SCRIPT, email="not an address"))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert SCRIPT not in html
    assert "&lt;script&gt;" in html
    assert count() == 0


def test_direction_overrides_and_invisible_characters_are_removed(client: FlaskClient) -> None:
    action = make_action()
    response = post_form(client, f"/actions/{action.slug}",
                         form_data(first_name="\u202eLeila\u200b", last_name="Tes\u2066ter"))
    assert response.status_code == 303
    signature = only_signature()
    assert (signature.first_name, signature.last_name) == ("Leila", "Tester")


def test_formulas_are_inert_in_the_csv_export(client: FlaskClient,
                                              admin_headers: dict[str, str]) -> None:
    action = make_action()
    post_form(client, f"/actions/{action.slug}", form_data(first_name=FORMULA))
    confirming.confirm(confirmation_token(only_signature()))
    response = client.get(f"/api/v1/actions/{action.slug}/signatures.csv",
                          headers=admin_headers)
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    cells = [cell for row in rows[1:] for cell in row]
    assert "'" + FORMULA in cells
    assert FORMULA not in cells


def test_a_ten_megabyte_form_is_refused(client: FlaskClient) -> None:
    action = make_action()
    token = csrf_token(client, f"/actions/{action.slug}")
    response = client.post(f"/actions/{action.slug}",
                           data={**form_data(comment="x" * (10 * 1024 * 1024)),
                                 "csrf_token": token})
    assert response.status_code == 413
    assert response.mimetype == "text/html"
    assert count() == 0


def test_a_ten_megabyte_api_body_is_refused_as_json(client: FlaskClient,
                                                    admin_headers: dict[str, str]) -> None:
    body = json.dumps({**action_body(), "body": "x" * (10 * 1024 * 1024)})
    response = client.post("/api/v1/actions", data=body, headers=admin_headers,
                           content_type="application/json")
    assert response.status_code == 413
    assert response.get_json()["error"]["status"] == 413
    assert db.session.scalar(select(func.count()).select_from(Action)) == 0


@pytest.mark.parametrize(("body", "content_type", "status"), [
    ("{\"title\": ", "application/json", 400),
    ("[1, 2, 3]", "application/json", 400),
    ("title=x", "application/x-www-form-urlencoded", 415),
    ("<action/>", "text/xml", 415),
    ("\xff\xfe garbage", "application/json", 400),
], ids=["truncated", "not-an-object", "form-encoded", "xml", "not-utf8"])
def test_malformed_api_bodies_get_a_json_4xx(client: FlaskClient, admin_headers: dict[str, str],
                                             body: str, content_type: str, status: int) -> None:
    response = client.post("/api/v1/actions", data=body.encode("latin-1"),
                           headers=admin_headers, content_type=content_type)
    assert response.status_code == status
    assert response.get_json()["error"]["message"]
    assert db.session.scalar(select(func.count()).select_from(Action)) == 0


def test_json_sent_to_the_signing_form_stores_nothing(client: FlaskClient) -> None:
    action = make_action()
    response = client.post(f"/actions/{action.slug}", json=form_data())
    assert 400 <= response.status_code < 500
    assert count() == 0


@pytest.mark.parametrize("field", ["title", "summary", "body"])
def test_nul_characters_in_an_action_are_refused(client: FlaskClient,
                                                 admin_headers: dict[str, str],
                                                 field: str) -> None:
    response = client.post("/api/v1/actions", headers=admin_headers,
                           json=action_body(**{field: "bad\x00value"}))
    assert response.status_code == 422
    assert field in json.dumps(response.get_json())
    assert db.session.scalar(select(func.count()).select_from(Action)) == 0


def test_nul_characters_in_a_target_are_refused(client: FlaskClient,
                                                admin_headers: dict[str, str]) -> None:
    body = action_body()
    body["targets"] = [{"name": "UN", "title": "\x00"}]
    response = client.post("/api/v1/actions", headers=admin_headers, json=body)
    assert response.status_code == 422
    assert db.session.scalar(select(func.count()).select_from(Action)) == 0

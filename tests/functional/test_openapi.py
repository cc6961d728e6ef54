"""The OpenAPI description tells the truth about the API.

It is valid OpenAPI; it names exactly the routes the app has; and real answers of
every status it documents, for every operation, match its schemas, headers and
media types. A route added without its description, or described without being
exercised here, makes these tests fail.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from petitions.api.openapi import SPEC
from petitions.models import Action
from petitions.services import deliveries
from petitions.uploads import UPLOAD_BODY_LIMIT
from tests.api_factories import (
    action_body,
    openapi_path,
    public_operations,
    staff_headers,
)
from tests.factories import make_action, make_confirmed_signature
from tests.image_factories import photo
from tests.security_factories import limits_on

SPEC_URI = "urn:petitions:openapi"
# OpenAPI 3.1 schemas are JSON Schema 2020-12; the whole document is one resource,
# so "#/components/schemas/..." references resolve inside it.
REGISTRY = Registry().with_resource(SPEC_URI, DRAFT202012.create_resource(SPEC))
TOO_LARGE = 1024 * 1024 + 1  # the app's MAX_CONTENT_LENGTH, plus one
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


def validator(*pointer: str) -> Draft202012Validator:
    """A validator for the schema at ``pointer`` in the description."""
    ref = SPEC_URI + "#/" + "/".join(escape(p) for p in pointer)
    return Draft202012Validator({"$ref": ref}, registry=REGISTRY,
                                format_checker=Draft202012Validator.FORMAT_CHECKER)


def described_operations() -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in SPEC["paths"].items()
            for method in item if method in METHODS}


def app_operations(app) -> set[tuple[str, str]]:
    return {(method, openapi_path(rule.rule)) for rule in app.url_map.iter_rules()
            if rule.rule.startswith("/api/")
            for method in rule.methods - {"HEAD", "OPTIONS"}}


# --- the document ------------------------------------------------------------------------


def test_the_description_is_valid_openapi():
    validate(SPEC)
    assert SPEC["openapi"].startswith("3.1")
    scheme = SPEC["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")


def test_it_is_served_to_everyone(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.json == json.loads(json.dumps(SPEC))


def test_every_api_route_is_described_and_nothing_else(app):
    routes, described = app_operations(app), described_operations()
    assert routes - described == set(), "routes missing from petitions/api/openapi.py"
    assert described - routes == set(), "described operations the app does not have"


def test_operations_that_need_a_token_name_the_scope_the_route_checks(app):
    """Each security requirement names the scope its route's ``token_required`` asks
    for, and the operation documents 401 (no token, expired) and 403 (no scope)."""
    scopes = {(method, openapi_path(rule.rule)):
              getattr(app.view_functions[rule.endpoint], "required_scope", None)
              for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/")
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    for method, path in described_operations() - public_operations():
        op = SPEC["paths"][path][method.lower()]
        scope = scopes[(method, path)]
        assert scope is not None, (method, path)
        assert op["security"] == [{"bearerAuth": [str(scope)]}], (method, path)
        assert f"`{scope}` scope" in op["description"], (method, path)
        assert {"401", "403"} <= op["responses"].keys(), (method, path)
    for method, path in public_operations():
        assert scopes[(method, path)] is None, (method, path)


@pytest.mark.parametrize(("schema", "body", "valid"), [
    ("ActionCreate", action_body(), True),
    ("ActionCreate", action_body(deadline=None, status="published"), True),
    ("ActionCreate", {"slug": "a", "title": "A", "targets": [{"name": "B"}], "goal": 1}, True),
    ("ActionCreate", {"title": "A", "targets": [{"name": "B"}], "goal": 1}, False),
    ("ActionCreate", action_body(goal="100"), False),
    ("ActionCreate", action_body(goal=True), False),
    ("ActionCreate", action_body(colour="red"), False),
    ("ActionCreate", action_body(status="closed"), False),
    ("ActionCreate", action_body(targets=[{"name": "B", "phone": "1"}]), False),
    ("ActionCreate", action_body(targets=[{"name": "B", "email": ""}]), False),
    ("ActionCreate", action_body(goal=5000.0), True),
    ("ActionCreate", action_body(title="Free\x00them"), False),
    ("ActionCreate", action_body(demands=["Free\x00them"]), False),
    ("ActionCreate", action_body(targets=[{"name": "B", "organization": "\x00"}]), False),
    ("ActionCreate", action_body(targets=[{"name": "B", "email": "a" * 250 + "@x.org"}]),
     False),
    ("ActionUpdate", {"status": "closed"}, True),
    ("ActionUpdate", {"deadline": None}, True),
    ("ActionUpdate", {}, False),
    ("ActionUpdate", {"deadline": "tomorrow"}, False),
])
def test_request_schemas_are_those_the_api_enforces(client, schema, body, valid):
    """The described request bodies and the parser agree, both ways."""
    errors = list(validator("components", "schemas", schema).iter_errors(body))
    assert (not errors) == valid, errors
    headers = staff_headers("admin")
    if schema == "ActionCreate":
        response = client.post("/api/v1/actions", json=body, headers=headers)
        assert response.status_code == (201 if valid else 422), response.json
    else:
        action = make_action(publish=True)
        response = client.patch(f"/api/v1/actions/{action.slug}", json=body, headers=headers)
        assert response.status_code == (200 if valid else 422), response.json


# --- real answers against the description ------------------------------------------------


@dataclass
class World:
    """An action with a confirmed signature and staff of every kind around it."""

    action: Action
    admin: dict[str, str]
    organizer: dict[str, str]
    stranger: dict[str, str]


class Checker:
    """Makes requests and checks each answer against the description of its operation;
    remembers which statuses each operation was seen answering with."""

    def __init__(self, client) -> None:
        self.client = client
        self.seen: dict[tuple[str, str], set[str]] = {}

    def __call__(self, method: str, path: str, url: str, expected: int,
                 **kwargs: Any) -> None:
        response = self.client.open(url, method=method, **kwargs)
        assert response.status_code == expected, (method, url, response.get_data(as_text=True))
        self.verify(method, path, response)

    def verify(self, method: str, path: str, response) -> None:
        status = str(response.status_code)
        responses = SPEC["paths"][path][method.lower()]["responses"]
        assert status in responses, f"{method} {path} answers {status}, which is not described"
        pointer = ["paths", path, method.lower(), "responses", status]
        described = responses[status]
        if "$ref" in described:
            pointer = described["$ref"].removeprefix("#/").split("/")
            described = SPEC["components"]["responses"][pointer[-1]]
        for name, header in described.get("headers", {}).items():
            if header.get("required"):
                assert name in response.headers, f"{method} {path} {status} without {name}"
        assert response.mimetype in described["content"], (method, path, response.mimetype)
        instance = (response.json if response.mimetype == "application/json"
                    else response.get_data(as_text=True))
        schema = validator(*pointer, "content", response.mimetype, "schema")
        errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
                  for e in schema.iter_errors(instance)]
        assert not errors, f"{method} {path} {status} does not match the description: {errors}"
        self.seen.setdefault((method, path), set()).add(status)


def _openapi(check: Checker, world: World) -> None:
    check("GET", "/openapi.json", "/api/v1/openapi.json", 200)


def _list_actions(check: Checker, world: World) -> None:
    make_action(deadline=None)
    check("GET", "/actions", "/api/v1/actions", 200)


def _get_action(check: Checker, world: World) -> None:
    check("GET", "/actions/{slug}", f"/api/v1/actions/{world.action.slug}", 200)
    check("GET", "/actions/{slug}", "/api/v1/actions/nothing-here", 404)


def _create_action(check: Checker, world: World) -> None:
    path, url = "/actions", "/api/v1/actions"
    check("POST", path, url, 201, json=action_body(), headers=world.admin)
    check("POST", path, url, 400, data=b"[", content_type="application/json",
          headers=world.admin)
    check("POST", path, url, 401, json=action_body())
    check("POST", path, url, 403, json=action_body(), headers=world.organizer)
    check("POST", path, url, 409, json=action_body(slug=world.action.slug),
          headers=world.admin)
    check("POST", path, url, 413, json=action_body(body="x" * TOO_LARGE), headers=world.admin)
    check("POST", path, url, 415, data=b"{}", content_type="text/plain", headers=world.admin)
    check("POST", path, url, 422, json={"goal": "many"}, headers=world.admin)


def _update_action(check: Checker, world: World) -> None:
    path, url = "/actions/{slug}", f"/api/v1/actions/{world.action.slug}"
    check("PATCH", path, url, 200, json={"title": "Changed"}, headers=world.organizer)
    check("PATCH", path, url, 200, json={"goal": 7}, headers=world.admin)
    check("PATCH", path, url, 400, data=b"nope", content_type="application/json",
          headers=world.admin)
    check("PATCH", path, url, 401, json={"title": "x"})
    check("PATCH", path, url, 403, json={"title": "x"}, headers=world.stranger)
    check("PATCH", path, "/api/v1/actions/nothing-here", 404, json={"title": "x"},
          headers=world.admin)
    check("PATCH", path, url, 409, json={"slug": make_action().slug}, headers=world.admin)
    check("PATCH", path, url, 413, json={"body": "x" * TOO_LARGE}, headers=world.admin)
    check("PATCH", path, url, 415, data=b"{}", headers=world.admin)
    check("PATCH", path, url, 422, json={"status": "delivered"}, headers=world.admin)


def _export_signatures(check: Checker, world: World) -> None:
    path = "/actions/{slug}/signatures.csv"
    url = f"/api/v1/actions/{world.action.slug}/signatures.csv"
    check("GET", path, url, 200, headers=world.organizer)
    check("GET", path, url + "?country=FR&opted_in=1&bom=1", 200, headers=world.admin)
    check("GET", path, url, 401)
    check("GET", path, url, 403, headers=world.stranger)
    check("GET", path, "/api/v1/actions/nothing-here/signatures.csv", 404, headers=world.admin)
    check("GET", path, url + "?since=soon", 422, headers=world.admin)


def _get_tally(check: Checker, world: World) -> None:
    path = "/actions/{slug}/tally"
    check("GET", path, f"/api/v1/actions/{world.action.slug}/tally", 200)
    check("GET", path, f"/api/v1/actions/{world.action.slug}/tally", 200,
          headers=world.organizer)
    check("GET", path, f"/api/v1/actions/{world.action.slug}/tally", 200,
          headers=world.stranger)
    check("GET", path, f"/api/v1/actions/{make_action(publish=False).slug}/tally", 404)


def _request_delivery(check: Checker, world: World) -> None:
    path, url = "/actions/{slug}/deliveries", f"/api/v1/actions/{world.action.slug}/deliveries"
    check("POST", path, url, 202, headers=world.organizer)
    check("POST", path, url, 202, json={"mark_delivered": True}, headers=world.admin)
    check("POST", path, url, 400, data=b"{", content_type="application/json",
          headers=world.admin)
    check("POST", path, url, 401)
    check("POST", path, url, 403, headers=world.stranger)
    check("POST", path, "/api/v1/actions/nothing-here/deliveries", 404, headers=world.admin)
    check("POST", path, url, 413, json={"mark_delivered": True, "x": "x" * TOO_LARGE},
          headers=world.admin)
    check("POST", path, url, 415, data=b"{}", content_type="text/plain", headers=world.admin)
    check("POST", path, url, 422, json={"mark_delivered": "yes"}, headers=world.admin)


def _list_deliveries(check: Checker, world: World) -> None:
    path, url = "/actions/{slug}/deliveries", f"/api/v1/actions/{world.action.slug}/deliveries"
    check("GET", path, url, 200, headers=world.organizer)
    deliveries.request_delivery(world.action, actor=None)
    check("GET", path, url, 200, headers=world.admin)
    check("GET", path, url, 401)
    check("GET", path, url, 403, headers=world.stranger)
    check("GET", path, "/api/v1/actions/nothing-here/deliveries", 404, headers=world.admin)


def _get_delivery(check: Checker, world: World) -> None:
    delivery = deliveries.request_delivery(world.action, actor=None)
    path = "/actions/{slug}/deliveries/{delivery_id}"
    url = f"/api/v1/actions/{world.action.slug}/deliveries/{delivery.id}"
    check("GET", path, url, 200, headers=world.organizer)
    deliveries.compile_delivery(delivery.id)
    check("GET", path, url, 200, headers=world.admin)
    check("GET", path, url, 401)
    check("GET", path, url, 403, headers=world.stranger)
    check("GET", path, f"/api/v1/actions/{world.action.slug}/deliveries/0", 404,
          headers=world.admin)


def _get_count(check: Checker, world: World) -> None:
    path = "/actions/{slug}/count"
    check("GET", path, f"/api/v1/actions/{world.action.slug}/count", 200)
    check("GET", path, f"/api/v1/actions/{make_action(publish=False).slug}/count", 404)


def _put_action_image(check: Checker, world: World) -> None:
    path, url = "/actions/{slug}/image", f"/api/v1/actions/{world.action.slug}/image"

    def upload(content: bytes = photo(), **fields: str) -> dict[str, Any]:
        return {"data": {"image": (io.BytesIO(content), "photo.jpg"), **fields},
                "content_type": "multipart/form-data"}

    check("PUT", path, url, 200, headers=world.organizer, **upload(alt="A photo"))
    check("PUT", path, url, 401, **upload(alt="A photo"))
    check("PUT", path, url, 403, headers=world.stranger, **upload(alt="A photo"))
    check("PUT", path, "/api/v1/actions/nothing-here/image", 404, headers=world.admin,
          **upload(alt="A photo"))
    check("PUT", path, url, 413, headers=world.admin,
          **upload(b"x" * UPLOAD_BODY_LIMIT, alt="A photo"))
    check("PUT", path, url, 415, json={"alt": "A photo"}, headers=world.admin)
    check("PUT", path, url, 422, headers=world.admin, **upload(b"not a picture", alt="x"))


# One scenario an operation: it must make the operation answer every status described.
SCENARIOS: dict[tuple[str, str], Callable[[Checker, World], None]] = {
    ("GET", "/openapi.json"): _openapi,
    ("GET", "/actions"): _list_actions,
    ("POST", "/actions"): _create_action,
    ("GET", "/actions/{slug}"): _get_action,
    ("PATCH", "/actions/{slug}"): _update_action,
    ("GET", "/actions/{slug}/signatures.csv"): _export_signatures,
    ("PUT", "/actions/{slug}/image"): _put_action_image,
    ("GET", "/actions/{slug}/tally"): _get_tally,
    ("GET", "/actions/{slug}/count"): _get_count,
    ("GET", "/actions/{slug}/deliveries"): _list_deliveries,
    ("POST", "/actions/{slug}/deliveries"): _request_delivery,
    ("GET", "/actions/{slug}/deliveries/{delivery_id}"): _get_delivery,
}


def test_every_described_operation_has_a_scenario():
    assert set(SCENARIOS) == described_operations()


@pytest.fixture
def world(app) -> World:
    action = make_action(deadline=None)
    make_confirmed_signature(action, country="FR", updates_opt_in=True)
    return World(action=action, admin=staff_headers("admin"),
                 organizer=staff_headers("organizer", action),
                 stranger=staff_headers("organizer"))


def _rate_limited(check: Checker, world: World, operation: tuple[str, str]) -> None:
    """Every operation answers 429 once the token has used up API_RATE_LIMIT."""
    method, path = operation
    url = "/api/v1" + path.format(slug=world.action.slug, delivery_id=0)
    check.client.open(url, method=method, headers=world.admin)  # uses up the limit
    check(method, path, url, 429, headers=world.admin)


@pytest.mark.parametrize("operation", sorted(SCENARIOS), ids=" ".join)
def test_real_answers_match_the_description(app, client, world, operation, monkeypatch):
    check = Checker(client)
    SCENARIOS[operation](check, world)
    limits_on(app, monkeypatch, API_RATE_LIMIT="1 per minute")
    _rate_limited(check, world, operation)
    method, path = operation
    described = set(SPEC["paths"][path][method.lower()]["responses"])
    assert check.seen == {operation: described}, "every described status must be exercised"


@pytest.mark.parametrize(("status", "body", "message"), [
    (200, {"slug": "a", "title": "A", "colour": "red"}, "does not match the description"),
    (200, {"actions": []}, "does not match the description"),
    (404, {"error": {"status": 404}}, "does not match the description"),
    (418, {"error": {"status": 418, "message": "teapot"}}, "which is not described"),
])
def test_the_checker_catches_answers_that_break_the_description(app, status, body, message):
    """The checks above can fail: answers unlike the description do not pass."""
    response = app.response_class(json.dumps(body), status=status, mimetype="application/json")
    with pytest.raises(AssertionError, match=message):
        Checker(None).verify("GET", "/actions/{slug}", response)

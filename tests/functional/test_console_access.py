"""Who may open which console page: an access matrix built from the app's own routes.

Every route of the organizer console (``organizer.*``), the admin console (``admin.*``)
and the password page is read from ``app.url_map``, with every method it accepts, so a
route added later is checked without editing this file. Each route is asked by:

- an anonymous visitor: sent to /login?next=<the page>;
- an organizer: 403 on /admin; on a /console page of an action, 403 unless assigned to it
  (403 or 404 on a page of an action's object, such as a paper batch, without the slug);
- the assigned organizer (on /console) and an admin: let in (not 401/403), and no 500.

POSTs carry a valid CSRF token of the client's session, so that what answers is the
access rule, not the CSRF check. URL parameters are filled from ``FILLERS`` by name: a
fresh action (assigned to the organizer) for every request, and objects of that action,
so that what one request changed or deleted does not decide the next answer. A route
with a parameter the table does not know gets ``1``; only for such routes is a 404 from
an allowed user accepted, since the object may not exist.

``test_console_pages_are_accessible`` checks the HTML of every page an allowed user sees.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.routing import Rule

from petitions.extensions import db
from petitions.models import Action, ActionStatus, AuditEntry, PaperBatch, User
from petitions.services import accounts, deliveries
from tests.accessibility import accessibility_problems
from tests.account_factories import (  # noqa: F401 - a fixture
    cheap_password_hashing,
    log_in,
    make_user,
)
from tests.factories import csrf_token, make_action, make_signature

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")

GUARDED_PREFIXES = ("organizer.", "admin.")
GUARDED_ENDPOINTS = ("auth.change_password",)
IGNORED_METHODS = {"HEAD", "OPTIONS"}
ACTION_PARAMETERS = {"slug", "action_id"}
# Objects that belong to an action: an organizer not assigned to it must not reach them
# (403, or 404 when a route does not even say that they exist).
ACTION_OBJECT_PARAMETERS = {"batch_id", "signature_id", "target_id", "delivery_id"}
_PARAMETER = re.compile(r"<(?:([a-zA-Z_]+)(?:\([^)]*\))?:)?([a-zA-Z_][a-zA-Z0-9_]*)>")


@dataclass
class World:
    admin: User
    organizer: User
    outsider: User
    subject: User  # the user that admin pages about a user are asked about
    clients: dict[str, FlaskClient]
    tokens: dict[str, str]  # each client's CSRF token


def _batch(world: World, action: Action) -> int:
    batch = PaperBatch(action_id=action.id, uploaded_by_id=world.organizer.id, label="Rally")
    db.session.add(batch)
    db.session.commit()
    return batch.id


def _delivery(world: World, action: Action) -> int:
    """A compiled delivery, so that its page and its files exist."""
    delivery = deliveries.request_delivery(action, actor=world.organizer)
    deliveries.compile_delivery(delivery.id)
    return delivery.id


def _audit_entry(world: World, action: Action) -> int:
    entry = db.session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert entry is not None
    return entry.id


FILLERS: dict[str, Callable[[World, Action], object]] = {
    "slug": lambda world, action: action.slug,
    "action_id": lambda world, action: action.id,
    "user_id": lambda world, action: world.subject.id,
    "token_id": lambda world, action: accounts.create_token(world.subject)[0].id,
    "batch_id": _batch,
    "signature_id": lambda world, action: make_signature(action).id,
    "target_id": lambda world, action: action.targets[0].id,
    "entry_id": _audit_entry,
    "delivery_id": _delivery,
    # The one route with a file name: the delivery's CSV, which every delivery has.
    "name": lambda world, action: deliveries.CSV_NAME,
    "status": lambda world, action: ActionStatus.CLOSED.value,
}


@dataclass(frozen=True)
class Route:
    rule: Rule
    method: str

    @property
    def parameters(self) -> list[tuple[str | None, str]]:
        return _PARAMETER.findall(self.rule.rule)

    @property
    def under_admin(self) -> bool:
        return self.rule.rule.startswith("/admin")

    @property
    def of_an_action(self) -> bool:
        return any(name in ACTION_PARAMETERS for _, name in self.parameters)

    @property
    def of_an_action_object(self) -> bool:
        return any(name in ACTION_OBJECT_PARAMETERS for _, name in self.parameters)

    @property
    def fully_filled(self) -> bool:
        return all(name in FILLERS for _, name in self.parameters)

    def __str__(self) -> str:
        return f"{self.method} {self.rule.rule} ({self.rule.endpoint})"


def guarded_routes(app: Flask) -> list[Route]:
    rules = [r for r in app.url_map.iter_rules()
             if r.endpoint.startswith(GUARDED_PREFIXES) or r.endpoint in GUARDED_ENDPOINTS]
    return sorted((Route(rule, method) for rule in rules
                   for method in sorted((rule.methods or set()) - IGNORED_METHODS)),
                  key=str)


def _path(route: Route, world: World) -> str:
    action = make_action(organizers=[world.organizer])

    def fill(match: re.Match[str]) -> str:
        converter, name = match.groups()
        if name in FILLERS:
            value = FILLERS[name](world, action)
        else:
            value = 1 if converter in ("int", "float") else "1"
        return quote(str(value), safe="")

    return _PARAMETER.sub(fill, route.rule.rule)


def _ask(world: World, who: str, route: Route, path: str):  # type: ignore[no-untyped-def]
    client = world.clients[who]
    if route.method == "GET":
        return client.get(path)
    return client.open(path, method=route.method, data={"csrf_token": world.tokens[who]})


@pytest.fixture
def world(app: Flask) -> World:
    admin = make_user("admin")
    organizer, outsider = make_user(), make_user()
    subject = accounts.create_user("subject@example.org", "organizer")
    clients = {who: app.test_client() for who in ("anonymous", "organizer", "outsider",
                                                   "admin")}
    tokens = {"anonymous": csrf_token(clients["anonymous"], "/login")}
    for who, user in (("organizer", organizer), ("outsider", outsider), ("admin", admin)):
        log_in(clients[who], user)
        tokens[who] = csrf_token(clients[who], "/account/password")
    return World(admin, organizer, outsider, subject, clients, tokens)


def _check(world: World, route: Route) -> list[str]:
    """What is wrong with ``route``: one line per user who got the wrong answer.

    Each user asks about objects of their own (a fresh path), so that what one user
    changed or deleted does not decide the answer another one gets.
    """
    problems = []

    def expect(who: str, ok: Callable[[int], bool], wanted: str) -> None:
        status = _ask(world, who, route, _path(route, world)).status_code
        if not ok(status):
            problems.append(f"{route}: {who} got {status}, wanted {wanted}")

    path = _path(route, world)
    anonymous = _ask(world, "anonymous", route, path)
    location = urlsplit(anonymous.headers.get("Location", ""))
    if anonymous.status_code != 302 or location.path != "/login" or \
            parse_qs(location.query).get("next") != [path]:
        problems.append(f"{route}: anonymous got {anonymous.status_code} "
                        f"{anonymous.headers.get('Location')}, wanted 302 to /login?next={path}")

    def allowed(status: int) -> bool:
        return status not in (401, 403) and status < 500 and (
            status != 404 or not route.fully_filled)

    if route.under_admin:
        expect("outsider", lambda s: s == 403, "403")
        expect("organizer", lambda s: s == 403, "403")
    elif route.of_an_action:
        expect("outsider", lambda s: s == 403, "403")
        expect("organizer", allowed, "to be let in")
    elif route.of_an_action_object:
        expect("outsider", lambda s: s in (403, 404), "403 or 404")
        expect("organizer", allowed, "to be let in")
    else:
        expect("outsider", allowed, "to be let in")
        expect("organizer", allowed, "to be let in")
    expect("admin", allowed, "to be let in")
    return problems


def test_every_console_route_checks_who_asks(app, world):
    routes = guarded_routes(app)
    problems = [problem for route in routes for problem in _check(world, route)]
    assert not problems, "\n".join(problems)


def test_the_matrix_sees_the_console_routes(app):
    """The matrix is not empty by mistake: the routes every console has are in it."""
    found = {(r.rule.endpoint, r.method) for r in guarded_routes(app)}
    assert {("organizer.dashboard", "GET"), ("admin.home", "GET"),
            ("auth.change_password", "GET"), ("auth.change_password", "POST")} <= found
    assert not any(r.rule.endpoint.startswith(("public.", "api.", "static"))
                   for r in guarded_routes(app))


def test_the_matrix_catches_an_unguarded_route(app, world):
    """The matrix can fail: asked about the public action page, which lets everybody in,
    it reports the anonymous visitor and the outsider that got in."""
    [rule] = [r for r in app.url_map.iter_rules() if r.endpoint == "public.action"]
    problems = _check(world, Route(rule, "GET"))
    assert any("anonymous got 200" in p for p in problems), problems
    assert any("outsider got 200, wanted 403" in p for p in problems), problems


# --- the pages themselves ----------------------------------------------------------------

def test_console_pages_are_accessible(app, world):
    """Every console page an allowed user sees (forms sent empty included): labelled
    fields, errors tied to their field, table headers with scope."""
    problems = []
    for route in guarded_routes(app):
        for who in ("admin",) if route.under_admin else ("organizer", "admin"):
            response = _ask(world, who, route, _path(route, world))
            if response.mimetype == "text/html" and response.status_code in (200, 422):
                problems.extend(f"{route} as {who}: {problem}" for problem in
                                accessibility_problems(response.get_data(as_text=True),
                                                       response.status_code))
    assert not problems, "\n".join(problems)


def test_the_accessibility_check_can_fail():
    bad = """<!doctype html><html><body><h1>One</h1><h1>Two</h1>
      <input name="q"><select name="s"></select>
      <input name="e" aria-invalid="true">
      <input id="d" name="d" aria-describedby="gone"><label for="d">D</label>
      <table><tr><th>Name</th></tr></table></body></html>"""
    assert accessibility_problems(bad, 422) == [
        "no <html lang>",
        "2 <h1> headings, wanted 1",
        "<input name='q'> has no label",
        "<input name='e'> has no label",
        "<select name='s'> has no label",
        "<input name='d'> is described by a missing #gone",
        "invalid <input name='e'> does not point at its error",
        "<th> 'Name' without scope",
    ]
    good = """<!doctype html><html lang="en"><body><h1>One</h1>
      <label>Q <input name="q"></label>
      <label for="e">E</label>
      <input id="e" name="e" aria-invalid="true" aria-describedby="e-error">
      <p id="e-error">Wrong.</p><input type="hidden" name="csrf_token">
      <table><tr><th scope="col">Name</th></tr></table></body></html>"""
    assert accessibility_problems(good, 422) == []


def test_head_is_answered_like_get_on_every_page_an_admin_reaches(app: Flask,
                                                                   world: World) -> None:
    """Every route that answers GET, asked with HEAD by a logged-in admin: never taken
    for a submission of the page's form (it used to be a 422 on the console forms),
    never a 5xx; the same status as the GET, without a body."""
    routes = sorted((Route(rule, "HEAD") for rule in app.url_map.iter_rules()
                     if "GET" in (rule.methods or set()) and rule.endpoint != "static"),
                    key=str)
    assert any(r.rule.endpoint.startswith("admin.") for r in routes)
    client = world.clients["admin"]
    for route in routes:
        path = _path(route, world)
        head = client.head(path)
        assert head.status_code != 422 and head.status_code < 500, f"{route}: {head.status}"
        assert head.data == b"", str(route)
        assert head.status_code == client.get(path).status_code, str(route)

"""Where the signatures are delivered is an admin's to change, and it is audited: an
organizer (or someone who phished one, or holds their API token) can't redirect the
package of every signer's name to an address of their choosing."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from petitions.extensions import db
from petitions.models import Action, AuditEntry, User
from petitions.services import actions as actions_service
from petitions.services.actions import AdminOnlyError, TargetInput
from tests.api_factories import bearer, make_staff, make_token
from tests.factories import fresh, make_action

OFFICIAL = {"name": "UN Secretary-General", "title": "", "organization": "",
            "email": "sg@un.example"}


@pytest.fixture
def action(app) -> Action:  # type: ignore[no-untyped-def]
    return make_action()


@pytest.fixture
def organizer(action: Action) -> User:
    user = make_staff()
    action.organizers.append(user)
    db.session.commit()
    return user


def _entries(verb: str) -> list[AuditEntry]:
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.verb == verb)
                                   .order_by(AuditEntry.id)))


def _patch(client: FlaskClient, action: Action, user: User, targets: list[dict]):  # type: ignore[no-untyped-def]
    return client.patch(f"/api/v1/actions/{action.slug}", json={"targets": targets},
                        headers=bearer(make_token(user)))


@pytest.mark.parametrize("targets", [
    [{**OFFICIAL, "email": "collector@attacker.example"}],
    [OFFICIAL, {"name": "A friend", "email": "friend@attacker.example"}],
    [{"name": "Minister", "email": "minister@gov.example"}],
])
def test_an_organizer_cannot_change_where_the_signatures_go(client: FlaskClient,
                                                            action: Action, organizer: User,
                                                            targets: list[dict]) -> None:
    response = _patch(client, action, organizer, targets)
    assert response.status_code == 403
    assert response.json["error"]["message"] == (
        "Only an admin may change where the signatures are delivered (the targets' email "
        "addresses).")
    assert [t.email for t in fresh(Action, action.id).targets] == ["sg@un.example"]
    assert _entries("action.update") == [] and _entries("action.delivery_addresses") == []


def test_an_organizer_may_still_rename_a_target(client: FlaskClient, action: Action,
                                                organizer: User) -> None:
    renamed = {**OFFICIAL, "name": "Secretary-General of the UN", "email": "SG@un.example"}
    response = _patch(client, action, organizer, [renamed])
    assert response.status_code == 200, response.get_data(as_text=True)
    assert [t.name for t in fresh(Action, action.id).targets] == ["Secretary-General of the UN"]
    assert _entries("action.delivery_addresses") == []


def test_an_admin_may_and_it_is_audited(client: FlaskClient, action: Action) -> None:
    admin = make_staff("admin")
    response = _patch(client, action, admin,
                      [{**OFFICIAL, "email": "sg-office@un.example"},
                       {"name": "High Commissioner", "email": "hc@ohchr.example"}])
    assert response.status_code == 200, response.get_data(as_text=True)
    [entry] = _entries("action.delivery_addresses")
    assert (entry.actor_id, entry.via, entry.object_id) == (admin.id, "api", str(action.id))
    assert entry.before == {"emails": ["sg@un.example"]}
    assert entry.after == {"emails": ["hc@ohchr.example", "sg-office@un.example"]}


def test_the_rule_holds_for_every_caller_of_the_service(action: Action,
                                                        organizer: User) -> None:
    """The console, the CLI and the API all change actions through this service."""
    with pytest.raises(AdminOnlyError):
        actions_service.update_action(
            action, {"targets": [TargetInput("Someone", email="else@attacker.example")]},
            actor=organizer, via="web")
    assert [t.email for t in fresh(Action, action.id).targets] == ["sg@un.example"]
    # The operator's command line (no actor) and an admin may.
    actions_service.update_action(
        fresh(Action, action.id), {"targets": [TargetInput("UN", email="un@un.example")]},
        actor=None, via="cli")
    assert [e.via for e in _entries("action.delivery_addresses")] == ["cli"]

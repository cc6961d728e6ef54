"""API tokens are limited by scope and by time: a token for reading can't download
who signed or change anything, and an expired token opens nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask.testing import FlaskClient

from petitions.extensions import db
from petitions.models import Action, ApiToken, User, utcnow
from petitions.services import accounts
from tests.api_factories import bearer, make_staff, make_token
from tests.factories import make_action, make_confirmed_signature


def _error(response, status: int) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    assert response.json["error"]["status"] == status
    return response.json["error"]["message"]


@pytest.fixture
def action(app) -> Action:  # type: ignore[no-untyped-def]
    action = make_action(deadline=None)
    make_confirmed_signature(action, email="signer@example.org")
    return action


@pytest.fixture
def organizer(action: Action) -> User:
    user = make_staff()
    action.organizers.append(user)
    db.session.commit()
    return user


def _requests(slug: str) -> dict[str, tuple[str, str, dict]]:
    base = f"/api/v1/actions/{slug}"
    return {"read": ("GET", f"{base}/deliveries", {}),
            "export": ("GET", f"{base}/signatures.csv", {}),
            "write": ("PATCH", base, {"json": {"summary": "A new summary."}})}


@pytest.mark.parametrize("granted", [["read"], ["export"], ["write"], ["read", "export"]])
def test_each_endpoint_needs_its_scope(client: FlaskClient, action: Action, organizer: User,
                                       granted: list[str]) -> None:
    headers = bearer(make_token(organizer, scopes=granted))
    for scope, (method, url, kwargs) in _requests(action.slug).items():
        response = client.open(url, method=method, headers=headers, **kwargs)
        if scope in granted:
            assert response.status_code == 200, (scope, response.get_data(as_text=True))
        else:
            assert _error(response, 403) == f"This API token lacks the “{scope}” scope."
            assert "signer@example.org" not in response.get_data(as_text=True)


def test_a_read_token_can_neither_export_nor_deliver(client: FlaskClient, action: Action,
                                                     organizer: User) -> None:
    headers = bearer(make_token(organizer, scopes=["read"]))
    delivery = client.post(f"/api/v1/actions/{action.slug}/deliveries", headers=headers)
    assert "write" in _error(delivery, 403)
    admin_reader = bearer(make_token(make_staff("admin"), scopes=["read"]))
    create = client.post("/api/v1/actions", headers=admin_reader, json={})
    assert "write" in _error(create, 403)


def test_an_expired_token_is_refused_with_a_json_401(client: FlaskClient, action: Action,
                                                     organizer: User) -> None:
    record, token = accounts.create_token(organizer, expires_days=1)
    url = f"/api/v1/actions/{action.slug}/signatures.csv"
    assert client.get(url, headers=bearer(token)).status_code == 200
    db.session.get(ApiToken, record.id).expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    response = client.get(url, headers=bearer(token))
    assert "expired" in _error(response, 401)
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="api"'
    assert "signer@example.org" not in response.get_data(as_text=True)

"""The read-only JSON API: published actions and their confirmed counts."""

from __future__ import annotations

from datetime import date, timedelta

from petitions.services import actions
from petitions.services.actions import TargetInput
from tests.factories import make_action, make_confirmed_signature, make_signature

FIELDS = {"slug", "title", "summary", "target", "status", "goal", "deadline",
          "signature_count", "url"}


def _json(response, status=200):
    assert response.status_code == status
    assert response.mimetype == "application/json"
    return response.get_json()


def test_list_has_published_actions_only_nearest_deadline_first(client):
    today = date.today()
    later = make_action(deadline=today + timedelta(days=20))
    open_ended = make_action(deadline=None)
    soon = make_action(deadline=today + timedelta(days=3))
    make_action(publish=False)
    closed = make_action()
    actions.close_action(closed)
    body = _json(client.get("/api/v1/actions"))
    assert [a["slug"] for a in body["actions"]] == [soon.slug, later.slug, open_ended.slug]
    for item in body["actions"]:
        assert set(item) >= FIELDS
        assert item["status"] == "published"


def test_list_of_nothing(client):
    make_action(publish=False)
    assert _json(client.get("/api/v1/actions")) == {"actions": []}


def test_an_action_in_json(client):
    action = make_action(slug="free-the-residents", title="Free the residents",
                         summary="They need protection.", goal=500,
                         deadline=date(2030, 1, 31),
                         targets=[TargetInput(name="UN Secretary-General",
                                              email="sg@un.example")])
    for _ in range(2):
        make_confirmed_signature(action)
    for _ in range(3):
        make_signature(action)
    item = _json(client.get("/api/v1/actions/free-the-residents"))
    assert {key: item[key] for key in FIELDS} == {
        "slug": "free-the-residents",
        "title": "Free the residents",
        "summary": "They need protection.",
        "target": "UN Secretary-General",
        "status": "published",
        "goal": 500,
        "deadline": "2030-01-31",
        "signature_count": 2,
        "url": "http://petitions.test/actions/free-the-residents",
    }
    # The officials' email addresses are not public.
    assert "sg@un.example" not in str(item)
    listed = _json(client.get("/api/v1/actions"))["actions"]
    assert listed == [item]


def test_an_open_ended_action_has_no_deadline(client):
    action = make_action(deadline=None)
    assert _json(client.get(f"/api/v1/actions/{action.slug}"))["deadline"] is None


def test_a_closed_action_can_still_be_read(client):
    action = make_action()
    make_confirmed_signature(action)
    actions.close_action(action)
    item = _json(client.get(f"/api/v1/actions/{action.slug}"))
    assert item["status"] == "closed"
    assert item["signature_count"] == 1


def test_an_unknown_or_draft_action_is_a_json_404(client):
    draft = make_action(publish=False)
    for slug in ("no-such-action", draft.slug, "%00", "UPPER", "a" * 500, "%FF"):
        body = _json(client.get(f"/api/v1/actions/{slug}"), 404)
        assert body["error"]["status"] == 404, slug
        assert isinstance(body["error"]["message"], str) and body["error"]["message"]
        assert draft.title not in str(body)


def test_an_unknown_api_path_is_a_json_404(client):
    for path in ("/api/v1/nothing-here", "/api/v2/actions", "/api/", "/api/v1/actions/x/y"):
        body = _json(client.get(path), 404)
        assert body["error"]["status"] == 404, path
        assert body["error"]["message"]


def test_a_wrong_method_is_a_json_405(client):
    response = client.delete("/api/v1/actions")
    body = _json(response, 405)
    assert body["error"]["status"] == 405
    # RFC 9110: a 405 names the methods that are allowed.
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS", "POST"}


def test_a_wrong_method_on_a_page_keeps_the_allow_header_too(client):
    response = client.delete("/")
    assert response.status_code == 405
    assert response.mimetype == "text/html"
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}

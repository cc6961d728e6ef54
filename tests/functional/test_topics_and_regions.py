"""Topics and regions people can set: the managed list in the admin console, the
action form, ``actions create``, the API, and the network's join form; and the whole
way from an admin tagging an action to the members of that topic getting the alert."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select

from petitions.extensions import db
from petitions.models import Action, AuditEntry, Term, TermKind, Update, UpdateKind, User
from petitions.services import topics
from petitions.services.actions import get_action
from tests.account_factories import (  # noqa: F401  - cheap_password_hashing: a fixture
    cheap_password_hashing,
    log_in,
    make_user,
)
from tests.api_factories import action_body, staff_headers
from tests.factories import (
    csrf_token,
    deliver_pending_mail,
    field_error,
    fresh,
    make_action,
    parse_html,
    post_form,
)
from tests.functional.test_admin_console import action_form
from tests.messaging_factories import link, local_path, run_to_the_end

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")


@pytest.fixture
def admin(app: Flask) -> User:
    return make_user("admin", email="ada@staff.example", name="Ada Admin")


def add_term(client, kind: str, name: str):  # type: ignore[no-untyped-def]
    return post_form(client, "/admin/terms", {"kind": kind, "name": name})


def term(kind: TermKind, key: str) -> Term:
    db.session.expire_all()
    found = db.session.scalar(select(Term).where(Term.kind == kind, Term.key == key))
    assert found is not None
    return found


def join(client, mailbox, email: str, **choice: str) -> None:  # type: ignore[no-untyped-def]
    response = post_form(client, "/network", {"email": email, **choice})
    assert response.status_code == 303, response.get_data(as_text=True)
    deliver_pending_mail()
    [message] = mailbox.to(email)
    mailbox.clear()
    assert post_form(client, local_path(link(message, "/network/confirm/")),
                     {}).status_code == 200


def retire(client, term_id: int, value: str):  # type: ignore[no-untyped-def]
    """The retire button of the list page (a POST carrying the page's CSRF token)."""
    return client.post(f"/admin/terms/{term_id}/retire",
                       data={"retire": value, "csrf_token": csrf_token(client, "/admin/terms")})


def checkbox_values(html: str, name: str) -> list[str]:
    return [e.get("value") for e in parse_html(html).find_all("input", name=name)]


def test_an_admin_tags_an_action_and_only_that_topics_members_get_the_alert(
        app, client, admin, mailbox):
    log_in(client, admin)
    assert add_term(client, "topic", "Water and sanitation").status_code == 303
    assert add_term(client, "topic", "Press freedom").status_code == 303
    assert add_term(client, "region", "Middle East and North Africa").status_code == 303
    public = app.test_client()

    # The join form offers the managed list, by name.
    page = public.get("/network").get_data(as_text=True)
    assert checkbox_values(page, "topics") == ["press-freedom", "water-and-sanitation"]
    assert "Water and sanitation" in page
    assert checkbox_values(page, "regions") == ["middle-east-and-north-africa"]
    join(public, mailbox, "water@example.org", scope="chosen", topics="water-and-sanitation")
    join(public, mailbox, "press@example.org", scope="chosen", topics="press-freedom")

    new = client.get("/admin/actions/new").get_data(as_text=True)
    assert checkbox_values(new, "topics") == ["press-freedom", "water-and-sanitation"]
    response = post_form(client, "/admin/actions/new", action_form(
        topics=["water-and-sanitation"], region="middle-east-and-north-africa"))
    assert response.status_code == 303, response.get_data(as_text=True)
    action = get_action("free-the-journalists")
    assert (action.topics, action.region) == (["water-and-sanitation"],
                                              "middle-east-and-north-africa")
    edit = client.get("/admin/actions/free-the-journalists/edit").get_data(as_text=True)
    ticked = parse_html(edit).find("input", name="topics", value="water-and-sanitation")
    assert "checked" in ticked.attrs

    publish = "/admin/actions/free-the-journalists/status/published"
    assert post_form(client, publish, {}).status_code == 303
    alert_page = "/admin/actions/free-the-journalists/alert"
    assert post_form(client, alert_page, {}).status_code == 303
    alert = db.session.scalars(select(Update).where(Update.kind == UpdateKind.ALERT)).one()
    run_to_the_end(alert)

    assert [str(m["To"]) for m in mailbox.messages] == ["water@example.org"]
    assert mailbox.messages[0]["Subject"] == "Urgent action: Free the journalists"


def test_the_list_is_managed_and_audited(client, admin):
    log_in(client, admin)
    assert add_term(client, "topic", "Torture").status_code == 303
    assert add_term(client, "topic", "Refugees").status_code == 303
    again = add_term(client, "topic", "torture")
    assert again.status_code == 422
    assert field_error(again.get_data(as_text=True), "name")
    assert field_error(add_term(client, "topic", "   ").get_data(as_text=True), "name")
    torture = term(TermKind.TOPIC, "torture")
    tagged = make_action(publish=False)
    tagged.topics = ["torture"]
    db.session.commit()

    response = post_form(client, f"/admin/terms/{torture.id}",
                         {"name": "Torture and ill-treatment"})
    assert response.status_code == 303
    assert term(TermKind.TOPIC, "torture").name == "Torture and ill-treatment"  # same key
    assert "Torture and ill-treatment" in client.get("/network").get_data(as_text=True)

    assert retire(client, torture.id, "1").status_code == 303
    assert term(TermKind.TOPIC, "torture").retired
    assert "torture" not in checkbox_values(client.get("/network").get_data(as_text=True),
                                            "topics")
    assert fresh(Action, tagged.id).topics == ["torture"]  # who has it keeps it
    refused = post_form(client, "/admin/actions/new", action_form(topics=["torture"]))
    assert refused.status_code == 422
    assert field_error(refused.get_data(as_text=True), "topics")

    assert retire(client, torture.id, "0").status_code == 303
    assert not term(TermKind.TOPIC, "torture").retired
    verbs = list(db.session.scalars(select(AuditEntry.verb).where(
        AuditEntry.object_type == "term").order_by(AuditEntry.id)))
    assert verbs == ["term.create", "term.create", "term.update", "term.update", "term.update"]
    assert client.get("/admin/terms/999999").status_code == 404


def test_a_name_in_another_script_gets_a_key_by_number(app):
    first = topics.add(TermKind.TOPIC, "حقوق زنان", actor=None)
    assert (first.key, first.name) == ("topic-1", "حقوق زنان")


def test_actions_create_takes_topics_and_a_region(runner, tmp_path):
    topics.add(TermKind.TOPIC, "Refugees", actor=None)
    topics.add(TermKind.TOPIC, "Torture", actor=None)
    topics.add(TermKind.REGION, "Asia", actor=None)
    body = tmp_path / "appeal.md"
    body.write_text("Act now.", encoding="utf-8")
    args = ["actions", "create", "tagged", "--title", "Tagged", "--target", "UN",
            "--goal", "10", "--body-file", str(body)]
    result = runner.invoke(args=[*args, "--topic", "refugees", "--topic", "torture",
                                 "--region", "asia"])
    assert result.exit_code == 0, result.output
    action = get_action("tagged")
    assert (action.topics, action.region) == (["refugees", "torture"], "asia")

    refused = runner.invoke(args=[*args[:2], "other", *args[3:], "--topic", "gardening"])
    assert refused.exit_code != 0
    assert "unknown topics: gardening" in refused.output
    assert get_action("other") is None


def test_the_api_sets_and_changes_topics_and_region(client):
    topics.add(TermKind.TOPIC, "Refugees", actor=None)
    topics.add(TermKind.TOPIC, "Torture", actor=None)
    topics.add(TermKind.REGION, "Asia", actor=None)
    headers = staff_headers("admin")
    created = client.post("/api/v1/actions", headers=headers,
                          json=action_body(topics=["refugees"], region="asia"))
    assert created.status_code == 201, created.get_data(as_text=True)
    assert (created.json["topics"], created.json["region"]) == (["refugees"], "asia")
    slug = created.json["slug"]

    changed = client.patch(f"/api/v1/actions/{slug}", headers=headers,
                           json={"topics": ["torture"], "region": ""})
    assert changed.status_code == 200, changed.get_data(as_text=True)
    assert (changed.json["topics"], changed.json["region"]) == (["torture"], "")

    bad = client.patch(f"/api/v1/actions/{slug}", headers=headers,
                       json={"topics": ["gardening"], "region": "mars"})
    assert bad.status_code == 422
    assert set(bad.json["error"]["fields"]) >= {"topics", "region"}
    assert fresh(Action, get_action(slug).id).topics == ["torture"]

    spec = client.get("/api/v1/openapi.json").get_data(as_text=True)
    assert "Keys of topics on the managed list" in spec  # POST and PATCH bodies
    assert "The key of a region on the managed list" in spec


def test_a_choice_without_topics_marks_the_topic_boxes_invalid(client):
    topics.add(TermKind.TOPIC, "Refugees", actor=None)
    response = post_form(client, "/network", {"email": "ok@example.org", "scope": "chosen"})
    assert response.status_code == 422
    box = parse_html(response.get_data(as_text=True)).find("input", name="topics")
    assert box.get("aria-invalid") == "true"
    assert box.get("aria-describedby") == "topics-error"


def test_an_action_keeps_a_retired_topic_and_region_when_edited(client, admin):
    torture = topics.add(TermKind.TOPIC, "Torture", actor=None)
    asia = topics.add(TermKind.REGION, "Asia", actor=None)
    action = make_action(publish=False)
    action.topics, action.region = ["torture"], "asia"
    db.session.commit()
    topics.set_retired(torture, True, actor=None)
    topics.set_retired(asia, True, actor=None)
    log_in(client, admin)
    url = f"/admin/actions/{action.slug}/edit"
    page = parse_html(client.get(url).get_data(as_text=True))
    box = page.find("input", name="topics", value="torture")
    assert box is not None and "checked" in box.attrs
    assert "Torture (retired)" in client.get(url).get_data(as_text=True)

    response = post_form(client, url, action_form(slug=action.slug, topics=["torture"],
                                                  region="asia"))
    assert response.status_code == 303, response.get_data(as_text=True)
    kept = fresh(Action, action.id)
    assert (kept.topics, kept.region) == (["torture"], "asia")
    refused = post_form(client, "/admin/actions/new", action_form(region="asia"))
    assert refused.status_code == 422  # not for a new action

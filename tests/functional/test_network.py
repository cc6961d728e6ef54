"""The urgent-action network: joining by double opt-in, choosing topics and regions from
a link without an account, and alerts that reach exactly the members who asked."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from petitions.extensions import db
from petitions.models import (
    Action,
    Subscriber,
    SubscriberStatus,
    Term,
    TermKind,
    Update,
    UpdateKind,
)
from petitions.services import network, updates
from petitions.services import topics as topics_service
from tests.conftest import body_text
from tests.factories import (
    csrf_token,
    deliver_pending_mail,
    field_error,
    make_action,
    parse_html,
    post_form,
)
from tests.messaging_factories import link, local_path, run_to_the_end
from tests.organizer_factories import login, make_user


def on_the_list(kind: TermKind, *names: str) -> None:
    """Put terms on the managed list (a name in lower case is its own key)."""
    for name in names:
        if not db.session.scalar(select(Term.id).where(Term.kind == kind, Term.name == name)):
            topics_service.add(kind, name, actor=None)


def tagged_action(topics: list[str], region: str = "", **overrides: Any) -> Action:
    on_the_list(TermKind.TOPIC, *topics)
    if region:
        on_the_list(TermKind.REGION, region)
    action = make_action(**overrides)
    action.topics = topics
    action.region = region
    db.session.commit()
    return action


def join(client, mailbox, email: str, **choice: Any) -> str:  # type: ignore[no-untyped-def]
    """Join through the form and confirm from the email; returns the welcome page."""
    data = {"email": email, "scope": "all", **choice}
    response = post_form(client, "/network", data)
    assert response.status_code == 303, response.get_data(as_text=True)
    deliver_pending_mail()
    [message] = mailbox.to(email)
    mailbox.clear()
    path = local_path(link(message, "/network/confirm/"))
    return post_form(client, path, {}).get_data(as_text=True)


def test_joining_takes_a_confirmation_and_opening_the_link_changes_nothing(client, mailbox):
    tagged_action(["water"])
    response = post_form(client, "/network", {"email": "member@example.org", "scope": "all"})
    assert response.status_code == 303
    assert client.get(response.headers["Location"]).status_code == 200
    deliver_pending_mail()
    [message] = mailbox.to("member@example.org")
    assert "member@example.org" not in link(message, "/network/confirm/")
    path = local_path(link(message, "/network/confirm/"))

    assert client.get(path).status_code == 200
    subscriber = db.session.scalars(select(Subscriber)).one()
    assert subscriber.status == SubscriberStatus.PENDING
    assert subscriber.email == "member@example.org"
    assert subscriber.email_digest != "member@example.org"

    welcome = post_form(client, path, {})
    assert welcome.status_code == 200
    db.session.expire_all()
    assert db.session.get(Subscriber, subscriber.id).status == SubscriberStatus.CONFIRMED
    assert client.get(path).status_code == 404  # the link is spent


def test_the_form_keeps_the_input_and_explains_each_error(client):
    tagged_action(["water"], "Middle East")
    response = post_form(client, "/network", {"email": "not an address", "scope": "chosen"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert field_error(html, "email")
    assert 'value="not an address"' in html

    response = post_form(client, "/network", {"email": "ok@example.org", "scope": "chosen"})
    assert response.status_code == 422
    assert "at least one topic or region" in response.get_data(as_text=True)
    assert 'value="ok@example.org"' in response.get_data(as_text=True)


def test_an_alert_reaches_exactly_the_members_of_its_topic_or_region(app, client, mailbox):
    app.config["UPDATE_BATCH_SIZE"] = 2
    tagged_action(["water", "press"], "asia")  # makes the choices exist
    join(client, mailbox, "everything@example.org")
    join(client, mailbox, "water@example.org", scope="chosen", topics="water")
    join(client, mailbox, "asia@example.org", scope="chosen", regions="asia")
    join(client, mailbox, "press@example.org", scope="chosen", topics="press")
    post_form(client, "/network", {"email": "never-confirmed@example.org", "scope": "all"})
    leaving = join(client, mailbox, "left@example.org")
    preferences = next(local_path(a.get("href")) for a in parse_html(leaving).find_all("a")
                       if "/network/preferences/" in a.get("href", ""))
    subscriber = network.subscriber_for(preferences.rsplit("/", 1)[1])
    network.unsubscribe(subscriber)
    deliver_pending_mail()
    mailbox.clear()

    action = tagged_action(["water"], "asia", title="Free the journalists")
    admin = make_user("admin")
    login(client, admin)
    alert_page = f"/admin/actions/{action.slug}/alert"
    assert client.get(alert_page).status_code == 200
    assert db.session.scalar(select(Update.id)) is None  # asking changes nothing
    assert post_form(client, alert_page, {}).status_code == 303
    alert = db.session.scalars(select(Update).where(Update.kind == UpdateKind.ALERT)).one()
    run_to_the_end(alert)

    assert sorted(str(m["To"]) for m in mailbox.messages) == [
        "asia@example.org", "everything@example.org", "water@example.org"]
    message = mailbox.to("water@example.org")[0]
    assert message["Subject"] == "Urgent action: Free the journalists"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert f"/actions/{action.slug}" in body_text(message)

    again = post_form(client, alert_page, {})
    assert again.status_code == 409  # one alert per action
    assert db.session.scalar(select(db.func.count(Update.id))) == 1


def test_members_change_their_topics_and_unsubscribe_from_the_link_in_an_alert(
        app, client, mailbox):
    tagged_action(["water", "press"], "asia")
    join(client, mailbox, "chooser@example.org")
    action = tagged_action(["press"])
    alert = updates.create_alert(action, make_user("admin"))
    run_to_the_end(alert)
    [message] = mailbox.to("chooser@example.org")
    preferences = local_path(link(message, "/network/preferences/"))

    page = client.get(preferences)
    assert page.status_code == 200
    response = post_form(client, preferences, {"scope": "chosen", "topics": "water"})
    assert response.status_code == 200
    subscriber = db.session.scalars(select(Subscriber)).one()
    db.session.refresh(subscriber)
    assert (subscriber.all_actions, subscriber.topics) == (False, ["water"])
    assert post_form(client, preferences, {"scope": "chosen"}).status_code == 422

    one_click = local_path(message["List-Unsubscribe"].strip("<>"))
    assert client.post(one_click, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    db.session.refresh(subscriber)
    assert subscriber.status == SubscriberStatus.UNSUBSCRIBED

    mailbox.clear()
    later = updates.create_alert(tagged_action(["water"]), make_user("admin"))
    run_to_the_end(later)
    assert mailbox.messages == []


def test_forged_preference_and_confirmation_links_get_a_404(client):
    assert client.get("/network/preferences/forged").status_code == 404
    assert client.get("/network/confirm/" + "x" * 43).status_code == 404
    token = csrf_token(client, "/network")
    assert client.post("/network/confirm/" + "x" * 43,
                       data={"csrf_token": token}).status_code == 404


def test_the_thank_you_page_offers_the_network(client):
    action = make_action()
    page = parse_html(client.get(f"/actions/{action.slug}/thank-you").get_data(as_text=True))
    assert any(a.get("href") == "/network" for a in page.find_all("a"))

"""The organizer console side of deliveries: the tally, asking for a delivery, following
it to every target's inbox, downloading the package, automatic deliveries, who may do it.

The worker's bodies run in-process: ``deliveries.compile_delivery`` builds the package
and ``deliver_pending_mail`` sends the outbox through a real SMTP server (``mailbox``).
"""

from __future__ import annotations

import csv
import io
import itertools
from datetime import date
from email.message import EmailMessage
from typing import Any
from unittest import mock

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from petitions.extensions import db
from petitions.i18n import format_long_date
from petitions.models import (
    Action,
    ActionStatus,
    ActionTally,
    AuditEntry,
    Delivery,
    DeliveryStatus,
    DeliveryTrigger,
    Signature,
    User,
)
from petitions.services import confirming, deliveries, mail, paper, signing, tallies
from petitions.services.actions import TargetInput
from tests.accessibility import accessibility_problems
from tests.account_factories import (  # noqa: F401 - a fixture
    cheap_password_hashing,
    log_in,
    make_user,
)
from tests.factories import (
    Element,
    csrf_token,
    deliver_pending_mail,
    fresh,
    make_action,
    parse_html,
    post_form,
    signature_input,
)
from tests.organizer_factories import csv_bytes, download

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")

TARGETS = [
    TargetInput(name="Antonio Guterres", title="Secretary-General",
                organization="United Nations", email="sg@un.example"),
    TargetInput(name="Volker Türk", title="High Commissioner for Human Rights",
                email="hc@ohchr.example"),
    TargetInput(name="The Embassy", organization="Foreign Ministry"),  # no address
]
REACHABLE = {"Antonio Guterres": "sg@un.example", "Volker Türk": "hc@ohchr.example"}
_tokens = itertools.count(1)


def make_deliverable_action(**overrides: Any) -> Action:
    """A published action with two targets that have an address and one that has none."""
    return make_action(**{"targets": TARGETS, **overrides})


def make_confirmed_signature(action: Action, **overrides: Any) -> Signature:
    """Sign through the signing service, then confirm with the link's token, which the
    test knows because it chose it."""
    token = f"test-token-{next(_tokens)}-{'x' * 32}"
    with mock.patch("petitions.services.signing.new_token",
                    return_value=(token, signing.token_digest(token))):
        outcome = signing.sign(action, signature_input(**overrides))
    assert confirming.confirm(token).state == confirming.TokenState.CONFIRMED
    signature = db.session.get(Signature, outcome.signature_id)
    assert signature is not None
    return signature


@pytest.fixture
def organizer(app) -> User:
    return make_user(name="Mina Organizer")


@pytest.fixture
def action(organizer, mailbox) -> Action:
    """Two targets with an address and one without; two confirmed online signers and
    one on paper. Their confirmation emails are sent before the test starts, so the
    mailbox only gets what the test sends."""
    action = make_deliverable_action(goal=3)
    action.organizers.append(organizer)
    db.session.commit()
    make_confirmed_signature(action, first_name="Leila", last_name="Ahmadi", country="IR")
    make_confirmed_signature(action, first_name="Zoë", last_name="Martin", country="FR")
    paper.upload(action, csv_bytes([["Nasrin", "Sotoudeh", "IR"]]), label="Vigil",
                 uploaded_by=organizer)
    deliver_pending_mail()
    mailbox.clear()
    return action


@pytest.fixture
def console(client, organizer) -> FlaskClient:
    log_in(client, organizer)
    return client


def base(action: Action) -> str:
    return f"/console/actions/{action.slug}/deliveries"


def page_of(client: FlaskClient, url: str) -> Element:
    """The page at ``url``, which must answer 200 and pass the accessibility checks."""
    response = client.get(url)
    assert response.status_code == 200, url
    html = response.get_data(as_text=True)
    assert accessibility_problems(html, 200) == []
    return parse_html(html)


def cells(row: Element) -> list[str]:
    return [cell.text for cell in row.find_all() if cell.tag in ("th", "td")]


def facts(element: Element) -> dict[str, str]:
    """The terms and descriptions of the first <dl> in ``element``."""
    dl = element.find("dl")
    assert dl is not None
    return {pair.find("dt").text: pair.find("dd").text for pair in dl.find_all("div")}


def delivery_card(page: Element, delivery_id: int) -> Element:
    card = page.find("article", aria_labelledby=f"delivery-{delivery_id}-heading")
    assert card is not None, f"delivery {delivery_id} is not on the page"
    return card


def heading(card: Element, delivery_id: int) -> str:
    found = card.find(id=f"delivery-{delivery_id}-heading")
    assert found is not None
    return found.text


def target_rows(card: Element) -> dict[str, list[str]]:
    """Each target's row: status, sent, message id, reason; keyed by the target's name."""
    rows = card.find("tbody").find_all("tr")
    return {row.find("th").text.split(",")[0]: cells(row)[1:] for row in rows}


def post_from(client: FlaskClient, page: str, url: str, data: dict[str, str]):  # type: ignore[no-untyped-def]
    """POST to ``url`` as the form on ``page`` does, with that page's CSRF token."""
    return client.post(url, data={**data, "csrf_token": csrf_token(client, page)})


def request_in_console(client: FlaskClient, action: Action, *,
                       mark_delivered: bool = False) -> Delivery:
    """Ask for a delivery as an organizer does: the confirmation page, then its button."""
    response = post_form(client, f"{base(action)}/new",
                         {"mark_delivered": "y"} if mark_delivered else {})
    assert response.status_code == 303, response.get_data(as_text=True)
    delivery = db.session.scalars(select(Delivery).where(Delivery.action_id == action.id)
                                  .order_by(Delivery.id.desc())).first()
    assert delivery is not None
    assert response.headers["Location"] == f"{base(action)}/{delivery.id}"
    return delivery


def run_worker(delivery_id: int) -> int:
    """What the worker does: compile the package, then send the outbox."""
    assert deliveries.compile_delivery(delivery_id) == DeliveryStatus.SENDING
    return deliver_pending_mail()


def attachments(message: EmailMessage) -> dict[str, tuple[str, bytes]]:
    return {part.get_filename(): (part.get_content_type(), part.get_payload(decode=True))
            for part in message.iter_attachments()}


def csv_rows(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"), newline="")))


def audit_entries(verb: str) -> list[AuditEntry]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.verb == verb)
                                   .order_by(AuditEntry.id)))


# --- asking for a delivery, and following it ----------------------------------------------

def test_organizer_delivers_the_signatures_to_every_target(console, action, organizer, mailbox):
    page = page_of(console, base(action))
    assert page.find("h1").text == "Deliveries to the officials"
    assert "The signatures have not been delivered yet." in page.text
    assert page.find("a", href=f"{base(action)}/new") is not None

    confirm = page_of(console, f"{base(action)}/new")
    assert confirm.find("h1").text == "Send the signatures to Antonio Guterres, Volker Türk?"
    assert [li.text for li in confirm.find("ul", class_="targets").find_all("li")] == [
        "Antonio Guterres, Secretary-General, United Nations <sg@un.example>",
        "Volker Türk, High Commissioner for Human Rights <hc@ohchr.example>"]
    assert "these targets receive nothing: The Embassy." in confirm.find(class_="notice").text
    checkbox = confirm.find("input", name="mark_delivered")
    assert checkbox.get("type") == "checkbox" and "checked" not in checkbox.attrs
    label = confirm.find("label", for_=checkbox.get("id"))
    assert label.text == "Then mark the action as delivered"

    delivery = request_in_console(console, action)
    assert (delivery.status, delivery.trigger) == (DeliveryStatus.QUEUED, DeliveryTrigger.MANUAL)
    assert delivery.requested_by_id == organizer.id and not delivery.mark_delivered
    [entry] = audit_entries("delivery.request")
    assert (entry.actor_id, entry.via, entry.object_id) == (organizer.id, "web", str(delivery.id))

    queued = delivery_card(page_of(console, f"{base(action)}/{delivery.id}"), delivery.id)
    assert heading(queued, delivery.id) == f"Delivery {delivery.id}: queued"
    assert facts(queued)["Requested by"] == "Mina Organizer"
    assert facts(queued)["Signatures carried"] == "counted when the package is compiled"

    assert run_worker(delivery.id) == 3  # two targets and the organizer's own copy
    messages = mailbox.wait_for(3)
    assert len(messages) == 3
    for name, address in REACHABLE.items():
        [message] = mailbox.to(address)
        assert name in str(message["To"])
        assert message["Cc"] is None
        files = attachments(message)
        assert set(files) == {f"{action.slug}-letter.pdf", f"{action.slug}-signatures.csv"}
        media_type, pdf = files[f"{action.slug}-letter.pdf"]
        assert media_type == "application/pdf" and pdf.startswith(b"%PDF")
        media_type, table = files[f"{action.slug}-signatures.csv"]
        assert media_type == "text/csv"
        assert sorted(csv_rows(table)) == sorted([
            ["first_name", "last_name", "country", "collected"],
            ["Leila", "Ahmadi", "IR", "online"], ["Zoë", "Martin", "FR", "online"],
            ["Nasrin", "Sotoudeh", "IR", "paper"]])
    assert not mailbox.to("embassy")

    page = page_of(console, base(action))
    card = delivery_card(page, delivery.id)
    assert heading(card, delivery.id) == f"Delivery {delivery.id}: sent"
    assert facts(card)["Signatures carried"] == "3: 2 confirmed online, 1 on paper"
    assert facts(card)["Trigger"] == "requested by an organizer"
    rows = target_rows(card)
    assert list(rows) == list(REACHABLE)
    for name, address in REACHABLE.items():
        [message] = mailbox.to(address)
        status, sent, message_id = rows[name]  # no failure: no column for a reason
        assert (status, message_id) == ("sent", message["Message-ID"])
        assert sent
    assert fresh(Action, action.id).status == ActionStatus.PUBLISHED  # not asked to mark it


def test_package_downloads_are_decrypted_and_audited(console, action, organizer):
    delivery = request_in_console(console, action)
    run_worker(delivery.id)
    card = delivery_card(page_of(console, f"{base(action)}/{delivery.id}"), delivery.id)
    forms = card.find("ul", class_="downloads").find_all("form")
    assert [f.get("action") for f in forms] == [f"{base(action)}/{delivery.id}/{name}"
                                                for name in ("signatures.csv", "letter-1.pdf",
                                                             "letter-2.pdf")]
    assert {f.get("method") for f in forms} == {"post"}
    # Not a link another site could point a logged-in organizer's browser at.
    assert console.get(f"{base(action)}/{delivery.id}/letter-2.pdf").status_code == 405
    cross_site = download(console, f"{base(action)}/{delivery.id}/letter-2.pdf",
                          headers={"Sec-Fetch-Site": "cross-site"})
    assert cross_site.status_code == 403 and not cross_site.data.startswith(b"%PDF")
    forged = console.post(f"{base(action)}/{delivery.id}/letter-2.pdf",
                          data={"csrf_token": "forged"})
    assert forged.status_code == 400 and not forged.data.startswith(b"%PDF")

    response = download(console, f"{base(action)}/{delivery.id}/letter-2.pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF")
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="{action.slug}-delivery-{delivery.id}-letter-2.pdf"')
    assert response.headers["Cache-Control"] == "no-store"

    response = download(console, f"{base(action)}/{delivery.id}/signatures.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Cache-Control"] == "no-store"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = csv_rows(response.data)
    assert rows[0] == ["first_name", "last_name", "country", "collected"]
    assert ["Nasrin", "Sotoudeh", "IR", "paper"] in rows

    downloads = audit_entries("delivery.download")
    assert [(e.actor_id, e.via, e.object_type, e.object_id, e.after) for e in downloads] == [
        (organizer.id, "web", "delivery", str(delivery.id), {"file": "letter-2.pdf"}),
        (organizer.id, "web", "delivery", str(delivery.id), {"file": "signatures.csv"})]


def test_unknown_deliveries_and_files_are_404(console, action, organizer):
    delivery = request_in_console(console, action)
    run_worker(delivery.id)
    other = make_deliverable_action()
    other.organizers.append(organizer)
    db.session.commit()
    elsewhere = deliveries.request_delivery(other, actor=None)

    for url in (f"{base(action)}/{elsewhere.id}", f"{base(action)}/999999",
                f"{base(action)}/{10**30}", "/console/actions/no-such-action/deliveries"):
        assert console.get(url).status_code == 404, url
    for url in (f"{base(action)}/{elsewhere.id}/signatures.csv",
                f"{base(action)}/999999/signatures.csv", f"{base(action)}/{10**30}/letter-1.pdf",
                f"{base(action)}/{delivery.id}/letter-3.pdf",
                f"{base(action)}/{delivery.id}/..%2Fsignatures.csv",
                f"/console/actions/no-such-action/deliveries/{delivery.id}/signatures.csv"):
        assert download(console, url).status_code == 404, url
    assert audit_entries("delivery.download") == []


def test_mark_delivered_moves_the_action_and_the_public_page_says_so(console, action):
    confirm = page_of(console, f"{base(action)}/new")
    assert confirm.find("input", name="mark_delivered") is not None
    delivery = request_in_console(console, action, mark_delivered=True)
    assert delivery.mark_delivered
    run_worker(delivery.id)

    assert fresh(Action, action.id).status == ActionStatus.DELIVERED
    sent = fresh(Delivery, delivery.id)
    assert sent.status == DeliveryStatus.SENT
    public = parse_html(console.get(f"/actions/{action.slug}").get_data(as_text=True))
    assert public.find("p", class_="delivered").text == (
        f"Delivered on {format_long_date(sent.sent_at.date(), 'en')} to Antonio Guterres, "
        "Volker Türk.")
    card = delivery_card(page_of(console, base(action)), delivery.id)
    assert facts(card)["Then mark the action as delivered"] == "yes"


def test_a_permanent_failure_shows_with_its_reason(console, action, mailbox, monkeypatch):
    real_send = mail.send_message

    def refuse_the_commissioner(message: EmailMessage) -> None:
        if "hc@ohchr.example" in str(message["To"]):
            raise mail.PermanentMailError("550 mailbox unavailable")
        real_send(message)

    monkeypatch.setattr(mail, "send_message", refuse_the_commissioner)
    delivery = request_in_console(console, action, mark_delivered=True)
    run_worker(delivery.id)
    assert len(mailbox.wait_for(2)) == 2  # one target and the organizer's copy

    assert fresh(Delivery, delivery.id).status == DeliveryStatus.FAILED
    assert fresh(Action, action.id).status == ActionStatus.PUBLISHED
    for url in (base(action), f"{base(action)}/{delivery.id}"):
        card = delivery_card(page_of(console, url), delivery.id)
        assert heading(card, delivery.id) == f"Delivery {delivery.id}: failed"
        assert card.find("p", class_="error").text == (
            "Failed: Volker Türk: 550 mailbox unavailable")
        rows = target_rows(card)
        assert rows["Antonio Guterres"][0] == "sent"
        assert rows["Volker Türk"][0] == "failed"
        assert rows["Volker Türk"][2:] == ["", "550 mailbox unavailable"]
    assert "Delivered on" not in console.get(f"/actions/{action.slug}").get_data(as_text=True)


@pytest.mark.parametrize(("setup", "reason"), [
    ({"targets": [TargetInput(name="Nobody reachable")]},
     "none of the action's targets has an email address"),
    ({"publish": False}, "an action that is draft can't be delivered"),
])
def test_a_delivery_that_cannot_be_requested_says_why(client, organizer, setup, reason):
    action = make_deliverable_action(**setup)
    action.organizers.append(organizer)
    db.session.commit()
    log_in(client, organizer)
    response = post_form(client, f"{base(action)}/new", {"mark_delivered": "y"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert accessibility_problems(html, 422) == []
    page = parse_html(html)
    assert page.find(role="alert").text == f"The delivery was not requested: {reason}."
    assert "checked" in page.find("input", name="mark_delivered").attrs
    assert db.session.scalars(select(Delivery)).all() == []


# --- automatic delivery -------------------------------------------------------------------

def test_automatic_delivery_settings_are_saved_audited_and_used(console, action, organizer):
    action.deadline = date(2030, 1, 31)
    db.session.commit()
    page = page_of(console, base(action))
    form = page.find("form", action=f"{base(action)}/automatic")
    boxes = {box.get("name"): box for box in form.find_all("input", type="checkbox")}
    assert set(boxes) == {"on_goal", "at_deadline"}
    assert not any("checked" in box.attrs for box in boxes.values())
    labels = {label.get("for"): label.text for label in form.find_all("label")}
    assert labels[boxes["on_goal"].get("id")] == "When the goal of 3 signatures is reached"
    assert labels[boxes["at_deadline"].get("id")] == \
        "When the deadline (2030-01-31) has passed"

    response = post_from(console, base(action), f"{base(action)}/automatic", {"on_goal": "y"})
    assert response.status_code == 303
    assert response.headers["Location"] == f"{base(action)}#automatic"
    saved = fresh(Action, action.id)
    assert (saved.auto_deliver_on_goal, saved.auto_deliver_at_deadline) == (True, False)
    [entry] = audit_entries("action.auto_delivery")
    assert (entry.actor_id, entry.via, entry.object_id) == (organizer.id, "web", str(action.id))
    assert (entry.before, entry.after) == ({"auto_deliver_on_goal": False},
                                           {"auto_deliver_on_goal": True})
    page = page_of(console, base(action))
    assert "The automatic delivery settings were saved." in page.find(class_="flashes").text
    assert "checked" in page.find("input", name="on_goal").attrs
    assert "checked" not in page.find("input", name="at_deadline").attrs

    # The goal (3) is reached: the scheduler starts the delivery, which the page lists.
    assert deliveries.auto_deliver_due() == 1
    [automatic] = deliveries.list_deliveries(action)
    card = delivery_card(page_of(console, base(action)), automatic.id)
    assert facts(card)["Trigger"] == "automatic: goal reached"
    assert facts(card)["Requested by"] == "the scheduler"

    response = post_from(console, base(action), f"{base(action)}/automatic",
                         {"at_deadline": "y"})
    assert response.status_code == 303
    saved = fresh(Action, action.id)
    assert (saved.auto_deliver_on_goal, saved.auto_deliver_at_deadline) == (False, True)
    assert len(audit_entries("action.auto_delivery")) == 2


def test_without_a_deadline_the_form_says_so(console, action):
    page = page_of(console, base(action))
    box = page.find("input", name="at_deadline")
    assert page.find("label", for_=box.get("id")).text == \
        "When the deadline has passed (the action has no deadline yet)"


# --- the tally -----------------------------------------------------------------------------

def tally_section(client: FlaskClient, action: Action) -> Element:
    section = page_of(client, f"/console/actions/{action.slug}").find("section", id="tally")
    assert section is not None
    return section


def test_the_action_page_shows_the_compiled_tally_and_recompiles_it(console, action):
    section = tally_section(console, action)
    compiled = db.session.get(ActionTally, action.id)
    assert compiled is not None
    when = compiled.compiled_at.strftime("%Y-%m-%d %H:%M")
    assert section.find(id="tally-compiled").text == (
        f"Compiled on {when} UTC, when 2 signatures were confirmed online, 0 waiting for "
        "confirmation and 1 on paper.")
    assert section.find("time").get("datetime") == \
        compiled.compiled_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    by_country, by_day = [details.find("tbody") for details in section.find_all("details")]
    assert [cells(row) for row in by_country.find_all("tr")] == [["France", "1"], ["Iran", "1"]]
    assert [cells(row) for row in by_day.find_all("tr")] == [
        [day, "2"] for day in compiled.by_day]

    make_confirmed_signature(action, country="IR")
    assert "when 2 signatures" in tally_section(console, action).text  # not compiled again

    form = section.find("form")
    assert form.get("method") == "post" and form.get("action") == \
        f"/console/actions/{action.slug}/tally"
    assert form.find("button").text == "Recompile now"
    page = f"/console/actions/{action.slug}"
    response = post_from(console, page, f"{page}/tally", {})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/console/actions/{action.slug}#tally"
    section = tally_section(console, action)
    assert "when 3 signatures were confirmed online" in section.find(id="tally-compiled").text
    by_country = section.find("details").find("tbody")
    assert [cells(row) for row in by_country.find_all("tr")] == [["Iran", "2"], ["France", "1"]]
    assert tallies.tally_json(action)["by_country"] == {"FR": 1, "IR": 2}


def test_the_deliveries_page_is_linked_from_the_console(console, action):
    url = base(action)
    assert page_of(console, f"/console/actions/{action.slug}").find("a", href=url) is not None
    assert page_of(console, "/console/").find("a", href=url) is not None


# --- who may do it --------------------------------------------------------------------------

def new_routes(action: Action, delivery: Delivery) -> list[tuple[str, str]]:
    url = base(action)
    return [("GET", url), ("GET", f"{url}/new"), ("POST", f"{url}/new"),
            ("POST", f"{url}/automatic"), ("GET", f"{url}/{delivery.id}"),
            ("POST", f"{url}/{delivery.id}/signatures.csv"),
            ("POST", f"{url}/{delivery.id}/letter-1.pdf"),
            ("POST", f"/console/actions/{action.slug}/tally")]


def ask(client: FlaskClient, method: str, url: str, token: str):  # type: ignore[no-untyped-def]
    if method == "GET":
        return client.get(url)
    return client.post(url, data={"csrf_token": token, "on_goal": "y",
                                  "mark_delivered": "y"})


def test_only_the_assigned_organizer_and_admins_get_in(app, action):
    delivery = deliveries.request_delivery(action, actor=None)
    run_worker(delivery.id)
    before = {verb: len(audit_entries(verb))
              for verb in ("delivery.request", "delivery.download", "action.auto_delivery")}

    anonymous = app.test_client()
    token = csrf_token(anonymous, "/login")
    for method, url in new_routes(action, delivery):
        response = ask(anonymous, method, url, token)
        assert response.status_code == 302, (method, url)
        assert response.headers["Location"].startswith("/login?next="), (method, url)

    outsider = app.test_client()
    log_in(outsider, make_user())
    token = csrf_token(outsider, "/account/password")
    for method, url in new_routes(action, delivery):
        assert ask(outsider, method, url, token).status_code == 403, (method, url)

    after = {verb: len(audit_entries(verb)) for verb in before}
    assert after == before
    assert len(deliveries.list_deliveries(action)) == 1
    assert not fresh(Action, action.id).auto_deliver_on_goal

    admin = app.test_client()
    log_in(admin, make_user("admin"))
    for url in (base(action), f"{base(action)}/new", f"{base(action)}/{delivery.id}"):
        page_of(admin, url)
    assert download(admin, f"{base(action)}/{delivery.id}/signatures.csv").status_code == 200

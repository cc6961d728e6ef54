"""Updates to signers: written and tested in the console, sent in batches to exactly the
confirmed signers who opted in, once each, with working unsubscribe links."""

from __future__ import annotations

from sqlalchemy import select

from petitions.extensions import db
from petitions.models import (
    OutboundEmail,
    OutboxStatus,
    Signature,
    Suppression,
    SuppressionReason,
    Update,
    UpdateStatus,
)
from petitions.services import suppression, updates
from tests.factories import (
    csrf_token,
    deliver_pending_mail,
    field_error,
    make_action,
    make_confirmed_signature,
    make_signature,
    parse_html,
    post_form,
)
from tests.messaging_factories import (
    UPDATE_SUBJECT,
    discard_pending_mail,
    link,
    local_path,
    new_update,
    opted_in_signer,
    run_to_the_end,
)
from tests.organizer_factories import login, make_user


def update_mail(mailbox):  # type: ignore[no-untyped-def]
    return [m for m in mailbox.messages if m["Subject"] == UPDATE_SUBJECT]


def test_an_update_reaches_exactly_the_opted_in_confirmed_signers_once(app, mailbox):
    app.config["UPDATE_BATCH_SIZE"] = 2
    action, other = make_action(), make_action()
    wanted = [opted_in_signer(action, email=f"news{n}@example.org") for n in range(5)]
    opted_in_signer(other, email="other-action@example.org")
    make_signature(action, email="pending@example.org", updates_opt_in=True)
    make_confirmed_signature(action, email="no-news@example.org")
    discard_pending_mail()
    organizer = make_user("organizer", actions=[action])
    update = new_update(action, organizer)

    assert updates.start_sending(update, organizer)
    assert not updates.start_sending(update, organizer)  # once only
    batches = run_to_the_end(update)

    assert batches == 4  # 2 + 2 + 1, and the one that finds no one
    received = update_mail(mailbox)
    assert sorted(str(m["To"]).split("<")[1].rstrip(">") for m in received) == sorted(
        s.email for s in wanted)
    update = db.session.get(Update, update.id)
    assert update.status == UpdateStatus.SENT and update.finished_at is not None
    assert update.recipients == 5
    report = updates.report(update)
    assert (report.sent, report.failed, report.pending) == (5, 0, 0)


def test_a_batch_run_again_or_by_a_stale_chain_queues_no_one_twice(app, mailbox):
    app.config["UPDATE_BATCH_SIZE"] = 10
    action = make_action()
    for n in range(3):
        opted_in_signer(action, email=f"twice{n}@example.org")
    organizer = make_user("organizer", actions=[action])
    update = new_update(action, organizer)
    updates.start_sending(update, organizer)

    assert updates.send_batch(update.id, 0) == 3
    assert updates.send_batch(update.id, 0) == 0  # a stale chain: the cursor moved on
    # Even with the cursor wound back (as if the batch's commit were replayed), the
    # database refuses a second row for the same person and update.
    db.session.get(Update, update.id).cursor = 0
    db.session.commit()
    assert updates.send_batch(update.id, 0) == 0
    run_to_the_end(update)

    assert len(update_mail(mailbox)) == 3
    assert len({str(m["To"]) for m in update_mail(mailbox)}) == 3


def test_every_update_carries_one_click_unsubscribe_headers_and_links(app, client, mailbox):
    action = make_action()
    signer = opted_in_signer(action, email="leaving@example.org")
    organizer = make_user("organizer", actions=[action])
    first = new_update(action, organizer)
    updates.start_sending(first, organizer)
    run_to_the_end(first)

    [message] = update_mail(mailbox)
    header = message["List-Unsubscribe"]
    assert header.startswith("<http://petitions.test/unsubscribe/") and header.endswith(
        "/one-click>")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "leaving@example.org" not in header
    page_url = local_path(link(message, "/unsubscribe/"))

    # Opening the link changes nothing; the button does.
    page = client.get(page_url)
    assert page.status_code == 200
    assert db.session.get(Signature, signer.id).updates_opt_in
    response = post_form(client, page_url, {})
    assert response.status_code == 200 and "unsubscribed" in response.get_data(as_text=True)
    db.session.expire_all()
    assert not db.session.get(Signature, signer.id).updates_opt_in
    assert suppression.is_suppressed(signer.email_digest, action.id)

    mailbox.clear()
    second = new_update(action, organizer)
    updates.start_sending(second, organizer)
    run_to_the_end(second)
    assert update_mail(mailbox) == []


def test_the_rfc8058_one_click_post_needs_no_csrf_token_and_can_be_repeated(app, client,
                                                                           mailbox):
    action = make_action()
    signer = opted_in_signer(action)
    organizer = make_user("organizer", actions=[action])
    update = new_update(action, organizer)
    updates.start_sending(update, organizer)
    run_to_the_end(update)
    [message] = update_mail(mailbox)
    one_click = local_path(message["List-Unsubscribe"].strip("<>"))

    for _ in range(2):
        response = client.post(one_click, data={"List-Unsubscribe": "One-Click"})
        assert response.status_code == 200
    db.session.expire_all()
    assert not db.session.get(Signature, signer.id).updates_opt_in
    assert db.session.scalar(select(db.func.count(Suppression.id))) == 1
    assert client.post("/unsubscribe/forged-token/one-click").status_code == 404
    assert client.get("/unsubscribe/forged-token").status_code == 404


def test_a_suppressed_address_is_skipped_and_the_reason_shown(app, client, mailbox):
    action = make_action()
    opted_in_signer(action, email="kept@example.org")
    blocked = opted_in_signer(action, email="blocked@example.org")
    suppression.add(blocked.email_digest, SuppressionReason.BOUNCED)
    db.session.commit()
    organizer = make_user("organizer", actions=[action])
    update = new_update(action, organizer)
    updates.start_sending(update, organizer)
    run_to_the_end(update)

    assert [str(m["To"]) for m in update_mail(mailbox)] == [
        next(str(m["To"]) for m in update_mail(mailbox) if "kept@" in str(m["To"]))]
    rows = db.session.scalars(select(OutboundEmail).where(
        OutboundEmail.update_id == update.id)).all()
    assert sorted((r.status, r.last_error) for r in rows) == [
        (OutboxStatus.FAILED, "suppressed"), (OutboxStatus.SENT, None)]

    login(client, organizer)
    html = client.get(f"/console/actions/{action.slug}/updates").get_data(as_text=True)
    row = parse_html(html).find("tbody").find("tr")
    cells = [c.text for c in row.find_all("td")]
    assert cells[1] == "1" and cells[2].startswith("1") and "suppressed: 1" in cells[2]


def test_organizer_writes_previews_tests_and_sends_an_update_from_the_console(app, client,
                                                                             mailbox):
    action = make_action()
    signer = opted_in_signer(action, email="supporter@example.org")
    organizer = make_user("organizer", actions=[action])
    login(client, organizer)
    base = f"/console/actions/{action.slug}/updates"

    assert client.get(base).status_code == 200
    response = post_form(client, f"{base}/new", {"subject": "", "body": "Some text"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert field_error(html, "subject")
    assert "Some text" in html

    preview = post_form(client, f"{base}/new", {"subject": UPDATE_SUBJECT,
                                                "body": "We **delivered**.", "public": "y",
                                                "preview": "1"})
    assert preview.status_code == 200
    assert "<strong>delivered</strong>" in preview.get_data(as_text=True)
    assert db.session.scalar(select(db.func.count(Update.id))) == 0

    saved = post_form(client, f"{base}/new", {"subject": UPDATE_SUBJECT,
                                              "body": "We **delivered**.", "public": "y",
                                              "save": "1"})
    assert saved.status_code == 303
    detail = local_path(saved.headers["Location"])
    update = db.session.scalars(select(Update)).one()

    token = csrf_token(client, detail)
    assert client.post(f"{detail}/test", data={"csrf_token": token}).status_code == 303
    deliver_pending_mail()
    [test_message] = update_mail(mailbox)
    assert organizer.email in str(test_message["To"])
    assert updates.report(update).sent == 0  # a test counts for no signer

    confirm_page = client.get(f"{detail}/send").get_data(as_text=True)
    assert "1 confirmed signer" in confirm_page
    assert db.session.get(Update, update.id).status == UpdateStatus.DRAFT
    assert post_form(client, f"{detail}/send", {}).status_code == 303
    run_to_the_end(update)

    assert [str(m["To"]) for m in update_mail(mailbox)][1:] == [
        f"{signer.first_name} {signer.last_name} <supporter@example.org>"]
    page = parse_html(client.get(detail).get_data(as_text=True))
    assert [dd.text for dd in page.find("dl").find_all("dd")][:4] == ["1", "1", "0", "0"]


def test_only_the_action_organizers_may_see_or_send_its_updates(app, client):
    action = make_action()
    update = new_update(action, make_user("organizer", actions=[action]))
    login(client, make_user("organizer"))
    base = f"/console/actions/{action.slug}/updates"
    for path in (base, f"{base}/new", f"{base}/{update.id}", f"{base}/{update.id}/send"):
        assert client.get(path).status_code == 403, path


def test_sent_public_updates_appear_on_the_action_page(app, client, mailbox):
    action = make_action()
    organizer = make_user("organizer", actions=[action])
    shown = new_update(action, organizer, subject="Delivered to the UN today")
    hidden = new_update(action, organizer, subject="Internal note", public=False)
    new_update(action, organizer, subject="A draft nobody sees")
    for update in (shown, hidden):
        updates.start_sending(update, organizer)
        run_to_the_end(update)

    page = parse_html(client.get(f"/actions/{action.slug}").get_data(as_text=True))
    timeline = page.find("section", aria_labelledby="updates-heading")
    assert [h.text for h in timeline.find_all("h3")] == ["Delivered to the UN today"]
    assert timeline.find("strong").text == "all"


TRACKED_BODY = (
    "We met the minister.\n\n"
    "![pixel](https://tracker.example/open.gif?u=1)\n\n"
    '<img src="https://tracker.example/raw.gif" srcset="https://tracker.example/2x.gif 2x">\n'
    '<link rel="stylesheet" href="https://tracker.example/style.css">\n'
    '<iframe src="https://tracker.example/frame"></iframe>\n'
    '<div style="background: url(https://tracker.example/bg.gif)" '
    'background="https://tracker.example/bg2.gif">x</div>\n\n'
    "[Read the report](https://news.example/report)"
)


def test_an_update_email_fetches_nothing_from_elsewhere_and_keeps_its_links(app, mailbox):
    action = make_action()
    opted_in_signer(action, email="reader@example.org")
    organizer = make_user("organizer", actions=[action])
    update = new_update(action, organizer, body=TRACKED_BODY)
    assert updates.start_sending(update, organizer)
    run_to_the_end(update)

    [message] = update_mail(mailbox)
    html = message.get_body(("html",)).get_content()
    elements = parse_html(html).find_all()
    # Raw HTML in the body arrives as text (escaped); what is left must fetch nothing.
    assert [e.tag for e in elements if e.tag in (
        "img", "link", "iframe", "script", "style", "object", "embed", "video", "audio",
        "source", "picture")] == []
    for element in elements:
        for attribute in ("src", "srcset", "background", "poster"):
            assert attribute not in element.attrs, element.attrs
        assert "url(" not in (element.get("style") or "")
    assert [e.get("href") for e in elements if e.tag == "a"
            and "news.example" in (e.get("href") or "")] == ["https://news.example/report"]

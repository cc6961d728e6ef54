"""Draft updates can be edited and deleted in the console until sending starts; then
both are refused with a message, and every change is in the audit log."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from petitions.extensions import db
from petitions.models import AuditEntry, OutboundEmail, Update, UpdateStatus
from petitions.services import updates
from tests.factories import csrf_token, field_error, fresh, make_action, post_form
from tests.messaging_factories import new_update
from tests.organizer_factories import login, make_user


def verbs() -> list[str]:
    return list(db.session.scalars(select(AuditEntry.verb).where(
        AuditEntry.object_type == "update").order_by(AuditEntry.id)))


def test_a_draft_is_edited_then_deleted_with_its_tests(app, client):
    action = make_action()
    organizer = make_user("organizer", actions=[action])
    update = new_update(action, organizer)
    login(client, organizer)
    detail = f"/console/actions/{action.slug}/updates/{update.id}"
    page = client.get(detail).get_data(as_text=True)
    assert f"{detail}/edit" in page and f"{detail}/delete" in page

    edit = client.get(f"{detail}/edit").get_data(as_text=True)
    assert "We handed over" in edit
    bad = post_form(client, f"{detail}/edit", {"subject": "", "body": "Kept text"})
    assert bad.status_code == 422
    assert field_error(bad.get_data(as_text=True), "subject")
    assert "Kept text" in bad.get_data(as_text=True)

    saved = post_form(client, f"{detail}/edit", {"subject": "Delivered today",
                                                 "body": "We were **received**.",
                                                 "save": "1"})
    assert saved.status_code == 303
    changed = fresh(Update, update.id)
    assert (changed.subject, changed.body, changed.public) == (
        "Delivered today", "We were **received**.", False)

    updates.send_test(changed, organizer)  # a test queued before deleting goes too
    assert client.get(f"{detail}/delete").status_code == 200
    assert fresh(Update, update.id) is not None  # asking deletes nothing
    deleted = post_form(client, f"{detail}/delete", {})
    assert deleted.status_code == 303
    assert fresh(Update, update.id) is None
    assert db.session.scalar(select(OutboundEmail.id).where(
        OutboundEmail.update_id == update.id)) is None
    assert verbs() == ["update.create", "update.edit", "update.delete"]


@pytest.mark.parametrize("status", [UpdateStatus.SENDING, UpdateStatus.SENT])
def test_once_sending_has_started_editing_and_deleting_are_refused(app, client, status):
    action = make_action()
    organizer = make_user("organizer", actions=[action])
    update = new_update(action, organizer)
    update.status = status
    db.session.commit()
    login(client, organizer)
    detail = f"/console/actions/{action.slug}/updates/{update.id}"
    assert f"{detail}/edit" not in client.get(detail).get_data(as_text=True)

    for path, data in ((f"{detail}/edit", {"subject": "New", "body": "New", "save": "1"}),
                       (f"{detail}/delete", {})):
        token = csrf_token(client, f"/console/actions/{action.slug}/updates")
        response = client.post(path, data={**data, "csrf_token": token},
                               follow_redirects=True)
        assert "Sending has started" in response.get_data(as_text=True), path
    kept = fresh(Update, update.id)
    assert kept is not None and kept.subject == update.subject
    with pytest.raises(updates.UpdateError, match="Sending has started"):
        updates.edit_update(kept, organizer, "New", "New")
    with pytest.raises(updates.UpdateError, match="Sending has started"):
        updates.delete_update(kept, organizer)
    assert verbs() == ["update.create"]


def test_only_the_actions_organizers_may_edit_or_delete(app, client):
    action = make_action()
    update = new_update(action, make_user("organizer", actions=[action]))
    login(client, make_user("organizer"))
    base = f"/console/actions/{action.slug}/updates/{update.id}"
    for path in (f"{base}/edit", f"{base}/delete"):
        assert client.get(path).status_code == 403, path

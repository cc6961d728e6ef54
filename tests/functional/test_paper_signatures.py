"""Paper signatures: reading the uploaded file, the upload page and its report, the counts
and the public total, deleting a batch, and files too large or not readable."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from petitions.extensions import db
from petitions.models import AuditEntry, PaperBatch, PaperSignature
from petitions.services import counting, paper
from petitions.services.paper import PaperRow, PaperUploadError, RejectedRow, parse_csv
from tests.factories import (
    csrf_token,
    field_error,
    make_action,
    make_confirmed_signature,
    parse_html,
)
from tests.organizer_factories import csv_bytes, login, make_user

# --- reading the file ----------------------------------------------------------------------

def test_header_bom_semicolons_and_country_names():
    data = csv_bytes([["First name", "Last name", "Country"],
                      ["Narges", "Mohammadi", "IR"],
                      ["Zoë", "Müller", "germany"],
                      ["Leila", "Karimi", "Iran, Islamic Republic of"],
                      ["Sara", "  Ahmadi\u200b  Rad ", "ir"],
                      ["Tom", "Lee", "United Kingdom"]], delimiter=";", bom=True)
    parsed = parse_csv(data)
    assert parsed.rejected == []
    assert parsed.accepted == [PaperRow("Narges", "Mohammadi", "IR"),
                               PaperRow("Zoë", "Müller", "DE"),
                               PaperRow("Leila", "Karimi", "IR"),
                               PaperRow("Sara", "Ahmadi Rad", "IR"),
                               PaperRow("Tom", "Lee", "GB")]


def test_without_header_and_with_columns_in_another_order():
    assert parse_csv(csv_bytes([["Ana", "Silva", "PT"]])).accepted == [
        PaperRow("Ana", "Silva", "PT")]
    reordered = csv_bytes([["country", "last_name", "first_name", "email"],
                           ["FR", "Dupont", "Jeanne", "jeanne@example.org"]])
    assert parse_csv(reordered).accepted == [PaperRow("Jeanne", "Dupont", "FR")]


def test_every_bad_row_is_reported_by_number_and_reason():
    parsed = parse_csv(csv_bytes([
        ["first_name", "last_name", "country"],        # 1
        ["Narges", "Mohammadi", "IR"],                 # 2
        ["", "Empty", "FR"],                           # 3
        ["Ali", "Rezaei", "Atlantis"],                 # 4
        [],                                            # 5: blank, skipped
        ["***", "Stars", "FR"],                        # 6
        ["Only", "Two"],                               # 7
        ["Ana", "Silva", ""],                          # 8
        ["A" * 101, "Long", "FR"],                     # 9
        ["Sara", "Ahmadi", "ir"],                      # 10
    ]))
    assert [row.first_name for row in parsed.accepted] == ["Narges", "Sara"]
    assert [r.row for r in parsed.rejected] == [3, 4, 6, 7, 8, 9]
    reasons = [r.reason for r in parsed.rejected]
    assert reasons[0] == "First name: This field is required."
    assert reasons[1] == "Country: not a known country code or English country name."
    assert reasons[2].startswith("First name: Please enter a name")
    assert reasons[3] == "This row has fewer than 3 columns."
    assert reasons[4] == "Country: this field is required."
    assert reasons[5] == "First name: at most 100 characters."
    assert not any("Atlantis" in reason or "Stars" in reason for reason in reasons)


def test_extra_filled_columns_without_a_header_are_refused():
    parsed = parse_csv(csv_bytes([["Ana", "Silva", "PT", "ana@example.org"],
                                  ["Rui", "Costa", "PT", ""]]))
    assert parsed.rejected == [RejectedRow(1, "This row has more than 3 columns.")]
    assert parsed.accepted == [PaperRow("Rui", "Costa", "PT")]


@pytest.mark.parametrize(("data", "message"), [
    ("Zoë,Müller,DE\n".encode("latin-1"), "not UTF-8"),
    (b"", "no rows"),
    (b"\xef\xbb\xbf\r\n ; ; \r\n", "no rows"),
])
def test_unreadable_files(data, message):
    with pytest.raises(PaperUploadError, match=message):
        parse_csv(data)


def test_too_many_rows(monkeypatch):
    monkeypatch.setattr(paper, "MAX_ROWS", 3)
    assert len(parse_csv(csv_bytes([["A", "B", "FR"]] * 3)).accepted) == 3
    with pytest.raises(PaperUploadError, match="more than 3 rows"):
        parse_csv(csv_bytes([["A", "B", "FR"]] * 4))


# --- the upload page -----------------------------------------------------------------------

def upload(client, action, data: bytes, label: str = "Vigil, 1 December", filename="paper.csv"):
    url = f"/console/actions/{action.slug}/paper"
    return client.post(url, data={"csrf_token": csrf_token(client, url), "label": label,
                                  "file": (io.BytesIO(data), filename)},
                       content_type="multipart/form-data")


def paper_rows(action_id: int) -> int:
    return db.session.scalar(select(func.count()).select_from(PaperSignature)
                             .where(PaperSignature.action_id == action_id))


def test_upload_with_good_and_bad_rows(client):
    action = make_action()
    make_confirmed_signature(action)
    user = make_user("organizer", actions=[action])
    login(client, user)

    response = upload(client, action, csv_bytes([
        ["first_name", "last_name", "country"],
        ["Narges", "Mohammadi", "IR"],
        ["Zoë", "Müller", "Germany"],
        ["", "Nameless", "FR"],
        ["Ali", "Rezaei", "Atlantis"],
        ["مهسا", "امینی", "Iran"],
    ], delimiter=";", bom=True))
    assert response.status_code == 200
    page = parse_html(response.get_data(as_text=True))
    report = page.find("section", aria_labelledby="report-heading")
    assert "3 signatures were added." in report.text
    assert "2 rows were rejected" in report.text
    assert [[cell.text for cell in row.find_all() if cell.tag in ("th", "td")]
            for row in report.find("tbody").find_all("tr")] == [
        ["4", "First name: This field is required."],
        ["5", "Country: not a known country code or English country name."]]
    assert "Atlantis" not in report.text and "Nameless" not in report.text

    counts = counting.counts(action.id)
    assert (counts.confirmed, counts.paper, counts.total) == (1, 3, 4)
    assert paper_rows(action.id) == 3
    [batch] = db.session.scalars(select(PaperBatch)).all()
    assert (batch.label, batch.accepted, batch.rejected, batch.uploaded_by_id) == (
        "Vigil, 1 December", 3, 2, user.id)
    [entry] = db.session.scalars(select(AuditEntry).where(AuditEntry.verb == "paper.upload"))
    assert entry.actor_id == user.id and entry.object_id == str(batch.id)
    assert entry.after == {"action_id": action.id, "label": "Vigil, 1 December",
                           "accepted": 3, "rejected": 2}
    assert "Narges" not in str(entry.after)

    listed = page.find("section", aria_labelledby="batches-heading").find("tbody")
    assert "Vigil, 1 December" in listed.text

    public = parse_html(client.get(f"/actions/{action.slug}").get_data(as_text=True))
    assert public.find("p", class_="count").find("strong").text == "4"
    dashboard = parse_html(client.get("/console/").get_data(as_text=True))
    assert [c.text for c in dashboard.find("tbody").find_all("td")][-2:] == ["3", "4"]


def test_a_file_without_any_good_row_stores_nothing(client):
    action = make_action()
    login(client, make_user("organizer", actions=[action]))
    response = upload(client, action, csv_bytes([["Ali", "Rezaei", "Atlantis"]]))
    assert response.status_code == 422
    assert "nothing was added" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(PaperBatch)) == 0
    assert counting.counts(action.id).paper == 0


def test_form_errors_are_shown_by_their_fields(client):
    action = make_action()
    login(client, make_user("organizer", actions=[action]))

    no_label = upload(client, action, csv_bytes([["A", "B", "FR"]]), label="")
    assert no_label.status_code == 422
    assert "describe the batch" in field_error(no_label.get_data(as_text=True), "label")

    url = f"/console/actions/{action.slug}/paper"
    no_file = client.post(url, data={"csrf_token": csrf_token(client, url), "label": "Stall"},
                          content_type="multipart/form-data")
    assert no_file.status_code == 422
    html = no_file.get_data(as_text=True)
    assert "choose a CSV file" in field_error(html, "file")
    assert parse_html(html).find("input", name="label").get("value") == "Stall"

    latin1 = upload(client, action, "Zoë,Müller,DE\n".encode("latin-1"))
    assert latin1.status_code == 422
    assert "not UTF-8" in field_error(latin1.get_data(as_text=True), "file")
    assert counting.counts(action.id).paper == 0


def test_a_file_over_one_megabyte_gets_a_413_page(client):
    action = make_action()
    login(client, make_user("organizer", actions=[action]))
    big = csv_bytes([["Someone", "Somebody", "FR"]] * 60_000)
    assert len(big) > 1024 * 1024
    response = upload(client, action, big)
    assert response.status_code == 413
    assert "larger than 1 MB" in response.get_data(as_text=True)
    assert paper_rows(action.id) == 0


def test_deleting_a_batch_asks_first_and_takes_it_off_the_count(client):
    action = make_action()
    user = make_user("organizer", actions=[action])
    login(client, user)
    upload(client, action, csv_bytes([["A", "B", "FR"], ["C", "D", "IT"]]), label="Stall")
    keep = upload(client, action, csv_bytes([["E", "F", "DE"]]), label="Vigil")
    assert keep.status_code == 200
    stall = db.session.scalar(select(PaperBatch).where(PaperBatch.label == "Stall"))
    stall_id = stall.id
    assert counting.counts(action.id).paper == 3

    url = f"/console/actions/{action.slug}/paper/{stall_id}/delete"
    page = client.get(url)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Stall" in html and "2 signatures will be deleted" in html
    assert counting.counts(action.id).paper == 3  # looking changes nothing

    assert client.post(url, data={}).status_code == 400  # no CSRF token
    response = client.post(url, data={"csrf_token": csrf_token(client, url)})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/console/actions/{action.slug}/paper"
    assert "2 signatures were deleted" in client.get(response.headers["Location"]).get_data(
        as_text=True)

    assert counting.counts(action.id).paper == 1
    assert paper_rows(action.id) == 1
    assert db.session.scalars(select(PaperBatch.label)).all() == ["Vigil"]
    [entry] = db.session.scalars(select(AuditEntry).where(AuditEntry.verb == "paper.delete"))
    assert entry.actor_id == user.id and entry.object_id == str(stall_id)
    assert entry.before == {"action_id": action.id, "label": "Stall", "accepted": 2}
    assert client.get(url).status_code == 404

"""The CSV export service: formula escaping, filters, columns and format, streaming."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import update

from petitions.extensions import db
from petitions.models import Signature, SignatureStatus
from petitions.services import exports, paper
from petitions.services.exports import (
    PAPER_COLUMNS,
    SIGNATURE_COLUMNS,
    ExportFilterError,
    ExportFilters,
    escape_cell,
    export_filename,
    parse_bom,
    parse_export_filters,
    stream_paper_csv,
    stream_signatures_csv,
)
from tests.factories import make_action, make_confirmed_signature, make_signature
from tests.organizer_factories import bulk_signatures, csv_bytes, parse_csv_text

# --- formula escaping ----------------------------------------------------------------------

@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b",
                                   "\uff0d", "\uff20"])
def test_a_cell_starting_like_a_formula_gets_a_quote(start):
    value = start + "HYPERLINK(\"http://evil.example\",\"x\")"
    assert escape_cell(value) == "'" + value


@pytest.mark.parametrize("value", ["Leila", "", "مهسا", "Zoë", "42", "a=b", " =x", "'x",
                                   "2026-11-26T10:00:00Z", "true"])
def test_safe_values_are_untouched(value):
    assert escape_cell(value) == value


# --- filters -------------------------------------------------------------------------------

def test_no_filters():
    assert parse_export_filters({}) == ExportFilters()
    assert parse_export_filters({"since": "", "country": "", "opted_in": ""}) == ExportFilters()


def test_every_filter_is_read():
    filters = parse_export_filters({"since": "2026-11-26", "country": "fr", "opted_in": "1",
                                    "page": "ignored"})
    assert filters == ExportFilters(since=date(2026, 11, 26), country="FR", opted_in=True)


@pytest.mark.parametrize(("value", "expected"), [("1", True), ("true", True), ("YES", True),
                                                 ("on", True), ("0", False), ("false", False),
                                                 ("no", False), ("off", False)])
def test_flags(value, expected):
    assert parse_export_filters({"opted_in": value}).opted_in is expected
    assert parse_bom({"bom": value}) is expected


@pytest.mark.parametrize("since", ["2026-13-01", "2026-02-30", "yesterday", "20261126",
                                   "2026-11-26T10:00", "26/11/2026", "2026-1-5"])
def test_a_bad_date_is_refused(since):
    with pytest.raises(ExportFilterError) as caught:
        parse_export_filters({"since": since})
    assert set(caught.value.errors) == {"since"}
    assert "YYYY-MM-DD" in caught.value.errors["since"]


@pytest.mark.parametrize("country", ["XX", "France", "F", "FRA", "1"])
def test_an_unknown_country_is_refused(country):
    with pytest.raises(ExportFilterError) as caught:
        parse_export_filters({"country": country})
    assert set(caught.value.errors) == {"country"}


def test_every_bad_field_is_reported_at_once():
    with pytest.raises(ExportFilterError) as caught:
        parse_export_filters({"since": "soon", "country": "ZZ", "opted_in": "maybe"})
    assert set(caught.value.errors) == {"since", "country", "opted_in"}
    assert isinstance(caught.value, ValueError)
    assert "since:" in str(caught.value)


def test_a_bad_bom_flag_is_refused():
    with pytest.raises(ExportFilterError) as caught:
        parse_bom({"bom": "please"})
    assert set(caught.value.errors) == {"bom"}


def test_filename():
    class Named:
        slug = "free-the-students"

    assert export_filename(Named(), today=date(2026, 11, 26)) == (  # type: ignore[arg-type]
        "free-the-students-signatures-2026-11-26.csv")
    assert export_filename(Named(), "paper", date(2026, 11, 26)) == (  # type: ignore[arg-type]
        "free-the-students-paper-2026-11-26.csv")


# --- columns and format --------------------------------------------------------------------

def export_rows(action, filters=None, bom=False):
    text = "".join(stream_signatures_csv(action, filters or ExportFilters(), bom=bom))
    return parse_csv_text(text.removeprefix("\ufeff"))


def set_confirmed_at(signature, when):
    db.session.execute(update(Signature).where(Signature.id == signature.id)
                       .values(confirmed_at=when))
    db.session.commit()


def test_columns_values_and_format(app):
    action = make_action()
    signature = make_confirmed_signature(
        action, first_name="Zoë", last_name="=1+2", email="Zoe@Example.org", country="DE",
        postcode="-10115", comment="@everyone, read this", updates_opt_in=True)
    set_confirmed_at(signature, datetime(2026, 11, 26, 10, 0, 0, 123456, tzinfo=UTC))
    make_signature(action)  # pending: never exported

    header, *rows = export_rows(action)
    assert tuple(header) == SIGNATURE_COLUMNS
    assert header == ["first_name", "last_name", "email", "country", "postcode", "comment",
                      "updates_opt_in", "confirmed_at"]
    assert rows == [["Zoë", "'=1+2", "Zoe@example.org", "DE", "'-10115",
                     "'@everyone, read this", "true", "2026-11-26T10:00:00Z"]]


def test_lines_end_with_crlf_and_the_bom_only_on_request(app):
    action = make_action()
    make_confirmed_signature(action)
    plain = "".join(stream_signatures_csv(action, ExportFilters()))
    with_bom = "".join(stream_signatures_csv(action, ExportFilters(), bom=True))
    assert plain.startswith("first_name,last_name,email,")
    assert not plain.startswith("\ufeff")
    assert with_bom == "\ufeff" + plain
    assert with_bom.encode("utf-8").startswith(b"\xef\xbb\xbffirst_name")
    assert plain.count("\r\n") == 2 and plain.endswith("\r\n")


def test_empty_optional_values_and_no_opt_in(app):
    action = make_action()
    make_confirmed_signature(action, first_name="Ali", postcode="", comment="")
    [_header, row] = export_rows(action)
    assert row[0] == "Ali"
    assert row[4:7] == ["", "", "false"]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", row[7])


def test_filters_select_the_rows(app):
    action = make_action()
    other = make_action()
    old = make_confirmed_signature(action, first_name="Old", country="FR", updates_opt_in=True)
    set_confirmed_at(old, datetime(2026, 11, 25, 23, 59, 59, tzinfo=UTC))
    new_fr = make_confirmed_signature(action, first_name="NewFr", country="FR")
    set_confirmed_at(new_fr, datetime(2026, 11, 26, 0, 0, 0, tzinfo=UTC))
    new_it = make_confirmed_signature(action, first_name="NewIt", country="IT",
                                      updates_opt_in=True)
    set_confirmed_at(new_it, datetime(2026, 11, 27, 8, 0, tzinfo=UTC))
    make_confirmed_signature(other, first_name="Elsewhere")

    def names(**filters):
        return [row[0] for row in export_rows(action, ExportFilters(**filters))[1:]]

    assert names() == ["Old", "NewFr", "NewIt"]
    assert names(since=date(2026, 11, 26)) == ["NewFr", "NewIt"]
    assert names(country="FR") == ["Old", "NewFr"]
    assert names(opted_in=True) == ["Old", "NewIt"]
    assert names(since=date(2026, 11, 26), country="FR", opted_in=True) == []


def test_paper_signatures_are_exported_apart(app):
    action = make_action()
    make_confirmed_signature(action, first_name="Online")
    paper.upload(action, csv_bytes([["Paper", "=Person", "IR"]]), label="Rally, 1 Dec",
                 uploaded_by=None)

    assert [row[0] for row in export_rows(action)[1:]] == ["Online"]
    header, *rows = parse_csv_text("".join(stream_paper_csv(action)))
    assert tuple(header) == PAPER_COLUMNS
    assert header == ["first_name", "last_name", "country", "batch", "uploaded_at"]
    [[first, last, country, batch, uploaded_at]] = rows
    assert (first, last, country, batch) == ("Paper", "'=Person", "IR", "Rally, 1 Dec")
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", uploaded_at)


def test_the_audit_records_the_filters_only(app):
    from petitions.models import AuditEntry

    action = make_action()
    filters = ExportFilters(since=date(2026, 11, 26), country="FR", opted_in=True)
    exports.record_export(action, filters, actor=None, via="api", bom=True)
    entry = db.session.query(AuditEntry).filter_by(verb="export.signatures").one()
    assert entry.object_id == str(action.id)
    assert entry.via == "api"
    assert entry.after == {"since": "2026-11-26", "country": "FR", "opted_in": True,
                           "bom": True}


# --- streaming -----------------------------------------------------------------------------

def test_export_streams_in_batches(app, monkeypatch):
    action = make_action()
    bulk_signatures(action, 3000, first_name="مهسا", country="IR")
    bulk_signatures(action, 5, status=SignatureStatus.PENDING)

    executed = []
    execute = db.session.execute

    def spy(statement, *args, **kwargs):
        executed.append(statement)
        return execute(statement, *args, **kwargs)

    monkeypatch.setattr(db.session, "execute", spy)
    chunks = list(stream_signatures_csv(action, ExportFilters()))

    [query] = executed
    assert query.get_execution_options()["yield_per"] == exports.BATCH_SIZE == 1000
    # The header, then one piece per batch of at most 1,000 rows: never the whole list.
    assert len(chunks) == 4
    assert [len(parse_csv_text(chunk)) for chunk in chunks] == [1, 1000, 1000, 1000]
    rows = parse_csv_text("".join(chunks))[1:]
    assert len(rows) == 3000
    assert {(row[0], row[3]) for row in rows} == {("مهسا", "IR")}
    assert len({row[2] for row in rows}) == 3000
    assert all(row[1].startswith("Signer") and row[2].endswith("@example.org") for row in rows)

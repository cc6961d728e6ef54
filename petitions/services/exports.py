"""CSV exports of an action's signatures, streamed from the database in constant memory.

The console and the API serve the same exports through these functions:

``parse_export_filters(args) -> ExportFilters``
    Reads ``since`` (YYYY-MM-DD: confirmed on or after that UTC day), ``country``
    (ISO 3166-1 alpha-2) and ``opted_in`` (1/0, true/false, yes/no, on/off) from a
    mapping such as ``request.args``. Empty values mean "no filter"; other keys are
    ignored. Raises ``ExportFilterError`` (a ``ValueError``) whose ``errors`` maps
    each bad field to a message that can be shown as it is.

``parse_bom(args) -> bool``
    Whether ``bom`` asks for a UTF-8 byte-order mark (what Excel needs to read
    UTF-8); raises ``ExportFilterError`` like the filters.

``record_export(action, filters, *, actor, via, bom=False, kind="signatures")``
    Audits the export (verb ``export.signatures`` or ``export.paper``) with its
    filters, never its content, and commits. Call it before streaming.

``stream_signatures_csv(action, filters, bom=False) -> Iterator[str]``
    The confirmed online signatures, columns ``SIGNATURE_COLUMNS``, oldest
    confirmation first.

``stream_paper_csv(action, bom=False) -> Iterator[str]``
    The paper signatures, columns ``PAPER_COLUMNS``; never mixed into the above.

``export_filename(action, kind="signatures", today=None) -> str``
    ``<slug>-<kind>-<YYYY-MM-DD>.csv`` for the Content-Disposition header.

A view returns ``Response(stream_with_context(stream_…(…)), mimetype="text/csv")``:
the query runs with ``yield_per``, so rows arrive from the database in batches
(a server-side cursor on PostgreSQL) and each batch is written through
``csv.writer`` into a small buffer and handed on before the next is fetched.

Every cell that starts with ``=``, ``+``, ``-``, ``@`` (or their full-width forms
U+FF1D, U+FF0B, U+FF0D, U+FF20), a tab or a carriage return gets a leading ``'``, so
a spreadsheet shows it as text instead of running it as a formula (CSV injection).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING, Any

from flask_babel import gettext
from sqlalchemy import select

from petitions import countries
from petitions.extensions import db
from petitions.models import PaperBatch, PaperSignature, Signature, SignatureStatus, utcnow
from petitions.services import audit

if TYPE_CHECKING:
    from petitions.models import Action, User

SIGNATURE_COLUMNS = ("first_name", "last_name", "email", "country", "postcode", "comment",
                     "updates_opt_in", "confirmed_at")
PAPER_COLUMNS = ("first_name", "last_name", "country", "batch", "uploaded_at")
BATCH_SIZE = 1000
BOM = "\ufeff"

# The full-width forms too: spreadsheets fold them into their ASCII twins.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


class ExportFilterError(ValueError):
    """Some filter values can't be read; ``errors`` maps each field to the reason."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors.items()))


@dataclass(frozen=True)
class ExportFilters:
    since: date | None = None
    country: str | None = None
    opted_in: bool = False

    def as_dict(self) -> dict[str, Any]:
        """The filters as plain values, for the audit log."""
        return {"since": self.since.isoformat() if self.since else None,
                "country": self.country, "opted_in": self.opted_in}


def _flag(args: Mapping[str, str], name: str, errors: dict[str, str]) -> bool:
    value = (args.get(name) or "").strip().lower()
    if value in _TRUE:
        return True
    if value not in _FALSE:
        errors[name] = gettext("Use 1 for yes or 0 for no.")
    return False


def parse_export_filters(args: Mapping[str, str]) -> ExportFilters:
    """Read the export filters; every bad one is reported at once."""
    errors: dict[str, str] = {}
    since = None
    raw_since = (args.get("since") or "").strip()
    if raw_since:
        try:
            if not _DATE.match(raw_since):
                raise ValueError(raw_since)
            since = date.fromisoformat(raw_since)
        except ValueError:
            errors["since"] = gettext("Give a real date as YYYY-MM-DD, e.g. 2026-11-26.")
    country = (args.get("country") or "").strip().upper() or None
    if country is not None and country not in countries.CODES:
        errors["country"] = gettext("Give a country as its two-letter ISO code, e.g. FR.")
    opted_in = _flag(args, "opted_in", errors)
    if errors:
        raise ExportFilterError(errors)
    return ExportFilters(since=since, country=country, opted_in=opted_in)


def parse_bom(args: Mapping[str, str]) -> bool:
    errors: dict[str, str] = {}
    bom = _flag(args, "bom", errors)
    if errors:
        raise ExportFilterError(errors)
    return bom


def escape_cell(value: str) -> str:
    """Make a cell inert in spreadsheets: a formula-like start gets a leading quote."""
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def format_timestamp(value: datetime) -> str:
    """ISO 8601 in UTC to the second, e.g. ``2026-11-26T10:00:00Z``."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def export_filename(action: Action, kind: str = "signatures", today: date | None = None) -> str:
    day = today or utcnow().date()
    return f"{action.slug}-{kind}-{day.isoformat()}.csv"


def record_export(action: Action, filters: ExportFilters | None, *, actor: User | None,
                  via: str = "web", bom: bool = False, kind: str = "signatures") -> None:
    """Audit an export: who, which action, which filters; never a signer's data."""
    after: dict[str, Any] = {"bom": bom}
    if filters is not None:
        after.update(filters.as_dict())
    audit.record(f"export.{kind}", "action", action.id, actor=actor, via=via, after=after)
    db.session.commit()


def _csv_chunks(header: Iterable[str], rows: Iterable[Iterable[Iterable[str]]],
                bom: bool) -> Iterator[str]:
    """The header line, then one string per batch of rows, each written by csv.writer
    into a buffer that lives only as long as the batch."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    yield (BOM if bom else "") + buffer.getvalue()
    for batch in rows:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerows([escape_cell(cell) for cell in row] for row in batch)
        yield buffer.getvalue()


def _batches(statement: Any) -> Iterator[Any]:
    """Execute ``statement`` with yield_per and give its rows a batch at a time;
    the result is closed even when the client goes away halfway."""
    result = db.session.execute(statement.execution_options(yield_per=BATCH_SIZE))
    try:
        yield from result.partitions()
    finally:
        result.close()


def signatures_query(action: Action, filters: ExportFilters) -> Any:
    """The confirmed signatures an export holds: the columns only, no ORM objects."""
    query = (select(Signature.first_name, Signature.last_name, Signature.email,
                    Signature.country, Signature.postcode, Signature.comment,
                    Signature.updates_opt_in, Signature.confirmed_at)
             .where(Signature.action_id == action.id,
                    Signature.status == SignatureStatus.CONFIRMED)
             .order_by(Signature.confirmed_at, Signature.id))
    if filters.since is not None:
        query = query.where(Signature.confirmed_at >= datetime.combine(filters.since, time(),
                                                                        UTC))
    if filters.country is not None:
        query = query.where(Signature.country == filters.country)
    if filters.opted_in:
        query = query.where(Signature.updates_opt_in.is_(True))
    return query


def stream_signatures_csv(action: Action, filters: ExportFilters,
                          bom: bool = False) -> Iterator[str]:
    def rows() -> Iterator[list[list[str]]]:
        for batch in _batches(signatures_query(action, filters)):
            yield [[first, last, email, country, postcode or "", comment or "",
                    "true" if opt_in else "false", format_timestamp(confirmed_at)]
                   for first, last, email, country, postcode, comment, opt_in, confirmed_at
                   in batch]

    return _csv_chunks(SIGNATURE_COLUMNS, rows(), bom)


def stream_paper_csv(action: Action, bom: bool = False) -> Iterator[str]:
    query = (select(PaperSignature.first_name, PaperSignature.last_name,
                    PaperSignature.country, PaperBatch.label, PaperBatch.created_at)
             .join(PaperBatch, PaperBatch.id == PaperSignature.batch_id)
             .where(PaperSignature.action_id == action.id)
             .order_by(PaperBatch.created_at, PaperSignature.id))

    def rows() -> Iterator[list[list[str]]]:
        for batch in _batches(query):
            yield [[first, last, country, label, format_timestamp(uploaded_at)]
                   for first, last, country, label, uploaded_at in batch]

    return _csv_chunks(PAPER_COLUMNS, rows(), bom)

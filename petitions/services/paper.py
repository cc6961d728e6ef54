"""Signatures collected on paper at events, uploaded by an organizer as a CSV file.

The file has the columns ``first_name,last_name,country``, with or without a header
row, in UTF-8 (a byte-order mark is fine), separated by commas or semicolons (what
a spreadsheet writes in much of Europe). The country is an ISO 3166-1 alpha-2 code
or its English name. Each row is checked with the rules the online form applies;
good rows are stored as one batch and counted in ``ActionCounter.paper``, and bad
ones are reported by row number and reason, without repeating what they contained.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

import pycountry
from flask_babel import gettext
from sqlalchemy import delete, func, insert, select

from petitions import countries
from petitions.extensions import db
from petitions.models import PaperBatch, PaperSignature, utcnow
from petitions.services import audit, counting
from petitions.services.signing import FIELD_LIMITS, SigningError, normalize_name, normalize_text

if TYPE_CHECKING:
    from petitions.models import Action, User

COLUMNS = ("first_name", "last_name", "country")
MAX_ROWS = 10_000
LABEL_MAX = 200
_HEADER_ALIASES = {"firstname": "first_name", "lastname": "last_name"}


class PaperUploadError(ValueError):
    """The file as a whole can't be read (not UTF-8, empty, too long)."""


@dataclass(frozen=True)
class PaperRow:
    first_name: str
    last_name: str
    country: str


@dataclass(frozen=True)
class RejectedRow:
    row: int     # the row's number in the file, header included, as a spreadsheet counts
    reason: str


@dataclass
class ParsedFile:
    accepted: list[PaperRow] = field(default_factory=list)
    rejected: list[RejectedRow] = field(default_factory=list)


@dataclass(frozen=True)
class UploadOutcome:
    batch: PaperBatch | None  # None when no row was good enough to keep
    rejected: list[RejectedRow]


@lru_cache(maxsize=1)
def _country_names() -> dict[str, str]:
    """Case-folded English names (CLDR's and ISO's: "Iran" and "Iran, Islamic
    Republic of") to their codes."""
    names: dict[str, str] = {}
    for country in pycountry.countries:
        for attribute in ("name", "official_name", "common_name"):
            value = getattr(country, attribute, None)
            if value:
                names[value.casefold()] = country.alpha_2
    for code, name in countries.choices("en"):
        names[name.casefold()] = code
    return names


def resolve_country(raw: str) -> str | None:
    """The alpha-2 code for a code or an English country name, or None."""
    value = normalize_text(raw)
    if len(value) == 2 and value.upper() in countries.CODES:
        return value.upper()
    return _country_names().get(value.casefold())


def _delimiter(text: str) -> str:
    first_line = next((line for line in text.splitlines() if line.strip()), "")
    return ";" if first_line.count(";") > first_line.count(",") else ","


def _header_positions(cells: list[str]) -> dict[str, int] | None:
    """Where each column is, if ``cells`` is a header row naming all three."""
    names = ["_".join(unicodedata.normalize("NFKC", cell).casefold()
                      .replace("-", " ").split()) for cell in cells]
    names = [_HEADER_ALIASES.get(name, name) for name in names]
    if not all(column in names for column in COLUMNS):
        return None
    return {column: names.index(column) for column in COLUMNS}


def _check_row(cells: list[str], positions: dict[str, int], has_header: bool) -> PaperRow | str:
    """A good row, or the reason it is not."""
    if len(cells) <= max(positions.values()):
        return gettext("This row has fewer than 3 columns.")
    if not has_header and any(cell.strip() for cell in cells[len(COLUMNS):]):
        return gettext("This row has more than 3 columns.")
    values: dict[str, str] = {}
    labels = {"first_name": gettext("First name"), "last_name": gettext("Last name")}
    for column in ("first_name", "last_name"):
        try:
            values[column] = normalize_name(cells[positions[column]], column)
        except SigningError as exc:
            return f"{labels[column]}: {exc}"
        if len(values[column]) > FIELD_LIMITS[column]:
            return gettext("%(field)s: at most %(limit)d characters.", field=labels[column],
                           limit=FIELD_LIMITS[column])
    raw_country = cells[positions["country"]]
    if not raw_country.strip():
        return gettext("Country: this field is required.")
    country = resolve_country(raw_country)
    if country is None:
        return gettext("Country: not a known country code or English country name.")
    return PaperRow(values["first_name"], values["last_name"], country)


def parse_csv(data: bytes) -> ParsedFile:
    """Check every row of an uploaded file. Blank rows are skipped."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PaperUploadError(gettext(
            "The file is not UTF-8 text. Save it from your spreadsheet as "
            "\"CSV UTF-8\" and upload it again.")) from exc
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    parsed = ParsedFile()
    positions = {column: i for i, column in enumerate(COLUMNS)}
    has_header = False
    try:
        for number, cells in enumerate(reader, start=1):
            if number == 1 and (found := _header_positions(cells)) is not None:
                positions, has_header = found, True
                continue
            if not any(cell.strip() for cell in cells):
                continue
            if len(parsed.accepted) + len(parsed.rejected) >= MAX_ROWS:
                raise PaperUploadError(gettext(
                    "The file has more than %(max)d rows. Split it into smaller files.",
                    max=MAX_ROWS))
            outcome = _check_row(cells, positions, has_header)
            if isinstance(outcome, PaperRow):
                parsed.accepted.append(outcome)
            else:
                parsed.rejected.append(RejectedRow(number, outcome))
    except csv.Error as exc:
        raise PaperUploadError(gettext(
            "The file is not a CSV file this page can read (%(problem)s).",
            problem=str(exc))) from exc
    if not parsed.accepted and not parsed.rejected:
        raise PaperUploadError(gettext("The file has no rows."))
    return parsed


def upload(action: Action, data: bytes, *, label: str, uploaded_by: User | None,
           via: str = "web") -> UploadOutcome:
    """Store the good rows of a file as one batch, count and audit them, in one transaction.

    Raises ``PaperUploadError`` when the file can't be read at all. A file without a
    single good row stores nothing and only reports.
    """
    label = normalize_text(label)[:LABEL_MAX]
    parsed = parse_csv(data)
    if not parsed.accepted:
        return UploadOutcome(None, parsed.rejected)
    now = utcnow()
    batch = PaperBatch(action_id=action.id, uploaded_by_id=uploaded_by.id if uploaded_by else None,
                       label=label, accepted=len(parsed.accepted),
                       rejected=len(parsed.rejected), created_at=now)
    db.session.add(batch)
    db.session.flush()
    db.session.execute(insert(PaperSignature), [
        {"action_id": action.id, "batch_id": batch.id, "first_name": row.first_name,
         "last_name": row.last_name, "country": row.country, "created_at": now}
        for row in parsed.accepted])
    counting.add(action.id, paper=len(parsed.accepted))
    audit.record("paper.upload", "paper_batch", batch.id, actor=uploaded_by, via=via,
                 after={"action_id": action.id, "label": label,
                        "accepted": batch.accepted, "rejected": batch.rejected})
    db.session.commit()
    return UploadOutcome(batch, parsed.rejected)


def list_batches(action: Action) -> list[PaperBatch]:
    return list(db.session.scalars(select(PaperBatch)
                                   .where(PaperBatch.action_id == action.id)
                                   .order_by(PaperBatch.created_at.desc(),
                                             PaperBatch.id.desc())))


def get_batch(action: Action, batch_id: int) -> PaperBatch | None:
    """The batch ``batch_id`` if it belongs to ``action``."""
    if not 0 < batch_id < 2**63:  # PostgreSQL would refuse a number beyond bigint
        return None
    return db.session.scalar(select(PaperBatch).where(PaperBatch.id == batch_id,
                                                      PaperBatch.action_id == action.id))


def delete_batch(batch: PaperBatch, *, actor: User | None, via: str = "web") -> int:
    """Delete a batch and its signatures, take them off the count, audit; returns how
    many signatures went."""
    removed = db.session.scalar(select(func.count()).select_from(PaperSignature)
                                .where(PaperSignature.batch_id == batch.id)) or 0
    db.session.execute(delete(PaperSignature).where(PaperSignature.batch_id == batch.id))
    counting.add(batch.action_id, paper=-removed)
    audit.record("paper.delete", "paper_batch", batch.id, actor=actor, via=via,
                 before={"action_id": batch.action_id, "label": batch.label,
                         "accepted": removed})
    db.session.delete(batch)
    db.session.commit()
    return removed

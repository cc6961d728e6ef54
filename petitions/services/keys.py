"""Key rotation: re-encrypting every stored personal value under the newest key.

Rotating the encryption key is done while the site keeps serving:

1. ``flask --app petitions keys generate`` gives a new key.
2. Every process (web, worker, scheduler) is restarted with the new key *first* in
   ``PII_ENCRYPTION_KEYS`` and the old ones after it: from then on new values are
   written under the new key, and old values still decrypt.
3. ``flask --app petitions keys rotate`` re-encrypts the old values, batch by batch.
4. Once it reports nothing left under an older key, the old keys can be removed.

The columns to rotate are found by inspecting the tables (every column whose type
is :class:`~petitions.crypto.EncryptedText`), so a column added later is rotated
without touching this module. The delivery packages (the PDF letters and CSVs, every
signer's name) are encrypted bytes bound to their own row (delivery and file name)
rather than to their column, so they are listed here by name.

Each value is rewritten with a compare-and-set
``UPDATE ... WHERE id = :id AND col = :old_blob``: if the application changed the
value in the meantime (a fresh token, a payload erased after sending), that write
stands and the rotation leaves the row alone. Rows already under the newest key are
skipped, so an interrupted rotation is resumed by running it again.

``PII_INDEX_KEY`` (the key of the email and IP digests) is not rotated here:
changing it would need every digest recomputed, and until then duplicates and
data-subject lookups would silently stop matching.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Column, LargeBinary, MetaData, Table, func, select, type_coerce, update
from sqlalchemy.sql.elements import ColumnElement

from petitions.crypto import KEY_ID_LENGTH, EncryptedText, VaultError, vault
from petitions.extensions import db
from petitions.models import DeliveryFile, Signature
from petitions.services.deliveries import file_context
from petitions.services.signing import address_digest

DEFAULT_BATCH_SIZE = 500


class RotationError(RuntimeError):
    """A stored value can't be decrypted with the configured keys; nothing was lost."""


@dataclass(frozen=True)
class EncryptedColumn:
    """One column of ciphertext, and the context its values are bound to."""

    table: Table
    column: Column[Any]
    primary_key: Column[int]
    # A blob bound to its row rather than to its column (a delivery file): the columns
    # its context is made of, and how.
    context_columns: tuple[Column[Any], ...] = ()
    row_context: Callable[..., str] | None = None

    @property
    def name(self) -> str:
        return f"{self.table.name}.{self.column.name}"

    @property
    def context(self) -> str:
        assert isinstance(self.column.type, EncryptedText)
        return self.column.type.context

    def context_for(self, values: Sequence[Any]) -> str:
        """The context a row's value is bound to; ``values`` are its ``context_columns``."""
        return self.context if self.row_context is None else self.row_context(*values)

    @property
    def raw(self) -> ColumnElement[bytes]:
        """The column as the stored bytes, without the decryption on read."""
        return type_coerce(self.column, LargeBinary())

    def stale(self) -> ColumnElement[bool]:
        """SQL condition: the value is set and not under the current key.

        The key id sits at bytes 2 to 5 of the blob; ``substr`` reads bytes of a
        BLOB (SQLite) and of a ``bytea`` (PostgreSQL) alike.
        """
        key_id = type_coerce(func.substr(self.raw, 2, KEY_ID_LENGTH), LargeBinary())
        return self.column.is_not(None) & (key_id != vault().current_key_id)


@dataclass(frozen=True)
class BatchResult:
    """What one committed batch did."""

    column: str
    rotated: int
    conflicts: int
    last_id: int


@dataclass
class ColumnReport:
    column: str
    rotated: int = 0
    conflicts: int = 0
    remaining: int = 0


@dataclass
class RotationReport:
    columns: list[ColumnReport] = field(default_factory=list)

    @property
    def rotated(self) -> int:
        return sum(c.rotated for c in self.columns)

    @property
    def conflicts(self) -> int:
        return sum(c.conflicts for c in self.columns)

    @property
    def remaining(self) -> int:
        """Values still under an older key after the run (written meanwhile by a process
        that doesn't have the new key yet). Zero means the old keys can be removed."""
        return sum(c.remaining for c in self.columns)


def encrypted_columns(metadata: MetaData | None = None) -> list[EncryptedColumn]:
    """Every ``EncryptedText`` column of every table, in a stable order, then the
    delivery files."""
    metadata = metadata or db.metadata
    found = []
    for table in metadata.sorted_tables:
        for column in table.columns:
            if not isinstance(column.type, EncryptedText):
                continue
            keys = list(table.primary_key.columns)
            if len(keys) != 1:
                raise RotationError(f"{table.name}: rotation needs a single-column primary key")
            found.append(EncryptedColumn(table, column, keys[0]))
    files = DeliveryFile.__table__
    if metadata.tables.get(files.name) is files:
        found.append(EncryptedColumn(files, files.c.content, files.c.id,
                                     (files.c.delivery_id, files.c.name), file_context))
    return found


def count_stale(column: EncryptedColumn) -> int:
    """How many values of ``column`` are not under the current key."""
    return db.session.scalar(
        select(func.count()).select_from(column.table).where(column.stale())) or 0


def reencrypt_rows(column: EncryptedColumn,
                   rows: Sequence[Sequence[Any]]) -> tuple[int, int]:
    """Rewrite each ``(id, blob, *context_columns)`` under the current key, unless the row
    changed since the blob was read. Returns ``(rotated, conflicts)``; the caller commits."""
    pii = vault()
    rotated = conflicts = 0
    for row_id, blob, *bound_to in rows:
        blob = bytes(blob)
        if pii.is_current(blob):
            continue
        context = column.context_for(bound_to)
        try:
            plaintext = pii.decrypt_bytes(blob, context)
        except VaultError as exc:
            raise RotationError(
                f"{column.name} of row {row_id} cannot be decrypted with the configured "
                f"keys ({exc}); is an old key missing from PII_ENCRYPTION_KEYS?") from exc
        fresh = pii.encrypt_bytes(plaintext, context)
        result = db.session.execute(
            update(column.table)
            .where(column.primary_key == row_id, column.raw == blob)
            .values({column.column: type_coerce(fresh, LargeBinary())}))
        if result.rowcount == 1:
            rotated += 1
        else:
            # Changed (or deleted) by the application since we read it: its write stands.
            conflicts += 1
    return rotated, conflicts


def rotate_batches(batch_size: int = DEFAULT_BATCH_SIZE,
                   columns: Sequence[EncryptedColumn] | None = None) -> Iterator[BatchResult]:
    """Re-encrypt, one committed batch at a time, every value not under the current key.

    Batches walk each table by primary key, so the run ends even if some rows keep
    being rewritten under an old key by a process that lacks the new one. Between
    two batches (at each ``yield``) no transaction is open.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    for column in encrypted_columns() if columns is None else columns:
        after: int | None = None
        while True:
            query = (select(column.primary_key, column.raw, *column.context_columns)
                     .where(column.stale()).order_by(column.primary_key).limit(batch_size))
            if after is not None:
                query = query.where(column.primary_key > after)
            rows = [(row_id, bytes(blob), *bound_to)
                    for row_id, blob, *bound_to in db.session.execute(query)]
            if not rows:
                db.session.rollback()
                break
            try:
                rotated, conflicts = reencrypt_rows(column, rows)
            except Exception:
                db.session.rollback()
                raise
            db.session.commit()
            after = rows[-1][0]
            yield BatchResult(column.name, rotated, conflicts, after)
            if len(rows) < batch_size:
                break


def rotate(batch_size: int = DEFAULT_BATCH_SIZE,
           progress: Callable[[BatchResult], None] | None = None) -> RotationReport:
    """Run a whole rotation and count what is left under older keys afterwards."""
    columns = encrypted_columns()
    reports = {c.name: ColumnReport(c.name) for c in columns}
    for batch in rotate_batches(batch_size, columns):
        report = reports[batch.column]
        report.rotated += batch.rotated
        report.conflicts += batch.conflicts
        if progress is not None:
            progress(batch)
    for column in columns:
        reports[column.name].remaining = count_stale(column)
    db.session.rollback()
    return RotationReport(list(reports.values()))


def signatures_for_email(address: str) -> list[Signature]:
    """Every signature made with ``address``, on any action: for a data-subject request.

    The lookup goes through the keyed digest of the normalized address, exactly as the
    duplicate check does, so no value is decrypted to find them.
    """
    digest = address_digest(address)
    return list(db.session.scalars(select(Signature).where(Signature.email_digest == digest)
                                   .order_by(Signature.id)))

"""The data the benchmark needs, written straight into PostgreSQL.

Actions and the API user go through the services (so they are what the app
makes); signatures in bulk are one ``INSERT … SELECT`` over ``generate_series``
each, so a million rows take seconds rather than the hours the ORM would need.
Their encrypted columns reuse a small pool of real ciphertexts from the app's
``PIIVault`` under the bench keys (every row decrypts; only ``email_digest`` and
the token differ per row), which is fine for measuring, not for anything else.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg

from petitions.crypto import vault
from petitions.extensions import db
from petitions.models import COUNTER_SHARDS
from petitions.services import accounts
from petitions.services import actions as actions_service

POOL_SIZE = 4
COUNTRIES = ("FR", "DE", "GB", "US", "BR", "IN", "NG", "JP")
ADMIN_EMAIL = "bench-admin@example.org"

# One row per signature; the pool index picks one of the ciphertexts.
_SIGNATURES_SQL = f"""
INSERT INTO signatures (action_id, first_name, last_name, email, email_digest, country,
                        postcode, comment, updates_opt_in, consent_version, consent_at,
                        status, token_digest, token_issued_at, confirmation_sent_at, source,
                        locale, show_publicly, reminders_sent, created_at, confirmed_at)
SELECT %(action_id)s,
       (%(first)s::bytea[])[1 + i %% {POOL_SIZE}], (%(last)s::bytea[])[1 + i %% {POOL_SIZE}],
       (%(email)s::bytea[])[1 + i %% {POOL_SIZE}],
       encode(sha256((%(digest_prefix)s || i::text)::bytea), 'hex'),
       (%(countries)s::text[])[1 + i %% {len(COUNTRIES)}],
       (%(postcode)s::bytea[])[1 + i %% {POOL_SIZE}], NULL, i %% 3 = 0, NULL, NULL,
       %(status)s::text,
       CASE WHEN %(token_prefix)s::text IS NULL THEN NULL
            ELSE encode(sha256((%(token_prefix)s || lpad(i::text, 10, '0'))::bytea), 'hex')
       END,
       now(), now(), 'bench', 'en', i %% 10 = 0, 0,
       now() - (i %% 30) * interval '1 day',
       CASE WHEN %(status)s::text = 'confirmed'
            THEN now() - (i %% 30) * interval '1 day' + (i %% 86000) * interval '1 second'
       END
FROM generate_series(1, %(count)s) AS i
"""


@dataclass(frozen=True)
class Seeded:
    action_ids: dict[str, int]
    admin_email: str


def token_for(prefix: str, number: int) -> str:
    """The confirmation token of seeded signature ``number`` (1-based), as the SQL makes it."""
    return f"{prefix}{number:010d}"


def create_actions(slugs: Sequence[str]) -> Seeded:
    """Published actions (with their counter shards) and an admin for the API token."""
    accounts.create_user(ADMIN_EMAIL, "admin", password="a long bench password 1234")
    ids = {}
    for slug in slugs:
        action = actions_service.create_action(
            slug=slug, title=f"Free the bench prisoners ({slug})",
            targets=[actions_service.TargetInput(name="The Minister",
                                                 email="minister@example.org")],
            goal=1_000_000, summary="A benchmark action.",
            body="# The appeal\n\n" + "Release them now. " * 60, publish=True)
        ids[slug] = action.id
    db.session.commit()
    return Seeded(ids, ADMIN_EMAIL)


def _pool(context: str, values: Sequence[str]) -> list[bytes]:
    return [vault().encrypt(values[n % len(values)], context) for n in range(POOL_SIZE)]


def insert_signatures(dsn: str, action_id: int, count: int, *, status: str,
                      token_prefix: str | None = None) -> None:
    """``count`` signatures for one action, and the counters moved to match."""
    params = {
        "action_id": action_id, "count": count, "status": status,
        "token_prefix": token_prefix,
        "digest_prefix": f"bench-{action_id}-{token_prefix or status}-",
        "countries": list(COUNTRIES),
        "first": _pool("signatures.first_name", ["Ada", "Grace", "Wangari", "Ngozi"]),
        "last": _pool("signatures.last_name", ["Lovelace", "Hopper", "Maathai", "Adichie"]),
        "email": _pool("signatures.email", ["ada@example.org", "grace@example.org"]),
        "postcode": _pool("signatures.postcode", ["75001", "10115"]),
    }
    confirmed = count if status == "confirmed" else 0
    pending = count - confirmed
    per_shard, rest = divmod(confirmed, COUNTER_SHARDS)
    pending_per_shard, pending_rest = divmod(pending, COUNTER_SHARDS)
    with psycopg.connect(dsn) as connection:
        connection.execute(_SIGNATURES_SQL, params)
        for shard in range(COUNTER_SHARDS):
            connection.execute(
                "UPDATE action_counters SET confirmed = confirmed + %s, pending = pending + %s"
                " WHERE action_id = %s AND shard = %s",
                (per_shard + (1 if shard < rest else 0),
                 pending_per_shard + (1 if shard < pending_rest else 0), action_id, shard))
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE signatures")


def write_tokens(path: Path, prefix: str, count: int) -> None:
    path.write_text("".join(token_for(prefix, n) + "\n" for n in range(1, count + 1)))


def queue_backlog(dsn: str, action_id: int) -> list[int]:
    """An unsent confirmation email for every signature of ``action_id``; their ids."""
    payload = vault().encrypt(json.dumps({"token": "bench-backlog-token-0000000000"}),
                              "outbound_emails.payload")
    with psycopg.connect(dsn) as connection:
        rows = connection.execute(
            "INSERT INTO outbound_emails (kind, signature_id, payload, status, attempts,"
            " created_at, dispatched_at)"
            " SELECT 'confirmation', id, %s, 'pending', 0, now(), now()"
            " FROM signatures WHERE action_id = %s ORDER BY id RETURNING id",
            (payload, action_id)).fetchall()
    return [row[0] for row in rows]

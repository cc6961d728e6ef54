"""managed topics and regions

The topics and regions actions are tagged with and network members choose from, kept
as a list admins manage (add, rename, retire). A default list is filled in; the keys
that actions and members hold already are added too, so nobody's choice is lost.

Revision ID: 0009_campaigners
Revises: 0009_intake
Create Date: 2026-12-04 16:45:00

"""
import json
import re
import unicodedata
from datetime import UTC, datetime

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009_campaigners'
down_revision = '0009_intake'
branch_labels = None
depends_on = None

DEFAULT_TOPICS = ["Death penalty", "Freedom of expression", "Human rights defenders",
                  "Indigenous peoples' rights", "Refugees and migrants", "Torture",
                  "Women's rights", "Climate and environment"]
DEFAULT_REGIONS = ["Africa", "Americas", "Asia and the Pacific", "Europe and Central Asia",
                   "Middle East and North Africa"]


def _key(name):
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")[:64]


def upgrade():
    terms = op.create_table('terms',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.Enum('topic', 'region', name='termkind', native_enum=False, length=16), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('retired_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_terms')),
    sa.UniqueConstraint('kind', 'key', name=op.f('uq_terms_kind_key'))
    )
    rows = {("topic", _key(n)): n for n in DEFAULT_TOPICS}
    rows.update({("region", _key(n)): n for n in DEFAULT_REGIONS})
    connection = op.get_bind()
    for topics, region in connection.execute(sa.text("SELECT topics, region FROM actions")):
        if isinstance(topics, str):
            topics = json.loads(topics or "[]")
        for topic in topics or []:
            rows.setdefault(("topic", topic), topic)
        if region:
            rows.setdefault(("region", region), region)
    now = datetime.now(UTC)
    op.bulk_insert(terms, [{"kind": kind, "key": key, "name": name[:100], "created_at": now}
                           for (kind, key), name in rows.items() if key])


def downgrade():
    op.drop_table('terms')

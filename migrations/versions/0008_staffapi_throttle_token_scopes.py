"""login throttle per account and client, API token scopes and expiry

Failed logins are no longer counted on the account (which let a stranger lock its
owner out) but per account and client, in ``login_throttles``. API tokens get
scopes and an expiry: tokens that exist already keep every scope and expire 90
days (the default of ``API_TOKEN_DAYS``) after this migration.

Revision ID: 0006_staffapi
Revises: 0006_staffauth
Create Date: 2026-12-04 16:10:00

"""
from datetime import UTC, datetime, timedelta

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006_staffapi'
down_revision = '0006_staffauth'
branch_labels = None
depends_on = None

EXISTING_TOKENS_DAYS = 90


def upgrade():
    op.create_table('login_throttles',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('account_digest', sa.String(length=64), nullable=False),
    sa.Column('client_digest', sa.String(length=64), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('last_failure_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('retry_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_throttles')),
    sa.UniqueConstraint('account_digest', 'client_digest', name=op.f('uq_login_throttles_account_digest_client_digest'))
    )
    with op.batch_alter_table('login_throttles', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_login_throttles_last_failure_at'), ['last_failure_at'], unique=False)

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('locked_until')
        batch_op.drop_column('failed_logins')

    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('scopes', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True))
    tokens = sa.table('api_tokens', sa.column('scopes', sa.String()),
                      sa.column('expires_at', sa.DateTime(timezone=True)))
    expires = datetime.now(UTC) + timedelta(days=EXISTING_TOKENS_DAYS)
    if op.get_bind().dialect.name == 'sqlite':  # naive UTC there, as the models store it
        expires = expires.replace(tzinfo=None)
    op.execute(tokens.update().values(scopes='read export write', expires_at=expires))
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.alter_column('scopes', existing_type=sa.String(length=32), nullable=False)
        batch_op.alter_column('expires_at', existing_type=sa.DateTime(timezone=True),
                              nullable=False)


def downgrade():
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_column('expires_at')
        batch_op.drop_column('scopes')

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('failed_logins', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.alter_column('failed_logins', existing_type=sa.Integer(), server_default=None)

    with op.batch_alter_table('login_throttles', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_login_throttles_last_failure_at'))

    op.drop_table('login_throttles')

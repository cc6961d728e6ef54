"""when a confirmed signer was last told someone signed again with their address

Revision ID: 0006_oracle
Revises: 0005
Create Date: 2026-12-04 16:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006_oracle'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('signatures', schema=None) as batch_op:
        batch_op.add_column(sa.Column('signed_again_notice_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('signatures', schema=None) as batch_op:
        batch_op.drop_column('signed_again_notice_at')

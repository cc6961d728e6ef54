"""sealed submissions: the web tier seals signatures, a vault worker opens them

Each signing form is stored sealed to the intake public key (a libsodium sealed
box) until a vault worker opens it, applies the signing rules and deletes it.

Revision ID: 0009_intake
Revises: 0009_brand
Create Date: 2026-12-04 16:45:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009_intake'
down_revision = '0009_brand'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('sealed_submissions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sealed', sa.LargeBinary(), nullable=False),
    sa.Column('dispatched_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('failed_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sealed_submissions'))
    )
    with op.batch_alter_table('sealed_submissions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sealed_submissions_dispatched_at'), ['dispatched_at'], unique=False)


def downgrade():
    with op.batch_alter_table('sealed_submissions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sealed_submissions_dispatched_at'))

    op.drop_table('sealed_submissions')

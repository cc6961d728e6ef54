"""action pictures and the organization's branding

Uploaded pictures are kept in the database as their resized copies (``images`` and
``image_renditions``), so every web process and container serves the same bytes. An
action gets a hero picture and its alt text; ``branding`` holds the organization's
name, logo, colour and footer (one row, empty values meaning the defaults).

Revision ID: 0009_brand
Revises: 0006_lifecycle
Create Date: 2026-12-04 16:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009_brand'
down_revision = '0006_lifecycle'
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade():
    op.create_table('images',
    sa.Column('id', BIG_ID, nullable=False),
    sa.Column('width', sa.Integer(), nullable=False),
    sa.Column('height', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_images'))
    )
    op.create_table('image_renditions',
    sa.Column('id', BIG_ID, nullable=False),
    sa.Column('image_id', BIG_ID, nullable=False),
    sa.Column('width', sa.Integer(), nullable=False),
    sa.Column('height', sa.Integer(), nullable=False),
    sa.Column('media_type', sa.String(length=32), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['image_id'], ['images.id'], name=op.f('fk_image_renditions_image_id_images'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_image_renditions'))
    )
    with op.batch_alter_table('image_renditions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_image_renditions_image_id'), ['image_id'], unique=False)

    op.create_table('branding',
    sa.Column('id', BIG_ID, nullable=False),
    sa.Column('organization_name', sa.String(length=200), server_default='', nullable=False),
    sa.Column('logo_image_id', BIG_ID, nullable=True),
    sa.Column('primary_colour', sa.String(length=7), server_default='', nullable=False),
    sa.Column('footer_text', sa.Text(), server_default='', nullable=False),
    sa.Column('footer_links', sa.JSON(), server_default='[]', nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['logo_image_id'], ['images.id'], name=op.f('fk_branding_logo_image_id_images'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_branding'))
    )
    with op.batch_alter_table('actions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('image_id', BIG_ID, nullable=True))
        batch_op.add_column(sa.Column('image_alt', sa.String(length=300), server_default='', nullable=False))
        batch_op.create_foreign_key(batch_op.f('fk_actions_image_id_images'), 'images', ['image_id'], ['id'], ondelete='SET NULL')


def downgrade():
    with op.batch_alter_table('actions', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_actions_image_id_images'), type_='foreignkey')
        batch_op.drop_column('image_alt')
        batch_op.drop_column('image_id')

    op.drop_table('branding')
    with op.batch_alter_table('image_renditions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_image_renditions_image_id'))

    op.drop_table('image_renditions')
    op.drop_table('images')

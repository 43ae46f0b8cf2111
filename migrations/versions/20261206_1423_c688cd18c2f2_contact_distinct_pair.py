"""contact_distinct_pair: pairs staff found to be different people or organisations on the
duplicates page, so the page stops offering them.

Revision ID: c688cd18c2f2
Revises: 9c3e5a7d1b24
Create Date: 2026-12-06 14:23:39.026969+00:00

"""
from alembic import op
import sqlalchemy as sa

import crm.database


# revision identifiers, used by Alembic.
revision = 'c688cd18c2f2'
down_revision = '9c3e5a7d1b24'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('contact_distinct_pair',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('first_id', sa.Integer(), nullable=False),
    sa.Column('second_id', sa.Integer(), nullable=False),
    sa.Column('marked_by_id', sa.Integer(), nullable=True),
    sa.Column('marked_at', crm.database.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('person', 'organisation')", name=op.f('ck_contact_distinct_pair_kind_valid')),
    sa.CheckConstraint('first_id < second_id', name=op.f('ck_contact_distinct_pair_ordered')),
    sa.ForeignKeyConstraint(['marked_by_id'], ['user_account.id'], name=op.f('fk_contact_distinct_pair_marked_by_id_user_account'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contact_distinct_pair')),
    sa.UniqueConstraint('kind', 'first_id', 'second_id', name=op.f('uq_contact_distinct_pair_kind_first_id_second_id')),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('contact_distinct_pair', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_contact_distinct_pair_first_id'), ['first_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_contact_distinct_pair_marked_by_id'), ['marked_by_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_contact_distinct_pair_second_id'), ['second_id'], unique=False)



def downgrade():
    with op.batch_alter_table('contact_distinct_pair', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contact_distinct_pair_second_id'))
        batch_op.drop_index(batch_op.f('ix_contact_distinct_pair_marked_by_id'))
        batch_op.drop_index(batch_op.f('ix_contact_distinct_pair_first_id'))

    op.drop_table('contact_distinct_pair')

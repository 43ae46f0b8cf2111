"""event minutes: the Protokoll of a coordination meeting or presentation, one row per event

Revision ID: 5b1e0c7d9a42
Revises: 47c482466f48
Create Date: 2026-12-06 17:45:00.000000+00:00

"""
from alembic import op
import sqlalchemy as sa

import crm.database


# revision identifiers, used by Alembic.
revision = '5b1e0c7d9a42'
down_revision = '47c482466f48'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('event_minutes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', crm.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['event.id'], name=op.f('fk_event_minutes_event_id_event'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['updated_by_id'], ['user_account.id'], name=op.f('fk_event_minutes_updated_by_id_user_account'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_event_minutes')),
    sa.UniqueConstraint('event_id', name=op.f('uq_event_minutes_event_id')),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('event_minutes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_event_minutes_updated_by_id'), ['updated_by_id'], unique=False)


def downgrade():
    with op.batch_alter_table('event_minutes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_event_minutes_updated_by_id'))

    op.drop_table('event_minutes')

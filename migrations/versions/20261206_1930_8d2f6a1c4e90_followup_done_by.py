"""followup done_by: who marked a follow-up done, for the participant's history

Revision ID: 8d2f6a1c4e90
Revises: c4a8e2f17b90
Create Date: 2026-12-06 19:30:00.000000+00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '8d2f6a1c4e90'
down_revision = 'c4a8e2f17b90'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('followup', schema=None, table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.add_column(sa.Column('done_by_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_followup_done_by_id'), ['done_by_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_followup_done_by_id_user_account'), 'user_account', ['done_by_id'], ['id'], ondelete='SET NULL')


def downgrade():
    with op.batch_alter_table('followup', schema=None, table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_followup_done_by_id_user_account'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_followup_done_by_id'))
        batch_op.drop_column('done_by_id')

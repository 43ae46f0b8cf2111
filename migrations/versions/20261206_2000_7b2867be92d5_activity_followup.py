"""activity followup_id: the follow-up whose completion a note records, for its visibility

Revision ID: 7b2867be92d5
Revises: 7c3e9a1f5d20
Create Date: 2026-12-06 20:00:00.000000+00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '7b2867be92d5'
down_revision = '7c3e9a1f5d20'
branch_labels = None
depends_on = None

FK = 'fk_activity_followup_id_followup'


def upgrade():
    # The activity table is the biggest one (a million rows): only a nullable column, no
    # table rebuild and no backfill. Existing "Wiedervorlage erledigt: …" notes stay unlinked;
    # followups.service.hidden_done_notes treats them by their subject prefix.
    if op.get_bind().dialect.name == 'sqlite':
        # SQLite cannot add a constraint to a table, but ADD COLUMN may carry REFERENCES
        # when the column defaults to NULL (batch mode would copy the whole table).
        op.execute(
            'ALTER TABLE activity ADD COLUMN followup_id INTEGER'
            f' CONSTRAINT {FK} REFERENCES followup (id) ON DELETE SET NULL'
        )
    else:
        op.add_column('activity', sa.Column('followup_id', sa.Integer(), nullable=True))
        # Every existing row is NULL: the check reads the table once and rewrites nothing.
        op.create_foreign_key(
            op.f(FK), 'activity', 'followup', ['followup_id'], ['id'], ondelete='SET NULL'
        )
    op.create_index(
        op.f('ix_activity_followup_id'),
        'activity',
        ['followup_id'],
        unique=False,
        sqlite_where=sa.text('followup_id IS NOT NULL'),
        postgresql_where=sa.text('followup_id IS NOT NULL'),
    )


def downgrade():
    op.drop_index(
        op.f('ix_activity_followup_id'),
        table_name='activity',
        sqlite_where=sa.text('followup_id IS NOT NULL'),
        postgresql_where=sa.text('followup_id IS NOT NULL'),
    )
    # SQLite does not drop a column that is part of a foreign key: batch mode copies the
    # table there (the only way back); PostgreSQL drops the constraint and the column.
    with op.batch_alter_table('activity', schema=None, table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        if op.get_bind().dialect.name != 'sqlite':
            batch_op.drop_constraint(op.f(FK), type_='foreignkey')
        batch_op.drop_column('followup_id')

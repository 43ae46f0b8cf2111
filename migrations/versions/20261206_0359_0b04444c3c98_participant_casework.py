"""participant_casework: contact log, next contact and planned transfer, case follow-ups

Revision ID: 0b04444c3c98
Revises: f578f7bfb13d
Create Date: 2026-12-06 03:59:01.143599+00:00

"""
from alembic import op
import sqlalchemy as sa

import crm.database


# revision identifiers, used by Alembic.
revision = '0b04444c3c98'
down_revision = 'f578f7bfb13d'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('participant_contact',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('participant_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('happened_at', crm.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('duration_minutes', sa.Integer(), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('created_at', crm.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', crm.database.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('call', 'email', 'meeting', 'letter', 'other')", name=op.f('ck_participant_contact_kind_valid')),
    sa.CheckConstraint('duration_minutes IS NULL OR (duration_minutes > 0 AND duration_minutes <= 1440)', name=op.f('ck_participant_contact_duration_valid')),
    sa.ForeignKeyConstraint(['participant_id'], ['participant.id'], name=op.f('fk_participant_contact_participant_id_participant'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_participant_contact_user_id_user_account'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_participant_contact')),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('participant_contact', schema=None) as batch_op:
        batch_op.create_index('ix_participant_contact_participant_at', ['participant_id', 'happened_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_participant_contact_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('followup', schema=None, table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.add_column(sa.Column('case_kind', sa.String(length=20), server_default='', nullable=False))
        batch_op.create_check_constraint(
            batch_op.f('ck_followup_case_kind_valid'),
            "case_kind = '' OR case_kind IN ('next_contact', 'transfer')",
        )
        batch_op.create_index('uq_followup_open_case', ['participant_id', 'case_kind'], unique=True, sqlite_where=sa.text("status = 'open' AND case_kind != ''"), postgresql_where=sa.text("status = 'open' AND case_kind != ''"))

    with op.batch_alter_table('participant', schema=None, table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.add_column(sa.Column('next_contact_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('transfer_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('transfer_note', sa.String(length=200), server_default='', nullable=False))
        batch_op.create_index(batch_op.f('ix_participant_next_contact_on'), ['next_contact_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_participant_transfer_on'), ['transfer_on'], unique=False)



def downgrade():
    with op.batch_alter_table('participant', schema=None, table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.drop_index(batch_op.f('ix_participant_transfer_on'))
        batch_op.drop_index(batch_op.f('ix_participant_next_contact_on'))
        batch_op.drop_column('transfer_note')
        batch_op.drop_column('transfer_on')
        batch_op.drop_column('next_contact_on')

    with op.batch_alter_table('followup', schema=None, table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_followup_case_kind_valid'), type_='check')
        batch_op.drop_index('uq_followup_open_case', sqlite_where=sa.text("status = 'open' AND case_kind != ''"), postgresql_where=sa.text("status = 'open' AND case_kind != ''"))
        batch_op.drop_column('case_kind')

    with op.batch_alter_table('participant_contact', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_participant_contact_user_id'))
        batch_op.drop_index('ix_participant_contact_participant_at')

    op.drop_table('participant_contact')

"""esf followup link: the short survey's personal link to a former participant six months after the exit (issue 17), and the counted posts of its public page

Revision ID: da20bf3efc5b
Revises: a64304625812
Create Date: 2026-12-06 13:29:53.175204+00:00

"""
from alembic import op
import sqlalchemy as sa

import crm.database


# revision identifiers, used by Alembic.
revision = 'da20bf3efc5b'
down_revision = 'a64304625812'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('esf_followup_attempt',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ip_hash', sa.String(length=64), nullable=False),
    sa.Column('at', crm.database.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_esf_followup_attempt')),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('esf_followup_attempt', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_esf_followup_attempt_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_esf_followup_attempt_ip_hash'), ['ip_hash'], unique=False)

    op.create_table('esf_followup_link',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('participant_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('language', sa.String(length=2), nullable=False),
    sa.Column('sent_at', crm.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('answered_at', crm.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('employed', sa.String(length=8), nullable=False),
    sa.Column('improved', sa.String(length=8), nullable=False),
    sa.CheckConstraint("answered_at IS NOT NULL OR (employed = '' AND improved = '')", name=op.f('ck_esf_followup_link_answers_need_answered_at')),
    sa.CheckConstraint("employed IN ('', 'yes', 'no', 'unknown')", name=op.f('ck_esf_followup_link_employed_valid')),
    sa.CheckConstraint("improved IN ('', 'yes', 'no', 'unknown')", name=op.f('ck_esf_followup_link_improved_valid')),
    sa.CheckConstraint("language IN ('de', 'en')", name=op.f('ck_esf_followup_link_language_valid')),
    sa.ForeignKeyConstraint(['participant_id'], ['participant.id'], name=op.f('fk_esf_followup_link_participant_id_participant'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_esf_followup_link')),
    sa.UniqueConstraint('participant_id', name=op.f('uq_esf_followup_link_participant_id')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_esf_followup_link_token_hash')),
    sqlite_autoincrement=True
    )


def downgrade():
    op.drop_table('esf_followup_link')
    with op.batch_alter_table('esf_followup_attempt', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_esf_followup_attempt_ip_hash'))
        batch_op.drop_index(batch_op.f('ix_esf_followup_attempt_at'))

    op.drop_table('esf_followup_attempt')

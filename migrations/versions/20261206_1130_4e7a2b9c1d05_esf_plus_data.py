"""esf plus data: a participant's ESF Plus data at entry, at exit and six months later

Revision ID: 4e7a2b9c1d05
Revises: b8d4f2a6c931
Create Date: 2026-12-06 11:30:00.000000+00:00

"""
from alembic import op
import sqlalchemy as sa

import crm.database


# revision identifiers, used by Alembic.
revision = '4e7a2b9c1d05'
down_revision = 'b8d4f2a6c931'
branch_labels = None
depends_on = None


def _in(column, values):
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in (*values, 'unknown', '')) + ")"


YES_NO = ('yes', 'no')
FLAGS = ('third_country', 'foreign_background', 'minority', 'homeless', 'rural')


def upgrade():
    op.create_table('esf_record',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('participant_id', sa.Integer(), nullable=False),
    sa.Column('labour_status', sa.String(length=24), nullable=False),
    sa.Column('isced', sa.String(length=10), nullable=False),
    sa.Column('third_country', sa.String(length=8), nullable=False),
    sa.Column('foreign_background', sa.String(length=8), nullable=False),
    sa.Column('minority', sa.String(length=8), nullable=False),
    sa.Column('homeless', sa.String(length=8), nullable=False),
    sa.Column('rural', sa.String(length=8), nullable=False),
    sa.Column('disability', sa.String(length=8), nullable=False),
    sa.Column('disability_consent_on', sa.Date(), nullable=True),
    sa.Column('exit_job_searching', sa.Boolean(), nullable=False),
    sa.Column('exit_education', sa.Boolean(), nullable=False),
    sa.Column('exit_qualification', sa.Boolean(), nullable=False),
    sa.Column('exit_employment', sa.Boolean(), nullable=False),
    sa.Column('long_result', sa.String(length=12), nullable=False),
    sa.Column('long_result_on', sa.Date(), nullable=True),
    sa.Column('followup_id', sa.Integer(), nullable=True),
    sa.Column('created_at', crm.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', crm.database.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint(_in('labour_status', ('unemployed', 'long_term_unemployed', 'inactive', 'employed', 'self_employed')), name=op.f('ck_esf_record_labour_status_valid')),
    sa.CheckConstraint(_in('isced', ('isced_0_2', 'isced_3_4', 'isced_5_8')), name=op.f('ck_esf_record_isced_valid')),
    *(sa.CheckConstraint(_in(c, YES_NO), name=op.f(f'ck_esf_record_{c}_valid')) for c in FLAGS),
    sa.CheckConstraint(_in('disability', YES_NO), name=op.f('ck_esf_record_disability_valid')),
    sa.CheckConstraint("disability = '' OR disability_consent_on IS NOT NULL", name=op.f('ck_esf_record_disability_needs_consent')),
    sa.CheckConstraint("long_result IN ('', 'employment', 'improved', 'not_reached')", name=op.f('ck_esf_record_long_result_valid')),
    sa.CheckConstraint("(long_result = '') = (long_result_on IS NULL)", name=op.f('ck_esf_record_long_result_dated')),
    sa.ForeignKeyConstraint(['followup_id'], ['followup.id'], name=op.f('fk_esf_record_followup_id_followup'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['participant_id'], ['participant.id'], name=op.f('fk_esf_record_participant_id_participant'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_esf_record')),
    sa.UniqueConstraint('participant_id', name=op.f('uq_esf_record_participant_id')),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('esf_record', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_esf_record_followup_id'), ['followup_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_esf_record_labour_status'), ['labour_status'], unique=False)
        batch_op.create_index(batch_op.f('ix_esf_record_long_result_on'), ['long_result_on'], unique=False)


def downgrade():
    with op.batch_alter_table('esf_record', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_esf_record_long_result_on'))
        batch_op.drop_index(batch_op.f('ix_esf_record_labour_status'))
        batch_op.drop_index(batch_op.f('ix_esf_record_followup_id'))

    op.drop_table('esf_record')

"""needs surveys: surveys, frozen versions, rounds, recipients with token hashes, responses; a need's time frame and the answer it came from

Revision ID: c715616310df
Revises: d5e1f7a2c948
Create Date: 2026-12-06 11:31:47.926436+00:00

"""
from alembic import op
import sqlalchemy as sa

import crm.database


# revision identifiers, used by Alembic.
revision = 'c715616310df'
down_revision = 'd5e1f7a2c948'
branch_labels = None
depends_on = None


def upgrade():

    op.create_table('survey',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('intro_de', sa.Text(), nullable=False),
    sa.Column('intro_en', sa.Text(), nullable=False),
    sa.Column('questions', sa.JSON(), nullable=False),
    sa.Column('created_at', crm.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', crm.database.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_survey')),
    sqlite_autoincrement=True
    )
    op.create_table('survey_attempt',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ip_hash', sa.String(length=64), nullable=False),
    sa.Column('at', crm.database.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_survey_attempt')),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('survey_attempt', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_survey_attempt_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_survey_attempt_ip_hash'), ['ip_hash'], unique=False)

    op.create_table('survey_version',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('survey_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('intro_de', sa.Text(), nullable=False),
    sa.Column('intro_en', sa.Text(), nullable=False),
    sa.Column('questions', sa.JSON(), nullable=False),
    sa.Column('created_at', crm.database.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['survey_id'], ['survey.id'], name=op.f('fk_survey_version_survey_id_survey'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_survey_version')),
    sa.UniqueConstraint('survey_id', 'number', name=op.f('uq_survey_version_survey_id_number')),
    sqlite_autoincrement=True
    )
    op.create_table('survey_round',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('survey_id', sa.Integer(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('closes_on', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('created_at', crm.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', crm.database.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('draft', 'sent', 'closed')", name=op.f('ck_survey_round_status_valid')),
    sa.ForeignKeyConstraint(['survey_id'], ['survey.id'], name=op.f('fk_survey_round_survey_id_survey'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['version_id'], ['survey_version.id'], name=op.f('fk_survey_round_version_id_survey_version'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_survey_round')),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('survey_round', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_survey_round_survey_id'), ['survey_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_survey_round_version_id'), ['version_id'], unique=False)

    op.create_table('survey_recipient',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=True),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('invited_at', crm.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('reminded_at', crm.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('responded_at', crm.database.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisation.id'], name=op.f('fk_survey_recipient_organisation_id_organisation'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_survey_recipient_person_id_person'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['round_id'], ['survey_round.id'], name=op.f('fk_survey_recipient_round_id_survey_round'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_survey_recipient')),
    sa.UniqueConstraint('round_id', 'organisation_id', name=op.f('uq_survey_recipient_round_id_organisation_id')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_survey_recipient_token_hash')),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('survey_recipient', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_survey_recipient_organisation_id'), ['organisation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_survey_recipient_person_id'), ['person_id'], unique=False)

    op.create_table('survey_response',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('recipient_id', sa.Integer(), nullable=True),
    sa.Column('answers', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('submitted_at', crm.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', crm.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', crm.database.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('draft', 'final')", name=op.f('ck_survey_response_status_valid')),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisation.id'], name=op.f('fk_survey_response_organisation_id_organisation'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['recipient_id'], ['survey_recipient.id'], name=op.f('fk_survey_response_recipient_id_survey_recipient'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['round_id'], ['survey_round.id'], name=op.f('fk_survey_response_round_id_survey_round'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_survey_response')),
    sa.UniqueConstraint('round_id', 'organisation_id', name=op.f('uq_survey_response_round_id_organisation_id')),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('survey_response', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_survey_response_organisation_id'), ['organisation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_survey_response_recipient_id'), ['recipient_id'], unique=False)

    with op.batch_alter_table('qualification_need', schema=None, table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.add_column(sa.Column('time_frame', sa.String(length=10), server_default='', nullable=False))
        batch_op.add_column(sa.Column('survey_response_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_qualification_need_survey_response_id'), ['survey_response_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_qualification_need_survey_response_id_survey_response'), 'survey_response', ['survey_response_id'], ['id'], ondelete='SET NULL')




def downgrade():

    with op.batch_alter_table('qualification_need', schema=None, table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_qualification_need_survey_response_id_survey_response'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_qualification_need_survey_response_id'))
        batch_op.drop_column('survey_response_id')
        batch_op.drop_column('time_frame')

    with op.batch_alter_table('survey_response', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_survey_response_recipient_id'))
        batch_op.drop_index(batch_op.f('ix_survey_response_organisation_id'))

    op.drop_table('survey_response')
    with op.batch_alter_table('survey_recipient', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_survey_recipient_person_id'))
        batch_op.drop_index(batch_op.f('ix_survey_recipient_organisation_id'))

    op.drop_table('survey_recipient')
    with op.batch_alter_table('survey_round', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_survey_round_version_id'))
        batch_op.drop_index(batch_op.f('ix_survey_round_survey_id'))

    op.drop_table('survey_round')
    op.drop_table('survey_version')
    with op.batch_alter_table('survey_attempt', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_survey_attempt_ip_hash'))
        batch_op.drop_index(batch_op.f('ix_survey_attempt_at'))

    op.drop_table('survey_attempt')
    op.drop_table('survey')


"""events, series, fair planning, iCal tokens, digest, job runs

Revision ID: 6064a0aa3d7e
Revises: 818fbc652b49
Create Date: 2026-11-21 04:35:53.668857+00:00

"""
from alembic import op
import sqlalchemy as sa

import crm.database


# revision identifiers, used by Alembic.
revision = '6064a0aa3d7e'
down_revision = '818fbc652b49'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('job_run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('job_id', sa.String(length=80), nullable=False),
    sa.Column('started_at', crm.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', crm.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('result', sa.String(length=200), nullable=False),
    sa.Column('error', sa.Text(), nullable=False),
    sa.Column('holder', sa.String(length=120), nullable=False),
    sa.CheckConstraint("status IN ('running', 'ok', 'error')", name=op.f('ck_job_run_status_valid')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_job_run'))
    )
    with op.batch_alter_table('job_run', schema=None) as batch_op:
        batch_op.create_index('ix_job_run_job_started', ['job_id', 'started_at'], unique=False)
        batch_op.create_index('ix_job_run_started', ['started_at'], unique=False)

    op.create_table('calendar_token',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', crm.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', crm.database.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_calendar_token_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_calendar_token')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_calendar_token_token_hash'))
    )
    with op.batch_alter_table('calendar_token', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_calendar_token_revoked_at'), ['revoked_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_calendar_token_user_id'), ['user_id'], unique=False)

    op.create_table('digest_sent',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('digest_sent_on', sa.Date(), nullable=False),
    sa.Column('sent_at', crm.database.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_digest_sent_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'digest_sent_on', name=op.f('pk_digest_sent'))
    )
    op.create_table('event_series',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('rrule', sa.String(length=500), nullable=False),
    sa.Column('start_local', sa.DateTime(), nullable=False),
    sa.Column('duration_minutes', sa.Integer(), nullable=False),
    sa.Column('all_day', sa.Boolean(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('place', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('organiser_id', sa.Integer(), nullable=True),
    sa.Column('responsible_id', sa.Integer(), nullable=True),
    sa.Column('materialised_until', sa.Date(), nullable=True),
    sa.Column('created_at', crm.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', crm.database.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('fair', 'presentation', 'coordination', 'information', 'workshop', 'steering', 'conference', 'other')", name=op.f('ck_event_series_kind_valid')),
    sa.CheckConstraint('duration_minutes >= 0', name=op.f('ck_event_series_duration_not_negative')),
    sa.ForeignKeyConstraint(['organiser_id'], ['organisation.id'], name=op.f('fk_event_series_organiser_id_organisation'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['responsible_id'], ['user_account.id'], name=op.f('fk_event_series_responsible_id_user_account'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_event_series'))
    )
    with op.batch_alter_table('event_series', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_event_series_materialised_until'), ['materialised_until'], unique=False)
        batch_op.create_index(batch_op.f('ix_event_series_organiser_id'), ['organiser_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_event_series_responsible_id'), ['responsible_id'], unique=False)

    op.create_table('event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('starts_at', crm.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ends_at', crm.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('all_day', sa.Boolean(), nullable=False),
    sa.Column('place', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('organiser_id', sa.Integer(), nullable=True),
    sa.Column('responsible_id', sa.Integer(), nullable=True),
    sa.Column('series_id', sa.Integer(), nullable=True),
    sa.Column('occurrence_key', crm.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('is_exception', sa.Boolean(), nullable=False),
    sa.Column('created_at', crm.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', crm.database.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('fair', 'presentation', 'coordination', 'information', 'workshop', 'steering', 'conference', 'other')", name=op.f('ck_event_kind_valid')),
    sa.CheckConstraint("status IN ('planned', 'cancelled')", name=op.f('ck_event_status_valid')),
    sa.CheckConstraint('ends_at >= starts_at', name=op.f('ck_event_ends_after_start')),
    sa.ForeignKeyConstraint(['organiser_id'], ['organisation.id'], name=op.f('fk_event_organiser_id_organisation'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['responsible_id'], ['user_account.id'], name=op.f('fk_event_responsible_id_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['series_id'], ['event_series.id'], name=op.f('fk_event_series_id_event_series'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_event')),
    sa.UniqueConstraint('series_id', 'occurrence_key', name='uq_event_series_occurrence')
    )
    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_event_organiser_id'), ['organiser_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_event_responsible_id'), ['responsible_id'], unique=False)
        batch_op.create_index('ix_event_starts_at', ['starts_at'], unique=False)

    op.create_table('checklist_item',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('category', sa.String(length=20), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('done', sa.Boolean(), nullable=False),
    sa.CheckConstraint("category IN ('materials', 'registration', 'booth', 'other')", name=op.f('ck_checklist_item_category_valid')),
    sa.ForeignKeyConstraint(['event_id'], ['event.id'], name=op.f('fk_checklist_item_event_id_event'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_checklist_item'))
    )
    with op.batch_alter_table('checklist_item', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_checklist_item_event_id'), ['event_id'], unique=False)

    op.create_table('event_contact',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.CheckConstraint("status IN ('invited', 'registered', 'attended', 'no_show')", name=op.f('ck_event_contact_status_valid')),
    sa.ForeignKeyConstraint(['event_id'], ['event.id'], name=op.f('fk_event_contact_event_id_event'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_event_contact_person_id_person'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_event_contact')),
    sa.UniqueConstraint('event_id', 'person_id', name='uq_event_contact')
    )
    with op.batch_alter_table('event_contact', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_event_contact_person_id'), ['person_id'], unique=False)

    op.create_table('staff_slot',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('starts_at', crm.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ends_at', crm.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('note', sa.String(length=200), nullable=False),
    sa.CheckConstraint('ends_at > starts_at', name=op.f('ck_staff_slot_ends_after_start')),
    sa.ForeignKeyConstraint(['event_id'], ['event.id'], name=op.f('fk_staff_slot_event_id_event'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_staff_slot_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_slot'))
    )
    with op.batch_alter_table('staff_slot', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_staff_slot_event_id'), ['event_id'], unique=False)
        batch_op.create_index('ix_staff_slot_user_time', ['user_id', 'starts_at'], unique=False)

    op.create_table('lead',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=True),
    sa.Column('followup_id', sa.Integer(), nullable=True),
    sa.Column('captured_by_id', sa.Integer(), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_at', crm.database.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['captured_by_id'], ['user_account.id'], name=op.f('fk_lead_captured_by_id_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['event_id'], ['event.id'], name=op.f('fk_lead_event_id_event'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['followup_id'], ['followup.id'], name=op.f('fk_lead_followup_id_followup'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisation.id'], name=op.f('fk_lead_organisation_id_organisation'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_lead_person_id_person'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lead'))
    )
    with op.batch_alter_table('lead', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lead_captured_by_id'), ['captured_by_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_lead_event_id'), ['event_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_lead_followup_id'), ['followup_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_lead_organisation_id'), ['organisation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_lead_person_id'), ['person_id'], unique=False)

    with op.batch_alter_table('followup', schema=None) as batch_op:
        batch_op.add_column(sa.Column('event_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('repeat_every', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('repeat_unit', sa.String(length=10), nullable=True))
        batch_op.create_index(batch_op.f('ix_followup_event_id'), ['event_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_followup_event_id_event'), 'event', ['event_id'], ['id'], ondelete='SET NULL')
        batch_op.create_check_constraint(
            'repeat_valid',
            "(repeat_every IS NULL AND repeat_unit IS NULL) OR (repeat_every > 0 AND "
            "repeat_unit IN ('days', 'weeks', 'months'))",
        )



def downgrade():
    with op.batch_alter_table('followup', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_followup_repeat_valid'), type_='check')
        batch_op.drop_constraint(batch_op.f('fk_followup_event_id_event'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_followup_event_id'))
        batch_op.drop_column('repeat_unit')
        batch_op.drop_column('repeat_every')
        batch_op.drop_column('event_id')

    with op.batch_alter_table('lead', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lead_person_id'))
        batch_op.drop_index(batch_op.f('ix_lead_organisation_id'))
        batch_op.drop_index(batch_op.f('ix_lead_followup_id'))
        batch_op.drop_index(batch_op.f('ix_lead_event_id'))
        batch_op.drop_index(batch_op.f('ix_lead_captured_by_id'))

    op.drop_table('lead')
    with op.batch_alter_table('staff_slot', schema=None) as batch_op:
        batch_op.drop_index('ix_staff_slot_user_time')
        batch_op.drop_index(batch_op.f('ix_staff_slot_event_id'))

    op.drop_table('staff_slot')
    with op.batch_alter_table('event_contact', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_event_contact_person_id'))

    op.drop_table('event_contact')
    with op.batch_alter_table('checklist_item', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_checklist_item_event_id'))

    op.drop_table('checklist_item')
    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.drop_index('ix_event_starts_at')
        batch_op.drop_index(batch_op.f('ix_event_responsible_id'))
        batch_op.drop_index(batch_op.f('ix_event_organiser_id'))

    op.drop_table('event')
    with op.batch_alter_table('event_series', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_event_series_responsible_id'))
        batch_op.drop_index(batch_op.f('ix_event_series_organiser_id'))
        batch_op.drop_index(batch_op.f('ix_event_series_materialised_until'))

    op.drop_table('event_series')
    op.drop_table('digest_sent')
    with op.batch_alter_table('calendar_token', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_calendar_token_user_id'))
        batch_op.drop_index(batch_op.f('ix_calendar_token_revoked_at'))

    op.drop_table('calendar_token')
    with op.batch_alter_table('job_run', schema=None) as batch_op:
        batch_op.drop_index('ix_job_run_started')
        batch_op.drop_index('ix_job_run_job_started')

    op.drop_table('job_run')

"""placements: participant placed with a firm, the exit names its placement, a need's required language level,
the firm's support checklist and a responsible person per support item

Revision ID: f2cbdf9071d5
Revises: 3f8a1d6c2b47
Create Date: 2026-12-06 10:36:06.795759+00:00

"""
from alembic import op
import sqlalchemy as sa

import crm.database


# revision identifiers, used by Alembic.
revision = 'f2cbdf9071d5'
down_revision = '3f8a1d6c2b47'
branch_labels = None
depends_on = None


# A SQLite batch operation rebuilds `participant` and the rebuild drops the table's triggers,
# among them those keeping the trigram index of names current (migration 3f8a1d6c2b47).
# Written out as that migration created them, so later changes elsewhere do not alter this one.
PARTICIPANT_TRIGRAM_TRIGGERS = [
    "DROP TRIGGER IF EXISTS participant_name_key_trigram_ai",
    "DROP TRIGGER IF EXISTS participant_name_key_trigram_ad",
    "DROP TRIGGER IF EXISTS participant_name_key_trigram_au",
    "CREATE TRIGGER participant_name_key_trigram_ai AFTER INSERT ON participant BEGIN INSERT "
    "INTO participant_name_key_trigram(rowid, name_key) VALUES (new.id, new.name_key); END",
    "CREATE TRIGGER participant_name_key_trigram_ad AFTER DELETE ON participant BEGIN INSERT "
    "INTO participant_name_key_trigram(participant_name_key_trigram, rowid, name_key) VALUES "
    "('delete', old.id, old.name_key); END",
    "CREATE TRIGGER participant_name_key_trigram_au AFTER UPDATE OF name_key ON participant "
    "BEGIN INSERT INTO participant_name_key_trigram(participant_name_key_trigram, rowid, "
    "name_key) VALUES ('delete', old.id, old.name_key); INSERT INTO "
    "participant_name_key_trigram(rowid, name_key) VALUES (new.id, new.name_key); END",
    "INSERT INTO participant_name_key_trigram(participant_name_key_trigram) VALUES ('rebuild')",
]


def _restore_participant_triggers():
    if op.get_bind().dialect.name == "sqlite":
        for statement in PARTICIPANT_TRIGRAM_TRIGGERS:
            op.execute(statement)


def upgrade():
    op.create_table('placement',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('participant_id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('need_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('ends_on', sa.Date(), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('followup_id', sa.Integer(), nullable=True),
    sa.Column('created_at', crm.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', crm.database.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind != 'internship' OR ends_on IS NOT NULL", name=op.f('ck_placement_internship_ends')),
    sa.CheckConstraint("kind IN ('job', 'apprenticeship', 'internship', 'qualification', 'recognition')", name=op.f('ck_placement_kind_valid')),
    sa.CheckConstraint("status IN ('planned', 'active', 'ended', 'cancelled')", name=op.f('ck_placement_status_valid')),
    sa.CheckConstraint('ends_on IS NULL OR ends_on >= starts_on', name=op.f('ck_placement_ends_after_start')),
    sa.ForeignKeyConstraint(['followup_id'], ['followup.id'], name=op.f('fk_placement_followup_id_followup'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['need_id'], ['qualification_need.id'], name=op.f('fk_placement_need_id_qualification_need'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisation.id'], name=op.f('fk_placement_organisation_id_organisation'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['participant_id'], ['participant.id'], name=op.f('fk_placement_participant_id_participant'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_placement')),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('placement', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_placement_followup_id'), ['followup_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_placement_kind'), ['kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_placement_need_id'), ['need_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_placement_organisation_id'), ['organisation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_placement_participant_id'), ['participant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_placement_starts_on'), ['starts_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_placement_status'), ['status'], unique=False)

    with op.batch_alter_table('participant', schema=None, table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.add_column(sa.Column('exit_placement_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_participant_exit_placement_id'), ['exit_placement_id'], unique=False)
        batch_op.create_foreign_key('fk_participant_exit_placement_id_placement', 'placement', ['exit_placement_id'], ['id'], ondelete='SET NULL', use_alter=True)
    _restore_participant_triggers()

    with op.batch_alter_table('qualification_need', schema=None, table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.add_column(sa.Column('required_language_level', sa.String(length=2), server_default='', nullable=False))
        batch_op.create_check_constraint(
            batch_op.f('ck_qualification_need_required_level_valid'),
            "required_language_level IN ('', 'A1', 'A2', 'B1', 'B2', 'C1', 'C2')",
        )

    op.create_table('firm_support',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('training_status', sa.String(length=10), nullable=False),
    sa.Column('training_on', sa.Date(), nullable=True),
    sa.Column('onboarding_contact', sa.String(length=200), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_at', crm.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', crm.database.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("training_status IN ('', 'planned', 'held')", name=op.f('ck_firm_support_training_status_valid')),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisation.id'], name=op.f('fk_firm_support_organisation_id_organisation'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_firm_support')),
    sa.UniqueConstraint('organisation_id', name=op.f('uq_firm_support_organisation_id')),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('support_item', schema=None, table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.add_column(sa.Column('responsible_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_support_item_responsible_id'), ['responsible_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_support_item_responsible_id_user_account'), 'user_account', ['responsible_id'], ['id'], ondelete='SET NULL')


def downgrade():
    with op.batch_alter_table('support_item', schema=None, table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_support_item_responsible_id_user_account'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_support_item_responsible_id'))
        batch_op.drop_column('responsible_id')

    op.drop_table('firm_support')

    with op.batch_alter_table('qualification_need', schema=None, table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_qualification_need_required_level_valid'), type_='check')
        batch_op.drop_column('required_language_level')

    with op.batch_alter_table('participant', schema=None, table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.drop_constraint('fk_participant_exit_placement_id_placement', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_participant_exit_placement_id'))
        batch_op.drop_column('exit_placement_id')
    _restore_participant_triggers()

    with op.batch_alter_table('placement', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_placement_status'))
        batch_op.drop_index(batch_op.f('ix_placement_starts_on'))
        batch_op.drop_index(batch_op.f('ix_placement_participant_id'))
        batch_op.drop_index(batch_op.f('ix_placement_organisation_id'))
        batch_op.drop_index(batch_op.f('ix_placement_need_id'))
        batch_op.drop_index(batch_op.f('ix_placement_kind'))
        batch_op.drop_index(batch_op.f('ix_placement_followup_id'))

    op.drop_table('placement')

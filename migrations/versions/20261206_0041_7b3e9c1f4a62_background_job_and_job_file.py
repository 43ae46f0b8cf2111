"""background_job and job_file: long jobs (imports) run by workers, uploads in the database

Uploads kept under <instance>/imports by earlier versions are not moved: their import jobs
ask for the file to be uploaded again.

Revision ID: 7b3e9c1f4a62
Revises: e5a1c7d20b94
Create Date: 2026-12-06 00:41:52.923029+00:00

"""
from alembic import op
import sqlalchemy as sa

import crm.database


# revision identifiers, used by Alembic.
revision = '7b3e9c1f4a62'
down_revision = 'e5a1c7d20b94'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('job_file',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('size_bytes', sa.Integer(), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', crm.database.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_job_file')),
    sa.UniqueConstraint('key', name=op.f('uq_job_file_key')),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('job_file', schema=None) as batch_op:
        batch_op.create_index('ix_job_file_created_at', ['created_at'], unique=False)

    op.create_table('background_job',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=True),
    sa.Column('subject_type', sa.String(length=40), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=True),
    sa.Column('progress_done', sa.Integer(), nullable=False),
    sa.Column('progress_total', sa.Integer(), nullable=False),
    sa.Column('progress_message', sa.String(length=200), nullable=False),
    sa.Column('result', sa.JSON(), nullable=True),
    sa.Column('error', sa.Text(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('max_attempts', sa.Integer(), nullable=False),
    sa.Column('claimed_by', sa.String(length=120), nullable=False),
    sa.Column('claimed_at', crm.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('heartbeat_at', crm.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', crm.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('started_at', crm.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', crm.database.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('queued', 'running', 'done', 'failed', 'cancelled')", name=op.f('ck_background_job_status_valid')),
    sa.CheckConstraint('attempts >= 0', name=op.f('ck_background_job_attempts_not_negative')),
    sa.ForeignKeyConstraint(['created_by_id'], ['user_account.id'], name=op.f('fk_background_job_created_by_id_user_account'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_background_job')),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('background_job', schema=None) as batch_op:
        batch_op.create_index('ix_background_job_created_at', ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_background_job_created_by_id'), ['created_by_id'], unique=False)
        batch_op.create_index('ix_background_job_status_id', ['status', 'id'], unique=False)
        batch_op.create_index('ix_background_job_subject', ['subject_type', 'subject_id'], unique=False)


def downgrade():
    with op.batch_alter_table('background_job', schema=None) as batch_op:
        batch_op.drop_index('ix_background_job_subject')
        batch_op.drop_index('ix_background_job_status_id')
        batch_op.drop_index(batch_op.f('ix_background_job_created_by_id'))
        batch_op.drop_index('ix_background_job_created_at')

    op.drop_table('background_job')
    with op.batch_alter_table('job_file', schema=None) as batch_op:
        batch_op.drop_index('ix_job_file_created_at')

    op.drop_table('job_file')

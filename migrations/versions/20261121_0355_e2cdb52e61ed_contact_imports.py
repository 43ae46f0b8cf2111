"""contact imports: import_job and import_item (the uploaded files stay on disk)

Revision ID: e2cdb52e61ed
Revises: 005dcfc005c0
Create Date: 2026-11-21 03:55:06.764455+00:00

"""
from alembic import op
import sqlalchemy as sa

import crm.database


# revision identifiers, used by Alembic.
revision = 'e2cdb52e61ed'
down_revision = '005dcfc005c0'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('import_job',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('uuid', sa.String(length=32), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('size_bytes', sa.Integer(), nullable=False),
    sa.Column('file_kind', sa.String(length=10), nullable=False),
    sa.Column('encoding', sa.String(length=20), nullable=False),
    sa.Column('delimiter', sa.String(length=4), nullable=False),
    sa.Column('sheet', sa.String(length=100), nullable=False),
    sa.Column('row_count', sa.Integer(), nullable=False),
    sa.Column('mapping', sa.JSON(), nullable=True),
    sa.Column('duplicate_policy', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('counts', sa.JSON(), nullable=True),
    sa.Column('report', sa.JSON(), nullable=True),
    sa.Column('report_is_dry_run', sa.Boolean(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('started_at', crm.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', crm.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('undone_at', crm.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('undone_by_id', sa.Integer(), nullable=True),
    sa.Column('file_removed_at', crm.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', crm.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', crm.database.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("duplicate_policy IN ('skip', 'update_empty', 'create')", name=op.f('ck_import_job_policy_valid')),
    sa.CheckConstraint("status IN ('uploaded', 'running', 'done', 'failed', 'undone')", name=op.f('ck_import_job_status_valid')),
    sa.ForeignKeyConstraint(['created_by_id'], ['user_account.id'], name=op.f('fk_import_job_created_by_id_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['undone_by_id'], ['user_account.id'], name=op.f('fk_import_job_undone_by_id_user_account'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_import_job')),
    sa.UniqueConstraint('uuid', name=op.f('uq_import_job_uuid'))
    )
    with op.batch_alter_table('import_job', schema=None) as batch_op:
        batch_op.create_index('ix_import_job_created_at', ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_import_job_created_by_id'), ['created_by_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_import_job_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_import_job_undone_by_id'), ['undone_by_id'], unique=False)

    op.create_table('import_item',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('job_id', sa.Integer(), nullable=False),
    sa.Column('entity_type', sa.String(length=20), nullable=False),
    sa.Column('entity_id', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=10), nullable=False),
    sa.Column('fields', sa.JSON(), nullable=True),
    sa.CheckConstraint("action IN ('create', 'fill')", name=op.f('ck_import_item_action_valid')),
    sa.ForeignKeyConstraint(['job_id'], ['import_job.id'], name=op.f('fk_import_item_job_id_import_job'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_import_item'))
    )
    with op.batch_alter_table('import_item', schema=None) as batch_op:
        batch_op.create_index('ix_import_item_job_entity', ['job_id', 'entity_type', 'action'], unique=False)


def downgrade():
    with op.batch_alter_table('import_item', schema=None) as batch_op:
        batch_op.drop_index('ix_import_item_job_entity')

    op.drop_table('import_item')
    with op.batch_alter_table('import_job', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_import_job_undone_by_id'))
        batch_op.drop_index(batch_op.f('ix_import_job_status'))
        batch_op.drop_index(batch_op.f('ix_import_job_created_by_id'))
        batch_op.drop_index('ix_import_job_created_at')

    op.drop_table('import_job')

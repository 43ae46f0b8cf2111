"""project_term: the funded project's term (Projektlaufzeit), set by an admin instead of
only through CRM_PROJECT_START/CRM_PROJECT_END.

Revision ID: 47c482466f48
Revises: c688cd18c2f2
Create Date: 2026-12-06 17:32:22.160120+00:00

"""
from alembic import op
import sqlalchemy as sa

import crm.database


# revision identifiers, used by Alembic.
revision = '47c482466f48'
down_revision = 'c688cd18c2f2'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('project_term',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('start_on', sa.Date(), nullable=False),
    sa.Column('end_on', sa.Date(), nullable=False),
    sa.Column('created_at', crm.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', crm.database.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('end_on >= start_on', name=op.f('ck_project_term_ordered')),
    sa.CheckConstraint('id = 1', name=op.f('ck_project_term_single_row')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_project_term')),
    sqlite_autoincrement=True
    )


def downgrade():
    op.drop_table('project_term')

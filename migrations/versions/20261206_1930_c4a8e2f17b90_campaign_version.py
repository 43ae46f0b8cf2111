"""newsletter_campaign: a version counter, so two people editing one draft cannot silently
overwrite each other's text

Revision ID: c4a8e2f17b90
Revises: 5b1e0c7d9a42
Create Date: 2026-12-06 19:30:00.000000+00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c4a8e2f17b90'
down_revision = '5b1e0c7d9a42'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table(
        "newsletter_campaign", schema=None, table_kwargs={"sqlite_autoincrement": True}
    ) as batch_op:
        batch_op.add_column(sa.Column('version', sa.Integer(), server_default='1', nullable=False))


def downgrade():
    with op.batch_alter_table(
        "newsletter_campaign", schema=None, table_kwargs={"sqlite_autoincrement": True}
    ) as batch_op:
        batch_op.drop_column('version')

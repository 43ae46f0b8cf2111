"""retention_setting: the admins' values for the retention rules

Revision ID: c91e5d3a7f20
Revises: b4d2f8a61c07
Create Date: 2026-12-05 22:40:00.000000+00:00

"""

import sqlalchemy as sa
from alembic import op

import crm.database


# revision identifiers, used by Alembic.
revision = "c91e5d3a7f20"
down_revision = "b4d2f8a61c07"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "retention_setting",
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.Column("updated_at", crm.database.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("value > 0", name=op.f("ck_retention_setting_value_positive")),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_retention_setting")),
    )


def downgrade():
    op.drop_table("retention_setting")

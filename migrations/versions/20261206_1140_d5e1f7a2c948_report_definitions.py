"""report definitions: saved periods of the funder report (issue 17)

Revision ID: d5e1f7a2c948
Revises: 4e7a2b9c1d05
Create Date: 2026-12-06 11:40:00.000000+00:00

"""

import sqlalchemy as sa
from alembic import op

import crm.database

# revision identifiers, used by Alembic.
revision = "d5e1f7a2c948"
down_revision = "4e7a2b9c1d05"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "report_definition",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("preset", sa.String(length=10), nullable=False),
        sa.Column("start_on", sa.Date(), nullable=True),
        sa.Column("end_on", sa.Date(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", crm.database.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", crm.database.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "preset IN ('year', 'half', '100d', 'term', 'custom')",
            name=op.f("ck_report_definition_preset_valid"),
        ),
        sa.CheckConstraint(
            "preset != 'custom' OR (start_on IS NOT NULL AND end_on IS NOT NULL"
            " AND end_on >= start_on)",
            name=op.f("ck_report_definition_custom_has_dates"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["user_account.id"],
            name=op.f("fk_report_definition_created_by_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_definition")),
        sa.UniqueConstraint("name", name=op.f("uq_report_definition_name")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        op.f("ix_report_definition_created_by_id"), "report_definition", ["created_by_id"]
    )


def downgrade():
    op.drop_index(op.f("ix_report_definition_created_by_id"), table_name="report_definition")
    op.drop_table("report_definition")

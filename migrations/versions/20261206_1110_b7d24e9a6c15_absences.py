"""absences: the days a user is away (issue 16)

A user, a first and a last day (Europe/Berlin dates, inclusive), a kind (vacation, sick,
travel, other) and a note. The inquiry round robin skips users on the days they are absent.

Revision ID: b7d24e9a6c15
Revises: f2cbdf9071d5
Create Date: 2026-12-06 11:10:00.000000+00:00

"""

import sqlalchemy as sa
from alembic import op

import crm.database

# revision identifiers, used by Alembic.
revision = "b7d24e9a6c15"
down_revision = "f2cbdf9071d5"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "absence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("note", sa.String(length=200), server_default="", nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", crm.database.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", crm.database.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("last_day >= first_day", name=op.f("ck_absence_days_in_order")),
        sa.CheckConstraint(
            "kind IN ('vacation', 'sick', 'travel', 'other')", name=op.f("ck_absence_kind_valid")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_absence_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["user_account.id"],
            name=op.f("fk_absence_created_by_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_absence")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_absence_user_id"), "absence", ["user_id"])
    op.create_index(op.f("ix_absence_last_day"), "absence", ["last_day"])
    op.create_index(op.f("ix_absence_created_by_id"), "absence", ["created_by_id"])
    op.create_index("ix_absence_user_last_day", "absence", ["user_id", "last_day"])


def downgrade():
    op.drop_index("ix_absence_user_last_day", table_name="absence")
    op.drop_index(op.f("ix_absence_created_by_id"), table_name="absence")
    op.drop_index(op.f("ix_absence_last_day"), table_name="absence")
    op.drop_index(op.f("ix_absence_user_id"), table_name="absence")
    op.drop_table("absence")

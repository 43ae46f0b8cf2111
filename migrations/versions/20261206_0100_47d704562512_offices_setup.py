"""offices: address, active flag, weekly targets; user_office; weekly_target moves to offices

Revision ID: 47d704562512
Revises: 6fcf3eb929c0
Create Date: 2026-12-06 01:00:00+00:00

"""

import sqlalchemy as sa
from alembic import op

import crm.database

# revision identifiers, used by Alembic.
revision = "47d704562512"
down_revision = "6fcf3eb929c0"
branch_labels = None
depends_on = None

TARGET = sa.Numeric(precision=6, scale=2, asdecimal=False)


def upgrade():
    with op.batch_alter_table(
        "office", schema=None, table_kwargs={"sqlite_autoincrement": True}
    ) as batch_op:
        batch_op.add_column(sa.Column("street", sa.String(200), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("postcode", sa.String(10), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("city", sa.String(120), nullable=False, server_default=""))
        batch_op.add_column(
            sa.Column("is_active", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch_op.add_column(sa.Column("weekly_entries", TARGET, nullable=False, server_default="1"))
        batch_op.add_column(sa.Column("weekly_exits", TARGET, nullable=False, server_default="1"))
        batch_op.create_index(batch_op.f("ix_office_is_active"), ["is_active"], unique=False)
        batch_op.create_check_constraint(
            batch_op.f("ck_office_weekly_entries_not_negative"), "weekly_entries >= 0"
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_office_weekly_exits_not_negative"), "weekly_exits >= 0"
        )
    op.create_table(
        "user_office",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("office_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["office_id"],
            ["office.id"],
            name=op.f("fk_user_office_office_id_office"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_user_office_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "office_id", name=op.f("pk_user_office")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_user_office_office_id"), "user_office", ["office_id"], unique=False)
    # Today's home office becomes the first office each user works in.
    op.execute(
        "INSERT INTO user_office (user_id, office_id) "
        "SELECT id, office_id FROM user_account WHERE office_id IS NOT NULL"
    )
    # Weekly targets now belong to the offices (the board sums the active ones). What the
    # project promised so far was one project-wide figure (the latest year's row, else the
    # default of 1 and 1): it goes to the head office (else the first office) and the other
    # offices start at 0, so the board's sum stays what was promised until an admin splits it.
    conn = op.get_bind()
    latest = conn.execute(
        sa.text(
            "SELECT entries_per_week, exits_per_week FROM weekly_target ORDER BY year DESC LIMIT 1"
        )
    ).first()
    first_office = conn.execute(
        sa.text("SELECT id FROM office ORDER BY is_head_office DESC, id LIMIT 1")
    ).scalar()
    if first_office is not None:
        entries, exits = (latest[0], latest[1]) if latest is not None else (1, 1)
        conn.execute(sa.text("UPDATE office SET weekly_entries = 0, weekly_exits = 0"))
        conn.execute(
            sa.text("UPDATE office SET weekly_entries = :e, weekly_exits = :x WHERE id = :id"),
            {"e": entries, "x": exits, "id": first_office},
        )
    op.drop_table("weekly_target")


def downgrade():
    op.create_table(
        "weekly_target",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("entries_per_week", TARGET, nullable=False),
        sa.Column("exits_per_week", TARGET, nullable=False),
        sa.Column("created_at", crm.database.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", crm.database.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "entries_per_week >= 0", name=op.f("ck_weekly_target_entries_not_negative")
        ),
        sa.CheckConstraint("exits_per_week >= 0", name=op.f("ck_weekly_target_exits_not_negative")),
        sa.CheckConstraint(
            "year BETWEEN 2000 AND 2100", name=op.f("ck_weekly_target_year_plausible")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_weekly_target")),
        sa.UniqueConstraint("year", name=op.f("uq_weekly_target_year")),
        sqlite_autoincrement=True,
    )
    op.drop_index(op.f("ix_user_office_office_id"), table_name="user_office")
    op.drop_table("user_office")
    with op.batch_alter_table(
        "office", schema=None, table_kwargs={"sqlite_autoincrement": True}
    ) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_office_weekly_exits_not_negative"), type_="check")
        batch_op.drop_constraint(batch_op.f("ck_office_weekly_entries_not_negative"), type_="check")
        batch_op.drop_index(batch_op.f("ix_office_is_active"))
        for name in ("weekly_exits", "weekly_entries", "is_active", "city", "postcode", "street"):
            batch_op.drop_column(name)

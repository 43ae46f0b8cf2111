"""Weekly targets of the board and the DSGVO retention review.

Follows the participants revision (foreign key to participant).

Revision ID: d86e9c8978ff
Revises: ebb529e7f464
Create Date: 2026-11-21 04:36:45.024912+00:00

"""

from alembic import op
import sqlalchemy as sa

import crm.database


# revision identifiers, used by Alembic.
revision = "d86e9c8978ff"
down_revision = "ebb529e7f464"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "weekly_target",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column(
            "entries_per_week", sa.Numeric(precision=6, scale=2, asdecimal=False), nullable=False
        ),
        sa.Column(
            "exits_per_week", sa.Numeric(precision=6, scale=2, asdecimal=False), nullable=False
        ),
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
    )
    op.create_table(
        "retention_review",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("participant_id", sa.Integer(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", crm.database.UTCDateTime(timezone=True), nullable=True),
        sa.Column("postponed_until", sa.Date(), nullable=True),
        sa.Column("created_at", crm.database.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", crm.database.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'postponed', 'done')",
            name=op.f("ck_retention_review_status_valid"),
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"],
            ["user_account.id"],
            name=op.f("fk_retention_review_decided_by_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participant.id"],
            name=op.f("fk_retention_review_participant_id_participant"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retention_review")),
        sa.UniqueConstraint("participant_id", name=op.f("uq_retention_review_participant_id")),
    )
    with op.batch_alter_table("retention_review", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_retention_review_decided_by_id"), ["decided_by_id"], unique=False
        )
        batch_op.create_index("ix_retention_review_status_due", ["status", "due_on"], unique=False)


def downgrade():
    with op.batch_alter_table("retention_review", schema=None) as batch_op:
        batch_op.drop_index("ix_retention_review_status_due")
        batch_op.drop_index(batch_op.f("ix_retention_review_decided_by_id"))

    op.drop_table("retention_review")
    op.drop_table("weekly_target")

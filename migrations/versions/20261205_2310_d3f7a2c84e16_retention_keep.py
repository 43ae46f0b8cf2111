"""retention_keep: an admin keeps a record a retention review rule lists, for a year

Revision ID: d3f7a2c84e16
Revises: a7e3c9d51f20
Create Date: 2026-12-05 23:10:00.000000+00:00

"""

import sqlalchemy as sa
from alembic import op

import crm.database


# revision identifiers, used by Alembic.
revision = "d3f7a2c84e16"
down_revision = "a7e3c9d51f20"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "retention_keep",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_type", sa.String(length=20), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("keep_until", sa.Date(), nullable=False),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", crm.database.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "subject_type IN ('person', 'participant')",
            name=op.f("ck_retention_keep_subject_type_valid"),
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"],
            ["user_account.id"],
            name=op.f("fk_retention_keep_decided_by_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retention_keep")),
        sa.UniqueConstraint("subject_type", "subject_id", name="uq_retention_keep_subject"),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("retention_keep", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_retention_keep_decided_by_id"), ["decided_by_id"], unique=False
        )


def downgrade():
    with op.batch_alter_table("retention_keep", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_retention_keep_decided_by_id"))
    op.drop_table("retention_keep")

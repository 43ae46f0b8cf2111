"""erasure_record: the log of each erasure (who, when, legal basis, categories, row ids)

Holds ids only, never the erased values, so it can be kept and re-applied after a backup
is restored.

Revision ID: a7e3c9d51f20
Revises: 5b1e7d3c9f20
Create Date: 2026-12-05 22:00:00.000000+00:00

"""

import sqlalchemy as sa
from alembic import op

import crm.database

# revision identifiers, used by Alembic.
revision = "a7e3c9d51f20"
down_revision = "5b1e7d3c9f20"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "erasure_record",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_type", sa.String(length=20), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("requested_by_id", sa.Integer(), nullable=True),
        sa.Column("requested_at", crm.database.UTCDateTime(timezone=True), nullable=False),
        sa.Column("legal_basis", sa.String(length=20), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("row_ids", sa.JSON(), nullable=False),
        sa.Column("mention_keys", sa.JSON(), nullable=False),
        sa.Column("files_removed", sa.Integer(), nullable=False),
        sa.Column("mentions_changed", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "legal_basis IN ('request', 'consent_withdrawn', 'objection', 'unlawful', 'retention')",
            name=op.f("ck_erasure_record_legal_basis_valid"),
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"],
            ["user_account.id"],
            name=op.f("fk_erasure_record_requested_by_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erasure_record")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("erasure_record", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_erasure_record_requested_at"), ["requested_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_erasure_record_requested_by_id"), ["requested_by_id"], unique=False
        )
        batch_op.create_index(
            "ix_erasure_record_subject", ["subject_type", "subject_id"], unique=False
        )


def downgrade():
    with op.batch_alter_table("erasure_record", schema=None) as batch_op:
        batch_op.drop_index("ix_erasure_record_subject")
        batch_op.drop_index(batch_op.f("ix_erasure_record_requested_by_id"))
        batch_op.drop_index(batch_op.f("ix_erasure_record_requested_at"))
    op.drop_table("erasure_record")

"""intake consent texts: versions of the public form's privacy notice and consent sentence

Admins edit the wording in Verwaltung → Anfragen; each save is a new row, so the version an
inquiry recorded always resolves to the exact words shown. Without a row the built-in text
(version 2026-12) applies.

Revision ID: c41a9d7e2b58
Revises: 5c2d8e4f1a37
Create Date: 2026-12-06 10:20:00.000000+00:00

"""

import sqlalchemy as sa
from alembic import op

import crm.database

# revision identifiers, used by Alembic.
revision = "c41a9d7e2b58"
down_revision = "5c2d8e4f1a37"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "intake_consent_text",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=20), nullable=False),
        sa.Column("privacy_de", sa.Text(), nullable=False),
        sa.Column("consent_de", sa.Text(), nullable=False),
        sa.Column("privacy_en", sa.Text(), nullable=False),
        sa.Column("consent_en", sa.Text(), nullable=False),
        sa.Column("privacy_simple", sa.Text(), nullable=False),
        sa.Column("consent_simple", sa.Text(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", crm.database.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["user_account.id"],
            name=op.f("fk_intake_consent_text_created_by_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_intake_consent_text")),
        sa.UniqueConstraint("version", name=op.f("uq_intake_consent_text_version")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        op.f("ix_intake_consent_text_created_at"), "intake_consent_text", ["created_at"]
    )
    op.create_index(
        op.f("ix_intake_consent_text_created_by_id"), "intake_consent_text", ["created_by_id"]
    )


def downgrade():
    op.drop_index(op.f("ix_intake_consent_text_created_by_id"), table_name="intake_consent_text")
    op.drop_index(op.f("ix_intake_consent_text_created_at"), table_name="intake_consent_text")
    op.drop_table("intake_consent_text")

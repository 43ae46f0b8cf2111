"""privacy_text: the office's own texts for the Art. 15(1)(a)–(h) section of the report

Revision ID: 5b1e7d3c9f20
Revises: b7e3c1f05a92
Create Date: 2026-12-05 22:00:00.000000+00:00

"""

import sqlalchemy as sa
from alembic import op

import crm.database


# revision identifiers, used by Alembic.
revision = "5b1e7d3c9f20"
down_revision = "b7e3c1f05a92"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "privacy_text",
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("updated_at", crm.database.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["updated_by_id"],
            ["user_account.id"],
            name=op.f("fk_privacy_text_updated_by_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_privacy_text")),
    )
    with op.batch_alter_table("privacy_text", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_privacy_text_updated_by_id"), ["updated_by_id"], unique=False
        )


def downgrade():
    with op.batch_alter_table("privacy_text", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_privacy_text_updated_by_id"))

    op.drop_table("privacy_text")

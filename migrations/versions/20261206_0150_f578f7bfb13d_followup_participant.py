"""followup_participant: a follow-up can be linked to a participant (picked in the form)

Revision ID: f578f7bfb13d
Revises: b7c2e91f4a63
Create Date: 2026-12-06 01:50:00.000000+00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "f578f7bfb13d"
down_revision = "b7c2e91f4a63"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table(
        "followup", schema=None, table_kwargs={"sqlite_autoincrement": True}
    ) as batch_op:
        batch_op.add_column(sa.Column("participant_id", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_followup_participant_id"), ["participant_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_followup_participant_id_participant"),
            "participant",
            ["participant_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade():
    with op.batch_alter_table(
        "followup", schema=None, table_kwargs={"sqlite_autoincrement": True}
    ) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_followup_participant_id_participant"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_followup_participant_id"))
        batch_op.drop_column("participant_id")

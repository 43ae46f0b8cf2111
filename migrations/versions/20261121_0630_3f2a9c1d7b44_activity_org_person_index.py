"""activity (organisation_id, person_id) index for timeline counts

An organisation's timeline counts its own activities plus those with its people, less the
ones that are both; that overlap is a range of this index instead of thousands of row
lookups (bench/README.md, finding 9).

Revision ID: 3f2a9c1d7b44
Revises: d86e9c8978ff
Create Date: 2026-11-21 06:30:00.000000+00:00

"""

from alembic import op


# revision identifiers, used by Alembic.
revision = "3f2a9c1d7b44"
down_revision = "d86e9c8978ff"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("activity", schema=None) as batch_op:
        batch_op.create_index(
            "ix_activity_org_person", ["organisation_id", "person_id"], unique=False
        )


def downgrade():
    with op.batch_alter_table("activity", schema=None) as batch_op:
        batch_op.drop_index("ix_activity_org_person")

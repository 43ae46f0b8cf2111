"""casework list indexes: a counsellor's participant list and Mein Tag

Issue 15 measures these pages at growing data sizes ("flat"): a counsellor's participant list
walks (office_id, erased_at, sort_name) for the records not erased instead of sorting the
office, and counts that index alone; Mein Tag finds a counsellor's missed deadlines in name
order and the open cases close to entry as an index range. ix_participant_counsellor_id is
covered by the new counsellor indexes.

Revision ID: 5c2d8e4f1a37
Revises: ff2772c07490
Create Date: 2026-12-06 07:20:00.000000+00:00

"""

from alembic import op


# revision identifiers, used by Alembic.
revision = "5c2d8e4f1a37"
down_revision = "ff2772c07490"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(
        "ix_participant_office_sort", "participant", ["office_id", "erased_at", "sort_name"]
    )
    op.create_index(
        "ix_participant_counsellor_sort", "participant", ["counsellor_id", "sort_name"]
    )
    op.create_index(
        "ix_participant_counsellor_open",
        "participant",
        ["counsellor_id", "exit_on", "entry_on", "total_minutes"],
    )
    op.drop_index("ix_participant_counsellor_id", table_name="participant")


def downgrade():
    op.create_index("ix_participant_counsellor_id", "participant", ["counsellor_id"])
    op.drop_index("ix_participant_counsellor_open", table_name="participant")
    op.drop_index("ix_participant_counsellor_sort", table_name="participant")
    op.drop_index("ix_participant_office_sort", table_name="participant")

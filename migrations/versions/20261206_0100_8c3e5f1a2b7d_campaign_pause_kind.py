"""newsletter_campaign: who paused it (staff or errors) and since when it fails

The sender pauses a campaign only after a time without any accepted message
(failing_since) instead of after a number of consecutive errors, and resumes a campaign it
paused itself (pause_kind 'errors') once the relay answers again.

Revision ID: 8c3e5f1a2b7d
Revises: e5a1c7d20b94
Create Date: 2026-12-06 01:00:00.000000+00:00

"""

import sqlalchemy as sa
from alembic import op

import crm.database

# revision identifiers, used by Alembic.
revision = "8c3e5f1a2b7d"
down_revision = "e5a1c7d20b94"
branch_labels = None
depends_on = None


def upgrade():
    # Rebuilt on SQLite: keep AUTOINCREMENT (ids never reused), which reflection does not see.
    with op.batch_alter_table(
        "newsletter_campaign", schema=None, table_kwargs={"sqlite_autoincrement": True}
    ) as batch_op:
        batch_op.add_column(
            sa.Column("pause_kind", sa.String(length=10), server_default="", nullable=False)
        )
        batch_op.add_column(
            sa.Column("failing_since", crm.database.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.drop_constraint(
            batch_op.f("ck_newsletter_campaign_errors_not_negative"), type_="check"
        )
        batch_op.drop_column("consecutive_errors")
        batch_op.create_check_constraint(
            batch_op.f("ck_newsletter_campaign_pause_kind_valid"),
            "pause_kind IN ('', 'staff', 'errors')",
        )
    # Campaigns paused before this revision were paused by the sender or by staff; both
    # waited for staff, so they stay that way.
    op.execute("UPDATE newsletter_campaign SET pause_kind = 'staff' WHERE status = 'paused'")


def downgrade():
    # Rebuilt on SQLite: keep AUTOINCREMENT (ids never reused), which reflection does not see.
    with op.batch_alter_table(
        "newsletter_campaign", schema=None, table_kwargs={"sqlite_autoincrement": True}
    ) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("ck_newsletter_campaign_pause_kind_valid"), type_="check"
        )
        batch_op.add_column(
            sa.Column("consecutive_errors", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_newsletter_campaign_errors_not_negative"), "consecutive_errors >= 0"
        )
        batch_op.drop_column("failing_since")
        batch_op.drop_column("pause_kind")

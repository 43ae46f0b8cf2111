"""event registration follow-through: reminder and thank-you bookkeeping, invitations

event_registration gets reminded_at (the reminder the day before, queued once) and thanked_at
(the thank-you mail after the event, queued once); event_contact gets invited_at (the personal
invitation, queued once per person and event).

Revision ID: b8d4f2a6c931
Revises: b7d24e9a6c15
Create Date: 2026-12-06 11:00:00.000000+00:00

"""

import sqlalchemy as sa
from alembic import op

import crm.database

# revision identifiers, used by Alembic.
revision = "b8d4f2a6c931"
down_revision = "b7d24e9a6c15"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table(
        "event_registration", schema=None, table_kwargs={"sqlite_autoincrement": True}
    ) as batch_op:
        batch_op.add_column(
            sa.Column("reminded_at", crm.database.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("thanked_at", crm.database.UTCDateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("event_contact", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("invited_at", crm.database.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade():
    with op.batch_alter_table("event_contact", schema=None) as batch_op:
        batch_op.drop_column("invited_at")
    with op.batch_alter_table(
        "event_registration", schema=None, table_kwargs={"sqlite_autoincrement": True}
    ) as batch_op:
        batch_op.drop_column("thanked_at")
        batch_op.drop_column("reminded_at")

"""inquiry conversion: links from an inquiry to the participant or person it became

An inquiry converted into a participant, a contact person (firm inquiry) or linked to an
existing record names that record and when it happened. The links are SET NULL: the record's
own life (erasure, deletion) never fails on the inquiry, and a converted inquiry without a
record falls under the inquiries' retention again.

Revision ID: a3f6c2d81e94
Revises: c41a9d7e2b58
Create Date: 2026-12-06 10:10:00.000000+00:00

"""

import sqlalchemy as sa
from alembic import op

import crm.database

# revision identifiers, used by Alembic.
revision = "a3f6c2d81e94"
down_revision = "c41a9d7e2b58"
branch_labels = None
depends_on = None


def upgrade():
    # Rebuilt on SQLite: keep AUTOINCREMENT (ids never reused), which reflection does not see.
    with op.batch_alter_table(
        "inquiry", schema=None, table_kwargs={"sqlite_autoincrement": True}
    ) as batch_op:
        batch_op.add_column(sa.Column("participant_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("person_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("converted_at", crm.database.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(batch_op.f("ix_inquiry_participant_id"), ["participant_id"])
        batch_op.create_index(batch_op.f("ix_inquiry_person_id"), ["person_id"])
        batch_op.create_foreign_key(
            batch_op.f("fk_inquiry_participant_id_participant"),
            "participant",
            ["participant_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_inquiry_person_id_person"),
            "person",
            ["person_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_check_constraint(
            "converted_has_time", "status <> 'converted' OR converted_at IS NOT NULL"
        )


def downgrade():
    with op.batch_alter_table(
        "inquiry", schema=None, table_kwargs={"sqlite_autoincrement": True}
    ) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_inquiry_converted_has_time"), type_="check")
        batch_op.drop_constraint(batch_op.f("fk_inquiry_person_id_person"), type_="foreignkey")
        batch_op.drop_constraint(
            batch_op.f("fk_inquiry_participant_id_participant"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_inquiry_person_id"))
        batch_op.drop_index(batch_op.f("ix_inquiry_participant_id"))
        batch_op.drop_column("converted_at")
        batch_op.drop_column("person_id")
        batch_op.drop_column("participant_id")

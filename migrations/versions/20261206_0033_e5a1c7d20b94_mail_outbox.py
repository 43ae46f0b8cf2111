"""mail_outbox: every message that is not a campaign delivery, queued with its cause

Revision ID: e5a1c7d20b94
Revises: d3f7a2c84e16
Create Date: 2026-12-06 00:33:48.248251+00:00

"""

import sqlalchemy as sa
from alembic import op

import crm.database

# revision identifiers, used by Alembic.
revision = "e5a1c7d20b94"
down_revision = "d3f7a2c84e16"
branch_labels = None
depends_on = None


def upgrade():

    op.create_table(
        "mail_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("recipient", sa.String(length=254), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("message", sa.LargeBinary(), nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.Column("smtputf8", sa.Boolean(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", crm.database.UTCDateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", crm.database.UTCDateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.String(length=100), nullable=False),
        sa.Column("sent_at", crm.database.UTCDateTime(timezone=True), nullable=True),
        sa.Column("smtp_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("created_at", crm.database.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", crm.database.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('reminder', 'digest', 'confirmation', 'test', 'notice')",
            name=op.f("ck_mail_outbox_kind_valid"),
        ),
        sa.CheckConstraint(
            "status <> 'sent' OR sent_at IS NOT NULL", name=op.f("ck_mail_outbox_sent_has_time")
        ),
        sa.CheckConstraint(
            "status IN ('queued', 'sending', 'sent', 'failed', 'cancelled')",
            name=op.f("ck_mail_outbox_status_valid"),
        ),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_mail_outbox_attempts_not_negative")),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
            name=op.f("fk_mail_outbox_person_id_person"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_mail_outbox_user_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_outbox")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("mail_outbox", schema=None) as batch_op:
        batch_op.create_index("ix_mail_outbox_created", ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_mail_outbox_person_id"), ["person_id"], unique=False)
        batch_op.create_index(
            "ix_mail_outbox_sending_claimed",
            ["claimed_at"],
            unique=False,
            sqlite_where=sa.text("status = 'sending'"),
            postgresql_where=sa.text("status = 'sending'"),
        )
        batch_op.create_index(
            "ix_mail_outbox_status_next", ["status", "next_attempt_at", "id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_mail_outbox_user_id"), ["user_id"], unique=False)


def downgrade():

    with op.batch_alter_table("mail_outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mail_outbox_user_id"))
        batch_op.drop_index("ix_mail_outbox_status_next")
        batch_op.drop_index(
            "ix_mail_outbox_sending_claimed",
            sqlite_where=sa.text("status = 'sending'"),
            postgresql_where=sa.text("status = 'sending'"),
        )
        batch_op.drop_index(batch_op.f("ix_mail_outbox_person_id"))
        batch_op.drop_index("ix_mail_outbox_created")

    op.drop_table("mail_outbox")

"""inquiries: inquiry, intake_rule (+ eligible users), intake_attempt; mail kind 'inquiry'

Revision ID: ff2772c07490
Revises: 9e3c0161ebba
Create Date: 2026-12-06 07:10:00.000000+00:00

"""

import sqlalchemy as sa
from alembic import op

import crm.database

# revision identifiers, used by Alembic.
revision = "ff2772c07490"
down_revision = "9e3c0161ebba"
branch_labels = None
depends_on = None

_TOPICS = "'recognition', 'qualification', 'job', 'relocation', 'further_education', 'other'"
_KINDS_BEFORE = "'reminder', 'digest', 'confirmation', 'test', 'notice'"
_KINDS_AFTER = _KINDS_BEFORE + ", 'inquiry'"


def _mail_kinds(kinds: str) -> None:
    # Rebuilt on SQLite: keep AUTOINCREMENT (ids never reused), which reflection does not see.
    with op.batch_alter_table(
        "mail_outbox", schema=None, table_kwargs={"sqlite_autoincrement": True}
    ) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_mail_outbox_kind_valid"), type_="check")
        batch_op.create_check_constraint(
            batch_op.f("ck_mail_outbox_kind_valid"), f"kind IN ({kinds})"
        )


def upgrade():
    op.create_table(
        "intake_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ip_hash", sa.String(length=64), nullable=False),
        sa.Column("at", crm.database.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_intake_attempt")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_intake_attempt_at"), "intake_attempt", ["at"])
    op.create_index("ix_intake_attempt_ip_hash_at", "intake_attempt", ["ip_hash", "at"])

    op.create_table(
        "inquiry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("topic", sa.String(length=20), nullable=False),
        sa.Column("office_id", sa.Integer(), nullable=True),
        sa.Column("preferred_language", sa.String(length=10), nullable=False),
        sa.Column("contact_way", sa.String(length=10), nullable=False),
        sa.Column("form_language", sa.String(length=10), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("phone", sa.String(length=50), nullable=False),
        sa.Column("organisation_name", sa.String(length=200), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("consent_text", sa.Text(), nullable=False),
        sa.Column("consent_version", sa.String(length=20), nullable=False),
        sa.Column("consented_at", crm.database.UTCDateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("close_reason", sa.String(length=20), nullable=False),
        sa.Column("close_note", sa.Text(), nullable=False),
        sa.Column("assigned_to_id", sa.Integer(), nullable=True),
        sa.Column("assigned_at", crm.database.UTCDateTime(timezone=True), nullable=True),
        sa.Column("first_response_due_at", crm.database.UTCDateTime(timezone=True), nullable=True),
        sa.Column("first_contact_at", crm.database.UTCDateTime(timezone=True), nullable=True),
        sa.Column("escalated_at", crm.database.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", crm.database.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("source_ip_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", crm.database.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", crm.database.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "channel IN ('web', 'hotline', 'email', 'other')",
            name=op.f("ck_inquiry_channel_valid"),
        ),
        sa.CheckConstraint(
            "close_reason = '' OR close_reason IN ('no_reply', 'not_eligible', 'referred', "
            "'duplicate', 'spam', 'other')",
            name=op.f("ck_inquiry_close_reason_valid"),
        ),
        sa.CheckConstraint(
            "contact_way IN ('email', 'phone', 'either')",
            name=op.f("ck_inquiry_contact_way_valid"),
        ),
        sa.CheckConstraint(
            "form_language IN ('de', 'en', 'simple')", name=op.f("ck_inquiry_form_language_valid")
        ),
        sa.CheckConstraint("kind IN ('person', 'firm')", name=op.f("ck_inquiry_kind_valid")),
        sa.CheckConstraint(
            "preferred_language IN ('de', 'en', 'other')", name=op.f("ck_inquiry_language_valid")
        ),
        sa.CheckConstraint(
            "status <> 'closed' OR close_reason <> ''", name=op.f("ck_inquiry_closed_has_reason")
        ),
        sa.CheckConstraint(
            "status IN ('new', 'assigned', 'in_contact', 'converted', 'closed')",
            name=op.f("ck_inquiry_status_valid"),
        ),
        sa.CheckConstraint(f"topic IN ({_TOPICS})", name=op.f("ck_inquiry_topic_valid")),
        sa.ForeignKeyConstraint(
            ["assigned_to_id"],
            ["user_account.id"],
            name=op.f("fk_inquiry_assigned_to_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["user_account.id"],
            name=op.f("fk_inquiry_created_by_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["office_id"],
            ["office.id"],
            name=op.f("fk_inquiry_office_id_office"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inquiry")),
        sqlite_autoincrement=True,
    )
    for column in (
        "assigned_to_id",
        "channel",
        "created_by_id",
        "first_response_due_at",
        "office_id",
        "status",
        "topic",
    ):
        op.create_index(op.f(f"ix_inquiry_{column}"), "inquiry", [column])
    op.create_index("ix_inquiry_created_at", "inquiry", ["created_at"])

    op.create_table(
        "intake_rule",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("office_id", sa.Integer(), nullable=False),
        sa.Column("topic", sa.String(length=20), nullable=False),
        sa.Column("last_user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", crm.database.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", crm.database.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            f"topic = '' OR topic IN ({_TOPICS})", name=op.f("ck_intake_rule_topic_valid")
        ),
        sa.ForeignKeyConstraint(
            ["last_user_id"],
            ["user_account.id"],
            name=op.f("fk_intake_rule_last_user_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["office_id"],
            ["office.id"],
            name=op.f("fk_intake_rule_office_id_office"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_intake_rule")),
        sa.UniqueConstraint("office_id", "topic", name="uq_intake_rule_office_topic"),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_intake_rule_last_user_id"), "intake_rule", ["last_user_id"])

    op.create_table(
        "intake_rule_user",
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["intake_rule.id"],
            name=op.f("fk_intake_rule_user_rule_id_intake_rule"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_intake_rule_user_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("rule_id", "user_id", name=op.f("pk_intake_rule_user")),
    )
    op.create_index(op.f("ix_intake_rule_user_user_id"), "intake_rule_user", ["user_id"])
    _mail_kinds(_KINDS_AFTER)


def downgrade():
    op.execute("DELETE FROM mail_outbox WHERE kind = 'inquiry'")
    _mail_kinds(_KINDS_BEFORE)
    op.drop_table("intake_rule_user")
    op.drop_table("intake_rule")
    op.drop_table("inquiry")
    op.drop_table("intake_attempt")

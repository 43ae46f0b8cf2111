"""event registration: settings on event, event_registration, registration_attempt, mail kind

The event gets its public registration settings (open, seats, deadline, optional questions);
event_registration holds each registration with its status and consent; registration_attempt
counts posts per hashed address for the page's limit; the outbox learns the kind
'registration'.

Revision ID: a3e6c1d9b2f4
Revises: a3f6c2d81e94
Create Date: 2026-12-06 10:15:00.000000+00:00

"""

import sqlalchemy as sa
from alembic import op

import crm.database

# revision identifiers, used by Alembic.
revision = "a3e6c1d9b2f4"
down_revision = "a3f6c2d81e94"
branch_labels = None
depends_on = None

_KINDS_BEFORE = "'reminder', 'digest', 'confirmation', 'test', 'notice', 'inquiry'"
_KINDS_AFTER = _KINDS_BEFORE + ", 'registration'"


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
    with op.batch_alter_table(
        "event", schema=None, table_kwargs={"sqlite_autoincrement": True}
    ) as batch_op:
        batch_op.add_column(
            sa.Column("registration_open", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("registration_capacity", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "registration_deadline", crm.database.UTCDateTime(timezone=True), nullable=True
            )
        )
        for name in ("ask_organisation", "ask_dietary", "ask_accessibility"):
            batch_op.add_column(
                sa.Column(name, sa.Boolean(), server_default=sa.false(), nullable=False)
            )
        batch_op.create_check_constraint(
            batch_op.f("ck_event_registration_capacity_not_negative"),
            "registration_capacity IS NULL OR registration_capacity >= 0",
        )

    op.create_table(
        "registration_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ip_hash", sa.String(length=64), nullable=False),
        sa.Column("at", crm.database.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registration_attempt")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_registration_attempt_at"), "registration_attempt", ["at"])
    op.create_index("ix_registration_attempt_ip_hash_at", "registration_attempt", ["ip_hash", "at"])

    op.create_table(
        "event_registration",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("email_key", sa.String(length=254), nullable=False),
        sa.Column("organisation", sa.String(length=200), nullable=False),
        sa.Column("dietary", sa.String(length=500), nullable=False),
        sa.Column("accessibility", sa.String(length=500), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("share_consent", sa.Boolean(), nullable=False),
        sa.Column("consent_text", sa.Text(), nullable=False),
        sa.Column("consent_version", sa.String(length=20), nullable=False),
        sa.Column("consented_at", crm.database.UTCDateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("queued_at", crm.database.UTCDateTime(timezone=True), nullable=False),
        sa.Column("cancelled_at", crm.database.UTCDateTime(timezone=True), nullable=True),
        sa.Column("checked_in_at", crm.database.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cancel_token_hash", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("source_ip_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", crm.database.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", crm.database.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('registered', 'waitlisted', 'cancelled', 'attended', 'no_show')",
            name=op.f("ck_event_registration_status_valid"),
        ),
        sa.CheckConstraint(
            "language IN ('de', 'en')", name=op.f("ck_event_registration_language_valid")
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["event.id"],
            name=op.f("fk_event_registration_event_id_event"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
            name=op.f("fk_event_registration_person_id_person"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_registration")),
        sa.UniqueConstraint("event_id", "email_key", name="uq_event_registration_email"),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_event_registration_email_key"), "event_registration", ["email_key"])
    op.create_index(op.f("ix_event_registration_person_id"), "event_registration", ["person_id"])
    op.create_index(
        "ix_event_registration_event_status",
        "event_registration",
        ["event_id", "status", "queued_at"],
    )
    _mail_kinds(_KINDS_AFTER)


def downgrade():
    op.execute("DELETE FROM mail_outbox WHERE kind = 'registration'")
    _mail_kinds(_KINDS_BEFORE)
    op.drop_table("event_registration")
    op.drop_table("registration_attempt")
    with op.batch_alter_table(
        "event", schema=None, table_kwargs={"sqlite_autoincrement": True}
    ) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("ck_event_registration_capacity_not_negative"), type_="check"
        )
        for name in (
            "ask_accessibility",
            "ask_dietary",
            "ask_organisation",
            "registration_deadline",
            "registration_capacity",
            "registration_open",
        ):
            batch_op.drop_column(name)

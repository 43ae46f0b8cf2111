"""newsletter_signup: public sign-ups wait outside the contacts until confirmed

An unconfirmed sign-up used to create a person and a pending subscription at once. It now
lives in its own table with its consent proof (time, IP, browser, consent text) and its own
nonce per sign-up; confirmation creates person, subscription and ledger entries. The
subscription's confirm_nonce is no longer used. Pending subscriptions made before this
revision stay as they are (their old links answer "expired").

Revision ID: b7e3f1a9c2d4
Revises: 8c4e2b7d9a13
Create Date: 2026-12-05 22:00:00.000000+00:00

"""

import sqlalchemy as sa
from alembic import op

import crm.database

# revision identifiers, used by Alembic.
revision = "b7e3f1a9c2d4"
down_revision = "8c4e2b7d9a13"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "newsletter_signup",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("salutation", sa.String(length=10), nullable=False),
        sa.Column("first_name", sa.String(length=100), nullable=False),
        sa.Column("last_name", sa.String(length=100), nullable=False),
        sa.Column("consent_text_id", sa.Integer(), nullable=True),
        sa.Column("nonce", sa.String(length=32), nullable=False),
        sa.Column("requested_at", crm.database.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=False),
        sa.Column("user_agent", sa.String(length=300), nullable=False),
        sa.Column("confirmed_at", crm.database.UTCDateTime(timezone=True), nullable=True),
        sa.Column("subscription_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("nonce <> ''", name=op.f("ck_newsletter_signup_nonce_not_empty")),
        sa.ForeignKeyConstraint(
            ["consent_text_id"],
            ["consent_text.id"],
            name=op.f("fk_newsletter_signup_consent_text_id_consent_text"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["newsletter_list.id"],
            name=op.f("fk_newsletter_signup_list_id_newsletter_list"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["newsletter_subscription.id"],
            name=op.f("fk_newsletter_signup_subscription_id_newsletter_subscription"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_newsletter_signup")),
        sa.UniqueConstraint("list_id", "email", name="uq_newsletter_signup_list_email"),
    )
    with op.batch_alter_table("newsletter_signup", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_newsletter_signup_consent_text_id"), ["consent_text_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_newsletter_signup_requested_at"), ["requested_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_newsletter_signup_subscription_id"), ["subscription_id"], unique=False
        )
    with op.batch_alter_table("newsletter_subscription", schema=None) as batch_op:
        batch_op.drop_column("confirm_nonce")


def downgrade():
    with op.batch_alter_table("newsletter_subscription", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("confirm_nonce", sa.String(length=32), nullable=False, server_default="")
        )
    with op.batch_alter_table("newsletter_subscription", schema=None) as batch_op:
        batch_op.alter_column("confirm_nonce", server_default=None)
    with op.batch_alter_table("newsletter_signup", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_newsletter_signup_subscription_id"))
        batch_op.drop_index(batch_op.f("ix_newsletter_signup_requested_at"))
        batch_op.drop_index(batch_op.f("ix_newsletter_signup_consent_text_id"))
    op.drop_table("newsletter_signup")

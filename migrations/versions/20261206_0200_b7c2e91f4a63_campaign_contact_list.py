"""campaign_contact_list: a campaign may be narrowed by a static contact list

Revision ID: b7c2e91f4a63
Revises: 8c3e5f1a2b7d
Create Date: 2026-12-06 02:00:00+00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "b7c2e91f4a63"
down_revision = "8c3e5f1a2b7d"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table(
        "newsletter_campaign", schema=None, table_kwargs={"sqlite_autoincrement": True}
    ) as batch_op:
        batch_op.add_column(sa.Column("contact_list_id", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_newsletter_campaign_contact_list_id"), ["contact_list_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_newsletter_campaign_contact_list_id_contact_list"),
            "contact_list",
            ["contact_list_id"],
            ["id"],
            ondelete="RESTRICT",
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_newsletter_campaign_one_audience_kind"),
            "audience_id IS NULL OR contact_list_id IS NULL",
        )


def downgrade():
    with op.batch_alter_table(
        "newsletter_campaign", schema=None, table_kwargs={"sqlite_autoincrement": True}
    ) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("ck_newsletter_campaign_one_audience_kind"), type_="check"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_newsletter_campaign_contact_list_id_contact_list"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_newsletter_campaign_contact_list_id"))
        batch_op.drop_column("contact_list_id")

"""consent_release: review state after an organisation merge

A merge no longer moves a release silently: the moved release keeps the name of the
organisation the person agreed to share with and stays invalid until a lead or admin
confirms it ("pending"), or is marked as needing a new release ("renew").

Revision ID: b7e3c1f05a92
Revises: c91e5d3a7f20
Create Date: 2026-12-05 22:15:00.000000+00:00

"""

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = "b7e3c1f05a92"
down_revision = "c91e5d3a7f20"
branch_labels = None
depends_on = None


def upgrade():
    # Rebuilt on SQLite: keep AUTOINCREMENT (ids never reused), which reflection does not see.
    with op.batch_alter_table(
        "consent_release", schema=None, table_kwargs={"sqlite_autoincrement": True}
    ) as batch_op:
        batch_op.add_column(
            sa.Column("review", sa.String(length=10), server_default="", nullable=False)
        )
        batch_op.add_column(
            sa.Column(
                "agreed_organisation_name",
                sa.String(length=300),
                server_default="",
                nullable=False,
            )
        )
        batch_op.create_index(batch_op.f("ix_consent_release_review"), ["review"], unique=False)
        batch_op.create_check_constraint(
            batch_op.f("ck_consent_release_review_valid"), "review IN ('', 'pending', 'renew')"
        )


def downgrade():
    # Rebuilt on SQLite: keep AUTOINCREMENT (ids never reused), which reflection does not see.
    with op.batch_alter_table(
        "consent_release", schema=None, table_kwargs={"sqlite_autoincrement": True}
    ) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_consent_release_review_valid"), type_="check")
        batch_op.drop_index(batch_op.f("ix_consent_release_review"))
        batch_op.drop_column("agreed_organisation_name")
        batch_op.drop_column("review")

"""needs by survey day: index qualification_need (surveyed_on, id) (issue 17 benchmark)

The funder report counts the needs surveyed in a period, and a participant's fitting needs
walk the open needs newest first (ORDER BY surveyed_on DESC, id DESC LIMIT ...); without the
index both read every need.

Revision ID: 9c3e5a7d1b24
Revises: da20bf3efc5b
Create Date: 2026-12-06 14:00:00.000000+00:00

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "9c3e5a7d1b24"
down_revision = "da20bf3efc5b"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(
        "ix_qualification_need_surveyed_on_id",
        "qualification_need",
        ["surveyed_on", "id"],
        unique=False,
    )


def downgrade():
    op.drop_index("ix_qualification_need_surveyed_on_id", table_name="qualification_need")

"""person.token_nonce: a per-row random value every public link about the person carries

Unsubscribe and web-version links named a person by id only; a link made for an erased
person would act on whoever got that id next. People created from now on get a random
nonce and their links carry it; existing people keep an empty one, for which the old
two-part links (already in mailboxes) still work.

Revision ID: b4d2f8a61c07
Revises: a7c3e91f0b25
Create Date: 2026-12-05 22:15:00.000000+00:00

"""

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = "b4d2f8a61c07"
down_revision = "a7c3e91f0b25"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("token_nonce", sa.String(length=22), server_default="", nullable=False)
        )


def downgrade():
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.drop_column("token_nonce")

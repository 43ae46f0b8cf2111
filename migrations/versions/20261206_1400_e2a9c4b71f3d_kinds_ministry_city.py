"""organisation_kind: ministry and city administration, the partners abroad the relocation
service works with (issue 17); skipped where an admin already keeps a kind of that label.

Revision ID: e2a9c4b71f3d
Revises: c715616310df
Create Date: 2026-12-06 14:00:00
"""

from datetime import UTC, datetime

import sqlalchemy as sa

import crm.database
from alembic import op

revision = "e2a9c4b71f3d"
down_revision = "c715616310df"
branch_labels = None
depends_on = None

KINDS = (
    ("ministry", "Ministerium"),
    ("city_administration", "Stadt- oder Gemeindeverwaltung"),
)

kinds = sa.table(
    "organisation_kind",
    sa.column("key", sa.String),
    sa.column("label", sa.String),
    sa.column("active", sa.Boolean),
    sa.column("sort_order", sa.Integer),
    sa.column("created_at", crm.database.UTCDateTime),
    sa.column("updated_at", crm.database.UTCDateTime),
)


def upgrade():
    conn = op.get_bind()
    now = datetime.now(UTC)
    top = conn.scalar(sa.select(sa.func.max(kinds.c.sort_order))) or 0
    for key, label in KINDS:
        taken = conn.scalar(
            sa.select(sa.func.count())
            .select_from(kinds)
            .where(sa.or_(kinds.c.key == key, kinds.c.label == label))
        )
        if taken:
            continue
        top += 10
        conn.execute(
            kinds.insert().values(
                key=key, label=label, active=True, sort_order=top, created_at=now, updated_at=now
            )
        )


def downgrade():
    # Only where no organisation has the kind: a downgrade never loses a record's kind.
    conn = op.get_bind()
    for key, _label in KINDS:
        used = conn.scalar(sa.text("SELECT count(*) FROM organisation WHERE kind = :k"), {"k": key})
        if not used:
            conn.execute(kinds.delete().where(kinds.c.key == key))

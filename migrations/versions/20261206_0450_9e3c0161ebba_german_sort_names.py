"""german_sort_names: stored DIN 5007-1 sort keys for organisation, person, participant (issue 13)

- organisation.sort_name (of name), person.sort_name and participant.sort_name (of last and
  first name): "Bäckerei" -> "backerei", "Straße" -> "strasse" (crm.collation), COLLATE "C"
  on PostgreSQL so both databases compare them by code point.
- Existing rows are filled here in batches of 1,000 by id, with the app's own key function.
- The name indexes the lists walked (ix_organisation_name, ix_person_last_first,
  ix_participant_last_first) are replaced by indexes on the keys.
- ix_participant_erased_at becomes partial (erased rows only): with the full index SQLite
  answered every list's "erased_at IS NULL" through it and sorted all participants instead
  of walking ix_participant_sort_name.

Plain ADD/DROP COLUMN and CREATE/DROP INDEX on both databases: no table rebuild, so SQLite's
full-text triggers on organisation and person stay as they are.

Revision ID: 9e3c0161ebba
Revises: 0b04444c3c98
Create Date: 2026-12-06 04:50:00.000000+00:00

"""

import sqlalchemy as sa
from alembic import op

from crm.contacts.normalize import sort_key

# revision identifiers, used by Alembic.
revision = "9e3c0161ebba"
down_revision = "0b04444c3c98"
branch_labels = None
depends_on = None

# table, name columns in sort order, key length, old index and its columns
TABLES = (
    ("organisation", ("name",), 200, "ix_organisation_name", ["name"]),
    (
        "person",
        ("last_name", "first_name"),
        210,
        "ix_person_last_first",
        ["last_name", "first_name"],
    ),
    (
        "participant",
        ("last_name", "first_name"),
        210,
        "ix_participant_last_first",
        ["last_name", "first_name"],
    ),
)
_BATCH = 1000
_ERASED = sa.text("erased_at IS NOT NULL")


def _fill(conn: sa.Connection, table: str, sources: tuple[str, ...], length: int) -> None:
    t = sa.table(table, sa.column("id"), sa.column("sort_name"), *(sa.column(c) for c in sources))
    last = 0
    while True:
        rows = conn.execute(
            sa.select(t.c.id, *(t.c[c] for c in sources))
            .where(t.c.id > last)
            .order_by(t.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            return
        conn.execute(
            sa.update(t)
            .where(t.c.id == sa.bindparam("b_id"))
            .values(sort_name=sa.bindparam("key")),
            [{"b_id": row[0], "key": sort_key(*row[1:], length=length)} for row in rows],
        )
        last = rows[-1][0]


def upgrade():
    conn = op.get_bind()
    for table, sources, length, old_index, _old_columns in TABLES:
        op.add_column(
            table,
            sa.Column(
                "sort_name",
                sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql"),
                server_default="",
                nullable=False,
            ),
        )
        _fill(conn, table, sources, length)
        op.drop_index(old_index, table_name=table)
        op.create_index(f"ix_{table}_sort_name", table, ["sort_name"], unique=False)
    op.drop_index("ix_participant_erased_at", table_name="participant")
    op.create_index(
        "ix_participant_erased_at",
        "participant",
        ["erased_at"],
        unique=False,
        sqlite_where=_ERASED,
        postgresql_where=_ERASED,
    )


def downgrade():
    op.drop_index(
        "ix_participant_erased_at",
        table_name="participant",
        sqlite_where=_ERASED,
        postgresql_where=_ERASED,
    )
    op.create_index("ix_participant_erased_at", "participant", ["erased_at"], unique=False)
    for table, _sources, _length, old_index, old_columns in TABLES:
        op.drop_index(f"ix_{table}_sort_name", table_name=table)
        op.create_index(old_index, table, old_columns, unique=False)
        # ALTER TABLE … DROP COLUMN works on both (SQLite ≥ 3.35) and keeps SQLite's triggers.
        op.execute(f"ALTER TABLE {table} DROP COLUMN sort_name")

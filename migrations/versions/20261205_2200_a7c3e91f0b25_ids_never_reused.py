"""ids that are never reused: AUTOINCREMENT on every SQLite table with an integer id

Without AUTOINCREMENT, SQLite hands the highest deleted rowid to the next insert: an erased
person's id named the next person, and links, tokens and audit entries that carry the id
pointed at someone else (issue 18). Every table with a single integer primary key `id` is
rebuilt with `id INTEGER PRIMARY KEY AUTOINCREMENT` (SQLite's 12-step table rebuild: the
same columns, constraints, indexes and triggers, the same rows). Its sqlite_sequence starts
at the highest id that ever appeared: in the table or, for deleted rows, in the audit log.
PostgreSQL's sequences never hand out a number twice; nothing to do there.

Revision ID: a7c3e91f0b25
Revises: b7e3f1a9c2d4
Create Date: 2026-12-05 22:00:00.000000+00:00

"""

import re

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = "a7c3e91f0b25"
down_revision = "b7e3f1a9c2d4"
branch_labels = None
depends_on = None

_PLAIN_ID = "\tid INTEGER NOT NULL"
# As this migration writes it, or as SQLAlchemy does for a table rebuilt later (no name).
_AUTO_ID = re.compile(r"\tid INTEGER NOT NULL(?: CONSTRAINT (\w+))? PRIMARY KEY AUTOINCREMENT")
_PK_LINE = re.compile(r"\tCONSTRAINT (\w+) PRIMARY KEY \(id\)")


def _tables(conn: sa.Connection) -> list[tuple[str, list[str]]]:
    """(name, lines of its CREATE TABLE) of the tables whose first column is `id INTEGER`."""
    found = []
    for name, sql in conn.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' ORDER BY name"
    ):
        if not sql or name.startswith(("sqlite_", "_rebuild_")):
            continue
        lines = [line.rstrip(" ").removesuffix(",") for line in sql.split("\n")]
        if len(lines) > 2 and lines[1].startswith(_PLAIN_ID):
            found.append((name, lines))
    return found


def _join(lines: list[str]) -> str:
    """CREATE TABLE text from its lines: a comma after each definition but the last."""
    head, *defs, tail = lines
    return "\n".join([head, ", \n".join(defs), tail])


def _rebuild(conn: sa.Connection, name: str, lines: list[str]) -> None:
    """Replace table `name` by one created from `lines`, keeping rows, indexes, triggers."""
    extras = [
        sql
        for (sql,) in conn.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE tbl_name = ? AND type IN ('index', 'trigger') "
            "AND sql IS NOT NULL ORDER BY type, name",
            (name,),
        )
    ]
    temp = f"_rebuild_{name}"
    # The first line names the table, quoted or not (tables Alembic rebuilt before are).
    conn.exec_driver_sql(_join([f"CREATE TABLE {temp} (", *lines[1:]]))
    conn.exec_driver_sql(f"INSERT INTO {temp} SELECT * FROM {name}")  # noqa: S608
    conn.exec_driver_sql(f"DROP TABLE {name}")
    conn.exec_driver_sql(f"ALTER TABLE {temp} RENAME TO {name}")
    for sql in extras:
        conn.exec_driver_sql(sql)


def upgrade():
    conn = op.get_bind()
    if conn.dialect.name != "sqlite":
        return
    audited = dict(
        conn.exec_driver_sql(
            "SELECT entity_type, max(entity_id) FROM audit_entry GROUP BY entity_type"
        ).all()
    )
    for name, lines in _tables(conn):
        pk = next((m for line in lines if (m := _PK_LINE.fullmatch(line))), None)
        if pk is None or lines[1] != _PLAIN_ID:
            continue
        lines = [line for line in lines if line != pk.group(0)]
        lines[1] = f"{_PLAIN_ID} CONSTRAINT {pk.group(1)} PRIMARY KEY AUTOINCREMENT"
        _rebuild(conn, name, lines)
        top = conn.exec_driver_sql(f"SELECT max(id) FROM {name}").scalar() or 0  # noqa: S608
        top = max(top, audited.get(name) or 0)
        conn.exec_driver_sql("DELETE FROM sqlite_sequence WHERE name = ?", (name,))
        conn.exec_driver_sql("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (name, top))


def downgrade():
    conn = op.get_bind()
    if conn.dialect.name != "sqlite":
        return
    for name, lines in _tables(conn):
        auto = _AUTO_ID.fullmatch(lines[1])
        if auto is None:
            continue
        # The primary key goes back where SQLAlchemy puts it: the first table constraint.
        first = next(
            (i for i, line in enumerate(lines) if line.startswith("\tCONSTRAINT ")), len(lines) - 1
        )
        pk_name = auto.group(1) or f"pk_{name}"
        lines = [*lines[:first], f"\tCONSTRAINT {pk_name} PRIMARY KEY (id)", *lines[first:]]
        lines[1] = _PLAIN_ID
        _rebuild(conn, name, lines)
        conn.exec_driver_sql("DELETE FROM sqlite_sequence WHERE name = ?", (name,))

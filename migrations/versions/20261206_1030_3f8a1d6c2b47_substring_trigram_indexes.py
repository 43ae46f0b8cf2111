"""substring trigram indexes: participant names and event titles (issue 15)

The global search and the participant list find participants by a substring of the folded
name (`name_key LIKE '%term%'`) and events by a substring of the title
(`lower(title) LIKE '%term%'`); no B-tree index answers that, so each search read the whole
table. A trigram index answers it for terms of three characters or more (crm/substring.py):

- PostgreSQL: the extension pg_trgm (a trusted extension: a database owner may create it)
  and GIN indexes with gin_trgm_ops on `name_key` and on `lower(title)`.
- SQLite: external-content FTS5 tables with the `trigram` tokenizer, kept current by
  triggers like the contacts' search tables; filled from the existing rows here.

The B-tree index ix_participant_name_key goes: no query compares the whole key, and for a
capped count of hits PostgreSQL preferred reading all of that index to the trigram index.

The downgrade drops the indexes, tables and triggers; the extension stays (other objects may
use it, and keeping it costs nothing).

Revision ID: 3f8a1d6c2b47
Revises: a3e6c1d9b2f4
Create Date: 2026-12-06 10:30:00.000000+00:00

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "3f8a1d6c2b47"
down_revision = "a3e6c1d9b2f4"
branch_labels = None
depends_on = None

# Written out as crm.substring.sqlite_ddl() / postgres_ddl() gave them at this revision, so
# that later changes to that module do not change what this migration did.
SQLITE_UP = [
    "CREATE VIRTUAL TABLE participant_name_key_trigram USING fts5(name_key, "
    "content='participant', content_rowid='id', tokenize='trigram')",
    "CREATE TRIGGER participant_name_key_trigram_ai AFTER INSERT ON participant BEGIN INSERT "
    "INTO participant_name_key_trigram(rowid, name_key) VALUES (new.id, new.name_key); END",
    "CREATE TRIGGER participant_name_key_trigram_ad AFTER DELETE ON participant BEGIN INSERT "
    "INTO participant_name_key_trigram(participant_name_key_trigram, rowid, name_key) VALUES "
    "('delete', old.id, old.name_key); END",
    "CREATE TRIGGER participant_name_key_trigram_au AFTER UPDATE OF name_key ON participant "
    "BEGIN INSERT INTO participant_name_key_trigram(participant_name_key_trigram, rowid, "
    "name_key) VALUES ('delete', old.id, old.name_key); INSERT INTO "
    "participant_name_key_trigram(rowid, name_key) VALUES (new.id, new.name_key); END",
    "INSERT INTO participant_name_key_trigram(participant_name_key_trigram) VALUES ('rebuild')",
    "CREATE VIRTUAL TABLE event_title_trigram USING fts5(title, content='event', "
    "content_rowid='id', tokenize='trigram')",
    "CREATE TRIGGER event_title_trigram_ai AFTER INSERT ON event BEGIN INSERT INTO "
    "event_title_trigram(rowid, title) VALUES (new.id, new.title); END",
    "CREATE TRIGGER event_title_trigram_ad AFTER DELETE ON event BEGIN INSERT INTO "
    "event_title_trigram(event_title_trigram, rowid, title) VALUES ('delete', old.id, "
    "old.title); END",
    "CREATE TRIGGER event_title_trigram_au AFTER UPDATE OF title ON event BEGIN INSERT INTO "
    "event_title_trigram(event_title_trigram, rowid, title) VALUES ('delete', old.id, "
    "old.title); INSERT INTO event_title_trigram(rowid, title) VALUES (new.id, new.title); END",
    "INSERT INTO event_title_trigram(event_title_trigram) VALUES ('rebuild')",
]
SQLITE_DOWN = [
    f"DROP TRIGGER IF EXISTS {fts}_{suffix}"
    for fts in ("participant_name_key_trigram", "event_title_trigram")
    for suffix in ("ai", "ad", "au")
] + [
    "DROP TABLE IF EXISTS participant_name_key_trigram",
    "DROP TABLE IF EXISTS event_title_trigram",
]
POSTGRES_UP = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX participant_name_key_trigram_search_gin ON participant "
    "USING gin (name_key gin_trgm_ops)",
    "CREATE INDEX event_title_trigram_search_gin ON event USING gin (lower(title) gin_trgm_ops)",
]
POSTGRES_DOWN = [
    "DROP INDEX IF EXISTS participant_name_key_trigram_search_gin",
    "DROP INDEX IF EXISTS event_title_trigram_search_gin",
]


def _run(sqlite, postgres):
    bind = op.get_bind()
    for stmt in sqlite if bind.dialect.name == "sqlite" else postgres:
        op.execute(stmt)


def upgrade():
    _run(SQLITE_UP, POSTGRES_UP)
    op.drop_index("ix_participant_name_key", table_name="participant")


def downgrade():
    op.create_index("ix_participant_name_key", "participant", ["name_key"], unique=False)
    _run(SQLITE_DOWN, POSTGRES_DOWN)

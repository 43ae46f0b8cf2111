"""Substring search ("contains") backed by an index: pg_trgm on PostgreSQL, FTS5 on SQLite.

`column LIKE '%term%'` can use no B-tree index, so every search read the whole table
(participants' names, event titles). A trigram index answers it for terms of three
characters or more:

- PostgreSQL: a GIN index with `gin_trgm_ops` (extension pg_trgm) on the compared expression;
  the query stays the plain `LIKE`, which the planner answers through the index.
- SQLite: an external-content FTS5 table with the `trigram` tokenizer (SQLite ≥ 3.34) kept
  current by triggers, as crm/contacts/search.py does for the contacts' words. A phrase
  query of a term matches the rows containing it as a substring, case-insensitively.

Both answer the same question as the `LIKE` did. On SQLite the trigram tokenizer also folds
the case of non-ASCII letters, which SQLite's own `lower()` leaves alone ("ärzte" now finds
"Ärztetag" there too, as it always did on PostgreSQL).

Shorter terms have no trigram: they stay `LIKE` filters. A search made only of them reads
rows in the list's order until it has its page; callers bound that walk with a window
(crm.search.service).

A table rebuild in a future SQLite batch migration drops the triggers with the table: such a
migration must create them again (sqlite_ddl()).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement

# A trigram index finds terms of at least this many characters.
MIN_TERM = 3


@dataclass(frozen=True)
class SubstringIndex:
    """A text column searched by substring; `lower` if the search compares lower(column)."""

    table: str
    column: str
    lower: bool = False

    @property
    def fts_table(self) -> str:
        return f"{self.table}_{self.column}_trigram"

    @property
    def gin_index(self) -> str:
        # The suffix makes crm.contacts.search.include_object leave it to the migrations.
        return f"{self.table}_{self.column}_trigram_search_gin"


PARTICIPANT_NAME = SubstringIndex("participant", "name_key")
EVENT_TITLE = SubstringIndex("event", "title", lower=True)
INDEXES = (PARTICIPANT_NAME, EVENT_TITLE)


def is_substring_object(name: str | None) -> bool:
    """True for the trigram tables and indexes (and FTS5's shadow tables of them)."""
    return bool(name) and any(
        name.startswith(ix.fts_table) or name == ix.gin_index for ix in INDEXES
    )


# --- DDL (the migration and the bench use these) ----------------------------------------------


def _insert_row(ix: SubstringIndex, prefix: str) -> str:
    return (
        f"INSERT INTO {ix.fts_table}(rowid, {ix.column}) "
        f"VALUES ({prefix}.id, {prefix}.{ix.column});"
    )


def _delete_row(ix: SubstringIndex) -> str:
    return (
        f"INSERT INTO {ix.fts_table}({ix.fts_table}, rowid, {ix.column}) "
        f"VALUES ('delete', old.id, old.{ix.column});"
    )


def sqlite_ddl(ix: SubstringIndex) -> list[str]:
    """The FTS5 trigram table mirroring the column, its triggers, and the filling of it."""
    assert ix in INDEXES  # names are constants, never user input
    fts = ix.fts_table
    return [
        f"CREATE VIRTUAL TABLE {fts} USING fts5({ix.column}, content='{ix.table}', "
        f"content_rowid='id', tokenize='trigram')",
        f"CREATE TRIGGER {fts}_ai AFTER INSERT ON {ix.table} BEGIN {_insert_row(ix, 'new')} END",
        f"CREATE TRIGGER {fts}_ad AFTER DELETE ON {ix.table} BEGIN {_delete_row(ix)} END",
        f"CREATE TRIGGER {fts}_au AFTER UPDATE OF {ix.column} ON {ix.table} BEGIN "
        f"{_delete_row(ix)} {_insert_row(ix, 'new')} END",
        f"INSERT INTO {fts}({fts}) VALUES ('rebuild')",
    ]


def sqlite_drop_ddl(ix: SubstringIndex) -> list[str]:
    fts = ix.fts_table
    return [f"DROP TRIGGER IF EXISTS {fts}_{s}" for s in ("ai", "ad", "au")] + [
        f"DROP TABLE IF EXISTS {fts}"
    ]


def postgres_ddl(ix: SubstringIndex) -> list[str]:
    """The extension (if missing) and the GIN trigram index on the compared expression."""
    expression = f"lower({ix.column})" if ix.lower else ix.column
    return [
        "CREATE EXTENSION IF NOT EXISTS pg_trgm",
        f"CREATE INDEX {ix.gin_index} ON {ix.table} USING gin ({expression} gin_trgm_ops)",
    ]


def postgres_drop_ddl(ix: SubstringIndex) -> list[str]:
    # The extension stays: other objects may use it, and dropping it gains nothing.
    return [f"DROP INDEX IF EXISTS {ix.gin_index}"]


def create_objects(bind: Any, indexes: tuple[SubstringIndex, ...] = INDEXES) -> None:
    """Create (and fill) the trigram indexes for the bind's dialect."""
    for ix in indexes:
        sqlite = bind.dialect.name == "sqlite"
        for stmt in sqlite_ddl(ix) if sqlite else postgres_ddl(ix):
            bind.exec_driver_sql(stmt)


def drop_objects(bind: Any, indexes: tuple[SubstringIndex, ...] = INDEXES) -> None:
    for ix in indexes:
        sqlite = bind.dialect.name == "sqlite"
        for stmt in sqlite_drop_ddl(ix) if sqlite else postgres_drop_ddl(ix):
            bind.exec_driver_sql(stmt)


# --- the query ----------------------------------------------------------------------------------


def long_terms(terms: list[str]) -> list[str]:
    """The terms the trigram index can find."""
    return [t for t in terms if len(t) >= MIN_TERM]


class _ContainsAll(ColumnElement[bool]):
    """True where the column contains every term (compiled per dialect, below)."""

    # The SQLite form builds its own parameters while compiling: such a statement must not be
    # served from SQLAlchemy's compiled cache with another statement's values.
    inherit_cache = False
    type = sa.Boolean()

    def __init__(self, ix: SubstringIndex, column: Any, id_column: Any, terms: list[str]) -> None:
        self.ix = ix
        self.column = column
        self.id_column = id_column
        self.terms = list(terms)

    @property
    def _from_objects(self) -> list[Any]:
        return self.column._from_objects

    def compared(self) -> Any:
        return sa.func.lower(self.column) if self.ix.lower else self.column

    def like_clauses(self, terms: list[str]) -> list[sa.ColumnElement[bool]]:
        compared = self.compared()
        return [compared.contains(t, autoescape=True) for t in terms]


@compiles(_ContainsAll)
def _compile_like(element: _ContainsAll, compiler: Any, **kw: Any) -> str:
    # PostgreSQL (and any other database): the plain LIKE, answered by the GIN trigram index.
    return compiler.process(sa.and_(sa.true(), *element.like_clauses(element.terms)), **kw)


@compiles(_ContainsAll, "sqlite")
def _compile_sqlite(element: _ContainsAll, compiler: Any, **kw: Any) -> str:
    found = long_terms(element.terms)
    clauses = element.like_clauses([t for t in element.terms if t not in found])
    if found:
        # A quoted FTS5 string is taken literally ('"' doubled); several are all required.
        match = " ".join('"' + t.replace('"', '""') + '"' for t in found)
        hits = (
            sa.select(sa.column("rowid"))
            .select_from(sa.table(element.ix.fts_table))
            .where(sa.literal_column(element.ix.fts_table).op("MATCH")(match))
        )
        clauses.insert(0, element.id_column.in_(hits))
    return compiler.process(sa.and_(sa.true(), *clauses), **kw)


def contains_all(
    ix: SubstringIndex, column: Any, id_column: Any, terms: list[str]
) -> sa.ColumnElement[bool]:
    """WHERE clause: `column` (lower-cased if `ix.lower`) contains each of `terms`.

    The terms must be normalised as the column is (folded for name_key, lower case for a
    lower() index); the index finds those of MIN_TERM characters or more.
    """
    return _ContainsAll(ix, column, id_column, terms)

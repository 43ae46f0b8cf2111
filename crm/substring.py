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

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal

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
    if not name:
        return False
    return any(name.startswith(ix.fts_table) or name == ix.gin_index for ix in INDEXES)


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


def _fts_hits(ix: SubstringIndex, terms: list[str]) -> sa.Select[Any]:
    """SQLite: the ids of the rows containing every one of `terms` (each ≥ MIN_TERM long)."""
    # A quoted FTS5 string is taken literally ('"' doubled); several are all required.
    match = " ".join('"' + t.replace('"', '""') + '"' for t in terms)
    return (
        sa.select(sa.column("rowid"))
        .select_from(sa.table(ix.fts_table))
        .where(sa.literal_column(ix.fts_table).op("MATCH")(match))
    )


class _ContainsAll(ColumnElement[bool]):
    """True where the column contains every term: one form per dialect, chosen when compiled.

    Both forms are built here from ordinary clauses with bound parameters, so a statement
    holding this is cached by SQLAlchemy like any other (its key is the forms' structure, not
    the search words) and compiles once for all searches of the same shape.
    """

    inherit_cache = True
    _traverse_internals = [
        ("like_form", InternalTraversal.dp_clauseelement),
        ("sqlite_form", InternalTraversal.dp_clauseelement),
    ]
    type = sa.Boolean()
    # A condition, not a boolean column: no "= 1" after it on SQLite, which has no booleans
    # (that comparison would hide the IN from the planner).
    _is_implicitly_boolean = True

    def __init__(
        self, ix: SubstringIndex, column: Any, id_column: Any, terms: list[str], indexed: bool
    ) -> None:
        compared = sa.func.lower(column) if ix.lower else column

        def like(words: list[str]) -> list[sa.ColumnElement[bool]]:
            return [compared.contains(t, autoescape=True) for t in words]

        # PostgreSQL (and any other database): the plain LIKE, answered by the GIN index.
        self.like_form = sa.and_(sa.true(), *like(terms))
        found = long_terms(terms) if indexed else []
        if found:
            hits = _fts_hits(ix, found)
            short = [t for t in terms if t not in found]
            self.sqlite_form = sa.and_(id_column.in_(hits), *like(short))
        else:
            self.sqlite_form = self.like_form
        self._column = column

    @property
    def _from_objects(self) -> list[Any]:
        return self._column._from_objects


@compiles(_ContainsAll)
def _compile_like(element: _ContainsAll, compiler: Any, **kw: Any) -> str:
    return compiler.process(element.like_form, **kw)


@compiles(_ContainsAll, "sqlite")
def _compile_sqlite(element: _ContainsAll, compiler: Any, **kw: Any) -> str:
    return compiler.process(element.sqlite_form, **kw)


def contains_all(
    ix: SubstringIndex, column: Any, id_column: Any, terms: list[str], *, indexed: bool = True
) -> sa.ColumnElement[bool]:
    """WHERE clause: `column` (lower-cased if `ix.lower`) contains each of `terms`.

    The terms must be normalised as the column is (folded for name_key, lower case for a
    lower() index); the index finds those of MIN_TERM characters or more. `indexed=False`
    gives the plain LIKE on SQLite too: for a walk along another index that tests each row,
    where collecting every hit from the trigram table first would cost more than it saves.
    """
    return _ContainsAll(ix, column, id_column, terms, indexed)


def hit_count(
    session: Any, ix: SubstringIndex, column: Any, id_column: Any, terms: list[str], *, limit: int
) -> int:
    """How many rows contain every one of `terms`, counted up to limit + 1 (none filtered)."""
    if session.get_bind().dialect.name == "sqlite" and long_terms(terms) == terms:
        # The trigram table alone: its rows are the table's rows (kept so by triggers).
        capped = _fts_hits(ix, terms).limit(limit + 1)
    else:
        # Planned without the LIMIT (a materialised CTE is read lazily), as
        # contacts.service.count_of does: with it PostgreSQL may expect the hits early in a
        # sequential scan, and a word whose hits are few reads the whole table.
        found = (
            sa.select(sa.literal_column("1"))
            .select_from(column.table)
            .where(contains_all(ix, column, id_column, terms))
            .cte("hits")
            .prefix_with("MATERIALIZED")
        )
        capped = sa.select(sa.literal_column("1")).select_from(found).limit(limit + 1)
    return session.scalar(sa.select(sa.func.count()).select_from(capped.subquery())) or 0


def sorted_hits(
    session: Any,
    stmt: sa.Select,
    model: Any,
    order: list[tuple[Any, bool]],
    limit: int,
    offset: int = 0,
    options: Sequence[Any] = (),
) -> list[Any]:
    """Rows offset..offset+limit of `stmt` in `order`, found by sorting all its (few) hits.

    Left to themselves both databases may walk the order's index and test each row against
    the hits, expecting them spread evenly; a rare or clustered word then reads the whole
    table. SQLite is kept off that index by a unary "+" on the sort columns; PostgreSQL
    numbers the hits in a materialised CTE, planned without the LIMIT (as
    contacts.service._sorted_hits does). `order` is (column, descending) pairs.
    """
    if session.get_bind().dialect.name == "sqlite":
        table = model.__tablename__
        unindexed: list[Any] = [
            sa.literal_column(f"+{table}.{c.key}").desc()
            if desc
            else sa.literal_column(f"+{table}.{c.key}")
            for c, desc in order
        ]
        page_rows = stmt.options(*options).order_by(*unindexed).limit(limit).offset(offset)
        return list(session.scalars(page_rows))
    numbered = (
        stmt.order_by(None)
        .with_only_columns(
            model.id.label("hit_id"),
            sa.func.row_number()
            .over(order_by=[c.desc() if desc else c for c, desc in order])
            .label("position"),
        )
        .cte("hits")
        .prefix_with("MATERIALIZED")
    )
    page = (
        sa.select(numbered.c.hit_id, numbered.c.position)
        .order_by(numbered.c.position)
        .limit(limit)
        .offset(offset)
        .subquery("page")
    )
    return list(
        session.scalars(
            sa.select(model)
            .join(page, model.id == page.c.hit_id)
            .options(*options)
            .order_by(page.c.position)
        )
    )

"""Full-text search over folded text: SQLite FTS5 or PostgreSQL tsvector, same behaviour.

Each searchable table has a `search_text` column holding folded words (Müller → mueller,
Straße → strasse) written by the service; a word with an umlaut also with the plain vowel
(Müller → "mueller muller"), so that a query folded the one way finds either spelling.
SQLite indexes it in an external-content FTS5 table kept current by triggers; PostgreSQL
uses a GIN index on to_tsvector('simple', …). Both answer prefix queries, so
search-as-you-type finds "Muel" → Müller.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ClauseElement, Executable

from crm import substring
from crm.contacts.normalize import search_terms

# Tables with a search_text column and their FTS5 shadow table names.
SEARCHABLE = ("organisation", "person")


def fts_table(table: str) -> str:
    return f"{table}_fts"


# PostgreSQL: a stored generated tsvector column per table, GIN-indexed. Matching against a
# stored column lets the planner use the index for rare words instead of computing
# to_tsvector() row by row along another index (bench/README.md, finding 2).
VECTOR_COLUMN = "search_vector"


def is_search_object(name: str | None) -> bool:
    """True for database objects of the search machinery (not described by the models)."""
    if not name:
        return False
    return (
        any(name.startswith(fts_table(t)) for t in SEARCHABLE)
        or name.endswith("_search_gin")
        or name == VECTOR_COLUMN
        # The substring (trigram) indexes of crm.substring, made by migrations as well.
        or substring.is_substring_object(name)
    )


def _sqlite_insert_trigger(table: str) -> str:
    fts = fts_table(table)
    return (
        f"CREATE TRIGGER {fts}_ai AFTER INSERT ON {table} BEGIN "
        f"INSERT INTO {fts}(rowid, search_text) VALUES (new.id, new.search_text); END"
    )


def _sqlite_update_trigger(table: str) -> str:
    fts = fts_table(table)
    return (
        f"CREATE TRIGGER {fts}_au AFTER UPDATE OF search_text ON {table} BEGIN "
        f"INSERT INTO {fts}({fts}, rowid, search_text) VALUES ('delete', old.id, old.search_text);"
        f" INSERT INTO {fts}(rowid, search_text) VALUES (new.id, new.search_text); END"
    )


def sqlite_ddl(table: str) -> list[str]:
    """FTS5 table and triggers that mirror `table.search_text`."""
    # `table` is one of the constants in SEARCHABLE, never user input.
    assert table in SEARCHABLE
    fts = fts_table(table)
    return [
        f"CREATE VIRTUAL TABLE {fts} USING fts5(search_text, content='{table}', "
        f"content_rowid='id', tokenize='unicode61 remove_diacritics 2', prefix='2 3 4')",
        _sqlite_insert_trigger(table),
        f"CREATE TRIGGER {fts}_ad AFTER DELETE ON {table} BEGIN "
        f"INSERT INTO {fts}({fts}, rowid, search_text) VALUES ('delete', old.id, old.search_text);"
        f" END",
        _sqlite_update_trigger(table),
        f"INSERT INTO {fts}({fts}) VALUES ('rebuild')",
    ]


def sqlite_drop_ddl(table: str) -> list[str]:
    fts = fts_table(table)
    return [f"DROP TRIGGER IF EXISTS {fts}_{s}" for s in ("ai", "ad", "au")] + [
        f"DROP TABLE IF EXISTS {fts}"
    ]


@contextlib.contextmanager
def sqlite_bulk_indexing(driver: Any, table: str, first_id: int, last_id: int) -> Iterator[None]:
    """Rows with ids first_id..last_id inserted inside are indexed in one statement after.

    The per-row insert trigger cost ~140 µs a person (FTS5 with prefix indexes), one
    INSERT … SELECT into the index afterwards ~6 µs (an import of 45,000 people: 4.7 s →
    ~1 s). Must run inside the caller's write transaction on SQLite: the trigger is dropped
    and created again within it, so a rollback restores it and no other connection can
    write meanwhile (the write lock) or see it missing (readers see the last commit).
    """
    assert table in SEARCHABLE
    fts = fts_table(table)
    driver.execute(f"DROP TRIGGER {fts}_ai")
    yield
    driver.execute(
        f"INSERT INTO {fts}(rowid, search_text) "  # noqa: S608 - names are constants
        f"SELECT id, search_text FROM {table} WHERE id BETWEEN ? AND ?",
        (first_id, last_id),
    )
    driver.execute(_sqlite_insert_trigger(table))


@contextlib.contextmanager
def sqlite_bulk_reindexing(bind: Any, table: str) -> Iterator[None]:
    """Rows whose search_text is rewritten inside are indexed afresh in one rebuild after.

    For rewriting most of a table (a migration): one rebuild after is far cheaper than the
    per-row update trigger (figures in the migration's commit). Must run inside the caller's
    write transaction on SQLite, as sqlite_bulk_indexing() does, so that a failure restores
    the trigger and no other connection sees it missing.
    """
    assert table in SEARCHABLE
    fts = fts_table(table)
    bind.exec_driver_sql(f"DROP TRIGGER {fts}_au")
    yield
    bind.exec_driver_sql(f"INSERT INTO {fts}({fts}) VALUES ('rebuild')")
    bind.exec_driver_sql(_sqlite_update_trigger(table))


def postgres_ddl(table: str) -> list[str]:
    """The GIN index over the stored search_vector column (the column itself stays)."""
    return [f"CREATE INDEX {table}_vector_search_gin ON {table} USING gin ({VECTOR_COLUMN})"]


def postgres_drop_ddl(table: str) -> list[str]:
    return [f"DROP INDEX IF EXISTS {table}_vector_search_gin"]


def create_search_objects(bind: Any, tables: tuple[str, ...] = SEARCHABLE) -> None:
    """Create the search index objects for the bind's dialect (used by migrations)."""
    for table in tables:
        statements = sqlite_ddl(table) if bind.dialect.name == "sqlite" else postgres_ddl(table)
        for stmt in statements:
            bind.exec_driver_sql(stmt)


def drop_search_objects(bind: Any, tables: tuple[str, ...] = SEARCHABLE) -> None:
    for table in tables:
        statements = (
            sqlite_drop_ddl(table) if bind.dialect.name == "sqlite" else postgres_drop_ddl(table)
        )
        for stmt in statements:
            bind.exec_driver_sql(stmt)


def _sqlite_match(query: str) -> str | None:
    terms = search_terms(query)
    # search_terms() yields only [a-z0-9]: safe inside an FTS5 phrase.
    return " ".join(f'"{t}"*' for t in terms) if terms else None


def _sqlite_hits(table: str, match: str) -> sa.Select:
    return (
        sa.select(sa.column("rowid"))
        .select_from(sa.table(fts_table(table)))
        .where(sa.literal_column(fts_table(table)).op("MATCH")(match))
    )


def matching_ids(
    model: Any, query: str, dialect: str, *, walk_order: bool = False, per_row: bool = False
) -> sa.ColumnElement[bool] | None:
    """A WHERE clause restricting `model` to rows matching every word of `query` as a prefix.

    Returns None when the query has no searchable word (then nothing is filtered).
    `walk_order` (SQLite) is for searches with many hits: SQLite then walks the index of the
    ORDER BY and tests each row against the hits, stopping after one page, instead of fetching
    every hit and sorting them all ("ha": 16,000 people, 10 ms → 2 ms; bench/README.md).
    `per_row` (SQLite) tests each row's own search_text instead of the FTS index: no set of
    all hits is built, but every row tested is read from the table, so it is for a walk of a
    bounded number of rows only (service._dense_page).
    """
    table = model.__tablename__
    if dialect == "sqlite" and per_row:
        terms = search_terms(query)
        if not terms:
            return None
        # search_text is folded words ([a-z0-9]) separated by single spaces, which is how
        # the FTS5 tokenizer splits it too: "a word starts with the term" is the same test
        # as the FTS prefix query. The terms are [a-z0-9] only, no LIKE wildcards.
        spaced = " " + model.__table__.c.search_text
        return sa.and_(*(spaced.like(f"% {t}%") for t in terms))
    if dialect == "sqlite":
        match = _sqlite_match(query)
        if match is None:
            return None
        # A unary + keeps SQLite from looking the hits up by primary key, which is what
        # would make it sort all of them; the hits are then an IN-set probed per row.
        column = sa.literal_column(f"+{table}.id") if walk_order else model.id
        return column.in_(_sqlite_hits(table, match))
    terms = search_terms(query)
    if not terms:
        return None
    tsquery = " & ".join(f"{t}:*" for t in terms)
    return sa.literal_column(f"{table}.{VECTOR_COLUMN}").op("@@")(
        sa.func.to_tsquery("simple", tsquery)
    )


def sqlite_hit_count(session: Any, model: Any, query: str, *, limit: int) -> tuple[int, int] | None:
    """How many rows of `model` match `query` on SQLite (counting stops at limit + 1), and
    the highest id among the counted ones.

    Counted in the FTS index alone: its rows are the table's rows (kept so by triggers), and
    not joining the table makes a capped count ten times cheaper (0.9 → 0.08 ms for 1,000
    hits). FTS5 returns hits in id order, so the highest counted id tells how densely the
    hits lie: 1,001 hits among the first 3,000 ids is a word in every third row. Only valid
    when the search is the list's one filter; None when `query` has no searchable word.
    """
    match = _sqlite_match(query)
    if match is None:
        return None
    hits = _sqlite_hits(model.__tablename__, match).limit(limit + 1).subquery()
    row = session.execute(
        sa.select(sa.func.count(), sa.func.max(hits.c.rowid)).select_from(hits)
    ).one()
    return row[0] or 0, row[1] or 0


class _Explain(Executable, ClauseElement):
    """`EXPLAIN (FORMAT JSON) <statement>` on PostgreSQL: the plan without running it."""

    inherit_cache = False

    def __init__(self, statement: sa.Select) -> None:
        self.statement = statement


@compiles(_Explain, "postgresql")
def _compile_explain(element: _Explain, compiler: Any, **kw: Any) -> str:
    return "EXPLAIN (FORMAT JSON) " + compiler.process(element.statement, **kw)


def estimated_rows(session: Any, stmt: sa.Select) -> float:
    """The PostgreSQL planner's estimate of how many rows `stmt` returns (not run).

    For a search the estimate comes from the statistics of the search_vector column (the
    share of rows holding each frequent word, summed over the words a prefix matches), so it
    tells a broad word from a rare one without reading the index, where counting even a
    capped number of hits builds the GIN index's bitmap of
    every hit (bench/README.md, "Broad, rare and clustered words at scale").
    """
    plan = session.execute(_Explain(stmt)).scalar_one()
    return float(plan[0]["Plan"]["Plan Rows"])


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Alembic autogenerate filter: leave the search-index objects (FTS5, GIN) alone."""
    if type_ in ("table", "index", "column") and is_search_object(name):
        return False
    return not (type_ == "index" and obj is not None and is_search_object(getattr(obj, "name", "")))

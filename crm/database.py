"""Database plumbing shared by all domains: SQLite connection setup, UTC timestamps."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, mapped_column

SQLITE_BUSY_TIMEOUT_MS = 15_000
# PostgreSQL's INTEGER, the type of every id and count column; SQLite's range is wider.
DB_INT_MIN = -(2**31)
DB_INT_MAX = 2**31 - 1

# Whether the next SQLite transaction will write. Outside web requests (CLI, scheduler,
# background threads, tests) the answer is yes; the web app sets "no" for GET requests.
_write_intent: ContextVar[bool] = ContextVar("sqlite_write_intent", default=True)


def set_write_intent(value: bool) -> object:
    """Declare whether the coming transactions write; returns a token for reset_write_intent."""
    return _write_intent.set(value)


def reset_write_intent(token: object) -> None:
    _write_intent.reset(token)  # type: ignore[arg-type]


@contextlib.contextmanager
def write_intent() -> Iterator[None]:
    """Transactions begun inside the block take SQLite's write lock up front."""
    token = _write_intent.set(True)
    try:
        yield
    finally:
        _write_intent.reset(token)


def ids_in(column: Any, ids: Iterable[int], dialect: str) -> sa.ColumnElement[bool]:
    """`column IN ids`; on PostgreSQL as `= ANY(one array parameter)`.

    An IN list renders one bound parameter per value, so every batch size is new SQL for
    SQLAlchemy's and psycopg's statement caches: for the outbox's batches of 250 ids that
    rendering and parsing cost more than the query (bench/README.md, newsletter sender).
    """
    values = list(ids)
    if dialect == "postgresql":
        return column == sa.any_(sa.bindparam(None, values, type_=postgresql.ARRAY(sa.Integer)))
    return column.in_(values)


def int_in_range(value: int) -> bool:
    """True if the database can store `value` in an INTEGER column."""
    return DB_INT_MIN <= value <= DB_INT_MAX


def db_int(value: object) -> int | None:
    """`value` as an integer the database can hold, or None (not a number, or out of range)."""
    try:
        number = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None
    return number if int_in_range(number) else None


def utcnow() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(UTC)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """An aware UTC timestamp on every backend (SQLite stores naive UTC text)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; store aware UTC datetimes only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False
    )


@event.listens_for(Engine, "connect")
def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    # Take transaction control away from pysqlite so the "begin" hook below decides how a
    # transaction starts (see SQLAlchemy's pysqlite "serializable isolation" recipe).
    dbapi_connection.isolation_level = None
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


@event.listens_for(Engine, "begin")
def _sqlite_begin_immediate(conn: sa.Connection) -> None:
    if conn.dialect.name != "sqlite":
        return
    # A deferred transaction that read first and writes later fails at once with
    # "database is locked" when another writer committed meanwhile: busy_timeout does not
    # help there. So a transaction that will write takes the write lock up front
    # (IMMEDIATE) and concurrent writers queue up to busy_timeout instead of failing.
    # Read-only transactions (GET requests) begin deferred: in WAL mode they never wait,
    # not even behind a long import.
    conn.exec_driver_sql("BEGIN IMMEDIATE" if _write_intent.get() else "BEGIN")


def rows_affected(result: sa.Result[Any]) -> int:
    """How many rows an UPDATE or DELETE run through `Session.execute` changed (0 if unknown)."""
    # The session types its result as a plain Result; for DML it is a CursorResult, which is
    # the type that carries rowcount.
    return cast(sa.CursorResult[Any], result).rowcount or 0

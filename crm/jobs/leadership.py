"""Scheduler leadership: several scheduler processes may run, exactly one leads.

PostgreSQL: the leader holds a session-level advisory lock (`pg_try_advisory_lock`) on a
dedicated connection for as long as it leads; if the process or its connection dies, the
server releases the lock and a follower takes it on its next try.

SQLite (and any other database): a lease in the `scheduler_lock` row. The leader renews it
every RENEW_SECONDS; a follower tries as often and wins once the lease has expired. With a
lease of LEASE and tries every RENEW_SECONDS, a follower takes over at most
LEASE + RENEW_SECONDS (one minute) after the leader's last renewal.

Leadership only keeps followers idle. It is not what prevents double mail: every job claims
its rows in a transaction (see crm.followups.service.send_due_reminders), so two processes
that both believe they lead for a moment still send each reminder once.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from abc import ABC, abstractmethod
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.pool import NullPool

from crm.database import UTCDateTime, utcnow
from crm.extensions import db

log = logging.getLogger(__name__)

LOCK_NAME = "scheduler"
# Any constant 64-bit key shared by all our scheduler processes ("netzcrm" in ASCII).
ADVISORY_KEY = 0x6E65747A63726D
LEASE = timedelta(seconds=45)
RENEW_SECONDS = 15


class SchedulerLock(db.Model):
    """The lease row that decides which scheduler process leads (used where no advisory lock)."""

    __tablename__ = "scheduler_lock"

    name: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(sa.String(200))
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


def new_holder_id() -> str:
    """A name for this process that no other process (here or on another host) shares."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class LeaderLock(ABC):
    """Take, keep and give up leadership. `acquire()` is called every RENEW_SECONDS."""

    def __init__(self, holder: str | None = None) -> None:
        self.holder = holder or new_holder_id()

    @abstractmethod
    def acquire(self, now: datetime | None = None) -> bool:
        """Take the lock or renew it; return True while this process leads."""

    @abstractmethod
    def is_leader(self, now: datetime | None = None) -> bool:
        """True if this process led at its last acquire() and that is still valid at `now`."""

    @abstractmethod
    def release(self) -> None:
        """Give up leadership so another process can take over at once."""


class RowLock(LeaderLock):
    """A lease in a row: taken with UPDATE … WHERE expires_at < now OR holder = me."""

    def __init__(
        self,
        engine: sa.Engine,
        *,
        name: str = LOCK_NAME,
        holder: str | None = None,
        lease: timedelta = LEASE,
    ) -> None:
        super().__init__(holder)
        self.engine = engine
        self.name = name
        self.lease = lease
        self._expires_at: datetime | None = None

    def acquire(self, now: datetime | None = None) -> bool:
        now = now or utcnow()
        expires = now + self.lease
        table = SchedulerLock.__table__
        mine = table.c.holder == self.holder
        try:
            # On SQLite the transaction begins IMMEDIATE (crm.database), so contenders queue
            # on the write lock and each sees the row the previous one left.
            with self.engine.begin() as conn:
                renewed = conn.execute(
                    sa.update(table)
                    .where(table.c.name == self.name, sa.or_(table.c.expires_at < now, mine))
                    .values(
                        holder=self.holder,
                        expires_at=expires,
                        acquired_at=sa.case((mine, table.c.acquired_at), else_=now),
                    )
                ).rowcount
                if renewed == 1:
                    won = True
                elif conn.execute(sa.select(table.c.name).where(table.c.name == self.name)).first():
                    won = False
                else:
                    conn.execute(
                        sa.insert(table).values(
                            name=self.name, holder=self.holder, acquired_at=now, expires_at=expires
                        )
                    )
                    won = True
        except IntegrityError:  # another process inserted the row first
            won = False
        except DBAPIError:
            log.exception("scheduler lock: cannot reach the database; not leading")
            won = False
        self._expires_at = expires if won else None
        return won

    def is_leader(self, now: datetime | None = None) -> bool:
        # A leader whose renewals stalled stops acting before its lease runs out for others.
        return self._expires_at is not None and (now or utcnow()) < self._expires_at

    def release(self) -> None:
        self._expires_at = None
        table = SchedulerLock.__table__
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    sa.delete(table).where(table.c.name == self.name, table.c.holder == self.holder)
                )
        except DBAPIError:
            log.exception("scheduler lock: release failed; the lease will expire")


class AdvisoryLock(LeaderLock):
    """A PostgreSQL session advisory lock held on a dedicated connection while leading."""

    def __init__(
        self, engine: sa.Engine, *, key: int = ADVISORY_KEY, holder: str | None = None
    ) -> None:
        super().__init__(holder)
        # Its own engine without a pool: closing the connection really ends the session and
        # so releases the lock; a pooled connection would carry the lock back into the pool.
        self.engine = sa.create_engine(engine.url, poolclass=NullPool)
        self.key = key
        self._conn: sa.Connection | None = None

    def acquire(self, now: datetime | None = None) -> bool:
        if self._conn is not None:
            try:
                # The lock lives exactly as long as this session: alive means still ours.
                self._conn.exec_driver_sql("SELECT 1")
                return True
            except DBAPIError:
                log.warning("scheduler lock: leader connection lost; stepping down")
                self._drop()
        conn = None
        try:
            conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            got = conn.execute(sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key})
            if got.scalar():
                self._conn = conn
                return True
            conn.close()
        except DBAPIError:
            log.exception("scheduler lock: cannot reach the database; not leading")
            if conn is not None:
                conn.invalidate()
        return False

    def is_leader(self, now: datetime | None = None) -> bool:
        return self._conn is not None

    def release(self) -> None:
        if self._conn is None:
            return
        try:
            self._conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
        except DBAPIError:
            log.warning("scheduler lock: unlock failed; closing the connection releases it")
        self._drop()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except DBAPIError:
                conn.invalidate()

    def dispose(self) -> None:
        """Close the lock's own engine (after release)."""
        self.engine.dispose()


def leader_lock_for(engine: sa.Engine, *, holder: str | None = None) -> LeaderLock:
    """The advisory lock on PostgreSQL, the lease row everywhere else."""
    if engine.dialect.name == "postgresql":
        return AdvisoryLock(engine, holder=holder)
    return RowLock(engine, holder=holder)

"""Scheduler leadership: several scheduler processes may run, exactly one leads.

One lease row (`scheduler_lock`) on every database. The leader renews `expires_at` every
`renew` seconds from a heartbeat thread; a follower tries as often and wins once the lease
has expired, so a leader that dies or freezes (SIGSTOP, a stalled VM) is replaced at most
`lease + renew` seconds after its last renewal (40 + 10 by default: within a minute).

Taking and renewing is one conditional UPDATE (`… WHERE expires_at < now OR holder = me`)
whose rowcount says who won. On PostgreSQL a second UPDATE of the same row waits for the
first to commit and then re-checks its WHERE against the new row, so two contenders never
both win (no lost update); on SQLite the write transaction begins IMMEDIATE (crm.database),
so contenders queue on the write lock.

A leader that wakes up after losing its lease must not run a job on old beliefs: immediately
before each job the runner writes the job's start row with `INSERT … WHERE <this process holds
the lease for at least the margin>` (`valid_clause`), and runs the job only if the row was
written. Check and start record are one statement; a freeze after it is the overlap below.
Clocks: `expires_at` is written with the writer's clock and compared with the reader's, so
hosts that run several schedulers need NTP; skew eats into the margin.

Leadership only keeps followers idle. It is not what prevents double mail: every job claims
its rows in a transaction (see crm.followups.service.send_due_reminders), so two processes
that both believe they lead for a moment (a job that started just before the freeze and
finishes after the takeover) still send each message once.

There used to be a PostgreSQL advisory lock here. It lived as long as its connection, and a
frozen process keeps its connection open, so a SIGSTOPped leader blocked every job forever.
A heartbeat on top of it would have meant two mechanisms to reason about; the lease row
alone covers both databases with one tested path.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from crm.database import UTCDateTime, reset_write_intent, set_write_intent, utcnow
from crm.extensions import db

log = logging.getLogger(__name__)

LOCK_NAME = "scheduler"
LEASE = timedelta(seconds=40)
RENEW = timedelta(seconds=10)
MARGIN = timedelta(seconds=10)


class SchedulerLock(db.Model):
    """The lease row that decides which scheduler process leads."""

    __tablename__ = "scheduler_lock"

    name: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(sa.String(200))
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


@dataclass(frozen=True)
class LeaseTimes:
    """How long a lease lasts, how often the leader renews it, how much must be left to run."""

    lease: timedelta = LEASE
    renew: timedelta = RENEW
    margin: timedelta = MARGIN

    def __post_init__(self) -> None:
        # Right after a renewal a healthy leader holds `lease`, just before the next one
        # `lease - renew`: that must still cover the margin, or the leader would skip jobs.
        if not (timedelta(0) < self.renew and self.renew + self.margin < self.lease):
            raise ValueError(
                "scheduler lease: need 0 < renew and renew + margin < lease "
                f"(lease={self.lease}, renew={self.renew}, margin={self.margin})"
            )

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> LeaseTimes:
        """CRM_SCHEDULER_LEASE_SECONDS, _RENEW_SECONDS and _LEASE_MARGIN_SECONDS (tests shorten)."""

        def seconds(key: str, default: timedelta) -> timedelta:
            raw = config.get(key) or os.environ.get(key)
            return timedelta(seconds=float(raw)) if raw else default

        return cls(
            lease=seconds("CRM_SCHEDULER_LEASE_SECONDS", LEASE),
            renew=seconds("CRM_SCHEDULER_RENEW_SECONDS", RENEW),
            margin=seconds("CRM_SCHEDULER_LEASE_MARGIN_SECONDS", MARGIN),
        )


def new_holder_id() -> str:
    """A name for this process that no other process (here or on another host) shares."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class RowLock:
    """A lease in a row: taken with UPDATE … WHERE expires_at < now OR holder = me."""

    def __init__(
        self,
        engine: sa.Engine,
        *,
        name: str = LOCK_NAME,
        holder: str | None = None,
        times: LeaseTimes | None = None,
    ) -> None:
        self.engine = engine
        self.name = name
        self.holder = holder or new_holder_id()
        self.times = times or LeaseTimes()
        self._expires_at: datetime | None = None

    @property
    def lease(self) -> timedelta:
        """How long one renewal keeps the lease."""
        return self.times.lease

    def acquire(self, now: datetime | None = None) -> bool:
        """Take the lease or renew it; return True while this process leads."""
        now = now or utcnow()
        expires = now + self.times.lease
        table = SchedulerLock.__table__
        mine = table.c.holder == self.holder
        try:
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
        """True if this process won its last acquire() and that lease still runs at `now`."""
        return self._expires_at is not None and (now or utcnow()) < self._expires_at

    def forget(self) -> None:
        """Stop believing this process leads (until the next successful acquire)."""
        self._expires_at = None

    def valid_clause(self, now: datetime | None = None) -> sa.ColumnElement[bool]:
        """SQL: this process holds the lease for at least the margin from `now`.

        The runner writes a job's start row only where this holds (crm.jobs.service.recorded),
        immediately before the job: a process that froze after its last renewal may wake up
        believing it leads; the row tells it otherwise.
        """
        table = SchedulerLock.__table__
        return sa.exists().where(
            table.c.name == self.name,
            table.c.holder == self.holder,
            table.c.expires_at >= (now or utcnow()) + self.times.margin,
        )

    def still_valid(self, now: datetime | None = None) -> bool:
        """Read the row afresh: does this process hold it for at least the margin from now?"""
        # A plain read: on SQLite it must not queue for the write lock (WAL readers never wait).
        token = set_write_intent(False)
        try:
            with self.engine.connect() as conn:
                valid = bool(conn.scalar(sa.select(self.valid_clause(now))))
        except DBAPIError:
            log.exception("scheduler lock: cannot read the lease")
            valid = False
        finally:
            reset_write_intent(token)
        if not valid:
            self._expires_at = None
        return valid

    def release(self) -> None:
        """Give up the lease so another process can take over at once."""
        self._expires_at = None
        table = SchedulerLock.__table__
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    sa.delete(table).where(table.c.name == self.name, table.c.holder == self.holder)
                )
        except DBAPIError:
            log.exception("scheduler lock: release failed; the lease will expire")


def leader_lock_for(
    engine: sa.Engine, *, holder: str | None = None, times: LeaseTimes | None = None
) -> RowLock:
    """The lease row (the same on PostgreSQL and SQLite)."""
    return RowLock(engine, holder=holder, times=times)

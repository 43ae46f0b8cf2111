"""The outbox sender: works through a campaign's delivery rows over one SMTP connection.

Claiming (a lease per row, see Delivery.claimed_at/claimed_by):

1. A short transaction reclaims expired leases (rows left in 'sending' by a dead sender go
   back to 'queued'), then selects up to `batch` due 'queued' rows of a campaign that is
   'sending' — `FOR UPDATE SKIP LOCKED` on PostgreSQL, so concurrent senders each get other
   rows; on SQLite the transaction's IMMEDIATE write lock serialises the claim — and sets them
   'sending' with claimed_at = now and claimed_by = this sender. Commit.
2. For each claimed row: build the message, hand it to the transport, and in its own
   transaction mark the row 'sent' (Message-ID, time, the server's reply) only if it is still
   ours (status 'sending' and claimed_by = this sender). Commit. Then the next row.

   The bookkeeping overlaps the SMTP round trips instead of following them (that is what
   makes the sender about as fast as a bare smtplib loop): the 'sent' commit of row n runs
   while the server answers MAIL FROM of row n+1 (on PostgreSQL it is handed to the
   database without waiting, then), and row n+2's message is built while the
   server digests row n+1's data (Transport.send_raw's hooks). The commit still always
   completes before the end of the next message is sent, so the crash window below stays one
   message wide.

Crash windows (SIGKILL at any point):

- during the claim transaction: it rolls back, nothing happened;
- between the claim and a send: the rows stay 'sending' until their lease expires
  (CRM_NEWSLETTER_LEASE_SECONDS); then any sender reclaims and sends them — no loss;
- after the server accepted a message and before its 'sent' commit: that ONE row is still
  'sending', is reclaimed after the lease and mailed again. This is the only double, and only
  one row of a batch can be in it, because each row is committed before the next is sent;
- a temporary failure (4xx, lost connection) puts the row back to 'queued' with
  attempts + 1 and next_attempt_at pushed out exponentially; a lost connection during DATA
  may have delivered — that retry is the same one-message window.

A sender never sends a row whose lease it could lose meanwhile: before each message it checks
that the lease has at least half its time left, otherwise it gives the rest of the batch back.
Memory stays flat: only one batch of rows is loaded at a time and the session is cleared
after each batch.
"""

from __future__ import annotations

import functools
import logging
import os
import select
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from crm.contacts.models import Person
from crm.database import ids_in, utcnow
from crm.mail import (
    MailError,
    PermanentMailError,
    RawMessage,
    SendResult,
    TemporaryMailError,
    Transport,
)
from crm.newsletters.models import Campaign, Delivery

__all__ = [
    "MessageFactory",
    "OutboxRow",
    "Recipient",
    "SendReport",
    "SenderSettings",
    "finish_if_done",
    "release_claims",
    "send_outbox",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Recipient:
    """What a message needs of the person (the placeholders' data); reads like a Person."""

    id: int
    salutation: str
    title: str
    first_name: str
    last_name: str
    token_nonce: str = ""


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One claimed delivery row with its recipient, loaded in one query per batch."""

    id: int
    attempts: int
    email: str
    person: Recipient

    @property
    def person_id(self) -> int:
        return self.person.id


# Builds the message for one delivery row of a campaign (prepared once per campaign).
MessageFactory = Callable[[OutboxRow], RawMessage]
# Given the session and a campaign, returns that campaign's MessageFactory.
FactoryBuilder = Callable[[Session, Campaign], MessageFactory]


@dataclass(frozen=True)
class SenderSettings:
    """Tuning of the sender (CRM_NEWSLETTER_* settings)."""

    rate: float = 0.0  # messages per second per sender process; 0 = as fast as possible
    # Rows per claim: each claim and load costs a few milliseconds, so at full speed a batch
    # of 50 spent ~5 % of the time there; memory is a few hundred bytes per row.
    batch: int = 250
    lease: timedelta = timedelta(minutes=5)
    max_attempts: int = 8
    max_consecutive_errors: int = 10
    backoff_base: timedelta = timedelta(minutes=1)
    backoff_max: timedelta = timedelta(hours=6)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SenderSettings:
        """Read CRM_NEWSLETTER_RATE, _BATCH, _LEASE_SECONDS, _MAX_ATTEMPTS, ..."""

        def number(key: str, default: float) -> float:
            value = config.get(key)
            return default if value in (None, "") else float(value)

        return cls(
            rate=max(number("CRM_NEWSLETTER_RATE", 0.0), 0.0),
            batch=max(int(number("CRM_NEWSLETTER_BATCH", 250)), 1),
            lease=timedelta(seconds=max(number("CRM_NEWSLETTER_LEASE_SECONDS", 300), 1)),
            max_attempts=max(int(number("CRM_NEWSLETTER_MAX_ATTEMPTS", 8)), 1),
            max_consecutive_errors=max(int(number("CRM_NEWSLETTER_MAX_CONSECUTIVE_ERRORS", 10)), 1),
            backoff_base=timedelta(seconds=max(number("CRM_NEWSLETTER_BACKOFF_SECONDS", 60), 0)),
        )

    def claim_size(self) -> int:
        """Rows to claim at once: a batch, but no more than a throttled sender sends in a
        quarter of the lease (it gives back what it cannot send in half of it)."""
        if not self.rate:
            return self.batch
        return max(1, min(self.batch, int(self.rate * self.lease.total_seconds() / 4)))

    def backoff(self, attempts: int) -> timedelta:
        """Wait before attempt number attempts + 1: base · 2^(attempts − 1), capped."""
        delay = self.backoff_base * (2 ** max(attempts - 1, 0))
        return min(delay, self.backoff_max)


@dataclass
class SendReport:
    """What one send_outbox run did."""

    sent: int = 0
    failed: int = 0
    deferred: int = 0
    paused: list[int] = field(default_factory=list)
    finished: list[int] = field(default_factory=list)

    def __str__(self) -> str:
        return (
            f"sent={self.sent} failed={self.failed} deferred={self.deferred} "
            f"paused={self.paused} finished={self.finished}"
        )


def new_worker_id() -> str:
    """A name for this sender that no other sender shares (stored in claimed_by)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class _Throttle:
    """Spaces sends to `rate` per second (0 = off) without drifting over a long run."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.next_at = time.monotonic()

    def wait(self) -> None:
        if not self.interval:
            return
        now = time.monotonic()
        if self.next_at > now:
            time.sleep(self.next_at - now)
        # After a long stall (retries, a slow server) do not burst to catch up.
        self.next_at = max(self.next_at, now - self.interval) + self.interval


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _is_sqlite(session: Session) -> bool:
    return session.get_bind().dialect.name == "sqlite"


def reclaim_expired(session: Session, now: datetime, lease: timedelta) -> int:
    """Put rows whose sender died (lease expired) back to 'queued'; return how many."""
    table = Delivery.__table__
    return session.execute(
        sa.update(table)
        .where(table.c.status == "sending", table.c.claimed_at < now - lease)
        .values(status=_released_status(), claimed_at=None, claimed_by="", updated_at=now)
    ).rowcount


def _released_status() -> sa.ColumnElement[str]:
    """'queued' for a row given back, or 'cancelled' if its campaign was cancelled meanwhile."""
    table, campaigns = Delivery.__table__, Campaign.__table__
    campaign_status = (
        sa.select(campaigns.c.status).where(campaigns.c.id == table.c.campaign_id).scalar_subquery()
    )
    return sa.case((campaign_status == "cancelled", "cancelled"), else_="queued")


def _claimable(
    session: Session, campaign_id: int, now: datetime, limit: int, after: int = 0
) -> sa.Select:
    """The first `limit` due 'queued' rows of a campaign with an id above `after`, in id
    order (locked on PostgreSQL).

    `after` is the sender's cursor (the last id it claimed): without it each claim walked
    past every row already sent. PostgreSQL plans the claim on the primary key while its
    statistics still say "all queued" (they do for the whole of a campaign that started
    within autovacuum's minute) and filtered 6,100 sent rows per claim a quarter into
    25,000 (1 of 3.7 ms); at 50,000 that grew to most of the claim.
    """
    table = Delivery.__table__
    due = table.c.next_attempt_at <= now
    if _is_sqlite(session):
        # Unary +: not a range for (status, next_attempt_at), so SQLite walks (campaign_id,
        # status, id) in id order and stops after one batch instead of sorting every queued
        # row on each claim (10 ms per batch at 50,000 queued).
        due = (
            sa.literal_column(f"+{table.name}.next_attempt_at", table.c.next_attempt_at.type) <= now
        )
    query = (
        sa.select(table.c.id)
        .where(
            table.c.campaign_id == campaign_id,
            table.c.status == "queued",
            due,
            table.c.id > after,
        )
        .order_by(table.c.id)
        .limit(limit)
    )
    if _is_postgres(session):
        query = query.with_for_update(skip_locked=True)
    return query


def _claim(
    session: Session,
    build: MessageFactory,
    campaign_id: int,
    worker: str,
    now: datetime,
    settings: SenderSettings,
    after: int,
) -> list[OutboxRow] | None:
    """Claim and load the next batch in one transaction; None if the campaign stopped.

    The campaign's status, expired leases, the claim, the rows and what the factory looks
    up per batch: one transaction, one connection checkout, one commit (a batch is sent
    while the bookkeeping waits, so every millisecond here is a millisecond the server
    idles). The transaction (on SQLite a write lock) ends before any SMTP traffic. Only this
    batch is in memory, so memory stays flat over the campaign.
    """
    if _campaign_status(session, campaign_id) != "sending":
        session.commit()
        return None
    table = Delivery.__table__
    reclaim_expired(session, now, settings.lease)
    query = _claimable(session, campaign_id, now, settings.claim_size(), after)
    ids = list(session.scalars(query))
    rows: list[OutboxRow] = []
    if ids:
        session.execute(
            sa.update(table)
            .where(ids_in(table.c.id, ids, session.get_bind().dialect.name))
            .values(status="sending", claimed_at=now, claimed_by=worker, updated_at=now)
        )
        rows = _load(session, ids)
        prepare = getattr(build, "prepare", None)
        if prepare is not None:
            prepare(rows)
    session.commit()
    return rows


def release_claims(session: Session, worker: str, ids: Iterable[int] | None = None) -> int:
    """Give rows this sender claimed but did not send back ('queued', or 'cancelled' if the
    campaign was cancelled meanwhile); commit."""
    table = Delivery.__table__
    query = sa.update(table).where(table.c.status == "sending", table.c.claimed_by == worker)
    if ids is not None:
        query = query.where(table.c.id.in_(list(ids)))
    n = session.execute(
        query.values(status=_released_status(), claimed_at=None, claimed_by="", updated_at=utcnow())
    ).rowcount
    session.commit()
    return n


def _mark(session: Session, delivery_id: int, worker: str, values: dict[str, Any]) -> bool:
    """Write the outcome of one row if it is still ours; commit at once."""
    table = Delivery.__table__
    n = session.execute(
        sa.update(table)
        .where(table.c.id == delivery_id, table.c.status == "sending", table.c.claimed_by == worker)
        .values(claimed_by="", **values)
    ).rowcount
    session.commit()
    return _check_recorded(n, delivery_id)


def _check_recorded(n: int, delivery_id: int) -> bool:
    """True if the outcome update hit the row; a lost lease is logged."""
    if n != 1:
        log.warning("delivery %s: lease lost before its outcome was recorded", delivery_id)
    return n == 1


def pause_campaign(session: Session, campaign_id: int, reason: str, now: datetime) -> bool:
    """Pause a sending campaign (errors or staff); commit. False if it was not sending."""
    table = Campaign.__table__
    n = session.execute(
        sa.update(table)
        .where(table.c.id == campaign_id, table.c.status == "sending")
        .values(status="paused", paused_at=now, pause_reason=reason[:2000], updated_at=now)
    ).rowcount
    session.commit()
    return n == 1


def finish_if_done(session: Session, campaign_id: int, now: datetime) -> bool:
    """Mark a sending campaign 'sent' once no row is queued or being sent; commit."""
    table = Campaign.__table__
    deliveries = Delivery.__table__
    open_rows = (
        sa.select(deliveries.c.id)
        .where(
            deliveries.c.campaign_id == campaign_id,
            deliveries.c.status.in_(("queued", "sending")),
        )
        .exists()
    )
    n = session.execute(
        sa.update(table)
        .where(table.c.id == campaign_id, table.c.status == "sending", ~open_rows)
        .values(status="sent", finished_at=now, updated_at=now)
    ).rowcount
    session.commit()
    return n == 1


def _campaign_status(session: Session, campaign_id: int) -> str | None:
    return session.scalar(sa.select(Campaign.status).where(Campaign.id == campaign_id))


def _load(session: Session, ids: list[int]) -> list[OutboxRow]:
    # Plain rows, not ORM objects: nothing to expire on the per-message commits.
    d, p = Delivery.__table__, Person.__table__
    rows = session.execute(
        sa.select(
            d.c.id,
            d.c.attempts,
            d.c.email,
            p.c.id,
            p.c.salutation,
            p.c.title,
            p.c.first_name,
            p.c.last_name,
            p.c.token_nonce,
        )  # fmt: skip
        .join(p, p.c.id == d.c.person_id)
        .where(ids_in(d.c.id, ids, session.get_bind().dialect.name))
        .order_by(d.c.id)
    )
    return [
        OutboxRow(
            r[0],
            r[1],
            r[2],
            Recipient(r[3], r[4] or "", r[5] or "", r[6] or "", r[7] or "", r[8] or ""),
        )
        for r in rows
    ]


def send_outbox(
    session: Session,
    transport: Transport,
    factory_for: FactoryBuilder,
    settings: SenderSettings | None = None,
    *,
    worker: str | None = None,
    clock: Callable[[], datetime] = utcnow,
    max_messages: int | None = None,
    campaign_ids: Iterable[int] | None = None,
) -> SendReport:
    """Send due delivery rows of every 'sending' campaign until none is due (or max_messages)."""
    settings = settings or SenderSettings()
    worker = worker or new_worker_id()
    report = SendReport()
    throttle = _Throttle(settings.rate)
    query = sa.select(Campaign.id).where(Campaign.status == "sending").order_by(Campaign.id)
    if campaign_ids is not None:
        query = query.where(Campaign.id.in_(list(campaign_ids)))
    campaigns = list(session.scalars(query))
    session.commit()
    budget = [max_messages if max_messages is not None else -1]
    with transport:
        for campaign_id in campaigns:
            _send_campaign(
                session, transport, factory_for, settings, worker, clock, throttle, report,
                campaign_id, budget,
            )  # fmt: skip
            if budget[0] == 0:
                break
    return report


def _send_campaign(
    session: Session,
    transport: Transport,
    factory_for: FactoryBuilder,
    settings: SenderSettings,
    worker: str,
    clock: Callable[[], datetime],
    throttle: _Throttle,
    report: SendReport,
    campaign_id: int,
    budget: list[int],
) -> None:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None or campaign.status != "sending":
        session.commit()
        return
    build = factory_for(session, campaign)
    consecutive = campaign.consecutive_errors
    session.commit()
    outcomes = _Outcomes(session, worker)
    try:
        after = 0
        while budget[0] != 0:
            claimed_at = clock()
            rows = _claim(session, build, campaign_id, worker, claimed_at, settings, after)
            if rows is None:
                return
            if not rows:
                if after:
                    # Past the end: once more from the start for rows given back or due
                    # for a retry behind the cursor.
                    after = 0
                    continue
                if finish_if_done(session, campaign_id, clock()):
                    report.finished.append(campaign_id)
                return
            after = rows[-1].id
            messages = _Messages(build, rows)
            pending = {row.id for row in rows}
            stop = False
            for index, row in enumerate(rows):
                # Never send a row whose lease could run out meanwhile (another sender would
                # then take it too): give the rest back and claim afresh.
                if budget[0] == 0 or claimed_at + settings.lease / 2 < clock():
                    break
                throttle.wait()
                outcome = _send_one(
                    transport, settings, worker, clock, row, messages.take(index), outcomes,
                    functools.partial(messages.build, index + 1),
                )  # fmt: skip
                pending.discard(row.id)
                if budget[0] > 0:
                    budget[0] -= 1
                if outcome == "sent":
                    report.sent += 1
                    if consecutive:
                        consecutive = 0
                        outcomes.finish()
                        _set_errors(session, campaign_id, 0)
                    continue
                if outcome == "failed":
                    report.failed += 1
                elif outcome == "deferred":
                    report.deferred += 1
                consecutive += 1
                _set_errors(session, campaign_id, consecutive)
                if outcome == "config" or consecutive >= settings.max_consecutive_errors:
                    reason = session.scalar(
                        sa.select(Delivery.last_error).where(Delivery.id == row.id)
                    )
                    if pause_campaign(
                        session,
                        campaign_id,
                        f"{consecutive} consecutive errors; last: {reason or '?'}",
                        clock(),
                    ):
                        report.paused.append(campaign_id)
                    stop = True
                    break
            outcomes.finish()
            if pending:
                release_claims(session, worker, pending)
            if stop:
                return
    finally:
        outcomes.close()


class _Messages:
    """A batch's messages, each built just ahead of its send (in the server's think time)."""

    def __init__(self, build: MessageFactory, rows: list[OutboxRow]) -> None:
        self._build = build
        self._rows = rows
        self._built: dict[int, RawMessage | str] = {}

    def build(self, index: int) -> None:
        if index >= len(self._rows) or index in self._built:
            return
        try:
            self._built[index] = self._build(self._rows[index])
        except ValueError as exc:  # an address, header or template the builder refuses
            self._built[index] = str(exc)

    def take(self, index: int) -> RawMessage | str:
        """The message of row `index`, or why it cannot be built."""
        self.build(index)
        return self._built.pop(index)


# The hot write of the sender, built once: mark one row sent if it is still ours.
_d = Delivery.__table__
_MARK_SENT = (
    sa.update(_d)
    .where(
        _d.c.id == sa.bindparam("b_id"),
        _d.c.status == "sending",
        _d.c.claimed_by == sa.bindparam("b_worker"),
    )
    .values(
        status="sent",
        claimed_by="",
        attempts=sa.bindparam("b_attempts"),
        sent_at=sa.bindparam("b_now"),
        message_id=sa.bindparam("b_message_id"),
        smtp_code=sa.bindparam("b_code"),
        last_error="",
        updated_at=sa.bindparam("b_now"),
    )
)
del _d


class _Outcomes:
    """Records 'sent' outcomes while the next message is on its way.

    hold() keeps the outcome of the message the server accepted last; finish() (the
    transport's before_data_end hook) returns only once it is committed. So the commit of
    row n overlaps the MAIL/RCPT/DATA round trips of row n+1 but always completes before row
    n+1's data goes out: at most one accepted message is ever unrecorded. Every other write
    finishes first.

    The write starts once MAIL FROM of row n+1 is on its way (start(), the transport's
    on_mail_sent hook), so the server has the command while the sender works. How it
    overlaps depends on what it waits for. On PostgreSQL a commit waits about 0.8 ms for the
    WAL flush, about half the SMTP transaction here: start() hands the statement to the
    database without waiting (_PostgresMarks) and finish() collects the result. (Handed over
    straight after the 250 instead, the ~25 µs that takes delayed MAIL FROM while the SMTP
    server idled: 84 % against 86 % of the bare loop.) On SQLite the commit is local work:
    it runs in the MAIL FROM round trip, on its own connection (_SQLiteMarks). A session bound
    to a connection instead of an engine (the tests' rolled-back transaction) cannot share
    that transaction with a second connection, so there the write goes through the session.
    """

    def __init__(self, session: Session, worker: str) -> None:
        self.session = session
        self.worker = worker
        bind = session.get_bind()
        self._engine = bind if isinstance(bind, sa.Engine) else None
        self._postgres = self._engine is not None and _PostgresMarks.supports(self._engine)
        self._sqlite_engine = self._engine is not None and self._engine.dialect.name == "sqlite"
        self._marks: _PostgresMarks | None = None
        self._sqlite: _SQLiteMarks | None = None
        self._held: dict[str, Any] | None = None

    def hold(self, delivery_id: int, attempts: int, now: datetime, result: SendResult) -> None:
        self.finish()
        self._held = {
            "b_id": delivery_id,
            "b_worker": self.worker,
            "b_attempts": attempts,
            "b_now": now,
            "b_message_id": (result.message_id or "")[:255],
            "b_code": result.code,
        }

    def start(self) -> None:
        """Write the held outcome, or on PostgreSQL send it off (idempotent)."""
        if self._held is None:
            return
        params, self._held = self._held, None
        if self._postgres:
            if self._marks is None:
                assert self._engine is not None
                self._marks = _PostgresMarks(self._engine)
            self._marks.send(params)
        elif self._sqlite_engine:
            self._write(params)
        else:
            # A connection-bound session, or a driver these paths do not know: in the session.
            self._write_in_session(params)

    def finish(self) -> None:
        """Return once the held outcome is committed; raise its error."""
        self.start()
        if self._marks is not None:
            self._marks.wait()

    def mark_now(self, delivery_id: int, values: dict[str, Any]) -> None:
        self.finish()
        _mark(self.session, delivery_id, self.worker, values)

    def _write(self, params: dict[str, Any]) -> None:
        assert self._engine is not None
        if self._sqlite is None:
            self._sqlite = _SQLiteMarks(self._engine)
        self._sqlite.write(params)

    def _write_in_session(self, params: dict[str, Any]) -> None:
        n = self.session.connection().execute(_MARK_SENT, params).rowcount
        self.session.commit()
        _check_recorded(n, params["b_id"])

    def close(self) -> None:
        """Settle, then release the connection."""
        try:
            self.finish()
        finally:
            if self._sqlite is not None:
                self._sqlite.close()
                self._sqlite = None
            if self._marks is not None:
                self._marks.close()
                self._marks = None


class _SQLiteMarks:
    """'sent' marks on SQLite: one autocommit statement on a driver connection of its own.

    It runs inside the MAIL FROM round trip, so it must be shorter than that (~0.3 ms):
    through SQLAlchemy (BEGIN IMMEDIATE, UPDATE, COMMIT as three statements) a mark cost
    0.2-0.35 ms and often outlasted it (bench/README.md). The statement is _MARK_SENT
    compiled once, its parameters converted by the columns' own bind processors.
    """

    def __init__(self, engine: sa.Engine) -> None:
        dialect = engine.dialect
        compiled = _MARK_SENT.compile(dialect=dialect)
        self._sql = compiled.string
        self._order = list(compiled.positiontup or ())
        self._fixed = dict(compiled.params)
        self._process = {
            name: compiled.binds[name].type.bind_processor(dialect) for name in self._order
        }
        # The engine's connections are in autocommit mode at the driver (isolation_level
        # None, crm.database): the single UPDATE is its own transaction, and it waits for
        # the write lock up to busy_timeout like any other.
        self._raw = engine.raw_connection()

    def write(self, params: dict[str, Any]) -> None:
        values = {**self._fixed, **params}
        args = [
            process(values[name]) if (process := self._process[name]) else values[name]
            for name in self._order
        ]
        n = self._raw.driver_connection.execute(self._sql, args).rowcount
        _check_recorded(n, params["b_id"])

    def close(self) -> None:
        self._raw.close()


class _PostgresMarks:
    """'sent' marks handed to PostgreSQL without waiting for them, collected later.

    libpq's asynchronous command processing (psycopg's documented `pq` wrapper): send()
    queues the prepared UPDATE on a connection of its own in autocommit mode and returns at
    once; the server executes and commits it (WAL flush included) while the sender talks
    SMTP; wait() reads the result. No thread: a worker thread for the commit held the GIL
    for its Python work while the main thread wanted it to answer the SMTP server, and one
    sender reached 65 % of the bare loop (79 % with the statement on the raw driver
    connection; bench/README.md).
    """

    _NAME = "crm_mark_sent"

    @staticmethod
    def supports(engine: sa.Engine) -> bool:
        return engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg"

    def __init__(self, engine: sa.Engine) -> None:
        from sqlalchemy.dialects import postgresql

        compiled = _MARK_SENT.compile(dialect=postgresql.dialect(paramstyle="numeric_dollar"))
        order = list(compiled.positiontup or ())
        fixed = {k: v for k, v in compiled.params.items() if not k.startswith("b_")}
        self._template = [_pg_text(fixed[name]) if name in fixed else None for name in order]
        self._slots = [(i, name) for i, name in enumerate(order) if name not in fixed]
        self._name = self._NAME.encode()
        self._raw = engine.raw_connection()
        try:
            driver = self._raw.driver_connection
            driver.autocommit = True
            driver.execute(f"PREPARE {self._NAME} AS {compiled.string}")
        except Exception:
            self._raw.invalidate()
            raise
        self._pgconn = driver.pgconn
        self._pending: int | None = None

    def send(self, params: dict[str, Any]) -> None:
        # Runs while the server answers MAIL FROM, beside the sender's other work there:
        # kept to a few µs (the constant parameters are encoded once, in __init__).
        self.wait()
        args = self._template.copy()
        for index, name in self._slots:
            args[index] = _pg_text(params[name])
        pgconn = self._pgconn
        pgconn.send_query_prepared(self._name, args)
        while pgconn.flush():  # 1: not all sent yet (a full socket buffer)
            if not select.select([], [pgconn.socket], [], 30)[1]:
                from psycopg import OperationalError

                raise OperationalError("PostgreSQL did not take the 'sent' mark in 30 s")
        self._pending = params["b_id"]

    def wait(self) -> None:
        """Return once the pending mark is committed; raise if it failed."""
        if self._pending is None:
            return
        from psycopg import OperationalError, pq

        delivery_id, self._pending = self._pending, None
        pgconn = self._pgconn
        rows, error = 0, ""
        while True:
            pgconn.consume_input()
            while pgconn.is_busy():
                select.select([pgconn.socket], [], [])
                pgconn.consume_input()
            result = pgconn.get_result()
            if result is None:
                break
            if result.status == pq.ExecStatus.COMMAND_OK:
                rows = int(result.command_tuples or 0)
            else:
                error = (result.error_message or b"").decode("utf-8", "replace")
        if error:
            raise OperationalError(f"recording delivery {delivery_id} as sent failed: {error}")
        _check_recorded(rows, delivery_id)

    def close(self) -> None:
        raw, self._raw = self._raw, None
        if raw is None:
            return
        try:
            self.wait()
            driver = raw.driver_connection
            driver.execute(f"DEALLOCATE {self._NAME}")
            driver.autocommit = False
        except Exception:
            raw.invalidate()
            raise
        finally:
            raw.close()


def _pg_text(value: Any) -> bytes | None:
    """A parameter in PostgreSQL's text format (the statement casts each one)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat().encode()
    return str(value).encode()


def _set_errors(session: Session, campaign_id: int, n: int) -> None:
    table = Campaign.__table__
    session.execute(sa.update(table).where(table.c.id == campaign_id).values(consecutive_errors=n))
    session.commit()


def _send_one(
    transport: Transport,
    settings: SenderSettings,
    worker: str,
    clock: Callable[[], datetime],
    row: OutboxRow,
    message: RawMessage | str,
    outcomes: _Outcomes,
    build_next: Callable[[], None],
) -> str:
    """Send one claimed row and record the outcome: sent, deferred, failed or config."""
    attempts = row.attempts
    if isinstance(message, str):
        outcomes.mark_now(row.id, _failed(clock(), attempts + 1, None, message))
        return "failed"
    try:
        result = transport.send_raw(
            message,
            on_mail_sent=outcomes.start,
            before_data_end=outcomes.finish,
            on_data_sent=build_next,
        )
    except TemporaryMailError as exc:
        now = clock()
        attempts += 1
        if attempts >= settings.max_attempts:
            outcomes.mark_now(row.id, _failed(now, attempts, exc.code, str(exc)))
            return "failed"
        outcomes.mark_now(
            row.id,
            {
                "status": "queued",
                "attempts": attempts,
                "next_attempt_at": now + settings.backoff(attempts),
                "claimed_at": None,
                "smtp_code": exc.code,
                "last_error": str(exc)[:2000],
                "updated_at": now,
            },
        )
        log.info("delivery %s deferred: %s", row.id, exc)
        return "deferred"
    except PermanentMailError as exc:
        outcomes.mark_now(row.id, _failed(clock(), attempts + 1, exc.code, str(exc)))
        return "failed"
    except MailError as exc:
        # Configuration (login, TLS): not this message's fault; it goes back unchanged.
        outcomes.mark_now(
            row.id,
            {
                "status": "queued",
                "claimed_at": None,
                "last_error": str(exc)[:2000],
                "updated_at": clock(),
            },
        )
        log.error("newsletter sending stopped: %s", exc)
        return "config"
    outcomes.hold(row.id, attempts + 1, clock(), result)
    return "sent"


def _failed(now: datetime, attempts: int, code: int | None, reason: str) -> dict[str, Any]:
    return {
        "status": "failed",
        "attempts": attempts,
        "claimed_at": None,
        "smtp_code": code,
        "last_error": reason[:2000],
        "updated_at": now,
    }


@dataclass(frozen=True)
class _ListCopy:
    """The campaign's list as plain values (an ORM row would reload after every commit)."""

    id: int
    name: str
    slug: str
    from_name: str
    reply_to: str


class _CampaignMessages:
    """Builds one campaign's messages: sandboxed rendering, then the bulk message builder."""

    def __init__(self, session: Session, campaign: Campaign, config: Mapping[str, Any]) -> None:
        from crm.newsletters.service import MailSettings, campaign_message_builder

        self.session = session
        self.campaign_id = campaign.id
        lst = campaign.newsletter_list
        self.newsletter_list = _ListCopy(lst.id, lst.name, lst.slug, lst.from_name, lst.reply_to)
        # The campaign's own copy of subject and bodies (a plain snapshot, not the ORM row).
        self.template = _TemplateCopy(campaign.subject, campaign.body_html, campaign.body_text)
        self.settings = MailSettings.from_config(config)
        self.builder = campaign_message_builder(self.settings, self.newsletter_list, campaign.id)
        self.organisations: dict[int, str] = {}

    def prepare(self, rows: list[OutboxRow]) -> None:
        """Look up the organisation names of a whole batch in one query."""
        from crm.newsletters.service import organisation_names

        self.organisations = organisation_names(self.session, [row.person_id for row in rows])

    def __call__(self, row: OutboxRow) -> RawMessage:
        from crm.newsletters.rendering import render_for_recipient
        from crm.newsletters.service import recipient_context, unsubscribe_headers

        person = row.person
        context = recipient_context(
            self.settings,
            person,
            self.newsletter_list,
            organisation=self.organisations.get(person.id, ""),
            campaign_id=self.campaign_id,
        )
        rendered = render_for_recipient(self.template, context)
        return self.builder.build(
            to=(f"{person.first_name} {person.last_name}".strip(), row.email),
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html or None,
            headers=unsubscribe_headers(
                self.settings, person, self.newsletter_list, context["abmelde_link"]
            ),
        )


@dataclass(frozen=True)
class _TemplateCopy:
    subject: str
    body_html: str
    body_text: str


def factory_builder_from_config(config: Mapping[str, Any]) -> FactoryBuilder:
    """The message factory of campaigns: sandboxed rendering, List-Unsubscribe, List-Id."""
    return lambda session, campaign: _CampaignMessages(session, campaign, config)


def run_outbox(app: Any, *, max_messages: int | None = None) -> SendReport:
    """Send due newsletter rows with the app's transport and settings (scheduler, CLI)."""
    from crm.audit.service import Actor, acting_as
    from crm.extensions import db
    from crm.mail import transport_from_config

    with app.app_context(), acting_as(Actor(None, "newsletter-sender")):
        return send_outbox(
            db.session,
            transport_from_config(app.config),
            factory_builder_from_config(app.config),
            SenderSettings.from_config(app.config),
            max_messages=max_messages,
        )

"""The sender: delivers what the DeliveryStores (crm.mail.store) hold, over plain smtplib.

One loop per SMTP connection: claim a batch from the first store that has due rows, then for
each row build the message, send it, write the outcome and commit; repeat until no store
has anything due. Each connection has one builder thread that renders the next message
while the current one waits for the relay's answer (building has no side effects).
`CRM_NEWSLETTER_CONNECTIONS` such loops run side by side, each on its own thread with its
own database session and SMTP connection; they share the claim (leases, and `SKIP LOCKED`
on PostgreSQL), one global throttle (`CRM_NEWSLETTER_RATE` messages per second over all
connections) and the message budget.

Leases: a claim sets status 'sending', claimed_at and claimed_by. A live sender renews
claimed_at of the rows it still holds every third of the lease (between messages), so a slow
relay never lets another sender take them; rows of a sender that died come back after
`CRM_NEWSLETTER_LEASE_SECONDS`. Rows claimed and not tried are given back at once when a
loop ends, also after a lost database connection if the database answers again shortly.

Crash windows (SIGKILL at any point):
- during a claim: the transaction rolls back, nothing happened;
- after a claim, before a send: the rows come back after the lease, nobody is skipped;
- after the server accepted a message, before its 'sent' commit: that one row comes back
  after the lease and is mailed again, with the same Message-ID (derived from the row).
  Each outcome is committed before the next message is sent, so at most one row per
  connection is in this window.

Failures: a 4xx or a lost connection defers the row (attempts + 1, next attempt after an
exponential back-off) and makes the connection wait (exponential with jitter, capped) before
it tries again; a 5xx fails the row with the server's answer. A group (a campaign) is
paused only when no message has been accepted for `CRM_NEWSLETTER_PAUSE_AFTER_SECONDS`, or
after `CRM_NEWSLETTER_MAX_CONSECUTIVE_ERRORS` permanent refusals in a row; a group paused on
errors resumes on a later run once a test connection to the relay succeeds.
"""

from __future__ import annotations

import contextvars
import logging
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from crm.database import utcnow
from crm.mail.message import RawMessage
from crm.mail.store import Claimed, DeliveryStore, stores_for
from crm.mail.transports import (
    MailError,
    PermanentMailError,
    TemporaryMailError,
    Transport,
    transport_from_config,
)

__all__ = ["SendReport", "SenderSettings", "run_outbox", "send_outbox", "send_parallel"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SenderSettings:
    """Tuning of the sender (CRM_NEWSLETTER_* settings)."""

    rate: float = 0.0  # messages per second over all connections; 0 = no limit
    batch: int = 100  # rows per claim
    connections: int = 2
    lease: timedelta = timedelta(minutes=5)
    max_attempts: int = 8
    # Row back-off after a temporary failure: base · 2^(attempts − 1), capped.
    backoff_base: timedelta = timedelta(minutes=1)
    backoff_max: timedelta = timedelta(hours=6)
    # Connection back-off after a temporary failure: base · 2^n with jitter, capped.
    connection_backoff: float = 0.5
    connection_backoff_max: float = 30.0
    pause_after: timedelta = timedelta(minutes=10)
    max_consecutive_errors: int = 10  # permanent refusals in a row that pause a campaign
    db_retry: float = 5.0  # seconds to get the database back to give claimed rows back

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SenderSettings:
        """Read the CRM_NEWSLETTER_* settings (empty means the default)."""

        def number(key: str, default: float) -> float:
            value = config.get(key)
            return default if value in (None, "") else float(value)

        return cls(
            rate=max(number("CRM_NEWSLETTER_RATE", 0.0), 0.0),
            batch=max(int(number("CRM_NEWSLETTER_BATCH", 100)), 1),
            connections=max(int(number("CRM_NEWSLETTER_CONNECTIONS", 2)), 1),
            lease=timedelta(seconds=max(number("CRM_NEWSLETTER_LEASE_SECONDS", 300), 1)),
            max_attempts=max(int(number("CRM_NEWSLETTER_MAX_ATTEMPTS", 8)), 1),
            backoff_base=timedelta(seconds=max(number("CRM_NEWSLETTER_BACKOFF_SECONDS", 60), 0)),
            connection_backoff=max(number("CRM_NEWSLETTER_CONNECTION_BACKOFF_SECONDS", 0.5), 0),
            connection_backoff_max=max(
                number("CRM_NEWSLETTER_CONNECTION_BACKOFF_MAX_SECONDS", 30), 0
            ),
            pause_after=timedelta(
                seconds=max(number("CRM_NEWSLETTER_PAUSE_AFTER_SECONDS", 600), 0)
            ),
            max_consecutive_errors=max(int(number("CRM_NEWSLETTER_MAX_CONSECUTIVE_ERRORS", 10)), 1),
        )

    def claim_size(self) -> int:
        """A batch, but no more than a throttled sender sends in a quarter of the lease."""
        if not self.rate:
            return self.batch
        return max(1, min(self.batch, int(self.rate * self.lease.total_seconds() / 4)))

    def backoff(self, attempts: int) -> timedelta:
        """Wait before attempt number attempts + 1."""
        return min(self.backoff_base * (2 ** max(attempts - 1, 0)), self.backoff_max)


@dataclass
class SendReport:
    """What one run did. `error` is set when it stopped on errors (the CLI exits non-zero)."""

    sent: int = 0
    failed: int = 0
    deferred: int = 0
    paused: list[int] = field(default_factory=list)
    resumed: list[int] = field(default_factory=list)
    finished: list[int] = field(default_factory=list)
    error: str = ""

    def __str__(self) -> str:
        text = (
            f"sent={self.sent} failed={self.failed} deferred={self.deferred} "
            f"paused={self.paused} finished={self.finished}"
        )
        if self.resumed:
            text += f" resumed={self.resumed}"
        return text + (f" error={self.error}" if self.error else "")


def new_worker_id() -> str:
    """A name for this sender that no other sender shares (stored in claimed_by)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class _Throttle:
    """Spaces sends to `rate` per second over all threads (0 = off), without drift."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.next_at = time.monotonic()
        self.lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self.lock:
            now = time.monotonic()
            # After a stall (back-off, a slow server) do not burst to catch up.
            slot = max(self.next_at, now - self.interval)
            self.next_at = slot + self.interval
        if slot > now:
            time.sleep(slot - now)


class _Run:
    """What the connections of one run share."""

    def __init__(self, settings: SenderSettings, max_messages: int | None) -> None:
        self.settings = settings
        self.report = SendReport()
        self.throttle = _Throttle(settings.rate)
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.budget = -1 if max_messages is None else max_messages
        self.last_success: float | None = None  # no message accepted yet in this run
        self.permanent_in_a_row = 0
        self.given_back = 0  # rows given back after a lost database; -1: not all could be
        self.db_lost = False

    def done(self) -> bool:
        """True once the run stopped or its budget is used up."""
        return self.stop.is_set() or self.budget == 0

    def take(self) -> bool:
        """One message from the budget; False when it is used up."""
        with self.lock:
            if self.budget == 0:
                return False
            if self.budget > 0:
                self.budget -= 1
            return True

    def count(self, outcome: str) -> None:
        with self.lock:
            setattr(self.report, outcome, getattr(self.report, outcome) + 1)
            if outcome == "sent":
                self.last_success = time.monotonic()
                self.permanent_in_a_row = 0
            elif outcome == "failed":
                self.permanent_in_a_row += 1

    def recent_success(self) -> bool:
        if self.last_success is None:
            return False
        return time.monotonic() - self.last_success < self.settings.pause_after.total_seconds()

    def guarded(self, *steps: Callable[[], None]) -> SendReport:
        """Run the steps until one fails the run; a lost database ends it with one log
        line (connections that lose it give their rows back and say nothing more)."""
        for step in steps:
            if self.stop.is_set():
                break
            try:
                step()
            except sa.exc.DBAPIError as exc:
                self.database_lost(exc)
        if self.db_lost:
            self.log_database_loss()
        return self.report

    def database_lost(self, exc: BaseException) -> None:
        self.db_lost = True
        self.fail_run(f"database connection lost: {_first_line(exc)}")

    def log_database_loss(self) -> None:
        """The one log line of a run that lost its database."""
        log.error(
            "mail sender stopped: %s; %s",
            self.report.error,
            "claimed rows given back"
            if self.given_back >= 0
            else "claimed rows come back after the lease",
        )

    def fail_run(self, error: str) -> None:
        with self.lock:
            if not self.report.error:
                self.report.error = error
        self.stop.set()


class _Backoff:
    """A connection's wait after temporary failures: exponential with jitter, capped."""

    def __init__(self, base: float, cap: float) -> None:
        self.base, self.cap, self.failures = base, cap, 0

    def wait(self, stop: threading.Event) -> None:
        delay = min(self.cap, self.base * 2**self.failures)
        self.failures += 1
        if delay > 0:
            stop.wait(delay * random.uniform(0.5, 1.0))  # noqa: S311 - jitter, not security

    def reset(self) -> None:
        self.failures = 0


def send_outbox(
    session: Session,
    transport: Transport,
    stores: Sequence[DeliveryStore],
    settings: SenderSettings | None = None,
    *,
    worker: str | None = None,
    clock: Callable[[], datetime] = utcnow,
    max_messages: int | None = None,
) -> SendReport:
    """Deliver everything due over one connection in this thread, with `session`."""
    run = _Run(settings or SenderSettings(), max_messages)
    worker = worker or new_worker_id()
    return run.guarded(
        lambda: _check_relay(run, session, transport, stores, clock),
        lambda: _Connection(run, session, transport, stores, worker, clock).run(),
        lambda: _finish(run, session, stores, clock),
    )


def send_parallel(
    engine: sa.Engine,
    make_transport: Callable[[], Transport],
    make_stores: Callable[[], Sequence[DeliveryStore]],
    settings: SenderSettings | None = None,
    *,
    connections: int | None = None,
    clock: Callable[[], datetime] = utcnow,
    max_messages: int | None = None,
) -> SendReport:
    """Deliver everything due over `connections` SMTP connections, one thread and one
    database session each."""
    run = _Run(settings or SenderSettings(), max_messages)
    worker = new_worker_id()
    n = max(connections or run.settings.connections, 1)

    def connection(number: int) -> None:
        # The session keeps one database connection for the whole loop: a commit per
        # message would otherwise return it to the pool and check it out again each time.
        with engine.connect() as conn, Session(bind=conn) as own:
            _Connection(
                run, own, make_transport(), make_stores(), f"{worker}/{number}", clock
            ).run()

    def connections_() -> None:
        threads = [
            threading.Thread(
                target=contextvars.copy_context().run,
                args=(connection, number),
                name=f"sender-{number}",
            )
            for number in range(1, n + 1)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    with Session(engine) as session:
        stores = make_stores()
        return run.guarded(
            lambda: _check_relay(run, session, make_transport(), stores, clock),
            connections_,
            lambda: _finish(run, session, stores, clock),
        )


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _check_relay(
    run: _Run,
    session: Session,
    transport: Transport,
    stores: Sequence[DeliveryStore],
    clock: Callable[[], datetime],
) -> None:
    """Resume groups paused on errors once a test connection to the relay succeeds."""
    waiting = [store for store in stores if store.waiting_for_relay(session)]
    session.commit()
    if not waiting:
        return
    try:
        transport.check()
    except MailError as exc:
        log.warning("mail relay still not available: %s", exc)
        run.fail_run(f"mail relay not available: {exc}")
        return
    finally:
        transport.close()
    for store in waiting:
        run.report.resumed += store.relay_back(session, clock())


def _finish(
    run: _Run, session: Session, stores: Sequence[DeliveryStore], clock: Callable[[], datetime]
) -> None:
    for store in stores:
        run.report.finished += store.finish(session, clock())


class _Connection:
    """One SMTP connection's loop."""

    def __init__(
        self,
        run: _Run,
        session: Session,
        transport: Transport,
        stores: Sequence[DeliveryStore],
        worker: str,
        clock: Callable[[], datetime],
    ) -> None:
        self.run_state = run
        self.settings = run.settings
        self.session = session
        self.transport = transport
        self.stores = stores
        self.worker = worker
        self.clock = clock
        self.backoff = _Backoff(
            run.settings.connection_backoff, run.settings.connection_backoff_max
        )
        # The batch in hand: rows claimed and not yet tried.
        self.store: DeliveryStore | None = None
        self.pending: dict[int, Claimed] = {}
        self.unrecorded: Callable[[], bool] | None = None  # an outcome not yet committed
        self.db_lost = False
        self.builder = ThreadPoolExecutor(1, thread_name_prefix=f"build-{worker}")

    def run(self) -> None:
        try:
            while not self.run_state.done() and self._claim():
                self._send_batch()
        except sa.exc.DBAPIError as exc:
            self.db_lost = True
            self.run_state.database_lost(exc)
            given_back = self._give_back_after_loss()
            with self.run_state.lock:
                self.run_state.given_back = (
                    -1
                    if given_back < 0 or self.run_state.given_back < 0
                    else self.run_state.given_back + given_back
                )
        finally:
            self.builder.shutdown(cancel_futures=True)
            self.transport.close()
            if self.pending and self.store is not None and not self.db_lost:
                self.store.release(self.session, self.worker, list(self.pending))

    def _claim(self) -> bool:
        for store in self.stores:
            items = store.claim(self.session, self.worker, self.clock(), self.settings.claim_size())
            if items:
                self.store, self.pending = store, {item.id: item for item in items}
                return True
        return False

    def _send_batch(self) -> None:
        store = self.store
        assert store is not None
        items = list(self.pending.values())
        built: dict[int, Future[RawMessage]] = {}
        renewed = time.monotonic()
        try:
            for index, item in enumerate(items):
                if item.id not in self.pending:
                    continue  # its group stopped meanwhile, or its lease was lost
                if self.run_state.stop.is_set() or not self.run_state.take():
                    break
                if time.monotonic() - renewed > self.settings.lease.total_seconds() / 3:
                    self._heartbeat(store)
                    renewed = time.monotonic()
                    if item.id not in self.pending:
                        continue
                message = built.pop(item.id, None) or self._build(store, item)
                following = next((i for i in items[index + 1 :] if i.id in self.pending), None)
                if following is not None:
                    built[following.id] = self._build(store, following)
                self._send_one(store, item, message)
        finally:
            for future in built.values():
                future.cancel()
        if self.pending:
            store.release(self.session, self.worker, list(self.pending))
            self.pending = {}

    def _build(self, store: DeliveryStore, item: Claimed) -> Future[RawMessage]:
        """Build a message on the connection's builder thread.

        The loop asks for the next message before it sends the current one, so rendering
        overlaps the wait for the relay's answer instead of adding to it. Building has no
        side effects (the store loaded what it needs at the claim), so a message built and
        not sent changes nothing.
        """
        return self.builder.submit(contextvars.copy_context().run, store.message, item)

    def _heartbeat(self, store: DeliveryStore) -> None:
        kept = store.renew(self.session, self.worker, list(self.pending), self.clock())
        lost = set(self.pending) - kept
        if lost:
            log.warning("sender %s lost the lease of %d rows", self.worker, len(lost))
        for item_id in lost:
            del self.pending[item_id]
        for group in {item.group for item in self.pending.values()}:
            if not store.active(self.session, group):
                self._drop_group(store, group)
        self.session.commit()

    def _drop_group(self, store: DeliveryStore, group: int) -> None:
        ids = [i for i, item in self.pending.items() if item.group == group]
        store.release(self.session, self.worker, ids)
        for item_id in ids:
            del self.pending[item_id]

    def _send_one(self, store: DeliveryStore, item: Claimed, built: Future[RawMessage]) -> None:
        session, worker, run = self.session, self.worker, self.run_state
        try:
            raw = built.result()
        except ValueError as exc:  # an address, header or template the builder refuses
            del self.pending[item.id]
            now, error = self.clock(), str(exc)
            self._record(lambda: store.fail(session, item, worker, now, None, error))
            run.count("failed")
            return
        run.throttle.wait()
        try:
            result = self.transport.send_raw(raw)
        except TemporaryMailError as exc:
            del self.pending[item.id]
            now = self.clock()
            code, error = exc.code, str(exc)
            if item.attempts + 1 >= self.settings.max_attempts:
                self._record(lambda: store.fail(session, item, worker, now, code, error))
                run.count("failed")
            else:
                retry_at = now + self.settings.backoff(item.attempts + 1)
                self._record(lambda: store.defer(session, item, worker, now, retry_at, code, error))
                run.count("deferred")
            log.info("%s %s deferred: %s", store.name, item.id, exc)
            self._after_failure(store, item, str(exc), self.settings.pause_after)
            self.backoff.wait(run.stop)
        except PermanentMailError as exc:
            del self.pending[item.id]
            now, code, error = self.clock(), exc.code, str(exc)
            self._record(lambda: store.fail(session, item, worker, now, code, error))
            run.count("failed")
            if run.permanent_in_a_row >= self.settings.max_consecutive_errors:
                self._after_failure(store, item, error, timedelta(0), refused=True)
        except MailError as exc:
            # Configuration (login, TLS): no message is at fault; everything goes back.
            log.error("sending stopped: %s", exc)
            run.fail_run(str(exc))
        else:
            del self.pending[item.id]
            now = self.clock()
            if not self._record(lambda: store.mark_sent(session, item, worker, now, result)):
                log.warning("%s %s: lease lost before 'sent' was recorded", store.name, item.id)
            run.count("sent")
            self.backoff.reset()
            store.on_success(session, item.group, self.clock())

    def _record(self, write: Callable[[], bool]) -> bool:
        """Write an outcome; kept until committed so that, if the database goes away
        meanwhile, the recovery writes it and the next run need not wait for the lease of a
        row whose fate is known."""
        self.unrecorded = write
        recorded = write()
        self.unrecorded = None
        return recorded

    def _after_failure(
        self,
        store: DeliveryStore,
        item: Claimed,
        reason: str,
        pause_after: timedelta,
        *,
        refused: bool = False,
    ) -> None:
        recent = self.run_state.recent_success() if pause_after else False
        if store.on_failure(
            self.session,
            item.group,
            self.clock(),
            reason,
            pause_after,
            recent_success=recent,
            refused=refused,
        ):
            with self.run_state.lock:
                self.run_state.report.paused.append(item.group)
            self.run_state.fail_run(f"paused after errors: {reason}")
            self._drop_group(store, item.group)

    def _give_back_after_loss(self) -> int:
        """Record the outcome in flight and give the untried rows back if the database
        answers again within db_retry seconds; -1 if it does not (the lease brings them
        back)."""
        if self.store is None or not (self.pending or self.unrecorded):
            return 0
        deadline = time.monotonic() + self.settings.db_retry
        while True:
            try:
                self.session.rollback()
                if self.unrecorded is not None:
                    self.unrecorded()
                    self.unrecorded = None
                n = self.store.release(self.session, self.worker, list(self.pending))
                self.pending = {}
                return n
            except sa.exc.DBAPIError:
                if time.monotonic() >= deadline:
                    self.pending, self.unrecorded = {}, None
                    return -1
                time.sleep(0.5)


def run_outbox(
    app: Any, *, max_messages: int | None = None, connections: int | None = None
) -> SendReport:
    """Deliver the due mail of every store (outbox, campaigns) with the app's transport and
    settings (scheduler job send-outbox, `flask crm send-outbox`)."""
    from crm.audit.service import Actor, acting_as
    from crm.extensions import db

    with app.app_context(), acting_as(Actor(None, "mail-sender")):
        config = app.config
        return send_parallel(
            db.engine,
            lambda: transport_from_config(config),
            lambda: stores_for(config),
            SenderSettings.from_config(config),
            connections=connections,
            max_messages=max_messages,
        )

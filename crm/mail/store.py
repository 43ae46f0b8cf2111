"""The sender's storage seam: where claimed messages come from and where outcomes go.

The sender (crm.mail.sender) knows nothing about campaigns or the outbox table; it talks to
`DeliveryStore`s. Each store owns one table with the shared lifecycle columns (status,
attempts, next_attempt_at, claimed_at, claimed_by, sent_at, message_id, smtp_code,
last_error, updated_at) and writes through the ORM session only. `DeliveryStore` implements
the lifecycle once; a store adds how a message is built and, if it needs to, which rows are
due and what its groups (campaigns) do on success and failure.

Stores come from the `delivery_stores` signal: `delivery_stores.send(config)` returns one new
store per receiver. crm.mail connects the outbox store; crm.newsletters connects its campaign
store, so crm.mail never imports crm.newsletters.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.parser import BytesHeaderParser
from email.utils import getaddresses
from typing import Any

import sqlalchemy as sa
from blinker import Namespace
from sqlalchemy.orm import Session

from crm.database import ids_in, rows_affected
from crm.mail.message import RawMessage
from crm.mail.models import OutgoingMail
from crm.mail.transports import SendResult

__all__ = [
    "Claimed",
    "DeliveryStore",
    "OutboxStore",
    "delivery_stores",
    "stores_for",
]

_signals = Namespace()
delivery_stores = _signals.signal("delivery-stores")
"""`send(config)`: each receiver returns a new DeliveryStore (one per sender connection)."""


@dataclass(slots=True)
class Claimed:
    """One claimed row: its id, attempts so far, its group (a campaign id; 0 for none) and
    whatever its store needs to build the message."""

    id: int
    attempts: int
    group: int = 0
    data: Any = None


class DeliveryStore(ABC):
    """What the sender needs of a table of messages to send, implemented once for a table
    with the shared lifecycle columns; a store adds how a message is built (`message`) and,
    where it needs them, which rows are due, the group hooks and a status for given-back
    rows. The no-op group hooks suit a table without groups.

    Every method that writes commits before it returns; `message` only reads. Outcomes are
    written only while the row is still claimed by `worker` (a sender that lost its lease
    must not overwrite another sender's outcome).
    """

    name = ""
    table: sa.Table

    def __init__(self, config: Mapping[str, Any], lease: timedelta) -> None:
        self.config = config
        self.lease = lease
        self._outcome_statements: dict[tuple[str, ...], sa.Update] = {}

    # What a subclass decides.

    def candidates(self, session: Session, now: datetime, limit: int) -> list[int]:
        """The ids of up to `limit` due rows in the order they should go out, locked with
        `FOR UPDATE SKIP LOCKED` on PostgreSQL so concurrent senders get different rows."""
        t = self.table
        query = (
            sa.select(t.c.id)
            .where(t.c.status == "queued", t.c.next_attempt_at <= now)
            .order_by(t.c.id)
            .limit(limit)
        )
        if _dialect(session) == "postgresql":
            query = query.with_for_update(skip_locked=True)
        return list(session.scalars(query))

    def load(self, session: Session, ids: list[int]) -> list[Claimed]:
        """Claimed items for the ids (one query)."""
        t = self.table
        rows = session.execute(
            sa.select(t.c.id, t.c.attempts).where(ids_in(t.c.id, ids, _dialect(session)))
        )
        return sorted((Claimed(r.id, r.attempts) for r in rows), key=lambda c: c.id)

    def released_status(self) -> Any:
        """The status of a row given back."""
        return "queued"

    @abstractmethod
    def message(self, item: Claimed) -> RawMessage:
        """The message for a claimed row; ValueError if it cannot be built.

        Runs on the sender's builder thread, without a database session: `load` gathers
        everything a message needs when the rows are claimed."""

    # The lifecycle.

    def claim(self, session: Session, worker: str, now: datetime, limit: int) -> list[Claimed]:
        """Lease due rows in one transaction (on SQLite its write lock serialises claims)."""
        self.reclaim_expired(session, now, self.lease, commit=False)
        ids = self.candidates(session, now, limit)
        items: list[Claimed] = []
        if ids:
            t = self.table
            session.execute(
                sa.update(t)
                .where(ids_in(t.c.id, ids, _dialect(session)))
                .values(status="sending", claimed_at=now, claimed_by=worker, updated_at=now)
            )
            items = self.load(session, ids)
        session.commit()
        return items

    def renew(self, session: Session, worker: str, ids: Sequence[int], now: datetime) -> set[int]:
        """Heartbeat: move claimed_at to now for our rows; return the ids still ours."""
        if not ids:
            return set()
        t = self.table
        mine = sa.and_(
            ids_in(t.c.id, list(ids), _dialect(session)),
            t.c.status == "sending",
            t.c.claimed_by == worker,
        )
        n = rows_affected(session.execute(sa.update(t).where(mine).values(claimed_at=now)))
        kept = set(ids) if n == len(ids) else set(session.scalars(sa.select(t.c.id).where(mine)))
        session.commit()
        return kept

    def _outcome(self, session: Session, item_id: int, worker: str, **values: Any) -> bool:
        """Write an outcome if the row is still ours; commit.

        The UPDATE is built once per set of column names and executed with bound
        parameters: building a Core statement (coercion, cache key) cost more CPU per
        message than the write itself, and this runs once for every message sent. Values
        that are SQL expressions (a store's `released_status`) become part of the statement;
        they must not vary between calls.
        """
        key = tuple(sorted(values))
        statement = self._outcome_statements.get(key)
        if statement is None:
            t = self.table
            columns = {
                name: value if isinstance(value, sa.ColumnElement) else sa.bindparam(f"v_{name}")
                for name, value in values.items()
            }
            statement = self._outcome_statements[key] = (
                sa.update(t)
                .where(
                    t.c.id == sa.bindparam("w_id"),
                    t.c.status == "sending",
                    t.c.claimed_by == sa.bindparam("w_worker"),
                )
                .values(claimed_by="", claimed_at=None, **columns)
            )
        params = {
            f"v_{name}": value
            for name, value in values.items()
            if not isinstance(value, sa.ColumnElement)
        }
        n = rows_affected(
            session.execute(statement, {"w_id": item_id, "w_worker": worker, **params})
        )
        session.commit()
        return n == 1

    def mark_sent(
        self, session: Session, item: Claimed, worker: str, now: datetime, result: SendResult
    ) -> bool:
        """Record the acceptance (Message-ID, time, reply code) if the row is still ours."""
        return self._outcome(
            session,
            item.id,
            worker,
            status="sent",
            attempts=item.attempts + 1,
            sent_at=now,
            message_id=(result.message_id or "")[:255],
            smtp_code=result.code,
            last_error="",
            updated_at=now,
        )

    def defer(
        self,
        session: Session,
        item: Claimed,
        worker: str,
        now: datetime,
        retry_at: datetime,
        code: int | None,
        error: str,
    ) -> bool:
        """Back to the queue for `retry_at`, one attempt more."""
        return self._outcome(
            session,
            item.id,
            worker,
            status=self.released_status(),
            attempts=item.attempts + 1,
            next_attempt_at=retry_at,
            smtp_code=code,
            last_error=error[:2000],
            updated_at=now,
        )

    def fail(
        self,
        session: Session,
        item: Claimed,
        worker: str,
        now: datetime,
        code: int | None,
        error: str,
    ) -> bool:
        """Failed for good with the server's answer."""
        return self._outcome(
            session,
            item.id,
            worker,
            status="failed",
            attempts=item.attempts + 1,
            smtp_code=code,
            last_error=error[:2000],
            updated_at=now,
        )

    def release(self, session: Session, worker: str, ids: Iterable[int] | None = None) -> int:
        """Give back rows `worker` claimed and did not send; commit."""
        t = self.table
        query = sa.update(t).where(t.c.status == "sending", t.c.claimed_by == worker)
        if ids is not None:
            ids = list(ids)
            if not ids:
                return 0
            query = query.where(ids_in(t.c.id, ids, _dialect(session)))
        n = rows_affected(
            session.execute(
                query.values(status=self.released_status(), claimed_at=None, claimed_by="")
            )
        )
        session.commit()
        return n

    def reclaim_expired(
        self, session: Session, now: datetime, lease: timedelta, *, commit: bool = True
    ) -> int:
        """Rows left 'sending' by a sender that stopped renewing its lease go back."""
        t = self.table
        n = rows_affected(
            session.execute(
                sa.update(t)
                .where(t.c.status == "sending", t.c.claimed_at < now - lease)
                .values(
                    status=self.released_status(), claimed_at=None, claimed_by="", updated_at=now
                )
            )
        )
        if commit:
            session.commit()
        return n

    # Groups (a campaign): none here.

    def active(self, session: Session, group: int) -> bool:
        """False once the group should no longer be sent (paused, cancelled)."""
        return True

    def on_success(self, session: Session, group: int, now: datetime) -> None:
        """A message of `group` was accepted."""
        return None

    def on_failure(
        self,
        session: Session,
        group: int,
        now: datetime,
        reason: str,
        pause_after: timedelta,
        *,
        recent_success: bool,
        refused: bool = False,
    ) -> bool:
        """A message of `group` failed. Stop the group (True) if it has had no success for
        `pause_after` and the sender had none recently either; `refused`: permanent
        refusals in a row, which a working relay does not cure (staff must look)."""
        return False

    def waiting_for_relay(self, session: Session) -> bool:
        """True if some group was stopped on errors and waits for the relay to come back."""
        return False

    def relay_back(self, session: Session, now: datetime) -> list[int]:
        """The relay answers again: continue the groups stopped on errors; their ids."""
        return []

    def finish(self, session: Session, now: datetime) -> list[int]:
        """Close groups that have nothing left to send; return their ids."""
        return []


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


class OutboxStore(DeliveryStore):
    """`mail_outbox` rows: the message bytes are stored, so building is parsing the envelope."""

    name = "outbox"
    table = OutgoingMail.__table__

    def load(self, session: Session, ids: list[int]) -> list[Claimed]:
        t = self.table
        rows = session.execute(
            sa.select(t.c.id, t.c.attempts, t.c.recipient, t.c.message, t.c.message_id)
            .where(ids_in(t.c.id, ids, _dialect(session)))
            .order_by(t.c.id)
        )
        return [Claimed(r.id, r.attempts, 0, (r.recipient, r.message, r.message_id)) for r in rows]

    def message(self, item: Claimed) -> RawMessage:
        """The stored bytes, with the envelope sender taken from their Sender or From."""
        recipient, data, message_id = item.data
        headers = BytesHeaderParser().parsebytes(data)
        sender = headers["Sender"] or headers["From"]
        addresses = getaddresses([str(sender)]) if sender else []
        if not addresses or "@" not in addresses[0][1]:
            raise ValueError("the stored message has no From address")
        return RawMessage(addresses[0][1], (recipient,), data, message_id or None)


def outbox_store(config: Mapping[str, Any]) -> OutboxStore:
    """The mail_outbox store (a delivery_stores receiver)."""
    return OutboxStore(config, lease_from_config(config))


def lease_from_config(config: Mapping[str, Any]) -> timedelta:
    """CRM_NEWSLETTER_LEASE_SECONDS (default 300) as a timedelta."""
    value = config.get("CRM_NEWSLETTER_LEASE_SECONDS")
    return timedelta(seconds=max(float(value), 1) if value not in (None, "") else 300)


def stores_for(config: Mapping[str, Any]) -> list[DeliveryStore]:
    """New stores from every connected domain, the outbox first (confirmations are urgent)."""
    stores = [store for _receiver, store in delivery_stores.send(config) if store is not None]
    return sorted(stores, key=lambda s: s.name != "outbox")

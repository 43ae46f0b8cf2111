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

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from crm.database import utcnow
from crm.mail import MailError, PermanentMailError, TemporaryMailError, Transport
from crm.newsletters.models import Campaign, Delivery

__all__ = [
    "MessageFactory",
    "SendReport",
    "SenderSettings",
    "finish_if_done",
    "release_claims",
    "send_outbox",
]

log = logging.getLogger(__name__)

# Builds the message for one delivery row of a campaign (prepared once per campaign).
MessageFactory = Callable[[Delivery], EmailMessage]
# Given the session and a campaign, returns that campaign's MessageFactory.
FactoryBuilder = Callable[[Session, Campaign], MessageFactory]


@dataclass(frozen=True)
class SenderSettings:
    """Tuning of the sender (CRM_NEWSLETTER_* settings)."""

    rate: float = 0.0  # messages per second per sender process; 0 = as fast as possible
    batch: int = 50
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
            batch=max(int(number("CRM_NEWSLETTER_BATCH", 50)), 1),
            lease=timedelta(seconds=max(number("CRM_NEWSLETTER_LEASE_SECONDS", 300), 1)),
            max_attempts=max(int(number("CRM_NEWSLETTER_MAX_ATTEMPTS", 8)), 1),
            max_consecutive_errors=max(int(number("CRM_NEWSLETTER_MAX_CONSECUTIVE_ERRORS", 10)), 1),
            backoff_base=timedelta(seconds=max(number("CRM_NEWSLETTER_BACKOFF_SECONDS", 60), 0)),
        )

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


def _claim(
    session: Session, campaign_id: int, worker: str, now: datetime, settings: SenderSettings
) -> list[int]:
    table = Delivery.__table__
    reclaim_expired(session, now, settings.lease)
    query = (
        sa.select(table.c.id)
        .where(
            table.c.campaign_id == campaign_id,
            table.c.status == "queued",
            table.c.next_attempt_at <= now,
        )
        .order_by(table.c.id)
        .limit(settings.batch)
    )
    if _is_postgres(session):
        query = query.with_for_update(skip_locked=True)
    ids = list(session.scalars(query))
    if ids:
        session.execute(
            sa.update(table)
            .where(table.c.id.in_(ids))
            .values(status="sending", claimed_at=now, claimed_by=worker, updated_at=now)
        )
    session.commit()
    return ids


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


def _load(session: Session, ids: list[int]) -> list[Delivery]:
    return list(
        session.scalars(
            sa.select(Delivery)
            .where(Delivery.id.in_(ids))
            .options(selectinload(Delivery.person))
            .order_by(Delivery.id)
        )
    )


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
    while budget[0] != 0:
        if _campaign_status(session, campaign_id) != "sending":
            session.commit()
            return
        claimed_at = clock()
        ids = _claim(session, campaign_id, worker, claimed_at, settings)
        if not ids:
            if finish_if_done(session, campaign_id, clock()):
                report.finished.append(campaign_id)
            return
        batch = _prepare(session, build, ids)
        pending = set(ids)
        stop = False
        for item in batch:
            # Never send a row whose lease could run out meanwhile (another sender would
            # then take it too): give the rest back and claim afresh.
            if budget[0] == 0 or claimed_at + settings.lease / 2 < clock():
                break
            throttle.wait()
            outcome = _send_one(session, transport, settings, worker, clock, item)
            pending.discard(item.id)
            if budget[0] > 0:
                budget[0] -= 1
            if outcome == "sent":
                report.sent += 1
                if consecutive:
                    consecutive = 0
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
                    sa.select(Delivery.last_error).where(Delivery.id == item.id)
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
        if pending:
            release_claims(session, worker, pending)
        if stop:
            return


@dataclass(frozen=True)
class _Item:
    """One claimed row with its message built (or the reason it cannot be built)."""

    id: int
    attempts: int
    message: EmailMessage | None
    error: str = ""


def _prepare(session: Session, build: MessageFactory, ids: list[int]) -> list[_Item]:
    """Load the claimed rows and build their messages before the first send.

    Built up front so the per-message commits (which expire ORM objects) never trigger
    reloads, and so the read transaction (on SQLite a write lock) ends before any SMTP
    traffic. Only this batch is in memory.
    """
    rows = _load(session, ids)
    prepare = getattr(build, "prepare", None)
    if prepare is not None:
        prepare(rows)
    items = []
    for row in rows:
        try:
            items.append(_Item(row.id, row.attempts, build(row)))
        except ValueError as exc:  # an address or header the message builder refuses
            items.append(_Item(row.id, row.attempts, None, str(exc)))
    # No strong references to the rows remain after this: the session's identity map is
    # weak, so each batch's objects are freed and memory stays flat over the campaign.
    del rows
    session.commit()
    return items


def _set_errors(session: Session, campaign_id: int, n: int) -> None:
    table = Campaign.__table__
    session.execute(sa.update(table).where(table.c.id == campaign_id).values(consecutive_errors=n))
    session.commit()


def _send_one(
    session: Session,
    transport: Transport,
    settings: SenderSettings,
    worker: str,
    clock: Callable[[], datetime],
    item: _Item,
) -> str:
    """Send one claimed row and record the outcome: sent, deferred, failed or config."""
    row_id, attempts, message = item.id, item.attempts, item.message
    if message is None:
        _mark(session, row_id, worker, _failed(clock(), attempts + 1, None, item.error))
        return "failed"
    try:
        result = transport.send(message)
    except TemporaryMailError as exc:
        now = clock()
        attempts += 1
        if attempts >= settings.max_attempts:
            _mark(session, row_id, worker, _failed(now, attempts, exc.code, str(exc)))
            return "failed"
        _mark(
            session,
            row_id,
            worker,
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
        log.info("delivery %s deferred: %s", row_id, exc)
        return "deferred"
    except PermanentMailError as exc:
        _mark(session, row_id, worker, _failed(clock(), attempts + 1, exc.code, str(exc)))
        return "failed"
    except MailError as exc:
        # Configuration (login, TLS): not this message's fault; it goes back unchanged.
        now = clock()
        _mark(
            session,
            row_id,
            worker,
            {
                "status": "queued",
                "claimed_at": None,
                "last_error": str(exc)[:2000],
                "updated_at": now,
            },
        )
        log.error("newsletter sending stopped: %s", exc)
        return "config"
    now = clock()
    _mark(
        session,
        row_id,
        worker,
        {
            "status": "sent",
            "attempts": attempts + 1,
            "sent_at": now,
            "message_id": (result.message_id or "")[:255],
            "smtp_code": result.code,
            "last_error": "",
            "updated_at": now,
        },
    )
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


class _CampaignMessages:
    """Builds one campaign's messages with the core module's renderer and message builder."""

    def __init__(self, session: Session, campaign: Campaign, config: Mapping[str, Any]) -> None:
        from crm.newsletters.rendering import RenderedMessage  # noqa: F401 - import check
        from crm.newsletters.service import MailSettings

        self.session = session
        self.campaign_id = campaign.id
        self.newsletter_list = campaign.newsletter_list
        # The campaign's own copy of subject and bodies (a plain snapshot, not the ORM row).
        self.template = _TemplateCopy(campaign.subject, campaign.body_html, campaign.body_text)
        self.settings = MailSettings.from_config(config)
        self.organisations: dict[int, str] = {}

    def prepare(self, rows: list[Delivery]) -> None:
        """Look up the organisation names of a whole batch in one query."""
        from crm.newsletters.service import organisation_names

        self.organisations = organisation_names(self.session, [row.person_id for row in rows])

    def __call__(self, row: Delivery) -> EmailMessage:
        from crm.newsletters.rendering import render_for_recipient
        from crm.newsletters.service import build_newsletter_message, recipient_context

        person = row.person
        context = recipient_context(
            self.settings,
            person,
            self.newsletter_list,
            organisation=self.organisations.get(person.id, ""),
            campaign_id=self.campaign_id,
        )
        return build_newsletter_message(
            self.settings,
            render_for_recipient(self.template, context),
            to_email=row.email,
            to_name=f"{person.first_name} {person.last_name}".strip(),
            person_id=person.id,
            newsletter_list=self.newsletter_list,
            campaign_id=self.campaign_id,
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

"""Verwaltung → Postausgang: everything the app sends, in one list, with retry and cancel.

Two tables hold outgoing mail: `mail_outbox` (reminders, digests, confirmations, test sends)
and `newsletter_delivery` (one row per campaign recipient). The list reads both with a
keyset per table (newest id first, a bounded LIMIT each), so a page costs the same on the
first page and after a million deliveries, and merges them by time.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from crm.audit.service import record
from crm.database import rows_affected, utcnow
from crm.mail.models import MAIL_KINDS, OutgoingMail

__all__ = [
    "CAMPAIGN_KIND",
    "KINDS",
    "STATUSES",
    "Cursor",
    "OutboxError",
    "OutboxRow",
    "cancel_mail",
    "outbox_page",
    "parse_stored",
    "retry_delivery",
    "retry_mail",
]

CAMPAIGN_KIND = "campaign"
KINDS = (*MAIL_KINDS, CAMPAIGN_KIND)
# "deferred" is not a stored status: a queued row that has been tried before.
STATUSES = ("queued", "deferred", "sending", "sent", "failed", "cancelled")
MAX_PER_PAGE = 200


class OutboxError(ValueError):
    """An action on an outbox row that its state does not allow; the text is for the user."""


@dataclass(frozen=True)
class OutboxRow:
    """One line of the admin list, from either table."""

    source: str  # "mail" (mail_outbox) or "delivery" (newsletter_delivery)
    id: int
    kind: str
    recipient: str
    subject: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    smtp_code: int | None
    last_error: str
    sent_at: datetime | None
    message_id: str
    created_at: datetime
    campaign_id: int | None = None

    @property
    def shown_status(self) -> str:
        """The status as the page names it (a retried queued row is "deferred")."""
        if self.status == "queued" and self.attempts > 0:
            return "deferred"
        return self.status


@dataclass(frozen=True)
class Cursor:
    """Where the next page starts: below these ids in each table (None: from the newest)."""

    mail_below: int | None = None
    delivery_below: int | None = None

    def encode(self) -> str:
        """As one query-string value ("12.34"; empty for "from the newest")."""
        return f"{_enc(self.mail_below)}.{_enc(self.delivery_below)}"

    @classmethod
    def decode(cls, value: str | None) -> Cursor:
        """The cursor from encode(); anything malformed is the first page."""
        if not value or value.count(".") != 1:
            return cls()
        parts = value.split(".")
        ids = [_dec(p) for p in parts]
        if any(part and number is None for part, number in zip(parts, ids, strict=True)):
            return cls()  # one malformed half makes the whole cursor malformed
        return cls(ids[0], ids[1])


def _enc(value: int | None) -> str:
    return "" if value is None else str(value)


def _dec(value: str) -> int | None:
    if value.isascii() and value.isdigit() and len(value) < 19:
        return int(value)
    return None


def _status_filter(status_col: Any, attempts_col: Any, status: str) -> sa.ColumnElement[bool]:
    if status == "deferred":
        return sa.and_(status_col == "queued", attempts_col > 0)
    if status == "queued":
        return sa.and_(status_col == "queued", attempts_col == 0)
    return status_col == status


def _mail_rows(
    session: Session, *, kind: str | None, status: str | None, below: int | None, limit: int
) -> list[OutboxRow]:
    m = OutgoingMail
    query = sa.select(
        m.id,
        m.kind,
        m.recipient,
        m.subject,
        m.status,
        m.attempts,
        m.next_attempt_at,
        m.smtp_code,
        m.last_error,
        m.sent_at,
        m.message_id,
        m.created_at,
    )
    if kind:
        query = query.where(m.kind == kind)
    if status:
        query = query.where(_status_filter(m.status, m.attempts, status))
    if below is not None:
        query = query.where(m.id < below)
    rows = session.execute(query.order_by(m.id.desc()).limit(limit)).all()
    return [OutboxRow("mail", *row) for row in rows]  # type: ignore[call-arg]


def _delivery_rows(
    session: Session, *, status: str | None, below: int | None, limit: int
) -> list[OutboxRow]:
    from crm.newsletters.models import Campaign, Delivery

    d = Delivery
    query = sa.select(
        d.id,
        d.email,
        Campaign.subject,
        d.status,
        d.attempts,
        d.next_attempt_at,
        d.smtp_code,
        d.last_error,
        d.sent_at,
        d.message_id,
        d.created_at,
        d.campaign_id,
    ).join(Campaign, Campaign.id == d.campaign_id)
    if status:
        query = query.where(_status_filter(d.status, d.attempts, status))
    if below is not None:
        query = query.where(d.id < below)
    rows = session.execute(query.order_by(d.id.desc()).limit(limit)).all()
    return [
        OutboxRow(
            "delivery",
            r.id,
            CAMPAIGN_KIND,
            r.email,
            r.subject,
            r.status,
            r.attempts,
            r.next_attempt_at,
            r.smtp_code,
            r.last_error,
            r.sent_at,
            r.message_id,
            r.created_at,
            r.campaign_id,
        )
        for r in rows
    ]


def outbox_page(
    session: Session,
    *,
    kind: str | None = None,
    status: str | None = None,
    cursor: Cursor | None = None,
    per_page: int = 50,
) -> tuple[list[OutboxRow], Cursor | None]:
    """One page of outgoing mail, newest first, and the cursor of the next page (or None).

    `kind` is one of KINDS ("campaign" for campaign deliveries) and `status` one of STATUSES;
    unknown values are ignored. Each table is read with `id < cursor ORDER BY id DESC LIMIT`,
    one row more than a page, so no page reads more than 2 × (per_page + 1) rows.
    """
    per_page = max(1, min(per_page, MAX_PER_PAGE))
    kind = kind if kind in KINDS else None
    status = status if status in STATUSES else None
    cursor = cursor or Cursor()
    limit = per_page + 1
    mails: list[OutboxRow] = []
    deliveries: list[OutboxRow] = []
    if kind != CAMPAIGN_KIND:
        mails = _mail_rows(session, kind=kind, status=status, below=cursor.mail_below, limit=limit)
    if kind in (None, CAMPAIGN_KIND):
        deliveries = _delivery_rows(
            session, status=status, below=cursor.delivery_below, limit=limit
        )
    merged = list(heapq.merge(mails, deliveries, key=lambda r: (r.created_at, r.id), reverse=True))
    page = merged[:per_page]
    if len(merged) <= per_page:
        return page, None
    # Each table continues below the oldest of its rows on this page; a table none of whose
    # rows made the page continues from where it was.
    shown_mail = [r.id for r in page if r.source == "mail"]
    shown_delivery = [r.id for r in page if r.source == "delivery"]
    return page, Cursor(
        min(shown_mail) if shown_mail else cursor.mail_below,
        min(shown_delivery) if shown_delivery else cursor.delivery_below,
    )


def parse_stored(row: OutgoingMail) -> EmailMessage | None:
    """The stored message of an outbox row, parsed (None once its bytes were dropped)."""
    if not row.message:
        return None
    msg = BytesParser(policy=policy.default).parsebytes(row.message)
    assert isinstance(msg, EmailMessage)
    return msg


def retry_mail(session: Session, row: OutgoingMail) -> None:
    """Queue a failed outbox row again, due now, with a fresh count of attempts (no commit)."""
    if row.status != "failed":
        raise OutboxError("Nur eine fehlgeschlagene Nachricht kann erneut gesendet werden.")
    if not row.message:
        raise OutboxError("Der Inhalt dieser Nachricht ist nicht mehr gespeichert.")
    before = {"status": row.status, "attempts": row.attempts, "smtp_code": row.smtp_code}
    row.status = "queued"
    row.attempts = 0
    row.next_attempt_at = utcnow()
    row.claimed_at = None
    row.claimed_by = ""
    record(
        session,
        "mail_retry",
        entity_type="mail_outbox",
        entity_id=row.id,
        summary=f"{row.kind} mail #{row.id} queued again",
        changes={"fields": ["status"], "values": {"status": [before["status"], "queued"]}},
    )


def cancel_mail(session: Session, row: OutgoingMail) -> None:
    """Cancel a queued (or deferred) outbox row so the sender never sends it (no commit).

    The update is conditional on the row still being queued, so a sender that claimed it a
    moment ago wins and the admin is told it is already on its way.
    """
    table = OutgoingMail.__table__
    done = rows_affected(
        session.execute(
            sa.update(table)
            .where(table.c.id == row.id, table.c.status == "queued")
            .values(status="cancelled", updated_at=utcnow())
        )
    )
    if done != 1:
        raise OutboxError("Nur eine wartende Nachricht kann abgebrochen werden.")
    record(
        session,
        "mail_cancel",
        entity_type="mail_outbox",
        entity_id=row.id,
        summary=f"{row.kind} mail #{row.id} cancelled",
        changes={"fields": ["status"], "values": {"status": ["queued", "cancelled"]}},
    )
    session.expire(row)


def retry_delivery(session: Session, delivery_id: int) -> str:
    """Queue a failed campaign delivery again (no commit); return what happens next.

    The sender only sends rows of a campaign that is 'sending'. So: a sending campaign
    simply picks the row up; a paused one sends it once resumed ("paused"); a finished
    ('sent') campaign is reopened to 'sending', so the sender sends this row and marks the
    campaign sent again ("reopened"). A cancelled campaign stays cancelled, and a recipient
    who has no valid consent any more is not mailed again (OutboxError for both).
    """
    from crm.newsletters.campaigns import recipients_select
    from crm.newsletters.models import Campaign, Delivery

    delivery = session.get(Delivery, delivery_id)
    if delivery is None:
        raise OutboxError("Diese Zustellung gibt es nicht mehr.")
    if delivery.status != "failed":
        raise OutboxError("Nur eine fehlgeschlagene Zustellung kann erneut gesendet werden.")
    campaign = session.get(Campaign, delivery.campaign_id)
    assert campaign is not None
    if campaign.status not in ("sending", "paused", "sent"):
        raise OutboxError(
            "Die Kampagne wurde abgebrochen; ihre Empfänger*innen werden nicht mehr angeschrieben."
        )
    still = recipients_select(campaign).subquery()
    if not session.scalar(sa.select(sa.exists().where(still.c.person_id == delivery.person_id))):
        raise OutboxError(
            "Diese Person erhält den Newsletter nicht mehr (keine gültige Einwilligung oder "
            "nicht mehr in der Zielgruppe); die Zustellung wird nicht wiederholt."
        )
    now = utcnow()
    outcome = {"sending": "queued", "paused": "paused", "sent": "reopened"}[campaign.status]
    delivery.status = "queued"
    delivery.attempts = 0
    delivery.next_attempt_at = now
    delivery.claimed_at = None
    delivery.claimed_by = ""
    if campaign.status == "sent":
        table = Campaign.__table__
        session.execute(
            sa.update(table)
            .where(table.c.id == campaign.id, table.c.status == "sent")
            .values(status="sending", finished_at=None, updated_at=now)
        )
    record(
        session,
        "mail_retry",
        entity_type="newsletter_delivery",
        entity_id=delivery.id,
        summary=f"delivery #{delivery.id} of campaign #{campaign.id} queued again ({outcome})",
        changes={"fields": ["status"], "values": {"status": ["failed", "queued"]}},
    )
    session.flush()
    return outcome

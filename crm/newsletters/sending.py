"""Campaign deliveries as a store of the mail sender (crm.mail.sender, crm.mail.store).

One `newsletter_delivery` row per recipient is the unit of work. The store claims due rows
of campaigns in status 'sending' (oldest campaign first, rows in id order), builds each
message at send time with the sandboxed renderer and the bulk message builder, gives rows of
a campaign cancelled meanwhile back as 'cancelled', and marks a campaign 'sent' once none of
its rows is queued or being sent.

The Message-ID of a delivery is derived from its row (`<nl-{campaign}-{delivery}.{hmac}@
{domain}>`, keyed with SECRET_KEY so outsiders cannot forge ours), so a message sent again
after a crash carries the same Message-ID and a receiver can drop the duplicate.

Errors: the sender reports failures per campaign; a campaign with no accepted message for
CRM_NEWSLETTER_PAUSE_AFTER_SECONDS (`failing_since` on the campaign, cleared by the next
success) is paused with pause_kind 'errors' and resumes by itself once the relay answers a
test connection on a later run. After CRM_NEWSLETTER_MAX_CONSECUTIVE_ERRORS permanent
refusals in a row it is paused with pause_kind 'refused' (a relay that answers does not cure
that), which, like a pause by staff ('staff'), waits for staff to resume it.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from crm.contacts.models import Person
from crm.database import ids_in, rows_affected
from crm.mail.message import RawMessage
from crm.mail.sender import SenderSettings, SendReport, run_outbox, send_outbox
from crm.mail.store import Claimed, DeliveryStore, lease_from_config
from crm.newsletters.models import Campaign, Delivery

__all__ = [
    "CampaignStore",
    "SendReport",
    "SenderSettings",
    "campaign_store",
    "delivery_message_id",
    "finish_if_done",
    "release_claims",
    "run_outbox",
    "send_outbox",
]


@dataclass(frozen=True, slots=True)
class Recipient:
    """What a message needs of the person (the placeholders' data); reads like a Person."""

    id: int
    salutation: str
    title: str
    first_name: str
    last_name: str
    token_nonce: str = ""


def delivery_message_id(secret: str, campaign_id: int, delivery_id: int, domain: str) -> str:
    """The Message-ID of one delivery row: the same on every attempt."""
    key = f"{campaign_id}-{delivery_id}"
    mac = hmac.new(secret.encode(), f"nl-message-id:{key}".encode(), hashlib.sha256)
    return f"<nl-{key}.{mac.hexdigest()[:12]}@{domain}>"


def _claimable(session: Session, campaign_id: int, now: datetime, limit: int) -> sa.Select[Any]:
    """The first `limit` due 'queued' rows of a campaign, in id order."""
    table = Delivery.__table__
    due = table.c.next_attempt_at <= now
    if session.get_bind().dialect.name == "sqlite":
        # Unary +: not a range for (status, next_attempt_at), so SQLite walks (campaign_id,
        # status, id) in id order and stops after one batch instead of sorting every queued
        # row on each claim.
        due = (
            sa.literal_column(f"+{table.name}.next_attempt_at", table.c.next_attempt_at.type) <= now
        )
    return (
        sa.select(table.c.id)
        .where(table.c.campaign_id == campaign_id, table.c.status == "queued", due)
        .order_by(table.c.id)
        .limit(limit)
    )


class CampaignStore(DeliveryStore):
    """`newsletter_delivery` rows of campaigns that are sending."""

    name = "campaigns"
    table = Delivery.__table__

    def __init__(self, config: Mapping[str, Any], lease: timedelta) -> None:
        super().__init__(config, lease)
        self._messages: dict[int, _CampaignMessages] = {}
        self._failing: set[int] = set()  # campaigns with failing_since set, as last seen

    def released_status(self) -> Any:
        """'queued', or 'cancelled' if the row's campaign was cancelled meanwhile."""
        campaigns = Campaign.__table__
        status = (
            sa.select(campaigns.c.status)
            .where(campaigns.c.id == self.table.c.campaign_id)
            .scalar_subquery()
        )
        return sa.case((status == "cancelled", "cancelled"), else_="queued")

    def candidates(self, session: Session, now: datetime, limit: int) -> list[int]:
        """Due rows of the oldest sending campaign that has any."""
        campaigns = Campaign.__table__
        sending = session.execute(
            sa.select(campaigns.c.id, campaigns.c.failing_since)
            .where(campaigns.c.status == "sending")
            .order_by(campaigns.c.id)
        ).all()
        for campaign_id, failing_since in sending:
            if failing_since is None:
                self._failing.discard(campaign_id)
            else:
                self._failing.add(campaign_id)
            query = _claimable(session, campaign_id, now, limit)
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            ids = list(session.scalars(query))
            if ids:
                return ids
        return []

    def load(self, session: Session, ids: list[int]) -> list[Claimed]:
        """The rows with their recipients and organisation names, in two queries."""
        from crm.newsletters.service import organisation_names

        d, p = Delivery.__table__, Person.__table__
        rows = session.execute(
            sa.select(
                d.c.id,
                d.c.attempts,
                d.c.campaign_id,
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
        ).all()
        organisations = organisation_names(session, [r[4] for r in rows])
        items = []
        for campaign_id in {r[2] for r in rows} - set(self._messages):
            campaign = session.get(Campaign, campaign_id)
            if campaign is not None:  # else message() refuses its rows
                self._messages[campaign_id] = _CampaignMessages(campaign, self.config)
        for r in rows:
            person = Recipient(r[4], r[5] or "", r[6] or "", r[7] or "", r[8] or "", r[9] or "")
            items.append(Claimed(r[0], r[1], r[2], (r[3], person, organisations.get(r[4], ""))))
        return items

    def message(self, item: Claimed) -> RawMessage:
        """Render and build one recipient's message with the row's stable Message-ID."""
        messages = self._messages.get(item.group)
        if messages is None:
            raise ValueError(f"campaign {item.group} no longer exists")
        email, person, organisation = item.data
        return messages.build(item.id, email, person, organisation)

    def active(self, session: Session, group: int) -> bool:
        """A campaign is sent only while its status is 'sending'."""
        return session.scalar(sa.select(Campaign.status).where(Campaign.id == group)) == "sending"

    def on_success(self, session: Session, group: int, now: datetime) -> None:
        """Clear the campaign's failing_since after failures (a write only then)."""
        if group not in self._failing:
            return
        table = Campaign.__table__
        session.execute(
            sa.update(table)
            .where(table.c.id == group, table.c.failing_since.is_not(None))
            .values(failing_since=None)
        )
        session.commit()
        self._failing.discard(group)

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
        """Remember when the failures began; pause after `pause_after` without success
        (pause_kind 'errors', resumed when the relay answers; 'refused' waits for staff)."""
        table = Campaign.__table__
        session.execute(
            sa.update(table)
            .where(table.c.id == group, table.c.failing_since.is_(None))
            .values(failing_since=now)
        )
        self._failing.add(group)
        since = session.scalar(sa.select(table.c.failing_since).where(table.c.id == group))
        paused = False
        if not recent_success and since is not None and now - since >= pause_after:
            paused = (
                rows_affected(
                    session.execute(
                        sa.update(table)
                        .where(table.c.id == group, table.c.status == "sending")
                        .values(
                            status="paused",
                            pause_kind="refused" if refused else "errors",
                            paused_at=now,
                            pause_reason=reason[:2000],
                            updated_at=now,
                        )
                    )
                )
                == 1
            )
        session.commit()
        return paused

    def waiting_for_relay(self, session: Session) -> bool:
        """True if a campaign was paused on errors."""
        return bool(session.scalar(sa.select(self._paused_on_errors(session).exists())))

    @staticmethod
    def _paused_on_errors(session: Session) -> sa.Select[Any]:
        return sa.select(Campaign.id).where(
            Campaign.status == "paused", Campaign.pause_kind == "errors"
        )

    def relay_back(self, session: Session, now: datetime) -> list[int]:
        """Resume the campaigns paused on errors."""
        ids = list(session.scalars(self._paused_on_errors(session).order_by(Campaign.id)))
        table = Campaign.__table__
        if ids:
            session.execute(
                sa.update(table)
                .where(
                    table.c.id.in_(ids), table.c.status == "paused", table.c.pause_kind == "errors"
                )
                .values(
                    status="sending",
                    pause_kind="",
                    pause_reason="",
                    failing_since=None,
                    updated_at=now,
                )
            )
        session.commit()
        return ids

    def finish(self, session: Session, now: datetime) -> list[int]:
        """Mark sending campaigns without open rows 'sent'."""
        ids = list(session.scalars(sa.select(Campaign.id).where(Campaign.status == "sending")))
        session.commit()
        return [campaign_id for campaign_id in ids if finish_if_done(session, campaign_id, now)]


def campaign_store(config: Mapping[str, Any]) -> CampaignStore:
    """The campaign store (a crm.mail.store.delivery_stores receiver)."""
    return CampaignStore(config, lease_from_config(config))


def release_claims(session: Session, worker: str) -> int:
    """Give back every row `worker` holds ('cancelled' if its campaign was cancelled)."""
    return CampaignStore({}, timedelta(minutes=5)).release(session, worker)


def finish_if_done(session: Session, campaign_id: int, now: datetime) -> bool:
    """Mark a sending campaign 'sent' once no row is queued or being sent; commit."""
    table, deliveries = Campaign.__table__, Delivery.__table__
    open_rows = (
        sa.select(deliveries.c.id)
        .where(
            deliveries.c.campaign_id == campaign_id,
            deliveries.c.status.in_(("queued", "sending")),
        )
        .exists()
    )
    n = rows_affected(
        session.execute(
            sa.update(table)
            .where(table.c.id == campaign_id, table.c.status == "sending", ~open_rows)
            .values(status="sent", finished_at=now, updated_at=now)
        )
    )
    session.commit()
    return n == 1


@dataclass(frozen=True)
class _ListCopy:
    """The campaign's list as plain values (an ORM row would reload after every commit)."""

    id: int
    name: str
    slug: str
    from_name: str
    reply_to: str


@dataclass(frozen=True)
class _TemplateCopy:
    subject: str
    body_html: str
    body_text: str


class _CampaignMessages:
    """Builds one campaign's messages: sandboxed rendering, then the bulk message builder."""

    def __init__(self, campaign: Campaign, config: Mapping[str, Any]) -> None:
        from crm.newsletters.service import MailSettings, campaign_message_builder

        self.campaign_id = campaign.id
        lst = campaign.newsletter_list
        self.newsletter_list = _ListCopy(lst.id, lst.name, lst.slug, lst.from_name, lst.reply_to)
        self.template = _TemplateCopy(campaign.subject, campaign.body_html, campaign.body_text)
        self.settings = MailSettings.from_config(config)
        self.builder = campaign_message_builder(self.settings, self.newsletter_list, campaign.id)

    def build(
        self, delivery_id: int, email: str, person: Recipient, organisation: str
    ) -> RawMessage:
        from crm.newsletters.rendering import render_for_recipient
        from crm.newsletters.service import recipient_context, unsubscribe_headers

        context = recipient_context(
            self.settings,
            person,
            self.newsletter_list,
            organisation=organisation,
            campaign_id=self.campaign_id,
        )
        rendered = render_for_recipient(self.template, context)
        return self.builder.build(
            to=(f"{person.first_name} {person.last_name}".strip(), email),
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html or None,
            headers=unsubscribe_headers(
                self.settings,
                person,
                self.newsletter_list,
                context["abmelde_link"],
            ),
            message_id=delivery_message_id(
                self.settings.secret_key,
                self.campaign_id,
                delivery_id,
                self.builder.message_id_domain,
            ),
        )

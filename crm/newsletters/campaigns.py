"""Campaign life cycle: draft → scheduled → sending (⇄ paused) → sent, or cancelled.

Starting a campaign freezes its recipients: one delivery row per person, written with a single
INSERT … SELECT in the same transaction that moves the campaign to 'sending' (guarded by its
previous status), so a double start — two clicks, the scheduler and a click — inserts nothing
the second time; the unique (campaign, person) constraint is the backstop.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from crm.audit.service import record
from crm.database import rows_affected, utcnow
from crm.newsletters.models import Audience, Campaign, Delivery

__all__ = [
    "EDITABLE_STATUSES",
    "CampaignError",
    "CampaignNotEditable",
    "CampaignText",
    "StaleCampaign",
    "audience_select",
    "Progress",
    "cancel_campaign",
    "deliveries_page",
    "duplicate_campaign",
    "create_campaign",
    "figures",
    "pause",
    "progress",
    "recipients_select",
    "resume",
    "schedule_campaign",
    "update_campaign",
    "start_campaign",
    "start_due_campaigns",
]


# Until the recipients are frozen and sending starts, the text may still change.
EDITABLE_STATUSES = ("draft", "scheduled")
# The parts of a campaign its edit form changes (the template only ever gave the first copy).
EDITABLE_FIELDS = (
    "name",
    "list_id",
    "audience_id",
    "contact_list_id",
    "subject",
    "body_html",
    "body_text",
)


class CampaignError(ValueError):
    """The requested state change is not possible from the campaign's current state."""


class CampaignNotEditable(CampaignError):
    """Sending has started (or the campaign was cancelled): its text stays as it went out."""


class StaleCampaign(CampaignError):
    """Somebody else saved the campaign after the editor loaded it."""


@dataclass(frozen=True)
class CampaignText:
    """What the campaign form sets: name, recipients, subject and the two bodies."""

    name: str
    list_id: int
    audience_id: int | None
    contact_list_id: int | None
    subject: str
    body_html: str
    body_text: str


def create_campaign(
    session: Session, text: CampaignText, *, template_id: int | None, user_id: int | None
) -> Campaign:
    """A new draft with its own copy of the text; audited. The caller commits."""
    campaign = Campaign(
        **{field: getattr(text, field) for field in EDITABLE_FIELDS},
        template_id=template_id,
        status="draft",
        created_by_id=user_id,
    )
    session.add(campaign)
    session.flush()
    _audit(session, "create", campaign, list(EDITABLE_FIELDS))
    return campaign


def update_campaign(
    session: Session, campaign: Campaign, text: CampaignText, *, base_version: int
) -> bool:
    """Store the edited text of a draft or scheduled campaign; True if anything changed.

    `base_version` is the version the editor started from. One guarded UPDATE checks both
    that nobody saved in between (else StaleCampaign) and that sending has not started
    (else CampaignNotEditable), so neither a colleague's save nor a scheduler start that
    happens between loading and saving is overwritten. Audited. The caller commits.
    """
    if campaign.status not in EDITABLE_STATUSES:
        raise CampaignNotEditable(f"campaign {campaign.id} is {campaign.status}")
    if campaign.version != base_version:
        raise StaleCampaign(f"campaign {campaign.id} is at version {campaign.version}")
    values = {field: getattr(text, field) for field in EDITABLE_FIELDS}
    changed = [field for field, value in values.items() if getattr(campaign, field) != value]
    if not changed:
        return False
    before = {field: getattr(campaign, field) for field in changed}
    table = Campaign.__table__
    result = session.execute(
        sa.update(table)
        .where(
            table.c.id == campaign.id,
            table.c.version == base_version,
            table.c.status.in_(EDITABLE_STATUSES),
        )
        .values(**values, version=table.c.version + 1, updated_at=utcnow())
    )
    if rows_affected(result) != 1:
        session.refresh(campaign)
        if campaign.status not in EDITABLE_STATUSES:
            raise CampaignNotEditable(f"campaign {campaign.id} is {campaign.status}")
        raise StaleCampaign(f"campaign {campaign.id} is at version {campaign.version}")
    session.flush()
    session.refresh(campaign)
    _audit(session, "update", campaign, changed, before)
    return True


def _audit(
    session: Session,
    action: str,
    campaign: Campaign,
    fields: list[str],
    before: dict[str, Any] | None = None,
) -> None:
    # The text is not personal data, but who changed what goes out to thousands is worth a
    # line: the changed fields' names, with old and new values of the recipient choice
    # (ids only), as the audit hook logs the values of non-personal fields.
    before = before or {}
    values = {
        field: [before.get(field), getattr(campaign, field)]
        for field in ("list_id", "audience_id", "contact_list_id")
        if field in fields
    }
    verb = "angelegt" if action == "create" else "bearbeitet"
    record(
        session,
        action,
        entity_type="newsletter_campaign",
        entity_id=campaign.id,
        summary=f"Aussendung „{campaign.name}“ {verb}",
        changes={"fields": fields, "values": values},
    )


def audience_select(
    list_id: int, *, audience: Audience | None = None, contact_list_id: int | None = None
) -> sa.Select[Any]:
    """(person_id, email) of the confirmed subscribers of `list_id` with an address, narrowed
    by a saved audience or a static contact list. Either one only ever narrows: consent is
    always that of the campaign's own list, whatever list the audience was saved for."""
    from crm.newsletters.audiences import recipients_select as list_recipients

    if audience is not None:
        select = list_recipients(
            list_id,
            audience.kind,
            contact_list_id=audience.contact_list_id,
            filter_spec=audience.filter_spec,
        )
    elif contact_list_id is not None:
        select = list_recipients(list_id, "static", contact_list_id=contact_list_id)
    else:
        select = list_recipients(list_id)
    return select.order_by(None)


def recipients_select(campaign: Campaign) -> sa.Select[Any]:
    """(person_id, email) of everyone the campaign may reach: confirmed consent for the
    campaign's list, an address (pending, unsubscribed, bounced and unconsented people are
    never in it), and inside the campaign's audience or static contact list if it has one."""
    return audience_select(
        campaign.list_id, audience=campaign.audience, contact_list_id=campaign.contact_list_id
    )


def _move(session: Session, campaign_id: int, allowed: tuple[str, ...], **values: Any) -> bool:
    table = Campaign.__table__
    values.setdefault("updated_at", utcnow())
    result = session.execute(
        sa.update(table)
        .where(table.c.id == campaign_id, table.c.status.in_(allowed))
        .values(**values)
    )
    n = rows_affected(result)
    return n == 1


def schedule_campaign(session: Session, campaign: Campaign, send_at: datetime) -> None:
    """Plan a draft for send_at (UTC-aware); the scheduler starts it then."""
    if send_at.tzinfo is None:
        raise CampaignError("send_at must be timezone-aware")
    if not _move(session, campaign.id, ("draft", "scheduled"), status="scheduled", send_at=send_at):
        raise CampaignError(f"campaign {campaign.id} is {campaign.status}, not a draft")
    session.flush()
    session.refresh(campaign)


def unschedule_campaign(session: Session, campaign: Campaign) -> None:
    """Turn a scheduled campaign back into a draft."""
    if not _move(session, campaign.id, ("scheduled",), status="draft", send_at=None):
        raise CampaignError(f"campaign {campaign.id} is {campaign.status}, not scheduled")
    session.flush()
    session.refresh(campaign)


def start_campaign(session: Session, campaign: Campaign, now: datetime | None = None) -> int:
    """Freeze the recipients and switch to 'sending'; return the number of delivery rows.

    A campaign that is already sending (or further) is left alone and 0 is returned.
    The caller commits.
    """
    now = now or utcnow()
    if not _move(session, campaign.id, ("draft", "scheduled"), status="sending", started_at=now):
        return 0
    table = Delivery.__table__
    recipients = recipients_select(campaign).subquery()
    result = session.execute(
        sa.insert(table).from_select(
            [
                "campaign_id",
                "person_id",
                "email",
                "status",
                "attempts",
                "next_attempt_at",
                "claimed_by",
                "message_id",
                "last_error",
                "created_at",
                "updated_at",
            ],
            sa.select(
                sa.literal(campaign.id),
                recipients.c.person_id,
                recipients.c.email,
                sa.literal("queued"),
                sa.literal(0),
                sa.literal(now, Delivery.next_attempt_at.type),
                sa.literal(""),
                sa.literal(""),
                sa.literal(""),
                sa.literal(now, Delivery.created_at.type),
                sa.literal(now, Delivery.updated_at.type),
            ).distinct(),
        )
    )
    inserted = rows_affected(result)
    total = session.scalar(
        sa.select(sa.func.count()).select_from(table).where(table.c.campaign_id == campaign.id)
    )
    _move(session, campaign.id, ("sending",), recipients_total=total or 0)
    session.flush()
    session.refresh(campaign)
    return inserted if inserted is not None and inserted >= 0 else int(total or 0)


def start_due_campaigns(session: Session, now: datetime | None = None) -> list[int]:
    """Start every scheduled campaign whose send_at has come; commit each; return their ids."""
    now = now or utcnow()
    due = list(
        session.scalars(
            sa.select(Campaign.id)
            .where(Campaign.status == "scheduled", Campaign.send_at <= now)
            .order_by(Campaign.send_at, Campaign.id)
        )
    )
    session.commit()
    started = []
    for campaign_id in due:
        campaign = session.get(Campaign, campaign_id)
        if campaign is not None and campaign.status == "scheduled":
            start_campaign(session, campaign, now)
            started.append(campaign_id)
        session.commit()
    return started


def pause(session: Session, campaign: Campaign, reason: str = "") -> None:
    """Stop sending after the current message; rows stay queued."""
    now = utcnow()
    if not _move(
        session,
        campaign.id,
        ("sending",),
        status="paused",
        pause_kind="staff",
        paused_at=now,
        pause_reason=reason,
    ):
        raise CampaignError(f"campaign {campaign.id} is {campaign.status}, not sending")
    session.flush()
    session.refresh(campaign)


def resume(session: Session, campaign: Campaign) -> None:
    """Continue a paused campaign (also after an automatic pause on errors)."""
    if not _move(
        session,
        campaign.id,
        ("paused",),
        status="sending",
        pause_kind="",
        pause_reason="",
        failing_since=None,
    ):
        raise CampaignError(f"campaign {campaign.id} is {campaign.status}, not paused")
    session.flush()
    session.refresh(campaign)


def cancel_campaign(session: Session, campaign: Campaign) -> int:
    """Cancel a campaign; rows not yet handed to the server become 'cancelled'."""
    now = utcnow()
    if not _move(
        session,
        campaign.id,
        ("draft", "scheduled", "sending", "paused"),
        status="cancelled",
        cancelled_at=now,
    ):
        raise CampaignError(f"campaign {campaign.id} is {campaign.status}; cannot cancel")
    table = Delivery.__table__
    # 'sending' rows belong to a live sender; it gives them back, and they are not sent
    # again because the campaign is no longer 'sending'. They are cancelled here too unless
    # the sender records them as sent first.
    result = session.execute(
        sa.update(table)
        .where(table.c.campaign_id == campaign.id, table.c.status == "queued")
        .values(status="cancelled", updated_at=now)
    )
    n = rows_affected(result)
    session.flush()
    session.refresh(campaign)
    return n


@dataclass(frozen=True)
class Progress:
    """Counts per delivery status of one campaign."""

    total: int
    queued: int
    sending: int
    sent: int
    failed: int
    cancelled: int

    @property
    def done(self) -> int:
        """Rows that reached a final state."""
        return self.sent + self.failed + self.cancelled

    @property
    def percent(self) -> int:
        """Share of final rows, 0–100 (100 for an empty campaign that has finished)."""
        if not self.total:
            return 0
        return min(100, self.done * 100 // self.total)


def progress(session: Session, campaign_id: int) -> Progress:
    """One GROUP BY over the campaign's rows (index campaign_id, status, id)."""
    counts = dict(
        session.execute(
            sa.select(Delivery.status, sa.func.count())
            .where(Delivery.campaign_id == campaign_id)
            .group_by(Delivery.status)
        ).all()
    )
    return Progress(
        total=sum(counts.values()),
        queued=counts.get("queued", 0),
        sending=counts.get("sending", 0),
        sent=counts.get("sent", 0),
        failed=counts.get("failed", 0),
        cancelled=counts.get("cancelled", 0),
    )


def deliveries_page(
    session: Session,
    campaign_id: int,
    *,
    status: str | None = None,
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[Delivery], int]:
    """One page of a campaign's delivery rows (with their person), and the total count."""
    from sqlalchemy.orm import joinedload

    where = [Delivery.campaign_id == campaign_id]
    if status:
        where.append(Delivery.status == status)
    total = session.scalar(sa.select(sa.func.count()).select_from(Delivery).where(*where)) or 0
    rows = list(
        session.scalars(
            sa.select(Delivery)
            .where(*where)
            .options(joinedload(Delivery.person))
            .order_by(Delivery.id)
            .limit(per_page)
            .offset(max(page - 1, 0) * per_page)
        )
    )
    return rows, total


def figures(session: Session, campaign_ids: list[int]) -> dict[int, Progress]:
    """Delivery counts per status for a page of campaigns, in one GROUP BY."""
    if not campaign_ids:
        return {}
    counts: dict[int, dict[str, int]] = {cid: {} for cid in campaign_ids}
    for campaign_id, status, n in session.execute(
        sa.select(Delivery.campaign_id, Delivery.status, sa.func.count())
        .where(Delivery.campaign_id.in_(campaign_ids))
        .group_by(Delivery.campaign_id, Delivery.status)
    ):
        counts[campaign_id][status] = n
    return {
        cid: Progress(
            total=sum(c.values()),
            queued=c.get("queued", 0),
            sending=c.get("sending", 0),
            sent=c.get("sent", 0),
            failed=c.get("failed", 0),
            cancelled=c.get("cancelled", 0),
        )
        for cid, c in counts.items()
    }


def duplicate_campaign(
    session: Session, campaign: Campaign, *, name_prefix: str, user_id: int | None
) -> Campaign:
    """A new draft with the campaign's list, audience, subject and bodies (not its recipients,
    times or figures). The caller commits."""
    copy = Campaign(
        name=f"{name_prefix} {campaign.name}"[:200],
        list_id=campaign.list_id,
        audience_id=campaign.audience_id,
        contact_list_id=campaign.contact_list_id,
        template_id=campaign.template_id,
        subject=campaign.subject,
        body_html=campaign.body_html,
        body_text=campaign.body_text,
        status="draft",
        created_by_id=user_id,
    )
    session.add(copy)
    session.flush()
    _audit(session, "create", copy, list(EDITABLE_FIELDS))
    return copy

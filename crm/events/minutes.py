"""Minutes (Protokoll) of an event, and the agreed actions kept as follow-ups.

An agreed action is an ordinary follow-up (crm.followups) linked to the event: it reaches its
assignee's list and reminders like any other, and everyone sees only the follow-ups the
follow-up pages would show them.
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session, joinedload

from crm.accounts.models import User
from crm.events.models import Event, EventMinutes, Lead
from crm.followups.models import FollowUp
from crm.followups.service import create_followup, visible_to

MAX_MINUTES_LENGTH = 50_000


class StaleMinutes(Exception):
    """Somebody else saved the minutes after the editor loaded them."""


def minutes_of(session: Session, event: Event) -> EventMinutes | None:
    return session.scalar(
        sa.select(EventMinutes)
        .where(EventMinutes.event_id == event.id)
        .options(joinedload(EventMinutes.updated_by))
    )


def save_minutes(
    session: Session, event: Event, text: str, *, user: User, now: datetime, base_version: int
) -> EventMinutes:
    """Store the minutes; `base_version` is the version the editor started from (0: none yet).

    Raises StaleMinutes when the stored minutes are newer, so nobody overwrites unseen changes.
    """
    minutes = minutes_of(session, event)
    current = minutes.version if minutes is not None else 0
    if base_version != current:
        raise StaleMinutes()
    text = text.replace("\r\n", "\n").strip()
    if minutes is None:
        minutes = EventMinutes(event_id=event.id, text=text, version=1)
        session.add(minutes)
    elif minutes.text == text:
        return minutes
    else:
        minutes.text = text
        minutes.version = current + 1
    minutes.updated_by = user
    minutes.updated_at = now
    session.flush()
    return minutes


def agreed_actions(session: Session, event: Event, viewer: User) -> list[FollowUp]:
    """The event's follow-ups `viewer` may see, leads' follow-ups excepted, by due date."""
    lead_followups = sa.select(Lead.followup_id).where(
        Lead.event_id == event.id, Lead.followup_id.is_not(None)
    )
    return list(
        session.scalars(
            sa.select(FollowUp)
            .where(
                FollowUp.event_id == event.id,
                FollowUp.id.not_in(lead_followups),
                visible_to(viewer),
            )
            .options(joinedload(FollowUp.assignee))
            .order_by(FollowUp.due_at, FollowUp.id)
        )
    )


def add_action(
    session: Session,
    event: Event,
    *,
    subject: str,
    assignee: User,
    due: date,
    created_by: User,
) -> FollowUp:
    """An agreed action as a follow-up for `assignee`, due on `due`, linked to the event."""
    return create_followup(
        session,
        subject=subject,
        due_date=due,
        assignee=assignee,
        created_by=created_by,
        note=f"Vereinbart bei: {event.title}",
        event_id=event.id,
    )

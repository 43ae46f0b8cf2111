"""What else the CRM knows about a person or organisation: open follow-ups, coming events and
newsletter subscriptions, for the record's page.

Each section is one query whatever the record holds (the page's query count stays constant), is
cut at `limit` rows (one more is fetched to tell whether there are more), and is only asked for
when the user may see that module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, joinedload

from crm.contacts.models import Affiliation
from crm.events.models import Event, EventContact
from crm.followups.models import FollowUp
from crm.followups.service import visible_to
from crm.newsletters.models import Subscription

LIMIT = 20


@dataclass
class Section:
    """Rows of one section and whether more exist than are shown."""

    items: list[Any] = field(default_factory=list)
    more: bool = False


@dataclass
class Related:
    """The sections of a record page; a section is None when the user may not see the module."""

    now: datetime
    followups: Section | None = None
    events: Section | None = None
    # (status, event) of every event the person was invited to, registered for, attended or
    # missed, newest first (persons only).
    participation: Section | None = None
    subscriptions: Section | None = None


def _section(rows: list[Any], limit: int) -> Section:
    return Section(rows[:limit], len(rows) > limit)


def _open_followups(
    session: Session, user: Any, link: sa.ColumnElement[bool], limit: int
) -> Section:
    rows = session.scalars(
        sa.select(FollowUp)
        .where(link, FollowUp.status == "open", visible_to(user))
        .options(joinedload(FollowUp.assignee))
        .order_by(FollowUp.due_at, FollowUp.id)
        .limit(limit + 1)
    ).all()
    return _section(list(rows), limit)


def _coming_events(
    session: Session, link: sa.ColumnElement[bool], now: datetime, limit: int
) -> Section:
    rows = session.scalars(
        sa.select(Event)
        .where(link, Event.ends_at >= now, Event.status != "cancelled")
        .order_by(Event.starts_at, Event.id)
        .limit(limit + 1)
    ).all()
    return _section(list(rows), limit)


def _subscriptions(session: Session, link: sa.ColumnElement[bool], limit: int) -> Section:
    rows = session.scalars(
        sa.select(Subscription)
        .where(link)
        .options(joinedload(Subscription.newsletter_list), joinedload(Subscription.person))
        .order_by(Subscription.person_id, Subscription.list_id)
        .limit(limit + 1)
    ).all()
    return _section(list(rows), limit)


def person_related(
    session: Session,
    user: Any,
    person_id: int,
    now: datetime,
    *,
    modules: set[str],
    limit: int = LIMIT,
) -> Related:
    """Open follow-ups about the person, events they are invited to (coming ones, and their
    participation in all: invited, registered, attended, no-show), their subscriptions.

    `modules` names the sections the user may see ("followups", "events", "newsletters").
    """
    related = Related(now)
    if "followups" in modules:
        related.followups = _open_followups(session, user, FollowUp.person_id == person_id, limit)
    if "events" in modules:
        invited = sa.select(EventContact.event_id).where(EventContact.person_id == person_id)
        related.events = _coming_events(session, Event.id.in_(invited), now, limit)
        related.participation = _participation(session, person_id, limit)
    if "newsletters" in modules:
        related.subscriptions = _subscriptions(session, Subscription.person_id == person_id, limit)
    return related


def _participation(session: Session, person_id: int, limit: int) -> Section:
    rows = session.execute(
        sa.select(EventContact.status, Event)
        .join(Event, Event.id == EventContact.event_id)
        .where(EventContact.person_id == person_id)
        .order_by(Event.starts_at.desc(), Event.id.desc())
        .limit(limit + 1)
    ).all()
    return _section([tuple(row) for row in rows], limit)


def organisation_related(
    session: Session,
    user: Any,
    org_id: int,
    now: datetime,
    *,
    modules: set[str],
    limit: int = LIMIT,
) -> Related:
    """Open follow-ups about the organisation, the events it organises, and the newsletter
    subscriptions of the people who currently work there (an organisation has no address of
    its own to subscribe)."""
    related = Related(now)
    if "followups" in modules:
        related.followups = _open_followups(
            session, user, FollowUp.organisation_id == org_id, limit
        )
    if "events" in modules:
        related.events = _coming_events(session, Event.organiser_id == org_id, now, limit)
    if "newsletters" in modules:
        today = now.date()
        staff = sa.select(Affiliation.person_id).where(
            Affiliation.organisation_id == org_id,
            sa.or_(Affiliation.until.is_(None), Affiliation.until >= today),
        )
        related.subscriptions = _subscriptions(session, Subscription.person_id.in_(staff), limit)
    return related

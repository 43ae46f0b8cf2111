"""Handing over what a leaving user still holds, before an admin deactivates them.

A leaving counsellor still holds participants, open follow-ups, open inquiries and coming
events; after deactivation their reminders would go to a dead mailbox. Every change goes
through the owning domain's own rule and is audited: participants by the bulk action's
office rule (flush hook), follow-ups and inquiries by their services (flush hook), events
with an explicit entry because the event table is not audited on flush.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from crm.accounts.models import User
from crm.accounts.service import assignable_user, assignable_users
from crm.audit.service import record, record_each
from crm.bulk.service import assign_counsellor
from crm.events.models import Event, EventSeries
from crm.followups import service as followups
from crm.followups.models import FollowUp
from crm.intake import service as intake
from crm.intake.models import OPEN_STATUSES, Inquiry
from crm.participants.models import Participant
from crm.participants.service import COUNSELLING_ROLES

__all__ = [
    "HandoverError",
    "HandoverResult",
    "Holdings",
    "colleagues_for",
    "hand_over",
    "holdings",
]


class HandoverError(ValueError):
    """The chosen colleague cannot take over (unknown, inactive, or the leaving user)."""


@dataclass(frozen=True)
class Holdings:
    """What a user is still responsible for."""

    participants: int = 0
    followups: int = 0
    inquiries: int = 0
    events: int = 0

    @property
    def total(self) -> int:
        return self.participants + self.followups + self.inquiries + self.events


@dataclass(frozen=True)
class HandoverResult:
    """What a handover moved, and what it left with the leaving user and why."""

    colleague: str = ""
    participants: int = 0
    # Participants of an office the colleague does not work in (the bulk action's rule).
    participants_other_office: int = 0
    # The colleague's role cannot counsel participants at all.
    participants_not_counsellor: int = 0
    followups: int = 0
    inquiries: int = 0
    events: int = 0

    @property
    def skipped(self) -> int:
        return self.participants_other_office + self.participants_not_counsellor


def _participant_ids(session: Session, user_id: int) -> list[int]:
    # Exited participants keep their counsellor: the reports count the case for who led it.
    return list(
        session.scalars(
            sa.select(Participant.id)
            .where(Participant.counsellor_id == user_id, Participant.exit_on.is_(None))
            .order_by(Participant.id)
        )
    )


def _open_followups(user_id: int) -> sa.Select:
    return sa.select(FollowUp).where(FollowUp.assignee_id == user_id, FollowUp.status == "open")


def _open_inquiries(user_id: int) -> sa.Select:
    return sa.select(Inquiry).where(
        Inquiry.assigned_to_id == user_id, Inquiry.status.in_(OPEN_STATUSES)
    )


def _coming_events(user_id: int, now: datetime) -> sa.Select:
    return sa.select(Event).where(
        Event.responsible_id == user_id, Event.ends_at >= now, Event.status != "cancelled"
    )


def _count(session: Session, stmt: sa.Select) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery())) or 0


def holdings(session: Session, user: User, now: datetime) -> Holdings:
    """Count what `user` still holds: participants in counselling, open follow-ups, open
    inquiries, and events from `now` on that are not cancelled."""
    return Holdings(
        participants=len(_participant_ids(session, user.id)),
        followups=_count(session, _open_followups(user.id)),
        inquiries=_count(session, _open_inquiries(user.id)),
        events=_count(session, _coming_events(user.id, now)),
    )


def colleagues_for(session: Session, leaver: User) -> list[User]:
    """Active users who can be given tasks, without the leaving user, by name."""
    return [u for u in assignable_users(session) if u.id != leaver.id]


def hand_over(
    session: Session, leaver: User, colleague_id: int | None, now: datetime
) -> HandoverResult:
    """Give what `leaver` holds to the colleague with `colleague_id`; return what moved.

    Raise HandoverError if that id is not an active colleague who can be given tasks.
    Participants go only to a colleague working in their office and able to counsel.
    """
    colleague = assignable_user(session, colleague_id)
    if colleague is None or colleague.id == leaver.id:
        raise HandoverError("Bitte eine aktive Kollegin oder einen aktiven Kollegen wählen.")

    ids = _participant_ids(session, leaver.id)
    moved = other_office = not_counsellor = 0
    if ids and colleague.role not in COUNSELLING_ROLES:
        not_counsellor = len(ids)
    elif ids:
        moved, other_office = assign_counsellor(session, ids, colleague)

    followups_moved = 0
    for fu in session.scalars(_open_followups(leaver.id).order_by(FollowUp.id)):
        followups.reassign(session, fu, colleague)
        followups_moved += 1

    inquiries_moved = 0
    for inquiry in session.scalars(_open_inquiries(leaver.id).order_by(Inquiry.id)):
        intake.reassign(inquiry, colleague, now)
        inquiries_moved += 1

    events = list(session.scalars(_coming_events(leaver.id, now).order_by(Event.id)))
    for event in events:
        event.responsible_id = colleague.id
    # A series' future occurrences take its responsible person when they are regenerated,
    # so the series moves too (past occurrences keep who was responsible then).
    series = list(
        session.scalars(sa.select(EventSeries).where(EventSeries.responsible_id == leaver.id))
    )
    for s in series:
        s.responsible_id = colleague.id
    note = f"Zuständig: {leaver.display_name} → {colleague.display_name} (Übergabe)"
    record_each(session, "handover", entity_type="event", entities=[(e.id, note) for e in events])
    record_each(
        session, "handover", entity_type="event_series", entities=[(s.id, note) for s in series]
    )

    result = HandoverResult(
        colleague=colleague.display_name,
        participants=moved,
        participants_other_office=other_office,
        participants_not_counsellor=not_counsellor,
        followups=followups_moved,
        inquiries=inquiries_moved,
        events=len(events),
    )
    record(
        session,
        "handover",
        entity_type="user_account",
        entity_id=leaver.id,
        summary=(
            f"Übergabe an {colleague.display_name}: {result.participants} Teilnehmende "
            f"({result.skipped} übersprungen), {result.followups} Wiedervorlagen, "
            f"{result.inquiries} Anfragen, {result.events} Termine"
        ),
    )
    session.flush()
    return result

"""Absences (Abwesenheiten): the days a user is away, and who may record them.

Days are Europe/Berlin calendar dates, first and last inclusive. Every user keeps their own;
a lead keeps those of the users in their offices, an admin everybody's. The inquiry round
robin (crm.intake.service) asks `absent_user_ids` for the day an inquiry arrives.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session, joinedload

from crm.accounts.models import ABSENCE_KINDS, Absence, Role, User, user_office

# Absences listed on one user's page: the current and coming ones, then a few past ones.
LIST_LIMIT = 50
PAST_SHOWN = 10


class AbsenceError(ValueError):
    """A refused absence, with a message for the user."""


def may_manage(actor: Any, target: User) -> bool:
    """True if `actor` may add, change and delete `target`'s absences."""
    if actor.id == target.id or actor.role == Role.ADMIN.value:
        return True
    if actor.role == Role.LEAD.value:
        return bool(set(actor.office_ids) & set(target.office_ids))
    return False


def manages_others(actor: Any) -> bool:
    """True if `actor` keeps absences of other users (leads and admins)."""
    return actor.role in (Role.ADMIN.value, Role.LEAD.value)


def _office_members(office_ids: Iterable[int]) -> sa.ColumnElement[bool]:
    ids = list(office_ids)
    return sa.or_(
        User.office_id.in_(ids),
        User.id.in_(sa.select(user_office.c.user_id).where(user_office.c.office_id.in_(ids))),
    )


def managed_users(session: Session, actor: Any) -> list[User]:
    """The active users whose absences `actor` keeps, by name (the actor included)."""
    query = sa.select(User).where(User.is_active_flag.is_(True)).order_by(User.display_name)
    if actor.role == Role.ADMIN.value:
        return list(session.scalars(query))
    if actor.role == Role.LEAD.value:
        return list(
            session.scalars(
                query.where(sa.or_(User.id == actor.id, _office_members(actor.office_ids)))
            )
        )
    return [actor]


def absences_of(session: Session, user_id: int, today: date) -> list[Absence]:
    """The user's current and coming absences in date order, then the latest past ones."""
    coming = list(
        session.scalars(
            sa.select(Absence)
            .where(Absence.user_id == user_id, Absence.last_day >= today)
            .order_by(Absence.first_day, Absence.id)
            .limit(LIST_LIMIT)
        )
    )
    past = list(
        session.scalars(
            sa.select(Absence)
            .where(Absence.user_id == user_id, Absence.last_day < today)
            .order_by(Absence.last_day.desc(), Absence.id.desc())
            .limit(PAST_SHOWN)
        )
    )
    return coming + past


def save_absence(
    session: Session,
    actor: Any,
    target: User,
    *,
    first_day: date,
    last_day: date,
    kind: str,
    note: str = "",
    absence: Absence | None = None,
) -> Absence:
    """Add an absence for `target` (or change `absence`) after checking the rules."""
    if not may_manage(actor, target):
        raise AbsenceError(_l("You may not change this user's absences."))
    if last_day < first_day:
        raise AbsenceError(_l("The last day must not be before the first day."))
    if kind not in ABSENCE_KINDS:
        raise AbsenceError(_l("Please choose a kind of absence."))
    overlapping = session.scalar(
        sa.select(Absence)
        .where(
            Absence.user_id == target.id,
            Absence.first_day <= last_day,
            Absence.last_day >= first_day,
            Absence.id != (absence.id if absence is not None else -1),
        )
        .order_by(Absence.first_day)
        .limit(1)
    )
    if overlapping is not None:
        raise AbsenceError(
            _l(
                "This overlaps the absence from %(first)s to %(last)s.",
                first=overlapping.first_day.strftime("%d.%m.%Y"),
                last=overlapping.last_day.strftime("%d.%m.%Y"),
            )
        )
    if absence is None:
        absence = Absence(user_id=target.id, created_by_id=actor.id)
        session.add(absence)
    absence.first_day = first_day
    absence.last_day = last_day
    absence.kind = kind
    absence.note = note.strip()
    session.flush()
    return absence


def delete_absence(session: Session, actor: Any, absence: Absence) -> None:
    """Delete an absence `actor` may manage."""
    if not may_manage(actor, absence.user):
        raise AbsenceError(_l("You may not change this user's absences."))
    session.delete(absence)
    session.flush()


def absent_user_ids(session: Session, user_ids: Iterable[int], day: date) -> set[int]:
    """Which of these users are absent on `day` (one query)."""
    ids = list(user_ids)
    if not ids:
        return set()
    return set(
        session.scalars(
            sa.select(Absence.user_id).where(
                Absence.user_id.in_(ids), Absence.first_day <= day, Absence.last_day >= day
            )
        )
    )


def absent_until(session: Session, user_id: int, day: date) -> date | None:
    """The last day of the user's absence that covers `day`, following absences that continue
    it without a gap (vacation followed by a business trip); None if the user is present."""
    rows = session.execute(
        sa.select(Absence.first_day, Absence.last_day)
        .where(Absence.user_id == user_id, Absence.last_day >= day)
        .order_by(Absence.first_day)
        .limit(LIST_LIMIT)
    ).all()
    until: date | None = None
    for first, last in rows:
        if until is None:
            if first > day:
                return None
            until = last
        elif first <= until + timedelta(days=1):
            until = max(until, last)
        else:
            break
    return until


def team_absences(
    session: Session, actor: Any, first_day: date, last_day: date, limit: int
) -> list[Absence]:
    """Absences of the users `actor` keeps that touch the given days, earliest first."""
    query = (
        sa.select(Absence)
        .join(User, User.id == Absence.user_id)
        .where(
            Absence.first_day <= last_day,
            Absence.last_day >= first_day,
            User.is_active_flag.is_(True),
        )
        .options(joinedload(Absence.user))
        .order_by(Absence.first_day, User.display_name, Absence.id)
        .limit(limit)
    )
    if actor.role != Role.ADMIN.value:
        query = query.where(_office_members(actor.office_ids))
    return list(session.scalars(query))

"""Figures of past events for the funder report: registrations, attendance rate, new contacts
and organisations represented, per event and over a period.

A past event is one that has ended before `now` and is not cancelled; the period selects events
by their Berlin start day. Everything is counted in the database with GROUP BY, a fixed number
of statements however many events the period holds, and the same SQL runs on SQLite and
PostgreSQL (the one date difference is spelled per dialect in `_days_between`).

Who took part: public registrations (`EventRegistration`) and the contacts list of the event
(`EventContact`) describe the same people twice when a registration is linked to a person (the
registration's status is carried to the person's EventContact). So each person counts once per
event, with their furthest status (attended > no-show > registered > invited); a registration
without a person counts on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from crm.contacts.models import Affiliation, Organisation, Person
from crm.dashboard.weeks import local_midnight
from crm.events.models import SEAT_STATUSES, Event, EventContact, EventRegistration, Lead

PRESETS = ("12m", "100d", "year", "last_year")
# The longest period a list covers: three years keeps the table one readable page.
MAX_DAYS = 3 * 366
# A person counts as a new contact of their first event only if their record is at most this
# many days older than the event: invitation and registration lists are typed in ahead of time,
# but people known long before are not new.
NEW_CONTACT_DAYS = 90

# Status ranks: a person's furthest status at an event wins.
INVITED, REGISTERED, NO_SHOW, ATTENDED = 1, 2, 3, 4
_RANKS = {"invited": INVITED, "registered": REGISTERED, "no_show": NO_SHOW, "attended": ATTENDED}


class PeriodError(ValueError):
    """A period that cannot be shown (bad dates, end before start, too long)."""


@dataclass(frozen=True)
class Period:
    """Berlin calendar days `start` to `end`, both included."""

    start: date
    end: date

    @property
    def since(self) -> datetime:
        return local_midnight(self.start)

    @property
    def until(self) -> datetime:
        return local_midnight(self.end + timedelta(days=1))

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def preset_period(preset: str, today: date) -> Period:
    """A named period: the last 12 months (default), the last 100 days, this year, last year."""
    if preset == "100d":
        return Period(today - timedelta(days=99), today)
    if preset == "year":
        return Period(date(today.year, 1, 1), today)
    if preset == "last_year":
        return Period(date(today.year - 1, 1, 1), date(today.year - 1, 12, 31))
    try:
        year_ago = today.replace(year=today.year - 1)
    except ValueError:  # 29 February
        year_ago = today.replace(year=today.year - 1, day=28)
    return Period(year_ago + timedelta(days=1), today)


def checked_period(start: date, end: date) -> Period:
    """The period from `start` to `end`; PeriodError if it is reversed or too long."""
    if end < start:
        raise PeriodError("reversed")
    if (end - start).days >= MAX_DAYS:
        raise PeriodError("too long")
    return Period(start, end)


@dataclass
class Figures:
    """The figures of one event, or (with `event_id` None) the totals of a period."""

    event_id: int | None = None
    title: str = ""
    kind: str = ""
    starts_at: datetime | None = None
    all_day: bool = False
    invited: int = 0
    # Registered, attended or no-show: everybody who held a seat (not waitlisted, cancelled).
    registrations: int = 0
    attended: int = 0
    no_show: int = 0
    new_contacts: int = 0
    organisations: int = 0

    @property
    def expected(self) -> int:
        """People whose attendance is known: attended or missing."""
        return self.attended + self.no_show

    @property
    def attendance_rate(self) -> float | None:
        """Attended out of attended plus no-shows; None when nobody was expected."""
        return self.attended / self.expected if self.expected else None


@dataclass
class FiguresReport:
    period: Period
    events: list[Figures]
    totals: Figures = field(default_factory=Figures)


def _days_between(session: Session, later: Any, earlier: Any) -> Any:
    """SQL for `later - earlier` in days (the two databases spell it differently)."""
    if session.get_bind().dialect.name == "postgresql":
        return sa.func.extract("epoch", later - earlier) / 86400.0
    return sa.func.julianday(later) - sa.func.julianday(earlier)


def _rank(status: Any) -> sa.ColumnElement[int]:
    return sa.case(*((status == s, r) for s, r in _RANKS.items()), else_=0)


def _folded(name: Any) -> sa.ColumnElement[str]:
    """An organisation name compared ignoring case and surrounding blanks."""
    # SQLite's lower() folds ASCII only: the German capitals are folded first, so "MÜLLER GmbH"
    # and "Müller GmbH" are one organisation on both databases.
    folded = sa.func.trim(name)
    for upper, lower in (("Ä", "ä"), ("Ö", "ö"), ("Ü", "ü")):
        folded = sa.func.replace(folded, upper, lower)
    return sa.func.lower(folded)


def _chosen_events(
    period: Period, now: datetime, kind: str, responsible_id: int | None
) -> sa.Select[Any]:
    query = sa.select(Event.id).where(
        Event.status != "cancelled",
        Event.ends_at < now,
        Event.starts_at >= period.since,
        Event.starts_at < period.until,
    )
    if kind:
        query = query.where(Event.kind == kind)
    if responsible_id is not None:
        query = query.where(Event.responsible_id == responsible_id)
    return query


def _attendance(session: Session, chosen: sa.Select[Any]) -> dict[int, tuple[int, ...]]:
    """Per event: (invited, registrations, attended, no-show), each person counted once."""
    no_id = sa.cast(sa.null(), sa.Integer)
    links = sa.union_all(
        sa.select(
            EventRegistration.event_id.label("event_id"),
            EventRegistration.person_id.label("person_id"),
            # A registration of a person is that person; one without counts by itself.
            sa.case(
                (EventRegistration.person_id.is_(None), EventRegistration.id), else_=no_id
            ).label("registration_id"),
            _rank(EventRegistration.status).label("rank"),
        ).where(
            EventRegistration.event_id.in_(chosen),
            EventRegistration.status.in_(SEAT_STATUSES),
        ),
        sa.select(
            EventContact.event_id,
            EventContact.person_id,
            no_id,
            _rank(EventContact.status),
        ).where(EventContact.event_id.in_(chosen)),
    ).subquery()
    people = (
        sa.select(links.c.event_id, sa.func.max(links.c.rank).label("rank"))
        .group_by(links.c.event_id, links.c.person_id, links.c.registration_id)
        .subquery()
    )

    def having(*ranks: int) -> Any:
        return sa.func.sum(sa.case((people.c.rank.in_(ranks), 1), else_=0))

    rows = session.execute(
        sa.select(
            people.c.event_id,
            having(INVITED),
            having(REGISTERED, NO_SHOW, ATTENDED),
            having(ATTENDED),
            having(NO_SHOW),
        ).group_by(people.c.event_id)
    ).all()
    return {row[0]: tuple(int(n or 0) for n in row[1:]) for row in rows}


def _new_contacts(session: Session, chosen: sa.Select[Any]) -> dict[int, int]:
    """Per event: the people for whom it is their first event and who are new (module doc)."""
    links = sa.union(
        sa.select(Lead.event_id.label("event_id"), Lead.person_id.label("person_id")),
        sa.select(EventContact.event_id, EventContact.person_id).where(
            EventContact.status != "invited"
        ),
        sa.select(EventRegistration.event_id, EventRegistration.person_id).where(
            EventRegistration.person_id.is_not(None),
            EventRegistration.status.in_(SEAT_STATUSES),
        ),
    ).subquery()
    # Only the people of the chosen events need their first event found.
    concerned = sa.select(links.c.person_id).where(links.c.event_id.in_(chosen))
    first = (
        sa.select(
            links.c.event_id,
            links.c.person_id,
            Event.starts_at,
            sa.func.row_number()
            .over(partition_by=links.c.person_id, order_by=(Event.starts_at, Event.id))
            .label("n"),
        )
        .join(Event, Event.id == links.c.event_id)
        .where(Event.status != "cancelled", links.c.person_id.in_(concerned))
        .subquery()
    )
    rows = session.execute(
        sa.select(first.c.event_id, sa.func.count())
        .join(Person, Person.id == first.c.person_id)
        .where(
            first.c.n == 1,
            first.c.event_id.in_(chosen),
            _days_between(session, first.c.starts_at, Person.created_at) <= NEW_CONTACT_DAYS,
        )
        .group_by(first.c.event_id)
    ).all()
    return {event_id: int(n) for event_id, n in rows}


def _organisation_names(chosen: sa.Select[Any]) -> Any:
    """(event_id, folded name) of every organisation represented at the chosen events."""
    attendees = sa.union(
        sa.select(EventContact.event_id.label("event_id"), EventContact.person_id.label("pid"))
        .where(EventContact.status == "attended")
        .where(EventContact.event_id.in_(chosen)),
        sa.select(EventRegistration.event_id, EventRegistration.person_id).where(
            EventRegistration.status == "attended",
            EventRegistration.person_id.is_not(None),
            EventRegistration.event_id.in_(chosen),
        ),
        sa.select(Lead.event_id, Lead.person_id).where(Lead.event_id.in_(chosen)),
    ).subquery()
    return sa.union(
        sa.select(attendees.c.event_id, _folded(Organisation.name).label("name"))
        .join(Affiliation, Affiliation.person_id == attendees.c.pid)
        .join(Organisation, Organisation.id == Affiliation.organisation_id),
        sa.select(Lead.event_id, _folded(Organisation.name))
        .join(Organisation, Organisation.id == Lead.organisation_id)
        .where(Lead.event_id.in_(chosen)),
        sa.select(EventRegistration.event_id, _folded(EventRegistration.organisation)).where(
            EventRegistration.status == "attended",
            _folded(EventRegistration.organisation) != "",
            EventRegistration.event_id.in_(chosen),
        ),
    ).subquery()


def past_event_figures(
    session: Session,
    period: Period,
    *,
    now: datetime,
    kind: str = "",
    responsible_id: int | None = None,
) -> FiguresReport:
    """The figures of every past, not cancelled event starting in `period`, and their totals.

    Totals add up the events' figures, except organisations: an organisation at several
    events of the period counts once.
    """
    chosen = _chosen_events(period, now, kind, responsible_id)
    events = session.execute(
        sa.select(Event.id, Event.title, Event.kind, Event.starts_at, Event.all_day)
        .where(Event.id.in_(chosen))
        .order_by(Event.starts_at, Event.id)
    ).all()
    attendance = _attendance(session, chosen)
    new = _new_contacts(session, chosen)
    names = _organisation_names(chosen)
    organisations: dict[int, int] = {
        event_id: int(n)
        for event_id, n in session.execute(
            sa.select(names.c.event_id, sa.func.count(sa.distinct(names.c.name))).group_by(
                names.c.event_id
            )
        )
    }
    rows = []
    for event_id, title, event_kind, starts_at, all_day in events:
        invited, registrations, attended, no_show = attendance.get(event_id, (0, 0, 0, 0))
        rows.append(
            Figures(
                event_id=event_id,
                title=title,
                kind=event_kind,
                starts_at=starts_at,
                all_day=all_day,
                invited=invited,
                registrations=registrations,
                attended=attended,
                no_show=no_show,
                new_contacts=new.get(event_id, 0),
                organisations=organisations.get(event_id, 0),
            )
        )
    totals = Figures(
        invited=sum(r.invited for r in rows),
        registrations=sum(r.registrations for r in rows),
        attended=sum(r.attended for r in rows),
        no_show=sum(r.no_show for r in rows),
        # Each person has one first event, so the sum counts nobody twice.
        new_contacts=sum(r.new_contacts for r in rows),
        organisations=int(session.scalar(sa.select(sa.func.count(sa.distinct(names.c.name)))) or 0),
    )
    return FiguresReport(period=period, events=rows, totals=totals)

"""The calendar: events, series occurrences and staff duties in a date range, filtered.

Series are materialised as Event rows up to a horizon (see `service.materialise`); a range
beyond it is filled by expanding the series' rule here, so far months are not empty. Such a
"virtual" occurrence links to the series' last materialised date.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session, joinedload

from crm.accounts.models import User, user_office
from crm.events import series as rules
from crm.events.models import KINDS, Event, EventSeries, StaffSlot
from crm.events.series import BERLIN, to_utc

# A calendar page never spans more than this (the agenda's longest range, a month grid).
MAX_RANGE_DAYS = 62
# Days a calendar may show: the same bounds the forms accept for dates.
EARLIEST = date(1900, 1, 1)
LATEST = date(2200, 12, 31)


@dataclass(frozen=True)
class CalendarFilter:
    """What the calendar is narrowed to; empty values mean "all"."""

    office_id: int | None = None
    kind: str = ""
    person_id: int | None = None


@dataclass
class Entry:
    """One line in the calendar: an event (or series occurrence) or a staff duty at one."""

    event_id: int
    title: str
    kind: str
    starts_at: datetime  # aware UTC
    ends_at: datetime
    all_day: bool = False
    place: str = ""
    cancelled: bool = False
    in_series: bool = False
    # Expanded from the rule beyond the materialised horizon (no row of its own yet).
    virtual: bool = False
    duty_of: str | None = None  # the staff member's name for a duty
    responsible: str | None = None
    days: list[date] = field(default_factory=list)

    @property
    def is_duty(self) -> bool:
        """True for a staff duty (Standdienst) rather than the event itself."""
        return self.duty_of is not None


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=BERLIN).astimezone(UTC)


def _days_of(starts_at: datetime, ends_at: datetime, first: date, last: date) -> list[date]:
    """The local days [first, last] an entry touches (an end at midnight is the day before)."""
    start_day = starts_at.astimezone(BERLIN).date()
    end_local = ends_at.astimezone(BERLIN)
    end_day = end_local.date()
    if end_local.time() == time(0) and end_day > start_day:
        end_day -= timedelta(days=1)
    day = max(start_day, first)
    out = []
    while day <= min(end_day, last):
        out.append(day)
        day += timedelta(days=1)
    return out


def _office_users(office_id: int) -> sa.Select:
    """Ids of the users working in an office (home office or one of their further offices)."""
    return sa.select(User.id).where(
        sa.or_(
            User.office_id == office_id,
            User.id.in_(
                sa.select(user_office.c.user_id).where(user_office.c.office_id == office_id)
            ),
        )
    )


def _event_conditions(filters: CalendarFilter, event_id, kind, responsible_id) -> list:
    """Filter conditions shared by events and series: kind, and person/office involvement."""
    where = []
    if filters.kind:
        where.append(kind == filters.kind)
    for users in _involved(filters):
        on_duty = sa.select(StaffSlot.event_id).where(StaffSlot.user_id.in_(users))
        if event_id is None:
            where.append(responsible_id.in_(users))
        else:
            where.append(sa.or_(responsible_id.in_(users), event_id.in_(on_duty)))
    return where


def _involved(filters: CalendarFilter) -> list:
    """One user-id selection per person/office filter: an entry must involve each of them."""
    out: list = []
    if filters.person_id is not None:
        out.append([filters.person_id])
    if filters.office_id is not None:
        out.append(_office_users(filters.office_id))
    return out


def entries(session: Session, first: date, last: date, filters: CalendarFilter) -> list[Entry]:
    """Events, series occurrences and staff duties touching the local days [first, last].

    Filters: kind; a person (events they are responsible for or on duty at, and only their
    duties); an office (the same for everyone working there). Four queries at most, however
    many entries the range holds.
    """
    first, last = max(first, EARLIEST), min(last, LATEST)
    if last < first:
        return []
    since, until = _day_start(first), _day_start(last + timedelta(days=1))
    if filters.kind and filters.kind not in KINDS:
        return []
    out: list[Entry] = []
    events = session.scalars(
        sa.select(Event)
        .where(
            Event.starts_at < until,
            Event.ends_at >= since,
            *_event_conditions(filters, Event.id, Event.kind, Event.responsible_id),
        )
        .options(joinedload(Event.responsible))
        .order_by(Event.starts_at, Event.id)
    )
    for e in events:
        out.append(
            Entry(
                event_id=e.id,
                title=e.title,
                kind=e.kind,
                starts_at=e.starts_at,
                ends_at=e.ends_at,
                all_day=e.all_day,
                place=e.place,
                cancelled=e.is_cancelled,
                in_series=e.series_id is not None,
                responsible=e.responsible.display_name if e.responsible else None,
            )
        )
    slot_where = [StaffSlot.starts_at < until, StaffSlot.ends_at > since]
    if filters.kind:
        slot_where.append(Event.kind == filters.kind)
    for users in _involved(filters):
        slot_where.append(StaffSlot.user_id.in_(users))
    slots = session.scalars(
        sa.select(StaffSlot)
        .join(Event, Event.id == StaffSlot.event_id)
        .where(*slot_where)
        .options(joinedload(StaffSlot.event), joinedload(StaffSlot.user))
        .order_by(StaffSlot.starts_at, StaffSlot.id)
    )
    for slot in slots:
        out.append(
            Entry(
                event_id=slot.event_id,
                title=slot.event.title,
                kind=slot.event.kind,
                starts_at=slot.starts_at,
                ends_at=slot.ends_at,
                place=slot.event.place,
                cancelled=slot.event.is_cancelled,
                in_series=slot.event.series_id is not None,
                duty_of=slot.user.display_name,
            )
        )
    out += _virtual_occurrences(session, first, last, filters)
    for entry in out:
        entry.days = _days_of(entry.starts_at, entry.ends_at, first, last)
    out.sort(key=lambda x: (x.starts_at, x.is_duty, x.title, x.event_id))
    return out


def _virtual_occurrences(
    session: Session, first: date, last: date, filters: CalendarFilter
) -> list[Entry]:
    """Occurrences of series whose materialised dates end before `last` (rule expanded)."""
    found = list(
        session.scalars(
            sa.select(EventSeries)
            .where(
                EventSeries.materialised_until.is_not(None),
                EventSeries.materialised_until < last,
                *_event_conditions(filters, None, EventSeries.kind, EventSeries.responsible_id),
            )
            .options(joinedload(EventSeries.responsible))
        )
    )
    if not found:
        return []
    # The date a virtual occurrence links to: the series' last materialised one.
    latest = dict(
        session.execute(
            sa.select(Event.series_id, sa.func.max(Event.id))
            .where(Event.series_id.in_([s.id for s in found]))
            .group_by(Event.series_id)
        ).all()
    )
    out = []
    for s in found:
        link = latest.get(s.id)
        if link is None or s.materialised_until is None:
            continue
        start_day = max(first, s.materialised_until + timedelta(days=1))
        for local in rules.occurrences(s.rrule, s.start_local, last):
            if local.date() < start_day:
                continue
            starts_at = to_utc(local)
            duration = timedelta(minutes=s.duration_minutes)
            ends_at = to_utc(local + duration) if s.all_day else starts_at + duration
            out.append(
                Entry(
                    event_id=link,
                    title=s.title,
                    kind=s.kind,
                    starts_at=starts_at,
                    ends_at=ends_at,
                    all_day=s.all_day,
                    place=s.place,
                    in_series=True,
                    virtual=True,
                    responsible=s.responsible.display_name if s.responsible else None,
                )
            )
    return out


VIEWS = ("monat", "woche", "liste")
AGENDA_DAYS = 30


@dataclass(frozen=True)
class Period:
    """The days one calendar page shows and where "previous" and "next" lead."""

    view: str
    first: date
    last: date
    anchor: date  # the month's first day, or the first day shown
    weeks: list[list[date]]  # the month grid (empty for week and agenda)
    prev: dict[str, str] | None  # query arguments of the neighbouring pages
    next: dict[str, str] | None
    valid: bool  # False when the requested month or day was unusable (today is shown)

    @property
    def days(self) -> list[date]:
        """Every day of the period in order."""
        return [self.first + timedelta(days=i) for i in range((self.last - self.first).days + 1)]


def period(view: str, month: str | None, day: str | None, today: date) -> Period:
    """The period of a month (`2026-12`), week or 30-day agenda (from `2026-12-07`) page.

    A missing value means the current month or day; an unusable one too, with `valid` False.
    """
    if view not in VIEWS:
        view = "monat"
    if view == "monat":
        start = parse_month(month) if month else None
        valid = not month or start is not None
        start = start or today.replace(day=1)
        weeks = month_weeks(start.year, start.month)
        before = (start - timedelta(days=1)).replace(day=1)
        after = (start + timedelta(days=32)).replace(day=1)
        return Period(
            view,
            weeks[0][0],
            weeks[-1][-1],
            start,
            weeks,
            {"monat": before.strftime("%Y-%m")} if before >= EARLIEST else None,
            {"monat": after.strftime("%Y-%m")} if after <= LATEST else None,
            valid,
        )
    shown = parse_day(day) if day else None
    valid = not day or shown is not None
    shown = shown or today
    length = 7 if view == "woche" else AGENDA_DAYS
    first = shown - timedelta(days=shown.weekday()) if view == "woche" else shown
    before, after = first - timedelta(days=length), first + timedelta(days=length)
    return Period(
        view,
        first,
        first + timedelta(days=length - 1),
        first,
        [],
        {"datum": before.isoformat()} if parse_day(before.isoformat()) else None,
        {"datum": after.isoformat()} if parse_day(after.isoformat()) else None,
        valid,
    )


def by_day(items: list[Entry]) -> dict[date, list[Entry]]:
    """The entries grouped under every local day they touch, in time order."""
    days: dict[date, list[Entry]] = {}
    for entry in items:
        for day in entry.days:
            days.setdefault(day, []).append(entry)
    return days


def month_weeks(year: int, month: int) -> list[list[date]]:
    """The weeks (Monday first) of a month grid, including the neighbouring months' days."""
    first = date(year, month, 1)
    start = first - timedelta(days=first.weekday())
    following = date(year + month // 12, month % 12 + 1, 1)
    weeks = []
    day = start
    while day < following:
        weeks.append([day + timedelta(days=i) for i in range(7)])
        day += timedelta(days=7)
    return weeks


def parse_month(text: str | None) -> date | None:
    """`2026-12` as the first of that month, or None if it is not a month we can show."""
    try:
        year, month = (int(part) for part in (text or "").split("-"))
        day = date(year, month, 1)
    except ValueError:
        return None
    return day if EARLIEST <= day <= LATEST else None


def parse_day(text: str | None) -> date | None:
    """`2026-12-07` as a date, or None if it is not a day we can show."""
    try:
        day = date.fromisoformat(text or "")
    except ValueError:
        return None
    return day if EARLIEST <= day <= LATEST - timedelta(days=MAX_RANGE_DAYS) else None

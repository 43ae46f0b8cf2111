"""Event rules: single dates and series, occurrences, fair planning, leads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, joinedload, selectinload

from crm.accounts.models import User
from crm.contacts.models import ContactListMember, Organisation, Person
from crm.contacts.service import (
    add_affiliation,
    find_organisation_duplicates,
    find_person_duplicates,
    log_activity,
    save_organisation,
    save_person,
)
from crm.events import series as rules
from crm.events.models import (
    CONTACT_STATUSES,
    KINDS,
    ChecklistItem,
    Event,
    EventContact,
    EventMinutes,
    EventSeries,
    Lead,
    StaffSlot,
)
from crm.events.series import BERLIN, to_utc
from crm.followups.models import FollowUp
from crm.followups.service import create_followup
from crm.signals import RowChange, delete_where, merging, move_column

DEFAULT_HORIZON_DAYS = 180
# The items every fair needs; more can be added per event.
DEFAULT_FAIR_CHECKLIST = (
    ("registration", "Standfläche angemeldet"),
    ("materials", "Flyer und Roll-up eingepackt"),
    ("booth", "Stand aufgebaut"),
)


class EventError(ValueError):
    """The requested change is not allowed or the data is invalid."""


@dataclass
class EventData:
    """What the event form gives: local start/end, fields shared by single dates and series."""

    kind: str
    title: str
    start_local: datetime  # naive, Europe/Berlin wall clock
    end_local: datetime
    all_day: bool = False
    place: str = ""
    description: str = ""
    organiser_id: int | None = None
    responsible_id: int | None = None

    def check(self) -> None:
        if self.kind not in KINDS:
            raise EventError(f"unknown kind {self.kind!r}")
        if not self.title.strip():
            raise EventError("title must not be empty")
        if to_utc(self.end_local) < to_utc(self.start_local):
            raise EventError("the end lies before the start")

    @property
    def duration(self) -> timedelta:
        """How long it lasts: exactly for timed dates, in calendar days for all-day ones."""
        if self.all_day:
            return self.end_local - self.start_local
        return to_utc(self.end_local) - to_utc(self.start_local)


def local_span(
    start_day: date, start_time: time | None, end_day: date | None, end_time: time | None
) -> tuple[datetime, datetime, bool]:
    """Naive local start and end from form fields; no times means an all-day event.

    An all-day event runs from local midnight of its first day to midnight after its last.
    """
    end_day = end_day or start_day
    if start_time is None:
        return (
            datetime.combine(start_day, time(0)),
            datetime.combine(end_day + timedelta(days=1), time(0)),
            True,
        )
    end = datetime.combine(end_day, end_time or start_time)
    if end_time is None:
        end += timedelta(hours=1)
    return datetime.combine(start_day, start_time), end, False


def _apply(target: Any, data: EventData) -> None:
    target.kind = data.kind
    target.title = data.title.strip()[:200]
    target.all_day = data.all_day
    target.place = data.place.strip()[:200]
    target.description = data.description.strip()
    target.organiser_id = data.organiser_id
    target.responsible_id = data.responsible_id


# --- single events and series --------------------------------------------------------------------


def create_event(session: Session, data: EventData) -> Event:
    """A single date."""
    data.check()
    event = Event(starts_at=to_utc(data.start_local), ends_at=to_utc(data.end_local))
    _apply(event, data)
    session.add(event)
    session.flush()
    return event


def create_series(
    session: Session, data: EventData, rule: str, *, today: date, horizon_days: int
) -> EventSeries:
    """A series with its RRULE; its occurrences are created up to the horizon at once."""
    data.check()
    rule = rules.validate_rule(rule, data.start_local)
    s = EventSeries(
        rrule=rule,
        start_local=data.start_local,
        duration_minutes=int(data.duration.total_seconds() // 60),
    )
    _apply(s, data)
    session.add(s)
    session.flush()
    materialise(session, s, today=today, horizon_days=horizon_days)
    return s


def _is_bare(session: Session, event: Event) -> bool:
    """True if nothing was planned on the occurrence (it may be regenerated or removed)."""
    for model in (StaffSlot, ChecklistItem, EventContact, Lead, EventMinutes):
        if session.scalar(sa.select(sa.exists().where(model.event_id == event.id))):
            return False
    return not session.scalar(sa.select(sa.exists().where(FollowUp.event_id == event.id)))


def materialise(session: Session, s: EventSeries, *, today: date, horizon_days: int) -> int:
    """Create the missing occurrences up to today + horizon; update untouched future ones.

    Idempotent: an occurrence is identified by (series, occurrence_key), the UTC moment its
    rule generated. Moved or cancelled occurrences (`is_exception`) are never touched.
    Future occurrences the rule no longer yields are removed if nothing was planned on them.
    Returns the number of occurrences created.
    """
    until = today + timedelta(days=horizon_days)
    wanted = {to_utc(local): local for local in rules.occurrences(s.rrule, s.start_local, until)}
    existing = {
        e.occurrence_key: e
        for e in session.scalars(sa.select(Event).where(Event.series_id == s.id))
        if e.occurrence_key is not None
    }
    duration = timedelta(minutes=s.duration_minutes)
    now = datetime.combine(today, time(0), tzinfo=BERLIN).astimezone(UTC)
    created = 0
    for key, local in wanted.items():
        event = existing.get(key)
        if event is None:
            event = Event(series_id=s.id, occurrence_key=key)
            session.add(event)
            created += 1
        elif event.is_exception or key < now:
            continue
        _apply(event, s)
        event.starts_at = key
        # RFC 5545 3.8.5.3: a timed occurrence lasts exactly as long as the first, as calendar
        # clients expand it; a wall-clock end would end before the start on the spring night.
        event.ends_at = to_utc(local + duration) if s.all_day else key + duration
    for key, event in existing.items():
        if key not in wanted and key >= now and key.date() <= until and not event.is_exception:
            if _is_bare(session, event):
                session.delete(event)
            else:
                event.is_exception = True  # keep what was planned on it, as a standalone date
    s.materialised_until = until
    session.flush()
    return created


def materialise_all(session: Session, *, today: date, horizon_days: int) -> int:
    """Run `materialise` for every series (the daily job); returns occurrences created."""
    total = 0
    for s in session.scalars(sa.select(EventSeries).order_by(EventSeries.id)):
        total += materialise(session, s, today=today, horizon_days=horizon_days)
    return total


def update_event(session: Session, event: Event, data: EventData) -> Event:
    """Change a single date, or only this occurrence of a series (it becomes an exception)."""
    data.check()
    _apply(event, data)
    event.starts_at = to_utc(data.start_local)
    event.ends_at = to_utc(data.end_local)
    if event.series_id is not None:
        event.is_exception = True
    session.flush()
    return event


def cancel_event(session: Session, event: Event) -> Event:
    """Cancel a date; an occurrence stays cancelled when the series is regenerated."""
    event.status = "cancelled"
    if event.series_id is not None:
        event.is_exception = True
    session.flush()
    return event


def split_series(
    session: Session,
    event: Event,
    data: EventData,
    rule: str | None,
    *,
    today: date,
    horizon_days: int,
) -> EventSeries:
    """ "This and all following": end the old rule before `event`, start a new series there.

    The old series gets UNTIL just before this occurrence; its later occurrences without
    planning are removed, planned ones stay as standalone dates. The new series starts at
    the (possibly changed) start of `event` with `rule` (default: the old rule).
    """
    old = event.series
    if old is None or event.occurrence_key is None:
        raise EventError("not an occurrence of a series")
    data.check()
    original_local = event.occurrence_key.astimezone(BERLIN).replace(tzinfo=None)
    before = [
        d
        for d in rules.occurrences(old.rrule, old.start_local, original_local.date())
        if d < original_local
    ]
    new_rule = rules.validate_rule(rule or old.rrule, data.start_local)
    new_rule = ";".join(p for p in new_rule.split(";") if not p.startswith("COUNT="))
    for later in session.scalars(
        sa.select(Event).where(
            Event.series_id == old.id, Event.occurrence_key >= event.occurrence_key
        )
    ):
        if later.is_exception or not _is_bare(session, later):
            later.is_exception = True
            if later.id == event.id:
                later.series_id = None  # this date now belongs to the new series' first slot
        else:
            session.delete(later)
    session.flush()
    if before:
        old.rrule = rules.with_until(old.rrule, before[-1])
    else:
        session.delete(old)
    new = create_series(session, data, new_rule, today=today, horizon_days=horizon_days)
    if event.series_id is None and sa.inspect(event).persistent:
        # What was planned on the split occurrence moves onto the new series' first date.
        first = session.scalar(
            sa.select(Event).where(Event.series_id == new.id).order_by(Event.starts_at).limit(1)
        )
        if first is not None and first.starts_at == to_utc(data.start_local):
            _move_planning(session, event, first)
            session.delete(session.get(Event, event.id))
    session.flush()
    return new


def _move_planning(session: Session, src: Event, dst: Event) -> None:
    for model in (StaffSlot, ChecklistItem, EventContact, Lead, EventMinutes):
        session.execute(sa.update(model).where(model.event_id == src.id).values(event_id=dst.id))
    session.execute(sa.update(FollowUp).where(FollowUp.event_id == src.id).values(event_id=dst.id))
    session.expire_all()


# --- reading --------------------------------------------------------------------------------------


def upcoming(session: Session, since: datetime, *, limit: int, offset: int, kind: str = ""):
    """Events from `since` on in time order (a page), and the total."""
    where = [Event.ends_at >= since]
    if kind:
        where.append(Event.kind == kind)
    total = session.scalar(sa.select(sa.func.count()).select_from(Event).where(*where)) or 0
    items = list(
        session.scalars(
            sa.select(Event)
            .where(*where)
            .options(joinedload(Event.organiser), joinedload(Event.responsible))
            .order_by(Event.starts_at, Event.id)
            .limit(limit)
            .offset(offset)
        )
    )
    return items, total


def list_events(
    session: Session,
    since: datetime,
    *,
    past: bool = False,
    query: str = "",
    kind: str = "",
    limit: int,
    offset: int,
) -> tuple[list[Event], int]:
    """A page of events and the total: upcoming (from `since`, soonest first) or past
    (ended before `since`, latest first), optionally of one kind and matching `query`
    (every word in the title or the place)."""
    where: list[Any] = [Event.ends_at < since] if past else [Event.ends_at >= since]
    if kind:
        where.append(Event.kind == kind)
    for term in query.lower().split()[:10]:
        where.append(
            sa.or_(
                sa.func.lower(Event.title).contains(term, autoescape=True),
                sa.func.lower(Event.place).contains(term, autoescape=True),
            )
        )
    total = session.scalar(sa.select(sa.func.count()).select_from(Event).where(*where)) or 0
    order = (Event.starts_at.desc(), Event.id.desc()) if past else (Event.starts_at, Event.id)
    items = list(
        session.scalars(
            sa.select(Event)
            .where(*where)
            .options(joinedload(Event.organiser), joinedload(Event.responsible))
            .order_by(*order)
            .limit(limit)
            .offset(offset)
        )
    )
    return items, total


def same_title_and_day(
    session: Session, title: str, day: date, *, exclude_id: int | None = None
) -> list[Event]:
    """Non-cancelled events starting on the local `day` whose title equals `title`
    (trimmed, case-insensitive): probably the same date entered twice."""
    wanted = " ".join(title.split()).casefold()
    if not wanted:
        return []
    since = datetime.combine(day, time(0), tzinfo=BERLIN).astimezone(UTC)
    until = datetime.combine(day + timedelta(days=1), time(0), tzinfo=BERLIN).astimezone(UTC)
    # Compared in Python: SQLite's lower() folds ASCII letters only (Ä, Ü in fair names).
    candidates = session.scalars(
        sa.select(Event)
        .where(Event.starts_at >= since, Event.starts_at < until, Event.status != "cancelled")
        .order_by(Event.starts_at, Event.id)
    )
    return [
        e
        for e in candidates
        if e.id != exclude_id and " ".join(e.title.split()).casefold() == wanted
    ]


def get_event(session: Session, event_id: int) -> Event | None:
    return session.scalar(
        sa.select(Event)
        .where(Event.id == event_id)
        .options(
            joinedload(Event.organiser),
            joinedload(Event.responsible),
            joinedload(Event.series),
            selectinload(Event.slots).joinedload(StaffSlot.user),
            selectinload(Event.checklist),
        )
    )


def series_neighbours(session: Session, event: Event) -> tuple[Event | None, Event | None]:
    """The held (not cancelled) occurrences of `event`'s series just before and after it.

    Planning the next meeting of a series starts from the last one's minutes and agreed
    tasks, so the occurrence page links to both neighbours.
    """
    if event.series_id is None:
        return None, None
    same = (Event.series_id == event.series_id, Event.id != event.id, Event.status != "cancelled")
    before = session.scalar(
        sa.select(Event)
        .where(*same, Event.starts_at < event.starts_at)
        .order_by(Event.starts_at.desc())
        .limit(1)
    )
    after = session.scalar(
        sa.select(Event)
        .where(*same, Event.starts_at > event.starts_at)
        .order_by(Event.starts_at)
        .limit(1)
    )
    return before, after


# --- staff on duty -------------------------------------------------------------------------


@dataclass
class Conflict:
    slot: StaffSlot
    other: StaffSlot


def add_slot(
    session: Session, event: Event, user: User, starts_at: datetime, ends_at: datetime, note=""
) -> tuple[StaffSlot, list[StaffSlot]]:
    """Book `user` on duty; returns the slot and the user's overlapping slots (a warning only)."""
    if ends_at <= starts_at:
        raise EventError("the slot ends before it starts")
    slot = StaffSlot(event=event, user=user, starts_at=starts_at, ends_at=ends_at, note=note)
    session.add(slot)
    session.flush()
    return slot, overlapping(session, slot)


def overlapping(session: Session, slot: StaffSlot) -> list[StaffSlot]:
    """Other slots of the same user that overlap `slot` (at any event, not cancelled)."""
    return list(
        session.scalars(
            sa.select(StaffSlot)
            .join(Event, Event.id == StaffSlot.event_id)
            .where(
                StaffSlot.user_id == slot.user_id,
                StaffSlot.id != slot.id,
                StaffSlot.starts_at < slot.ends_at,
                StaffSlot.ends_at > slot.starts_at,
                Event.status != "cancelled",
            )
            .options(joinedload(StaffSlot.event))
            .order_by(StaffSlot.starts_at)
        )
    )


def conflicts_of(session: Session, event: Event) -> dict[int, list[StaffSlot]]:
    """For each slot of the event, the same person's overlapping slots elsewhere or here."""
    return {slot.id: found for slot in event.slots if (found := overlapping(session, slot))}


def remove_slot(session: Session, slot: StaffSlot) -> None:
    session.delete(slot)
    session.flush()


def on_duty(session: Session, user_id: int, start: datetime, end: datetime) -> list[StaffSlot]:
    """The user's slots overlapping [start, end) at events that are not cancelled."""
    return list(
        session.scalars(
            sa.select(StaffSlot)
            .join(Event, Event.id == StaffSlot.event_id)
            .where(
                StaffSlot.user_id == user_id,
                StaffSlot.starts_at < end,
                StaffSlot.ends_at > start,
                Event.status != "cancelled",
            )
            .options(joinedload(StaffSlot.event))
            .order_by(StaffSlot.starts_at, StaffSlot.id)
        )
    )


# --- checklist and contacts -----------------------------------------------------------------------


def add_checklist_item(session: Session, event: Event, category: str, label: str) -> ChecklistItem:
    if category not in event.checklist_categories or not label.strip():
        raise EventError("invalid checklist item")
    item = ChecklistItem(event=event, category=category, label=label.strip()[:200])
    session.add(item)
    session.flush()
    return item


def add_default_checklist(session: Session, event: Event) -> None:
    for category, label in DEFAULT_FAIR_CHECKLIST:
        add_checklist_item(session, event, category, label)


def set_contact(session: Session, event: Event, person: Person, status: str) -> EventContact:
    """Invite a person, or move them on to registered / attended / no-show."""
    if status not in CONTACT_STATUSES:
        raise EventError(f"unknown status {status!r}")
    row = session.scalar(
        sa.select(EventContact).where(
            EventContact.event_id == event.id, EventContact.person_id == person.id
        )
    )
    if row is None:
        row = EventContact(event_id=event.id, person=person)
        session.add(row)
    row.status = status
    session.flush()
    return row


def invite_contact_list(session: Session, event: Event, list_id: int) -> tuple[int, int]:
    """Enter every member of a contact list as invited; returns (entered, already there).

    People already on the event keep their status: a registration or attendance is never
    turned back into an invitation.
    """
    members = sa.select(ContactListMember.person_id).where(ContactListMember.list_id == list_id)
    present = set(
        session.scalars(
            sa.select(EventContact.person_id).where(
                EventContact.event_id == event.id, EventContact.person_id.in_(members)
            )
        )
    )
    entered = 0
    for person in session.scalars(
        sa.select(Person).where(Person.id.in_(members)).order_by(Person.id)
    ):
        if person.id in present:
            continue
        # Through the ORM, so each invitation is audited like one entered by hand.
        session.add(EventContact(event_id=event.id, person=person, status="invited"))
        entered += 1
    session.flush()
    return entered, len(present)


def contacts_of(session: Session, event: Event) -> list[EventContact]:
    return list(
        session.scalars(
            sa.select(EventContact)
            .where(EventContact.event_id == event.id)
            .options(joinedload(EventContact.person))
            .join(Person, Person.id == EventContact.person_id)
            .order_by(Person.sort_name, Person.id)
        )
    )


# --- leads ---------------------------------------------------------------------------------


@dataclass
class LeadData:
    first_name: str
    last_name: str
    email: str = ""
    phone: str = ""
    organisation_name: str = ""
    postcode: str = ""
    note: str = ""
    followup_subject: str = ""
    followup_due: date | None = None
    # A known organisation picked in the form: used as it is, not looked up by name.
    organisation_id: int | None = None


def capture_lead(
    session: Session,
    event: Event,
    data: LeadData,
    *,
    captured_by: User,
    assignee: User,
    now: datetime,
) -> Lead:
    """Find or create the person and organisation, log the fair contact, create the follow-up."""
    org = session.get(Organisation, data.organisation_id) if data.organisation_id else None
    if org is None and data.organisation_name.strip():
        hits = find_organisation_duplicates(
            session, name=data.organisation_name, postcode=data.postcode
        )
        org = (
            hits[0].record
            if hits
            else save_organisation(
                session,
                {
                    "name": data.organisation_name,
                    "postcode": data.postcode.strip()[:5],
                    "kind": "employer",
                },
            )
        )
    hits = find_person_duplicates(
        session,
        first_name=data.first_name,
        last_name=data.last_name,
        emails=[data.email] if data.email else [],
        organisation_id=org.id if org else None,
    )
    if hits:
        person = hits[0].record
    else:
        if not data.last_name.strip():
            raise EventError("a new person needs a last name")
        person = save_person(
            session,
            {
                "first_name": data.first_name,
                "last_name": data.last_name,
                "email": data.email,
                "phone": data.phone,
            },
        )
    if org is not None and not any(a.organisation_id == org.id for a in person.affiliations):
        add_affiliation(session, person, org)
    log_activity(
        session,
        kind="fair_contact",
        occurred_at=now,
        user_id=captured_by.id,
        subject=f"Kontakt: {event.title}"[:200],
        text=data.note,
        person=person,
        organisation=org,
    )
    due = data.followup_due or (now.astimezone(BERLIN).date() + timedelta(days=7))
    fu = create_followup(
        session,
        subject=data.followup_subject.strip() or f"Nachfassen: {event.title}",
        due_date=due,
        assignee=assignee,
        created_by=captured_by,
        note=data.note,
        person=person,
        organisation=org,
        event_id=event.id,
    )
    lead = Lead(
        event_id=event.id,
        person=person,
        organisation=org,
        followup_id=fu.id,
        captured_by=captured_by,
        note=data.note.strip(),
        created_at=now,
    )
    session.add(lead)
    session.flush()
    return lead


def leads_of(session: Session, event: Event) -> list[Lead]:
    """The event's leads with person, organisation and follow-up (state, assignee)."""
    return list(
        session.scalars(
            sa.select(Lead)
            .where(Lead.event_id == event.id)
            .options(
                joinedload(Lead.person),
                joinedload(Lead.organisation),
                joinedload(Lead.followup).joinedload(FollowUp.assignee),
            )
            .order_by(Lead.created_at, Lead.id)
        )
    )


def staff_of(session: Session, ids: list[int]) -> list[User]:
    return list(session.scalars(sa.select(User).where(User.id.in_(ids))))


def organisation_for(session: Session, org_id: int | None) -> Organisation | None:
    return session.get(Organisation, org_id) if org_id else None


def move_merged_references(
    entity_type: str, *, session: Session, keep_id: int, drop_id: int
) -> list[RowChange]:
    """merging handler: leads, event contacts and organisers move to the record kept."""
    changes: list[RowChange] = []
    if entity_type == "person":
        kept_events = sa.select(EventContact.event_id).where(EventContact.person_id == keep_id)
        changes += delete_where(
            session,
            EventContact,
            sa.and_(EventContact.person_id == drop_id, EventContact.event_id.in_(kept_events)),
            "person_id",
        )
        for model in (EventContact, Lead):
            changes += move_column(session, model.person_id, keep_id, drop_id)
    elif entity_type == "organisation":
        changes += move_column(session, Lead.organisation_id, keep_id, drop_id)
        for model in (Event, EventSeries):
            changes += move_column(session, model.organiser_id, keep_id, drop_id)
    return changes


def _revoke_feed_tokens(session: Session, *, user: Any, at: datetime) -> None:
    from crm.events import ical

    ical.revoke_tokens(session, user.id, at)


def connect_signals() -> None:
    """Take part in contact merges and user deactivation (called once by create_app)."""
    from crm.accounts.signals import user_deactivated

    merging.connect(move_merged_references)
    user_deactivated.connect(_revoke_feed_tokens)

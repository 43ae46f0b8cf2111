"""Public event registration: settings per event, seats and the waiting list, the personal
cancel link, linking to contacts, check-in.

Every change to seats happens with the event row locked (PostgreSQL `FOR UPDATE`; SQLite's
write transactions begin IMMEDIATE and serialise): two people asking for the last seat at the
same moment get one seat and one waiting-list place, never two seats. Mails are rows in the
outbox written in the same transaction (the caller commits once).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import render_template, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy.orm import Session, joinedload

from crm import public_forms
from crm.contacts.models import Person
from crm.contacts.normalize import normalize_email
from crm.contacts.service import save_person
from crm.events import ical
from crm.events.models import (
    SEAT_STATUSES,
    Event,
    EventContact,
    EventRegistration,
)
from crm.mail import Attachment, build_message
from crm.mail.queue import enqueue, mail_domain

CANCEL_SALT = "event-registration-cancel"
# A cancel link older than this no longer works (far beyond any event's registration period).
CANCEL_MAX_AGE = 400 * 24 * 3600
# The wording of the consent to share the attendee list; its version is stored with it.
CONSENT_VERSION = "2026-12"


class RegistrationError(ValueError):
    """A refused registration or change, with a message for the visitor or the user."""


# --- settings ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """What staff set per event."""

    open: bool
    capacity: int | None
    deadline: datetime | None
    ask_organisation: bool = False
    ask_dietary: bool = False
    ask_accessibility: bool = False


def save_settings(event: Event, settings: Settings) -> None:
    """Store the event's registration settings (audited with the event by the caller's flush)."""
    if settings.capacity is not None and settings.capacity < 0:
        raise RegistrationError(_("The number of seats cannot be negative."))
    event.registration_open = settings.open
    event.registration_capacity = settings.capacity
    event.registration_deadline = settings.deadline
    event.ask_organisation = settings.ask_organisation
    event.ask_dietary = settings.ask_dietary
    event.ask_accessibility = settings.ask_accessibility


# --- figures -------------------------------------------------------------------------------------


def counts(session: Session, event_id: int) -> dict[str, int]:
    """Registrations of the event per status (every status present, 0 if none)."""
    rows = session.execute(
        sa.select(EventRegistration.status, sa.func.count(EventRegistration.id))
        .where(EventRegistration.event_id == event_id)
        .group_by(EventRegistration.status)
    ).all()
    found = {status: int(n) for status, n in rows}
    return {
        status: found.get(status, 0)
        for status in ("registered", "waitlisted", "cancelled", "attended", "no_show")
    }


def _seats_taken(session: Session, event_id: int) -> int:
    return (
        session.scalar(
            sa.select(sa.func.count(EventRegistration.id)).where(
                EventRegistration.event_id == event_id,
                EventRegistration.status.in_(SEAT_STATUSES),
            )
        )
        or 0
    )


@dataclass(frozen=True)
class Availability:
    """What the public page shows: whether one can register, and the free seats."""

    state: str  # "open", "full" (waiting list), "closed", "deadline", "past", "cancelled"
    free: int | None  # None: unlimited

    @property
    def accepts(self) -> bool:
        return self.state in ("open", "full")


def availability(session: Session, event: Event, now: datetime) -> Availability:
    """The event's state for a visitor at `now`."""
    if event.is_cancelled:
        return Availability("cancelled", None)
    if event.starts_at <= now:
        return Availability("past", None)
    if not event.registration_open:
        return Availability("closed", None)
    if event.registration_deadline is not None and event.registration_deadline < now:
        return Availability("deadline", None)
    if event.registration_capacity is None:
        return Availability("open", None)
    free = max(event.registration_capacity - _seats_taken(session, event.id), 0)
    return Availability("open" if free > 0 else "full", free)


# --- registering -------------------------------------------------------------------------------


@dataclass
class RegistrationData:
    """What the public page asks."""

    name: str
    email: str
    organisation: str = ""
    dietary: str = ""
    accessibility: str = ""
    share_consent: bool = False
    language: str = "de"


@dataclass(frozen=True)
class MailSettings:
    """Where mails come from and where their links point."""

    sender: str
    base_url: str
    secret: str


@dataclass
class Outcome:
    """The result of a registration: its row and what happened ("registered", "waitlisted",
    or "duplicate" when the address already holds a seat or a waiting-list place)."""

    registration: EventRegistration
    result: str


def lock_event(session: Session, event_id: int) -> Event | None:
    """The event with its row locked for this transaction (None if it is gone)."""
    session.flush()
    return session.scalar(sa.select(Event).where(Event.id == event_id).with_for_update())


def _token_hash(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()


def new_cancel_token(registration: EventRegistration, secret: str) -> str:
    """A fresh personal cancel link token; the previous one stops working."""
    nonce = secrets.token_urlsafe(16)
    registration.cancel_token_hash = _token_hash(nonce)
    return URLSafeTimedSerializer(secret, salt=CANCEL_SALT).dumps([registration.id, nonce])


def registration_for_token(
    session: Session, secret: str, token: str, max_age: int = CANCEL_MAX_AGE
) -> tuple[EventRegistration | None, str]:
    """The registration a cancel link names, or None with the reason ("expired", "invalid")."""
    read = public_forms.read_id_token(secret, CANCEL_SALT, token, max_age)
    if isinstance(read, str):
        return None, read
    registration_id, nonce = read
    registration = session.get(EventRegistration, registration_id)
    if registration is None or not secrets.compare_digest(
        registration.cancel_token_hash, _token_hash(nonce)
    ):
        return None, "invalid"
    return registration, ""


def _contact_for(session: Session, email: str) -> Person | None:
    """The one contacts person with this address (main or second), else None."""
    key = normalize_email(email) or ""
    if not key:
        return None
    people = session.scalars(
        sa.select(Person).where(sa.or_(Person.email == key, Person.email_alt == key)).limit(2)
    ).all()
    return people[0] if len(people) == 1 else None


def _set_contact_status(session: Session, registration: EventRegistration, status: str) -> None:
    """Carry the registration's status to the linked person's EventContact."""
    if registration.person_id is None:
        return
    row = session.scalar(
        sa.select(EventContact).where(
            EventContact.event_id == registration.event_id,
            EventContact.person_id == registration.person_id,
        )
    )
    if row is None:
        if status == "invited":
            return
        row = EventContact(event_id=registration.event_id, person_id=registration.person_id)
        session.add(row)
    row.status = status


def register(
    session: Session,
    event_id: int,
    data: RegistrationData,
    *,
    now: datetime,
    consent_text: str,
    mail: MailSettings | None,
    ip_hash: str = "",
    person_id: int | None = None,
) -> Outcome:
    """Give the visitor a seat, else a waiting-list place, and queue the mail.

    Raises RegistrationError when the event does not take registrations (closed, deadline
    passed, past, cancelled). An address that already holds a seat or a place keeps it and
    gets no second one; one that cancelled before queues again at the end. `person_id` comes
    from a verified personal invitation link and links the registration to that person.
    An address that registers again gets its confirmation mail again (with a new cancel link).
    """
    event = lock_event(session, event_id)
    if event is None:
        raise RegistrationError(_("This event does not exist."))
    state = availability(session, event, now)
    if not state.accepts:
        raise RegistrationError(closed_message(state.state))
    key = (normalize_email(data.email) or data.email.strip()).lower()
    existing = session.scalar(
        sa.select(EventRegistration).where(
            EventRegistration.event_id == event.id, EventRegistration.email_key == key
        )
    )
    if existing is not None and existing.status != "cancelled":
        # The page must not tell a stranger that this address is registered, so it looks
        # like a new registration's; the mail tells the owner the truth (and gives someone
        # who lost the first mail a working cancel link again).
        if mail is not None:
            queue_mail(session, existing, "confirmed", mail, now)
            session.flush()
        return Outcome(existing, "duplicate")
    registration = existing or EventRegistration(event_id=event.id, email_key=key)
    registration.event = event
    registration.name = data.name.strip()[:200]
    registration.email = data.email.strip()[:254]
    registration.organisation = data.organisation.strip()[:200] if event.ask_organisation else ""
    registration.dietary = data.dietary.strip()[:500] if event.ask_dietary else ""
    registration.accessibility = data.accessibility.strip()[:500] if event.ask_accessibility else ""
    registration.language = data.language if data.language in ("de", "en") else "de"
    registration.share_consent = data.share_consent
    registration.consent_text = consent_text if data.share_consent else ""
    registration.consent_version = CONSENT_VERSION if data.share_consent else ""
    registration.consented_at = now if data.share_consent else None
    registration.status = "registered" if state.state == "open" else "waitlisted"
    registration.queued_at = now
    registration.cancelled_at = None
    registration.checked_in_at = None
    registration.source_ip_hash = ip_hash
    if person_id is not None and session.get(Person, person_id) is not None:
        # A personal invitation link names the person: no guessing by address.
        registration.person_id = person_id
    if registration.person_id is None:
        person = _contact_for(session, registration.email)
        registration.person_id = person.id if person else None
    session.add(registration)
    session.flush()
    if registration.status == "registered":
        _set_contact_status(session, registration, "registered")
    if mail is not None:
        queue_mail(session, registration, "confirmed", mail, now)
    session.flush()
    return Outcome(registration, registration.status)


def closed_message(state: str) -> str:
    """Why the page takes no registrations, for the visitor."""
    return {
        "cancelled": _("This event has been cancelled."),
        "past": _("This event has already taken place."),
        "deadline": _("The registration period for this event has ended."),
    }.get(state, _("Registration for this event is not open."))


# --- cancelling and moving up --------------------------------------------------------------------


def cancel(
    session: Session,
    registration: EventRegistration,
    *,
    now: datetime,
    mail: MailSettings | None,
) -> EventRegistration | None:
    """Cancel a seat or waiting-list place; the first waitlisted person moves up into a freed
    seat (and is mailed). Returns who moved up, if anybody."""
    event = lock_event(session, registration.event_id)
    if event is None:
        return None
    session.refresh(registration)
    if registration.status == "cancelled":
        return None
    if event.starts_at <= now:
        raise RegistrationError(_("This event has already started; it can no longer be cancelled."))
    held_seat = registration.status in SEAT_STATUSES
    registration.status = "cancelled"
    registration.cancelled_at = now
    registration.cancel_token_hash = ""
    _set_contact_status(session, registration, "invited")
    session.flush()
    if not held_seat:
        return None
    return _move_up(session, event, now=now, mail=mail)


def fill_free_seats(
    session: Session, event_id: int, *, now: datetime, mail: MailSettings | None
) -> list[EventRegistration]:
    """Move people up from the waiting list while seats are free (after staff added seats);
    each is mailed. Nobody moves up once the event has started."""
    event = lock_event(session, event_id)
    moved: list[EventRegistration] = []
    if event is None or event.starts_at <= now or event.is_cancelled:
        return moved
    while (first := _move_up(session, event, now=now, mail=mail)) is not None:
        moved.append(first)
    return moved


def _move_up(
    session: Session, event: Event, *, now: datetime, mail: MailSettings | None
) -> EventRegistration | None:
    """Give a free seat to the first on the waiting list (the event row is locked)."""
    if event.registration_capacity is not None and (
        _seats_taken(session, event.id) >= event.registration_capacity
    ):
        return None
    first = session.scalar(
        sa.select(EventRegistration)
        .where(EventRegistration.event_id == event.id, EventRegistration.status == "waitlisted")
        .order_by(EventRegistration.queued_at, EventRegistration.id)
        .limit(1)
    )
    if first is None:
        return None
    first.status = "registered"
    _set_contact_status(session, first, "registered")
    if mail is not None:
        queue_mail(session, first, "moved_up", mail, now)
    session.flush()
    return first


# --- staff -------------------------------------------------------------------------------------


def registrations_of(
    session: Session,
    event_id: int,
    *,
    query: str = "",
    limit: int | None = None,
    offset: int = 0,
) -> list[EventRegistration]:
    """The event's registrations in queue order (seats first, then the waiting list, then
    cancelled), optionally filtered by a part of the name."""
    order = sa.case(
        (EventRegistration.status.in_(SEAT_STATUSES), 0),
        (EventRegistration.status == "waitlisted", 1),
        else_=2,
    )
    stmt = (
        sa.select(EventRegistration)
        .where(EventRegistration.event_id == event_id)
        .options(joinedload(EventRegistration.person))
        .order_by(order, EventRegistration.queued_at, EventRegistration.id)
    )
    for term in query.split():
        stmt = stmt.where(EventRegistration.name.icontains(term, autoescape=True))
    if limit is not None:
        stmt = stmt.limit(limit).offset(offset)
    return list(session.scalars(stmt))


def mark_no_shows(session: Session, event_id: int, now: datetime) -> int:
    """After the event has begun: everyone with a seat who was not checked in is a no-show
    (also on the linked EventContact). Returns how many."""
    event = lock_event(session, event_id)
    if event is None or event.starts_at > now:
        raise RegistrationError(_("No-shows can be marked once the event has begun."))
    rows = list(
        session.scalars(
            sa.select(EventRegistration).where(
                EventRegistration.event_id == event_id, EventRegistration.status == "registered"
            )
        )
    )
    for row in rows:
        row.status = "no_show"
        _set_contact_status(session, row, "no_show")
    session.flush()
    return len(rows)


def check_in(session: Session, registration: EventRegistration, now: datetime) -> None:
    """Mark the person as attended (and the linked EventContact)."""
    if registration.status not in SEAT_STATUSES:
        raise RegistrationError(_("Only people with a seat can be checked in."))
    registration.status = "attended"
    registration.checked_in_at = registration.checked_in_at or now
    _set_contact_status(session, registration, "attended")
    session.flush()


def undo_check_in(session: Session, registration: EventRegistration) -> None:
    """Take back a check-in made by mistake."""
    if registration.status != "attended":
        return
    registration.status = "registered"
    registration.checked_in_at = None
    _set_contact_status(session, registration, "registered")
    session.flush()


def take_into_contacts(session: Session, registration: EventRegistration) -> Person:
    """Create a contacts person for a standalone registration and link it, with the
    EventContact carrying the registration's status."""
    if registration.person_id is not None and registration.person is not None:
        return registration.person
    existing = _contact_for(session, registration.email)
    if existing is not None:
        person = existing
    else:
        first, _sep, last = registration.name.strip().rpartition(" ")
        person = save_person(
            session,
            {
                "first_name": first,
                "last_name": last or registration.name,
                "email": registration.email,
            },
        )
    registration.person_id = person.id
    registration.person = person
    status = {
        "registered": "registered",
        "attended": "attended",
        "no_show": "no_show",
    }.get(registration.status, "invited")
    _set_contact_status(session, registration, status)
    session.flush()
    return person


# --- mails ---------------------------------------------------------------------------------------


def cancel_url(registration: EventRegistration, mail: MailSettings) -> str:
    """The personal cancel link (a new token: the previous link stops working)."""
    token = new_cancel_token(registration, mail.secret)
    return mail.base_url.rstrip("/") + url_for("events.registration_cancel", token=token)


def public_url(event: Event, base_url: str) -> str:
    return base_url.rstrip("/") + url_for("events.register", event_id=event.id)


def queue_mail(
    session: Session,
    registration: EventRegistration,
    reason: str,
    mail: MailSettings,
    now: datetime,
) -> None:
    """Queue the mail for a new seat or waiting-list place ("confirmed"), a move up from the
    waiting list ("moved_up") or the day before ("reminder"): with the cancel link, and the
    .ics when there is a seat."""
    event = registration.event
    lang = registration.language
    seat = registration.status in SEAT_STATUSES
    context: dict[str, Any] = {
        "registration": registration,
        "event": event,
        "reason": reason,
        "seat": seat,
        "cancel_url": cancel_url(registration, mail),
        "lang": lang,
    }
    with force_locale("en" if lang == "en" else "de"):
        if reason == "reminder":
            subject = _("Reminder for tomorrow: %(title)s", title=event.title)
        elif reason == "moved_up":
            subject = _("You have a seat: %(title)s", title=event.title)
        elif seat:
            subject = _("Registration confirmed: %(title)s", title=event.title)
        else:
            subject = _("On the waiting list: %(title)s", title=event.title)
        text = render_template("events/email/registration.txt", **context)
        html = render_template("events/email/registration.html", subject=subject, **context)
    domain = mail_domain(mail.sender)
    attachments = (
        [
            Attachment(
                f"termin-{event.id}.ics",
                ical.occurrence_ics(event, domain, now),
                "text",
                "calendar",
                {"method": "PUBLISH", "charset": "utf-8"},
            )
        ]
        if seat
        else []
    )
    message = build_message(
        sender=mail.sender,
        to=(registration.name, registration.email),
        subject=subject,
        text=text,
        html=html,
        extra_headers={"Auto-Submitted": "auto-generated"},
        message_id_domain=domain,
        attachments=attachments,
    )
    enqueue(session, message, kind="registration", person_id=registration.person_id)


# --- retention -----------------------------------------------------------------------------------


def _ended_before(cutoff: datetime) -> sa.ColumnElement[bool]:
    return EventRegistration.event_id.in_(sa.select(Event.id).where(Event.ends_at < cutoff))


def count_expired(session: Session, cutoff: datetime) -> int:
    """Registrations of events that ended before the cutoff."""
    return (
        session.scalar(sa.select(sa.func.count(EventRegistration.id)).where(_ended_before(cutoff)))
        or 0
    )


def delete_expired(session: Session, cutoff: datetime) -> int:
    """Delete the registrations of events that ended before the cutoff (the retention rule).

    Attendance stays where it was carried over: the linked contacts' EventContact rows.
    """
    rows = list(session.scalars(sa.select(EventRegistration).where(_ended_before(cutoff))))
    for row in rows:
        session.delete(row)
    session.flush()
    return len(rows)

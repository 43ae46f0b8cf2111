"""What happens around an event beyond the registration itself: the reminder the day before,
the thank-you mail to attendees, a follow-up for every lead, personal invitations, and the
event's figures.

Every mail is a row in the outbox written in the same transaction as the bookkeeping column
that says it was queued (`reminded_at`, `thanked_at`, `invited_at`), so a second run, a second
click or a second scheduler queues nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from flask import url_for
from flask_babel import gettext as _
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy.orm import Session, joinedload

from crm.accounts.models import User
from crm.contacts.models import Person
from crm.events import registration as reg
from crm.events.models import Event, EventContact, EventRegistration, Lead
from crm.events.series import BERLIN, to_utc
from crm.followups.models import FollowUp
from crm.followups.service import create_followup
from crm.mail import build_message
from crm.mail.queue import enqueue, mail_domain
from crm.newsletters.campaigns import audience_select
from crm.newsletters.models import Audience
from crm.newsletters.rendering import (
    RenderedMessage,
    render_for_recipient,
    salutation_line,
)

INVITATION_SALT = "event-invitation"
log = logging.getLogger(__name__)

# --- the reminder the day before -----------------------------------------------------------------


def tomorrow_window(now: datetime) -> tuple[datetime, datetime]:
    """The UTC moments from tomorrow's midnight to the next midnight, in Berlin time (so a day
    with a clock change is 23 or 25 hours long)."""
    tomorrow = now.astimezone(BERLIN).date() + timedelta(days=1)
    return (
        to_utc(datetime.combine(tomorrow, time(0))),
        to_utc(datetime.combine(tomorrow + timedelta(days=1), time(0))),
    )


def send_reminders(
    session: Session, *, now: datetime, mail: reg.MailSettings, batch: int = 500
) -> int:
    """Queue the reminder (with the .ics and the cancel link) once for every seat of the events
    that begin tomorrow (Berlin); waiting-list places and cancelled ones get none.

    Rows are claimed FOR UPDATE SKIP LOCKED (PostgreSQL), so two schedulers never remind the
    same person twice; `reminded_at` and the outbox row commit together with the caller.
    """
    start, end = tomorrow_window(now)
    rows = list(
        session.scalars(
            sa.select(EventRegistration)
            .join(Event, Event.id == EventRegistration.event_id)
            .where(
                EventRegistration.status == "registered",
                EventRegistration.reminded_at.is_(None),
                Event.starts_at >= start,
                Event.starts_at < end,
                Event.status != "cancelled",
            )
            .order_by(EventRegistration.id)
            .limit(batch)
            .with_for_update(skip_locked=True, of=EventRegistration)
        )
    )
    for row in rows:
        row.reminded_at = now
        reg.queue_mail(session, row, "reminder", mail, now)
    session.flush()
    return len(rows)


# --- thank-you after the event -------------------------------------------------------------------


@dataclass(frozen=True)
class ThankYou:
    """What staff write: subject and plain text with the newsletter placeholders."""

    subject: str
    body_text: str
    body_html: str = ""


def _placeholders(row: EventRegistration) -> dict[str, str]:
    person = row.person
    if person is not None:
        first, last = person.first_name, person.last_name
        salutation = salutation_line(person.salutation, person.title, first, last)
    else:
        first, _sep, last = row.name.strip().rpartition(" ")
        if not first:
            first, last = last, ""
        salutation = salutation_line("", "", first, last)
    return {
        "anrede": salutation,
        "vorname": first,
        "nachname": last,
        "organisation": row.organisation,
    }


def attendees_to_thank(session: Session, event_id: int) -> list[EventRegistration]:
    """The event's attendees who have not been thanked yet."""
    return list(
        session.scalars(
            sa.select(EventRegistration)
            .where(
                EventRegistration.event_id == event_id,
                EventRegistration.status == "attended",
                EventRegistration.thanked_at.is_(None),
            )
            .options(joinedload(EventRegistration.person))
            .order_by(EventRegistration.id)
        )
    )


def render_thank_you(text: ThankYou, row: EventRegistration) -> RenderedMessage:
    """The mail for one attendee, rendered in the newsletter sandbox; raise TemplateProblem."""
    return render_for_recipient(text, _placeholders(row))


def send_thank_you(
    session: Session, event: Event, text: ThankYou, *, now: datetime, mail: reg.MailSettings
) -> int:
    """Queue the thank-you to every attendee not yet thanked (once each); returns how many.

    Raises RegistrationError before the event has begun and TemplateProblem for a text the
    sandbox refuses (nothing is queued then).
    """
    locked = reg.lock_event(session, event.id)
    if locked is None or locked.starts_at > now:
        raise reg.RegistrationError(_("The thank-you mail can be sent once the event has begun."))
    rows = attendees_to_thank(session, event.id)
    domain = mail_domain(mail.sender)
    for row in rows:
        rendered = render_thank_you(text, row)
        message = build_message(
            sender=mail.sender,
            to=(row.name, row.email),
            subject=rendered.subject,
            text=rendered.text,
            extra_headers={"Auto-Submitted": "auto-generated"},
            message_id_domain=domain,
        )
        enqueue(session, message, kind="registration", person_id=row.person_id)
        row.thanked_at = now
    session.flush()
    return len(rows)


# --- a follow-up for every lead ------------------------------------------------------------------


def add_working_days(start: date, days: int) -> date:
    """`start` moved on by `days` working days (Monday to Friday; holidays not modelled)."""
    day = start
    added = 0
    while added < days:
        day += timedelta(days=1)
        if day.weekday() < 5:
            added += 1
    return day


def _has_open_followup(session: Session, lead: Lead) -> bool:
    conditions = [sa.and_(FollowUp.person_id == lead.person_id, FollowUp.event_id == lead.event_id)]
    if lead.followup_id is not None:
        conditions.append(FollowUp.id == lead.followup_id)
    return (
        session.scalar(
            sa.select(FollowUp.id).where(FollowUp.status == "open", sa.or_(*conditions)).limit(1)
        )
        is not None
    )


def followups_for_leads(
    session: Session,
    event: Event,
    *,
    created_by: User,
    now: datetime,
    working_days: int = 3,
) -> int:
    """Create a follow-up for each lead of the event that has no open one (about the lead's
    person and this event), for whoever had the lead's last follow-up, else who captured it,
    else `created_by`; due in `working_days` working days. Returns how many were created."""
    due = add_working_days(now.astimezone(BERLIN).date(), max(working_days, 0))
    leads = list(
        session.scalars(
            sa.select(Lead)
            .where(Lead.event_id == event.id)
            .options(joinedload(Lead.person), joinedload(Lead.followup))
            .order_by(Lead.id)
        )
    )
    created = 0
    for lead in leads:
        if _has_open_followup(session, lead):
            continue
        assignee = (
            (lead.followup.assignee if lead.followup is not None else None)
            or lead.captured_by
            or created_by
        )
        if not assignee.is_active:
            assignee = created_by
        fu = create_followup(
            session,
            subject=f"Nachfassen: {event.title}"[:200],
            due_date=due,
            assignee=assignee,
            created_by=created_by,
            person=lead.person,
            organisation=lead.organisation,
            event_id=event.id,
        )
        lead.followup_id = fu.id
        created += 1
    session.flush()
    return created


# --- invitations with a personal registration link -----------------------------------------------


def invitation_token(secret: str, person_id: int, event_id: int) -> str:
    """The signed token of a personal registration link (person and event)."""
    return URLSafeSerializer(secret, salt=INVITATION_SALT).dumps([person_id, event_id])


def person_for_invitation(
    session: Session, secret: str, token: str, event_id: int
) -> Person | None:
    """The person a personal registration link names, if the token is genuine and for this
    event; else None (a forged or foreign link simply gives the plain page)."""
    try:
        payload = URLSafeSerializer(secret, salt=INVITATION_SALT).loads(token)
    except BadSignature:
        return None
    if (
        not isinstance(payload, list)
        or len(payload) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in payload)
        or payload[1] != event_id
    ):
        return None
    return session.get(Person, payload[0])


def invitation_url(
    event: Event, person_id: int, mail: reg.MailSettings, language: str = "de"
) -> str:
    """The personal registration link of one person (the page in their language)."""
    token = invitation_token(mail.secret, person_id, event.id)
    return mail.base_url.rstrip("/") + url_for(
        "events.register",
        event_id=event.id,
        sprache="en" if language == "en" else None,
        einladung=token,
    )


def invitation_recipients(
    list_id: int, *, audience: Audience | None = None, contact_list_id: int | None = None
) -> sa.Select[Any]:
    """(person_id, email) of the people an invitation may reach: the newsletter list's
    confirmed subscribers with an address (as for a campaign), narrowed by an audience or a
    static contact list."""
    return audience_select(list_id, audience=audience, contact_list_id=contact_list_id)


def invite(
    session: Session,
    event: Event,
    recipients: sa.Select[Any],
    *,
    now: datetime,
    mail: reg.MailSettings,
    render: Any,
    after_chunk: Callable[[int], Any] | None = None,
    headers: Callable[[Person], dict[str, str]] | None = None,
) -> int:
    """Queue one invitation per recipient not invited to this event before, and set their
    EventContact to invited (a contact already registered or attended keeps that status).

    `render(person, link)` returns (subject, text, html) of one invitation; `headers(person)`
    gives the list headers of that person's message (List-Id, List-Unsubscribe: the people are
    a newsletter list's subscribers); `after_chunk(n)` is called after each chunk of people with
    the number queued so far (the worker commits there). Returns how many were queued.
    """
    already = sa.select(EventContact.person_id).where(
        EventContact.event_id == event.id, EventContact.invited_at.is_not(None)
    )
    registered = sa.select(EventRegistration.person_id).where(
        EventRegistration.event_id == event.id,
        EventRegistration.person_id.is_not(None),
        EventRegistration.status != "cancelled",
    )
    ids = [
        row.person_id
        for row in session.execute(recipients.order_by(None))
        if row.person_id is not None
    ]
    if not ids:
        return 0
    skip = set(session.scalars(already)) | set(session.scalars(registered))
    domain = mail_domain(mail.sender)
    queued = 0
    for start in range(0, len(ids), 500):
        chunk = [i for i in ids[start : start + 500] if i not in skip]
        if not chunk:
            continue
        people = session.scalars(sa.select(Person).where(Person.id.in_(chunk))).all()
        contacts = {
            c.person_id: c
            for c in session.scalars(
                sa.select(EventContact).where(
                    EventContact.event_id == event.id, EventContact.person_id.in_(chunk)
                )
            )
        }
        for person in people:
            link = invitation_url(event, person.id, mail, person.language)
            subject, text, html = render(person, link)
            try:
                message = build_message(
                    sender=mail.sender,
                    to=(person.full_name, person.email),
                    subject=subject,
                    text=text,
                    html=html,
                    extra_headers={
                        "Auto-Submitted": "auto-generated",
                        **(headers(person) if headers is not None else {}),
                    },
                    message_id_domain=domain,
                )
                enqueue(session, message, kind="registration", person_id=person.id)
            except ValueError:
                # One unusable address must not stop the others; that person stays uninvited.
                log.warning("event %s: no invitation for person %s", event.id, person.id)
                continue
            contact = contacts.get(person.id)
            if contact is None:
                contact = EventContact(event_id=event.id, person_id=person.id, status="invited")
                session.add(contact)
            contact.invited_at = now
            queued += 1
        session.flush()
        if after_chunk is not None:
            after_chunk(queued)
    return queued


# --- figures -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    """An event's registrations by status and its attendance rate."""

    registered: int
    waitlisted: int
    cancelled: int
    attended: int
    no_show: int

    @property
    def attendance_rate(self) -> float | None:
        """Attended of those who held a seat (None while nobody held one)."""
        seats = self.registered + self.attended + self.no_show
        return self.attended / seats if seats else None


def figures(session: Session, event_id: int) -> Figures:
    """The event's figures for its page."""
    return Figures(**reg.counts(session, event_id))
